/// @file fork_soak_test.cpp
/// @brief The fork backend over many runs: 10^4 runs, 10^3 failed runs, a map of 10^7 items.
/// After a warm-up, and again at the end, the test measures what the process holds
/// (resources.hpp): descriptors, mappings, memory, children, unipar's /dev/shm entries. Nothing
/// may grow past a fixed slack that a leak of one descriptor, one mapping or 1 KiB per run
/// exceeds many times over (SoakFork.ChecksSeeALeak shows that they do).
///
/// Figures (runs per second, the map's time, the measurements) are printed and recorded as test
/// properties; no time is asserted.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "resources.hpp"
#include "unipar/unipar.hpp"

namespace {

using unipar::ForkParallelizer;
using unipar::Parallelizer;
using unipar::WorkerError;
using unipar::WorkerLost;
using unipar_soak::leaks;
using unipar_soak::Resources;
using Clock = std::chrono::steady_clock;

constexpr int processes = 3;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Prints a figure and records it as a property of the test.
void report(const std::string& key, const std::string& value) {
  std::printf("%s: %s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
  ::testing::Test::RecordProperty(key, value);
}

void no_core_dump() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
}

/// One ordinary run: a broadcast, an allreduce, a gather, a message to main. Returns whether
/// main saw the right values.
bool one_run(ForkParallelizer& par, int round) {
  return par.run([round](Parallelizer& p) {
    const int seed = p.broadcast(p.on_main() ? round : -1, 0);
    const int sum = p.allreduce(seed + p.id(), std::plus<>{});
    const std::vector<int> ids = p.gather(p.id(), 0);
    if (p.id() == p.nprocs() - 1) p.send(seed * 2, 0, 7);
    if (!p.on_main()) return true;
    const int doubled = p.receive<int>(p.nprocs() - 1, 7);
    const int n = p.nprocs();
    bool ids_ok = static_cast<int>(ids.size()) == n;
    for (int i = 0; ids_ok && i < n; ++i) ids_ok = ids[static_cast<std::size_t>(i)] == i;
    return seed == round && sum == n * round + n * (n - 1) / 2 && ids_ok && doubled == 2 * round;
  });
}

TEST(SoakFork, TenThousandRunsLeaveNothing) {
  ForkParallelizer par(processes);
  constexpr int warm_up = 200;
  constexpr int runs = 10'000;
  for (int round = 0; round < warm_up; ++round) ASSERT_TRUE(one_run(par, round));
  const Resources before = Resources::take();
  const auto start = Clock::now();
  int wrong = 0;
  for (int round = 0; round < runs; ++round) {
    if (!one_run(par, round)) ++wrong;
  }
  const double elapsed = seconds_since(start);
  const Resources after = Resources::take();
  EXPECT_EQ(wrong, 0) << "runs with a wrong result";
  report("runs", std::to_string(runs) + " runs of " + std::to_string(processes) + " processes in " +
                     std::to_string(elapsed) + " s (" + std::to_string(runs / elapsed) +
                     " runs/s)");
  report("after_warm_up", before.summary());
  report("at_the_end", after.summary());
  EXPECT_EQ(leaks(before, after), "");
}

// ---- failed runs --------------------------------------------------------------------------------

enum class Failure { thrown, exited, killed_itself, killed_by_main };

/// A page shared with the workers: each writes its pid there first, so that main knows the
/// victim's pid even when the failure ends main's first collective.
std::atomic<pid_t>* worker_pids() {
  static auto* page = static_cast<std::atomic<pid_t>*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  return page;
}

/// One failed run: worker `victim` fails the way asked while the others wait in a gather.
/// Returns an empty string when main got exactly the error it should, else what was wrong.
std::string one_failed_run(ForkParallelizer& par, Failure failure, int victim, int round) {
  worker_pids()[victim].store(0);
  pid_t victim_pid = 0;
  try {
    par.run([&](Parallelizer& p) {
      worker_pids()[p.id()].store(getpid());
      // Main learns the victim's pid first, to check the error and (killed_by_main) to kill it.
      const std::vector<pid_t> pids = p.gather(getpid(), 0);
      if (p.on_main() && failure == Failure::killed_by_main) {
        kill(pids[static_cast<std::size_t>(victim)], SIGKILL);
      }
      if (p.id() == victim) {
        switch (failure) {
          case Failure::thrown:
            throw std::runtime_error("failed run " + std::to_string(round));
          case Failure::exited:
            _exit(7);
          case Failure::killed_itself:
            std::signal(SIGKILL, SIG_DFL);
            raise(SIGKILL);
            _exit(111);  // not reached
          case Failure::killed_by_main:
            for (;;) pause();  // until main's SIGKILL arrives
        }
      }
      p.gather(p.id(), 0);
    });
  } catch (const WorkerError& e) {
    victim_pid = worker_pids()[victim].load();
    if (failure != Failure::thrown) return std::string("WorkerError: ") + e.what();
    if (e.process() != victim || e.pid() != victim_pid) return std::string("who: ") + e.what();
    if (e.message() != "failed run " + std::to_string(round))
      return std::string("message: ") + e.what();
    return "";
  } catch (const WorkerLost& e) {
    victim_pid = worker_pids()[victim].load();
    if (failure == Failure::thrown) return std::string("WorkerLost: ") + e.what();
    if (e.process() != victim || e.pid() != victim_pid) return std::string("who: ") + e.what();
    if (failure == Failure::exited && (e.signal() != 0 || e.exit_code() != 7))
      return std::string("exit: ") + e.what();
    if (failure != Failure::exited && e.signal() != SIGKILL)
      return std::string("signal: ") + e.what();
    return "";
  } catch (const std::exception& e) {
    return std::string("another exception: ") + e.what();
  }
  return "nothing was thrown";
}

TEST(SoakFork, ThousandFailedRunsLeaveNothing) {
  no_core_dump();
  ASSERT_NE(worker_pids(), MAP_FAILED);
  ForkParallelizer par(processes);
  constexpr Failure failures[] = {Failure::thrown, Failure::exited, Failure::killed_itself,
                                  Failure::killed_by_main};
  auto failed_run = [&](int round) {
    const Failure failure = failures[round % 4];
    const int victim = 1 + (round / 4) % (processes - 1);
    return one_failed_run(par, failure, victim, round);
  };
  constexpr int warm_up = 40;
  constexpr int runs = 1'000;
  for (int round = 0; round < warm_up; ++round) ASSERT_EQ(failed_run(round), "") << round;
  ASSERT_TRUE(one_run(par, 1));
  const Resources before = Resources::take();
  const auto start = Clock::now();
  int wrong = 0;
  int good_runs_wrong = 0;
  std::string first_wrong;
  for (int round = 0; round < runs; ++round) {
    const std::string problem = failed_run(round);
    if (!problem.empty() && wrong++ == 0) first_wrong = problem;
    // Now and then a run that succeeds: the parallelizer works again after a failure.
    if (round % 50 == 49 && !one_run(par, round)) ++good_runs_wrong;
  }
  const double elapsed = seconds_since(start);
  const Resources after = Resources::take();
  EXPECT_EQ(wrong, 0) << "failed runs that did not throw the right error; the first: "
                      << first_wrong;
  EXPECT_EQ(good_runs_wrong, 0) << "runs after failures with a wrong result";
  report("failed_runs", std::to_string(runs) +
                            " failed runs (throw, _exit(7), SIGKILL itself, SIGKILL by main; " +
                            std::to_string(runs / 50) + " good runs among them) of " +
                            std::to_string(processes) + " processes in " + std::to_string(elapsed) +
                            " s (" + std::to_string(runs / elapsed) + " runs/s)");
  report("after_warm_up", before.summary());
  report("at_the_end", after.summary());
  EXPECT_EQ(leaks(before, after), "");
}

// ---- one large map ------------------------------------------------------------------------------

int mapped(int x) {
  return 3 * x + 1;
}

/// Maps `count` items outside run; returns how many results were wrong.
std::size_t map_and_check(ForkParallelizer& par, int count, double* seconds) {
  std::vector<int> items(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) items[static_cast<std::size_t>(i)] = i;
  const auto start = Clock::now();
  const std::vector<int> results = par.map(mapped, items);
  if (seconds != nullptr) *seconds = seconds_since(start);
  if (results.size() != items.size()) return items.size();
  std::size_t wrong = 0;
  for (int i = 0; i < count; ++i) {
    if (results[static_cast<std::size_t>(i)] != mapped(i)) ++wrong;
  }
  return wrong;
}

TEST(SoakFork, MapOfTenMillionItems) {
  ForkParallelizer par(processes);
  ASSERT_EQ(map_and_check(par, 100'000, nullptr), 0U);
  const Resources before = Resources::take();
  constexpr int count = 10'000'000;
  double seconds = 0;
  const std::size_t wrong = map_and_check(par, count, &seconds);
  const Resources after = Resources::take();
  EXPECT_EQ(wrong, 0U) << "wrong results";
  report("map", std::to_string(count) + " items (int -> int) on " + std::to_string(processes) +
                    " processes in " + std::to_string(seconds) + " s (" +
                    std::to_string(count / seconds / 1e6) + " million items/s)");
  report("after_warm_up", before.summary());
  report("at_the_end", after.summary());
  EXPECT_EQ(leaks(before, after), "");
  // And it still runs.
  EXPECT_TRUE(one_run(par, 3));
}

// ---- the checks themselves: each sees a leak of one resource per run ----------------------------

enum class Leak { descriptor, shared_mapping, file_mapping, heap_kib, child };

TEST(SoakFork, ChecksSeeALeak) {
  ForkParallelizer par(processes);
  for (int round = 0; round < 20; ++round) ASSERT_TRUE(one_run(par, round));
  constexpr int runs = 1'000;
  std::vector<void*> kept;  // the leaked blocks, freed at the end
  for (Leak leak :
       {Leak::descriptor, Leak::shared_mapping, Leak::file_mapping, Leak::heap_kib, Leak::child}) {
    const Resources before = Resources::take();
    std::vector<int> descriptors;
    std::vector<std::pair<void*, std::size_t>> mappings;
    std::vector<pid_t> children;
    for (int round = 0; round < runs; ++round) {
      ASSERT_TRUE(one_run(par, round));
      if (leak == Leak::child && round > 0) continue;  // one child is enough
      switch (leak) {
        case Leak::descriptor:
          descriptors.push_back(dup(STDERR_FILENO));
          break;
        case Leak::shared_mapping:
          mappings.emplace_back(
              mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), 4096);
          break;
        case Leak::file_mapping: {
          const int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
          mappings.emplace_back(mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd, 0), 4096);
          close(fd);
          break;
        }
        case Leak::heap_kib:
          kept.push_back(std::malloc(1024));
          break;
        case Leak::child: {
          const pid_t child = fork();
          if (child == 0) _exit(0);
          children.push_back(child);  // a zombie until reaped below
          break;
        }
      }
    }
    usleep(100'000);  // the child has exited: a zombie
    const std::string found = leaks(before, Resources::take());
    EXPECT_NE(found, "") << "a leak of kind " << static_cast<int>(leak) << " was not seen";
    std::printf("leak %d seen as:%s\n", static_cast<int>(leak), found.c_str());
    for (int fd : descriptors) close(fd);
    for (auto [address, length] : mappings) munmap(address, length);
    for (pid_t child : children) waitpid(child, nullptr, 0);
  }
  for (void* block : kept) std::free(block);
}

}  // namespace
