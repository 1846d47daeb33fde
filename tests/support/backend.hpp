/// @file backend.hpp
/// @brief What every multi-backend test uses: the backend chosen by the test's registration.
#pragma once

#include <stdexcept>
#include <string>

#include "unipar/unipar.hpp"

namespace unipar::testing {

/// The parallelizer for this test run, made from UNIPAR_BACKEND ("serial", "fork:3", ...).
Parallelizer& backend();

/// The spec the backend was made from.
std::string backend_spec();

/// Inside `run`, fails the calling process (and so the test) with a message when `condition`
/// is false: a worker's GoogleTest assertions would never reach main, an exception does.
#define UNIPAR_CHECK(condition)                                                               \
  do {                                                                                        \
    if (!(condition))                                                                         \
      throw std::logic_error(std::string("check failed: ") + #condition + " at " + __FILE__ + \
                             ":" + std::to_string(__LINE__));                                 \
  } while (false)

}  // namespace unipar::testing
