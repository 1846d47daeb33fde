// A dict's table and a list's sequence of encoded bytes in a shared heap, the arrays stored in
// them, and the handles (ArrayStorage) that keep those arrays alive.
//
// Every change allocates and writes what it needs first, then links it in with one committed
// store, then frees what it unlinked (layout.hpp): running out of memory (UNIPAR_SHARED_LIMIT)
// leaves the object as it was, and a process killed at any point leaves it consistent.
#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/settings.hpp"
#include "shm/layout.hpp"
#include "unipar/error.hpp"

namespace unipar::detail {

namespace shm {

void throw_exhausted(const SharedSegment& segment) {
  const std::string limit = size_text(segment.state().limit);
  throw Error(segment.name() + ": out of shared memory: one shared object may use " + limit +
              " (UNIPAR_SHARED_LIMIT), and this operation needs more; the object is unchanged. "
              "Set UNIPAR_SHARED_LIMIT higher (bytes, e.g. 8G) before creating it");
}

namespace {

/// The same in every process of the machine.
inline std::uint64_t mix(std::uint64_t hash) noexcept {
  hash ^= hash >> 29;
  hash *= 0xBF58476D1CE4E5B9ull;
  return hash ^ (hash >> 32);
}
inline std::uint64_t hash_of(ConstBytes bytes) noexcept {
  constexpr std::uint64_t multiplier = 0x9E3779B97F4A7C15ull;
  std::uint64_t hash = 0x243F6A8885A308D3ull ^ bytes.size();
  const std::byte* data = bytes.data();
  const std::size_t size = bytes.size();
  if (size <= 8) {  // most keys: one word
    std::uint64_t word = 0;
    if (size != 0) std::memcpy(&word, data, size);
    return mix((hash ^ word) * multiplier);
  }
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, data + i, 8);
    hash = (hash ^ word) * multiplier;
    hash ^= hash >> 32;
  }
  if (i < size) {
    std::uint64_t word = 0;
    std::memcpy(&word, data + i, size - i);
    hash = (hash ^ word) * multiplier;
  }
  return mix(hash);
}

/// Whether `size` bytes at `a` and `b` are equal (short keys without a call).
inline bool same_bytes(const std::byte* a, const std::byte* b, std::size_t size) noexcept {
  if (size <= 8) {
    std::uint64_t x = 0, y = 0;
    if (size != 0) {
      std::memcpy(&x, a, size);
      std::memcpy(&y, b, size);
    }
    return x == y;
  }
  return std::memcmp(a, b, size) == 0;
}

/// Frees a block allocated for a change unless the change linked it in.
class Pending {
 public:
  Pending(Heap& heap, std::uint64_t block) noexcept : heap_(heap), block_(block) {}
  ~Pending() {
    if (block_ != 0) heap_.free(block_);
  }
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  std::uint64_t get() const noexcept { return block_; }
  std::uint64_t release() noexcept { return std::exchange(block_, 0); }

