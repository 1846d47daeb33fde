/// @file shared.hpp
/// @brief Objects in memory every process of a parallelizer maps: SharedArray, SharedDict,
/// SharedList, and SharedObjectManager, which turns plain data into shared objects and back.
///
/// A shared object is created with the parallelizer it is shared over, either outside `run`
/// (fork: by main, and the workers forked later inherit it; MPI: every rank calls the
/// constructor, as every rank runs the code outside `run`) or inside `run` by every process at
/// the same point, as with a collective. Handles copy cheaply (they share the mapping) and a copy
/// refers to the same object; the memory has no name anywhere and is freed when the last
/// process that maps it lets go, however the processes end. docs/shared.md says what is shared
/// with whom on each backend, and the ordering and locking rules.
///
/// @code
/// unipar::SharedObjectManager manager(par);
/// auto data = manager.share(std::map<std::string, std::vector<double>>{
///     {"a", std::vector<double>(250)}, {"b", std::vector<double>(240)}});
/// par.run([&](unipar::Parallelizer& p) {
///   if (!p.on_main()) data.at("a")[1] = 5;  // writes the shared element
/// });
/// // data.at("a")[1] == 5 on main; manager.unshare(data) is a std::map of vectors again
/// @endcode
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "unipar/codec.hpp"
#include "unipar/detail/shared_segment.hpp"
#include "unipar/error.hpp"

namespace unipar {

class Parallelizer;
template <class T>
class SharedArray;
template <class K, class V>
class SharedDict;
template <class T>
class SharedList;
class SharedObjectManager;

namespace detail {

template <class T>
struct shared_array_traits : std::false_type {
  using element = void;
};
template <class P>
struct shared_array_traits<SharedArray<P>> : std::true_type {
  using element = P;
};
/// Whether T is a SharedArray<P> (a dict's or list's value stored as an array in its memory).
template <class T>
inline constexpr bool is_shared_array_v = shared_array_traits<T>::value;

template <class T>
struct is_shared_container : std::false_type {};
template <class K, class V>
struct is_shared_container<SharedDict<K, V>> : std::true_type {};
template <class T>
struct is_shared_container<SharedList<T>> : std::true_type {};

/// What a SharedDict or SharedList can store: a transferable value (the codec's bytes), or a
/// SharedArray (an array in the object's memory).
template <class V>
constexpr void check_shared_value() {
  static_assert(!is_shared_container<V>::value,
                "unipar: a SharedDict or SharedList cannot hold SharedDicts or SharedLists; "
                "store plain or serialized values, or SharedArray<P> (arrays in its memory)");
  static_assert(is_shared_array_v<V> || is_shared_container<V>::value ||
                    std::is_default_constructible_v<V>,
                "unipar: a SharedDict's or SharedList's values are read back into a new V, and "
                "this V has no default constructor");
}

/// The handle behind a shared object (for the manager's checks).
template <class T>
const SharedSegment* segment_of(const T& object) noexcept {
  return object.segment();
}

/// How a value of a dict or a list is stored: plain and serialized values as the codec's bytes,
/// SharedArray<P> as a copy of its elements in the object's memory, read back as a handle.
template <class V>
struct StoredValue {
  static constexpr bool array = false;
  static V load(const SharedSegment::Lock&, ConstBytes stored) {
    if constexpr (Plain<V> && std::is_default_constructible_v<V>) {
      if (stored.size() != sizeof(V)) throw_bad_size(typeid(V).name(), sizeof(V), stored.size());
      V value;
      std::memcpy(static_cast<void*>(&value), stored.data(), sizeof(V));
      return value;
    } else {
      return decode<V>(stored);
    }
  }
};
template <class P>
struct StoredValue<SharedArray<P>> {
  static constexpr bool array = true;
  static SharedArray<P> load(const SharedSegment::Lock& lock, ConstBytes stored) {
    return SharedArray<P>(lock.array(stored));
  }
  static ConstBytes elements(const SharedArray<P>& array) {
    return std::as_bytes(std::span<const P>(array.data(), array.size()));
  }
};

/// UsageError: `object` was created for another parallelizer than the one `operation` uses.
[[noreturn]] void throw_foreign_object(const std::string& operation, const SharedSegment& object);
[[noreturn]] void throw_missing_key(const std::string& name);

}  // namespace detail

// ---- SharedArray ---------------------------------------------------------------------------------

/// @brief A fixed number of plain elements in memory every process maps: `a[i] = x` in any
/// process writes the one shared element.
///
/// No locking: elements are plain memory. A write becomes visible to another process once the
/// two synchronize: a `barrier` (or any collective or message between them) inside `run`, and
/// for main, `run` returning. Two processes writing the same element without synchronizing race,
/// as two threads would; give each process its own elements (disjoint blocks), or use
/// `std::atomic_ref` on elements for counters.
///
/// A handle is cheap to copy and refers to the same elements. Constness is the handle's, as
/// with std::span: a `const SharedArray` (a capture in a `map` function) still writes.
/// @code
/// unipar::SharedArray<double> out(par, 1000);   // zero-filled, shared with par's processes
/// par.run([&](unipar::Parallelizer& p) {
///   const auto block = unipar::detail::block_of(out.size(), p.nprocs(), p.id());
///   for (std::size_t i = block.begin; i < block.begin + block.size; ++i) out[i] = f(i);
/// });
/// // main sees every element here
/// @endcode
template <class T>
class SharedArray {
  static_assert(detail::Plain<T> && !std::is_const_v<T> && !std::is_volatile_v<T>,
                "unipar::SharedArray<T> holds plain (trivially copyable) elements that every "
                "process reads and writes in place; keep other values in a SharedList<T> or a "
                "SharedDict");

