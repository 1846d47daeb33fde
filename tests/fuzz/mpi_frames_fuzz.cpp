// Harness: what the MPI backend reads off MPI (src/mpi/wire.hpp, without MPI): a received
// message (header + inline payload, or a header whose payload follows in pieces), a
// collective's frame, and the end-of-run records, with the check every rank makes of them at
// the end of a run (check_same_collectives). The first byte picks which; the rest is what MPI
// delivered. Bytes that are not valid must throw unipar::Error; valid ones re-encode to the
// same bytes.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/checks.hpp"
#include "fuzz_support.hpp"
#include "mpi/wire.hpp"
#include "unipar/codec.hpp"
#include "unipar/error.hpp"

namespace {

using unipar::detail::ConstBytes;
namespace fuzz = unipar::fuzz;
namespace mpi = unipar::mpi_detail;

void message(ConstBytes bytes) {
  mpi::Arrival arrival;
  try {
    arrival = mpi::parse_message(bytes);
  } catch (const unipar::Error&) {
    return;
  }
  fuzz::require(bytes.size() >= sizeof(mpi::Header), "a message shorter than its header parsed");
  std::vector<std::byte> again(sizeof(mpi::Header));
  std::memcpy(again.data(), &arrival.header, sizeof arrival.header);
  again.insert(again.end(), arrival.payload.begin(), arrival.payload.end());
  fuzz::require(fuzz::same_bytes(again, bytes), "a message does not re-encode to its bytes");
  if (arrival.pieces_follow) {
    fuzz::require(arrival.payload.empty() && arrival.header.size > 0 &&
                      arrival.header.size <= mpi::max_payload,
                  "a header alone announces a payload it may not");
    return;
  }
  fuzz::require(arrival.header.size == arrival.payload.size(), "an inline size that differs");
  // The collected output lines at the end of a run are such a payload (a std::string).
  try {
    const auto text = unipar::detail::decode<std::string>(arrival.payload);
    fuzz::require(text.size() == arrival.payload.size(), "a string of another size");
  } catch (const unipar::Error&) {
  }
}

void frame(ConstBytes bytes) {
  mpi::Frame parsed{};
  try {
    parsed = mpi::parse_frame(bytes);
  } catch (const unipar::Error&) {
    return;
  }
  fuzz::require(
      bytes.size() == sizeof parsed && std::memcmp(&parsed, bytes.data(), sizeof parsed) == 0,
      "a frame does not re-encode to its bytes");
  // What check_frame says of it, and the inline payload a receiver takes.
  static_cast<void>(unipar::detail::describe_tag(parsed.tag));
  if (parsed.size <= mpi::Frame::inline_capacity) {
    std::vector<std::byte> target(parsed.size);
    if (parsed.size > 0) std::memcpy(target.data(), parsed.inline_bytes, parsed.size);
  }
}

void end_of_run(ConstBytes bytes) {
  // One record per rank (the last may be cut short: it must be refused).
  std::vector<unipar::detail::CollectiveLog> logs;
  while (!bytes.empty()) {
    const ConstBytes record = bytes.first(std::min(bytes.size(), sizeof(mpi::Finished)));
    bytes = bytes.subspan(record.size());
    try {
      const mpi::Finished done = mpi::parse_finished(record);
      fuzz::require(record.size() == sizeof done, "a record of another size parsed");
      fuzz::require(std::memcmp(&done, record.data(), sizeof done) == 0,
                    "a record does not re-encode to its bytes");
      logs.push_back(done.log);
    } catch (const unipar::Error&) {
      fuzz::require(record.size() != sizeof(mpi::Finished), "a whole record refused");
    }
  }
  try {
    unipar::detail::check_same_collectives(logs);
  } catch (const unipar::UsageError&) {
  }
  for (const auto& log : logs) {
    // The collectives about the last one (k wraps around for a count near 2^64).
    for (std::uint64_t i = 0; i < 22; ++i) {
      const int kind = log.kind_of(log.count - 20 + i);
      static_cast<void>(unipar::detail::op_name(static_cast<unipar::detail::Op>(kind)));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input input(fuzz::as_bytes(data, size));
  switch (input.byte() % 3) {
    case 0:
      message(input.rest());
      break;
    case 1:
      frame(input.rest());
      break;
    default:
      end_of_run(input.rest());
      break;
  }
  return 0;
}