 private:
  Heap& heap_;
  std::uint64_t block_;
};

bool array_values(const SharedSegment& segment) {
  return segment.state().header->array_values != 0;
}

ArrayBlock* block_of_value(const Heap& heap, const SharedSegment& segment, ConstBytes stored) {
  ArrayValue value;
  if (stored.size() != sizeof value) throw_corrupt(segment, "a stored array handle");
  std::memcpy(&value, stored.data(), sizeof value);
  return heap.as<ArrayBlock>(value.block);
}

/// A new block holding a copy of `elements`, with the one reference of the entry that will
/// store it.
std::uint64_t allocate_array(Heap& heap, ConstBytes elements, std::size_t count,
                             std::size_t alignment) {
  // The payload is 16-byte aligned: the elements start after the block's header, rounded up to
  // their alignment (which for more than 16 depends on where the payload lands).
  const std::size_t align = std::max<std::size_t>(alignment, 16);
  constexpr std::size_t head = (sizeof(ArrayBlock) + 15) / 16 * 16;
  const std::uint64_t payload =
      heap.allocate(head + (align > 16 ? align : 0) + elements.size());
  std::byte* memory = heap.at(payload);
  const std::uint64_t start = payload + sizeof(ArrayBlock);
  const std::uint64_t data = (start + align - 1) / align * align;
  auto* block = new (memory) ArrayBlock{};
  block->references.store(1, std::memory_order_relaxed);
  block->count = count;
  block->data_offset = data - payload;
  if (!elements.empty()) std::memcpy(memory + block->data_offset, elements.data(), elements.size());
  return payload;
}

/// Drops one reference to the array block at `payload`, freeing it with the last.
void drop_reference(Heap& heap, std::uint64_t payload) {
  auto* block = heap.as<ArrayBlock>(payload);
  if (block->references.fetch_sub(1, std::memory_order_acq_rel) == 1) heap.free(payload);
}

ConstBytes value_bytes(const ArrayValue& value) {
  return {reinterpret_cast<const std::byte*>(&value), sizeof value};
}

/// Values of at most 8 bytes sit in an aligned 8-byte word of their entry: replacing one by a
/// value of the same size is one committed store, with no new entry.
constexpr std::size_t word_size = sizeof(std::uint64_t);
constexpr std::size_t room_for(std::size_t value_size) {
  return (std::max<std::size_t>(value_size, 1) + word_size - 1) / word_size * word_size;
}
bool replace_in_place(std::byte* stored, std::size_t stored_size, ConstBytes value) noexcept {
  if (value.size() != stored_size || stored_size > word_size) return false;
  std::uint64_t word = 0;
  std::memcpy(&word, stored, word_size);
  if (!value.empty()) std::memcpy(&word, value.data(), value.size());
  commit(*reinterpret_cast<std::uint64_t*>(stored), word);
  return true;
}

// ---- a table: open addressing with linear probing over immutable entries -------------------------

constexpr std::uint64_t initial_slots = 16;

struct Table {
  SharedSegment& segment;
  Header& header;
  Heap heap;

  explicit Table(SharedSegment& s)
      : segment(s), header(*s.state().header), heap(s.state().heap(s)) {}

  SlotArray& array() const { return *heap.as<SlotArray>(header.root.slots); }
  static Slot* slots_of(SlotArray& array) { return reinterpret_cast<Slot*>(&array + 1); }
  TableEntry& entry(std::uint64_t payload) const { return *heap.as<TableEntry>(payload); }
  static const std::byte* key_of(const TableEntry& e) {
    return reinterpret_cast<const std::byte*>(&e + 1);
  }
  /// The value starts at the first 8-byte boundary after the key.
  static std::size_t value_offset(std::size_t key_size) {
    return (sizeof(TableEntry) + key_size + word_size - 1) / word_size * word_size;
  }
  static std::byte* value_at(const TableEntry& e) {
    return const_cast<std::byte*>(reinterpret_cast<const std::byte*>(&e)) +
           value_offset(e.key_size);
  }
  static ConstBytes value_of(const TableEntry& e) { return {value_at(e), e.value_size}; }

  /// A new, empty slot array of `capacity` (a power of two) slots.
  std::uint64_t new_slots(std::uint64_t capacity) {
    bool zeroed = false;
    const std::uint64_t payload =
        heap.allocate(sizeof(SlotArray) + capacity * sizeof(Slot), &zeroed);
    std::byte* memory = heap.at(payload);
    if (!zeroed) std::memset(memory, 0, sizeof(SlotArray) + capacity * sizeof(Slot));
    reinterpret_cast<SlotArray*>(memory)->capacity = capacity;
    return payload;
  }

