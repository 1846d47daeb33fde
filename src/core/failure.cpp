#include "core/failure.hpp"

#include <unistd.h>

#include <array>
#include <cstring>

#include "unipar/codec.hpp"
#include "unipar/error.hpp"
#include "unipar/serialization.hpp"

namespace unipar::detail {

FailureRecord FailureRecord::thrown(int process, const ExceptionInfo& info) {
  FailureRecord record;
  record.facts.kind = FailureKind::threw;
  record.facts.process = process;
  record.facts.pid = getpid();
  record.facts.item = info.item ? static_cast<std::int64_t>(*info.item) : -1;
  record.host = host_name();
  record.type_name = info.type_name;
  record.message = info.message;
  return record;
}

FailureRecord FailureRecord::lost(int process, pid_t pid, int signal, int exit_code) {
  FailureRecord record;
  record.facts = {FailureKind::lost, process, pid, signal, exit_code, -1};
  return record;
}

std::vector<std::byte> FailureRecord::encode() const {
  std::vector<std::byte> bytes(sizeof facts);
  std::memcpy(bytes.data(), &facts, sizeof facts);
  const Encoded<std::array<std::string, 3>> texts(std::array{host, type_name, message});
  bytes.insert(bytes.end(), texts.bytes().begin(), texts.bytes().end());
  return bytes;
}

FailureRecord FailureRecord::decode(ConstBytes bytes) {
  FailureRecord record;
  if (bytes.size() < sizeof record.facts) throw_corrupt("failure record", "too short");
  std::memcpy(&record.facts, bytes.data(), sizeof record.facts);
  if (record.facts.kind > FailureKind::main_failed) throw_corrupt("failure record", "kind");
  if (bytes.size() > sizeof record.facts) {
    std::array<std::string, 3> texts;
    Decoder<std::array<std::string, 3>> decoder(texts);
    const ConstBytes encoded = bytes.subspan(sizeof record.facts);
    const MutableBytes target = decoder.prepare(encoded.size());
    std::memcpy(target.data(), encoded.data(), encoded.size());
    decoder.finish();
    record.host = std::move(texts[0]);
    record.type_name = std::move(texts[1]);
    record.message = std::move(texts[2]);
  }
  return record;
}

void FailureRecord::raise(int reader) const {
  const auto item = facts.item >= 0
                        ? std::optional<std::size_t>(static_cast<std::size_t>(facts.item))
                        : std::nullopt;
  switch (facts.kind) {
    case FailureKind::threw:
      throw WorkerError(facts.process, static_cast<pid_t>(facts.pid), host, type_name, message,
                        item);
    case FailureKind::lost:
      throw WorkerLost(facts.process, static_cast<pid_t>(facts.pid), facts.signal, facts.exit_code);
    case FailureKind::main_failed:
      throw Error("the main process failed; process " + std::to_string(reader) + " stops");
    case FailureKind::none:
      break;
  }
  throw Error("the run failed for an unknown reason");
}

}  // namespace unipar::detail