 public:
  using value_type = T;
  using size_type = std::size_t;
  using iterator = T*;

  /// An empty array, shared with nobody (a handle to assign one to later).
  SharedArray() noexcept = default;

  /// @brief `n` zero elements, shared with `par`'s processes.
  /// @param sharing `Sharing::node_local` for one array per node when the processes span
  /// several nodes (MPI); otherwise that is a UsageError.
  /// @throws Error when `n` elements exceed UNIPAR_SHARED_LIMIT.
  /// @note Inside `run`, every process must create it at the same point, with the same `n`.
  SharedArray(Parallelizer& par, std::size_t n, Sharing sharing = Sharing::all)
      : storage_(make(par, n, true, sharing, nullptr)) {}

  /// @brief A copy of `values`, shared with `par`'s processes: the creating process's values
  /// (main's; with `Sharing::node_local` each node's first process's). The others' are unused
  /// and may be empty.
  /// @note Inside `run`, every process must create it at the same point.
  SharedArray(Parallelizer& par, const std::vector<T>& values, Sharing sharing = Sharing::all)
      : storage_(make(par, values.size(), false, sharing, &values)) {}

  /// @return how many elements it has.
  std::size_t size() const noexcept { return storage_.count(); }
  bool empty() const noexcept { return size() == 0; }
  /// @return element `i` (not checked), the one every process sees.
  T& operator[](std::size_t i) const noexcept { return data()[i]; }
  T* data() const noexcept { return reinterpret_cast<T*>(storage_.data()); }
  T* begin() const noexcept { return data(); }
  T* end() const noexcept { return data() + size(); }
  std::span<T> span() const noexcept { return {data(), size()}; }
  /// @return a private copy of the elements.
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

 private:
  template <class, class>
  friend class SharedDict;
  template <class>
  friend class SharedList;
  friend struct detail::StoredValue<SharedArray>;
  template <class U>
  friend const detail::SharedSegment* detail::segment_of(const U&) noexcept;

  explicit SharedArray(detail::ArrayStorage storage) noexcept : storage_(std::move(storage)) {}
  const detail::SharedSegment* segment() const noexcept { return storage_.segment(); }

  static detail::ArrayStorage make(Parallelizer& par, std::size_t n, bool same_size,
                                   Sharing sharing, const std::vector<T>* values) {
    detail::SharedSpec spec;
    spec.kind = detail::SharedKind::array;
    spec.type = detail::fingerprint_v<SharedArray>;
    spec.name = detail::shared_type_name(typeid(SharedArray).name());
    spec.count = n;
    spec.element_size = sizeof(T);
    spec.check_count = same_size;
    auto segment = detail::SharedSegment::create(
        par, spec, sharing, [values](detail::SharedSegment& created) {
          if (values == nullptr || values->empty()) return;
          T* out = reinterpret_cast<T*>(created.elements());
          if constexpr (std::is_same_v<T, bool>) {
            std::copy(values->begin(), values->end(), out);
          } else {
            std::memcpy(out, values->data(), values->size() * sizeof(T));
          }
        });
    std::byte* elements = segment->elements();
    const std::size_t count = segment->count();
    return detail::ArrayStorage(std::move(segment), elements, count, nullptr);
  }

