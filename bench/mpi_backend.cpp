// unipar_bench_mpi: unipar's MPI backend against raw MPI and Boost.MPI, in one program and one run.
//
//   mpirun -n 2 unipar_bench_mpi [all|small|large|map] [--reps N] [--map-reps N] [--cores N]
//   mpirun -n 4 --oversubscribe unipar_bench_mpi all
//
// Every job is done three ways inside the same mpirun job, on the same bytes: with
// unipar::MpiParallelizer ("unipar-mpi"), with plain MPI calls on MPI_COMM_WORLD ("openmpi") and,
// where asked for, with Boost.MPI ("boost-mpi", when built with it). The contenders take turns
// block by block (the order rotates every repetition), so that a slow phase of the machine hits
// all of them alike.
//
// Timing method, the same for every contender: before each repetition an MPI_Barrier; each rank
// then times its own k operations (k = 1 for the large jobs, a few thousand for the 8-byte ones)
// with std::chrono::steady_clock, from leaving the barrier until its own last operation returns;
// the repetition's figure is the MAXIMUM over ranks of that per-rank time (one MPI_Reduce after
// all repetitions, outside the timings), divided by k. One warm-up repetition is not counted;
// the printed "median" (the headline figure) and "best" are over the repetitions.
//
// Jobs that return fresh containers in unipar do the same by hand in raw MPI and Boost.MPI:
// sizes first, then a newly allocated std::vector, then the data. Results are printed on rank 0
// as one JSON line each (read by bench/compare_mpi.py).
#include <mpi.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <unipar/mpi.hpp>
#include <unipar/unipar.hpp>

#ifdef UNIPAR_BENCH_WITH_BOOST_MPI
#include <boost/mpi/collectives/broadcast.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#endif

#include "bench_common.hpp"

namespace {

using Data = std::vector<double>;
using Clock = std::chrono::steady_clock;
/// The map of part d: 64 keys, each a vector of 131072 doubles (1 MiB), 64 MiB in all.
using Table = std::map<std::string, std::vector<double>>;

constexpr std::size_t table_keys = 64;
constexpr std::size_t table_values = 131072;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

struct Options {
  std::string what = "all";
  int reps_small = 21;  // repetitions of the 8-byte blocks
  int reps_large = 9;   // repetitions of the 64 MiB jobs
  int map_reps = 3;     // repetitions of the map job
  int cores = 0;        // cores the job may use (0: the online CPUs)
};

// ---- timing -------------------------------------------------------------------------------------

/// One way of doing the job: `block(k)` calls the operation k times (contest() times it).
struct Contender {
  template <class Op>
  Contender(std::string name, Op op)
      : impl(std::move(name)), block([op](int k) mutable {
          for (int i = 0; i < k; ++i) op();
        }) {}

