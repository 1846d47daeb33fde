// unipar-demo: the same two computations on several backends, timed and compared.
//
//   (a) pi by Monte Carlo: many random points, split into tasks handed out by par.map;
//   (b) a parameter sweep of a driven, damped pendulum: one independent run per grid point.
//
// Every task draws from its own random stream, derived from (seed, task index), so every
// backend and process count must give bit-identical results; the program checks it.
//
//   unipar-demo                                # serial, then "auto": fork with one process
//                                              # per core, or every rank under mpirun
//   mpirun -n 2 unipar-demo                    # serial, then the MPI backend on 2 ranks
//   unipar-demo --backends serial,fork:2,fork:4 --samples 100000000 --seed 7

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <unipar/unipar.hpp>

#include "monte_carlo_pi.hpp"
#include "pendulum_sweep.hpp"

namespace {

struct Options {
  std::vector<std::string> backends{"serial", "auto"};
  std::uint64_t samples = 200'000'000;
  std::uint64_t tasks = 400;
  std::uint64_t seed = 42;
};

const std::vector<double> dampings{0.05, 0.1, 0.2, 0.3, 0.5};
const std::vector<double> drives{0.6, 0.9, 1.07, 1.15, 1.2, 1.35, 1.45, 1.5};

/// What one backend computed, and how long it took.
struct Outcome {
  std::string backend;
  int nprocs = 1;
  std::vector<std::uint64_t> hits;  // per pi task
  double pi = 0;
  std::vector<demo::PendulumResult> sweep;
  double pi_seconds = 0;
  double sweep_seconds = 0;
  double total_seconds() const { return pi_seconds + sweep_seconds; }
};

template <class F>
double seconds_of(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Outcome run_on(unipar::Parallelizer& par, const std::string& spec, const Options& options) {
  Outcome out;
  out.backend = spec == "auto" ? "auto:" + std::string(par.name()) : spec;
  out.nprocs = par.nprocs();
  out.pi_seconds = seconds_of(
      [&] { out.hits = demo::hits_per_task(par, options.samples, options.tasks, options.seed); });
  out.pi = demo::estimate_pi(out.hits, options.samples);

  const auto runs = demo::pendulum_grid(dampings, drives);
  const std::uint64_t seed = options.seed;
  out.sweep_seconds = seconds_of([&] {
    out.sweep = par.map(
        [seed](const demo::PendulumRun& run) { return demo::simulate_pendulum(run, seed); }, runs);
  });
  return out;
}

void print_row(const Outcome& o, const Outcome& reference) {
  std::printf("%-10s %5d   %.9f  %8.1e  %7.2f s  %7.2f s  %7.2f s  %6.2fx\n", o.backend.c_str(),
              o.nprocs, o.pi, std::abs(o.pi - std::numbers::pi), o.pi_seconds, o.sweep_seconds,
              o.total_seconds(), reference.total_seconds() / o.total_seconds());
  std::fflush(stdout);
}

void print_sweep(const Outcome& o) {
  std::printf("\nPendulum sweep: full turns per drive period once the transient has died out\n");
  std::printf(
      "(0: swings to and fro; whole number: rotates in step with the drive; "
      "otherwise chaotic)\n\n");
  std::printf("damping \\ drive");
  for (double drive : drives) std::printf("  %6.2f", drive);
  std::printf("\n");
  std::uint64_t cheapest = UINT64_MAX, costliest = 0;
  for (std::size_t row = 0; row < dampings.size(); ++row) {
    std::printf("%15.2f", dampings[row]);
    for (std::size_t column = 0; column < drives.size(); ++column) {
      const auto& result = o.sweep[row * drives.size() + column];
      // + 0.0 turns a -0.00 into 0.00.
      std::printf("  %6.2f", std::round(result.turns_per_period * 100) / 100 + 0.0);
      cheapest = std::min(cheapest, result.steps);
      costliest = std::max(costliest, result.steps);
    }
    std::printf("\n");
  }
  std::printf("\n%zu runs; the costliest took %.1fx the steps of the cheapest (%llu vs %llu).\n",
              o.sweep.size(), static_cast<double>(costliest) / static_cast<double>(cheapest),
              static_cast<unsigned long long>(costliest),
              static_cast<unsigned long long>(cheapest));
}

/// Whether every outcome equals the first, bit for bit; names the ones that differ.
bool check_identical(const std::vector<Outcome>& outcomes) {
  bool identical = true;
  const Outcome& first = outcomes.front();
  for (const Outcome& o : outcomes) {
    if (o.hits != first.hits) {
      std::printf("MISMATCH: the pi tasks on %s differ from those on %s\n", o.backend.c_str(),
                  first.backend.c_str());
      identical = false;
    }
    if (o.sweep != first.sweep) {
      std::printf("MISMATCH: the sweep on %s differs from the one on %s\n", o.backend.c_str(),
                  first.backend.c_str());
      identical = false;
    }
  }
  return identical;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{
      "unipar demo: Monte Carlo pi and a pendulum parameter sweep, run on several "
      "backends and compared"};
  app.add_option("--backends", options.backends,
                 "comma-separated backends: serial, fork (one process per core), fork:N, mpi "
                 "(under mpirun), auto (mpi under mpirun, else fork)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--samples", options.samples, "random points for pi")->capture_default_str();
  app.add_option("--tasks", options.tasks, "tasks the points are split into")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "seed of every random stream")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (options.samples == 0 || options.tasks == 0) {
    std::fprintf(stderr, "unipar-demo: --samples and --tasks must be at least 1\n");
    return 2;
  }

  // The serial backend, when asked for, runs first: the others' speedups are relative to it.
  std::vector<std::string> backends = options.backends;
  std::stable_partition(backends.begin(), backends.end(),
                        [](const std::string& spec) { return spec == "serial"; });
  std::vector<std::unique_ptr<unipar::Parallelizer>> parallelizers;
  try {
    for (const auto& spec : backends) parallelizers.push_back(unipar::make_parallelizer(spec));
  } catch (const unipar::UsageError& e) {
    std::fprintf(stderr, "unipar-demo: %s\n", e.what());
    return 2;
  }

  // Under mpirun every rank runs this program; rank 0 of the MPI backend reports, the other
  // ranks only take part in its runs.
  bool reports = true;
  for (const auto& par : parallelizers) {
    if (par->name() == "mpi") reports = par->on_main();
  }

  const auto runs = demo::pendulum_grid(dampings, drives);
  if (reports) {
    std::printf(
        "pi from %llu random points in %llu tasks, and a sweep of %zu pendulum runs "
        "(seed %llu)\n\n",
        static_cast<unsigned long long>(options.samples),
        static_cast<unsigned long long>(options.tasks), runs.size(),
        static_cast<unsigned long long>(options.seed));
    std::printf("%-10s %5s   %-11s  %8s  %9s  %9s  %9s  %7s\n", "backend", "procs", "pi", "error",
                "pi time", "sweep", "total", "speedup");
  }

  std::vector<Outcome> outcomes;
  try {
    for (std::size_t i = 0; i < backends.size(); ++i) {
      if (!reports && parallelizers[i]->name() != "mpi") continue;  // nothing to share
      outcomes.push_back(run_on(*parallelizers[i], backends[i], options));
      if (reports) print_row(outcomes.back(), outcomes.front());
    }
  } catch (const unipar::Error& e) {
    std::fprintf(stderr, "unipar-demo: %s\n", e.what());
    return 2;
  }
  if (!reports) return 0;
  std::printf("(speedup: %s's total time over each backend's)\n", outcomes.front().backend.c_str());

  print_sweep(outcomes.front());

  if (!check_identical(outcomes)) return 1;
  if (outcomes.size() > 1) {
    std::printf("pi and the sweep are bit-identical on all %zu backends.\n", outcomes.size());
  } else {
    std::printf("(one backend: nothing to compare; try --backends serial,auto)\n");
  }
  return 0;
}
