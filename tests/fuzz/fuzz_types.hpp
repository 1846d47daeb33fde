/// @file fuzz_types.hpp
/// @brief The types the codec harness decodes (one of each family the codec knows), with a few
/// real values of each: make_corpus.cpp encodes them into the seed corpus, and the harness
/// decodes into a variable holding one (a receive into a used variable).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <boost/serialization/vector.hpp>

namespace unipar::fuzz {

/// Plain: a struct of numbers (no padding, no bool: every byte pattern is a value).
struct Point3 {
  double x;
  double y;
  double z;
  std::int64_t id;
};

/// A user class with a serialize member, holding other serialized members.
struct Particle {
  std::string name;
  std::array<double, 3> position{};
  std::vector<int> tags;
  std::optional<double> charge;

  template <class Archive>
  void serialize(Archive& archive, const unsigned /*version*/) {
    archive& name& position& tags& charge;
  }
};

using Variant = std::variant<int, std::string, std::vector<double>>;

template <class... Ts>
struct TypeList {};

/// Index (the input's first byte, modulo the count) -> type.
using CodecTypes = TypeList<
    // plain
    int, double, Point3, std::array<double, 3>,
    // contiguous
    std::vector<double>, std::string, std::vector<std::uint16_t>,
    // serialized std containers
    std::map<std::string, std::vector<int>>, std::list<std::string>, std::set<long>,
    std::deque<double>, std::unordered_map<int, std::string>, std::vector<std::string>,
    std::array<std::string, 3>, std::vector<bool>,
    // user classes
    Particle, std::vector<Particle>,
    // optional / variant / tuple / pair
    std::optional<std::string>, Variant, std::tuple<int, std::string, double>,
    std::pair<std::string, std::optional<int>>, std::map<int, std::variant<double, std::string>>,
    std::optional<Particle>>;
inline constexpr std::size_t codec_type_count = 23;

template <class T>
struct Tag {};

inline std::vector<int> samples(Tag<int>) {
  return {0, -1, 42, std::numeric_limits<int>::max()};
}
inline std::vector<double> samples(Tag<double>) {
  return {0.0, -2.5, 1e300, std::nan("")};
}
inline std::vector<Point3> samples(Tag<Point3>) {
  return {{1, 2, 3, 4}, {-0.5, 1e-9, 7, -1}};
}
inline std::vector<std::array<double, 3>> samples(Tag<std::array<double, 3>>) {
  return {{0, 0, 0}, {1.5, -2.5, 3.25}};
}
inline std::vector<std::vector<double>> samples(Tag<std::vector<double>>) {
  return {{}, {1.0}, {1, 2, 3, 4, 5, 6, 7, 8}};
}
inline std::vector<std::string> samples(Tag<std::string>) {
  return {"", "x", "hello, world", std::string(300, 'a')};
}
inline std::vector<std::vector<std::uint16_t>> samples(Tag<std::vector<std::uint16_t>>) {
  return {{}, {1, 2, 65535}};
}
inline std::vector<std::map<std::string, std::vector<int>>> samples(
    Tag<std::map<std::string, std::vector<int>>>) {
  return {{}, {{"a", {}}, {"b", {1, 2, 3}}}, {{"key", {-1}}, {"other", {4, 5}}, {"z", {7}}}};
}
inline std::vector<std::list<std::string>> samples(Tag<std::list<std::string>>) {
  return {{}, {"one", "", "three"}};
}
inline std::vector<std::set<long>> samples(Tag<std::set<long>>) {
  return {{}, {-5, 0, 9, 1000}};
}
inline std::vector<std::deque<double>> samples(Tag<std::deque<double>>) {
  return {{}, {1.5, 2.5}};
}
inline std::vector<std::unordered_map<int, std::string>> samples(
    Tag<std::unordered_map<int, std::string>>) {
  // One that was given more buckets than it has elements (reserve, or elements erased).
  std::unordered_map<int, std::string> reserved;
  reserved.reserve(200);
  reserved[3] = "three";
  return {{}, {{1, "one"}, {2, "two"}}, reserved};
}
inline std::vector<std::vector<std::string>> samples(Tag<std::vector<std::string>>) {
  return {{}, {"a", "bc", ""}};
}
inline std::vector<std::array<std::string, 3>> samples(Tag<std::array<std::string, 3>>) {
  return {{"host", "std::runtime_error", "boom"}};
}
inline std::vector<std::vector<bool>> samples(Tag<std::vector<bool>>) {
  return {{}, {true, false, true}};
}
inline std::vector<Particle> samples(Tag<Particle>) {
  return {{}, {"electron", {1, 2, 3}, {7, 8}, -1.0}, {"neutron", {0, 0, 1}, {}, std::nullopt}};
}
inline std::vector<std::vector<Particle>> samples(Tag<std::vector<Particle>>) {
  return {{}, {{"a", {1, 1, 1}, {1}, 0.5}, {"b", {2, 2, 2}, {}, std::nullopt}}};
}
inline std::vector<std::optional<std::string>> samples(Tag<std::optional<std::string>>) {
  return {std::nullopt, "", "value"};
}
inline std::vector<Variant> samples(Tag<Variant>) {
  return {7, std::string("text"), std::vector<double>{1, 2}};
}
inline std::vector<std::tuple<int, std::string, double>> samples(
    Tag<std::tuple<int, std::string, double>>) {
  return {{0, "", 0.0}, {3, "three", 3.5}};
}
inline std::vector<std::pair<std::string, std::optional<int>>> samples(
    Tag<std::pair<std::string, std::optional<int>>>) {
  return {{"none", std::nullopt}, {"some", 5}};
}
inline std::vector<std::map<int, std::variant<double, std::string>>> samples(
    Tag<std::map<int, std::variant<double, std::string>>>) {
  return {{}, {{1, 2.5}, {2, std::string("two")}}};
}
inline std::vector<std::optional<Particle>> samples(Tag<std::optional<Particle>>) {
  return {std::nullopt, Particle{"p", {1, 2, 3}, {4}, 1.0}};
}

/// A value of T that is not the default (decoding into it must replace it entirely).
template <class T>
T sample_value() {
  return samples(Tag<T>{}).back();
}

}  // namespace unipar::fuzz