  std::string impl;
  std::function<void(int)> block;
  std::vector<double> seconds;  // per repetition, this rank's seconds per operation
};

struct Summary {
  double median;
  double best;
};

/// Per repetition the maximum over ranks of `seconds` (on rank 0), then its median and best.
Summary max_over_ranks(const std::vector<double>& seconds) {
  std::vector<double> max(seconds.size());
  MPI_Reduce(seconds.data(), max.data(), static_cast<int>(seconds.size()), MPI_DOUBLE, MPI_MAX, 0,
             MPI_COMM_WORLD);
  std::sort(max.begin(), max.end());
  return {max[max.size() / 2], max.front()};
}

void print_record(const std::string& impl, const std::string& name, std::size_t bytes, int k,
                  double median, double best, std::size_t samples, const std::string& extra = "") {
  std::printf(
      "{\"impl\": \"%s\", \"name\": \"%s\", \"procs\": %d, \"bytes\": %zu, \"ops_per_rep\": %d, "
      "\"seconds_per_op\": %.6e, \"median\": %.6e, \"best\": %.6e, \"samples\": %zu, "
      "\"method\": \"max over ranks per repetition, median over repetitions\"%s}\n",
      impl.c_str(), name.c_str(), world_size(), bytes, k, median, median, best, samples,
      extra.c_str());
  std::fflush(stdout);
}

/// Runs every contender `reps` times (plus one warm-up), in turns, and prints one line each.
void contest(const std::string& name, std::size_t bytes, int reps, int k,
             std::vector<Contender> contenders) {
  const std::size_t n = contenders.size();
  for (int rep = -1; rep < reps; ++rep) {
    for (std::size_t j = 0; j < n; ++j) {
      Contender& c = contenders[(static_cast<std::size_t>(rep + 1) + j) % n];
      MPI_Barrier(MPI_COMM_WORLD);
      const auto start = Clock::now();
      c.block(k);
      const double seconds = bench::seconds_since(start);
      if (rep >= 0) c.seconds.push_back(seconds / k);
    }
  }
  for (const Contender& c : contenders) {
    const Summary summary = max_over_ranks(c.seconds);
    if (world_rank() == 0)
      print_record(c.impl, name, bytes, k, summary.median, summary.best, c.seconds.size());
  }
}

// ---- helpers shared by the raw MPI contenders ---------------------------------------------------

/// Block sizes as unipar's scatter makes them: differ by at most one, larger first.
std::vector<int> block_counts(std::size_t count, int parts) {
  std::vector<int> counts(static_cast<std::size_t>(parts));
  for (int i = 0; i < parts; ++i) {
    const auto block = unipar::detail::block_of(count, parts, i);
    counts[static_cast<std::size_t>(i)] = static_cast<int>(block.size);
  }
  return counts;
}

std::vector<int> displacements(const std::vector<int>& counts) {
  std::vector<int> displs(counts.size(), 0);
  for (std::size_t i = 1; i < counts.size(); ++i) displs[i] = displs[i - 1] + counts[i - 1];
  return displs;
}

/// Root's vector, in a fresh vector on every other rank: the size, then the data.
Data raw_broadcast_fresh(Data& data) {
  std::uint64_t count = data.size();
  MPI_Bcast(&count, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (world_rank() == 0) {
    MPI_Bcast(data.data(), static_cast<int>(count), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return std::move(data);
  }
  Data received(count);
  MPI_Bcast(received.data(), static_cast<int>(count), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return received;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "unipar_bench_mpi: rank %d: wrong result in %s\n", world_rank(), what);
  MPI_Abort(MPI_COMM_WORLD, 2);
  std::abort();
}

// ---- a. 8 bytes ---------------------------------------------------------------------------------

void small_jobs(unipar::Parallelizer& p, const Options& options) {
  const int nprocs = p.nprocs();
  const bool root = p.on_main();
  const int k = nprocs > options.cores ? 1000 : 5000;
  const int reps = options.reps_small;

  double value = 3.5;
  {
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] { value = p.broadcast(value); });
    contenders.emplace_back("openmpi",
                            [&] { MPI_Bcast(&value, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD); });
    contest("broadcast_8B", 8, reps, k, std::move(contenders));
    if (value != 3.5) fail("broadcast_8B");
  }

  {
    const Data spread = root ? Data(static_cast<std::size_t>(nprocs), 1.5) : Data{};
    double mine = 0;
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] {
      const Data block = p.scatter(spread);
      mine = block[0];
    });
    contenders.emplace_back("openmpi", [&] {
      MPI_Scatter(spread.data(), 1, MPI_DOUBLE, &mine, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    });
    contest("scatter_8B", 8, reps, k, std::move(contenders));
    if (mine != 1.5) fail("scatter_8B");
  }

  {
    std::size_t gathered = 0;
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] { gathered = p.gather(value).size(); });
    contenders.emplace_back("openmpi", [&] {
      Data all(root ? static_cast<std::size_t>(nprocs) : 0);  // a fresh vector, as unipar's
      MPI_Gather(&value, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
      gathered = all.size();
    });
    contest("gather_8B", 8, reps, k, std::move(contenders));
    if (gathered != (root ? static_cast<std::size_t>(nprocs) : 0)) fail("gather_8B");
  }
}

// ---- b, c, d. 64 MiB ----------------------------------------------------------------------------

Table make_table() {
  Table table;
  for (std::size_t i = 0; i < table_keys; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "field-%02zu", i);
    table.emplace(key, Data(table_values, static_cast<double>(i)));
  }
  return table;
}

