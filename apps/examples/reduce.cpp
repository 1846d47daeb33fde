// reduce / allreduce: combine one value per process.
// Each process sums every nprocs-th term of the harmonic series.
//   UNIPAR_BACKEND=fork:4 ./unipar_example_reduce
#include <algorithm>
#include <cstdio>
#include <functional>

#include <unipar/unipar.hpp>

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  const double total = par.run([](unipar::Parallelizer& p) {
    double partial = 0;
    for (int k = 1 + p.id(); k <= 1'000'000; k += p.nprocs()) partial += 1.0 / k;
    // reduce combines the parts in process order, so the result never depends on timing.
    const double sum = p.reduce(partial, std::plus<>{});  // on main only
    const double largest = p.allreduce(partial, [](double a, double b) { return std::max(a, b); });
    p.print("my part ", partial, ", the largest part ", largest);  // allreduce: everywhere
    return sum;
  });
  std::printf("H(1e6) = %.12f\n", total);
}
