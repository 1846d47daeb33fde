/// @file shared_segment.hpp
/// @brief The memory under the shared objects (src/shm/): one memfd per object, mapped whole by
/// every process that shares it, its robust lock, and the byte-level views of a dict's and a
/// list's entries that the templates in <unipar/shared.hpp> encode values for.
///
/// Nothing here includes Boost.Interprocess: the containers live in src/shm/, behind views that
/// take and give bytes (the codec's), as the typed Parallelizer templates sit on byte operations.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "unipar/detail/bytes.hpp"
#include "unipar/detail/function_ref.hpp"

namespace unipar {

class Parallelizer;

/// @brief Which processes share one shared object: the last constructor argument of
/// SharedArray, SharedDict, SharedList and SharedObjectManager.
enum class Sharing {
  /// Every process of the parallelizer shares the object. They must all run on one node (a
  /// machine; under MPI, ranks whose kernel and process namespace are the same): creating the
  /// object for processes on several nodes is a UsageError.
  all,
  /// The processes of each node share an object of their own, created by the lowest process id
  /// of the node (with its contents, for the constructors that take them). On one node: `all`.
  node_local,
};

namespace detail {

enum class SharedKind : std::uint32_t { array = 1, dict = 2, list = 3 };

/// What a process asks for when it creates a shared object. Every process of a collective
/// creation asks for the same `type`, and for an array made with a size, the same `count`.
struct SharedSpec {
  SharedKind kind = SharedKind::array;
  Fingerprint type = 0;          // of the public type (SharedDict<K, V>, ...)
  std::string name;              // the public type, for messages
  std::size_t count = 0;         // array: how many elements
  std::size_t element_size = 1;  // array: the size of one
  bool check_count = false;      // array made with a size: every process must ask for `count`
  bool array_values = false;     // dict / list: the values are arrays in the object's memory
};

/// The readable name of a shared object's type, from its `typeid(...).name()`
/// ("unipar::SharedDict<std::string, double>").
std::string shared_type_name(const char* mangled);

/// This process's id, cached (and renewed in a forked child).
pid_t this_process() noexcept;

/// For tests: replaces the node identity every process of this program reports when a shared
/// object is created inside run, so that one machine can play several nodes (empty: the real
/// one, the kernel's boot id and the process namespace).
void set_node_identity_for_testing(std::string identity);

class SharedSegment;

/// @brief Elements of one shared array: a whole standalone segment, or a block in a dict's or
/// list's memory kept alive by a reference count in that memory (see docs/shared.md).
class ArrayStorage {
 public:
  ArrayStorage() = default;
  /// Takes over one reference to `block` already counted for this process (or none: a null
  /// `block` names a standalone array, which `segment` owns whole).
  ArrayStorage(std::shared_ptr<SharedSegment> segment, std::byte* data, std::size_t count,
               void* block) noexcept;
  ArrayStorage(const ArrayStorage& other) noexcept;
  ArrayStorage(ArrayStorage&& other) noexcept;
  ArrayStorage& operator=(ArrayStorage other) noexcept;
  ~ArrayStorage();

  std::byte* data() const noexcept { return data_; }
  std::size_t count() const noexcept { return count_; }
  const SharedSegment* segment() const noexcept { return segment_.get(); }
  /// The block in a dict's or list's memory, or null.
  const void* block() const noexcept { return block_; }

  friend void swap(ArrayStorage& a, ArrayStorage& b) noexcept;

 private:
  void add_reference() noexcept;
  void release() noexcept;

