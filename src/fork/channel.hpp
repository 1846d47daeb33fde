/// @file channel.hpp
/// @brief A single-producer single-consumer byte ring in shared memory, one per ordered pair
/// of processes.
///
/// The producer streams bytes in and the consumer streams them out, so a payload of any size
/// moves through a ring of fixed capacity in pieces, the two copies overlapping (pipelined).
/// Each end keeps its own cursor in private memory and publishes it when it chooses: the
/// producer caches the consumer's last published position and reads the shared one only when
/// the ring looks full, so a small message costs one shared write on each side.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "unipar/detail/bytes.hpp"

namespace unipar::fork_detail {

/// The shared state of one channel; the ring's bytes live elsewhere.
struct ChannelState {
  alignas(64) std::atomic<std::uint64_t> head{0};  // bytes ever published (producer's)
  alignas(64) std::atomic<std::uint64_t> tail{0};  // bytes ever released (consumer's)
};

/// One process's end of a channel (the producer's or the consumer's). `capacity` is a power of
/// two. Copies of a Channel made before a fork start in step with the shared state.
class Channel {
 public:
  Channel() = default;
  Channel(ChannelState* state, std::byte* ring, std::size_t capacity)
      : state_(state), ring_(ring), capacity_(capacity) {}

  // ---- producer -------------------------------------------------------------------------------
  /// Bytes that can be written now (reads the consumer's position only when fewer than
  /// `wanted` seem free).
  std::size_t writable(std::size_t wanted) {
    std::size_t room = capacity_ - (head_ - tail_seen_);
    if (room < wanted) {
      tail_seen_ = state_->tail.load(std::memory_order_acquire);
      room = capacity_ - (head_ - tail_seen_);
    }
    return room;
  }
  /// Copies `bytes` in (the caller checked writable()); not visible until publish().
  void write(detail::ConstBytes bytes);
  /// Makes everything written so far visible to the consumer.
  void publish() { state_->head.store(head_, std::memory_order_release); }

  // ---- consumer -------------------------------------------------------------------------------
  /// Bytes published and not yet read.
  std::size_t readable() const {
    return static_cast<std::size_t>(state_->head.load(std::memory_order_acquire) - tail_);
  }
  /// Copies the next out.size() bytes out (the caller checked readable()); the space is not
  /// returned to the producer until release().
  void read(detail::MutableBytes out);
  /// Copies the next out.size() bytes without consuming them.
  void peek(detail::MutableBytes out) const;
  /// Returns the space read so far to the producer.
  void release() { state_->tail.store(tail_, std::memory_order_release); }

 private:
  void copy_out(std::uint64_t position, detail::MutableBytes out) const;

  ChannelState* state_ = nullptr;
  std::byte* ring_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t head_ = 0;       // producer: bytes written
  std::uint64_t tail_seen_ = 0;  // producer: the consumer's position when last read
  std::uint64_t tail_ = 0;       // consumer: bytes read
};

}  // namespace unipar::fork_detail
