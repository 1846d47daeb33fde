/// @file message_header.hpp
/// @brief The header that precedes every message on a fork channel, and the one function that
/// decides whether bytes read off a channel are one: a pure function on bytes (no shared memory,
/// no Group), so that tests and the fuzzer reach it directly.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "unipar/detail/bytes.hpp"
#include "unipar/error.hpp"

namespace unipar::fork_detail {

/// Precedes every payload on a channel; `check` guards against reading garbage as a header.
struct MessageHeader {
  std::uint32_t magic;
  std::int32_t tag;
  std::uint64_t type;
  std::uint64_t size;
  std::uint64_t check;
};
static_assert(sizeof(MessageHeader) == 32);

inline constexpr std::uint32_t header_magic = 0x756e6970;  // "unip"
/// The largest payload a header may announce. A payload streams through the ring, so its size
/// cannot be checked against bytes already there; this bound keeps a header that passes its
/// check by chance from announcing exabytes.
inline constexpr std::uint64_t max_message = std::uint64_t{1} << 48;

/// The hash of a header's fields that its `check` holds.
inline std::uint64_t header_check(const MessageHeader& h) {
  std::uint64_t x = h.magic ^ (static_cast<std::uint64_t>(static_cast<std::uint32_t>(h.tag)) << 32);
  x ^= h.type * 0x9E3779B97F4A7C15ull;
  x ^= h.size * 0xC2B2AE3D27D4EB4Full;
  return x ^ (x >> 29);
}

inline MessageHeader make_header(int tag, detail::Fingerprint type, std::size_t size) {
  MessageHeader header{header_magic, tag, type, size, 0};
  header.check = header_check(header);
  return header;
}

/// The header in `bytes` (exactly sizeof(MessageHeader) of them, as read off the channel from
/// `source`); throws Error when they are not a valid header.
inline MessageHeader parse_header(detail::ConstBytes bytes, int source) {
  MessageHeader header{};
  const bool whole = bytes.size() == sizeof header;
  if (whole) std::memcpy(&header, bytes.data(), sizeof header);
  if (!whole || header.magic != header_magic || header.check != header_check(header) ||
      header.size > max_message) {
    throw Error("fork: corrupt message header from process " + std::to_string(source));
  }
  return header;
}

}  // namespace unipar::fork_detail
