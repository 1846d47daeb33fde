// unipar_bench_memcpy: the ceilings for moving 64 MiB within one process (Google Benchmark).
//   memcpy_warm:  into a buffer already touched (no page faults);
//   memcpy_fresh: into memory mmapped for the copy, as a freshly allocated std::vector is
//                 (page faults on first touch), unmapped after.
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

constexpr std::size_t bytes = std::size_t{64} << 20;

void memcpy_warm(benchmark::State& state) {
  std::vector<char> source(bytes, 1);
  std::vector<char> target(bytes, 0);
  for (auto _ : state) {
    std::memcpy(target.data(), source.data(), bytes);
    benchmark::DoNotOptimize(target.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * bytes);
}

void memcpy_fresh(benchmark::State& state) {
  std::vector<char> source(bytes, 1);
  for (auto _ : state) {
    void* target = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (target == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      break;
    }
    std::memcpy(target, source.data(), bytes);
    benchmark::DoNotOptimize(target);
    benchmark::ClobberMemory();
    munmap(target, bytes);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * bytes);
}

}  // namespace

BENCHMARK(memcpy_warm)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(memcpy_fresh)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
