/// @file shared_array_of_class_rejected.cpp
/// @brief Must NOT compile, with unipar's own explanation: a SharedArray's elements are plain
/// memory every process writes in place, which a std::string is not.
#include <string>

#include "unipar/unipar.hpp"

namespace {

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  unipar::SharedArray<std::string> names(par, 3);
  (void)names;
}

}  // namespace