  detail::ArrayStorage storage_;
};

// ---- SharedDict ----------------------------------------------------------------------------------

/// @brief A map from keys to values in memory every process maps; each operation is atomic with
/// respect to the others (one process-shared lock per dict).
///
/// Keys and values are any transferable types (plain ones as their bytes, others through
/// Boost.Serialization, as in messages); keys are compared by their encoded bytes. Values that
/// are `SharedArray<P>` are arrays in the dict's own memory: `set` stores a copy of the array's
/// elements, and `at` / `get` return a handle to the stored array, whose elements every process
/// writes in place (`dict.at("a")[5] = 1.0` in a worker writes the shared element).
///
/// It grows as needed, up to UNIPAR_SHARED_LIMIT bytes (default 1G); an operation that would
/// need more throws unipar::Error and leaves the dict as it was. A process killed while it holds
/// the lock does not block the others.
/// @code
/// unipar::SharedDict<std::string, long> counts(par);
/// par.run([&](unipar::Parallelizer&) {
///   for (int i = 0; i < 1000; ++i)
///     counts.update("hits", [](std::optional<long>& n) { n = n.value_or(0) + 1; });
/// });
/// // counts.at("hits") == 1000 * par.nprocs()
/// @endcode
template <class K, class V>
class SharedDict {
  static constexpr bool array_values = detail::is_shared_array_v<V>;
  using Stored = detail::StoredValue<V>;
  using Element = typename detail::shared_array_traits<V>::element;

 public:
  using key_type = K;
  using mapped_type = V;

  /// @brief An empty dict shared with `par`'s processes.
  /// @param sharing `Sharing::node_local` for one dict per node when the processes span several
  /// nodes (MPI); otherwise that is a UsageError.
  /// @note Inside `run`, every process must create it at the same point.
  explicit SharedDict(Parallelizer& par, Sharing sharing = Sharing::all)
      : SharedDict(par, sharing, [](const SharedDict&) {}) {}

  /// Stores `value` under `key` (a SharedArray: a copy of its elements).
  void set(const K& key, const V& value) const {
    const detail::Encoded<K> encoded_key(key);
    if constexpr (array_values) {
      check_same_parallelizer(value, "set");
      detail::SharedSegment::Lock lock(*segment_);
      detail::TableView(lock).assign_array(encoded_key.bytes(), Stored::elements(value),
                                           value.size(), alignof(Element));
    } else {
      const detail::Encoded<V> encoded_value(value);
      detail::SharedSegment::Lock lock(*segment_);
      detail::TableView(lock).assign(encoded_key.bytes(), encoded_value.bytes());
    }
  }

  /// Stores a new array holding a copy of `elements` under `key` (dicts of arrays only).
  template <class E = Element>
  requires array_values
  void set(const K& key, std::span<const std::type_identity_t<E>> elements) const {
    const detail::Encoded<K> encoded_key(key);
    detail::SharedSegment::Lock lock(*segment_);
    detail::TableView(lock).assign_array(encoded_key.bytes(), std::as_bytes(elements),
                                         elements.size(), alignof(E));
  }

  /// @return the value stored under `key` (an array: a handle to it), or nothing.
  std::optional<V> get(const K& key) const {
    const detail::Encoded<K> encoded_key(key);
    detail::SharedSegment::Lock lock(*segment_);
    const auto stored = detail::TableView(lock).find(encoded_key.bytes());
    if (!stored) return std::nullopt;
    return Stored::load(lock, *stored);
  }

  /// @return the value stored under `key` (an array: a handle to it).
  /// @throws std::out_of_range when there is none.
  V at(const K& key) const {
    auto value = get(key);
    if (!value) detail::throw_missing_key(segment_->name());
    return std::move(*value);
  }

