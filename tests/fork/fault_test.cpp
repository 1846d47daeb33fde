/// @file fault_test.cpp
/// @brief The fork backend's failure contract: a worker that throws, aborts, exits, is killed
/// or crashes, wherever main waits for it, makes `run` / `map` throw the right error on main
/// (WorkerError / WorkerLost with the worker, its pid, the signal or exit code, the map item);
/// afterwards no child process and no /dev/shm entry is left and the parallelizer works again.
///
/// These tests construct ForkParallelizer themselves (they are fork-specific) and never assert
/// timings: the time to report is only recorded as a test property.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "left_behind.hpp"
#include "unipar/detail/checkpoint.hpp"
#include "unipar/unipar.hpp"

namespace {

using unipar::ForkParallelizer;
using unipar::Parallelizer;
using unipar::WorkerError;
using unipar::WorkerLost;
using Clock = std::chrono::steady_clock;

// ---- what a run may leave behind ----------------------------------------------------------------

bool child_signal_is_default() {
  struct sigaction action {};
  sigaction(SIGCHLD, nullptr, &action);
  return action.sa_handler == SIG_DFL;
}

// ---- shared notes from the workers --------------------------------------------------------------

/// A page shared with every process forked from here: workers write their pids into it.
struct Notes {
  std::atomic<pid_t> pids[16];
  std::atomic<pid_t> failing_pid;
  std::atomic<int> deaths;       // MapOptions::retries tests: workers that killed themselves
  std::atomic<int> deaths_seen;  // ... and how many of those main has waited for
};

Notes& notes() {
  static Notes* page = [] {
    void* memory =
        mmap(nullptr, sizeof(Notes), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) std::abort();
    return new (memory) Notes{};
  }();
  return *page;
}

void clear_notes() {
  for (auto& pid : notes().pids) pid.store(0);
  notes().failing_pid.store(0);
  notes().deaths.store(0);
  notes().deaths_seen.store(0);
}

/// Remembers unipar's /dev/shm entries and the anonymous shared mappings when made; `check()`
/// says whether anything was left since.
class LeftBehind {
 public:
  LeftBehind() : shm_(unipar_test::unipar_shm_entries()) {
    (void)notes();  // the tests' own shared page exists before the mappings are counted
    mappings_ = unipar_test::anonymous_shared_mappings();
    shared_mappings_ = unipar_test::unipar_shared_mappings();
    shared_descriptors_ = unipar_test::unipar_shared_descriptors();
  }

