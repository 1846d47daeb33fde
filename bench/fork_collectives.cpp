// unipar_bench_fork: times unipar's fork backend; prints one JSON line per result.
//
//   unipar_bench_fork all               every timing below (2 processes unless said)
//   unipar_bench_fork <op> [--procs N]  one of them
//   unipar_bench_fork rss --procs N     peak RSS of a 64 MiB broadcast (one per program run:
//                                       ru_maxrss only grows)
//   unipar_bench_fork sweep [--min-bytes B] [--max-bytes B]
//                                       send→receive and broadcast_inplace of every power of two
//                                       from 8 B to 64 MiB, 2 processes (not part of "all")
//
// Collectives are timed inside one run: barrier, `iterations` operations, barrier, on main; the
// best of several such blocks is reported. map and pi include forking the workers.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <unipar/unipar.hpp>

#include "bench_common.hpp"
#include "monte_carlo_pi.hpp"  // the demo's Monte Carlo pi, from apps/demo

namespace {

using bench::Samples;
using Data = std::vector<double>;

const std::string impl = "unipar-fork";

/// Times `op` (called on every process) in `blocks` blocks of `iterations`, after one warm-up
/// block; returns main's seconds per operation.
template <class Op>
Samples time_in_run(unipar::Parallelizer& p, int blocks, int iterations, Op&& op) {
  Samples samples;
  for (int block = -1; block < blocks; ++block) {
    p.barrier();
    const auto start = bench::Clock::now();
    for (int i = 0; i < iterations; ++i) op();
    p.barrier();
    if (block >= 0) samples.seconds.push_back(bench::seconds_since(start) / iterations);
  }
  return samples;
}

/// Runs `body(p)` inside a run of `procs` processes and prints main's samples as `name`.
template <class Body>
void collective(const std::string& name, int procs, std::size_t bytes, Body&& body) {
  unipar::ForkParallelizer par(procs);
  const Samples samples = par.run([&](unipar::Parallelizer& p) { return body(p); });
  print_result(impl, name, samples, bytes, procs);
}

Data filled(std::size_t count) {
  return Data(count, 1.0);
}

/// Ping-pong of `value` between processes 0 and 1 (send, then receive_into the same object);
/// returns the one-way time: the round trip divided by two.
template <class T>
Samples ping_pong(unipar::Parallelizer& p, T& value, int blocks, int iterations) {
  Samples round_trip = time_in_run(p, blocks, iterations, [&] {
    if (p.on_main()) {
      p.send(value, 1);
      p.receive_into(value, 1);
    } else {
      p.receive_into(value, 0);
      p.send(value, 0);
    }
  });
  for (double& s : round_trip.seconds) s /= 2;  // one way
  return round_trip;
}

void send_receive_latency() {
  collective("send_receive_8B", 2, 8, [](unipar::Parallelizer& p) {
    std::uint64_t value = 1;
    return ping_pong(p, value, 7, 20000);
  });
}

void broadcast_gather_small(int procs) {
  const int iterations = procs > 4 ? 2000 : 20000;
  collective("broadcast_gather_8B", procs, 8, [&](unipar::Parallelizer& p) {
    std::uint64_t value = 7;
    return time_in_run(p, 7, iterations, [&] {
      value = p.broadcast(value);
      const auto all = p.gather(value);
      if (p.on_main() && all.size() != static_cast<std::size_t>(p.nprocs())) std::abort();
    });
  });
}

void broadcast_inplace_large() {
  collective("broadcast_inplace_64MiB", 2, bench::large_bytes, [](unipar::Parallelizer& p) {
    Data buffer = filled(bench::large_count);  // preallocated (and touched) everywhere
    return time_in_run(p, 10, 1, [&] { p.broadcast_inplace(buffer); });
  });
}

void broadcast_value_large() {
  collective("broadcast_64MiB", 2, bench::large_bytes, [](unipar::Parallelizer& p) {
    Data data = p.on_main() ? filled(bench::large_count) : Data{};
    return time_in_run(p, 10, 1, [&] {
      if (p.on_main()) {
        data = p.broadcast(std::move(data));  // no copy on root
      } else {
        const Data received = p.broadcast(Data{});  // a fresh vector each time
        if (received.size() != bench::large_count) std::abort();
      }
    });
  });
}

void scatter_large() {
  collective("scatter_64MiB", 2, bench::large_bytes, [](unipar::Parallelizer& p) {
    const Data data = p.on_main() ? filled(bench::large_count) : Data{};
    return time_in_run(p, 10, 1, [&] {
      const Data block = p.scatter(data);
      if (block.empty()) std::abort();
    });
  });
}

void gather_blocks_large() {
  collective("gather_blocks_64MiB", 2, bench::large_bytes, [](unipar::Parallelizer& p) {
    const Data block =
        filled(unipar::detail::block_of(bench::large_count, p.nprocs(), p.id()).size);
    return time_in_run(p, 10, 1, [&] {
      const Data all = p.gather_blocks(block);
      if (p.on_main() && all.size() != bench::large_count) std::abort();
    });
  });
}

/// The message-size sweep: for every power of two from `min_bytes` to `max_bytes` (at least one
/// double), a ping-pong of a vector of that size (one way) and a `broadcast_inplace` of it into
/// a preallocated, touched vector, 2 processes. Each timed block moves about 64 MiB (at most
/// 20000 operations), so that small and large sizes take about as long.
void sweep(std::size_t min_bytes, std::size_t max_bytes) {
  for (std::size_t bytes = sizeof(double); bytes <= max_bytes; bytes *= 2) {
    if (bytes < min_bytes) continue;
    const int iterations =
        static_cast<int>(std::clamp<std::size_t>(bench::large_bytes / bytes, 1, 20000));
    collective("sweep_send_receive", 2, bytes, [&](unipar::Parallelizer& p) {
      Data buffer = filled(bytes / sizeof(double));
      return ping_pong(p, buffer, 5, iterations);
    });
    collective("sweep_broadcast_inplace", 2, bytes, [&](unipar::Parallelizer& p) {
      Data buffer = filled(bytes / sizeof(double));
      return time_in_run(p, 5, iterations, [&] { p.broadcast_inplace(buffer); });
    });
  }
}

/// A trivial function over 10^6 doubles, outside run: the time includes forking the workers.
void map_trivial(const std::string& implementation, unipar::Parallelizer& par) {
  Data items(1'000'000);
  std::iota(items.begin(), items.end(), 0.0);
  Samples samples;
  for (int repetition = 0; repetition < 7; ++repetition) {
    const auto start = bench::Clock::now();
    const Data results = par.map([](double x) { return 2.0 * x + 1.0; }, items);
    samples.seconds.push_back(bench::seconds_since(start) / static_cast<double>(items.size()));
    if (results.back() != 2.0 * items.back() + 1.0) std::abort();
  }
  print_result(implementation, "map_trivial_1e6", samples, sizeof(double), par.nprocs());
}

/// The demo's Monte Carlo pi: 2e8 samples in 400 tasks, with par.map.
void monte_carlo_pi(int procs) {
  unipar::ForkParallelizer par(procs);
  Samples samples;
  for (int repetition = 0; repetition < 3; ++repetition) {
    const auto start = bench::Clock::now();
    const auto hits = demo::hits_per_task(par, 200'000'000, 400, 42);
    samples.seconds.push_back(bench::seconds_since(start));
    if (hits.size() != 400) std::abort();
  }
  print_result(impl, "monte_carlo_pi_2e8", samples, 0, procs);
}

/// Peak RSS of every process around a 64 MiB broadcast (value form; the payload is made after
/// the fork, on main only).
void broadcast_rss(int procs) {
  unipar::ForkParallelizer par(procs);
  const auto rss = par.run([](unipar::Parallelizer& p) {
    const long baseline = bench::current_rss_kib();
    Data data = p.on_main() ? filled(bench::large_count) : Data{};
    data = p.broadcast(std::move(data));
    const long peak = bench::peak_rss_kib();
    return std::make_pair(p.gather(baseline), p.gather(peak));
  });
  bench::print_rss(impl, "broadcast_64MiB_rss", bench::large_bytes, rss.first, rss.second);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times unipar's fork backend; prints one JSON line per result."};
  std::string op = "all";
  int procs = 2;
  std::size_t min_bytes = 8, max_bytes = bench::large_bytes;
  app.add_option("op", op, "what to time")
      ->check(CLI::IsMember({"all", "latency", "broadcast_gather", "broadcast_inplace", "broadcast",
                             "scatter", "gather_blocks", "map", "pi", "rss", "sweep"}))
      ->capture_default_str();
  app.add_option("--procs", procs, "processes, for broadcast_gather, pi and rss")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--min-bytes", min_bytes,
                 "smallest message of the sweep (rounded up to a power of two)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-bytes", max_bytes, "largest message of the sweep")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const bool all = op == "all";
    if (all || op == "latency") send_receive_latency();
    if (op == "broadcast_gather") broadcast_gather_small(procs);
    if (all) {
      for (int n : {2, 4, 15}) broadcast_gather_small(n);
    }
    if (all || op == "broadcast_inplace") broadcast_inplace_large();
    if (all || op == "broadcast") broadcast_value_large();
    if (all || op == "scatter") scatter_large();
    if (all || op == "gather_blocks") gather_blocks_large();
    if (all || op == "map") {
      unipar::ForkParallelizer fork(2);
      map_trivial(impl, fork);
      unipar::SerialParallelizer serial;
      map_trivial("unipar-serial", serial);
    }
    if (op == "pi") monte_carlo_pi(procs);
    if (all) {
      monte_carlo_pi(1);
      monte_carlo_pi(2);
    }
    if (op == "rss") broadcast_rss(procs);
    if (op == "sweep") sweep(min_bytes, max_bytes);
  } catch (const unipar::Error& e) {
    std::fprintf(stderr, "unipar_bench_fork: %s\n", e.what());
    return 1;
  }
  return 0;
}
