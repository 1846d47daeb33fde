// A program linked with an installed unipar::mpi, run without mpirun: "auto" must pick fork
// (no launcher), and "mpi" must be available as a one-rank MPI run. Exits 0 when both hold.
#include <unipar/mpi.hpp>
#include <unipar/unipar.hpp>

#include <iostream>
#include <string>
#include <vector>

int main() {
  int failures = 0;
  if (unipar::make_parallelizer("auto")->name() != "fork") {
    std::cerr << "unipar_consumer_mpi: auto without a launcher is not fork\n";
    ++failures;
  }
  auto par = unipar::make_parallelizer("mpi");
  const auto squares = par->map([](int x) { return x * x; }, std::vector<int>{1, 2, 3});
  if (par->name() != "mpi" || par->nprocs() != 1 || squares != std::vector<int>{1, 4, 9}) {
    std::cerr << "unipar_consumer_mpi: the mpi backend did not work\n";
    ++failures;
  }
  std::cout << "unipar_consumer_mpi: " << (failures == 0 ? "ok" : "FAILED") << '\n';
  return failures == 0 ? 0 : 1;
}