  ::testing::AssertionResult check() const {
    const auto children = unipar_test::children_of_this_process();
    std::string problems;
    for (pid_t child : children) problems += " child " + std::to_string(child) + ";";
    for (const auto& name : unipar_test::unipar_shm_entries()) {
      if (!shm_.contains(name)) problems += " /dev/shm/" + name + ";";
    }
    const int mappings = unipar_test::anonymous_shared_mappings();
    if (mappings > mappings_) {
      problems += " " + std::to_string(mappings - mappings_) + " shared mapping(s);";
    }
    const int shared = unipar_test::unipar_shared_mappings();
    if (shared > shared_mappings_) {
      problems += " " + std::to_string(shared - shared_mappings_) + " shared object mapping(s);";
    }
    const int descriptors = unipar_test::unipar_shared_descriptors();
    if (descriptors > shared_descriptors_) {
      problems +=
          " " + std::to_string(descriptors - shared_descriptors_) + " shared object descriptor(s);";
    }
    if (!child_signal_is_default()) problems += " the SIGCHLD handler was not restored;";
    if (problems.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "left behind:" << problems;
  }

 private:
  std::set<std::string> shm_;
  int mappings_ = 0;
  int shared_mappings_ = 0;
  int shared_descriptors_ = 0;
};

// ---- how a worker fails -------------------------------------------------------------------------

enum class Failure { thrown, aborted, exited, killed, segfault };

std::string name_of(Failure failure) {
  switch (failure) {
    case Failure::thrown:
      return "throws";
    case Failure::aborted:
      return "aborts";
    case Failure::exited:
      return "exits3";
    case Failure::killed:
      return "SIGKILL";
    case Failure::segfault:
      return "SIGSEGV";
  }
  return "?";
}

void no_core_dump() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
}

/// Dies by `signal` with its default action, even where a sanitizer or a debugger installed a
/// handler, and without writing a core file.
[[noreturn]] void die_by(int signal) {
  no_core_dump();
  prctl(PR_SET_DUMPABLE, 0);
  std::signal(signal, SIG_DFL);
  raise(signal);
  _exit(112);  // not reached
}

/// Fails the calling process the way asked; `what` goes into the message of a thrown exception.
void fail_now(Failure failure, const std::string& what) {
  notes().failing_pid.store(getpid());
  switch (failure) {
    case Failure::thrown:
      throw std::runtime_error("boom " + what);
    case Failure::aborted:
      no_core_dump();
      prctl(PR_SET_DUMPABLE, 0);
      std::signal(SIGABRT, SIG_DFL);
      std::abort();
    case Failure::exited:
      _exit(3);
    case Failure::killed:
      die_by(SIGKILL);
    case Failure::segfault:
      die_by(SIGSEGV);
  }
  _exit(111);  // not reached
}

/// Checks that `error` is what a worker failing with `failure` must produce on main.
::testing::AssertionResult is_expected_failure(const std::exception_ptr& error, Failure failure,
                                               std::optional<int> worker, pid_t pid,
                                               const std::string& what,
                                               std::optional<std::size_t> item) {
  if (!error) return ::testing::AssertionFailure() << "nothing was thrown";
  try {
    std::rethrow_exception(error);
  } catch (const WorkerError& e) {
    if (failure != Failure::thrown)
      return ::testing::AssertionFailure() << "WorkerError: " << e.what();
    if (worker && e.process() != *worker)
      return ::testing::AssertionFailure() << "worker: " << e.what();
    if (e.pid() != pid) return ::testing::AssertionFailure() << "pid " << pid << ": " << e.what();
    if (e.type_name().find("runtime_error") == std::string::npos) {
      return ::testing::AssertionFailure() << "type_name: " << e.what();
    }
    if (e.message() != "boom " + what)
      return ::testing::AssertionFailure() << "message: " << e.what();
    if (e.item() != item) return ::testing::AssertionFailure() << "item: " << e.what();
    if (e.host().empty()) return ::testing::AssertionFailure() << "no host: " << e.what();
    return ::testing::AssertionSuccess() << e.what();
  } catch (const WorkerLost& e) {
    if (failure == Failure::thrown)
      return ::testing::AssertionFailure() << "WorkerLost: " << e.what();
    if (worker && e.process() != *worker)
      return ::testing::AssertionFailure() << "worker: " << e.what();
    if (e.pid() != pid) return ::testing::AssertionFailure() << "pid " << pid << ": " << e.what();
    const int expected_signal = failure == Failure::aborted    ? SIGABRT
                                : failure == Failure::killed   ? SIGKILL
                                : failure == Failure::segfault ? SIGSEGV
                                                               : 0;
    if (e.signal() != expected_signal) {
      return ::testing::AssertionFailure()
             << "signal, expected " << expected_signal << ": " << e.what();
    }
    if (failure == Failure::exited && e.exit_code() != 3) {
      return ::testing::AssertionFailure() << "exit code: " << e.what();
    }
    return ::testing::AssertionSuccess() << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure()
           << "other exception " << typeid(e).name() << ": " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "a non-std exception";
  }
}

/// Keeps core dumps of the crashing workers off the disk.
class NoCoreDumps : public ::testing::Environment {
 public:
  void SetUp() override { no_core_dump(); }
};
[[maybe_unused]] auto* const no_core_dumps = ::testing::AddGlobalTestEnvironment(new NoCoreDumps);

// ---- where main waits for the failing worker
// ------------------------------------------------------

enum class WaitPoint { receive, send_large, broadcast, gather, barrier, join, map };

std::string name_of(WaitPoint point) {
  switch (point) {
    case WaitPoint::receive:
      return "receive";
    case WaitPoint::send_large:
      return "send_large";
    case WaitPoint::broadcast:
      return "broadcast";
    case WaitPoint::gather:
      return "gather";
    case WaitPoint::barrier:
      return "barrier";
    case WaitPoint::join:
      return "join";
    case WaitPoint::map:
      return "map";
  }
  return "?";
}

/// A worker about to fail lets main reach its blocking call first.
void pause_briefly() {
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

/// (failure, wait point, nprocs, victim: 0 means the last process)
using FaultCase = std::tuple<Failure, WaitPoint, int, int>;

class Fault : public ::testing::TestWithParam<FaultCase> {};

/// Runs the SPMD scenario; the victim fails while main waits at `point`.
void run_scenario(ForkParallelizer& par, Failure failure, WaitPoint point, int victim) {
  par.run([&](Parallelizer& p) {
    notes().pids[p.id()].store(getpid());
    if (p.id() == victim) {
      pause_briefly();
      fail_now(failure, "from worker " + std::to_string(p.id()));
    }
    switch (point) {
      case WaitPoint::receive:
        if (p.on_main()) p.receive<int>(victim, 5);
        break;
      case WaitPoint::send_large:  // 32 MiB: more than a channel holds
        if (p.on_main()) p.send(std::vector<double>(std::size_t{4} << 20, 1.0), victim, 5);
        break;
      case WaitPoint::broadcast:
        p.broadcast(p.id(), victim);
        break;
      case WaitPoint::gather:
        p.gather(p.id(), 0);
        break;
      case WaitPoint::barrier:
        p.barrier();
        break;
      case WaitPoint::join:  // main's function returns at once
      case WaitPoint::map:
        break;
    }
  });
}

// Set by the map function when main itself processed the failing item (then nothing fails).
bool main_took_failing_item = false;

TEST_P(Fault, MainGetsTheWorkersFailureAndNothingIsLeft) {
  // Plain variables rather than structured bindings: lambdas below capture them.
  const Failure failure = std::get<0>(GetParam());
  const WaitPoint point = std::get<1>(GetParam());
  const int nprocs = std::get<2>(GetParam());
  const int victim_choice = std::get<3>(GetParam());
  const int victim = victim_choice == 0 ? nprocs - 1 : victim_choice;
  const LeftBehind left_behind;
  ForkParallelizer par(nprocs);
  clear_notes();

  std::exception_ptr error;
  std::optional<std::size_t> item;
  std::optional<int> expected_worker = victim;
  std::string what = "from worker " + std::to_string(victim);
  const auto start = Clock::now();
  if (point != WaitPoint::map) {
    try {
      run_scenario(par, failure, point, victim);
    } catch (...) {
      error = std::current_exception();
    }
  } else {
    // Outside run. Items cost ~2 ms so that main takes one at a time; the failing item must land
    // on a worker, so try again in the rare case main took it itself.
    constexpr std::size_t failing_item = 21;
    std::vector<int> items(40);
    for (int i = 0; i < 40; ++i) items[static_cast<std::size_t>(i)] = i;
    const pid_t main_pid = getpid();
    auto f = [failure, main_pid](int i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (static_cast<std::size_t>(i) == failing_item) {
        if (getpid() == main_pid) {
          main_took_failing_item = true;
        } else {
          fail_now(failure, "on item " + std::to_string(i));
        }
      }
      return i * 2;
    };
    for (int attempt = 0; attempt < 20 && !error; ++attempt) {
      main_took_failing_item = false;
      try {
        par.map(f, items);
        if (!main_took_failing_item) ADD_FAILURE() << "map succeeded though a worker failed";
      } catch (...) {
        error = std::current_exception();
      }
    }
    item = failing_item;
    expected_worker.reset();  // whichever worker took the item
    what = "on item " + std::to_string(failing_item);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  RecordProperty("seconds_to_error", std::to_string(seconds));

  const pid_t failing_pid =
      point == WaitPoint::map ? notes().failing_pid.load() : notes().pids[victim].load();
  EXPECT_TRUE(is_expected_failure(error, failure, expected_worker, failing_pid, what,
                                  failure == Failure::thrown ? item : std::nullopt));
  if (point == WaitPoint::map && error) {
    // Any worker may have taken the item; it is named, and it is not main.
    try {
      std::rethrow_exception(error);
    } catch (const WorkerError& e) {
      EXPECT_GE(e.process(), 1);
      EXPECT_LT(e.process(), nprocs);
    } catch (const WorkerLost& e) {
      EXPECT_GE(e.process(), 1);
      EXPECT_LT(e.process(), nprocs);
    } catch (...) {
    }
  }
  EXPECT_TRUE(left_behind.check());

  // The parallelizer is usable again.
  EXPECT_EQ(par.run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }), nprocs);
  EXPECT_EQ(par.map([](int x) { return x + 1; }, std::vector<int>{1, 2, 3}),
            (std::vector<int>{2, 3, 4}));
  EXPECT_TRUE(left_behind.check());
}

std::string fault_case_name(const ::testing::TestParamInfo<FaultCase>& info) {
  const auto [failure, point, nprocs, victim] = info.param;
  return name_of(failure) + "_" + name_of(point) + "_" + std::to_string(nprocs) + "procs_" +
         (victim == 0 ? std::string("last") : "worker" + std::to_string(victim));
}

const auto all_failures = ::testing::Values(Failure::thrown, Failure::aborted, Failure::exited,
                                            Failure::killed, Failure::segfault);

INSTANTIATE_TEST_SUITE_P(
    LastWorker, Fault,
    ::testing::Combine(all_failures,
                       ::testing::Values(WaitPoint::receive, WaitPoint::send_large,
                                         WaitPoint::broadcast, WaitPoint::gather,
                                         WaitPoint::barrier, WaitPoint::join, WaitPoint::map),
                       ::testing::Values(2, 3, 4), ::testing::Values(0)),
    fault_case_name);

INSTANTIATE_TEST_SUITE_P(FirstWorker, Fault,
                         ::testing::Combine(all_failures,
                                            ::testing::Values(WaitPoint::broadcast,
                                                              WaitPoint::gather,
                                                              WaitPoint::barrier),
                                            ::testing::Values(3, 4), ::testing::Values(1)),
                         fault_case_name);

// ---- a worker waiting on another worker
// -----------------------------------------------------------

using ChainCase = std::tuple<Failure, int>;
class WorkerChain : public ::testing::TestWithParam<ChainCase> {};

TEST_P(WorkerChain, MainGetsTheFailureOfTheWorkerThatFailedFirst) {
  const Failure failure = std::get<0>(GetParam());
  const int nprocs = std::get<1>(GetParam());
  const LeftBehind left_behind;
  ForkParallelizer par(nprocs);
  clear_notes();
  std::exception_ptr error;
  try {
    par.run([failure](Parallelizer& p) {
      notes().pids[p.id()].store(getpid());
      if (p.id() == 2) {
        pause_briefly();
        fail_now(failure, "from worker 2");
      }
      if (p.id() == 1) p.receive<int>(2, 1);  // 1 waits for 2
      if (p.on_main()) p.receive<int>(1, 1);  // main waits for 1
    });
  } catch (...) {
    error = std::current_exception();
  }
  EXPECT_TRUE(is_expected_failure(error, failure, 2, notes().pids[2].load(), "from worker 2",
                                  std::nullopt));
  EXPECT_TRUE(left_behind.check());
  EXPECT_EQ(par.run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }), nprocs);
}

