/// @file layout.hpp
/// @brief What a shared object's memory holds: the header page, then an array's elements or, for
/// a dict or a list, a heap holding the table (or sequence) of entries and the arrays stored in
/// them. Every position is an offset from the start of the memory, valid wherever each process
/// maps it.
///
/// ```
/// page 0     Header: magic, token, type, sizes, the robust lock, the heap's state and the
///            container's root
/// page 1..   array: the elements
///            dict / list: the heap's blocks (16-byte header + payload), bump-allocated from
///            `top` and recycled through one free list per size class
/// ```
///
/// Crash consistency: a process may die at any instruction while it holds the lock (SIGKILL,
/// the OOM killer). Every change is therefore made of steps that each leave a consistent object:
/// new data is written into blocks nobody can reach yet, and one aligned 8-byte store (a
/// "commit") links it in; what the change unlinks is freed after its commit. A process that dies
/// between the steps leaks at most the blocks it was working with; it never leaves a structure
/// half-linked. (Boost.Interprocess's allocator and containers, tried first, change free trees
/// and node links in many steps: a writer killed at random left the dict unusable in 25 of 30
/// kills; see docs/shared.md.)
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "unipar/detail/shared_segment.hpp"

namespace unipar::detail::shm {

inline constexpr std::size_t page_size = 4096;
inline constexpr std::uint64_t header_magic = 0x756e69706172534dull;  // "uniparSM"
inline constexpr std::uint32_t block_magic = 0x426c6b21u;             // "Blk!"

/// Size classes: 16 to 128 bytes in steps of 16, then four per doubling (at most 25% rounding).
inline constexpr std::size_t class_count = 160;

/// The heap's state, in the header: all offsets from the start of the memory.
struct HeapState {
  std::uint64_t begin;  // the first block
  std::uint64_t top;    // the first byte never allocated
  std::uint64_t end;    // the end of the memory
  std::uint64_t populated;  // a hint: the creator's pages are present up to here
  std::uint64_t free[class_count];  // the first free block of each class, 0 for none
};

/// The container of a dict (a table) or a list (a sequence), in the header.
struct RootState {
  std::uint64_t slots;  // the payload of the slot array block
  std::uint64_t count;  // dict: live entries; list: elements (a list's commit word)
  std::uint64_t used;   // dict: live entries + erased slots
};

/// The first page of every shared object.
struct Header {
  std::uint64_t magic;
  std::uint64_t token[2];  // random: an opener checks that it mapped this very object
  Fingerprint type;
  std::uint32_t kind;
  std::uint32_t array_values;
  std::uint64_t mapped;        // bytes, header included
  std::uint64_t count;         // array: elements
  std::uint64_t element_size;  // array
  std::uint64_t limit;         // UNIPAR_SHARED_LIMIT of the creator
  std::atomic<std::uint32_t> broken;  // found inconsistent: unusable
  pthread_mutex_t mutex;              // process-shared, robust, error-checking
  RootState root;
  HeapState heap;
};
static_assert(sizeof(Header) <= page_size);

/// Every heap block starts with this; the payload follows, 16-byte aligned.
struct BlockHeader {
  std::uint32_t magic;
  std::uint32_t size_class;
  std::uint64_t reserved;
};
static_assert(sizeof(BlockHeader) == 16);

/// One entry of a dict: immutable once linked in (a new value is a new entry).
struct TableEntry {
  std::uint64_t hash;
  std::uint64_t key_size;
  std::uint64_t value_size;
  // the key's bytes, then the value's
};

/// One element of a list.
struct SequenceEntry {
  std::uint64_t value_size;
  // the value's bytes
};

/// A dict's slot: `entry` is 0 (empty), 1 (erased) or the entry's payload; `hash` is written
/// before `entry` commits the slot.
struct Slot {
  std::uint64_t hash;
  std::uint64_t entry;
};
inline constexpr std::uint64_t empty_slot = 0;
inline constexpr std::uint64_t erased_slot = 1;

/// The start of a slot array's payload: how many slots follow.
struct SlotArray {
  std::uint64_t capacity;
  std::uint64_t reserved;
};

/// An array stored in a dict's or list's heap. The entry that stores it holds one reference and
/// every live handle (ArrayStorage) another; the last one frees the block.
struct ArrayBlock {
  std::atomic<std::uint64_t> references;
  std::uint64_t count;
  std::uint64_t data_offset;  // from the block's payload, aligned for the element type
};

/// What a dict's or list's stored value holds when it is an array: the block's payload offset.
struct ArrayValue {
  std::uint64_t block;
};

/// Links in one change: the store nobody may see before the writes that precede it.
inline void commit(std::uint64_t& word, std::uint64_t value) noexcept {
  std::atomic_ref<std::uint64_t>(word).store(value, std::memory_order_release);
}

/// The heap of one dict or list (its lock is held).
class Heap {
 public:
  Heap(std::byte* base, Header& header, const SharedSegment& segment) noexcept
      : base_(base), header_(header), segment_(segment) {}

  /// A block of at least `size` payload bytes; throws the exhausted Error. Its contents are
  /// undefined, or zero when `zeroed` is given and set (memory never used before).
  std::uint64_t allocate(std::size_t size, bool* zeroed = nullptr);
  /// Gives back a block allocate returned.
  void free(std::uint64_t payload) noexcept;
  /// The payload at `offset`, checked to be a block's (Error when it is not).
  std::byte* at(std::uint64_t payload) const {
    const HeapState& heap = header_.heap;
    if (payload < heap.begin + sizeof(BlockHeader) || payload >= heap.top || payload % 16 != 0) {
      bad_position();
    }
    const auto* block = reinterpret_cast<const BlockHeader*>(base_ + payload - sizeof(BlockHeader));
    if (block->magic != block_magic || block->size_class >= class_count) bad_block();
    return base_ + payload;
  }
  template <class T>
  T* as(std::uint64_t payload) const {
    return reinterpret_cast<T*>(at(payload));
  }
  /// The payload size of the block at `payload`.
  std::size_t capacity_of(std::uint64_t payload) const;

  /// Lays out an empty heap over [begin, end) of the memory.
  static void format(Header& header, std::uint64_t begin, std::uint64_t end) noexcept;

 private:
  void populate_to(std::uint64_t end) noexcept;
  [[noreturn]] void bad_position() const;
  [[noreturn]] void bad_block() const;

  std::byte* base_;
  Header& header_;
  const SharedSegment& segment_;
};

}  // namespace unipar::detail::shm

namespace unipar::detail {

struct SharedSegment::State {
  std::byte* base = nullptr;  // the whole mapping
  std::size_t mapped = 0;
  int fd = -1;  // the memfd, open only until every process of the node has mapped it
  shm::Header* header = nullptr;
  std::uint64_t limit = 0;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State();
  void close_descriptor() noexcept;
  shm::Heap heap(const SharedSegment& segment) const noexcept {
    return shm::Heap(base, *header, segment);
  }
};

namespace shm {
/// Throws the Error for an object whose memory (UNIPAR_SHARED_LIMIT) is exhausted.
[[noreturn]] void throw_exhausted(const SharedSegment& segment);
/// Throws the Error for an object whose memory holds something impossible.
[[noreturn]] void throw_corrupt(const SharedSegment& segment, const char* what);
/// After a holder of the lock died: recomputes what the last change may have left stale.
void recover(SharedSegment& segment) noexcept;
}  // namespace shm

}  // namespace unipar::detail
