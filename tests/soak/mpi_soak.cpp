/// @file mpi_soak.cpp
/// @brief The MPI backend over many runs (`mpi_soak <runs>` under mpirun): after a warm-up and
/// at the end, every rank measures the communicators alive (counted by the MPI_Comm_dup /
/// MPI_Comm_free wrappers below, which forward to PMPI_), its descriptors and its memory
/// (resources.hpp). Communicators must not grow at all, the rest not past a fixed slack. Every
/// rank checks itself; the job fails when any rank fails (each rank's verdict is reduced on
/// rank 0, which prints the figures).
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "resources.hpp"
#include "unipar/mpi.hpp"
#include "unipar/unipar.hpp"

namespace {

std::atomic<long> communicators_made{0};
std::atomic<long> communicators_freed{0};

long communicators_alive() {
  return communicators_made.load() - communicators_freed.load();
}

}  // namespace

// ---- what creates and frees communicators ------------------------------------------------------

extern "C" {

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm* newcomm) {
  const int code = PMPI_Comm_dup(comm, newcomm);
  if (code == MPI_SUCCESS) ++communicators_made;
  return code;
}

int MPI_Comm_dup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm* newcomm) {
  const int code = PMPI_Comm_dup_with_info(comm, info, newcomm);
  if (code == MPI_SUCCESS) ++communicators_made;
  return code;
}

int MPI_Comm_idup(MPI_Comm comm, MPI_Comm* newcomm, MPI_Request* request) {
  const int code = PMPI_Comm_idup(comm, newcomm, request);
  if (code == MPI_SUCCESS) ++communicators_made;
  return code;
}

int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm* newcomm) {
  const int code = PMPI_Comm_split(comm, color, key, newcomm);
  if (code == MPI_SUCCESS && *newcomm != MPI_COMM_NULL) ++communicators_made;
  return code;
}

int MPI_Comm_split_type(MPI_Comm comm, int split_type, int key, MPI_Info info, MPI_Comm* newcomm) {
  const int code = PMPI_Comm_split_type(comm, split_type, key, info, newcomm);
  if (code == MPI_SUCCESS && *newcomm != MPI_COMM_NULL) ++communicators_made;
  return code;
}

int MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm* newcomm) {
  const int code = PMPI_Comm_create(comm, group, newcomm);
  if (code == MPI_SUCCESS && *newcomm != MPI_COMM_NULL) ++communicators_made;
  return code;
}

int MPI_Comm_free(MPI_Comm* comm) {
  const int code = PMPI_Comm_free(comm);
  if (code == MPI_SUCCESS) ++communicators_freed;
  return code;
}

}  // extern "C"

namespace {

using unipar::Parallelizer;
using unipar_soak::leaks;
using unipar_soak::Resources;
using Clock = std::chrono::steady_clock;

/// One ordinary run: broadcast, allreduce, gather, a message to main, and every tenth run a
/// small map. Returns whether this rank saw the right values.
bool one_run(unipar::MpiParallelizer& par, int round) {
  return par.run([round](Parallelizer& p) {
    const int n = p.nprocs();
    const int seed = p.broadcast(p.on_main() ? round : -1, 0);
    bool ok = seed == round;
    ok = ok && p.allreduce(seed + p.id(), std::plus<>{}) == n * round + n * (n - 1) / 2;
    const std::vector<int> ids = p.gather(p.id(), 0);
    if (p.on_main()) {
      ok = ok && static_cast<int>(ids.size()) == n;
      for (int i = 0; ok && i < n; ++i) ok = ids[static_cast<std::size_t>(i)] == i;
    }
    if (p.id() == n - 1) p.send(std::vector<double>(100, seed), 0, 7);
    if (p.on_main()) ok = ok && p.receive<std::vector<double>>(n - 1, 7).at(99) == seed;
    if (round % 10 == 0) {
      std::vector<int> items(50);
      for (int i = 0; i < 50; ++i) items[static_cast<std::size_t>(i)] = i + round;
      const std::vector<int> results = p.map([](int x) { return 2 * x; }, items);
      if (p.on_main()) {
        ok = ok && results.size() == items.size();
        for (std::size_t i = 0; ok && i < items.size(); ++i) ok = results[i] == 2 * items[i];
      }
    }
    return ok;
  });
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int warm_up = 50;
  int wrong = 0;
  std::string problems;
  long alive_before = 0;
  long alive_after = 0;
  Resources before;
  Resources after;
  double seconds = 0;
  int rank = 0;
  int size = 1;
  {
    unipar::MpiParallelizer par;
    rank = par.id();
    size = par.nprocs();
    try {
      for (int round = 0; round < warm_up; ++round) {
        if (!one_run(par, round)) ++wrong;
      }
      alive_before = communicators_alive();
      before = Resources::take();
      const auto start = Clock::now();
      for (int round = 0; round < runs; ++round) {
        if (!one_run(par, round)) ++wrong;
      }
      seconds = std::chrono::duration<double>(Clock::now() - start).count();
      alive_after = communicators_alive();
      after = Resources::take();
    } catch (const std::exception& e) {
      problems += std::string(" exception: ") + e.what() + ";";
    }
  }
  if (wrong != 0) problems += " " + std::to_string(wrong) + " runs with a wrong result;";
  if (alive_after != alive_before) {
    problems += " communicators alive " + std::to_string(alive_before) + " -> " +
                std::to_string(alive_after) + ";";
  }
  // Children of an MPI rank are Open MPI's business (none here); count the rest.
  before.children.clear();
  after.children.clear();
  problems += leaks(before, after);

  std::printf(
      "rank %d: %d runs of %d ranks in %.2f s (%.1f runs/s); communicators alive %ld -> "
      "%ld (made %ld, freed %ld)\nrank %d: after warm-up: %s\nrank %d: at the end:    %s\n"
      "rank %d: %s\n",
      rank, runs, size, seconds, runs / seconds, alive_before, alive_after,
      communicators_made.load(), communicators_freed.load(), rank, before.summary().c_str(), rank,
      after.summary().c_str(), rank, problems.empty() ? "PASSED" : ("FAILED:" + problems).c_str());
  std::fflush(stdout);
  int failed = problems.empty() ? 0 : 1;
  int failed_anywhere = 0;
  MPI_Allreduce(&failed, &failed_anywhere, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) std::printf("%s on every rank\n", failed_anywhere == 0 ? "PASSED" : "FAILED");
  return failed_anywhere == 0 ? 0 : 1;
}
