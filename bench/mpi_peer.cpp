// unipar_bench_mpi_peer: the same jobs as unipar_bench_fork, written with plain Open MPI calls.
//
//   mpirun -n 2 unipar_bench_mpi_peer all
//   mpirun -n 4 unipar_bench_mpi_peer broadcast_gather
//   mpirun -n 2 unipar_bench_mpi_peer rss
//   mpirun -n 2 unipar_bench_mpi_peer sweep [MIN_BYTES [MAX_BYTES]]
//                      MPI_Send/MPI_Recv and MPI_Bcast of every power of two from 8 B to 64 MiB
//                      (unipar_bench_fork sweep; not part of "all")
//
// Jobs that return fresh vectors in unipar do the same here: sizes first, then the data into a
// newly allocated std::vector.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.hpp"

namespace {

using bench::Samples;
using Data = std::vector<double>;

const std::string impl = "openmpi";

int rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

/// As in unipar_bench_fork: barrier, `iterations` operations, barrier; the best block wins.
template <class Op>
Samples time_blocks(int blocks, int iterations, Op&& op) {
  Samples samples;
  for (int block = -1; block < blocks; ++block) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    for (int i = 0; i < iterations; ++i) op();
    MPI_Barrier(MPI_COMM_WORLD);
    if (block >= 0) samples.seconds.push_back((MPI_Wtime() - start) / iterations);
  }
  // Rank 0's timings are the ones reported.
  return samples;
}

void report(const std::string& name, const Samples& samples, std::size_t bytes) {
  if (rank() == 0) bench::print_result(impl, name, samples, bytes, size());
}

/// Block sizes as unipar's scatter makes them: differ by at most one, larger first.
std::vector<int> block_counts(std::size_t count, int parts) {
  std::vector<int> counts(static_cast<std::size_t>(parts));
  for (int i = 0; i < parts; ++i) {
    counts[static_cast<std::size_t>(i)] =
        static_cast<int>(count / static_cast<std::size_t>(parts) +
                         (static_cast<std::size_t>(i) < count % static_cast<std::size_t>(parts)));
  }
  return counts;
}

std::vector<int> displacements(const std::vector<int>& counts) {
  std::vector<int> displs(counts.size(), 0);
  for (std::size_t i = 1; i < counts.size(); ++i) displs[i] = displs[i - 1] + counts[i - 1];
  return displs;
}

