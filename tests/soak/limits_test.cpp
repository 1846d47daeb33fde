/// @file limits_test.cpp
/// @brief Exhausted resources give a clear unipar::Error (or WorkerLost), never a crash or a
/// hang, and leave nothing behind:
/// - `fork` refused under RLIMIT_NPROC (as root the limit binds only a process without
///   CAP_SYS_ADMIN and CAP_SYS_RESOURCE, so the test's child first becomes an unused uid);
/// - shared memory refused under RLIMIT_AS: the fork backend's region, a SharedArray, a
///   SharedDict, and a worker whose own mapping of a SharedArray is refused;
/// - a worker killed by the OOM killer in a memory cgroup of its own.
///
/// Each limit is set in a child process of the test (a "harness"), which reports what went
/// wrong through a pipe; the test waits for it with a timeout that only catches a hang.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <sstream>
#include <string>
#include <vector>

#include "resources.hpp"
#include "unipar/unipar.hpp"

namespace {

using unipar::ForkParallelizer;
using unipar::Parallelizer;
using unipar_soak::leaks;
using unipar_soak::Resources;
using Clock = std::chrono::steady_clock;

/// Runs `body` in a child process and returns what it returned ("" means every check passed),
/// or why the child did not answer (killed after `timeout`: a hang; or it crashed).
std::string in_harness(const std::function<std::string()>& body,
                       std::chrono::seconds timeout = std::chrono::seconds(60)) {
  int pipe_ends[2];
  if (pipe2(pipe_ends, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  std::fflush(nullptr);
  const pid_t harness = fork();
  if (harness < 0) return std::string("fork of the harness: ") + std::strerror(errno);
  if (harness == 0) {
    close(pipe_ends[0]);
    std::string answer;
    try {
      answer = body();
    } catch (const std::exception& e) {
      answer = std::string("uncaught exception: ") + e.what();
    } catch (...) {
      answer = "uncaught non-std exception";
    }
    answer = "answer:" + answer;
    if (write(pipe_ends[1], answer.data(), answer.size()) < 0) _exit(2);
    std::fflush(nullptr);
    _exit(0);
  }
  close(pipe_ends[1]);
  std::string text;
  const auto deadline = Clock::now() + timeout;
  bool hung = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      hung = true;
      break;
    }
    pollfd wait_for{pipe_ends[0], POLLIN, 0};
    if (poll(&wait_for, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const ssize_t got = read(pipe_ends[0], buffer, sizeof buffer);
    if (got <= 0) break;  // end of file: the harness is done
    text.append(buffer, static_cast<std::size_t>(got));
  }
  close(pipe_ends[0]);
  if (hung) kill(harness, SIGKILL);
  int status = 0;
  while (waitpid(harness, &status, 0) < 0 && errno == EINTR) {
  }
  if (hung) return "the harness hung for " + std::to_string(timeout.count()) + " s: " + text;
  if (WIFSIGNALED(status)) {
    return "the harness was killed by signal " + std::to_string(WTERMSIG(status)) + ": " + text;
  }
  if (!text.starts_with("answer:")) return "the harness gave no answer: " + text;
  return text.substr(7);
}

bool child_signal_is_default() {
  struct sigaction action {};
  sigaction(SIGCHLD, nullptr, &action);
  return action.sa_handler == SIG_DFL;
}

/// What `run` left behind since `before`, and whether the SIGCHLD handler was restored.
std::string left_behind(const Resources& before) {
  std::string problems = leaks(before, Resources::take());
  if (!child_signal_is_default()) problems += " the SIGCHLD handler was not restored;";
  return problems.empty() ? "" : " left behind:" + problems;
}

/// Checks that `message` names each of `words`.
std::string names(const std::string& message, const std::vector<std::string>& words) {
  std::string missing;
  for (const auto& word : words) {
    if (message.find(word) == std::string::npos) missing += " \"" + word + "\"";
  }
  return missing.empty() ? "" : " the message \"" + message + "\" does not name" + missing + ";";
}

// ---- RLIMIT_NPROC
// ---------------------------------------------------------------------------------

/// How many processes (threads count too) have `uid` as their real uid.
int processes_of(uid_t uid) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("Uid:")) {
        std::istringstream fields(line.substr(4));
        uid_t real = 0;
        fields >> real;
        if (real == uid) ++count;
        break;
      }
    }
  }
  return count;
}

