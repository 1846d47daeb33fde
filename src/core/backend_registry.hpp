/// @file backend_registry.hpp
/// @brief How the MPI backend, a separate library, makes itself known to make_parallelizer.
#pragma once

#include <memory>

#include "unipar/parallelizer.hpp"

namespace unipar::detail {

/// Creates the MPI backend on MPI_COMM_WORLD.
using MpiFactory = std::unique_ptr<Parallelizer> (*)();

/// Called once by unipar::mpi when the program is loaded.
void register_mpi_backend(MpiFactory factory);

/// The registered factory, or null when the program was built without unipar::mpi.
MpiFactory mpi_backend();

/// How many ranks an MPI launcher (mpirun, mpiexec, srun) started, read from its environment;
/// 0 when the program was not started by one.
int launcher_ranks();

}  // namespace unipar::detail
