/// @file codec.hpp
/// @brief How values become bytes and back, chosen at compile time.
///
/// - Plain data (trivially copyable types such as `int`, `double`, a struct of numbers,
///   `std::array<double, 3>`) travels as its own bytes.
/// - Contiguous ranges of plain data (`std::vector<double>`, `std::string`) travel as the bytes
///   of their elements, read from and written into the container's own storage.
/// - Every other class type goes through Boost.Serialization (std containers, user classes with
///   a `serialize` member or free function).
/// - Pointers, references, unions, C arrays and `void` are rejected at compile time.
///
/// Every message carries a fingerprint of its type so that receiving the wrong type throws
/// unipar::TypeMismatch instead of reinterpreting bytes.
#pragma once

#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <streambuf>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/optional.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/variant.hpp>
#include <boost/serialization/vector.hpp>

#include "unipar/detail/bytes.hpp"
#include "unipar/error.hpp"

namespace unipar {
namespace detail {

// ---- type fingerprint -------------------------------------------------------------------------

constexpr std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
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

/// Whether the element types of a known container can be transferred (true for other types).
template <class T>
struct elements_codable : std::true_type {};
template <class T, class A>
struct elements_codable<std::vector<T, A>> : is_codable<T> {};
template <class T, class A>
struct elements_codable<std::list<T, A>> : is_codable<T> {};
template <class T, class A>
struct elements_codable<std::deque<T, A>> : is_codable<T> {};
template <class K, class C, class A>
struct elements_codable<std::set<K, C, A>> : is_codable<K> {};
template <class K, class V, class C, class A>
struct elements_codable<std::map<K, V, C, A>>
    : std::bool_constant<is_codable<K>::value && is_codable<V>::value> {};
template <class K, class V, class H, class E, class A>
struct elements_codable<std::unordered_map<K, V, H, E, A>>
    : std::bool_constant<is_codable<K>::value && is_codable<V>::value> {};
template <class K, class H, class E, class A>
struct elements_codable<std::unordered_set<K, H, E, A>> : is_codable<K> {};
template <class A, class B>
struct elements_codable<std::pair<A, B>>
    : std::bool_constant<is_codable<A>::value && is_codable<B>::value> {};
template <class T>
struct elements_codable<std::optional<T>> : is_codable<T> {};
template <class... Ts>
struct elements_codable<std::variant<Ts...>> : std::bool_constant<(is_codable<Ts>::value && ...)> {
};

template <class T>
struct is_codable
    : std::bool_constant<!is_rejected_v<T> &&
                         (Plain<T> || (std::is_class_v<T> && elements_codable<T>::value))> {};

/// Goes through Boost.Serialization.
template <class T>
concept Serialized = is_codable<T>::value && !Plain<T> && !Contiguous<T>;

}  // namespace detail

/// A type unipar can move between processes (see codec.hpp).
template <class T>
concept Transferable = detail::is_codable<std::remove_cvref_t<T>>::value;

namespace detail {

template <class T>
constexpr void check_transferable() {
  static_assert(is_codable<T>::value,
                "unipar cannot move this type between processes: pointers, references, unions, "
                "C arrays, functions and void mean nothing in another address space. Send the "
                "pointed-to value, a std::array or std::vector instead of a C array, or a struct "
                "with a serialize() member.");
}

// ---- stream buffers for Boost archives ----------------------------------------------------------

/// Appends everything written to a std::string.
class StringOutBuffer final : public std::streambuf {
 public:
  explicit StringOutBuffer(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) out_.push_back(static_cast<char>(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* data, std::streamsize count) override {
    out_.append(data, static_cast<std::size_t>(count));
    return count;
  }

 private:
  std::string& out_;
};

/// Reads from a span of bytes that must stay alive while it is read.
class SpanInBuffer final : public std::streambuf {
 public:
  explicit SpanInBuffer(ConstBytes bytes) {
    // std::streambuf wants char*; nothing is ever written through it.
    char* begin = const_cast<char*>(reinterpret_cast<const char*>(bytes.data()));
    setg(begin, begin, begin + bytes.size());
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

inline constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;

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
    if constexpr (Plain<T>) {
      bytes_ = std::as_bytes(std::span<const T, 1>(&value, 1));
    } else if constexpr (Contiguous<T>) {
      bytes_ = std::as_bytes(std::span(value.data(), value.size()));
    } else {
      StringOutBuffer buffer(storage_);
      {
        boost::archive::binary_oarchive archive(buffer, archive_flags);
        archive << value;
      }
      bytes_ = std::as_bytes(std::span(storage_.data(), storage_.size()));
    }
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
  explicit Decoder(T& out) : out_(out) { check_transferable<T>(); }

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
      buffer_ = std::make_unique_for_overwrite<std::byte[]>(size);
      size_ = size;
      return {buffer_.get(), size};
    }
  }

  /// Completes decoding once the bytes prepared are filled.
  void finish() {
    if constexpr (Serialized<T>) {
      decode_serialized({buffer_.get(), size_}, out_);
      buffer_.reset();
    }
  }

 private:
  T& out_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t size_ = 0;
};

/// Decodes a Boost archive of T from `bytes` into `out`; throws TypeMismatch when the bytes are
/// truncated, corrupt, or longer than one T.
template <class T>
void decode_serialized(ConstBytes bytes, T& out) {
  SpanInBuffer buffer(bytes);
  try {
    boost::archive::binary_iarchive archive(buffer, archive_flags);
    archive >> out;
  } catch (const std::exception& e) {
    throw_corrupt(typeid(T).name(), e.what());
  }
  if (buffer.remaining() != 0) throw_corrupt(typeid(T).name(), "trailing bytes after the value");
}

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
