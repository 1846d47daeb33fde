// unipar_bench_client_server: ClientServerRunner throughput and latency; one JSON line per
// result.
//
//   UNIPAR_BACKEND=fork:2 unipar_bench_client_server [reps [workload]]
//   mpirun -n 2 unipar_bench_client_server          (the MPI backend, when built)
// (workload: tiny, busy or call to run only that one, e.g. under a profiler)
//
//   tiny       10^5 requests with an empty handler (int -> int), submitted at once, taken with
//              as_completed: requests per second; once per call outside `run` (fork forks the
//              servers for each call) and once inside one `run` (servers started once, as a
//              Python pool's workers are)
//   busy       400 requests of 1 ms of busy work: time against the ideal (work / servers)
//   call       10^4 sequential client.call round trips: seconds per call, against an 8-byte
//              send/receive round trip between the same two processes
// Every workload is run outside `run` (fork forks the servers for the call), `--reps` times;
// results are checked, a wrong one exits non-zero.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unipar/unipar.hpp>

#include "bench_common.hpp"

namespace {

using unipar::Client;
using unipar::ClientServerRunner;

void busy_for(std::chrono::nanoseconds cost) {
  const auto end = std::chrono::steady_clock::now() + cost;
  while (std::chrono::steady_clock::now() < end) {
  }
}

void print(unipar::Parallelizer& par, const std::string& name, double value, const char* unit,
           double extra = 0) {
  if (!par.on_main()) return;
  std::printf(
      "{\"impl\": \"unipar-%s\", \"name\": \"%s\", \"procs\": %d, \"value\": %.9g, \"unit\": "
      "\"%s\", \"extra\": %.9g}\n",
      std::string(par.name()).c_str(), name.c_str(), par.nprocs(), value, unit, extra);
  std::fflush(stdout);
}

/// The tiny workload's client: 10^5 requests submitted at once, taken in completion order.
long long tiny_client(Client<int, int>& client) {
  std::vector<unipar::Future<int>> futures;
  futures.reserve(100'000);
  for (int i = 0; i < 100'000; ++i) futures.push_back(client.submit(i));
  long long total = 0;
  for (auto& future : unipar::as_completed(futures)) total += future.get();
  return total;
}

[[noreturn]] void wrong(const char* what) {
  std::fprintf(stderr, "unipar_bench_client_server: wrong result in %s\n", what);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::string only = argc > 2 ? argv[2] : "";
  const auto runs = [&](const char* workload) { return only.empty() || only == workload; };
  unipar::Parallelizer& par = unipar::default_parallelizer();

  if (runs("tiny")) {  // tiny: requests per second
    ClientServerRunner<int, int> runner(par, [](const int& x) { return x + 1; });
    bench::Samples samples;
    for (int r = 0; r < reps; ++r) {
      const auto start = bench::Clock::now();
      const long long sum = runner.run(tiny_client);
      samples.seconds.push_back(bench::seconds_since(start) / 100'000);
      if (par.on_main() && sum != 100'000LL * 100'001LL / 2) wrong("tiny");
    }
    print(par, "tiny_requests_per_s", 1.0 / samples.median(), "1/s", 1.0 / samples.best());
    // The same inside one run: the servers are started once, as a Python pool's workers are.
    bench::Samples in_run;
    par.run([&](unipar::Parallelizer& p) {
      for (int r = 0; r < reps; ++r) {
        p.barrier();
        const auto start = bench::Clock::now();
        const long long sum = runner.run(tiny_client);
        in_run.seconds.push_back(bench::seconds_since(start) / 100'000);
        if (p.on_main() && sum != 100'000LL * 100'001LL / 2) wrong("tiny in run");
      }
    });
    print(par, "tiny_in_run_requests_per_s", 1.0 / in_run.median(), "1/s", 1.0 / in_run.best());
  }

  if (runs("busy")) {  // busy: 400 requests of 1 ms against the ideal
    ClientServerRunner<int, int> runner(par, [](const int& x) {
      busy_for(std::chrono::milliseconds(1));
      return x;
    });
    bench::Samples samples;
    int servers = 1;
    for (int r = 0; r < reps; ++r) {
      const auto start = bench::Clock::now();
      const auto result = runner.run([](Client<int, int>& client) {
        std::vector<unipar::Future<int>> futures;
        for (int i = 0; i < 400; ++i) futures.push_back(client.submit(i));
        long long total = 0;
        for (auto& future : futures) total += future.get();
        return std::pair<long long, int>(total, client.servers());
      });
      samples.seconds.push_back(bench::seconds_since(start));
      servers = result.second;
      if (par.on_main() && result.first != 399LL * 400LL / 2) wrong("busy");
    }
    const double ideal = 0.400 / servers;
    print(par, "busy_1ms_x400_over_ideal", samples.median() / ideal, "ratio",
          samples.best() / ideal);
  }

  if (runs("call")) {  // call: round-trip latency, against an 8-byte send/receive round trip
    ClientServerRunner<double, double> runner(par, [](const double& x) { return x; });
    bench::Samples calls;
    for (int r = 0; r < reps; ++r) {
      const auto start = bench::Clock::now();
      const double last = runner.run([](Client<double, double>& client) {
        double x = 0;
        for (int i = 0; i < 10'000; ++i) x = client.call(x + 1);
        return x;
      });
      calls.seconds.push_back(bench::seconds_since(start) / 10'000);
      if (par.on_main() && last != 10'000) wrong("call");
    }
    bench::Samples pings;
    if (par.nprocs() > 1) {
      for (int r = 0; r < reps; ++r) {
        const double seconds = par.run([](unipar::Parallelizer& p) {
          const auto start = bench::Clock::now();
          double x = 0;
          for (int i = 0; i < 10'000; ++i) {
            if (p.id() == 0) {
              p.send(x + 1, 1);
              x = p.receive<double>(1);
            } else if (p.id() == 1) {
              x = p.receive<double>(0);
              p.send(x, 0);
            }
          }
          return bench::seconds_since(start) / 10'000;
        });
        pings.seconds.push_back(seconds);
      }
    }
    print(par, "call_round_trip_s", calls.median(), "s",
          par.nprocs() > 1 ? calls.median() / pings.median() : 0);
  }
}