  /// Where `key` is: its slot (found), or the slot an insertion would take.
  struct Place {
    Slot* slot;
    bool found;
  };
  Place find(ConstBytes key, std::uint64_t hash) const {
    SlotArray& slots_array = array();
    const std::uint64_t capacity = slots_array.capacity;
    Slot* slots = slots_of(slots_array);
    Slot* free_slot = nullptr;
    for (std::uint64_t i = hash & (capacity - 1), probes = 0; probes < capacity;
         ++probes, i = (i + 1) & (capacity - 1)) {
      Slot& slot = slots[i];
      if (slot.entry == empty_slot) return {free_slot != nullptr ? free_slot : &slot, false};
      if (slot.entry == erased_slot) {
        if (free_slot == nullptr) free_slot = &slot;
        continue;
      }
      if (slot.hash != hash) continue;
      const TableEntry& e = entry(slot.entry);
      if (e.key_size == key.size() && same_bytes(key_of(e), key.data(), key.size())) {
        return {&slot, true};
      }
    }
    if (free_slot == nullptr) throw_corrupt(segment, "a table without a free slot");
    return {free_slot, false};
  }

  /// Moves every live entry into a new slot array of `capacity` slots (erased slots vanish).
  void rehash(std::uint64_t capacity) {
    Pending fresh(heap, new_slots(capacity));
    SlotArray& old_array = array();
    Slot* old_slots = slots_of(old_array);
    Slot* new_slots_begin = slots_of(*heap.as<SlotArray>(fresh.get()));
    std::uint64_t live = 0;
    for (std::uint64_t i = 0; i < old_array.capacity; ++i) {
      const Slot& slot = old_slots[i];
      if (slot.entry == empty_slot || slot.entry == erased_slot) continue;
      std::uint64_t j = slot.hash & (capacity - 1);
      while (new_slots_begin[j].entry != empty_slot) j = (j + 1) & (capacity - 1);
      new_slots_begin[j] = slot;
      ++live;
    }
    const std::uint64_t old = header.root.slots;
    commit(header.root.slots, fresh.release());
    header.root.count = live;
    header.root.used = live;
    heap.free(old);
  }

  /// A new entry holding `key` and `value`, not yet linked in.
  std::uint64_t new_entry(ConstBytes key, std::uint64_t hash, ConstBytes value) {
    const std::uint64_t payload =
        heap.allocate(value_offset(key.size()) + room_for(value.size()));
    auto* e = reinterpret_cast<TableEntry*>(heap.at(payload));
    e->hash = hash;
    e->key_size = key.size();
    e->value_size = value.size();
    if (!key.empty()) std::memcpy(e + 1, key.data(), key.size());
    if (!value.empty()) std::memcpy(value_at(*e), value.data(), value.size());
    return payload;
  }

  /// Stores `value` under `key` (at `known`, its slot when the caller just found it); an
  /// array's block (`array`) is the entry's once linked in.
  void assign(ConstBytes key, ConstBytes value, Pending* array, Slot* known = nullptr) {
    const std::uint64_t hash = known != nullptr ? known->hash : hash_of(key);
    Place place = known != nullptr ? Place{known, true} : find(key, hash);
    if (place.found && array == nullptr && !array_values(segment)) {
      TableEntry& e = entry(place.slot->entry);
      if (replace_in_place(value_at(e), e.value_size, value)) return;
    }
    if (!place.found) {
      const std::uint64_t capacity = array_capacity();
      if ((header.root.used + 1) * 10 > capacity * 7) {
        rehash((header.root.count + 1) * 2 > capacity ? capacity * 2 : capacity);
        place = find(key, hash);
      }
    }
    Pending fresh(heap, new_entry(key, hash, value));
    if (place.found) {
      const std::uint64_t old = place.slot->entry;
      const std::uint64_t old_array = array_values(segment) ? array_handle(entry(old)) : 0;
      commit(place.slot->entry, fresh.release());
      if (array != nullptr) array->release();
      heap.free(old);
      if (old_array != 0) drop_reference(heap, old_array);
      return;
    }
    const bool reuses_erased = place.slot->entry == erased_slot;
    place.slot->hash = hash;
    commit(place.slot->entry, fresh.release());
    if (array != nullptr) array->release();
    ++header.root.count;
    if (!reuses_erased) ++header.root.used;
  }

  bool erase(ConstBytes key) {
    const Place place = find(key, hash_of(key));
    if (!place.found) return false;
    const std::uint64_t old = place.slot->entry;
    const std::uint64_t old_array = array_values(segment) ? array_handle(entry(old)) : 0;
    commit(place.slot->entry, erased_slot);
    --header.root.count;
    heap.free(old);
    if (old_array != 0) drop_reference(heap, old_array);
    return true;
  }

