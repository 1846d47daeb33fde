/// @file bench_common.hpp
/// @brief What the benchmark drivers share: a clock, repeated timings, and the JSON lines they
/// print (one result per line, read by compare.py). Uses no unipar or MPI header, so that the
/// raw MPI peer stays plain MPI.
#pragma once

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Busy work for `microseconds` (the uneven-cost map benchmarks): spins on the steady clock, or,
/// when there are more processes than cores, on this thread's CPU-time clock (a process that is
/// descheduled does no work, and wall time would count the time it waited as work done).
inline void spin(double microseconds, bool cpu_clock) {
  if (!cpu_clock) {
    const auto end = Clock::now() + std::chrono::duration<double, std::micro>(microseconds);
    while (Clock::now() < end) {
    }
    return;
  }
  auto now = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) * 1e-3;
  };
  const double end = now() + microseconds;
  while (now() < end) {
  }
}

/// The 64 MiB payload of the large-transfer benchmarks, as doubles.
inline constexpr std::size_t large_bytes = std::size_t{64} << 20;
inline constexpr std::size_t large_count = large_bytes / sizeof(double);

/// Repeated measurements of one operation, in seconds per operation. The minimum is the
/// figure reported: on a shared, noisy machine it is the closest to what the code costs.
struct Samples {
  std::vector<double> seconds;

  double best() const { return *std::min_element(seconds.begin(), seconds.end()); }
  double median() const {
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    return sorted[sorted.size() / 2];
  }
};

/// Prints one result line:
/// {"impl": ..., "name": ..., "seconds_per_op": ..., "median": ..., "bytes": ..., "procs": ...}
inline void print_result(const std::string& impl, const std::string& name, const Samples& samples,
                         std::size_t bytes, int procs) {
  std::printf(
      "{\"impl\": \"%s\", \"name\": \"%s\", \"seconds_per_op\": %.6e, \"median\": %.6e, "
      "\"bytes\": %zu, \"procs\": %d, \"samples\": %zu}\n",
      impl.c_str(), name.c_str(), samples.best(), samples.median(), bytes, procs,
      samples.seconds.size());
  std::fflush(stdout);
}

/// Resident set size of this process now, in KiB (from /proc/self/statm).
inline long current_rss_kib() {
  long pages = 0, resident = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(statm);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/// Peak resident set size of this process so far, in KiB (getrusage's ru_maxrss).
inline long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

/// Prints the RSS of every process before (current) and after (peak) a transfer of `bytes`:
/// {"impl": ..., "name": ..., "bytes": ..., "procs": ..., "baseline_kib": [...], "peak_kib": [...]}
inline void print_rss(const std::string& impl, const std::string& name, std::size_t bytes,
                      const std::vector<long>& baseline_kib, const std::vector<long>& peak_kib) {
  auto list = [](const std::vector<long>& values) {
    std::string text = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      text += (i == 0 ? "" : ", ") + std::to_string(values[i]);
    }
    return text + "]";
  };
  std::printf(
      "{\"impl\": \"%s\", \"name\": \"%s\", \"bytes\": %zu, \"procs\": %zu, \"baseline_kib\": %s, "
      "\"peak_kib\": %s}\n",
      impl.c_str(), name.c_str(), bytes, peak_kib.size(), list(baseline_kib).c_str(),
      list(peak_kib).c_str());
  std::fflush(stdout);
}

}  // namespace bench
