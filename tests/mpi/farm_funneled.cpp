/// @file farm_funneled.cpp
/// @brief The task farm when the program initialized MPI itself with MPI_THREAD_FUNNELED:
/// no thread but the main one may call MPI, so rank 0 has no dispatcher thread; it dispatches
/// and computes no item (with one rank, it computes every item alone).
///
/// Run under `mpirun -n N`: `map` and `map_each` (ordered) over 200 items, outside and inside
/// `run`. Rank 0 checks every result and prints
///   `rank 0: funneled serialized_threads=0 map=ok map_each_ordered=ok items_on_rank_0=K/200`
/// (K: the items rank 0 computed in the map outside run, 0 when N > 1), exiting with 0; on a
/// wrong result it prints `rank R: wrong ...` and exits with 1; on an exception,
/// `rank R: exception ...` and 2.
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "unipar/mpi.hpp"
#include "unipar/unipar.hpp"

namespace {

constexpr int count = 200;

struct Result {
  long long value = 0;
  int rank = -1;
};

long long expected(int i) {
  return static_cast<long long>(i) * i + 7;
}

/// Checks a whole result list on rank 0; returns an empty string or what is wrong.
std::string check(const std::vector<Result>& results, int nprocs) {
  if (results.size() != static_cast<std::size_t>(count)) {
    return "size " + std::to_string(results.size());
  }
  for (int i = 0; i < count; ++i) {
    const Result& r = results[static_cast<std::size_t>(i)];
    if (r.value != expected(i)) return "value of item " + std::to_string(i);
    if (r.rank < 0 || r.rank >= nprocs) return "rank of item " + std::to_string(i);
  }
  return {};
}

int items_on_rank_0(const std::vector<Result>& results) {
  int on_zero = 0;
  for (const Result& r : results) on_zero += r.rank == 0 ? 1 : 0;
  return on_zero;
}

int run_checks(unipar::MpiParallelizer& par) {
  const int rank = par.id();
  const int nprocs = par.nprocs();
  std::vector<int> items(count);
  for (int i = 0; i < count; ++i) items[static_cast<std::size_t>(i)] = i;
  auto f = [&par](int i) { return Result{expected(i), par.id()}; };

  const bool serialized = par.capabilities().serialized_threads;

  // map, outside run.
  const std::vector<Result> mapped = par.map(f, items);

  // map_each, ordered, outside run.
  std::vector<Result> each(count);
  std::vector<std::size_t> order;
  par.map_each(f, items,
               [&](std::size_t index, Result&& r) {
                 order.push_back(index);
                 each[index] = r;
               },
               {.ordered = true});

  // Both inside run, with main's items only.
  struct Inside {
    std::vector<Result> mapped;
    std::vector<Result> each;
    std::vector<std::size_t> order;
  };
  const Inside inside = par.run([&](unipar::Parallelizer& p) {
    Inside out;
    const std::vector<int> mine = p.on_main() ? items : std::vector<int>{};
    out.mapped = p.map(f, mine, {.chunk = 3});
    out.each.resize(count);
    p.map_each(f, mine,
               [&](std::size_t index, Result&& r) {
                 out.order.push_back(index);
                 out.each[index] = r;
               },
               {.ordered = true});
    return out;
  });

  if (rank != 0) {
    // Workers get nothing.
    if (!mapped.empty() || !order.empty() || !inside.mapped.empty() || !inside.order.empty()) {
      std::printf("rank %d: wrong: a worker got results\n", rank);
      return 1;
    }
    return 0;
  }
  std::string wrong;
  if (serialized) wrong = "serialized_threads is true: MPI was not left at MPI_THREAD_FUNNELED";
  if (wrong.empty()) {
    if (const auto e = check(mapped, nprocs); !e.empty()) wrong = "map: " + e;
  }
  if (wrong.empty()) {
    if (const auto e = check(each, nprocs); !e.empty()) wrong = "map_each: " + e;
  }
  if (wrong.empty()) {
    if (const auto e = check(inside.mapped, nprocs); !e.empty()) wrong = "map inside run: " + e;
  }
  if (wrong.empty()) {
    if (const auto e = check(inside.each, nprocs); !e.empty()) wrong = "map_each inside run: " + e;
  }
  for (const std::vector<std::size_t>* o : {&std::as_const(order), &inside.order}) {
    if (!wrong.empty()) break;
    if (o->size() != static_cast<std::size_t>(count)) wrong = "map_each: delivery count";
    for (std::size_t i = 0; wrong.empty() && i < o->size(); ++i) {
      if ((*o)[i] != i) wrong = "map_each: not in input order at " + std::to_string(i);
    }
  }
  // Rank 0 only dispatches when there are workers: it computes nothing in any of the calls.
  if (wrong.empty() && nprocs > 1) {
    for (const std::vector<Result>* r :
         {&mapped, &std::as_const(each), &inside.mapped, &inside.each}) {
      if (items_on_rank_0(*r) != 0) wrong = "rank 0 computed items without a dispatcher thread";
    }
  }
  if (!wrong.empty()) {
    std::printf("rank 0: wrong: %s\n", wrong.c_str());
    return 1;
  }
  std::printf(
      "rank 0: funneled serialized_threads=%d map=ok map_each_ordered=ok "
      "items_on_rank_0=%d/%d\n",
      serialized ? 1 : 0, items_on_rank_0(mapped), count);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int code = 0;
  {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    try {
      unipar::MpiParallelizer par;  // MPI is initialized: it keeps the program's thread level
      code = run_checks(par);
    } catch (const std::exception& e) {
      std::printf("rank %d: exception %s\n", rank, e.what());
      code = 2;
    }
    std::fflush(stdout);
  }
  MPI_Finalize();
  return code;
}
