/// @file leave.cpp
/// @brief A rank that leaves the program while another waits for it makes the waiting rank
/// fail with a UsageError saying so, instead of hanging.
///
/// Run under `mpirun -n N`: rank 0 calls `map` outside `run` (as if guarded by `on_main()`),
/// every other rank returns from main at once. Rank 0 prints
///   `rank 0: UsageError <message>`
/// and exits with status 0; a map that returns prints `rank 0: no exception` and exits with 1.
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "unipar/mpi.hpp"
#include "unipar/unipar.hpp"

int main() {
  unipar::MpiParallelizer par;
  if (!par.on_main()) return 0;  // leaves: destroys the parallelizer, finalizes MPI at exit
  std::vector<int> items(100);
  std::iota(items.begin(), items.end(), 0);
  try {
    (void)par.map([](const int& x) { return 2 * x; }, items);
  } catch (const unipar::UsageError& error) {
    std::printf("rank 0: UsageError %s\n", error.what());
    return 0;
  }
  std::printf("rank 0: no exception\n");
  return 1;
}
