/// @file checkpoint.hpp
/// @brief `MapOptions::checkpoint` and `MapOptions::retries`: a task-farm call that survives
/// being killed (its results kept in a file, reloaded when the call is made again) and lost
/// workers (the items they held computed again by new ones).
///
/// File format (host byte order; docs/sweeps.md): a header
///   "UNIPARCP" | u32 version = 1 | u32 0 | u64 items | u64 item type fingerprint
///   | u64 result type fingerprint | u32 name length | result type name | u64 checksum
/// then one record per result, appended as it reaches main:
///   u64 index | u64 item fingerprint | u64 size | u64 head checksum | size bytes (the encoded
///   result) | u64 checksum
/// Checksums are FNV-1a over what precedes them in the header or record. A record cut short (a
/// kill while writing), or failing its last checksum at the very end of the file, is dropped;
/// one failing a checksum otherwise is damage (an Error).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "unipar/codec.hpp"
#include "unipar/detail/bytes.hpp"

namespace unipar::detail {

/// 64-bit FNV-1a over `bytes`, continuing from `hash`.
inline std::uint64_t hash_bytes(ConstBytes bytes, std::uint64_t hash = fnv1a_offset) noexcept {
  return fnv1a({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, hash);
}

/// What a checkpoint file is for: a call's item count, item type and result type.
struct CheckpointKey {
  std::uint64_t items;
  Fingerprint item_type;
  Fingerprint result_type;
  std::string item_type_name;
  std::string result_type_name;
};

/// One checkpoint file, open for appending while a call runs (and locked against another
/// call using it at the same time). Main only.
class CheckpointFile {
 public:
  struct Record {
    std::uint64_t index;
    std::uint64_t item_hash;
    std::vector<std::byte> bytes;
  };

  /// Opens or creates `path`; reads the records of a file written for `key` (a file written
  /// for another key is a UsageError) and cuts a torn last record off.
  CheckpointFile(std::string path, const CheckpointKey& key);
  ~CheckpointFile();
  CheckpointFile(const CheckpointFile&) = delete;
  CheckpointFile& operator=(const CheckpointFile&) = delete;

  /// The records the file held when opened, in file order.
  std::vector<Record>& records() noexcept { return records_; }
  /// Queues a record; flush() writes what is queued.
  void add(std::uint64_t index, std::uint64_t item_hash, ConstBytes result);
  /// Writes the queued records to the file (one write(2) each: a kill of this process loses
  /// nothing written; the kernel writes the file back on its own schedule).
  void flush();
  const std::string& path() const noexcept { return path_; }

  /// Parses a whole file's bytes (records are left in `records`); returns how many bytes of it
  /// are whole (the rest is a torn record). Exposed for tests and fuzzing.
  static std::size_t parse(ConstBytes file, const std::string& path, const CheckpointKey& key,
                           std::vector<Record>& records);
  /// The header for `key`.
  static std::vector<std::byte> header(const CheckpointKey& key);

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<Record> records_;
  std::vector<std::byte> queued_;
};

}  // namespace unipar::detail
