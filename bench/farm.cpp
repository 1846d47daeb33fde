// unipar_bench_farm: the task farm (map, map_each) on uneven and streaming workloads; prints one
// JSON line per result (read by bench/compare_farm.py).
//
//   unipar_bench_farm <workload> [--backend SPEC] [--reps R] [--seed S] [--cores N]
//   unipar_bench_farm all --backend fork:2
//   mpirun -n 2 unipar_bench_farm all --backend mpi
//   mpirun -n 4 --oversubscribe unipar_bench_farm uneven --backend mpi
//
// Workloads (every item is busy work: a spin on the steady clock, not a sleep, so that it keeps
// a core busy; with more processes than cores on the thread's CPU-time clock instead, since a
// descheduled process does no work and a wall-clock spin would count its waiting as work):
//   uneven_first   one item of 1 s, then 2000 items of 1 ms (map); ideal on 2 cores: 1.50 s
//   uneven_random  the same 2001 items, the 1 s item at a random position (--seed)
//   uneven_ten     2000 items of 1 ms and 10 items of 100 ms at random positions
//   flat           2000 items of 1 ms (map)
//   uneven         the four above
//   uneven_heavy   uneven_first with results of 1000 doubles (7.8 KiB) per item: 2000 of them
//                  are 15 MiB, more than a worker's channel to main holds while main computes
//                  its 1 s item; ideal on 2 cores: 1.50 s
//   calls          2000 calls of map over 2 items per process with no work, inside one run:
//                  what a call costs (seconds_per_op is per call)
//   first_result   map_each over 200 items of 10 ms: the time from the call until the first
//                  result reaches main's callback (completion order, then input order)
//   pi             Monte Carlo pi, 2x10^8 points in 64 map tasks (bench/pi_task.h), the backend
//                  against unipar's serial backend in the same run, alternating
//   all            everything above
// Every call is made outside run (fork: the time includes forking the workers; MPI: every rank
// calls it), with the progress line off; under MPI a barrier precedes each call. The ideal of an
// uneven list is its total work divided by the cores that can run it, min(processes, cores);
// "in_order_bound" is the best any farm that starts items in input order can do (a greedy list
// schedule without overhead), which is above the ideal when a slow item comes late. Results are
// checked (every value in its place, every map_each index exactly once, pi's hit count equal to
// the serial one); a wrong result exits non-zero.

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <unipar/unipar.hpp>

#include "bench_common.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // a C header, shared with the C peer
#include "pi_task.h"
#pragma GCC diagnostic pop

namespace {

using bench::Clock;
using bench::Samples;

struct Config {
  std::string backend = "fork:2";
  int reps = 3;
  std::uint64_t seed = 2026;
  int cores = 0;  // 0: the machine's
};

/// The options of every call: the default ones, with the progress line off.
unipar::MapOptions quiet(bool ordered = false) {
  unipar::MapOptions options;
  options.progress = unipar::Progress::off;
  options.ordered = ordered;
  return options;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "unipar_bench_farm: wrong result: %s\n", what.c_str());
  std::exit(1);
}

/// A barrier between calls under MPI (outside run every rank calls map; fork needs none).
void align(unipar::Parallelizer& par) {
  if (par.name() == "mpi") par.run([](unipar::Parallelizer& p) { p.barrier(); });
}

std::string impl_of(const unipar::Parallelizer& par) {
  return "unipar-" + std::string(par.name());
}

std::string list(const std::vector<double>& values, const char* format = "%.6e") {
  std::string text = "[";
  char number[64];
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::snprintf(number, sizeof number, format, values[i]);
    text += (i == 0 ? "" : ", ") + std::string(number);
  }
  return text + "]";
}

/// {"impl", "name", "procs", "seconds_per_op" (best), "median", "samples", "all": [...], extra}
void print_record(const unipar::Parallelizer& par, const std::string& name, const Samples& samples,
                  const std::string& extra) {
  std::printf(
      "{\"impl\": \"%s\", \"name\": \"%s\", \"procs\": %d, \"seconds_per_op\": %.6e, "
      "\"median\": %.6e, \"samples\": %zu, \"all\": %s%s}\n",
      impl_of(par).c_str(), name.c_str(), par.nprocs(), samples.best(), samples.median(),
      samples.seconds.size(), list(samples.seconds).c_str(), extra.c_str());
  std::fflush(stdout);
}