  std::uint64_t array_capacity() const { return array().capacity; }

  std::uint64_t array_handle(const TableEntry& e) const {
    ArrayValue value;
    if (e.value_size != sizeof value) throw_corrupt(segment, "a stored array handle");
    std::memcpy(&value, value_at(e), sizeof value);
    return value.block;
  }

  /// Counts what a change cut short may have left stale.
  void recount() {
    SlotArray& slots_array = array();
    Slot* slots = slots_of(slots_array);
    std::uint64_t live = 0, used = 0;
    for (std::uint64_t i = 0; i < slots_array.capacity; ++i) {
      if (slots[i].entry == empty_slot) continue;
      ++used;
      if (slots[i].entry != erased_slot) ++live;
    }
    header.root.count = live;
    header.root.used = used;
  }
};

// ---- a sequence: a growing array of entries --------------------------------------------------------

struct Sequence {
  SharedSegment& segment;
  Header& header;
  Heap heap;

  explicit Sequence(SharedSegment& s)
      : segment(s), header(*s.state().header), heap(s.state().heap(s)) {}

  SlotArray& array() const { return *heap.as<SlotArray>(header.root.slots); }
  static std::uint64_t* slots_of(SlotArray& array) {
    return reinterpret_cast<std::uint64_t*>(&array + 1);
  }
  std::uint64_t new_slots(std::uint64_t capacity) {
    const std::uint64_t payload =
        heap.allocate(sizeof(SlotArray) + capacity * sizeof(std::uint64_t));
    reinterpret_cast<SlotArray*>(heap.at(payload))->capacity = capacity;
    return payload;
  }
  std::uint64_t new_entry(ConstBytes value) {
    const std::uint64_t payload = heap.allocate(sizeof(SequenceEntry) + room_for(value.size()));
    auto* e = reinterpret_cast<SequenceEntry*>(heap.at(payload));
    e->value_size = value.size();
    if (!value.empty()) std::memcpy(e + 1, value.data(), value.size());
    return payload;
  }
  ConstBytes value_of(std::uint64_t payload) const {
    const auto* e = heap.as<SequenceEntry>(payload);
    return {reinterpret_cast<const std::byte*>(e + 1), e->value_size};
  }
  std::uint64_t array_handle(std::uint64_t payload) const {
    const ConstBytes stored = value_of(payload);
    ArrayValue value;
    if (stored.size() != sizeof value) throw_corrupt(segment, "a stored array handle");
    std::memcpy(&value, stored.data(), sizeof value);
    return value.block;
  }
};

}  // namespace

void recover(SharedSegment& segment) noexcept {
  try {
    if (segment.state().header->kind == static_cast<std::uint32_t>(SharedKind::dict)) {
      Table(segment).recount();
    }
  } catch (...) {
    // throw_corrupt marked it broken
  }
}

}  // namespace shm

// ---- the handles of arrays ------------------------------------------------------------------------

ArrayStorage::ArrayStorage(std::shared_ptr<SharedSegment> segment, std::byte* data,
                           std::size_t count, void* block) noexcept
    : segment_(std::move(segment)),
      data_(data),
      count_(count),
      block_(block),
      counted_in_(block != nullptr ? this_process() : 0) {}

ArrayStorage::ArrayStorage(const ArrayStorage& other) noexcept
    : segment_(other.segment_), data_(other.data_), count_(other.count_), block_(other.block_) {
  add_reference();
}

ArrayStorage::ArrayStorage(ArrayStorage&& other) noexcept
    : segment_(other.segment_), data_(other.data_), count_(other.count_), block_(other.block_) {
  if (block_ != nullptr && other.counted_in_ == this_process()) {
    counted_in_ = other.counted_in_;  // takes over its reference
    other.block_ = nullptr;
    other.segment_.reset();
    other.data_ = nullptr;
    other.count_ = 0;
  } else {
    add_reference();  // a handle this process inherited holds no reference of this process
  }
}

