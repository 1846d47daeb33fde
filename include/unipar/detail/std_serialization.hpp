/// @file std_serialization.hpp
/// @brief Boost.Serialization for std::optional, std::variant and std::tuple, which Boost 1.74
/// does not cover (it serializes only boost::optional and boost::variant).
///
/// Do not include Boost's own std_optional.hpp / std_variant.hpp (newer Boost versions) in the
/// same program: the overloads would be ambiguous.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <variant>

#include <boost/serialization/split_free.hpp>

namespace boost::serialization {

template <class Archive, class T>
void save(Archive& archive, const std::optional<T>& value, const unsigned /*version*/) {
  const bool engaged = value.has_value();
  archive << engaged;
  if (engaged) archive << *value;
}

template <class Archive, class T>
void load(Archive& archive, std::optional<T>& value, const unsigned /*version*/) {
  bool engaged = false;
  archive >> engaged;
  if (!engaged) {
    value.reset();
    return;
  }
  if (!value) value.emplace();
  archive >> *value;
}

template <class Archive, class T>
void serialize(Archive& archive, std::optional<T>& value, const unsigned version) {
  split_free(archive, value, version);
}

template <class Archive, class... Ts>
void save(Archive& archive, const std::variant<Ts...>& value, const unsigned /*version*/) {
  const std::uint32_t index = static_cast<std::uint32_t>(value.index());
  archive << index;
  std::visit([&](const auto& alternative) { archive << alternative; }, value);
}

template <class Archive, class... Ts>
void load(Archive& archive, std::variant<Ts...>& value, const unsigned /*version*/) {
  std::uint32_t index = 0;
  archive >> index;
  if (index >= sizeof...(Ts)) throw std::length_error("variant index out of range");
  // Construct the alternative `index` and read it in place.
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((index == I ? (archive >> value.template emplace<I>(), void()) : void()), ...);
  }
  (std::index_sequence_for<Ts...>{});
}

template <class Archive, class... Ts>
void serialize(Archive& archive, std::variant<Ts...>& value, const unsigned version) {
  split_free(archive, value, version);
}

template <class Archive, class... Ts>
void serialize(Archive& archive, std::tuple<Ts...>& value, const unsigned /*version*/) {
  std::apply([&](auto&... elements) { ((archive & elements), ...); }, value);
}

}  // namespace boost::serialization