// ---- uneven lists ------------------------------------------------------------------------------

struct Layout {
  std::vector<double> items;         // microseconds of work per item
  std::vector<std::size_t> slow_at;  // where the slow items are
};

Layout make_layout(const std::string& name, std::uint64_t seed) {
  constexpr std::size_t fast = 2000;
  constexpr double fast_us = 1000, slow_us = 1'000'000;
  Layout layout;
  std::mt19937_64 random(seed);
  layout.items.assign(fast, fast_us);
  if (name == "uneven_first") {
    layout.items.insert(layout.items.begin(), slow_us);
  } else if (name == "uneven_random") {
    layout.items.insert(layout.items.begin() + static_cast<std::ptrdiff_t>(random() % (fast + 1)),
                        slow_us);
  } else if (name == "uneven_ten") {
    for (int i = 0; i < 10; ++i) {  // each at a random place among those already there
      const auto at = static_cast<std::ptrdiff_t>(random() % (layout.items.size() + 1));
      layout.items.insert(layout.items.begin() + at, slow_us / 10);
    }
  } else if (name != "flat") {
    fail("unknown layout " + name);
  }
  for (std::size_t i = 0; i < layout.items.size(); ++i) {
    if (layout.items[i] > fast_us) layout.slow_at.push_back(i);
  }
  return layout;
}

/// The makespan of a greedy list schedule on `workers` processors, items started in input order
/// by whichever processor is free first, without any overhead.
double in_order_bound(const std::vector<double>& items_us, int workers) {
  std::priority_queue<double, std::vector<double>, std::greater<>> free_at;
  for (int i = 0; i < workers; ++i) free_at.push(0.0);
  double end = 0;
  for (const double us : items_us) {
    const double start = free_at.top();
    free_at.pop();
    free_at.push(start + us);
    end = std::max(end, start + us);
  }
  return end * 1e-6;
}

/// What an item of `microseconds` returns: `doubles` copies of microseconds + 0.5 (or, 0, the
/// one double itself).
template <std::size_t doubles>
auto item_result(double microseconds) {
  if constexpr (doubles == 0) {
    return microseconds + 0.5;
  } else {
    return std::vector<double>(doubles, microseconds + 0.5);
  }
}

template <std::size_t doubles = 0>
void uneven(unipar::Parallelizer& par, const Config& config, const std::string& name,
            bool cpu_clock, int cores) {
  const Layout layout = make_layout(name == "uneven_heavy" ? "uneven_first" : name, config.seed);
  const auto work = [cpu_clock](const double& microseconds) {
    bench::spin(microseconds, cpu_clock);
    return item_result<doubles>(microseconds);
  };
  const double total_us = std::accumulate(layout.items.begin(), layout.items.end(), 0.0);
  const int workers = std::min(par.nprocs(), cores);
  Samples samples;
  for (int rep = 0; rep < config.reps; ++rep) {
    align(par);
    const auto start = Clock::now();
    const auto results = par.map(work, layout.items, quiet());
    samples.seconds.push_back(bench::seconds_since(start));
    if (!par.on_main()) continue;
    if (results.size() != layout.items.size()) fail(name + ": result count");
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i] != item_result<doubles>(layout.items[i])) {
        fail(name + ": item " + std::to_string(i));
      }
    }
  }
  if (!par.on_main()) return;
  std::vector<double> positions(layout.slow_at.begin(), layout.slow_at.end());
  char extra[512];
  std::snprintf(extra, sizeof extra,
                ", \"items\": %zu, \"slow_at\": %s, \"total_work_seconds\": %.6e, "
                "\"ideal_seconds\": %.6e, \"in_order_bound\": %.6e, \"cores\": %d, "
                "\"work_clock\": \"%s\", \"seed\": %llu, \"result_bytes\": %zu",
                layout.items.size(), list(positions, "%.0f").c_str(), total_us * 1e-6,
                total_us * 1e-6 / workers, in_order_bound(layout.items, workers), cores,
                cpu_clock ? "thread CPU time" : "steady clock",
                static_cast<unsigned long long>(config.seed),
                doubles == 0 ? sizeof(double) : doubles * sizeof(double));
  print_record(par, name, samples, extra);
}

