/// @file codec.hpp
/// @brief How values become bytes and back, chosen at compile time.
///
/// - Plain data (trivially copyable types such as `int`, `double`, a struct of numbers,
///   `std::array<double, 3>`) travels as its own bytes.
/// - Contiguous ranges of plain data (`std::vector<double>`, `std::string`) travel as the bytes
///   of their elements, read from and written into the container's own storage.
/// - Every other class type goes through Boost.Serialization (std containers, user classes with
///   a `serialize` member or free function). That path lives in <unipar/serialization.hpp>
///   (included by <unipar/unipar.hpp>), so that programs moving only plain and contiguous values
///   do not compile Boost.Serialization; using a serialized type without it is a compile-time
///   error that names the header.
/// - Pointers, references, unions, C arrays and `void` are rejected at compile time.
///
/// Every message carries a fingerprint of its type so that receiving the wrong type throws
/// unipar::TypeMismatch instead of reinterpreting bytes.
#pragma once

#include <array>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "unipar/detail/bytes.hpp"
#include "unipar/detail/type_names.hpp"
#include "unipar/error.hpp"

namespace boost::archive {
class binary_oarchive;  // complete only where <unipar/serialization.hpp> is included
}  // namespace boost::archive

namespace unipar {

/// @brief Customization point: specialize as `std::true_type` for a class that Boost can
/// serialize through a free `serialize` function unipar cannot see (one declared in namespace
/// boost::serialization, as in Boost's non-intrusive examples). Classes with a `serialize`
/// member (public or private) and free functions found next to the class need nothing.
template <class T>
struct is_serializable : std::false_type {};

namespace detail {

// ---- type fingerprint -------------------------------------------------------------------------

/// 64-bit FNV-1a over `text`, continuing from `hash` (the type fingerprints; the checkpoint
/// file's checksums and item fingerprints, over bytes, through detail::hash_bytes).
inline constexpr std::uint64_t fnv1a_offset = 14695981039346656037ull;
constexpr std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = fnv1a_offset) {
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

template <class T>
constexpr Fingerprint fingerprint_of() {
  // The compiler spells T out in the function's signature; the same binary spells it the same
  // way in every process.
  return fnv1a(__PRETTY_FUNCTION__);
}

/// The fingerprint of T, as carried in each message.
template <class T>
inline constexpr Fingerprint fingerprint_v = fingerprint_of<std::remove_cvref_t<T>>();

// ---- classification ---------------------------------------------------------------------------

/// Types that have no meaning in another process.
template <class T>
inline constexpr bool is_rejected_v =
    std::is_pointer_v<T> || std::is_member_pointer_v<T> || std::is_union_v<T> ||
    std::is_void_v<T> || std::is_reference_v<T> || std::is_function_v<T> || std::is_array_v<T>;

/// Trivially copyable and meaningful elsewhere: moved as its own bytes.
template <class T>
concept Plain = std::is_trivially_copyable_v<T> && !is_rejected_v<T>;

template <class T>
struct contiguous_traits : std::false_type {};
template <class T, class A>
requires(Plain<T> && !std::is_same_v<T, bool>) struct contiguous_traits<std::vector<T, A>>
    : std::true_type {
  using element = T;
};
template <class C, class Tr, class A>
requires Plain<C>
struct contiguous_traits<std::basic_string<C, Tr, A>> : std::true_type {
  using element = C;
};

/// A resizable contiguous container of plain elements: moved as the elements' bytes.
template <class T>
concept Contiguous = contiguous_traits<T>::value;

template <class T>
struct is_codable;

/// The std class templates the codec knows: `known`, and whether their elements are codable.
template <class T>
struct std_codable {
  static constexpr bool known = false;
  static constexpr bool value = false;
};
template <class... Elements>
struct std_codable_of {
  static constexpr bool known = true;
  static constexpr bool value = (is_codable<Elements>::value && ...);
};
template <class T, class A>
struct std_codable<std::vector<T, A>> : std_codable_of<T> {};
template <class T, class A>
struct std_codable<std::list<T, A>> : std_codable_of<T> {};
template <class T, class A>
struct std_codable<std::deque<T, A>> : std_codable_of<T> {};
template <class K, class C, class A>
struct std_codable<std::set<K, C, A>> : std_codable_of<K> {};
template <class K, class V, class C, class A>
struct std_codable<std::map<K, V, C, A>> : std_codable_of<K, V> {};
template <class K, class V, class H, class E, class A>
struct std_codable<std::unordered_map<K, V, H, E, A>> : std_codable_of<K, V> {};
template <class K, class H, class E, class A>
struct std_codable<std::unordered_set<K, H, E, A>> : std_codable_of<K> {};
template <class C, class Tr, class A>
struct std_codable<std::basic_string<C, Tr, A>> : std_codable_of<C> {};
template <class T, std::size_t N>
struct std_codable<std::array<T, N>> : std_codable_of<T> {};
template <class A, class B>
struct std_codable<std::pair<A, B>> : std_codable_of<A, B> {};
template <class... Ts>
struct std_codable<std::tuple<Ts...>> : std_codable_of<Ts...> {};
template <class T>
struct std_codable<std::optional<T>> : std_codable_of<T> {};
template <class... Ts>
struct std_codable<std::variant<Ts...>> : std_codable_of<Ts...> {};

/// Whether T declares a member named `serialize`, whatever its access: in a class deriving from
/// both T and a probe that declares one, the name is ambiguous exactly when T declares it too.
struct SerializeProbe {
  void serialize();
};
template <class T>
struct SerializeLookup : T, SerializeProbe {};
template <class T>
concept HasSerializeMember = (!std::is_final_v<T> &&
                              !requires { &SerializeLookup<T>::serialize; }) ||
                             requires(T& value, boost::archive::binary_oarchive& archive) {
  value.serialize(archive, 0u);
};

/// A free `serialize(archive, value, version)` found next to T by argument-dependent lookup.
template <class T>
concept HasFreeSerialize = requires(T& value, boost::archive::binary_oarchive& archive) {
  serialize(archive, value, 0u);
};

template <class T>
constexpr bool class_codable() {
  if constexpr (std_codable<T>::known) {
    return std_codable<T>::value;
  } else {
    return HasSerializeMember<T> || HasFreeSerialize<T> || is_serializable<T>::value;
  }
}

template <class T>
constexpr bool codable() {
  if constexpr (is_rejected_v<T>) {
    return false;
  } else if constexpr (Plain<T>) {
    return true;
  } else if constexpr (std::is_class_v<T>) {
    return class_codable<T>();
  } else {
    return false;
  }
}

template <class T>
struct is_codable : std::bool_constant<codable<T>()> {};

/// Goes through Boost.Serialization.
template <class T>
concept Serialized = is_codable<T>::value && !Plain<T> && !Contiguous<T>;

/// How a Serialized T becomes bytes and back: <unipar/serialization.hpp> specializes it for
/// every Serialized type, with `available = true` and
/// `static void encode(const T&, std::string& out)` (appends the archive to `out`) and
/// `static void decode(ConstBytes, T&)` (throws TypeMismatch on bytes that are not one T).
/// Looked up when Encoded<T> or Decoder<T> is instantiated, so the header must come first.
template <class T>
struct SerializedCodec {
  static constexpr bool available = false;
};

}  // namespace detail

/// A type unipar can move between processes (see codec.hpp).
template <class T>
concept Transferable = detail::is_codable<std::remove_cvref_t<T>>::value;

namespace detail {

template <class T>
constexpr void check_transferable() {
  static_assert(!is_rejected_v<T>,
                "unipar cannot move this type between processes: pointers, references, unions, "
                "C arrays, functions and void mean nothing in another address space. Send the "
                "pointed-to value, or a std::array or std::vector instead of a C array.");
  static_assert(is_rejected_v<T> || is_codable<T>::value,
                "unipar cannot move this type between processes: it is not trivially copyable "
                "and unipar finds no way to serialize it (or one of its elements). Give the "
                "class a member `template <class Archive> void serialize(Archive&, unsigned)` "
                "(Boost.Serialization), or, when its serialize is a free function in namespace "
                "boost::serialization, specialize unipar::is_serializable<T> as std::true_type.");
  static_assert(!Serialized<T> || SerializedCodec<T>::available,
                "unipar: this type travels through Boost.Serialization; #include "
                "<unipar/serialization.hpp> (or <unipar/unipar.hpp>) before using it");
}

// ---- buffers ----------------------------------------------------------------------------------

/// Serialization buffers kept for the next message of this thread. A fresh buffer of tens of
/// MiB costs more in first-touch page faults than copying the bytes into it (about 1.5 GB/s
/// against 9 GB/s on the development machine); a kept one is already mapped. At most four of
/// each kind are kept, none above 256 MiB.
class ScratchBuffers {
 public:
  struct Bytes {
    std::unique_ptr<std::byte[]> data;
    std::size_t capacity = 0;
  };

