/// @file values.hpp
/// @brief The value types the conformance tests move between processes, how to make a distinct
/// value of each from a seed, and how to combine two of them (for reduce).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "unipar/unipar.hpp"

namespace unipar_test {

/// Plain data: moves as its own bytes.
struct Point {
  std::int32_t id = 0;
  double x = 0;
  double y = 0;
  char label = ' ';
  friend bool operator==(const Point&, const Point&) = default;
  friend std::ostream& operator<<(std::ostream& out, const Point& p) {
    return out << "Point{" << p.id << ", " << p.x << ", " << p.y << ", '" << p.label << "'}";
  }
};

/// A Boost-serialized standard container.
using Dict = std::map<std::string, std::vector<double>>;

/// A user class that moves through its `serialize` member.
class Particle {
 public:
  Particle() = default;
  Particle(std::string name, double mass, std::vector<int> history)
      : name_(std::move(name)), mass_(mass), history_(std::move(history)) {}

  const std::string& name() const { return name_; }
  double mass() const { return mass_; }
  const std::vector<int>& history() const { return history_; }

  /// Appends `other` (not commutative: the order of a reduce shows in the result).
  void absorb(const Particle& other) {
    name_ += other.name_;
    mass_ += other.mass_;
    history_.insert(history_.end(), other.history_.begin(), other.history_.end());
  }

  template <class Archive>
  void serialize(Archive& archive, unsigned /*version*/) {
    archive& name_& mass_& history_;
  }

  friend bool operator==(const Particle&, const Particle&) = default;
  friend std::ostream& operator<<(std::ostream& out, const Particle& p) {
    out << "Particle{" << p.name_ << ", " << p.mass_ << ", [";
    for (int h : p.history_) out << h << ' ';
    return out << "]}";
  }

 private:
  std::string name_;
  double mass_ = 0;
  std::vector<int> history_;
};

/// One of each kind of value: plain scalars, a plain struct, contiguous ranges, a serialized
/// container and a serialized user class.
using AllTypes =
    ::testing::Types<int, double, Point, std::string, std::vector<double>, Dict, Particle>;

/// Readable names for the typed tests.
struct TypeNames {
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, int>) return "int";
    if constexpr (std::is_same_v<T, double>) return "double";
    if constexpr (std::is_same_v<T, Point>) return "Point";
    if constexpr (std::is_same_v<T, std::string>) return "string";
    if constexpr (std::is_same_v<T, std::vector<double>>) return "vector_double";
    if constexpr (std::is_same_v<T, Dict>) return "map_string_vector";
    if constexpr (std::is_same_v<T, Particle>) return "Particle";
    return "other";
  }
};

/// A value of T that differs for each seed; seeds divisible by 4 give empty containers.
template <class T>
T make_value(int seed) {
  if constexpr (std::is_same_v<T, int>) {
    return seed * 7 - 3;
  } else if constexpr (std::is_same_v<T, double>) {
    return seed * 0.1 + 1.0 / 3.0;
  } else if constexpr (std::is_same_v<T, Point>) {
    return Point{seed, seed * 0.5, -seed * 0.25, static_cast<char>('a' + seed % 26)};
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (seed % 4 == 0) return {};
    return std::string(static_cast<std::size_t>(seed % 7 + 1), static_cast<char>('a' + seed % 26)) +
           "#" + std::to_string(seed);
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    std::vector<double> v;
    for (int i = 0; i < seed % 4 * 2; ++i) v.push_back(seed + i * 0.25);
    return v;
  } else if constexpr (std::is_same_v<T, Dict>) {
    Dict d;
    for (int i = 0; i < seed % 4; ++i) {
      d["k" + std::to_string(seed) + "_" + std::to_string(i)] =
          std::vector<double>(static_cast<std::size_t>(i), seed * 1.5 + i);
    }
    return d;
  } else if constexpr (std::is_same_v<T, Particle>) {
    return Particle("p" + std::to_string(seed), seed * 1.5,
                    std::vector<int>(static_cast<std::size_t>(seed % 4), seed));
  } else {
    static_assert(sizeof(T) == 0, "make_value: no recipe for this type");
  }
}