// ---- what a call costs
// ---------------------------------------------------------------------------

void calls(unipar::Parallelizer& par, const Config& config) {
  constexpr int count = 2000;
  Samples samples;
  for (int rep = 0; rep < config.reps; ++rep) {
    align(par);
    const double seconds = par.run([&](unipar::Parallelizer& p) {
      const std::vector<int> items(static_cast<std::size_t>(2 * p.nprocs()), 1);
      const auto start = Clock::now();
      long sum = 0;
      for (int call = 0; call < count; ++call) {
        for (const int r : p.map([](const int& x) { return x + 1; }, items, quiet())) sum += r;
      }
      const double elapsed = bench::seconds_since(start);
      if (p.on_main() && sum != 2L * count * static_cast<long>(items.size())) {
        fail("calls: result sum");
      }
      return elapsed;
    });
    samples.seconds.push_back(seconds / count);
  }
  if (!par.on_main()) return;
  char extra[128];
  std::snprintf(extra, sizeof extra, ", \"calls\": %d, \"items_per_call\": %d", count,
                2 * par.nprocs());
  print_record(par, "calls", samples, extra);
}

// ---- map_each: the first result ----------------------------------------------------------------

void first_result(unipar::Parallelizer& par, const Config& config, bool ordered, bool cpu_clock) {
  constexpr std::size_t count = 200;
  constexpr double item_us = 10'000;
  const std::vector<double> items(count, item_us);
  const auto work = [cpu_clock](const double& microseconds) {
    bench::spin(microseconds, cpu_clock);
    return microseconds + 0.5;
  };
  Samples first, half, last, call;
  for (int rep = 0; rep < config.reps; ++rep) {
    std::vector<int> seen(count, 0);
    std::vector<double> at;  // seconds since the call, per delivery
    at.reserve(count);
    std::size_t expected_next = 0;
    align(par);
    const auto start = Clock::now();
    par.map_each(
        work, items,
        [&](std::size_t index, double&& value) {
          at.push_back(bench::seconds_since(start));
          if (index >= count || value != items[index] + 0.5) fail("map_each: a value");
          ++seen[index];
          if (ordered && index != expected_next) fail("map_each: input order");
          ++expected_next;
        },
        quiet(ordered));
    call.seconds.push_back(bench::seconds_since(start));
    if (!par.on_main()) continue;
    if (at.size() != count || std::count(seen.begin(), seen.end(), 1) != std::ptrdiff_t(count)) {
      fail("map_each: every index exactly once");
    }
    first.seconds.push_back(at.front());
    half.seconds.push_back(at[count / 2 - 1]);
    last.seconds.push_back(at.back());
  }
  if (!par.on_main()) return;
  char extra[768];
  std::snprintf(extra, sizeof extra,
                ", \"item_seconds\": %.6e, \"items\": %zu, \"ordered\": %s, "
                "\"half_delivered_median\": %.6e, \"last_delivered_median\": %.6e, "
                "\"call_median\": %.6e, \"call_all\": %s",
                item_us * 1e-6, count, ordered ? "true" : "false", half.median(), last.median(),
                call.median(), list(call.seconds).c_str());
  print_record(par, ordered ? "first_result_ordered" : "first_result", first, extra);
}

// ---- Monte Carlo pi
// ------------------------------------------------------------------------------

/// pi_task.h's engine must be std::mt19937_64: the C peer and this driver share it.
void check_engine() {
  for (std::uint64_t seed : {0ULL, 1ULL, 63ULL}) {
    std::mt19937_64 reference(seed);
    pi_task_engine engine;
    pi_task_seed(&engine, seed);
    for (int i = 0; i < 2000; ++i) {
      if (pi_task_draw(&engine) != reference()) fail("pi_task.h is not std::mt19937_64");
    }
  }
}

