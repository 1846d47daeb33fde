/// @file shared_hosts_test.cpp
/// @brief Shared objects when the ranks run on several hosts (tests/multihost/multihost.py, or
/// a real cluster): a job-wide object is a UsageError on every rank naming the hosts' count and
/// Sharing::node_local; with node_local each host has its own object, made by its lowest rank,
/// which every rank of that host sees and no other. With every rank on one host (mpirun alone)
/// the job-wide object works and node_local is the same object.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backend.hpp"

namespace {

using unipar::Parallelizer;
using unipar::SharedArray;
using unipar::SharedDict;
using unipar::Sharing;
using unipar::UsageError;
using unipar::testing::backend;

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

/// Every rank's host name, in rank order, on every rank.
std::vector<std::string> host_names(Parallelizer& p) {
  return p.broadcast(p.gather(host_name()));
}

/// Hosts the driver made (UNIPAR_MULTIHOST_HOSTS), or 1 when run by mpirun alone.
std::size_t expected_hosts() {
  const char* hosts = std::getenv("UNIPAR_MULTIHOST_HOSTS");
  return hosts != nullptr ? std::stoul(hosts) : 1;
}

TEST(SharedHosts, TheRanksRunOnTheHostsTheLauncherWasGiven) {
  const auto names = backend().run([](Parallelizer& p) { return host_names(p); });
  const std::set<std::string> distinct(names.begin(), names.end());
  EXPECT_EQ(distinct.size(), expected_hosts());
}

TEST(SharedHosts, AJobWideObjectOnSeveralHostsIsAUsageErrorOnEveryRank) {
  const bool every_rank_as_expected = backend().run([](Parallelizer& p) {
    const std::size_t hosts = expected_hosts();
    std::string what;
    bool made = false;
    try {
      SharedDict<int, int> dict(p);
      made = true;
      dict.set(p.id(), p.id());
      p.barrier();
      made = dict.size() == static_cast<std::size_t>(p.nprocs());
    } catch (const UsageError& error) {
      what = error.what();
    }
    bool ok = false;
    if (hosts == 1) {
      ok = made && what.empty();
    } else {
      ok = !made && what.find("run on " + std::to_string(hosts) + " nodes") != std::string::npos &&
           what.find("unipar::Sharing::node_local") != std::string::npos;
    }
    return p.allreduce(ok, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(every_rank_as_expected);
}

TEST(SharedHosts, NodeLocalObjectsAreOnePerHostMadeByItsLowestRank) {
  const bool every_rank_as_expected = backend().run([](Parallelizer& p) {
    const auto names = host_names(p);
    const std::string& mine = names[static_cast<std::size_t>(p.id())];
    std::vector<int> my_host_ranks;
    for (std::size_t rank = 0; rank < names.size(); ++rank) {
      if (names[rank] == mine) my_host_ranks.push_back(static_cast<int>(rank));
    }
    SharedArray<int> array(p, std::vector<int>(4, p.id()), Sharing::node_local);
    SharedDict<int, std::string> dict(p, Sharing::node_local);
    dict.set(p.id(), mine);
    if (p.id() == my_host_ranks.back()) array[1] = 100 + p.id();  // the host's last rank
    p.barrier();
    bool ok = array[0] == my_host_ranks.front() && array[1] == 100 + my_host_ranks.back();
    auto keys = dict.keys();
    std::sort(keys.begin(), keys.end());
    ok = ok && keys == my_host_ranks;
    for (const int key : keys) ok = ok && dict.at(key) == mine;
    p.barrier();  // nobody frees the host's object while another still reads it
    return p.allreduce(ok, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(every_rank_as_expected);
}

}  // namespace