std::string chain_case_name(const ::testing::TestParamInfo<ChainCase>& param) {
  return name_of(std::get<0>(param.param)) + "_" + std::to_string(std::get<1>(param.param)) +
         "procs";
}

INSTANTIATE_TEST_SUITE_P(OneWaitsForTwo, WorkerChain,
                         ::testing::Combine(all_failures, ::testing::Values(3, 4)),
                         chain_case_name);

// ---- main's own function fails ------------------------------------------------------------------

struct NotAStdException {
  int code;
};

enum class WorkersWait { receive, barrier, broadcast, scatter, map };

using MainCase = std::tuple<WorkersWait, int>;
class MainFails : public ::testing::TestWithParam<MainCase> {};

void workers_wait(Parallelizer& p, WorkersWait where) {
  switch (where) {
    case WorkersWait::receive:
      p.receive<int>(0, 1);
      break;
    case WorkersWait::barrier:
      p.barrier();
      break;
    case WorkersWait::broadcast:
      p.broadcast(0, 0);
      break;
    case WorkersWait::scatter:
      p.scatter(std::vector<int>{}, 0);
      break;
    case WorkersWait::map:
      p.map([](int x) { return x; }, std::vector<int>{});
      break;
  }
}

/// Main fails with `error` while the workers wait at `where`.
template <class E>
void main_throws(ForkParallelizer& par, WorkersWait where, const E& error) {
  par.run([&](Parallelizer& p) {
    if (!p.on_main()) return workers_wait(p, where);
    pause_briefly();
    throw error;
  });
}

TEST_P(MainFails, MainsOwnExceptionComesOutAndNothingIsLeft) {
  const WorkersWait where = std::get<0>(GetParam());
  const int nprocs = std::get<1>(GetParam());
  const LeftBehind left_behind;
  ForkParallelizer par(nprocs);
  EXPECT_THROW(main_throws(par, where, std::out_of_range("main failed")), std::out_of_range);
  EXPECT_TRUE(left_behind.check());
  try {
    main_throws(par, where, NotAStdException{7});
    ADD_FAILURE() << "nothing thrown";
  } catch (const NotAStdException& e) {
    EXPECT_EQ(e.code, 7);
  } catch (...) {
    ADD_FAILURE() << "another exception than main's";
  }
  EXPECT_TRUE(left_behind.check());
  EXPECT_EQ(par.run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }), nprocs);
}

std::string main_case_name(const ::testing::TestParamInfo<MainCase>& param) {
  static const char* const places[] = {"receive", "barrier", "broadcast", "scatter", "map"};
  return std::string(places[static_cast<int>(std::get<0>(param.param))]) + "_" +
         std::to_string(std::get<1>(param.param)) + "procs";
}

INSTANTIATE_TEST_SUITE_P(
    WorkersBlocked, MainFails,
    ::testing::Combine(::testing::Values(WorkersWait::receive, WorkersWait::barrier,
                                         WorkersWait::broadcast, WorkersWait::scatter,
                                         WorkersWait::map),
                       ::testing::Values(2, 3, 4)),
    main_case_name);

TEST(MainFails, AnItemFailingOnMainInMapIsAWorkerErrorForProcessZero) {
  const LeftBehind left_behind;
  ForkParallelizer par(1);  // main alone: every item runs on main
  try {
    par.map(
        [](int i) {
          if (i == 3) throw std::invalid_argument("bad item");
          return i;
        },
        std::vector<int>{0, 1, 2, 3, 4});
    ADD_FAILURE() << "nothing thrown";
  } catch (const WorkerError& e) {
    EXPECT_EQ(e.process(), 0);
    EXPECT_EQ(e.pid(), getpid());
    EXPECT_EQ(e.item(), std::optional<std::size_t>(3));
    EXPECT_NE(e.type_name().find("invalid_argument"), std::string::npos) << e.what();
    EXPECT_EQ(e.message(), "bad item");
  }
  EXPECT_TRUE(left_behind.check());
}

