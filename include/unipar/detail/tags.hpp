/// @file tags.hpp
/// @brief Message tags: user tags, and the reserved range the collectives use.
#pragma once

#include <cstdint>
#include <string>

namespace unipar::detail {

/// User tags are 0 .. max_user_tag; larger tags are reserved for the library.
inline constexpr int max_user_tag = (1 << 30) - 1;

/// The operations whose messages use reserved tags.
enum class Op : int {
  broadcast = 1,
  scatter = 2,
  gather = 3,
  barrier = 4,
  map = 5,
};

/// A reserved tag: the operation and the collective's sequence number (modulo 2^24). Two
/// processes exchanging a message in "the same" collective agree on both, or they called
/// collectives in a different order.
constexpr int collective_tag(Op op, std::uint64_t sequence) {
  return (1 << 30) | (static_cast<int>(op) << 24) | static_cast<int>(sequence & 0xFFFFFF);
}

constexpr bool is_collective_tag(int tag) {
  return tag > max_user_tag;
}

/// "broadcast #12", for error messages.
std::string describe_tag(int tag);

/// Throws TypeMismatch for a receive of the message from `source` with `tag` whose type is
/// another than the one asked for.
[[noreturn]] void throw_receive_type_mismatch(int source, int tag);

}  // namespace unipar::detail
