/// @file tags.hpp
/// @brief Message tags: user tags, and the reserved range the collectives use.
#pragma once

#include <cstdint>
#include <string>

namespace unipar::detail {

/// User tags are 0 .. max_user_tag; larger tags are reserved for the library.
inline constexpr int max_user_tag = (1 << 30) - 1;

/// The collectives, as the user calls them (an allreduce is one collective of two steps).
enum class Op : int {
  broadcast = 1,
  scatter = 2,
  gather = 3,
  gather_blocks = 4,
  reduce = 5,
  allreduce = 6,
  barrier = 7,
  map = 8,
  serve = 9,  // ClientServerRunner::run
  reduce_blocks = 10,
  allreduce_blocks = 11,
};
inline constexpr int op_count = 12;  // Op values are 1 .. op_count - 1 (at most 15: 4 bits)

/// The most steps (messages exchanged under distinct tags) one collective may take.
inline constexpr int max_collective_steps = 4;

/// A reserved tag: bit 30, the collective (4 bits), its step (2 bits) and its sequence number
/// (24 bits: the how-manieth collective of the run, modulo 2^24). Processes exchanging a message
/// in "the same" collective agree on all three, or they called collectives in a different order.
constexpr int collective_tag(Op op, int step, std::uint64_t sequence) {
  return (1 << 30) | (static_cast<int>(op) << 26) | ((step & 3) << 24) |
         static_cast<int>(sequence & 0xFFFFFF);
}

constexpr bool is_collective_tag(int tag) {
  return tag > max_user_tag;
}

constexpr Op collective_op(int tag) {
  return static_cast<Op>((tag >> 26) & 0xF);
}

constexpr std::uint32_t collective_sequence(int tag) {
  return static_cast<std::uint32_t>(tag) & 0xFFFFFF;
}

/// Whether two collective tags belong to one collective call (any of its steps).
constexpr bool same_collective(int a, int b) {
  return (a & ~(3 << 24)) == (b & ~(3 << 24));
}

/// What one process did in collectives during a run: how many it began, and the kinds of the
/// last few (enough to name the collective that other processes skipped).
struct CollectiveLog {
  static constexpr std::uint64_t remembered = 16;
  std::uint64_t count = 0;
  std::uint8_t recent[remembered] = {};  // the kind of collective #k is recent[(k - 1) % 16]

  void record(Op op) { recent[count++ % remembered] = static_cast<std::uint8_t>(op); }
  /// The kind of collective number `k` (1-based), or 0 when it is not remembered.
  int kind_of(std::uint64_t k) const {
    return k >= 1 && k <= count && count - k < remembered ? recent[(k - 1) % remembered] : 0;
  }
};

/// "broadcast", "allreduce", ...
const char* op_name(Op op);

/// "broadcast #12" for a collective tag, "a message with tag 5" for a user tag.
std::string describe_tag(int tag);

}  // namespace unipar::detail
