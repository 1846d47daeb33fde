/// @file apply.hpp
/// @brief How the task farm applies `f` to an item: `f(item)`, or, for a tuple that `f` cannot
/// take whole, `f(elements...)` (Python's `starmap`, joblib's `delayed(f)(a, b, c)`).
#pragma once

#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace unipar::detail {

template <class T>
struct IsTuple : std::false_type {};
template <class... A>
struct IsTuple<std::tuple<A...>> : std::true_type {};

template <class F, class T>
struct Unpacks : std::false_type {};
template <class F, class... A>
struct Unpacks<F, std::tuple<A...>>
    : std::bool_constant<std::is_invocable_v<const F&, const A&...>> {};

/// Whether `f` takes the tuple `item` element by element (and not the tuple itself).
template <class F, class T>
inline constexpr bool unpacks_v = !std::is_invocable_v<const F&, const T&> && Unpacks<F, T>::value;

template <class F, class T>
struct ItemResult {
  using type = std::invoke_result_t<const F&, const T&>;
};
template <class F, class... A>
requires(unpacks_v<F, std::tuple<A...>>) struct ItemResult<F, std::tuple<A...>> {
  using type = std::invoke_result_t<const F&, const A&...>;
};

/// What `f` returns for one item.
template <class F, class T>
using item_result_t = typename ItemResult<F, T>::type;

/// Whether `f` can be applied to an item: whole, or unpacked.
template <class F, class T>
inline constexpr bool applicable_v = std::is_invocable_v<const F&, const T&> || unpacks_v<F, T>;

/// `f(item)`, or `f(elements of item...)`.
template <class F, class T>
decltype(auto) apply_item(const F& f, const T& item) {
  if constexpr (unpacks_v<F, T>) {
    return std::apply(f, item);
  } else {
    return std::invoke(f, item);
  }
}

}  // namespace unipar::detail