// ---- main itself is killed ----------------------------------------------------------------------

bool process_is_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

/// Reads up to `count` pids the processes of a run write to the pipe `fd` (gives up after 20 s
/// without one, against a hang).
std::vector<pid_t> read_pids(int fd, int count) {
  std::vector<pid_t> pids;
  while (pids.size() < static_cast<std::size_t>(count)) {
    pollfd ready{fd, POLLIN, 0};
    if (poll(&ready, 1, 20000) <= 0) break;
    pid_t pid = 0;
    if (read(fd, &pid, sizeof pid) != sizeof pid) break;
    pids.push_back(pid);
  }
  return pids;
}

TEST(MainKilled, WorkersDieWithMain) {
  const LeftBehind left_behind;
  constexpr int nprocs = 4;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child is a main process with workers, all blocked; the test kills it.
    close(fds[0]);
    try {
      ForkParallelizer par(nprocs);
      par.run([&](Parallelizer& p) {
        const pid_t me = getpid();
        if (write(fds[1], &me, sizeof me) != sizeof me) _exit(2);
        if (p.on_main()) {
          for (;;) pause();
        }
        p.receive<int>(0, 1);  // never sent
      });
    } catch (...) {
    }
    _exit(3);
  }
  close(fds[1]);
  const std::vector<pid_t> pids = read_pids(fds[0], nprocs);
  close(fds[0]);
  EXPECT_EQ(pids.size(), static_cast<std::size_t>(nprocs));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  const auto start = Clock::now();
  for (pid_t pid : pids) {
    if (pid == child) continue;
    while (!process_is_gone(pid) && Clock::now() - start < std::chrono::seconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(process_is_gone(pid)) << "worker " << pid << " outlived its main";
  }
  RecordProperty("seconds_to_clean_up",
                 std::to_string(std::chrono::duration<double>(Clock::now() - start).count()));
  EXPECT_TRUE(left_behind.check());
}

// ---- misuse that must not hang
// --------------------------------------------------------------------

/// Runs `body` in a child process that is killed if it takes longer than `seconds`.
/// Returns its exit code, or minus the signal that killed it.
int in_child_with_deadline(int seconds, const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) return -1000;
  if (child == 0) {
    alarm(static_cast<unsigned>(seconds));
    int code = 90;
    try {
      code = body();
    } catch (...) {
      code = 91;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

constexpr int misuse_detected = 0, no_error = 1, other_error = 2;

/// Runs a misusing SPMD function on a fresh ForkParallelizer: 0 when it ends in a UsageError on
/// main (directly or reported by the worker that noticed), 1 when it ends without error, 2 for
/// another error; -SIGALRM when it hangs.
int outcome_of_misuse(int nprocs, const std::function<void(Parallelizer&)>& f) {
  return in_child_with_deadline(5, [&] {
    ForkParallelizer par(nprocs);
    try {
      par.run(f);
    } catch (const unipar::UsageError&) {
      return misuse_detected;
    } catch (const WorkerError& e) {
      return e.type_name().find("UsageError") != std::string::npos ? misuse_detected : other_error;
    } catch (...) {
      return other_error;
    }
    return no_error;
  });
}

std::string describe_outcome(int outcome) {
  if (outcome == -SIGALRM) return "it hung (killed after 5 s)";
  if (outcome == no_error) return "no error";
  if (outcome == other_error) return "another error than UsageError";
  return "outcome " + std::to_string(outcome);
}

class Misuse : public ::testing::TestWithParam<int> {};

TEST_P(Misuse, MainWaitingForAReturnedWorkerIsAUsageError) {
  const LeftBehind left_behind;
  const int outcome = outcome_of_misuse(GetParam(), [](Parallelizer& p) {
    if (p.on_main()) p.receive<int>(1, 1);
  });
  EXPECT_EQ(outcome, misuse_detected) << describe_outcome(outcome);
  EXPECT_TRUE(left_behind.check());
}

// Library bug: a worker waiting for main after main's function returned hangs forever (main's
// slot is never marked finished, so the worker's check_peer(0) never fires while main waits in
// join for the worker).
TEST_P(Misuse, WorkerWaitingForMainAfterMainReturnedIsAUsageError) {
  const LeftBehind left_behind;
  const int outcome = outcome_of_misuse(GetParam(), [](Parallelizer& p) {
    if (p.id() == 1) p.receive<int>(0, 1);
  });
  EXPECT_EQ(outcome, misuse_detected) << describe_outcome(outcome);
  EXPECT_TRUE(left_behind.check());
}

// Same bug, through a collective: the workers enter a barrier main never calls.
TEST_P(Misuse, WorkersInABarrierMainSkippedIsAUsageError) {
  const LeftBehind left_behind;
  const int outcome = outcome_of_misuse(GetParam(), [](Parallelizer& p) {
    if (!p.on_main()) p.barrier();
  });
  EXPECT_EQ(outcome, misuse_detected) << describe_outcome(outcome);
  EXPECT_TRUE(left_behind.check());
}

// Design gap: main waits in a barrier while the workers wait in a scatter from main; nobody
// sends, so no mismatched tag is ever read and every process waits forever. The fork backend
// could tell (each process could publish the collective it waits in).
TEST_P(Misuse, DifferentCollectivesThatOnlyReceiveAreAUsageError) {
  const LeftBehind left_behind;
  const int outcome = outcome_of_misuse(GetParam(), [](Parallelizer& p) {
    if (p.on_main()) {
      p.barrier();
    } else {
      p.scatter(std::vector<int>{}, 0);
    }
  });
  EXPECT_EQ(outcome, misuse_detected) << describe_outcome(outcome);
  EXPECT_TRUE(left_behind.check());
}

std::string procs_name(const ::testing::TestParamInfo<int>& param) {
  return std::to_string(param.param) + "procs";
}

INSTANTIATE_TEST_SUITE_P(Fork, Misuse, ::testing::Values(2, 3), procs_name);

TEST(Construction, ProcessCountsAndSpecs) {
  EXPECT_THROW(ForkParallelizer(-1), unipar::UsageError);
  EXPECT_GE(ForkParallelizer(0).nprocs(), 1);
  EXPECT_EQ(ForkParallelizer(3).nprocs(), 3);
  EXPECT_EQ(unipar::make_parallelizer("fork:3")->nprocs(), 3);
  EXPECT_EQ(unipar::make_parallelizer("fork:3")->name(), "fork");
  EXPECT_EQ(unipar::make_parallelizer("fork:1")->nprocs(), 1);
  EXPECT_GE(unipar::make_parallelizer("fork")->nprocs(), 1);
}

// ---- settings: a bad value is an error naming the variable, never a silent default -------------

class BadSetting
    : public ::testing::TestWithParam<std::tuple<const char*, const char*, const char*>> {};

TEST_P(BadSetting, IsAUsageErrorNamingTheVariableAndTheAcceptedValues) {
  const auto [name, value, accepted] = GetParam();
  const LeftBehind left_behind;
  ASSERT_EQ(setenv(name, value, 1), 0);
  std::string what;
  try {
    ForkParallelizer par(2);
    par.run([](Parallelizer& p) { p.barrier(); });
  } catch (const unipar::UsageError& e) {
    what = e.what();
  }
  unsetenv(name);
  EXPECT_NE(what.find(std::string(name) + "='" + value + "'"), std::string::npos) << what;
  EXPECT_NE(what.find(accepted), std::string::npos) << what;
  EXPECT_TRUE(left_behind.check());
  // Unset, the default works.
  ForkParallelizer par(2);
  EXPECT_EQ(par.run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }), 2);
}