/// The table as flat bytes: for each entry, key length, key, value count, values.
std::vector<char> flatten(const Table& table) {
  std::vector<char> flat;
  auto append = [&flat](const void* data, std::size_t size) {
    const char* bytes = static_cast<const char*>(data);
    flat.insert(flat.end(), bytes, bytes + size);
  };
  for (const auto& [key, values] : table) {
    const std::uint64_t key_size = key.size(), value_count = values.size();
    append(&key_size, sizeof key_size);
    append(key.data(), key.size());
    append(&value_count, sizeof value_count);
    append(values.data(), values.size() * sizeof(double));
  }
  return flat;
}

void large_jobs(unipar::Parallelizer& p, const Options& options) {
  const int nprocs = p.nprocs();
  const bool root = p.on_main();
  const int reps = options.reps_large;
  const std::size_t count = bench::large_count;  // 8M doubles, 64 MiB
  const std::size_t bytes = bench::large_bytes;
#ifdef UNIPAR_BENCH_WITH_BOOST_MPI
  boost::mpi::communicator world;  // attaches MPI_COMM_WORLD
#endif

  {  // b. in place, into a preallocated and touched vector
    Data buffer(count, root ? 2.0 : 0.0);
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] { p.broadcast_inplace(buffer); });
    contenders.emplace_back("openmpi", [&] {
      MPI_Bcast(buffer.data(), static_cast<int>(count), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    });
    contest("broadcast_inplace_64MiB", bytes, reps, 1, std::move(contenders));
    if (buffer.back() != 2.0) fail("broadcast_inplace_64MiB");
  }

  {  // b + c. value form: root moves its vector in, the others get a fresh vector
    Data data = root ? Data(count, 2.0) : Data{};
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] {
      if (root) {
        data = p.broadcast(std::move(data));
      } else {
        const Data received = p.broadcast(Data{});
        if (received.size() != count) fail("broadcast_64MiB");
      }
    });
    contenders.emplace_back("openmpi", [&] {
      if (root) {
        data = raw_broadcast_fresh(data);
      } else {
        Data none;
        const Data received = raw_broadcast_fresh(none);
        if (received.size() != count) fail("broadcast_64MiB");
      }
    });
#ifdef UNIPAR_BENCH_WITH_BOOST_MPI
    contenders.emplace_back("boost-mpi", [&] {
      if (root) {
        boost::mpi::broadcast(world, data, 0);
      } else {
        Data received;
        boost::mpi::broadcast(world, received, 0);
        if (received.size() != count) fail("broadcast_64MiB");
      }
    });