  std::shared_ptr<SharedSegment> segment_;
  std::byte* data_ = nullptr;
  std::size_t count_ = 0;
  void* block_ = nullptr;
  pid_t counted_in_ = 0;  // the process whose reference to `block_` this handle holds
};

/// @brief One shared object's memory as this process maps it (a handle's shared state).
///
/// Created by one process per node (main, or the lowest id of each node) as a memfd of the
/// object's size, and mapped by the others from it; the memfd is closed as soon as every
/// process of the node has it mapped, so the memory has no name anywhere and goes away when the
/// last process unmaps it, however the processes end.
class SharedSegment : public std::enable_shared_from_this<SharedSegment> {
 public:
  /// Creates the memory of one shared object for `par`'s processes (see docs/shared.md for who
  /// creates and who opens it on each backend). `init` runs on each creating process before any
  /// other maps the memory (an array's initial contents, a dict's root container and entries).
  /// Inside `run` every process must call it at the same point, like a collective.
  static std::shared_ptr<SharedSegment> create(Parallelizer& par, const SharedSpec& spec,
                                               Sharing sharing,
                                               FunctionRef<void(SharedSegment&)> init);
  ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  /// The public type, for messages ("unipar::SharedDict<std::string, double>").
  const std::string& name() const noexcept { return name_; }
  /// The parallelizer it was created for (compared, never used).
  const Parallelizer* parallelizer() const noexcept { return parallelizer_; }
  /// An array's elements (for a dict or a list: nothing meaningful).
  std::byte* elements() const noexcept { return elements_; }
  /// An array's element count.
  std::size_t count() const noexcept { return count_; }

  /// @brief The object's lock, held while alive. Process-shared and robust: when a holder dies
  /// the next locker carries on, with the object as the holder's last completed step left it
  /// (every change is made of steps that each leave it consistent).
  class Lock {
   public:
    explicit Lock(SharedSegment& segment);
    ~Lock() { unlock(); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    void unlock() noexcept;
    SharedSegment& segment() const noexcept { return segment_; }
    /// A handle to the array a stored value names (a dict's or list's value that is an array).
    ArrayStorage array(ConstBytes stored) const;

   private:
    SharedSegment& segment_;
    bool held_ = false;
  };

  /// Used by src/shm only: the process-local state (the mapping).
  struct State;
  State& state() const noexcept { return *state_; }

 private:
  SharedSegment(std::string name, const Parallelizer* par, std::unique_ptr<State> state);
  friend struct SegmentMaker;

  std::string name_;
  const Parallelizer* parallelizer_;
  std::unique_ptr<State> state_;
  std::byte* elements_ = nullptr;
  std::size_t count_ = 0;
};

/// @brief A dict's entries (encoded key -> encoded value, or an array) while its lock is held.
/// Bytes it returns point into the shared memory and stay valid while the lock is held.
class TableView {
 public:
  explicit TableView(SharedSegment::Lock& lock);
  /// The stored value of `key`, or nothing.
  std::optional<ConstBytes> find(ConstBytes key) const;
  /// Stores `value` under `key` (inserting or replacing).
  void assign(ConstBytes key, ConstBytes value) const;
  /// Stores a copy of `count` elements (`elements`, aligned to `alignment`) under `key`.
  void assign_array(ConstBytes key, ConstBytes elements, std::size_t count,
                    std::size_t alignment) const;
  /// Removes `key`; whether it was there.
  bool erase(ConstBytes key) const;
  std::size_t size() const;
  /// Calls `visit(key, stored value)` for every entry, in storage order.
  void for_each(FunctionRef<void(ConstBytes, ConstBytes)> visit) const;
  /// Creates the empty table of a new dict (`init` of SharedSegment::create).
  static void construct(SharedSegment& segment);

 private:
  void* known_slot(ConstBytes key) const;
  SharedSegment::Lock& lock_;
  // What find() last found, so that an update's assign of the same key does not look again.
  mutable const std::byte* found_key_ = nullptr;
  mutable std::size_t found_size_ = 0;
  mutable void* found_slot_ = nullptr;
};

/// @brief A list's elements while its lock is held (as TableView).
class SequenceView {
 public:
  explicit SequenceView(SharedSegment::Lock& lock);
  std::size_t size() const;
  /// The stored value of element `index`; std::out_of_range past the end.
  ConstBytes at(std::size_t index) const;
  void assign(std::size_t index, ConstBytes value) const;
  void assign_array(std::size_t index, ConstBytes elements, std::size_t count,
                    std::size_t alignment) const;
  /// Appends; returns the new element's index.
  std::size_t push_back(ConstBytes value) const;
  std::size_t push_back_array(ConstBytes elements, std::size_t count,
                              std::size_t alignment) const;
  static void construct(SharedSegment& segment);

 private:
  void check_index(std::size_t index) const;
  SharedSegment::Lock& lock_;
};

}  // namespace detail
}  // namespace unipar
