/// @file factory.hpp
/// @brief Choosing a backend at run time.
#pragma once

#include <memory>
#include <string_view>

#include "unipar/parallelizer.hpp"

namespace unipar {

/// @brief Creates a parallelizer from a spec: "serial", "fork" (one process per core) or
/// "fork:N" (N processes, main included).
/// @throws UsageError for any other spec, naming the accepted forms.
std::unique_ptr<Parallelizer> make_parallelizer(std::string_view spec);

/// @brief The process-wide parallelizer, created on first use from the environment variable
/// `UNIPAR_BACKEND` (a spec as for make_parallelizer), or "fork" when it is unset.
Parallelizer& default_parallelizer();

}  // namespace unipar