INSTANTIATE_TEST_SUITE_P(
    ForkVariables, BadSetting,
    ::testing::Values(std::tuple{"UNIPAR_FORK_SPIN", "lots", "a whole number from 0"},
                      std::tuple{"UNIPAR_FORK_YIELD", "-3", "a whole number from 0"},
                      std::tuple{"UNIPAR_FORK_CHANNEL_BYTES", "1M", "a whole number from 4096"},
                      std::tuple{"UNIPAR_FORK_BIND", "yes", "'core', 'none'"}));

// ---- the task farm: map_each
// ----------------------------------------------------------------------

/// Polls `done` every millisecond; throws after 60 s (against a hang, not a timing expectation).
void wait_for(const std::function<bool()>& done, const char* what) {
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (Clock::now() > give_up)
      throw std::runtime_error(std::string("gave up waiting for ") + what);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

class FarmFault : public ::testing::TestWithParam<int> {};

TEST_P(FarmFault, AWorkerKilledDuringMapEachIsWorkerLostAndNothingIsLeft) {
  const int nprocs = GetParam();
  const LeftBehind left_behind;
  ForkParallelizer par(nprocs);
  clear_notes();
  const pid_t main_pid = getpid();
  // The first worker to compute an item dies by SIGKILL; main's items wait until one has, so
  // that a worker surely takes an item.
  auto f = [main_pid](int i) {
    if (getpid() != main_pid) {
      pid_t none = 0;
      if (notes().failing_pid.compare_exchange_strong(none, getpid())) die_by(SIGKILL);
    } else {
      wait_for([] { return notes().failing_pid.load() != 0; }, "a worker to die");
    }
    return i;
  };
  std::exception_ptr error;
  int delivered = 0;
  try {
    par.map_each(f, std::vector<int>(100, 1), [&](std::size_t, int&&) { ++delivered; });
  } catch (...) {
    error = std::current_exception();
  }
  EXPECT_LT(delivered, 100);
  EXPECT_TRUE(is_expected_failure(error, Failure::killed, std::nullopt, notes().failing_pid.load(),
                                  "", std::nullopt));
  EXPECT_TRUE(left_behind.check());
  EXPECT_EQ(par.map([](int x) { return x + 1; }, std::vector<int>{1, 2, 3}),
            (std::vector<int>{2, 3, 4}));
  EXPECT_TRUE(left_behind.check());
}

TEST_P(FarmFault, AnItemThatThrowsDuringOrderedMapEachIsAWorkerErrorWithItsIndex) {
  const int nprocs = GetParam();
  constexpr int failing = 17;
  const LeftBehind left_behind;
  ForkParallelizer par(nprocs);
  clear_notes();
  const pid_t main_pid = getpid();
  // Item 17 throws wherever it runs; main's other items wait until it has, so that when main
  // does not take it a worker fails while main holds results after it for the reorder buffer.
  auto f = [main_pid](int i) {
    if (i == failing) fail_now(Failure::thrown, "on item " + std::to_string(i));
    if (getpid() == main_pid) {
      wait_for([] { return notes().failing_pid.load() != 0; }, "item 17 to fail");
    }
    return i * 2;
  };
  std::vector<int> items(60);
  for (int i = 0; i < 60; ++i) items[static_cast<std::size_t>(i)] = i;
  std::exception_ptr error;
  std::vector<std::size_t> order;
  try {
    par.map_each(f, items,
                 [&](std::size_t index, int&& value) {
                   if (value != static_cast<int>(index) * 2) throw std::logic_error("value");
                   order.push_back(index);
                 },
                 {.chunk = 1, .ordered = true});
  } catch (...) {
    error = std::current_exception();
  }
  const pid_t failing_pid = notes().failing_pid.load();
  EXPECT_TRUE(is_expected_failure(error, Failure::thrown, std::nullopt, failing_pid, "on item 17",
                                  std::size_t{failing}));
  // Ordered: what was delivered before the failure is a prefix of the input, before item 17.
  EXPECT_LE(order.size(), std::size_t{failing});
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
  EXPECT_TRUE(left_behind.check());
  EXPECT_EQ(par.map([](int x) { return x * 3; }, std::vector<int>{1, 2, 3}),
            (std::vector<int>{3, 6, 9}));
  EXPECT_TRUE(left_behind.check());
}

INSTANTIATE_TEST_SUITE_P(Fork, FarmFault, ::testing::Values(2, 3, 4), procs_name);

TEST(FarmFault, AnExceptionFromOnResultWithThreeProcessesLeavesNothingAndTheNextMapWorks) {
  const LeftBehind left_behind;
  ForkParallelizer par(3);
  std::vector<int> items(200);
  for (int i = 0; i < 200; ++i) items[static_cast<std::size_t>(i)] = i;
  // Items take a millisecond so that the workers are still busy when main stops.
  auto f = [](int i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return i;
  };
  for (const bool ordered : {false, true}) {
    int delivered = 0;
    auto stop = [&delivered](std::size_t, int&&) {
      if (delivered == 5) throw std::out_of_range("enough");
      ++delivered;
    };
    try {
      par.map_each(f, items, stop, {.ordered = ordered});
      ADD_FAILURE() << "nothing thrown";
    } catch (const std::out_of_range& e) {
      EXPECT_STREQ(e.what(), "enough");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "another exception: " << e.what();
    }
    EXPECT_EQ(delivered, 5);
    EXPECT_TRUE(left_behind.check());
    // Inside run: main's own exception comes out of run.
    delivered = 0;
    EXPECT_THROW(par.run([&](Parallelizer& p) {
      p.map_each(f, p.on_main() ? items : std::vector<int>{}, stop, {.ordered = ordered});
    }),
                 std::out_of_range);
    EXPECT_TRUE(left_behind.check());
    const auto results = par.map([](int x) { return x - 1; }, items);
    ASSERT_EQ(results.size(), items.size());
    for (int i = 0; i < 200; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], i - 1);
    EXPECT_TRUE(left_behind.check());
  }
}

