#include "unipar/serial.hpp"

namespace unipar {

// With one process every message goes to itself, which Parallelizer handles before these are
// reached; they exist only to complete the interface.

void SerialParallelizer::do_run(const std::function<void(Parallelizer&)>& body) {
  body(*this);
}

void SerialParallelizer::do_send(int, int, detail::Fingerprint, detail::ConstBytes) {
  throw UsageError("serial: there is no other process to send to");
}

void SerialParallelizer::do_receive(int, int, detail::Fingerprint, detail::ByteSink&) {
  throw UsageError("serial: there is no other process to receive from");
}

bool SerialParallelizer::do_probe(int, int) {
  return false;
}

int SerialParallelizer::do_wait_for_any(int) {
  throw UsageError("serial: there is no other process to wait for");
}

}  // namespace unipar