#endif
    contest("broadcast_64MiB", bytes, reps, 1, std::move(contenders));
    if (root && data.size() != count) fail("broadcast_64MiB");
  }

  {  // b. scatter: root's 64 MiB, each rank's block in a fresh vector
    const Data data = root ? Data(count, 2.0) : Data{};
    const std::size_t my_count = unipar::detail::block_of(count, nprocs, p.id()).size;
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] {
      const Data block = p.scatter(data);
      if (block.size() != my_count) fail("scatter_64MiB");
    });
    contenders.emplace_back("openmpi", [&] {
      std::vector<int> counts, displs;
      if (root) {
        counts = block_counts(data.size(), nprocs);
        displs = displacements(counts);
      }
      int mine = 0;
      MPI_Scatter(counts.data(), 1, MPI_INT, &mine, 1, MPI_INT, 0, MPI_COMM_WORLD);
      Data block(static_cast<std::size_t>(mine));
      MPI_Scatterv(data.data(), counts.data(), displs.data(), MPI_DOUBLE, block.data(), mine,
                   MPI_DOUBLE, 0, MPI_COMM_WORLD);
      if (block.size() != my_count) fail("scatter_64MiB");
    });
    contest("scatter_64MiB", bytes, reps, 1, std::move(contenders));
  }

  {  // b. gather_blocks: each rank's 64 MiB / nprocs, concatenated in a fresh vector on root
    const Data block(unipar::detail::block_of(count, nprocs, p.id()).size, 2.0);
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] {
      const Data all = p.gather_blocks(block);
      if (root && all.size() != count) fail("gather_blocks_64MiB");
    });
    contenders.emplace_back("openmpi", [&] {
      const int mine = static_cast<int>(block.size());
      std::vector<int> counts(root ? static_cast<std::size_t>(nprocs) : 0);
      MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
      Data all;
      std::vector<int> displs;
      if (root) {
        displs = displacements(counts);
        all.resize(static_cast<std::size_t>(displs.back() + counts.back()));
      }
      MPI_Gatherv(block.data(), mine, MPI_DOUBLE, all.data(), counts.data(), displs.data(),
                  MPI_DOUBLE, 0, MPI_COMM_WORLD);
      if (root && all.size() != count) fail("gather_blocks_64MiB");
    });
    contest("gather_blocks_64MiB", bytes, reps, 1, std::move(contenders));
  }

  {  // d. a std::map<std::string, std::vector<double>>: 64 keys x 131072 doubles
    Table table = root ? make_table() : Table{};
    // Raw MPI's best case: root already holds the flat bytes, the others a buffer of the right
    // size, allocated and touched beforehand; per repetition, the size then the bytes.
    std::vector<char> flat = root ? flatten(table) : std::vector<char>{};
    std::uint64_t flat_size = flat.size();
    MPI_Bcast(&flat_size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (!root) flat.assign(flat_size, 0);
    auto check = [&](const Table& received) {
      if (received.size() != table_keys || received.rbegin()->second.size() != table_values ||
          received.rbegin()->second.back() != static_cast<double>(table_keys - 1))
        fail("broadcast_map_64MiB");
    };
    std::vector<Contender> contenders;
    contenders.emplace_back("unipar-mpi", [&] {
      if (root) {
        table = p.broadcast(std::move(table));
      } else {
        check(p.broadcast(Table{}));
      }
    });
    contenders.emplace_back("openmpi", [&] {
      std::uint64_t size = flat.size();
      MPI_Bcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
      if (size > flat.size()) fail("broadcast_map_64MiB");
      MPI_Bcast(flat.data(), static_cast<int>(size), MPI_BYTE, 0, MPI_COMM_WORLD);
    });
#ifdef UNIPAR_BENCH_WITH_BOOST_MPI
    contenders.emplace_back("boost-mpi", [&] {
      if (root) {
        boost::mpi::broadcast(world, table, 0);
      } else {
        Table received;
        boost::mpi::broadcast(world, received, 0);
        check(received);
      }
    });
#endif
    contest("broadcast_map_64MiB", flat_size, reps, 1, std::move(contenders));
    if (root) check(table);
  }
}

// ---- e. map over items of uneven cost -----------------------------------------------------------

/// 10^5 items: 10 us each, except 1% (1000 items) that take 1000 us (100x). Layout "front": the
/// slow ones are every 25th item of the first quarter, so a static contiguous split gives the
/// first rank all of them. Layout "spread": every 100th item.
std::vector<double> uneven_items(const std::string& layout) {
  constexpr std::size_t n = 100'000;
  std::vector<double> items(n, 10.0);
  for (std::size_t i = 0; i < n; ++i) {
    const bool slow = layout == "front" ? (i < n / 4 && i % 25 == 0) : (i % 100 == 0);
    if (slow) items[i] = 1000.0;
  }
  return items;
}

