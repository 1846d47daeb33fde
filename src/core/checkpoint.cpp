/// @file checkpoint.cpp
/// @brief The checkpoint file of a task-farm call (see unipar/detail/checkpoint.hpp).
#include "unipar/detail/checkpoint.hpp"
#include "unipar/detail/resume.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "unipar/error.hpp"

namespace unipar::detail {
namespace {

constexpr char magic[8] = {'U', 'N', 'I', 'P', 'A', 'R', 'C', 'P'};
constexpr std::uint32_t version = 1;
constexpr std::size_t record_head = 3 * sizeof(std::uint64_t);
constexpr std::size_t record_tail = sizeof(std::uint64_t);

template <class P>
void put(std::vector<std::byte>& out, const P& value) {
  const auto* bytes = reinterpret_cast<const std::byte*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof value);
}

/// Reads a P at `at` if the bytes are there.
template <class P>
bool get(ConstBytes in, std::size_t& at, P& value) {
  if (in.size() - at < sizeof value) return false;
  std::memcpy(&value, in.data() + at, sizeof value);
  at += sizeof value;
  return true;
}

[[noreturn]] void mismatch(const std::string& path, const std::string& what) {
  throw UsageError("checkpoint file '" + path + "' " + what +
                   "; give this call another file, or remove this one to start over");
}

[[noreturn]] void damaged(const std::string& path, std::size_t at, const char* what) {
  throw Error("checkpoint file '" + path + "' is damaged at byte " + std::to_string(at) +
              " (a record " + what + "); remove it to start over");
}

}  // namespace

std::vector<std::byte> CheckpointFile::header(const CheckpointKey& key) {
  std::vector<std::byte> out;
  out.insert(out.end(), reinterpret_cast<const std::byte*>(magic),
             reinterpret_cast<const std::byte*>(magic) + sizeof magic);
  put(out, version);
  put(out, std::uint32_t{0});
  put(out, key.items);
  put(out, key.item_type);
  put(out, key.result_type);
  put(out, static_cast<std::uint32_t>(key.result_type_name.size()));
  const auto name = std::as_bytes(std::span(key.result_type_name));
  out.insert(out.end(), name.begin(), name.end());
  put(out, hash_bytes(out));
  return out;
}

std::size_t CheckpointFile::parse(ConstBytes file, const std::string& path,
                                  const CheckpointKey& key, std::vector<Record>& records) {
  records.clear();
  // The header: cut short, it was being written when the call was killed (nothing else is in
  // the file yet): the file is new.
  std::size_t at = 0;
  if (file.size() < sizeof magic) {
    // (memcmp must not see the null data() of an empty file, even for 0 bytes.)
    if (!file.empty() && std::memcmp(file.data(), magic, file.size()) != 0)
      mismatch(path, "is not a checkpoint");
    return 0;
  }
  if (std::memcmp(file.data(), magic, sizeof magic) != 0) mismatch(path, "is not a checkpoint");
  at = sizeof magic;
  std::uint32_t file_version = 0;
  std::uint32_t reserved = 0;
  std::uint64_t items = 0;
  Fingerprint item_type = 0;
  Fingerprint result_type = 0;
  std::uint32_t name_size = 0;
  if (!get(file, at, file_version)) return 0;
  if (file_version != version) {
    mismatch(path, "has format version " + std::to_string(file_version) + ", this is version " +
                       std::to_string(version));
  }
  if (!get(file, at, reserved) || !get(file, at, items) || !get(file, at, item_type) ||
      !get(file, at, result_type) || !get(file, at, name_size)) {
    return 0;
  }
  if (name_size > 4096) mismatch(path, "has a damaged header");
  if (file.size() - at < std::size_t{name_size} + sizeof(std::uint64_t)) return 0;
  const std::string name(reinterpret_cast<const char*>(file.data() + at), name_size);
  at += name_size;
  std::uint64_t checksum = 0;
  get(file, at, checksum);
  if (checksum != hash_bytes(file.first(at - sizeof checksum))) {
    mismatch(path, "has a damaged header");
  }
  if (result_type != key.result_type) {
    mismatch(path, "holds results of type " + (name.empty() ? "(unknown)" : name) +
                       ", but this call's results are of type " + key.result_type_name);
  }
  if (item_type != key.item_type) {
    mismatch(path, "was written for items of another type than this call's " + key.item_type_name);
  }
  if (items != key.items) {
    mismatch(path, "was written for a call over " + std::to_string(items) +
                       " items, but this call has " + std::to_string(key.items));
  }
  // Records; a torn one can only be the last. A record's head (index, item, size) has a
  // checksum of its own, so that a damaged size is never taken for a record cut short.
  while (at < file.size()) {
    const std::size_t begin = at;
    Record record{};
    std::uint64_t size = 0;
    std::uint64_t head_checksum = 0;
    if (!get(file, at, record.index) || !get(file, at, record.item_hash) || !get(file, at, size) ||
        !get(file, at, head_checksum)) {
      return begin;  // cut short in its head
    }
    if (head_checksum != hash_bytes(file.subspan(begin, record_head))) {
      // Zeros to the end: the tail of a write the machine did not finish. Else: damage.
      const auto rest = file.subspan(begin);
      if (std::all_of(rest.begin(), rest.end(), [](std::byte b) { return b == std::byte{0}; })) {
        return begin;
      }
      damaged(path, begin, "whose head's checksum does not match");
    }
    if (file.size() - at < size || file.size() - at - size < record_tail) return begin;
    const ConstBytes payload = file.subspan(at, size);
    at += size;
    get(file, at, checksum);
    const bool whole = checksum == hash_bytes(file.subspan(begin, record_head + 8 + size));
    if (!whole && at == file.size()) return begin;  // the last write, torn
    if (!whole) damaged(path, begin, "whose checksum does not match");
    if (record.index >= items) damaged(path, begin, "for an item past the end");
    record.bytes.assign(payload.begin(), payload.end());
    records.push_back(std::move(record));
  }
  return at;
}

