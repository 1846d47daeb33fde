/// @file std_optional_variant.cpp
/// @brief Must compile: codec.hpp declares std::optional, std::variant (and every class type
/// whose elements are codable, such as std::tuple) Transferable; sending them must then work.
#include <optional>
#include <string>
#include <tuple>
#include <variant>

#include "unipar/unipar.hpp"

namespace {

static_assert(unipar::Transferable<std::optional<std::string>>);
static_assert(unipar::Transferable<std::variant<int, std::string>>);
static_assert(unipar::Transferable<std::tuple<int, std::string>>);

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  [[maybe_unused]] const auto maybe = par.broadcast(std::optional<std::string>("x"));
  [[maybe_unused]] const auto either = par.broadcast(std::variant<int, std::string>("y"));
  [[maybe_unused]] const auto both = par.broadcast(std::tuple<int, std::string>(1, "z"));
}

}  // namespace