// ---- shared objects: a process killed holding an object's lock ---------------------------------

/// Waits until another process has raised `flags[index]` to `value` (bounded, so that a broken
/// lock fails the test instead of hanging it; not a timing assertion).
bool wait_for_flag(const unipar::SharedArray<int>& flags, std::size_t index, int value) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (std::atomic_ref<int>(flags[index]).load(std::memory_order_acquire) < value) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class SharedFault : public ::testing::TestWithParam<int> {};

TEST_P(SharedFault, AWorkerKilledHoldingALockHangsNobodyAndTheDictStaysUsable) {
  const int nprocs = GetParam();
  constexpr int rounds = 100;
  const LeftBehind left_behind;
  {
    ForkParallelizer par(nprocs);
    clear_notes();
    unipar::SharedDict<std::string, int> counts(par);
    unipar::SharedList<int> log(par);
    // flags[0]: the victim holds the lock; flags[1]: how many other workers are done.
    unipar::SharedArray<int> flags(par, 2);
    std::exception_ptr error;
    try {
      par.run([&](Parallelizer& p) {
        notes().pids[p.id()].store(getpid());
        if (p.id() == 1) {
          counts.update("count", [&](std::optional<int>& n) {
            n = -1000;  // never stored: the process dies inside the update, holding the lock
            std::atomic_ref<int>(flags[0]).store(1, std::memory_order_release);
            fail_now(Failure::killed, "");
          });
        }
        if (!wait_for_flag(flags, 0, 1)) throw std::runtime_error("the victim never locked");
        // Every other process now needs the lock the victim died holding.
        for (int i = 0; i < rounds; ++i) {
          counts.update("count", [](std::optional<int>& n) { n = n.value_or(0) + 1; });
          log.push_back(p.id());
        }
        if (!p.on_main()) {
          std::atomic_ref<int>(flags[1]).fetch_add(1, std::memory_order_release);
          return;
        }
        // Main returns (and so kills the workers left) only once they are done.
        if (!wait_for_flag(flags, 1, nprocs - 2)) throw std::runtime_error("workers hung");
      });
    } catch (...) {
      error = std::current_exception();
    }
    EXPECT_TRUE(
        is_expected_failure(error, Failure::killed, 1, notes().pids[1].load(), "", std::nullopt));
    // Readable by main, with every update but the victim's; and usable again, also in a run.
    EXPECT_EQ(counts.at("count"), rounds * (nprocs - 1));
    EXPECT_EQ(log.size(), static_cast<std::size_t>(rounds * (nprocs - 1)));
    par.run([&](Parallelizer&) { counts.update("count", [](std::optional<int>& n) { *n += 1; }); });
    EXPECT_EQ(counts.at("count"), rounds * (nprocs - 1) + nprocs);
  }
  EXPECT_TRUE(left_behind.check());
}

INSTANTIATE_TEST_SUITE_P(Fork, SharedFault, ::testing::Values(2, 3, 4), procs_name);

TEST(SharedFault, AWorkerKilledAtAnyPointLeavesTheDictAndListConsistent) {
  // The worker changes the dict's and the list's structure without pause (inserts, replacements
  // of another size, erasures, a growing list) and main kills it at an arbitrary moment, often
  // in the middle of a change. Whatever the moment, main then reads a consistent dict and list,
  // each entry whole, and goes on using them.
  const LeftBehind left_behind;
  for (int attempt = 0; attempt < 30; ++attempt) {
    ForkParallelizer par(2);
    clear_notes();
    unipar::SharedDict<int, std::string> dict(par);
    unipar::SharedList<std::string> list(par);
    unipar::SharedArray<int> started(par, 1);
    const auto value_for = [](int key, int round) {
      return std::string(static_cast<std::size_t>(40 + (key * 37 + round * 11) % 400),
                         static_cast<char>('a' + key % 26));
    };
    EXPECT_THROW(par.run([&](Parallelizer& p) {
      notes().pids[p.id()].store(getpid());
      if (p.id() == 1) {
        for (int round = 0;; ++round) {
          for (int key = 0; key < 64; ++key) {
            if ((key + round) % 5 == 0) {
              dict.erase(key);
            } else {
              dict.set(key, value_for(key, round));
            }
          }
          list.push_back(value_for(round % 26, round));
          list.set(static_cast<std::size_t>(round / 2), value_for(round % 26, 0));
          std::atomic_ref<int>(started[0]).store(1, std::memory_order_release);
        }
      }
      if (!wait_for_flag(started, 0, 1)) return;
      std::this_thread::sleep_for(std::chrono::microseconds(37 * (attempt % 20)));
      kill(notes().pids[1].load(), SIGKILL);
    }),
                 WorkerLost);
    const auto plausible = [](const std::string& value, char letter) {
      return value.size() >= 40 && value.size() < 440 && value[0] == letter &&
             value.find_first_not_of(letter) == std::string::npos;
    };
    try {
      const auto entries = dict.to_map();
      EXPECT_EQ(entries.size(), dict.size());
      for (const auto& [key, value] : entries) {
        EXPECT_TRUE(plausible(value, static_cast<char>('a' + key % 26)))
            << "key " << key << " holds " << value.size() << " bytes";
      }
      for (const auto& value : list.to_vector()) {
        EXPECT_TRUE(!value.empty() && plausible(value, value[0])) << value.size() << " bytes";
      }
      dict.set(1000, "after");
      EXPECT_EQ(dict.at(1000), "after");
      list.push_back("after");
      EXPECT_EQ(list.get(list.size() - 1), "after");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "attempt " << attempt << ": " << e.what();
    }
  }
  EXPECT_TRUE(left_behind.check());
}

