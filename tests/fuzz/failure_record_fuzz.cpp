// Harness: the failure record (src/core/failure.cpp), which crosses from a failing process to
// the others: fork's failure page in shared memory, MPI's failure notice. Bytes that are not a
// record must throw unipar::Error; a record decoded re-encodes to bytes that decode to the same
// record, and raising it throws a unipar::Error (WorkerError, WorkerLost or Error).
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/failure.hpp"
#include "fuzz_support.hpp"
#include "unipar/error.hpp"

namespace {

namespace fuzz = unipar::fuzz;
using unipar::detail::FailureRecord;

bool same(const FailureRecord& a, const FailureRecord& b) {
  return std::memcmp(&a.facts, &b.facts, sizeof a.facts) == 0 && a.host == b.host &&
         a.type_name == b.type_name && a.message == b.message;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FailureRecord record;
  try {
    record = FailureRecord::decode(fuzz::as_bytes(data, size));
  } catch (const unipar::Error&) {
    return 0;
  }
  const std::vector<std::byte> once = record.encode();
  const FailureRecord again = FailureRecord::decode(once);
  fuzz::require(same(record, again), "a failure record changes in a round trip");
  fuzz::require(fuzz::same_bytes(again.encode(), once), "a failure record encodes differently");
  try {
    record.raise(1);
  } catch (const unipar::Error& error) {
    static_cast<void>(error.what());
  }
  return 0;
}
