// unipar_bench_reduce_blocks: what a reduction identical for every process count costs.
// allreduce_blocks(block, plus) of n doubles spread over the processes (as scatter spreads
// them) against its peer, the usual allreduce of each process's local sum; both inside one
// run, best and median of --reps calls each. Prints one JSON line per (n, method).
//
//   unipar_bench_reduce_blocks --backend fork:2
//   mpirun -n 2 unipar_bench_reduce_blocks --backend mpi
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <unipar/unipar.hpp>

#include "bench_common.hpp"

namespace {

struct Timing {
  bench::Samples tree;
  bench::Samples local;
  double tree_sum = 0;
  double local_sum = 0;
};

Timing time_reductions(unipar::Parallelizer& par, std::size_t n, int reps) {
  return par.run([&](unipar::Parallelizer& p) {
    const auto block_range = unipar::detail::block_of(n, p.nprocs(), p.id());
    std::vector<double> block(block_range.size);
    for (std::size_t i = 0; i < block.size(); ++i) {
      const double at = static_cast<double>(block_range.begin + i);
      block[i] = std::sin(at * 0.37) * ((block_range.begin + i) % 7 == 0 ? 1e12 : 1.0);
    }
    Timing t;
    for (int rep = 0; rep < reps; ++rep) {
      p.barrier();
      auto start = bench::Clock::now();
      t.tree_sum = p.allreduce_blocks(block, std::plus<>{});
      t.tree.seconds.push_back(bench::seconds_since(start));
      p.barrier();
      start = bench::Clock::now();
      double sum = 0;
      for (const double x : block) sum += x;
      t.local_sum = p.allreduce(sum, std::plus<>{});
      t.local.seconds.push_back(bench::seconds_since(start));
    }
    return t;
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times allreduce_blocks against allreduce of local sums."};
  std::string backend = "fork:2";
  int reps = 20;
  app.add_option("--backend", backend, "serial, fork:N or mpi (under mpirun)")
      ->capture_default_str();
  app.add_option("--reps", reps, "calls of each")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const auto par = unipar::make_parallelizer(backend);
  for (const std::size_t n : {std::size_t{1000}, std::size_t{100'000}, std::size_t{10'000'000}}) {
    const Timing t = time_reductions(*par, n, reps);
    if (!par->on_main()) continue;
    for (const bool tree : {true, false}) {
      const bench::Samples& s = tree ? t.tree : t.local;
      std::printf(
          "{\"impl\": \"unipar-%s\", \"name\": \"%s\", \"n\": %zu, \"procs\": %d, "
          "\"seconds_per_op\": %.6e, \"median\": %.6e, \"sum\": %.17g}\n",
          std::string(par->name()).c_str(), tree ? "allreduce_blocks" : "allreduce_of_local_sums",
          n, par->nprocs(), s.best(), s.median(), tree ? t.tree_sum : t.local_sum);
    }
  }
  return 0;
}