  /// An empty string, with the capacity of a kept one when there is one.
  static std::string take_string() {
    auto& kept = strings();
    if (kept.empty()) return {};
    std::string buffer = std::move(kept.back());
    kept.pop_back();
    buffer.clear();
    return buffer;
  }
  static void give(std::string&& buffer) {
    auto& kept = strings();
    if (buffer.capacity() > max_kept || kept.size() >= max_count) return;
    kept.push_back(std::move(buffer));
  }
  /// At least `size` bytes, not initialized.
  static Bytes take_bytes(std::size_t size) {
    auto& kept = byte_buffers();
    for (auto it = kept.begin(); it != kept.end(); ++it) {
      if (it->capacity >= size) {
        Bytes buffer = std::move(*it);
        kept.erase(it);
        return buffer;
      }
    }
    return {std::make_unique_for_overwrite<std::byte[]>(size), size};
  }
  static void give(Bytes&& buffer) {
    auto& kept = byte_buffers();
    if (!buffer.data || buffer.capacity > max_kept) return;
    if (kept.size() >= max_count) kept.erase(kept.begin());  // keep the most recent
    kept.push_back(std::move(buffer));
  }

 private:
  static constexpr std::size_t max_kept = std::size_t{256} << 20;
  static constexpr std::size_t max_count = 4;
  static std::vector<std::string>& strings() {
    thread_local std::vector<std::string> kept;
    return kept;
  }
  static std::vector<Bytes>& byte_buffers() {
    thread_local std::vector<Bytes> kept;
    return kept;
  }
};

[[noreturn]] void throw_bad_size(const char* type, std::size_t expected, std::size_t got);
[[noreturn]] void throw_corrupt(const char* type, const char* reason);

// ---- encoding ---------------------------------------------------------------------------------

/// The bytes of one value, ready to send. Plain and contiguous values are viewed in place, so
/// the value must outlive the Encoded.
template <class T>
class Encoded {
 public:
  explicit Encoded(const T& value) {
    check_transferable<T>();
    static_cast<void>(&type_name_registered<T, fingerprint_v<T>>);  // no code: see type_names.hpp
    if constexpr (Plain<T>) {
      bytes_ = std::as_bytes(std::span<const T, 1>(&value, 1));
    } else if constexpr (Contiguous<T>) {
      bytes_ = std::as_bytes(std::span(value.data(), value.size()));
    } else if constexpr (SerializedCodec<T>::available) {
      storage_ = ScratchBuffers::take_string();
      SerializedCodec<T>::encode(value, storage_);
      bytes_ = std::as_bytes(std::span(storage_.data(), storage_.size()));
    }
  }
  ~Encoded() {
    if (storage_.capacity() > 0) ScratchBuffers::give(std::move(storage_));
  }
  Encoded(const Encoded&) = delete;
  Encoded& operator=(const Encoded&) = delete;