CheckpointFile::CheckpointFile(std::string path, const CheckpointKey& key)
    : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw Error("cannot open checkpoint file '" + path_ + "': " + std::strerror(errno));
  }
  try {
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        throw UsageError("checkpoint file '" + path_ +
                         "' is in use by another call running now (two calls must not share "
                         "a checkpoint file)");
      }
      throw_system_error("flock", errno);
    }
    std::vector<std::byte> content;
    for (std::byte buffer[1 << 16];;) {
      const ssize_t got = ::read(fd_, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw_system_error("read", errno);
      if (got == 0) break;
      content.insert(content.end(), buffer, buffer + got);
    }
    std::size_t whole = parse(content, path_, key, records_);
    if (whole == 0) {
      // New (or its header was torn): start it.
      queued_ = header(key);
    }
    if (whole < content.size() && ftruncate(fd_, static_cast<off_t>(whole)) != 0) {
      throw_system_error("ftruncate", errno);
    }
    if (lseek(fd_, static_cast<off_t>(whole), SEEK_SET) < 0) throw_system_error("lseek", errno);
    flush();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

CheckpointFile::~CheckpointFile() {
  if (fd_ >= 0) ::close(fd_);
}

void CheckpointFile::add(std::uint64_t index, std::uint64_t item_hash, ConstBytes result) {
  const std::size_t begin = queued_.size();
  put(queued_, index);
  put(queued_, item_hash);
  put(queued_, static_cast<std::uint64_t>(result.size()));
  put(queued_, hash_bytes(std::span(queued_).subspan(begin)));
  queued_.insert(queued_.end(), result.begin(), result.end());
  put(queued_, hash_bytes(std::span(queued_).subspan(begin)));
}

void CheckpointFile::flush() {
  std::size_t done = 0;
  while (done < queued_.size()) {
    const ssize_t wrote = ::write(fd_, queued_.data() + done, queued_.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      throw Error("cannot write checkpoint file '" + path_ + "': " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(wrote);
  }
  queued_.clear();
}

void check_resume_options(const MapOptions& options) {
  if (options.retries < 0) {
    throw UsageError("MapOptions::retries is " + std::to_string(options.retries) +
                     "; it must be 0 or more");
  }
}

}  // namespace unipar::detail
