/// @file bool_values.cpp
/// @brief Must compile: bool is plain data, so gathering, reducing and scattering bools (and
/// mapping over bool items) is as valid as for int.
#include <functional>
#include <vector>

#include "unipar/unipar.hpp"

namespace {

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  [[maybe_unused]] const auto flags = par.gather(true);
  [[maybe_unused]] const bool all = par.allreduce(true, std::logical_and<>{});
  [[maybe_unused]] const auto block = par.scatter(std::vector<bool>{true, false, true});
  [[maybe_unused]] const auto joined = par.gather_blocks(std::vector<bool>{true});
  [[maybe_unused]] const auto negated =
      par.map([](bool b) { return !b; }, std::vector<bool>{true, false});
}

}  // namespace
