// Workers die with main: when the main process of a fork run is killed, its workers follow and
// nothing is left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "left_behind.hpp"
#include "unipar/unipar.hpp"

namespace {

/// Reaps any child that has exited (orphaned workers are re-parented to us, the subreaper);
/// returns whether `pid` is gone.
bool gone(pid_t pid) {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  return kill(pid, 0) != 0 && errno == ESRCH;
}

/// How the workers are occupied when main is killed.
enum class Occupation { waiting_in_receive, computing };

class ForkLifetime : public ::testing::TestWithParam<std::tuple<int, Occupation>> {};

TEST_P(ForkLifetime, WorkersDieWithMain) {
  const auto [nprocs, occupation] = GetParam();
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const auto shm_before = unipar_test::unipar_shm_entries();
  std::array<int, 2> pipe_fds{};
  ASSERT_EQ(pipe(pipe_fds.data()), 0);

  const pid_t main_pid = fork();
  ASSERT_GE(main_pid, 0);
  if (main_pid == 0) {
    // The "main" of a fork run: every worker reports its pid, then waits or computes forever.
    close(pipe_fds[0]);
    unipar::ForkParallelizer par(nprocs);
    par.run([&, occupation = occupation](unipar::Parallelizer& p) {
      const pid_t self = getpid();
      if (!p.on_main()) {
        if (write(pipe_fds[1], &self, sizeof self) != sizeof self) _exit(2);
        if (occupation == Occupation::computing) {
          for (;;) asm volatile("" ::: "memory");  // busy in user code, never in unipar
        }
      }
      p.receive<int>((p.id() + 1) % p.nprocs());  // nobody ever sends
    });
    _exit(0);
  }
  close(pipe_fds[1]);
  std::vector<pid_t> workers;
  for (int i = 1; i < nprocs; ++i) {
    pid_t pid = 0;
    ASSERT_EQ(read(pipe_fds[0], &pid, sizeof pid), static_cast<ssize_t>(sizeof pid));
    workers.push_back(pid);
  }
  close(pipe_fds[0]);

  ASSERT_EQ(kill(main_pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(main_pid, &status, 0), main_pid);
  EXPECT_TRUE(WIFSIGNALED(status));

  // Hang guard only: the workers are killed by the kernel as soon as main dies.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (pid_t worker : workers) {
    while (!gone(worker) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(gone(worker)) << "worker " << worker << " outlived its main process";
  }
  EXPECT_EQ(unipar_test::unipar_shm_entries(), shm_before);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

INSTANTIATE_TEST_SUITE_P(SizesAndOccupations, ForkLifetime,
                         ::testing::Combine(::testing::Values(2, 4),
                                            ::testing::Values(Occupation::waiting_in_receive,
                                                              Occupation::computing)));

}  // namespace