/// Makes this process one that RLIMIT_NPROC binds, with `forks` more processes allowed.
/// Returns what failed, or "".
std::string bind_process_limit(int forks) {
  rlim_t limit = 0;
  if (geteuid() == 0) {
    // Root is not bound (CAP_SYS_RESOURCE / CAP_SYS_ADMIN): become a uid nothing else uses;
    // setuid from root to another uid drops every capability.
    uid_t uid = 40000 + static_cast<uid_t>(getpid() % 20000);
    while (processes_of(uid) != 0) ++uid;
    if (setgroups(0, nullptr) != 0) return std::string("setgroups: ") + std::strerror(errno);
    if (setgid(uid) != 0) return std::string("setgid: ") + std::strerror(errno);
    if (setuid(uid) != 0) return std::string("setuid: ") + std::strerror(errno);
    // Reading /proc/self/fd and /proc/self/maps needs a dumpable process after setuid.
    prctl(PR_SET_DUMPABLE, 1);
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("CapEff:") && line.find_first_not_of("0\t ", 7) != std::string::npos) {
        return "cannot check RLIMIT_NPROC: capabilities remain after setuid (" + line + ")";
      }
    }
    limit = static_cast<rlim_t>(1 + forks);  // this process and `forks` more
  } else {
    limit = static_cast<rlim_t>(processes_of(getuid()) + forks);
  }
  rlimit current{};
  getrlimit(RLIMIT_NPROC, &current);
  const rlimit lowered{limit, current.rlim_max};
  if (setrlimit(RLIMIT_NPROC, &lowered) != 0) {
    return std::string("setrlimit(RLIMIT_NPROC): ") + std::strerror(errno);
  }
  return "";
}

/// In the harness: `nprocs` processes, of which only `forks` workers can be forked.
std::string fork_refused(int nprocs, int forks) {
  if (std::string failed = bind_process_limit(forks); !failed.empty()) return failed;
  ForkParallelizer par(nprocs);
  const Resources before = Resources::take();
  std::string problems;
  try {
    par.run([](Parallelizer& p) { p.barrier(); });
    problems += " run succeeded: RLIMIT_NPROC was not enforced;";
    const pid_t probe = fork();
    if (probe == 0) _exit(0);
    if (probe > 0) {
      waitpid(probe, nullptr, 0);
      problems += " (a plain fork succeeds too: this system does not enforce it here)";
    }
  } catch (const unipar::Error& e) {
    problems += names(e.what(), {"fork", std::strerror(EAGAIN)});
    std::printf("%d processes, %d forks allowed: %s\n", nprocs, forks, e.what());
  } catch (const std::exception& e) {
    problems += std::string(" not a unipar::Error: ") + e.what() + ";";
  }
  problems += left_behind(before);
  // With the limit raised again, the same parallelizer works.
  rlimit current{};
  getrlimit(RLIMIT_NPROC, &current);
  const rlimit raised{current.rlim_max, current.rlim_max};
  setrlimit(RLIMIT_NPROC, &raised);
  try {
    const int sum = par.run([](Parallelizer& p) { return p.allreduce(p.id(), std::plus<>{}); });
    if (sum != nprocs * (nprocs - 1) / 2) problems += " the run after it was wrong;";
  } catch (const std::exception& e) {
    problems += std::string(" the run after it failed: ") + e.what() + ";";
  }
  return problems;
}

TEST(Limits, ForkRefusedUnderProcessLimit) {
  // The first fork refused; the second (one worker left to kill); the third.
  for (auto [nprocs, forks] : {std::pair{3, 0}, std::pair{3, 1}, std::pair{4, 2}}) {
    EXPECT_EQ(in_harness([=] { return fork_refused(nprocs, forks); }), "")
        << nprocs << " processes, " << forks << " forks allowed";
  }
}

// ---- RLIMIT_AS
// ------------------------------------------------------------------------------------

/// Limits this process's address space to what it uses now plus `more` bytes.
std::string limit_address_space(std::int64_t more) {
  const std::int64_t now = unipar_soak::status_bytes("VmSize");
  const auto limit = static_cast<rlim_t>(now + more);
  const rlimit lowered{limit, limit};
  if (setrlimit(RLIMIT_AS, &lowered) != 0) {
    return std::string("setrlimit(RLIMIT_AS): ") + std::strerror(errno);
  }
  return "";
}

/// Runs `attempt`, which must throw a unipar::Error naming `words`; nothing may be left behind.
std::string refused(const std::string& what, const std::function<void()>& attempt,
                    const std::vector<std::string>& words) {
  const Resources before = Resources::take();
  std::string problems;
  try {
    attempt();
    problems += " it succeeded;";
  } catch (const unipar::Error& e) {
    problems += names(e.what(), words);
    std::printf("%s: %s\n", what.c_str(), e.what());
  } catch (const std::exception& e) {
    problems += std::string(" not a unipar::Error: ") + e.what() + ";";
  }
  problems += left_behind(before);
  return problems.empty() ? "" : what + ":" + problems;
}

