#include "unipar/serial.hpp"

namespace unipar {

// With one process every message goes to itself, which Parallelizer handles before these are
// reached; they exist only to complete the interface.

void SerialParallelizer::execute(const std::function<void(Parallelizer&)>& body) {
  body(*this);
}

void SerialParallelizer::send_bytes(int, int, detail::Fingerprint, detail::ConstBytes) {
  throw UsageError("serial: there is no other process to send to");
}

void SerialParallelizer::receive_bytes(int, int, detail::Fingerprint, detail::ByteSink&) {
  throw UsageError("serial: there is no other process to receive from");
}

bool SerialParallelizer::probe_bytes(int, int) {
  return false;
}

int SerialParallelizer::wait_for_any(int) {
  throw UsageError("serial: there is no other process to wait for");
}

}  // namespace unipar
