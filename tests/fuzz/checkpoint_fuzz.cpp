// Harness: the checkpoint reader (CheckpointFile::parse, src/core/checkpoint.cpp) and the
// decoding of the results it finds, as a resumed map does (detail/resume.hpp). The first byte
// picks the call the file is opened for (its result type); the rest is the file. A file that is
// not a checkpoint of that call must throw unipar::Error (UsageError or Error); a file that
// parses keeps its records when they are written out again, and its whole part parses alone
// to the same records.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "unipar/detail/checkpoint.hpp"
#include "unipar/error.hpp"
#include "unipar/serialization.hpp"

namespace {

using unipar::detail::CheckpointFile;
using unipar::detail::CheckpointKey;
using unipar::detail::ConstBytes;
namespace fuzz = unipar::fuzz;

template <class P>
void put(std::vector<std::byte>& out, const P& value) {
  const auto* bytes = reinterpret_cast<const std::byte*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof value);
}

/// A record as CheckpointFile::add writes it.
void put_record(std::vector<std::byte>& out, const CheckpointFile::Record& record) {
  const std::size_t begin = out.size();
  put(out, record.index);
  put(out, record.item_hash);
  put(out, static_cast<std::uint64_t>(record.bytes.size()));
  put(out, unipar::detail::hash_bytes(std::span(out).subspan(begin)));
  out.insert(out.end(), record.bytes.begin(), record.bytes.end());
  put(out, unipar::detail::hash_bytes(std::span(out).subspan(begin)));
}

bool same(const std::vector<CheckpointFile::Record>& a,
          const std::vector<CheckpointFile::Record>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].index != b[i].index || a[i].item_hash != b[i].item_hash ||
        !fuzz::same_bytes(a[i].bytes, b[i].bytes)) {
      return false;
    }
  }
  return true;
}

template <class R>
void check(ConstBytes file) {
  const CheckpointKey key = fuzz::checkpoint_key<R>();
  std::vector<CheckpointFile::Record> records;
  std::size_t whole = 0;
  try {
    whole = CheckpointFile::parse(file, "fuzz.checkpoint", key, records);
  } catch (const unipar::Error&) {
    return;
  }
  fuzz::require(whole <= file.size(), "parse claims more whole bytes than the file has");
  for (const auto& record : records) {
    fuzz::require(record.index < key.items, "a record for an item past the end");
    try {
      static_cast<void>(unipar::detail::decode<R>(record.bytes));  // as a resumed call does
    } catch (const unipar::Error&) {
    }
  }
  if (whole == 0) {
    fuzz::require(records.empty(), "records in a file without a whole header");
    return;
  }
  // The whole part alone holds the same records.
  std::vector<CheckpointFile::Record> again;
  fuzz::require(CheckpointFile::parse(file.first(whole), "fuzz.checkpoint", key, again) == whole,
                "the whole part of a file is not whole");
  fuzz::require(same(records, again), "the whole part holds other records");
  // Written out again (as the call writes them), the records read back the same.
  std::vector<std::byte> rewritten = CheckpointFile::header(key);
  for (const auto& record : records) put_record(rewritten, record);
  fuzz::require(CheckpointFile::parse(rewritten, "fuzz.checkpoint", key, again) == rewritten.size(),
                "a rewritten checkpoint is not whole");
  fuzz::require(same(records, again), "a rewritten checkpoint holds other records");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input input(fuzz::as_bytes(data, size));
  switch (input.byte() % 3) {
    case 0:
      check<double>(input.rest());
      break;
    case 1:
      check<std::string>(input.rest());
      break;
    default:
      check<std::vector<std::string>>(input.rest());
      break;
  }
  return 0;
}
