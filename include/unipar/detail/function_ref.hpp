/// @file function_ref.hpp
/// @brief A non-owning reference to a callable, for compiled code that calls back into a
/// template (std::function without the allocation and the copy).
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace unipar::detail {

template <class Signature>
class FunctionRef;

/// Refers to a callable that must outlive the FunctionRef (pass it as an argument, call it
/// during the call, never store it).
template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
           std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f) noexcept  // NOLINT: implicit, like std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace unipar::detail
