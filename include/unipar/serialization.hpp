/// @file serialization.hpp
/// @brief The Boost.Serialization path of the codec: class types that are neither plain nor
/// contiguous (std containers, std::optional / std::variant / std::tuple, user classes with a
/// `serialize` member or free function) travel as Boost binary archives.
///
/// <unipar/unipar.hpp> includes it. A program that includes only <unipar/parallelizer.hpp> (and
/// a backend header) can move plain and contiguous values without compiling Boost.Serialization;
/// it must include this header before it sends or receives any other class type, or the
/// compiler says so.
#pragma once

#include <cstddef>
#include <exception>
#include <streambuf>
#include <string>
#include <typeinfo>

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/array.hpp>
#include <boost/serialization/array_optimization.hpp>
#include <boost/serialization/collection_size_type.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/nvp.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include "unipar/codec.hpp"
#include "unipar/detail/bytes.hpp"
#include "unipar/detail/std_serialization.hpp"

namespace unipar::detail {

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

/// binary_iarchive that never trusts a length it reads: a string or collection that claims more
/// elements than there are bytes left in the message is corrupt, and is reported before anything
/// is allocated for it. (Boost's own binary_iarchive resizes first, so one flipped byte in a
/// length asks for exabytes.) Nor a bool: a byte other than 0 or 1 is corrupt. The format is
/// binary_oarchive's, unchanged. A collection of elements whose archive form is empty (a class
/// whose `serialize` writes nothing) can therefore hold at most as many elements as bytes follow
/// its length.
///
/// The members Boost defines in its .ipp files are instantiated once, in
/// src/core/serialization.cpp.
class BoundedIArchive final
    : public boost::archive::binary_iarchive_impl<BoundedIArchive, char, std::char_traits<char>> {
  using Base = boost::archive::binary_iarchive_impl<BoundedIArchive, char, std::char_traits<char>>;

 public:
  BoundedIArchive(SpanInBuffer& buffer, unsigned flags) : Base(buffer, flags), buffer_(buffer) {
    init(flags);
  }

  using Base::load;
  void load(std::string& text);
  /// A bool is one byte that must be 0 or 1 (Boost's own load reads any byte into the bool,
  /// and using a bool that holds 2 is undefined behaviour).
  void load(bool& value);

  template <class T>
  void load_override(T& value) {
    Base::load_override(value);
  }
  void load_override(boost::serialization::collection_size_type& count);
  /// Boost's unordered containers read a bucket count after their element count, only as the
  /// hint of a rehash: it may exceed the bytes left (a container that once held more elements,
  /// or was given reserve()), so it is not checked as a length but limited to the bytes left.
  void load_override(
      const boost::serialization::nvp<boost::serialization::collection_size_type>& field);

 private:
  friend class boost::archive::detail::interface_iarchive<BoundedIArchive>;
  friend class boost::archive::basic_binary_iarchive<BoundedIArchive>;
  friend class boost::archive::load_access;

  /// Throws when `count` elements cannot follow in what is left of the message.
  void check_length(std::size_t count, const char* what) const;

  const SpanInBuffer& buffer_;
};

inline constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;

// ---- encoding and decoding ----------------------------------------------------------------------

/// Appends a Boost archive of `value` to `out`.
template <class T>
void encode_serialized(const T& value, std::string& out) {
  StringOutBuffer buffer(out);
  boost::archive::binary_oarchive archive(buffer, archive_flags);
  archive << value;
}

/// Decodes a Boost archive of T from `bytes` into `out`; throws TypeMismatch when the bytes are
/// truncated, corrupt, or longer than one T.
template <class T>
void decode_serialized(ConstBytes bytes, T& out) {
  SpanInBuffer buffer(bytes);
  try {
    BoundedIArchive archive(buffer, archive_flags);
    archive >> out;
  } catch (const std::exception& e) {
    throw_corrupt(typeid(T).name(), e.what());
  }
  if (buffer.remaining() != 0) throw_corrupt(typeid(T).name(), "trailing bytes after the value");
}

/// What Encoded<T> and Decoder<T> use for a Serialized T (see codec.hpp).
template <class T>
requires Serialized<T>
struct SerializedCodec<T> {
  static constexpr bool available = true;
  static void encode(const T& value, std::string& out) { encode_serialized(value, out); }
  static void decode(ConstBytes bytes, T& out) { decode_serialized(bytes, out); }
};

}  // namespace unipar::detail

// As for binary_iarchive: classes exported with BOOST_CLASS_EXPORT (polymorphic pointers) are
// registered for it, and arrays of plain elements are read as one block, as binary_oarchive
// writes them.
BOOST_SERIALIZATION_REGISTER_ARCHIVE(unipar::detail::BoundedIArchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(unipar::detail::BoundedIArchive)
