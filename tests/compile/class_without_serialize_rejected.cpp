/// @file class_without_serialize_rejected.cpp
/// @brief Must NOT compile, with unipar's own explanation (DESIGN section 2: "a type that can
/// be neither is rejected at compile time with a static_assert that says why"): a class that
/// is not trivially copyable and has no serialize().
#include <string>

#include "unipar/unipar.hpp"

namespace {

struct Opaque {
  std::string text;  // not trivially copyable, and no serialize()
};

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  par.send(Opaque{"x"}, 0);
}

}  // namespace
