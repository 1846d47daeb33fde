#include "fork/channel.hpp"

#include <algorithm>
#include <cstring>

namespace unipar::fork_detail {

void Channel::write(detail::ConstBytes bytes) {
  if (bytes.empty()) return;  // an empty span may hold a null pointer, which memcpy must not see
  const std::size_t offset = head_ & (capacity_ - 1);
  const std::size_t first = std::min(bytes.size(), capacity_ - offset);
  std::memcpy(ring_ + offset, bytes.data(), first);
  if (bytes.size() > first) std::memcpy(ring_, bytes.data() + first, bytes.size() - first);
  head_ += bytes.size();
}

void Channel::copy_out(std::uint64_t position, detail::MutableBytes out) const {
  if (out.empty()) return;
  const std::size_t offset = position & (capacity_ - 1);
  const std::size_t first = std::min(out.size(), capacity_ - offset);
  std::memcpy(out.data(), ring_ + offset, first);
  if (out.size() > first) std::memcpy(out.data() + first, ring_, out.size() - first);
}

void Channel::read(detail::MutableBytes out) {
  copy_out(tail_, out);
  tail_ += out.size();
}

void Channel::peek(detail::MutableBytes out) const {
  copy_out(tail_, out);
}

}  // namespace unipar::fork_detail
