// ClientServerRunner under fork when things go wrong: a server that dies fails only the
// request it was computing and the others are served by the remaining servers; a client that
// throws releases the servers; nothing is left behind either way.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

#include "left_behind.hpp"
#include "unipar/unipar.hpp"

namespace {

using unipar::Client;
using unipar::ClientServerRunner;
using unipar::Future;

/// No child of this process is left (running or zombie).
bool no_children() {
  return waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

TEST(ClientServerFork, AServerThatDiesFailsOnlyTheRequestItWasComputing) {
  const auto shm_before = unipar_test::unipar_shm_entries();
  const int mappings_before = unipar_test::anonymous_shared_mappings();
  unipar::ForkParallelizer par(4);  // three servers: isolating the killer may cost two
  const pid_t main_pid = getpid();
  ClientServerRunner<int, int> runner(par, [main_pid](const int& i) {
    if (i == 13 && getpid() != main_pid) raise(SIGKILL);
    return i * 3;
  });
  const auto outcome = runner.run([](Client<int, int>& client) {
    std::vector<Future<int>> futures;
    for (int i = 0; i < 300; ++i) futures.push_back(client.submit(i));
    int good = 0;
    int lost = 0;
    int wrong = 0;
    for (int i = 0; i < 300; ++i) {
      try {
        if (futures[static_cast<std::size_t>(i)].get() == i * 3) {
          ++good;
        } else {
          ++wrong;
        }
      } catch (const unipar::WorkerLost& error) {
        if (i == 13 && error.signal() == SIGKILL)
          ++lost;
        else
          ++wrong;
      }
    }
    // The servers left keep serving.
    const int after = client.call(100);
    return std::vector<int>{good, lost, wrong, after};
  });
  EXPECT_EQ(outcome, (std::vector<int>{299, 1, 0, 300}));
  // The parallelizer is whole again for the next call.
  const auto again = par.map([](int i) { return i + 1; }, std::vector<int>{1, 2, 3});
  EXPECT_EQ(again, (std::vector<int>{2, 3, 4}));
  EXPECT_TRUE(no_children());
  EXPECT_EQ(unipar_test::unipar_shm_entries(), shm_before);
  EXPECT_EQ(unipar_test::anonymous_shared_mappings(), mappings_before);
}

TEST(ClientServerFork, EveryServerDeadFailsEveryRequestAndNothingHangs) {
  unipar::ForkParallelizer par(3);
  const pid_t main_pid = getpid();
  ClientServerRunner<int, int> runner(par, [main_pid](const int& i) {
    if (getpid() != main_pid) raise(SIGKILL);
    return i;
  });
  const int lost = runner.run([](Client<int, int>& client) {
    std::vector<Future<int>> futures;
    for (int i = 0; i < 20; ++i) futures.push_back(client.submit(i));
    int count = 0;
    for (auto& future : futures) {
      try {
        (void)future.get();
      } catch (const unipar::WorkerLost&) {
        ++count;
      }
    }
    try {
      (void)client.call(1);  // nobody is left to serve it: fails at once
    } catch (const unipar::WorkerLost&) {
      ++count;
    }
    return count;
  });
  EXPECT_EQ(lost, 21);
  EXPECT_TRUE(no_children());
}

TEST(ClientServerFork, AClientThatThrowsReleasesTheServers) {
  const auto shm_before = unipar_test::unipar_shm_entries();
  const int mappings_before = unipar_test::anonymous_shared_mappings();
  unipar::ForkParallelizer par(3);
  ClientServerRunner<int, int> runner(par, [](const int& i) { return i; });
  EXPECT_THROW(runner.run([](Client<int, int>& client) -> int {
    for (int i = 0; i < 1000; ++i) (void)client.submit(i);
    throw std::out_of_range("client");
  }),
               std::out_of_range);
  EXPECT_TRUE(no_children());
  EXPECT_EQ(unipar_test::unipar_shm_entries(), shm_before);
  EXPECT_EQ(unipar_test::anonymous_shared_mappings(), mappings_before);
  EXPECT_EQ(runner.run([](Client<int, int>& client) { return client.call(5); }), 5);
}

}  // namespace
