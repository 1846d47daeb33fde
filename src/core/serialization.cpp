// The one instantiation of Boost's archive machinery for unipar's bounded input archive, and
// its two checks (see BoundedIArchive in <unipar/serialization.hpp>).
#define BOOST_ARCHIVE_SOURCE
#include "unipar/serialization.hpp"

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/detail/archive_serializer_map.hpp>
#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>

#include <cstring>
#include <stdexcept>
#include <string>

namespace boost::archive {
template class detail::archive_serializer_map<unipar::detail::BoundedIArchive>;
template class basic_binary_iprimitive<unipar::detail::BoundedIArchive, char,
                                       std::char_traits<char>>;
template class basic_binary_iarchive<unipar::detail::BoundedIArchive>;
template class binary_iarchive_impl<unipar::detail::BoundedIArchive, char, std::char_traits<char>>;
}  // namespace boost::archive

namespace unipar::detail {

void BoundedIArchive::check_length(std::size_t count, const char* what) const {
  const std::size_t left = buffer_.remaining();
  if (count <= left) return;
  throw std::length_error(std::string(what) + " of " + std::to_string(count) +
                          " elements claimed with only " + std::to_string(left) +
                          " bytes left in the message");
}

void BoundedIArchive::load(std::string& text) {
  std::size_t length = 0;
  Base::load(length);
  check_length(length, "string");
  text.resize(length);
  if (length != 0) load_binary(text.data(), length);
}

void BoundedIArchive::load(bool& value) {
  unsigned char byte = 0;
  static_assert(sizeof byte == sizeof value);
  load_binary(&byte, sizeof byte);
  if (byte > 1) throw std::domain_error("bool holding " + std::to_string(byte) + ", not 0 or 1");
  value = byte != 0;
}

void BoundedIArchive::load_override(boost::serialization::collection_size_type& count) {
  Base::load_override(count);
  check_length(static_cast<std::size_t>(count), "collection");
}

void BoundedIArchive::load_override(
    const boost::serialization::nvp<boost::serialization::collection_size_type>& field) {
  if (std::strcmp(field.name(), "bucket_count") != 0) return load_override(field.value());
  Base::load_override(field.value());
  const std::size_t left = buffer_.remaining();
  if (field.value() > left) field.value() = boost::serialization::collection_size_type(left);
}

}  // namespace unipar::detail