/// The inode numbers of this program's shared objects that process `pid` maps.
std::set<std::string> shared_object_inodes(pid_t pid) {
  std::set<std::string> inodes;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/memfd:unipar-Shared") == std::string::npos) continue;
    // address perms offset device inode path
    std::istringstream fields(line);
    std::string address, perms, offset, device, inode;
    fields >> address >> perms >> offset >> device >> inode;
    inodes.insert(device + ":" + inode);
  }
  return inodes;
}

/// Whether any process on the machine maps one of `inodes`.
bool anyone_maps(const std::set<std::string>& inodes) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return false;
  bool found = false;
  while (const dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    for (const auto& inode : shared_object_inodes(static_cast<pid_t>(pid))) {
      if (inodes.contains(inode)) found = true;
    }
  }
  closedir(proc);
  return found;
}

TEST(SharedFault, NothingIsLeftWhenEveryProcessIsKilledWhileOneHoldsALock) {
  const LeftBehind left_behind;
  constexpr int nprocs = 3;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    try {
      ForkParallelizer par(nprocs);
      unipar::SharedDict<int, std::string> dict(par);
      unipar::SharedArray<double> array(par, std::size_t{1} << 18);
      par.run([&](Parallelizer& p) {
        unipar::SharedList<int> inside(p);  // opened by the workers through /proc
        dict.set(p.id(), std::string(10000, 'x'));
        array[static_cast<std::size_t>(p.id()) << 12] = 1;
        inside.push_back(p.id());
        p.barrier();
        const pid_t me = getpid();
        if (p.id() == 1) {
          dict.update(1, [&](std::optional<std::string>&) {
            if (write(fds[1], &me, sizeof me) != sizeof me) _exit(2);
            for (;;) pause();  // killed here, holding the dict's lock
          });
        }
        if (write(fds[1], &me, sizeof me) != sizeof me) _exit(2);
        for (;;) pause();
      });
    } catch (...) {
    }
    _exit(3);
  }
  close(fds[1]);
  const std::vector<pid_t> pids = read_pids(fds[0], nprocs);
  close(fds[0]);
  ASSERT_EQ(pids.size(), static_cast<std::size_t>(nprocs));
  std::set<std::string> inodes;
  for (pid_t pid : pids) inodes.merge(shared_object_inodes(pid));
  EXPECT_EQ(inodes.size(), 3u) << "the dict, the array and the list created inside run";
  kill(child, SIGKILL);  // the workers die with it
  int status = 0;
  waitpid(child, &status, 0);
  const auto start = Clock::now();
  for (pid_t pid : pids) {
    while (!process_is_gone(pid) && Clock::now() - start < std::chrono::seconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(process_is_gone(pid)) << "process " << pid << " outlived its main";
  }
  // Nothing has a name: with every process that mapped them gone, the kernel freed them.
  EXPECT_FALSE(anyone_maps(inodes));
  EXPECT_TRUE(left_behind.check());
}

// ---- MapOptions::retries and MapOptions::checkpoint
// ----------------------------------------------

/// A worker that computes an item for which `kills(i)` holds dies by SIGKILL (counted in
/// notes().deaths). Main's items each wait until a worker has died since main last saw one and
/// that worker is reaped, so that the failure is known when main's item returns and main takes
/// no second item (once: only in the first attempt). Main always computes an item of each
/// attempt, so every attempt loses exactly one worker (once: only the first).
struct Killer {
  pid_t main_pid;
  bool once;
  std::function<bool(int)> kills;
  int operator()(int i) const {
    if (getpid() != main_pid) {
      if (kills(i)) {
        notes().failing_pid.store(getpid());
        notes().deaths.fetch_add(1);
        die_by(SIGKILL);
      }
      return i * 3;
    }
    // Every attempt loses a worker (always), or only the first does (once).
    const int seen = notes().deaths_seen.load();
    if (!once || seen == 0) {
      wait_for(
          [seen] {
            const pid_t dying = notes().failing_pid.load();
            return notes().deaths.load() > seen && dying != 0 && kill(dying, 0) != 0 &&
                   errno == ESRCH;
          },
          "a worker to die and be reaped");
      notes().deaths_seen.store(notes().deaths.load());
    }
    return i * 3;
  }
};

TEST(FarmRetries, AWorkerThatDiesOnItsFirstItemSucceedsWithOneRetryAndFailsWithNone) {
  const LeftBehind left_behind;
  ForkParallelizer par(2);
  const std::vector<int> items = [] {
    std::vector<int> v(50);
    for (int i = 0; i < 50; ++i) v[static_cast<std::size_t>(i)] = i;
    return v;
  }();
  std::vector<int> expected;
  for (int i : items) expected.push_back(i * 3);
  // Only the first item a worker computes kills it.
  const Killer first_only{getpid(), true, [](int) { return notes().deaths.load() == 0; }};

  clear_notes();
  std::exception_ptr error;
  try {
    (void)par.map(first_only, items, {.chunk = 1});
  } catch (...) {
    error = std::current_exception();
  }
  EXPECT_TRUE(is_expected_failure(error, Failure::killed, std::nullopt, notes().failing_pid.load(),
                                  "", std::nullopt));
  EXPECT_EQ(notes().deaths.load(), 1);
  EXPECT_TRUE(left_behind.check());

  clear_notes();
  EXPECT_EQ(par.map(first_only, items, {.chunk = 1, .retries = 1}), expected);
  EXPECT_EQ(notes().deaths.load(), 1);
  EXPECT_TRUE(left_behind.check());

  // map_each, completion order: every index once.
  clear_notes();
  std::vector<int> each(items.size(), -1);
  int deliveries = 0;
  par.map_each(first_only, items,
               [&](std::size_t k, int&& v) {
                 ++deliveries;
                 each[k] = v;
               },
               {.chunk = 1, .retries = 1});
  EXPECT_EQ(deliveries, 50);
  EXPECT_EQ(each, expected);
  EXPECT_TRUE(left_behind.check());
}