  bool contains(const K& key) const {
    const detail::Encoded<K> encoded_key(key);
    detail::SharedSegment::Lock lock(*segment_);
    return detail::TableView(lock).find(encoded_key.bytes()).has_value();
  }

  /// Removes `key`; @return whether it was there. Handles to a removed array stay valid.
  bool erase(const K& key) const {
    const detail::Encoded<K> encoded_key(key);
    detail::SharedSegment::Lock lock(*segment_);
    return detail::TableView(lock).erase(encoded_key.bytes());
  }

  std::size_t size() const {
    detail::SharedSegment::Lock lock(*segment_);
    return detail::TableView(lock).size();
  }

  /// @return every key, in order (by `<` when K has it, else in storage order).
  std::vector<K> keys() const {
    std::vector<K> keys;
    {
      detail::SharedSegment::Lock lock(*segment_);
      const detail::TableView table(lock);
      keys.reserve(table.size());
      table.for_each([&](detail::ConstBytes key, detail::ConstBytes) {
        keys.push_back(detail::decode<K>(key));
      });
    }
    if constexpr (requires(const K& a, const K& b) {
                    { a < b } -> std::convertible_to<bool>;
                  }) {
      std::sort(keys.begin(), keys.end());
    }
    return keys;
  }

  /// @return a private copy of every entry (arrays: handles to them).
  std::map<K, V> to_map() const {
    std::map<K, V> entries;
    detail::SharedSegment::Lock lock(*segment_);
    detail::TableView(lock).for_each([&](detail::ConstBytes key, detail::ConstBytes value) {
      entries.emplace(detail::decode<K>(key), Stored::load(lock, value));
    });
    return entries;
  }

  /// @brief Calls `fn(value)` under the dict's lock with the value stored under `key` (nothing
  /// when there is none), then stores what `fn` left (removes `key` when it left nothing).
  /// Atomic: a counter every process increments this way ends exact.
  /// @return the value `fn` left.
  /// @note `fn` must not use this dict (that is a UsageError) nor wait for other processes.
  template <class F>
  requires std::invocable<F&, std::optional<V>&>
  std::optional<V> update(const K& key, F&& fn) const {
    const detail::Encoded<K> encoded_key(key);
    detail::SharedSegment::Lock lock(*segment_);
    const detail::TableView table(lock);
    std::optional<V> value;
    if (const auto stored = table.find(encoded_key.bytes())) value = Stored::load(lock, *stored);
    const void* before = nullptr;
    if constexpr (array_values) before = value ? value->storage_.block() : nullptr;
    std::invoke(fn, value);
    if (!value) {
      table.erase(encoded_key.bytes());
    } else if constexpr (array_values) {
      // Changed in place: nothing to store; another array: stored as a copy.
      if (before == nullptr || value->storage_.block() != before) {
        check_same_parallelizer(*value, "update");
        table.assign_array(encoded_key.bytes(), Stored::elements(*value), value->size(),
                           alignof(Element));
      }
    } else {
      const detail::Encoded<V> encoded_value(*value);
      table.assign(encoded_key.bytes(), encoded_value.bytes());
    }
    return value;
  }

 private:
  friend class SharedObjectManager;
  template <class U>
  friend const detail::SharedSegment* detail::segment_of(const U&) noexcept;

  /// Creates the dict and, on each creating process before any other maps it, calls `fill`.
  template <class Fill>
  SharedDict(Parallelizer& par, Sharing sharing, const Fill& fill) {
    detail::check_shared_value<V>();
    detail::SharedSpec spec;
    spec.kind = detail::SharedKind::dict;
    spec.type = detail::fingerprint_v<SharedDict>;
    spec.name = detail::shared_type_name(typeid(SharedDict).name());
    spec.array_values = array_values;
    segment_ = detail::SharedSegment::create(par, spec, sharing, [&](detail::SharedSegment& created) {
      detail::TableView::construct(created);
      SharedDict view;
      view.segment_ = created.shared_from_this();
      fill(view);
    });
  }
  SharedDict() = default;

  const detail::SharedSegment* segment() const noexcept { return segment_.get(); }

  void check_same_parallelizer(const V& array, const char* operation) const {
    if constexpr (array_values) {
      const detail::SharedSegment* source = array.segment();
      if (source != nullptr && source->parallelizer() != segment_->parallelizer()) {
        detail::throw_foreign_object(segment_->name() + "::" + operation, *source);
      }
    }
  }