/// Ping-pong of `count` elements at `data` between ranks 0 and 1; the one-way time (round trip
/// divided by two).
Samples ping_pong(void* data, int count, MPI_Datatype type, int blocks, int iterations) {
  Samples round_trip = time_blocks(blocks, iterations, [&] {
    if (rank() == 0) {
      MPI_Send(data, count, type, 1, 0, MPI_COMM_WORLD);
      MPI_Recv(data, count, type, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank() == 1) {
      MPI_Recv(data, count, type, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(data, count, type, 0, 0, MPI_COMM_WORLD);
    }
  });
  for (double& s : round_trip.seconds) s /= 2;
  return round_trip;
}

void send_receive_latency() {
  std::uint64_t value = 1;
  report("send_receive_8B", ping_pong(&value, 1, MPI_UINT64_T, 7, 20000), 8);
}

/// As unipar_bench_fork sweep: for every power of two from `min_bytes` to `max_bytes`, a
/// ping-pong of that many bytes of doubles and an MPI_Bcast into a preallocated, touched buffer;
/// about 64 MiB per timed block (at most 20000 operations).
void sweep(std::size_t min_bytes, std::size_t max_bytes) {
  for (std::size_t bytes = sizeof(double); bytes <= max_bytes; bytes *= 2) {
    if (bytes < min_bytes) continue;
    const int iterations =
        static_cast<int>(std::clamp<std::size_t>(bench::large_bytes / bytes, 1, 20000));
    Data buffer(bytes / sizeof(double), 1.0);
    const int count = static_cast<int>(buffer.size());
    report("sweep_send_receive", ping_pong(buffer.data(), count, MPI_DOUBLE, 5, iterations), bytes);
    const Samples samples = time_blocks(
        5, iterations, [&] { MPI_Bcast(buffer.data(), count, MPI_DOUBLE, 0, MPI_COMM_WORLD); });
    report("sweep_broadcast_inplace", samples, bytes);
  }
}

void broadcast_gather_small() {
  const int iterations = size() > 4 ? 2000 : 20000;
  std::uint64_t value = 7;
  const Samples samples = time_blocks(7, iterations, [&] {
    MPI_Bcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    std::vector<std::uint64_t> all(rank() == 0 ? static_cast<std::size_t>(size()) : 0);
    MPI_Gather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  });
  report("broadcast_gather_8B", samples, 8);
}

void broadcast_inplace_large() {
  Data buffer(bench::large_count, 1.0);
  const Samples samples = time_blocks(10, 1, [&] {
    MPI_Bcast(buffer.data(), static_cast<int>(buffer.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  });
  report("broadcast_inplace_64MiB", samples, bench::large_bytes);
}

/// Root's vector, in a fresh vector on every other rank: the size, then the data.
Data broadcast_fresh(Data& data) {
  std::uint64_t count = data.size();
  MPI_Bcast(&count, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (rank() == 0) {
    MPI_Bcast(data.data(), static_cast<int>(count), MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return std::move(data);
  }
  Data received(count);
  MPI_Bcast(received.data(), static_cast<int>(count), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return received;
}

void broadcast_value_large() {
  Data data = rank() == 0 ? Data(bench::large_count, 1.0) : Data{};
  const Samples samples = time_blocks(10, 1, [&] {
    if (rank() == 0) {
      data = broadcast_fresh(data);
    } else {
      Data none;
      const Data received = broadcast_fresh(none);
      if (received.size() != bench::large_count) std::abort();
    }
  });
  report("broadcast_64MiB", samples, bench::large_bytes);
}

void scatter_large() {
  const Data data = rank() == 0 ? Data(bench::large_count, 1.0) : Data{};
  const Samples samples = time_blocks(10, 1, [&] {
    std::vector<int> counts, displs;
    if (rank() == 0) {
      counts = block_counts(data.size(), size());
      displs = displacements(counts);
    }
    int mine = 0;
    MPI_Scatter(counts.data(), 1, MPI_INT, &mine, 1, MPI_INT, 0, MPI_COMM_WORLD);
    Data block(static_cast<std::size_t>(mine));
    MPI_Scatterv(data.data(), counts.data(), displs.data(), MPI_DOUBLE, block.data(), mine,
                 MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (block.empty()) std::abort();
  });
  report("scatter_64MiB", samples, bench::large_bytes);
}

void gather_blocks_large() {
  const Data block(static_cast<std::size_t>(
                       block_counts(bench::large_count, size())[static_cast<std::size_t>(rank())]),
                   1.0);
  const Samples samples = time_blocks(10, 1, [&] {
    const int mine = static_cast<int>(block.size());
    std::vector<int> counts(rank() == 0 ? static_cast<std::size_t>(size()) : 0);
    MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    Data all;
    std::vector<int> displs;
    if (rank() == 0) {
      displs = displacements(counts);
      all.resize(static_cast<std::size_t>(displs.back() + counts.back()));
    }
    MPI_Gatherv(block.data(), mine, MPI_DOUBLE, all.data(), counts.data(), displs.data(),
                MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank() == 0 && all.size() != bench::large_count) std::abort();
  });
  report("gather_blocks_64MiB", samples, bench::large_bytes);
}

/// Peak RSS of every rank around a 64 MiB broadcast into a fresh vector.
void broadcast_rss() {
  const long baseline = bench::current_rss_kib();
  Data data = rank() == 0 ? Data(bench::large_count, 1.0) : Data{};
  data = broadcast_fresh(data);
  const long peak = bench::peak_rss_kib();
  std::vector<long> baselines(static_cast<std::size_t>(size())), peaks(baselines.size());
  MPI_Gather(&baseline, 1, MPI_LONG, baselines.data(), 1, MPI_LONG, 0, MPI_COMM_WORLD);
  MPI_Gather(&peak, 1, MPI_LONG, peaks.data(), 1, MPI_LONG, 0, MPI_COMM_WORLD);
  if (rank() == 0)
    bench::print_rss(impl, "broadcast_64MiB_rss", bench::large_bytes, baselines, peaks);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const std::string op = argc > 1 ? argv[1] : "all";
  const bool all = op == "all";
  if (size() < 2) {
    if (rank() == 0) std::fprintf(stderr, "unipar_bench_mpi_peer: run with mpirun -n 2 or more\n");
    MPI_Finalize();
    return 1;
  }
  if ((all || op == "latency") && size() == 2) send_receive_latency();
  if (all || op == "broadcast_gather") broadcast_gather_small();
  if (all || op == "broadcast_inplace") broadcast_inplace_large();
  if (all || op == "broadcast") broadcast_value_large();
  if (all || op == "scatter") scatter_large();
  if (all || op == "gather_blocks") gather_blocks_large();
  if (op == "rss") broadcast_rss();
  if (op == "sweep") {
    const auto bytes_arg = [&](int i, std::size_t otherwise) {
      return argc > i ? static_cast<std::size_t>(std::strtoull(argv[i], nullptr, 10)) : otherwise;
    };
    sweep(bytes_arg(2, 8), bytes_arg(3, bench::large_bytes));
  }
  MPI_Finalize();
  return 0;
}
