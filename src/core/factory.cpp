#include "unipar/factory.hpp"

#include <charconv>
#include <cstdlib>
#include <string>

#include "core/backend_registry.hpp"
#include "core/settings.hpp"
#include "unipar/fork.hpp"
#include "unipar/serial.hpp"

namespace unipar {
namespace {

[[noreturn]] void bad_spec(std::string_view spec, const std::string& why) {
  throw UsageError("invalid parallelizer spec '" + std::string(spec) + "' (" + why +
                   "); accepted: \"serial\", \"fork\" (one process per core), \"fork:N\" with "
                   "N >= 1, \"mpi\" (every rank started by mpirun), \"auto\" (mpi when started "
                   "by an MPI launcher with several ranks, else fork)");
}

detail::MpiFactory& registered_mpi_backend() {
  static detail::MpiFactory factory = nullptr;
  return factory;
}

/// A whole number >= 1 from the environment variable `name`, or 0.
int positive_setting(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr) return 0;
  const std::string_view value(text);
  int number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  return error == std::errc{} && end == value.data() + value.size() && number > 0 ? number : 0;
}

std::unique_ptr<Parallelizer> make_mpi(std::string_view spec) {
  const detail::MpiFactory factory = detail::mpi_backend();
  if (factory == nullptr) {
    bad_spec(spec, "this program was built without the MPI backend; link it with unipar::mpi");
  }
  return factory();
}

}  // namespace

namespace detail {

void register_mpi_backend(MpiFactory factory) {
  registered_mpi_backend() = factory;
}

MpiFactory mpi_backend() {
  return registered_mpi_backend();
}

int launcher_ranks() {
  // Open MPI's mpirun, MPICH/Intel MPI (Hydra's PMI), MVAPICH, and Slurm's srun (a job step's
  // task count; a batch script alone is not a step with several tasks).
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    if (const int ranks = positive_setting(name); ranks > 0) return ranks;
  }
  return 0;
}

}  // namespace detail

/// A fork spec in a program an MPI launcher started with several ranks: every rank would fork
/// workers of its own and compute everything once per rank.
void check_fork_outside_launcher(std::string_view spec) {
  const int ranks = detail::launcher_ranks();
  if (ranks <= 1 || detail::fork_under_launcher_setting()) return;
  throw UsageError(
      "'" + std::string(spec) + "': this program was started by an MPI launcher with " +
      std::to_string(ranks) +
      " ranks, so every rank would fork workers of its own and compute everything " +
      std::to_string(ranks) +
      " times; use \"mpi\" or \"auto\" under the launcher, or run the program "
      "without it. If each rank is meant to fork, set UNIPAR_FORK_UNDER_LAUNCHER=allow "
      "(or construct unipar::ForkParallelizer directly)");
}

std::unique_ptr<Parallelizer> make_parallelizer(std::string_view spec) {
  if (spec == "serial") return std::make_unique<SerialParallelizer>();
  if (spec == "fork") {
    check_fork_outside_launcher(spec);
    return std::make_unique<ForkParallelizer>();
  }
  if (spec.starts_with("fork:")) {
    const std::string_view count = spec.substr(5);
    int nprocs = 0;
    const auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), nprocs);
    if (error != std::errc{} || end != count.data() + count.size() || nprocs < 1) {
      bad_spec(spec, "the process count must be a whole number >= 1");
    }
    check_fork_outside_launcher(spec);
    return std::make_unique<ForkParallelizer>(nprocs);
  }
  if (spec == "mpi") return make_mpi(spec);
  if (spec == "auto") {
    const int ranks = detail::launcher_ranks();
    if (ranks <= 1) return std::make_unique<ForkParallelizer>();
    if (detail::mpi_backend() == nullptr) {
      throw UsageError("auto: this program was started by an MPI launcher with " +
                       std::to_string(ranks) +
                       " ranks, but it was built without the MPI backend (link it with "
                       "unipar::mpi); every rank would fork its own workers. Run it without "
                       "the launcher, or set UNIPAR_BACKEND");
    }
    return make_mpi(spec);
  }
  bad_spec(spec, "unknown backend");
}

Parallelizer& default_parallelizer() {
  static const std::unique_ptr<Parallelizer> instance = [] {
    return make_parallelizer(detail::backend_setting());
  }();
  return *instance;
}

}  // namespace unipar
