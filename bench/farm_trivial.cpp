// unipar_bench_farm_trivial: the cost per item of a trivial map, 10^6 doubles (2x + 1), outside
// run, on ForkParallelizer(2): the time includes forking the worker, the task farm and the
// results coming back, divided by the item count.
//
//   unipar_bench_farm_trivial [--impl NAME] [--reps R] [--procs P] [--items N]
//
// Written against the API that map had before the task farm (`par.map(f, items)`, no options),
// so that the same file builds against the library before and after it (bench/compare_farm.py
// runs the two builds in turn). Prints one JSON line; exits non-zero when a result is wrong.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include <unipar/unipar.hpp>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  std::string impl = "unipar-fork";
  int reps = 7;
  int procs = 2;
  long items_count = 1'000'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--impl") {
      impl = argv[i + 1];
    } else if (arg == "--reps") {
      reps = std::max(1, std::atoi(argv[i + 1]));
    } else if (arg == "--procs") {
      procs = std::max(1, std::atoi(argv[i + 1]));
    } else if (arg == "--items") {
      items_count = std::max(1L, std::atol(argv[i + 1]));
    } else {
      std::fprintf(
          stderr,
          "usage: unipar_bench_farm_trivial [--impl NAME] [--reps R] [--procs P] [--items N]\n");
      return 2;
    }
  }
  try {
    std::vector<double> items(static_cast<std::size_t>(items_count));
    std::iota(items.begin(), items.end(), 0.0);
    const double expected =
        2.0 * std::accumulate(items.begin(), items.end(), 0.0) + static_cast<double>(items.size());
    unipar::ForkParallelizer par(procs);
    bench::Samples samples;
    for (int rep = -1; rep < reps; ++rep) {  // one warm-up call, not counted
      const auto start = bench::Clock::now();
      const std::vector<double> results = par.map([](double x) { return 2.0 * x + 1.0; }, items);
      const double seconds = bench::seconds_since(start);
      if (rep >= 0) samples.seconds.push_back(seconds / static_cast<double>(items.size()));
      // Every result in its place (exact: small integers in doubles), and their sum.
      if (results.size() != items.size()) return 1;
      for (std::size_t i = 0; i < items.size(); i += 4099) {
        if (results[i] != 2.0 * items[i] + 1.0) return 1;
      }
      if (std::accumulate(results.begin(), results.end(), 0.0) != expected) return 1;
    }
    const std::string name =
        items_count == 1'000'000 ? "map_trivial_1e6" : "map_trivial_" + std::to_string(items_count);
    bench::print_result(impl, name, samples, sizeof(double), procs);
  } catch (const unipar::Error& e) {
    std::fprintf(stderr, "unipar_bench_farm_trivial: %s\n", e.what());
    return 1;
  }
  return 0;
}
