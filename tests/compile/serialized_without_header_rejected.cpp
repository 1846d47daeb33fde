/// @file serialized_without_header_rejected.cpp
/// @brief Must NOT compile, with unipar's own explanation: a std::map travels through
/// Boost.Serialization, whose header <unipar/parallelizer.hpp> does not include.
#include <map>

#include <unipar/parallelizer.hpp>

namespace {

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  par.send(std::map<int, int>{{1, 2}}, 1);
}

}  // namespace