void map_job(unipar::Parallelizer& par, const Options& options, const std::string& layout) {
  const int nprocs = world_size();
  const bool root = world_rank() == 0;
  const bool cpu_clock = nprocs > options.cores;
  const std::vector<double> items = uneven_items(layout);  // on every rank
  const auto work = [cpu_clock](const double& microseconds) {
    bench::spin(microseconds, cpu_clock);
    return microseconds;
  };
  double total_us = 0;
  for (double us : items) total_us += us;
  const int workers = std::min(nprocs, options.cores);
  const double ideal = total_us * 1e-6 / workers;
  const std::string name = "map_uneven_" + layout;

  std::vector<double> unipar_seconds, static_seconds;
  for (int rep = 0; rep < options.map_reps; ++rep) {
    {  // unipar's map, outside run: every rank calls it, main gets the results
      MPI_Barrier(MPI_COMM_WORLD);
      const auto start = Clock::now();
      const Data results = par.map(work, items);
      unipar_seconds.push_back(bench::seconds_since(start));
      if (root && (results.size() != items.size() || results[0] != items[0])) fail(name.c_str());
    }
    {  // a static contiguous split with raw MPI, results gathered on rank 0
      MPI_Barrier(MPI_COMM_WORLD);
      const auto start = Clock::now();
      const std::vector<int> counts = block_counts(items.size(), nprocs);
      const std::vector<int> displs = displacements(counts);
      const auto me = static_cast<std::size_t>(world_rank());
      Data mine(static_cast<std::size_t>(counts[me]));
      for (std::size_t i = 0; i < mine.size(); ++i)
        mine[i] = work(items[static_cast<std::size_t>(displs[me]) + i]);
      Data results(root ? items.size() : 0);
      MPI_Gatherv(mine.data(), counts[me], MPI_DOUBLE, results.data(), counts.data(), displs.data(),
                  MPI_DOUBLE, 0, MPI_COMM_WORLD);
      static_seconds.push_back(bench::seconds_since(start));
      if (root && results[0] != items[0]) fail(name.c_str());
    }
  }
  const Summary mapped = max_over_ranks(unipar_seconds);
  const Summary split = max_over_ranks(static_seconds);
  if (!root) return;
  char extra[512];
  std::snprintf(extra, sizeof extra,
                ", \"ideal_seconds\": %.6e, \"total_work_seconds\": %.6e, \"cores\": %d, "
                "\"ideal_divisor\": %d, \"work_clock\": \"%s\", \"items\": %zu, \"layout\": \"%s\"",
                ideal, total_us * 1e-6, options.cores, workers,
                cpu_clock ? "thread CPU time" : "steady clock", items.size(), layout.c_str());
  print_record("unipar-mpi", name, 0, 1, mapped.median, mapped.best, unipar_seconds.size(), extra);
  print_record("openmpi-static", name, 0, 1, split.median, split.best, static_seconds.size(),
               extra);
}

int online_cores() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto number = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "unipar_bench_mpi: %s needs a number\n", arg.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (arg == "--reps") {
      options.reps_small = options.reps_large = std::max(1, number());
    } else if (arg == "--map-reps") {
      options.map_reps = std::max(1, number());
    } else if (arg == "--cores") {
      options.cores = std::max(1, number());
    } else if (arg == "all" || arg == "small" || arg == "large" || arg == "map") {
      options.what = arg;
    } else {
      std::fprintf(stderr,
                   "usage: mpirun -n N unipar_bench_mpi [all|small|large|map] [--reps N] "
                   "[--map-reps N] [--cores N]\n");
      std::exit(2);
    }
  }
  if (options.cores == 0) options.cores = online_cores();
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  // The program initializes MPI itself (the level MpiParallelizer would ask for), so that the raw
  // and Boost.MPI contenders share MPI_COMM_WORLD with it; it then finalizes MPI itself too.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  const Options options = parse(argc, argv);
  if (world_size() < 2) {
    if (world_rank() == 0) std::fprintf(stderr, "unipar_bench_mpi: run with mpirun -n 2 or more\n");
    MPI_Finalize();
    return 1;
  }
  if (world_rank() == 0) {
    std::printf(
        "{\"info\": \"unipar_bench_mpi\", \"procs\": %d, \"cores\": %d, \"boost_mpi\": %s}\n",
        world_size(), options.cores,
#ifdef UNIPAR_BENCH_WITH_BOOST_MPI
        "true"
#else
        "false"
#endif
    );
    std::fflush(stdout);
  }
  int status = 0;
  try {
    unipar::MpiParallelizer par;  // MPI_COMM_WORLD, duplicated privately
    const bool all = options.what == "all";
    if (all || options.what == "small") {
      par.run([&](unipar::Parallelizer& p) { small_jobs(p, options); });
    }
    if (all || options.what == "large") {
      par.run([&](unipar::Parallelizer& p) { large_jobs(p, options); });
    }
    if (all || options.what == "map") {
      map_job(par, options, "front");
      map_job(par, options, "spread");
    }
  } catch (const unipar::Error& e) {
    std::fprintf(stderr, "unipar_bench_mpi: rank %d: %s\n", world_rank(), e.what());
    status = 1;
  }
  if (status != 0) MPI_Abort(MPI_COMM_WORLD, status);
  MPI_Finalize();
  return status;
}