TEST(FarmRetries, AnItemThatAlwaysKillsItsWorkerFailsAfterRetriesPlusOneAttempts) {
  const LeftBehind left_behind;
  ForkParallelizer par(2);
  std::vector<int> items(40, 7);
  const Killer always{getpid(), false, [](int) { return true; }};
  for (const int retries : {0, 2}) {
    clear_notes();
    std::exception_ptr error;
    try {
      (void)par.map(always, items, {.chunk = 1, .retries = retries});
    } catch (...) {
      error = std::current_exception();
    }
    EXPECT_TRUE(is_expected_failure(error, Failure::killed, std::nullopt,
                                    notes().failing_pid.load(), "", std::nullopt))
        << "retries " << retries;
    EXPECT_EQ(notes().deaths.load(), retries + 1) << "retries " << retries;
    EXPECT_TRUE(left_behind.check());
  }
}

TEST(FarmRetries, AnItemThatThrowsIsNotRetried) {
  const LeftBehind left_behind;
  ForkParallelizer par(3);
  clear_notes();
  auto f = [](int i) {
    if (i == 17) {
      notes().deaths.fetch_add(1);  // here: times item 17 was computed
      throw std::invalid_argument("bad item");
    }
    return i;
  };
  std::vector<int> items(60);
  for (int i = 0; i < 60; ++i) items[static_cast<std::size_t>(i)] = i;
  try {
    (void)par.map(f, items, {.retries = 3});
    ADD_FAILURE() << "nothing thrown";
  } catch (const WorkerError& e) {
    EXPECT_EQ(e.item(), std::optional<std::size_t>{17}) << e.what();
    EXPECT_EQ(e.message(), "bad item") << e.what();
  }
  EXPECT_EQ(notes().deaths.load(), 1);
  EXPECT_TRUE(left_behind.check());
}

/// The indices of the records in a checkpoint file of a call over `n` ints with int results.
std::set<std::uint64_t> checkpointed(const std::string& path, std::uint64_t n) {
  namespace d = unipar::detail;
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<d::CheckpointFile::Record> records;
  d::CheckpointFile::parse(std::as_bytes(std::span(text)), path,
                           {n, d::fingerprint_v<int>, d::fingerprint_v<int>, "int", "int"},
                           records);
  std::set<std::uint64_t> indices;
  for (const auto& record : records) indices.insert(record.index);
  return indices;
}

/// Lines of a file of "<index>\n" lines, one per computation.
std::multiset<std::uint64_t> computed(const std::string& path) {
  std::ifstream in(path);
  std::multiset<std::uint64_t> out;
  for (std::uint64_t index = 0; in >> index;) out.insert(index);
  return out;
}

/// A sweep (map_each over 600 items of about 0.3 ms on fork:3, with a checkpoint) killed with
/// SIGKILL at a moment drawn at random after its first result, then resumed in this process:
/// the resumed call computes exactly the items the file does not hold, and the result equals an
/// uninterrupted run's. Every computation appends its index to a log (one write each).
TEST(FarmCheckpointKilled, AResumedSweepComputesOnlyWhatTheFileDoesNotHold) {
  const LeftBehind left_behind;
  char dir_name[] = "/tmp/unipar-checkpoint-kill-XXXXXX";
  ASSERT_NE(mkdtemp(dir_name), nullptr);
  const std::string dir = dir_name;
  constexpr int n = 600;
  std::vector<int> items(n);
  for (int i = 0; i < n; ++i) items[static_cast<std::size_t>(i)] = i;
  std::vector<int> expected;
  for (int i : items) expected.push_back(i * i % 1009);
  std::mt19937 random(20261202);
  int killed_part_way = 0;
  for (int trial = 0; trial < 6; ++trial) {
    const std::string file = dir + "/sweep-" + std::to_string(trial);
    const std::string log = dir + "/computed-" + std::to_string(trial);
    const auto f = [log](int i) {
      const auto until = Clock::now() + std::chrono::microseconds(300);
      while (Clock::now() < until) {
      }
      const std::string line = std::to_string(i) + "\n";
      const int fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) {
        if (write(fd, line.data(), line.size()) < 0) std::abort();
        close(fd);
      }
      return i * i % 1009;
    };
    int started[2];
    ASSERT_EQ(pipe(started), 0);
    std::fflush(nullptr);
    const pid_t victim = fork();
    ASSERT_GE(victim, 0);
    if (victim == 0) {
      close(started[0]);
      try {
        ForkParallelizer sweep(3);
        bool told = false;
        sweep.map_each(f, items,
                       [&](std::size_t, int&&) {
                         if (!told && write(started[1], "x", 1) == 1) told = true;
                       },
                       {.checkpoint = file});
      } catch (...) {
        _exit(3);
      }
      _exit(0);
    }
    close(started[1]);
    char byte = 0;
    ASSERT_EQ(read(started[0], &byte, 1), 1) << "the sweep delivered nothing";
    close(started[0]);
    // Under 40 ms: the 600 items take at least 60 ms of busy work after the first result
    // (300 us each over 3 processes), so every trial is killed part way, at a random moment.
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 40'000));
    kill(victim, SIGKILL);
    int status = 0;
    waitpid(victim, &status, 0);
    // Its workers die with it; wait until none writes to the log any more.
    wait_for([&] { return unipar_test::children_of_this_process().empty(); },
             "the victim's workers to go");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto in_file = checkpointed(file, n);
    const auto before = computed(log);
    killed_part_way += WIFSIGNALED(status) && in_file.size() < static_cast<std::size_t>(n) ? 1 : 0;
    for (const auto index : in_file) {
      EXPECT_GE(before.count(index), 1u) << "trial " << trial << ": " << index;
    }
    std::filesystem::remove(log);

    ForkParallelizer par(3);
    std::vector<int> resumed(n, -1);
    int deliveries = 0;
    par.map_each(f, items,
                 [&](std::size_t k, int&& v) {
                   ++deliveries;
                   resumed[k] = v;
                 },
                 {.checkpoint = file});
    EXPECT_EQ(deliveries, n) << "trial " << trial;
    EXPECT_EQ(resumed, expected) << "trial " << trial;
    const auto after = computed(log);
    for (int i = 0; i < n; ++i) {
      const auto index = static_cast<std::uint64_t>(i);
      EXPECT_EQ(after.count(index), in_file.count(index) ? 0u : 1u)
          << "trial " << trial << ": item " << i << " (in the file: " << in_file.count(index)
          << ")";
    }
    EXPECT_TRUE(left_behind.check());
  }
  RecordProperty("trials_killed_part_way", std::to_string(killed_part_way));
  EXPECT_GE(killed_part_way, 1) << "no trial was killed before the end";
  std::filesystem::remove_all(dir);
}

}  // namespace
