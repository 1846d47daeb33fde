/// @file channel.hpp
/// @brief A single-producer single-consumer byte ring in shared memory, one per ordered pair
/// of processes.
///
/// The producer streams bytes in and the consumer streams them out, so a payload of any size
/// moves through a ring of fixed capacity in pieces, the two copies overlapping (pipelined).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "unipar/detail/bytes.hpp"

namespace unipar::fork_detail {

/// The shared state of one channel; the ring's bytes follow it.
struct ChannelState {
  alignas(64) std::atomic<std::uint64_t> head{0};  // bytes ever written (producer's)
  alignas(64) std::atomic<std::uint64_t> tail{0};  // bytes ever read (consumer's)
};

/// One process's handle on a channel (either end). `capacity` is a power of two.
class Channel {
 public:
  Channel() = default;
  Channel(ChannelState* state, std::byte* ring, std::size_t capacity)
      : state_(state), ring_(ring), capacity_(capacity) {}

  // ---- producer -------------------------------------------------------------------------------
  /// Bytes that can be written now.
  std::size_t writable() const {
    return capacity_ - (state_->head.load(std::memory_order_relaxed) -
                        state_->tail.load(std::memory_order_acquire));
  }
  /// Copies min(writable(), bytes.size()) bytes in and publishes them; returns how many.
  std::size_t write_some(detail::ConstBytes bytes);

  // ---- consumer -------------------------------------------------------------------------------
  /// Bytes that can be read now.
  std::size_t readable() const {
    return state_->head.load(std::memory_order_acquire) -
           state_->tail.load(std::memory_order_relaxed);
  }
  /// Copies min(readable(), out.size()) bytes out and releases them; returns how many.
  std::size_t read_some(detail::MutableBytes out);
  /// Copies the next out.size() bytes without consuming them; needs readable() >= out.size().
  void peek(detail::MutableBytes out) const;

  /// Whether the producer published anything since the consumer last looked.
  bool has_data() const { return readable() != 0; }

 private:
  void copy_out(std::uint64_t position, detail::MutableBytes out) const;

  ChannelState* state_ = nullptr;
  std::byte* ring_ = nullptr;
  std::size_t capacity_ = 0;
};

}  // namespace unipar::fork_detail