ArrayStorage& ArrayStorage::operator=(ArrayStorage other) noexcept {
  swap(*this, other);
  return *this;
}

void swap(ArrayStorage& a, ArrayStorage& b) noexcept {
  using std::swap;
  swap(a.segment_, b.segment_);
  swap(a.data_, b.data_);
  swap(a.count_, b.count_);
  swap(a.block_, b.block_);
  swap(a.counted_in_, b.counted_in_);
}

ArrayStorage::~ArrayStorage() {
  release();
}

void ArrayStorage::add_reference() noexcept {
  if (block_ == nullptr) return;
  static_cast<shm::ArrayBlock*>(block_)->references.fetch_add(1, std::memory_order_relaxed);
  counted_in_ = this_process();
}

void ArrayStorage::release() noexcept {
  // A handle copied into a forked worker with main's memory holds main's reference, not one of
  // its own: only the process that counted it gives it back.
  if (block_ == nullptr || counted_in_ != this_process()) return;
  auto* block = static_cast<shm::ArrayBlock*>(block_);
  block_ = nullptr;
  if (block->references.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // The last reference: no entry stores the block any more, no other handle can reach it.
  try {
    SharedSegment::Lock lock(*segment_);
    const SharedSegment::State& state = segment_->state();
    state.heap(*segment_).free(
        static_cast<std::uint64_t>(reinterpret_cast<std::byte*>(block) - state.base));
  } catch (...) {
    // The object became unusable: its memory goes with it.
  }
}

ArrayStorage SharedSegment::Lock::array(ConstBytes stored) const {
  const shm::Heap heap = segment_.state().heap(segment_);
  shm::ArrayBlock* block = shm::block_of_value(heap, segment_, stored);
  block->references.fetch_add(1, std::memory_order_relaxed);
  return ArrayStorage(segment_.shared_from_this(),
                      reinterpret_cast<std::byte*>(block) + block->data_offset, block->count,
                      block);
}

// ---- a dict's table -----------------------------------------------------------------------------

void TableView::construct(SharedSegment& segment) {
  shm::Table table(segment);
  shm::commit(table.header.root.slots, table.new_slots(shm::initial_slots));
  table.header.root.count = 0;
  table.header.root.used = 0;
}

TableView::TableView(SharedSegment::Lock& lock) : lock_(lock) {}

std::optional<ConstBytes> TableView::find(ConstBytes key) const {
  const shm::Table table(lock_.segment());
  const auto place = table.find(key, shm::hash_of(key));
  if (!place.found) return std::nullopt;
  found_key_ = key.data();
  found_size_ = key.size();
  found_slot_ = place.slot;
  return shm::Table::value_of(table.entry(place.slot->entry));
}

void* TableView::known_slot(ConstBytes key) const {
  // The slot find() just returned for these very key bytes (nothing changed since: the lock is
  // held and every change through this view forgets it).
  void* slot = key.data() == found_key_ && key.size() == found_size_ ? found_slot_ : nullptr;
  found_slot_ = nullptr;
  return slot;
}

void TableView::assign(ConstBytes key, ConstBytes value) const {
  shm::Slot* known = static_cast<shm::Slot*>(known_slot(key));
  shm::Table(lock_.segment()).assign(key, value, nullptr, known);
}

void TableView::assign_array(ConstBytes key, ConstBytes elements, std::size_t count,
                             std::size_t alignment) const {
  shm::Table table(lock_.segment());
  shm::Slot* known = static_cast<shm::Slot*>(known_slot(key));
  shm::Pending block(table.heap, shm::allocate_array(table.heap, elements, count, alignment));
  table.assign(key, shm::value_bytes({block.get()}), &block, known);
}

bool TableView::erase(ConstBytes key) const {
  found_slot_ = nullptr;
  return shm::Table(lock_.segment()).erase(key);
}

std::size_t TableView::size() const {
  return shm::Table(lock_.segment()).header.root.count;
}

void TableView::for_each(FunctionRef<void(ConstBytes, ConstBytes)> visit) const {
  const shm::Table table(lock_.segment());
  shm::SlotArray& array = table.array();
  const shm::Slot* slots = shm::Table::slots_of(array);
  for (std::uint64_t i = 0; i < array.capacity; ++i) {
    if (slots[i].entry == shm::empty_slot || slots[i].entry == shm::erased_slot) continue;
    const shm::TableEntry& e = table.entry(slots[i].entry);
    visit({shm::Table::key_of(e), e.key_size}, shm::Table::value_of(e));
  }
}

// ---- a list's sequence --------------------------------------------------------------------------

void SequenceView::construct(SharedSegment& segment) {
  shm::Sequence sequence(segment);
  shm::commit(sequence.header.root.slots, sequence.new_slots(16));
  sequence.header.root.count = 0;
}

SequenceView::SequenceView(SharedSegment::Lock& lock) : lock_(lock) {}

std::size_t SequenceView::size() const {
  return lock_.segment().state().header->root.count;
}

void SequenceView::check_index(std::size_t index) const {
  const std::size_t count = size();
  if (index >= count) {
    throw std::out_of_range(lock_.segment().name() + ": index " + std::to_string(index) +
                            " is out of range (size " + std::to_string(count) + ")");
  }
}

ConstBytes SequenceView::at(std::size_t index) const {
  check_index(index);
  const shm::Sequence sequence(lock_.segment());
  return sequence.value_of(shm::Sequence::slots_of(sequence.array())[index]);
}

void SequenceView::assign(std::size_t index, ConstBytes value) const {
  check_index(index);
  shm::Sequence sequence(lock_.segment());
  std::uint64_t& slot = shm::Sequence::slots_of(sequence.array())[index];
  if (!shm::array_values(sequence.segment)) {
    auto* e = sequence.heap.as<shm::SequenceEntry>(slot);
    if (shm::replace_in_place(reinterpret_cast<std::byte*>(e + 1), e->value_size, value)) return;
  }
  shm::Pending fresh(sequence.heap, sequence.new_entry(value));
  const std::uint64_t old = slot;
  const std::uint64_t old_array =
      shm::array_values(sequence.segment) ? sequence.array_handle(old) : 0;
  shm::commit(slot, fresh.release());
  sequence.heap.free(old);
  if (old_array != 0) shm::drop_reference(sequence.heap, old_array);
}

void SequenceView::assign_array(std::size_t index, ConstBytes elements, std::size_t count,
                                std::size_t alignment) const {
  check_index(index);
  shm::Sequence sequence(lock_.segment());
  shm::Pending block(sequence.heap,
                     shm::allocate_array(sequence.heap, elements, count, alignment));
  assign(index, shm::value_bytes({block.get()}));
  block.release();
}

std::size_t SequenceView::push_back(ConstBytes value) const {
  shm::Sequence sequence(lock_.segment());
  shm::Pending fresh(sequence.heap, sequence.new_entry(value));
  const std::uint64_t count = sequence.header.root.count;
  if (count == sequence.array().capacity) {
    // A larger slot array, filled, then linked in; the old one freed after.
    const std::uint64_t capacity = count * 2;
    shm::Pending larger(sequence.heap, sequence.new_slots(capacity));
    std::memcpy(shm::Sequence::slots_of(*sequence.heap.as<shm::SlotArray>(larger.get())),
                shm::Sequence::slots_of(sequence.array()), count * sizeof(std::uint64_t));
    const std::uint64_t old = sequence.header.root.slots;
    shm::commit(sequence.header.root.slots, larger.release());
    sequence.heap.free(old);
  }
  shm::Sequence::slots_of(sequence.array())[count] = fresh.release();
  shm::commit(sequence.header.root.count, count + 1);
  return count;
}

std::size_t SequenceView::push_back_array(ConstBytes elements, std::size_t count,
                                          std::size_t alignment) const {
  shm::Sequence sequence(lock_.segment());
  shm::Pending block(sequence.heap,
                     shm::allocate_array(sequence.heap, elements, count, alignment));
  const std::size_t index = push_back(shm::value_bytes({block.get()}));
  block.release();
  return index;
}

}  // namespace unipar::detail
