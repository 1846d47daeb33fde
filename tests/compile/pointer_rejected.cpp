/// @file pointer_rejected.cpp
/// @brief Must NOT compile, with unipar's own explanation: a pointer means nothing in another
/// process.
#include "unipar/unipar.hpp"

namespace {

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  static int value = 1;
  par.send(&value, 0);
}

}  // namespace