/// How reduce combines two values. For containers it appends, which is not commutative, so a
/// reduce that combines in another order than id order gives another result.
struct Combine {
  template <class T>
  T operator()(T a, const T& b) const {
    if constexpr (std::is_same_v<T, int>) {
      return a * 3 + b;
    } else if constexpr (std::is_same_v<T, double>) {
      return a + b;
    } else if constexpr (std::is_same_v<T, Point>) {
      return Point{a.id * 3 + b.id, a.x + b.x, a.y - b.y, std::max(a.label, b.label)};
    } else if constexpr (std::is_same_v<T, std::string>) {
      return a + b;
    } else if constexpr (std::is_same_v<T, std::vector<double>>) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    } else if constexpr (std::is_same_v<T, Dict>) {
      for (const auto& [key, values] : b) {
        auto& mine = a[key];
        mine.insert(mine.end(), values.begin(), values.end());
      }
      return a;
    } else {
      a.absorb(b);
      return a;
    }
  }
};

/// make_value(0) combined with make_value(1) ... make_value(n-1), in that order.
template <class T>
T fold_of_values(int n) {
  T result = make_value<T>(0);
  for (int i = 1; i < n; ++i) result = Combine{}(std::move(result), make_value<T>(i));
  return result;
}

/// Roots worth testing: 0, a middle process and the last one (without repeats).
inline std::vector<int> roots_for(int nprocs) {
  std::vector<int> roots{0, nprocs / 2, nprocs - 1};
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  return roots;
}

/// Where process `id`'s block of a scatter of `count` items starts, and its size, computed
/// from the contract (sizes differ by at most one, larger blocks first).
struct ExpectedBlock {
  std::size_t begin;
  std::size_t size;
};
inline ExpectedBlock expected_block(std::size_t count, int nprocs, int id) {
  std::size_t begin = 0;
  for (int i = 0; i <= id; ++i) {
    // Hand out items one by one to the processes in turn: process i gets ceil((count - i) / n).
    const auto n = static_cast<std::size_t>(nprocs);
    const auto index = static_cast<std::size_t>(i);
    const std::size_t size = count > index ? (count - index + n - 1) / n : 0;
    if (i == id) return {begin, size};
    begin += size;
  }
  return {begin, 0};
}

/// Whether `f()` throws exactly an E (or a class derived from it).
template <class E, class F>
bool throws(F&& f) {
  try {
    f();
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
  return false;
}

/// Whether this process holds the results of a `run` or `map` it just took part in. Always true
/// under serial and fork (only main returns from `run`); under mpi every rank runs the test body
/// and only rank 0 (main) holds main's results, so the other ranks skip main's checks.
inline bool holds_main_results() {
  return unipar::testing::backend().on_main();
}

/// The process count the backend spec asks for ("serial" -> 1, "fork:3" -> 3; 0 when unknown).
inline int spec_nprocs() {
  const std::string spec = unipar::testing::backend_spec();
  if (spec == "serial") return 1;
  const auto colon = spec.find(':');
  return colon == std::string::npos ? 0 : std::stoi(spec.substr(colon + 1));
}

/// The message of the UsageError `f()` throws (on main, or carried by a worker's WorkerError),
/// or "" when it throws nothing of the kind.
template <class F>
inline std::string usage_error_message(F&& f) {
  try {
    f();
  } catch (const unipar::UsageError& e) {
    return e.what();
  } catch (const unipar::WorkerError& e) {
    if (e.type_name().find("UsageError") != std::string::npos) return e.message();
    return "(WorkerError not from a UsageError: " + std::string(e.what()) + ")";
  } catch (const std::exception& e) {
    return std::string("(") + typeid(e).name() + ": " + e.what() + ")";
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace unipar_test