TEST(Limits, SharedMemoryRefusedUnderAddressLimitForTheForkRegion) {
  // 8 processes: 64 channels of 1 MiB, more than the 24 MiB left.
  EXPECT_EQ(in_harness([] {
              if (std::string failed = limit_address_space(24 << 20); !failed.empty()) {
                return failed;
              }
              ForkParallelizer par(8);
              return refused("fork region", [&] { par.run([](Parallelizer& p) { p.barrier(); }); },
                             {"fork", "shared memory"});
            }),
            "");
}

TEST(Limits, SharedMemoryRefusedUnderAddressLimitForSharedObjects) {
  EXPECT_EQ(in_harness([] {
              if (std::string failed = limit_address_space(64 << 20); !failed.empty()) {
                return failed;
              }
              ForkParallelizer par(3);
              std::string problems;
              // 512 MiB of doubles, within UNIPAR_SHARED_LIMIT, beyond the address space left.
              problems +=
                  refused("SharedArray",
                          [&] { unipar::SharedArray<double> array(par, std::size_t{64} << 20); },
                          {"mmap", std::strerror(ENOMEM)});
              // A dict maps its whole limit (1 GiB by default).
              problems += refused("SharedDict", [&] { unipar::SharedDict<int, int> dict(par); },
                                  {"mmap", std::strerror(ENOMEM)});
              // Inside run, every process creates it: main fails, no worker hangs.
              problems += refused("SharedArray in run",
                                  [&] {
                                    par.run([](Parallelizer& p) {
                                      unipar::SharedArray<double> array(p, std::size_t{64} << 20);
                                      p.barrier();
                                    });
                                  },
                                  {"mmap", std::strerror(ENOMEM)});
              // A smaller one still works.
              unipar::SharedArray<double> small(par, 1024);
              if (small.size() != 1024) problems += " a small array failed afterwards;";
              return problems;
            }),
            "");
}

TEST(Limits, SharedMemoryRefusedUnderAddressLimitInOneWorker) {
  // Main maps the array; worker 1, whose address space is limited, cannot.
  ForkParallelizer par(3);
  const Resources before = Resources::take();
  std::string problems;
  const auto start = Clock::now();
  try {
    par.run([](Parallelizer& p) {
      if (p.id() == 1) {
        const std::int64_t now = unipar_soak::status_bytes("VmSize");
        const rlimit lowered{static_cast<rlim_t>(now + (64 << 20)),
                             static_cast<rlim_t>(now + (64 << 20))};
        setrlimit(RLIMIT_AS, &lowered);
      }
      unipar::SharedArray<double> array(p, std::size_t{64} << 20);
      p.barrier();
    });
    problems += " it succeeded;";
  } catch (const unipar::WorkerError& e) {
    if (e.process() != 1) problems += std::string(" not worker 1: ") + e.what() + ";";
    problems += names(e.what(), {"mmap", std::strerror(ENOMEM)});
    std::printf("worker's mapping: %s\n", e.what());
  } catch (const std::exception& e) {
    problems += std::string(" not a WorkerError: ") + e.what() + ";";
  }
  RecordProperty("seconds_to_report",
                 std::to_string(std::chrono::duration<double>(Clock::now() - start).count()));
  problems += left_behind(before);
  EXPECT_EQ(problems, "");
}

// ---- the OOM killer
// -------------------------------------------------------------------------------

