/// @file factory.hpp
/// @brief Choosing a backend at run time.
#pragma once

#include <memory>
#include <string_view>

#include "unipar/parallelizer.hpp"

namespace unipar {

/// @brief Creates a parallelizer from a spec: "serial", "fork" (one process per core),
/// "fork:N" (N processes, main included), "mpi" (every rank started by mpirun; needs the
/// program linked with unipar::mpi) or "auto".
///
/// "auto" picks "mpi" when the program was started by an MPI launcher (mpirun, mpiexec, srun)
/// with more than one rank, as its environment tells, else "fork" with one process per core.
/// @throws UsageError for any other spec, naming the accepted forms; for "mpi", or "auto"
/// under a launcher, when the program was built without unipar::mpi.
std::unique_ptr<Parallelizer> make_parallelizer(std::string_view spec);

/// @brief The process-wide parallelizer, created on first use from the environment variable
/// `UNIPAR_BACKEND` (a spec as for make_parallelizer), or "auto" when it is unset.
Parallelizer& default_parallelizer();

}  // namespace unipar