  ConstBytes bytes() const { return bytes_; }

 private:
  std::string storage_;
  ConstBytes bytes_;
};

// ---- decoding ---------------------------------------------------------------------------------

/// Receives one message into `out`. Plain and contiguous values are written straight into
/// `out`'s storage (a vector keeps its capacity); serialized values are decoded by `finish()`.
template <class T>
class Decoder final : public ByteSink {
 public:
  explicit Decoder(T& out) : out_(out) {
    check_transferable<T>();
    static_cast<void>(&type_name_registered<T, fingerprint_v<T>>);  // no code: see type_names.hpp
  }

  MutableBytes prepare(std::size_t size) override {
    if constexpr (Plain<T>) {
      if (size != sizeof(T)) throw_bad_size(typeid(T).name(), sizeof(T), size);
      return std::as_writable_bytes(std::span<T, 1>(&out_, 1));
    } else if constexpr (Contiguous<T>) {
      using E = typename contiguous_traits<T>::element;
      if (size % sizeof(E) != 0) throw_bad_size(typeid(T).name(), sizeof(E), size);
      out_.resize(size / sizeof(E));
      return std::as_writable_bytes(std::span(out_.data(), out_.size()));
    } else {
      if (buffer_.capacity < size) {
        ScratchBuffers::give(std::move(buffer_));
        buffer_ = ScratchBuffers::take_bytes(size);
      }
      size_ = size;
      return {buffer_.data.get(), size};
    }
  }

  /// Completes decoding once the bytes prepared are filled.
  void finish() {
    if constexpr (Serialized<T> && SerializedCodec<T>::available) {
      SerializedCodec<T>::decode({buffer_.data.get(), size_}, out_);
      ScratchBuffers::give(std::move(buffer_));
      buffer_ = {};
    }
  }
  ~Decoder() { ScratchBuffers::give(std::move(buffer_)); }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

 private:
  T& out_;
  ScratchBuffers::Bytes buffer_;
  std::size_t size_ = 0;
};

/// Decodes `bytes` (a whole message) into a new T.
template <class T>
T decode(ConstBytes bytes) {
  T value{};
  Decoder<T> decoder(value);
  MutableBytes target = decoder.prepare(bytes.size());
  if (!bytes.empty()) std::memcpy(target.data(), bytes.data(), bytes.size());
  decoder.finish();
  return value;
}

}  // namespace detail
}  // namespace unipar