/// A memory cgroup of its own (v1 or v2) below this process's, removed when destroyed (its
/// processes killed first). Empty path when it cannot be made here.
class MemoryCgroup {
 public:
  MemoryCgroup(std::int64_t limit_bytes, std::string& why_not) {
    std::ifstream cgroups("/proc/self/cgroup");
    std::string v1_path;
    std::string v2_path;
    for (std::string line; std::getline(cgroups, line);) {
      // "4:memory:/a/b" (v1) or "0::/a/b" (v2)
      const auto first = line.find(':');
      const auto second = line.find(':', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      const std::string controllers = line.substr(first + 1, second - first - 1);
      const std::string path = line.substr(second + 1);
      if (controllers == "memory" || controllers.find("memory,") != std::string::npos ||
          controllers.ends_with(",memory")) {
        v1_path = path;
      }
      if (controllers.empty()) v2_path = path;
    }
    const std::string name = "unipar-limits-oom-" + std::to_string(getpid());
    std::string limit_file;
    if (!v1_path.empty() && std::filesystem::exists("/sys/fs/cgroup/memory" + v1_path)) {
      path_ = "/sys/fs/cgroup/memory" + v1_path + "/" + name;
      limit_file = "memory.limit_in_bytes";
      events_file_ = "memory.oom_control";
    } else if (!v2_path.empty() && std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")) {
      path_ = "/sys/fs/cgroup" + v2_path + "/" + name;
      limit_file = "memory.max";
      events_file_ = "memory.events";
    } else {
      why_not = "no memory cgroup controller found";
      path_.clear();
      return;
    }
    if (mkdir(path_.c_str(), 0755) != 0) {
      why_not = "mkdir " + path_ + ": " + std::strerror(errno);
      path_.clear();
      return;
    }
    if (!write_file(limit_file, std::to_string(limit_bytes))) {
      why_not = "cannot set " + path_ + "/" + limit_file + ": " + std::strerror(errno);
      remove();
      return;
    }
    // No swap for it either, where the kernel accounts swap (v1 with swap accounting, v2).
    if (std::filesystem::exists(path_ + "/memory.memsw.limit_in_bytes")) {
      write_file("memory.memsw.limit_in_bytes", std::to_string(limit_bytes));
    }
    if (std::filesystem::exists(path_ + "/memory.swap.max")) write_file("memory.swap.max", "0");
  }
  MemoryCgroup(const MemoryCgroup&) = delete;
  MemoryCgroup& operator=(const MemoryCgroup&) = delete;
  ~MemoryCgroup() { remove(); }

  bool usable() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

  /// Moves the calling process in (called by the worker itself).
  bool enter() const { return write_file("cgroup.procs", std::to_string(getpid())); }

  /// How many processes the OOM killer killed in it ("oom_kill N"; -1 if not reported).
  long oom_kills() const {
    std::ifstream events(path_ + "/" + events_file_);
    for (std::string line; std::getline(events, line);) {
      if (line.starts_with("oom_kill ")) return std::stol(line.substr(9));
    }
    return -1;
  }

 private:
  bool write_file(const std::string& file, const std::string& value) const {
    const int fd = open((path_ + "/" + file).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool written =
        write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
    close(fd);
    return written;
  }

  void remove() {
    if (path_.empty()) return;
    for (int attempt = 0; attempt < 100; ++attempt) {
      if (rmdir(path_.c_str()) == 0 || errno == ENOENT) break;
      std::ifstream procs(path_ + "/cgroup.procs");  // still busy: end what is left in it
      for (pid_t pid = 0; procs >> pid;) kill(pid, SIGKILL);
      usleep(20'000);
    }
    path_.clear();
  }

  std::string path_;
  std::string events_file_;
};

TEST(Limits, WorkerKilledByOutOfMemory) {
  constexpr std::int64_t limit = std::int64_t{64} << 20;
  std::string why_not;
  const MemoryCgroup cgroup(limit, why_not);
  const bool use_cgroup = cgroup.usable();
  RecordProperty("method", use_cgroup ? "memory cgroup " + cgroup.path()
                                      : "SIGKILL during allocation (" + why_not + ")");
  std::printf("method: %s\n", use_cgroup
                                  ? ("the OOM killer in memory cgroup " + cgroup.path()).c_str()
                                  : ("SIGKILL during allocation, no cgroup: " + why_not).c_str());

  ForkParallelizer par(3);
  const Resources before = Resources::take();
  pid_t victim = 0;
  const auto start = Clock::now();
  std::string problems;
  try {
    par.run([&](Parallelizer& p) {
      const std::vector<pid_t> pids = p.gather(getpid(), 0);
      if (p.on_main()) victim = pids[1];
      if (p.id() == 1) {
        if (use_cgroup && !cgroup.enter()) throw std::runtime_error("cannot enter the cgroup");
        if (!use_cgroup) p.send(1, 0, 9);  // "allocating now": main kills this process
        // Up to 1 GiB, touched page by page; far more than the cgroup allows.
        std::list<std::vector<char>> blocks;
        for (int mib = 0; mib < 1024; ++mib) blocks.emplace_back(std::size_t{1} << 20, 'x');
        throw std::runtime_error("allocated 1 GiB and was not killed");
      }
      if (!use_cgroup && p.on_main()) {
        p.receive<int>(1, 9);
        kill(victim, SIGKILL);
      }
      p.barrier();
    });
    problems += " run succeeded;";
  } catch (const unipar::WorkerLost& e) {
    std::printf("error: %s\n", e.what());
    if (e.process() != 1 || e.pid() != victim) problems += std::string(" who: ") + e.what() + ";";
    if (e.signal() != SIGKILL) problems += std::string(" signal: ") + e.what() + ";";
    problems += names(e.what(), {"worker 1", std::to_string(victim), "SIGKILL"});
  } catch (const std::exception& e) {
    problems += std::string(" not WorkerLost: ") + e.what() + ";";
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  RecordProperty("seconds_to_report", std::to_string(seconds));
  std::printf("reported after %.3f s\n", seconds);
  if (use_cgroup) {
    const long kills = cgroup.oom_kills();
    std::printf("OOM kills in the cgroup: %ld\n", kills);
    if (kills == 0) problems += " the cgroup reports no OOM kill;";
  }
  problems += left_behind(before);
  EXPECT_EQ(problems, "");
  // The parallelizer works afterwards.
  EXPECT_EQ(par.run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }), 3);
}

}  // namespace