  std::shared_ptr<detail::SharedSegment> segment_;
};

// ---- SharedList ----------------------------------------------------------------------------------

/// @brief A growing sequence of values in memory every process maps; each operation is atomic
/// with respect to the others, and `push_back` from many processes loses nothing.
///
/// Values are stored as in SharedDict (transferable values as their encoded bytes, SharedArray
/// as arrays in the list's memory); it grows up to UNIPAR_SHARED_LIMIT bytes.
/// @code
/// unipar::SharedList<std::string> log(par);
/// par.run([&](unipar::Parallelizer& p) { log.push_back("hello from " + std::to_string(p.id())); });
/// // log.size() == par.nprocs() on main
/// @endcode
template <class T>
class SharedList {
  static constexpr bool array_values = detail::is_shared_array_v<T>;
  using Stored = detail::StoredValue<T>;
  using Element = typename detail::shared_array_traits<T>::element;

 public:
  using value_type = T;

  /// @brief An empty list shared with `par`'s processes.
  /// @note Inside `run`, every process must create it at the same point.
  explicit SharedList(Parallelizer& par, Sharing sharing = Sharing::all)
      : SharedList(par, sharing, [](const SharedList&) {}) {}

  /// Appends `value`; @return its index.
  std::size_t push_back(const T& value) const {
    if constexpr (array_values) {
      detail::SharedSegment::Lock lock(*segment_);
      return detail::SequenceView(lock).push_back_array(Stored::elements(value), value.size(),
                                                        alignof(Element));
    } else {
      const detail::Encoded<T> encoded(value);
      detail::SharedSegment::Lock lock(*segment_);
      return detail::SequenceView(lock).push_back(encoded.bytes());
    }
  }

  /// @return element `index` (an array: a handle to it); std::out_of_range past the end.
  T get(std::size_t index) const {
    detail::SharedSegment::Lock lock(*segment_);
    return Stored::load(lock, detail::SequenceView(lock).at(index));
  }

  /// Replaces element `index`; std::out_of_range past the end.
  void set(std::size_t index, const T& value) const {
    if constexpr (array_values) {
      detail::SharedSegment::Lock lock(*segment_);
      detail::SequenceView(lock).assign_array(index, Stored::elements(value), value.size(),
                                              alignof(Element));
    } else {
      const detail::Encoded<T> encoded(value);
      detail::SharedSegment::Lock lock(*segment_);
      detail::SequenceView(lock).assign(index, encoded.bytes());
    }
  }

  std::size_t size() const {
    detail::SharedSegment::Lock lock(*segment_);
    return detail::SequenceView(lock).size();
  }

  /// @return a private copy of every element, in order (arrays: handles to them).
  std::vector<T> to_vector() const {
    std::vector<T> values;
    detail::SharedSegment::Lock lock(*segment_);
    const detail::SequenceView sequence(lock);
    const std::size_t size = sequence.size();
    values.reserve(size);
    for (std::size_t i = 0; i < size; ++i) values.push_back(Stored::load(lock, sequence.at(i)));
    return values;
  }

 private:
  friend class SharedObjectManager;
  template <class U>
  friend const detail::SharedSegment* detail::segment_of(const U&) noexcept;

  template <class Fill>
  SharedList(Parallelizer& par, Sharing sharing, const Fill& fill) {
    detail::check_shared_value<T>();
    detail::SharedSpec spec;
    spec.kind = detail::SharedKind::list;
    spec.type = detail::fingerprint_v<SharedList>;
    spec.name = detail::shared_type_name(typeid(SharedList).name());
    spec.array_values = array_values;
    segment_ = detail::SharedSegment::create(par, spec, sharing, [&](detail::SharedSegment& created) {
      detail::SequenceView::construct(created);
      SharedList view;
      view.segment_ = created.shared_from_this();
      fill(view);
    });
  }
  SharedList() = default;

  const detail::SharedSegment* segment() const noexcept { return segment_.get(); }

