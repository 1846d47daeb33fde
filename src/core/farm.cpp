/// @file farm.cpp
/// @brief The task farm's parts that are not templates (see unipar/detail/farm_support.hpp).
#include <sys/prctl.h>

#include <chrono>
#include <thread>

#include "unipar/detail/farm_support.hpp"

#include "core/exception_info.hpp"

namespace unipar::detail {

std::size_t ChunkSizer::next(std::size_t remaining) const noexcept {
  if (remaining == 0) return 0;
  if (fixed_ > 0) return std::min(fixed_, remaining);
  if (items_ == 0) return 1;  // nothing measured yet: one item, whose cost sizes the next
  const double per_item = std::max(nanoseconds_ / double(items_), 0.5);
  const auto floor = static_cast<std::size_t>(floor_ns_ / per_item) + 1;
  // Guided: half of an equal share, shrinking toward the end; never more than about
  // ceiling_ns of work at the cost measured so far, so that slow items hiding among fast ones
  // cannot make one chunk outlast the others by much.
  const std::size_t guided = remaining / (2 * nprocs_);
  const auto cap = std::max(floor, static_cast<std::size_t>(ceiling_ns_ / per_item));
  return std::min(remaining, std::max(floor, std::min(guided, cap)));
}

Span Claims::claim(const ChunkSizer& sizer) noexcept {
  std::uint64_t seen = word_.load(std::memory_order_acquire);
  for (;;) {
    // A later call opened the word: this process is late, and nothing of its call is left.
    if ((seen >> index_bits) != epoch_) return {total_, 0};
    const std::uint64_t next = seen & index_mask;
    if (next >= total_) return {total_, 0};
    const std::uint64_t count = sizer.next(static_cast<std::size_t>(total_ - next));
    if (word_.compare_exchange_weak(seen, seen + count, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return {next, count};
    }
  }
}

void Claims::close() noexcept {
  std::uint64_t seen = word_.load(std::memory_order_acquire);
  while ((seen >> index_bits) == epoch_ && (seen & index_mask) < total_) {
    if (word_.compare_exchange_weak(seen, (epoch_ << index_bits) | total_,
                                    std::memory_order_acq_rel, std::memory_order_acquire)) {
      return;
    }
  }
}

ExceptionText describe_exception_text(std::exception_ptr error) {
  ExceptionInfo info = describe_exception(std::move(error));
  return {std::move(info.type_name), std::move(info.message)};
}

IdlePacer::IdlePacer() noexcept {
  // The default timer slack (50 us) would turn every short sleep into a long one.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

void IdlePacer::idle() noexcept {
  ++idle_;
  if (idle_ <= 8) return;  // traffic just now: poll again at once
  const unsigned shift = std::min(idle_ - 8, 9U);
  std::this_thread::sleep_for(std::chrono::microseconds(1U << shift));  // 2 us .. 512 us
}

}  // namespace unipar::detail