void pi(unipar::Parallelizer& par, const Config& config) {
  constexpr std::uint64_t points = 200'000'000, tasks = 64;
  check_engine();
  std::vector<std::uint64_t> task_ids(tasks);
  std::iota(task_ids.begin(), task_ids.end(), std::uint64_t{0});
  const auto task = [](const std::uint64_t& t) {
    return static_cast<std::uint64_t>(pi_task_hits(t, pi_task_samples(t, tasks, points)));
  };
  unipar::SerialParallelizer serial;
  Samples serial_seconds, parallel_seconds;
  std::uint64_t serial_hits = 0, parallel_hits = 0;
  auto sum = [](const std::vector<std::uint64_t>& hits) {
    return std::accumulate(hits.begin(), hits.end(), std::uint64_t{0});
  };
  for (int rep = 0; rep < config.reps; ++rep) {
    align(par);
    if (par.on_main()) {  // the serial backend, on main only (other MPI ranks wait)
      const auto start = Clock::now();
      const auto hits = serial.map(task, task_ids, quiet());
      serial_seconds.seconds.push_back(bench::seconds_since(start));
      serial_hits = sum(hits);
    }
    align(par);
    const auto start = Clock::now();
    const auto hits = par.map(task, task_ids, quiet());
    parallel_seconds.seconds.push_back(bench::seconds_since(start));
    if (!par.on_main()) continue;
    if (hits.size() != tasks) fail("pi: task count");
    parallel_hits = sum(hits);
    if (parallel_hits != serial_hits) fail("pi: the hit counts differ from the serial ones");
  }
  if (!par.on_main()) return;
  const double estimate = 4.0 * static_cast<double>(parallel_hits) / static_cast<double>(points);
  if (std::abs(estimate - 3.14159265358979323846) > 1e-3) fail("pi: off by more than 1e-3");
  char extra[512];
  std::snprintf(extra, sizeof extra,
                ", \"points\": %llu, \"tasks\": %llu, \"hits\": %llu, \"pi\": %.9f, "
                "\"serial_best\": %.6e, \"serial_median\": %.6e, \"serial_all\": %s, "
                "\"speedup\": %.4f",
                static_cast<unsigned long long>(points), static_cast<unsigned long long>(tasks),
                static_cast<unsigned long long>(parallel_hits), estimate, serial_seconds.best(),
                serial_seconds.median(), list(serial_seconds.seconds).c_str(),
                serial_seconds.median() / parallel_seconds.median());
  print_record(par, "pi", parallel_seconds, extra);
}

int online_cores() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times unipar's task farm (map, map_each); prints one JSON line per result."};
  std::string workload = "all";
  std::string clock_mode = "auto";
  Config config;
  app.add_option("workload", workload, "what to time")
      ->check(CLI::IsMember({"all", "uneven", "uneven_first", "uneven_random", "uneven_ten", "flat",
                             "uneven_heavy", "calls", "first_result", "pi"}))
      ->capture_default_str();
  app.add_option("--backend", config.backend, "serial, fork:N or mpi (under mpirun)")
      ->capture_default_str();
  app.add_option("--reps", config.reps, "repetitions of each call")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", config.seed, "where the random layouts put their slow items")
      ->capture_default_str();
  app.add_option("--cores", config.cores, "cores to count for the ideal (0: the machine's)")
      ->capture_default_str();
  app.add_option("--clock", clock_mode,
                 "what busy items spin on: steady, cpu (thread CPU time), auto (cpu when there "
                 "are more processes than cores)")
      ->check(CLI::IsMember({"auto", "steady", "cpu"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (config.cores <= 0) config.cores = online_cores();

  try {
    const auto par = unipar::make_parallelizer(config.backend);
    const bool cpu_clock =
        clock_mode == "cpu" || (clock_mode == "auto" && par->nprocs() > config.cores);
    const bool all = workload == "all";
    for (const char* name : {"uneven_first", "uneven_random", "uneven_ten", "flat"}) {
      if (all || workload == "uneven" || workload == name) {
        uneven(*par, config, name, cpu_clock, config.cores);
      }
    }
    if (all || workload == "uneven_heavy") {
      uneven<1000>(*par, config, "uneven_heavy", cpu_clock, config.cores);
    }
    if (all || workload == "calls") calls(*par, config);
    if (all || workload == "first_result") {
      first_result(*par, config, false, cpu_clock);
      first_result(*par, config, true, cpu_clock);
    }
    if (all || workload == "pi") pi(*par, config);
  } catch (const unipar::Error& e) {
    std::fprintf(stderr, "unipar_bench_farm: %s\n", e.what());
    return 1;
  }
  return 0;
}
