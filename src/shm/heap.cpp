// The heap of a dict or a list: bump allocation plus one free list per size class, each change a
// single committed store (see layout.hpp).
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <string>

#include "shm/layout.hpp"
#include "unipar/error.hpp"

namespace unipar::detail::shm {
namespace {

constexpr std::size_t small_classes = 8;  // 16 .. 128 bytes

/// The payload size of class `k`.
constexpr std::uint64_t size_of_class(std::size_t k) {
  if (k < small_classes) return 16 * (k + 1);
  const std::size_t j = k - small_classes;
  const std::uint64_t base = std::uint64_t{128} << (j / 4);
  return base + (base / 4) * (j % 4 + 1);
}

/// The smallest class whose payload holds `size` bytes.
constexpr std::size_t class_for(std::uint64_t size) {
  if (size <= 128) return size == 0 ? 0 : (size + 15) / 16 - 1;
  const int exponent = std::bit_width(size - 1) - 1;  // 2^exponent < size <= 2^(exponent+1)
  const std::uint64_t base = std::uint64_t{1} << exponent;
  const std::uint64_t step = base / 4;
  const std::uint64_t steps = (size - base + step - 1) / step;  // 1 .. 4
  return small_classes + static_cast<std::size_t>(exponent - 7) * 4 +
         static_cast<std::size_t>(steps - 1);
}

static_assert(size_of_class(class_for(1)) == 16);
static_assert(size_of_class(class_for(128)) == 128);
static_assert(size_of_class(class_for(129)) == 160);
static_assert(size_of_class(class_for(256)) == 256);
static_assert(size_of_class(class_for(257)) == 320);
static_assert(class_for(std::uint64_t{1} << 44) < class_count);

/// Freed blocks at least this large give their pages back to the kernel.
constexpr std::uint64_t release_pages_from = std::uint64_t{1} << 20;

/// MADV_POPULATE_WRITE (Linux 5.14): makes pages present and writable; older kernels ignore it.
#ifdef MADV_POPULATE_WRITE
constexpr int populate_write = MADV_POPULATE_WRITE;
#else
constexpr int populate_write = 23;
#endif

}  // namespace

void throw_corrupt(const SharedSegment& segment, const char* what) {
  segment.state().header->broken.store(1, std::memory_order_relaxed);
  throw Error(segment.name() + ": its shared memory is corrupt (" + what +
              "); was it written past the end of an array?");
}

void Heap::format(Header& header, std::uint64_t begin, std::uint64_t end) noexcept {
  header.heap.begin = begin;
  header.heap.top = begin;
  header.heap.end = end;
  header.heap.populated = begin;
  for (auto& first : header.heap.free) first = 0;
}

std::uint64_t Heap::allocate(std::size_t size, bool* zeroed) {
  HeapState& heap = header_.heap;
  const std::size_t k = class_for(size);
  if (k >= class_count) throw_exhausted(segment_);
  if (zeroed != nullptr) *zeroed = false;
  if (const std::uint64_t first = heap.free[k]; first != 0) {
    std::uint64_t next = 0;
    std::memcpy(&next, at(first), sizeof next);
    commit(heap.free[k], next);  // popped: the block is ours (leaked if we die now)
    return first;
  }
  const std::uint64_t total = sizeof(BlockHeader) + size_of_class(k);
  if (heap.top > heap.end || total > heap.end - heap.top) throw_exhausted(segment_);
  const std::uint64_t block = heap.top;
  populate_to(block + total);
  if (zeroed != nullptr) *zeroed = true;
  auto* header = reinterpret_cast<BlockHeader*>(base_ + block);
  header->magic = block_magic;
  header->size_class = static_cast<std::uint32_t>(k);
  header->reserved = 0;
  commit(heap.top, block + total);
  return block + sizeof(BlockHeader);
}

void Heap::populate_to(std::uint64_t end) noexcept {
  // Pages written one by one cost a page fault each (about 10 us on a virtual machine); bump
  // allocation runs through memory in order, so the pages ahead are made present by one call
  // per chunk: at least 256 KiB, an eighth of what is in use, at most 8 MiB ahead.
  HeapState& heap = header_.heap;
  if (end <= heap.populated) return;
  const std::uint64_t used = heap.top - heap.begin;
  const std::uint64_t chunk = std::clamp<std::uint64_t>(used / 8, std::uint64_t{256} << 10,
                                                        std::uint64_t{8} << 20);
  const std::uint64_t from = std::max(heap.populated, heap.begin) / page_size * page_size;
  const std::uint64_t to =
      std::min(heap.end, (std::max(end, from + chunk) + page_size - 1) / page_size * page_size);
  if (to > from) madvise(base_ + from, to - from, populate_write);
  heap.populated = to;
}

void Heap::free(std::uint64_t payload) noexcept {
  HeapState& heap = header_.heap;
  auto* header = reinterpret_cast<BlockHeader*>(base_ + payload - sizeof(BlockHeader));
  const std::size_t k = header->size_class;
  const std::uint64_t size = size_of_class(k);
  if (size >= release_pages_from) {
    // Its whole pages go back to the kernel (and read as zeros when the block is reused).
    const std::uint64_t first = (payload + sizeof(std::uint64_t) + page_size - 1) / page_size * page_size;
    const std::uint64_t last = (payload + size) / page_size * page_size;
    if (last > first) madvise(base_ + first, last - first, MADV_REMOVE);
  }
  std::memcpy(base_ + payload, &heap.free[k], sizeof(std::uint64_t));
  commit(heap.free[k], payload);
}

void Heap::bad_position() const {
  throw_corrupt(segment_, "a position outside the heap");
}

void Heap::bad_block() const {
  throw_corrupt(segment_, "a block header");
}

std::size_t Heap::capacity_of(std::uint64_t payload) const {
  (void)at(payload);
  const auto* header = reinterpret_cast<const BlockHeader*>(base_ + payload - sizeof(BlockHeader));
  return size_of_class(header->size_class);
}

}  // namespace unipar::detail::shm
