#include "fork/channel.hpp"

#include <algorithm>
#include <cstring>

namespace unipar::fork_detail {

std::size_t Channel::write_some(detail::ConstBytes bytes) {
  const std::uint64_t head = state_->head.load(std::memory_order_relaxed);
  const std::size_t count = std::min(writable(), bytes.size());
  const std::size_t offset = head & (capacity_ - 1);
  const std::size_t first = std::min(count, capacity_ - offset);
  std::memcpy(ring_ + offset, bytes.data(), first);
  if (count > first) std::memcpy(ring_, bytes.data() + first, count - first);
  state_->head.store(head + count, std::memory_order_release);
  return count;
}

void Channel::copy_out(std::uint64_t position, detail::MutableBytes out) const {
  const std::size_t offset = position & (capacity_ - 1);
  const std::size_t first = std::min(out.size(), capacity_ - offset);
  std::memcpy(out.data(), ring_ + offset, first);
  if (out.size() > first) std::memcpy(out.data() + first, ring_, out.size() - first);
}

std::size_t Channel::read_some(detail::MutableBytes out) {
  const std::uint64_t tail = state_->tail.load(std::memory_order_relaxed);
  const std::size_t count = std::min(readable(), out.size());
  copy_out(tail, out.first(count));
  state_->tail.store(tail + count, std::memory_order_release);
  return count;
}

void Channel::peek(detail::MutableBytes out) const {
  copy_out(state_->tail.load(std::memory_order_relaxed), out);
}

}  // namespace unipar::fork_detail
