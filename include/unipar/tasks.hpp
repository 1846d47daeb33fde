/// @file tasks.hpp
/// @brief Argument lists for many-argument tasks: `zip` and `grid` build the
/// `std::vector<std::tuple<A...>>` that `map` and `map_each` unpack into `f(a, b, ...)`.
/// @code
/// auto runs = par.map([](double mass, int steps) { return simulate(mass, steps); },
///                     unipar::grid(masses, step_counts));  // every combination
/// @endcode
#pragma once

#include <cstddef>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "unipar/error.hpp"

namespace unipar {

/// `{(a[0], b[0], ...), (a[1], b[1], ...), ...}` from equally long vectors (joblib's
/// `delayed(f)(a, b)` over paired lists, Python's `zip`).
/// @throws UsageError when the lengths differ.
template <class... A>
std::vector<std::tuple<A...>> zip(const std::vector<A>&... lists) {
  static_assert(sizeof...(A) > 0, "unipar::zip needs at least one vector");
  const std::size_t sizes[] = {lists.size()...};
  for (std::size_t i = 1; i < sizeof...(A); ++i) {
    if (sizes[i] != sizes[0]) {
      std::string text = "zip: the vectors differ in length (";
      for (std::size_t j = 0; j < sizeof...(A); ++j) {
        text += (j == 0 ? "" : ", ") + std::to_string(sizes[j]);
      }
      throw UsageError(text + " items); zip pairs items of equally long vectors");
    }
  }
  std::vector<std::tuple<A...>> out;
  out.reserve(sizes[0]);
  for (std::size_t i = 0; i < sizes[0]; ++i) out.emplace_back(lists[i]...);
  return out;
}

/// The cartesian product of the vectors, the last varying fastest: `grid({1, 2}, {"a", "b"})`
/// is `{(1, "a"), (1, "b"), (2, "a"), (2, "b")}` (a parameter grid). Empty when any vector is.
/// @throws UsageError when the product has more than 2^40 combinations.
template <class... A>
std::vector<std::tuple<A...>> grid(const std::vector<A>&... lists) {
  static_assert(sizeof...(A) > 0, "unipar::grid needs at least one vector");
  const std::size_t sizes[] = {lists.size()...};
  std::size_t total = 1;
  for (const std::size_t size : sizes) {
    if (size != 0 && total > (std::size_t{1} << 40) / size) {
      throw UsageError("grid: more than 2^40 combinations");
    }
    total *= size;
  }
  std::vector<std::tuple<A...>> out;
  out.reserve(total);
  const auto vectors = std::forward_as_tuple(lists...);
  for (std::size_t flat = 0; flat < total; ++flat) {
    // Digits of `flat` in the mixed radix of the sizes, the last vector's digit lowest.
    std::size_t index[sizeof...(A)];
    std::size_t rest = flat;
    for (std::size_t j = sizeof...(A); j-- > 0;) {
      index[j] = rest % sizes[j];
      rest /= sizes[j];
    }
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      out.emplace_back(std::get<I>(vectors)[index[I]]...);
    }
    (std::index_sequence_for<A...>{});
  }
  return out;
}

}  // namespace unipar