  std::shared_ptr<detail::SharedSegment> segment_;
};

// ---- SharedObjectManager -------------------------------------------------------------------------

/// @brief Turns plain data into shared objects for one parallelizer, and shared objects back
/// into plain data.
///
/// | `share(...)` of                         | gives                              |
/// |-----------------------------------------|------------------------------------|
/// | `std::vector<P>`, P plain               | `SharedArray<P>`                   |
/// | `std::vector<T>`, other T               | `SharedList<T>`                    |
/// | `std::map<K, std::vector<P>>`, P plain  | `SharedDict<K, SharedArray<P>>`    |
/// | `std::map<K, V>`, other V               | `SharedDict<K, V>`                 |
///
/// and `unshare` gives the plain value back. The contents are those of the creating process
/// (main's; per node with `Sharing::node_local`), written before any other process maps the
/// object. Every `share` creates an object: inside `run` every process calls it at the same
/// point. Objects of another parallelizer are a UsageError.
/// @code
/// unipar::SharedObjectManager manager(par);
/// auto shared = manager.share(std::map<std::string, std::vector<double>>{{"a", {1, 2, 3}}});
/// par.run([&](unipar::Parallelizer& p) { if (p.id() == 1) shared.at("a")[0] = 5; });
/// std::map<std::string, std::vector<double>> back = manager.unshare(shared);  // a: {5, 2, 3}
/// @endcode
class SharedObjectManager {
 public:
  explicit SharedObjectManager(Parallelizer& par, Sharing sharing = Sharing::all) noexcept
      : par_(par), sharing_(sharing) {}

  Parallelizer& parallelizer() const noexcept { return par_; }

  template <class P>
  requires detail::Plain<P> SharedArray<P> share(const std::vector<P>& values) const {
    return SharedArray<P>(par_, values, sharing_);
  }

  template <class T>
  requires(!detail::Plain<T>) SharedList<T> share(const std::vector<T>& values) const {
    return SharedList<T>(par_, sharing_, [&](const SharedList<T>& list) {
      for (const T& value : values) list.push_back(value);
    });
  }

  template <class K, class P, class C, class A>
  requires(detail::Plain<P> && !std::is_same_v<P, bool>)
  SharedDict<K, SharedArray<P>> share(const std::map<K, std::vector<P>, C, A>& values) const {
    return SharedDict<K, SharedArray<P>>(
        par_, sharing_, [&](const SharedDict<K, SharedArray<P>>& dict) {
          for (const auto& [key, elements] : values) dict.set(key, std::span<const P>(elements));
        });
  }

  template <class K, class V, class C, class A>
  SharedDict<K, V> share(const std::map<K, V, C, A>& values) const {
    return SharedDict<K, V>(par_, sharing_, [&](const SharedDict<K, V>& dict) {
      for (const auto& [key, value] : values) dict.set(key, value);
    });
  }

  template <class P>
  std::vector<P> unshare(const SharedArray<P>& array) const {
    check(array, "unshare");
    return array.to_vector();
  }

  /// @return the elements as a std::vector; arrays as std::vectors.
  template <class T>
  auto unshare(const SharedList<T>& list) const {
    check(list, "unshare");
    if constexpr (detail::is_shared_array_v<T>) {
      using P = typename detail::shared_array_traits<T>::element;
      std::vector<std::vector<P>> values;
      for (const auto& array : list.to_vector()) values.push_back(array.to_vector());
      return values;
    } else {
      return list.to_vector();
    }
  }

  /// @return the entries as a std::map; arrays as std::vectors.
  template <class K, class V>
  auto unshare(const SharedDict<K, V>& dict) const {
    check(dict, "unshare");
    if constexpr (detail::is_shared_array_v<V>) {
      using P = typename detail::shared_array_traits<V>::element;
      std::map<K, std::vector<P>> values;
      for (const auto& [key, array] : dict.to_map()) values.emplace(key, array.to_vector());
      return values;
    } else {
      return dict.to_map();
    }
  }

 private:
  template <class Object>
  void check(const Object& object, const char* operation) const {
    const detail::SharedSegment* segment = detail::segment_of(object);
    if (segment != nullptr && segment->parallelizer() != &par_) {
      detail::throw_foreign_object(std::string("SharedObjectManager::") + operation, *segment);
    }
  }

  Parallelizer& par_;
  Sharing sharing_;
};

}  // namespace unipar
