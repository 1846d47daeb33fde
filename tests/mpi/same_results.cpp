/// @file same_results.cpp
/// @brief One small deterministic floating-point computation whose printed results must be
/// byte-identical on every backend and process count (same_results.py runs it on serial,
/// fork and MPI and compares).
///
/// Usage: `mpi_same_results [spec]`: the backend is `make_parallelizer(spec)`, or
/// `default_parallelizer()` (UNIPAR_BACKEND, or the automatic choice) without one. Only main
/// prints results, with full precision, on standard output; it also writes
/// `backend=NAME nprocs=N` on standard error so the driver can see which backend ran.
///
/// Every printed value is independent of the number of processes by construction: item-wise
/// work (scatter / transform / gather_blocks, map) and reductions whose operation continues a
/// sequential computation over the next process's items, so they equal the serial result bit
/// for bit only when the values are combined in id order, as `reduce` promises.
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "unipar/unipar.hpp"

namespace {

using unipar::Parallelizer;

constexpr std::size_t item_count = 1000;

/// FNV-1a over the bytes of `size` bytes at `data`.
std::uint64_t fnv1a(const void* data, std::size_t size) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
  return hash;
}

std::uint64_t fnv1a(const std::vector<double>& values) {
  return fnv1a(values.data(), values.size() * sizeof(double));
}

/// Main's input: magnitudes from 1e-3 to 1e3, so that the order of a sum shows in its result.
std::vector<double> input() {
  std::vector<double> x(item_count);
  for (std::size_t i = 0; i < item_count; ++i) {
    x[i] = std::sin(static_cast<double>(i) * 0.7) * std::pow(10.0, static_cast<int>(i % 7) - 3);
  }
  return x;
}

double sequential_sum(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum;
}

/// A reduction state: one process's items until combined, then two running results over all
/// items so far (a sum and the recurrence r = 0.75 r + y), computed strictly left to right.
struct Running {
  bool started = false;
  double sum = 0;
  double recurrence = 0;
  std::vector<double> items;

  void take(const std::vector<double>& values) {
    for (double y : values) {
      sum += y;
      recurrence = 0.75 * recurrence + y;
    }
  }
  /// The results over every item combined so far.
  Running finished() const {
    if (started) return *this;
    Running done;
    done.started = true;
    done.take(items);
    return done;
  }

  template <class Archive>
  void serialize(Archive& archive, unsigned /*version*/) {
    archive& started& sum& recurrence& items;
  }
};

/// reduce's operation: continue `acc` over `next`'s items (acc is every earlier process's).
Running continue_with(Running acc, const Running& next) {
  Running done = acc.finished();
  done.take(next.items);
  return done;
}

/// A map item's result: a short series, different for every item.
double series(int i) {
  double sum = 0;
  for (int k = 1; k <= 50; ++k) sum += std::sin(i * k * 1e-3) / k;
  return sum;
}

std::string format(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

struct Results {
  double scale = 0;
  std::vector<double> transformed;  // on main
  Running reduced;                  // on every process
  std::string text;                 // on main
};

Results compute(Parallelizer& par, const std::vector<double>& data) {
  return par.run([&](Parallelizer& p) {
    Results r;
    r.scale = p.broadcast(p.on_main() ? 1.0 / 3.0 : 0.0);
    const std::vector<double> mine = p.scatter(data);
    std::vector<double> transformed;
    for (double x : mine) transformed.push_back(x * r.scale + std::sqrt(std::fabs(x)));
    r.transformed = p.gather_blocks(transformed);

    Running leaf;
    leaf.items = transformed;
    r.reduced = p.allreduce(leaf, continue_with).finished();

    std::string words;
    for (double y : transformed) words += format(y) + ";";
    r.text = p.reduce(words, [](std::string a, const std::string& b) { return a + b; });
    return r;
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<Parallelizer> made;
  if (argc > 1) made = unipar::make_parallelizer(argv[1]);
  Parallelizer& par = made ? *made : unipar::default_parallelizer();

  const std::vector<double> data = par.on_main() ? input() : std::vector<double>{};
  const Results results = compute(par, data);

  std::vector<int> items(item_count);
  for (std::size_t i = 0; i < item_count; ++i) items[i] = static_cast<int>(i);
  const std::vector<double> mapped = par.map([](int i) { return series(i); }, items);

  if (!par.on_main()) return 0;
  std::fprintf(stderr, "backend=%s nprocs=%d\n", std::string(par.name()).c_str(), par.nprocs());
  const auto& t = results.transformed;
  std::printf("broadcast scale=%s\n", format(results.scale).c_str());
  std::printf("gather_blocks count=%zu sum=%s fnv=%016" PRIx64 " first=%s last=%s\n", t.size(),
              format(sequential_sum(t)).c_str(), fnv1a(t), format(t.at(0)).c_str(),
              format(t.back()).c_str());
  std::printf("allreduce sum=%s recurrence=%s\n", format(results.reduced.sum).c_str(),
              format(results.reduced.recurrence).c_str());
  std::printf("map count=%zu sum=%s fnv=%016" PRIx64 " item0=%s item1=%s item500=%s item999=%s\n",
              mapped.size(), format(sequential_sum(mapped)).c_str(), fnv1a(mapped),
              format(mapped.at(0)).c_str(), format(mapped.at(1)).c_str(),
              format(mapped.at(500)).c_str(), format(mapped.at(999)).c_str());
  std::printf("reduce strings length=%zu fnv=%016" PRIx64 " head=%.40s\n", results.text.size(),
              fnv1a(results.text.data(), results.text.size()), results.text.c_str());
  return 0;
}
