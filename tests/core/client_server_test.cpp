/// @file client_server_test.cpp
/// @brief ClientServerRunner and futures on every backend: results in any completion order,
/// plain and serialized types, many tiny requests, a large response, as_completed order,
/// handler and client exceptions, inside and outside run, twice on one parallelizer.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Client;
using unipar::ClientServerRunner;
using unipar::Future;
using unipar::Parallelizer;
using unipar::testing::backend;

TEST(ClientServer, ManyRequestsAnsweredInAnyOrderOutsideRun) {
  ClientServerRunner<int, long> runner(backend(), [](const int& x) { return 3L * x + 1; });
  const long sum = runner.run([](Client<int, long>& client) {
    std::vector<Future<long>> futures;
    for (int i = 0; i < 2000; ++i) futures.push_back(client.submit(i));
    long total = 0;
    for (int i = 0; i < 2000; ++i) {
      const long value = futures[static_cast<std::size_t>(i)].get();
      UNIPAR_CHECK(value == 3L * i + 1);
      total += value;
    }
    return total;
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(sum, 3L * (1999L * 2000L / 2) + 2000L);
}

TEST(ClientServer, ServersCountIsTheOtherProcesses) {
  ClientServerRunner<int, int> runner(backend(), [](const int& x) { return x; });
  const int servers = runner.run([](Client<int, int>& client) { return client.servers(); });
  if (!holds_main_results()) return;
  EXPECT_EQ(servers, std::max(1, backend().nprocs() - 1));
}

TEST(ClientServer, PlainAndSerializedRequestAndResponseTypes) {
  ClientServerRunner<Point, std::string> points(
      backend(), [](const Point& p) { return std::to_string(p.id) + ":" + p.label; });
  const auto texts = points.run([](Client<Point, std::string>& client) {
    std::vector<Future<std::string>> futures;
    for (int i = 0; i < 50; ++i) futures.push_back(client.submit(make_value<Point>(i)));
    std::vector<std::string> out;
    for (auto& future : futures) out.push_back(future.get());
    return out;
  });
  ClientServerRunner<Dict, Particle> dicts(backend(), [](const Dict& d) {
    std::vector<int> sizes;
    for (const auto& [key, values] : d) sizes.push_back(static_cast<int>(values.size()));
    return Particle(d.empty() ? "" : d.begin()->first, static_cast<double>(d.size()), sizes);
  });
  const auto particles = dicts.run([](Client<Dict, Particle>& client) {
    std::vector<Particle> out;
    for (int i = 0; i < 20; ++i) out.push_back(client.call(make_value<Dict>(i)));
    return out;
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(texts.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const Point p = make_value<Point>(i);
    EXPECT_EQ(texts[static_cast<std::size_t>(i)], std::to_string(p.id) + ":" + p.label);
  }
  ASSERT_EQ(particles.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    const Dict d = make_value<Dict>(i);
    EXPECT_EQ(particles[static_cast<std::size_t>(i)].mass(), static_cast<double>(d.size()));
  }
}

TEST(ClientServer, HundredThousandTinyRequests) {
  ClientServerRunner<std::uint32_t, std::uint32_t> runner(
      backend(), [](const std::uint32_t& x) { return x ^ 0x5A5A5A5AU; });
  const std::uint64_t sum = runner.run([](Client<std::uint32_t, std::uint32_t>& client) {
    std::vector<Future<std::uint32_t>> futures;
    futures.reserve(100'000);
    for (std::uint32_t i = 0; i < 100'000; ++i) futures.push_back(client.submit(i));
    std::uint64_t total = 0;
    for (auto& future : unipar::as_completed(futures)) total += future.get();
    return total;
  });
  if (!holds_main_results()) return;
  std::uint64_t expected = 0;
  for (std::uint32_t i = 0; i < 100'000; ++i) expected += i ^ 0x5A5A5A5AU;
  EXPECT_EQ(sum, expected);
}

TEST(ClientServer, ResponseOf64MiB) {
  constexpr std::size_t size = std::size_t{64} << 20;
  ClientServerRunner<int, std::vector<std::uint8_t>> runner(backend(), [](const int& seed) {
    std::vector<std::uint8_t> out(size);
    for (std::size_t i = 0; i < out.size(); i += 4096)
      out[i] = static_cast<std::uint8_t>(i / 4096 + seed);
    out.back() = 0xAB;
    return out;
  });
  const bool good = runner.run([](Client<int, std::vector<std::uint8_t>>& client) {
    const auto out = client.call(7);
    bool ok = out.size() == size && out.back() == 0xAB;
    for (std::size_t i = 0; ok && i < out.size(); i += 4096) {
      ok = out[i] == static_cast<std::uint8_t>(i / 4096 + 7);
    }
    return ok;
  });
  if (!holds_main_results()) return;
  EXPECT_TRUE(good);
}

/// A marker directory the handlers of one test signal each other through (they may run in
/// different processes).
class Markers {
 public:
  Markers() {
    char pattern[] = "/tmp/unipar-cs-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }
  ~Markers() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

void touch(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file != nullptr) std::fclose(file);
}

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

TEST(ClientServer, AsCompletedYieldsASlowRequestLast) {
  if (backend().nprocs() < 3) GTEST_SKIP() << "needs two servers (one process serves in order)";
  const Markers markers;
  // One directory for all: under MPI every rank made its own, rank 0's is used.
  const std::string dir =
      backend().run([&](Parallelizer& par) { return par.broadcast(markers.dir(), 0); });
  const std::string done = dir + "/last";
  constexpr int count = 40;
  // Request 0 waits until the client has received the last request's response (served by
  // another server: a server gets one request in each of its first two batches, so the busy
  // one cannot hold the last). Waiting for the response, not for the handler, matters: a
  // handler's result travels back with the rest of its batch.
  ClientServerRunner<int, int> runner(backend(), [&done](const int& i) {
    if (i == 0) {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!exists(done)) {
        if (std::chrono::steady_clock::now() > give_up) throw std::runtime_error("never released");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    return i;
  });
  const auto order = runner.run([&done](Client<int, int>& client) {
    std::vector<Future<int>> futures;
    for (int i = 0; i < count; ++i) futures.push_back(client.submit(i));
    std::vector<int> seen;
    for (auto& future : unipar::as_completed(futures)) {
      seen.push_back(future.get());
      if (seen.back() == count - 1) touch(done);
    }
    return seen;
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(order.size(), static_cast<std::size_t>(count));
  const auto last = std::find(order.begin(), order.end(), count - 1);
  const auto first = std::find(order.begin(), order.end(), 0);
  ASSERT_NE(first, order.end());
  EXPECT_LT(last - order.begin(), first - order.begin()) << "request 0 came before the last one";
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < count; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
}

TEST(ClientServer, AHandlerExceptionFailsOnlyItsRequest) {
  ClientServerRunner<int, int> runner(backend(), [](const int& i) {
    if (i % 10 == 7) throw std::invalid_argument("bad request " + std::to_string(i));
    return i * 2;
  });
  const auto outcome = runner.run([](Client<int, int>& client) {
    std::vector<Future<int>> futures;
    for (int i = 0; i < 100; ++i) futures.push_back(client.submit(i));
    int good = 0;
    int failed = 0;
    std::string message;
    int server = -1;
    for (int i = 0; i < 100; ++i) {
      try {
        UNIPAR_CHECK(futures[static_cast<std::size_t>(i)].get() == i * 2);
        ++good;
      } catch (const unipar::WorkerError& error) {
        UNIPAR_CHECK(i % 10 == 7);
        ++failed;
        if (message.empty()) {
          message = error.what();
          server = error.process();
        }
      }
    }
    // The servers go on serving after a failed request.
    UNIPAR_CHECK(client.call(21) == 42);
    return std::make_tuple(good, failed, message, server);
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(std::get<0>(outcome), 90);
  EXPECT_EQ(std::get<1>(outcome), 10);
  EXPECT_NE(std::get<2>(outcome).find("std::invalid_argument"), std::string::npos)
      << std::get<2>(outcome);
  EXPECT_NE(std::get<2>(outcome).find("bad request 7"), std::string::npos) << std::get<2>(outcome);
  if (backend().nprocs() > 1) {
    EXPECT_GE(std::get<3>(outcome), 1);
  } else {
    EXPECT_EQ(std::get<3>(outcome), 0);
  }
}

TEST(ClientServer, AClientExceptionReachesTheCallerAndTheParallelizerGoesOn) {
  ClientServerRunner<int, int> runner(backend(), [](const int& i) { return i + 1; });
  if (backend().on_main()) {
    try {
      runner.run([](Client<int, int>& client) -> int {
        for (int i = 0; i < 100; ++i) (void)client.submit(i);
        throw std::domain_error("client gave up");
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::domain_error& error) {
      EXPECT_STREQ(error.what(), "client gave up");
    } catch (const unipar::WorkerError& error) {
      // Under MPI the other ranks' view; main throws its own exception.
      ADD_FAILURE() << "main got WorkerError: " << error.what();
    }
  } else {
    // Other MPI ranks serve, then learn that main failed.
    EXPECT_THROW(runner.run([](Client<int, int>&) { return 0; }), unipar::WorkerError);
  }
  const int next = runner.run([](Client<int, int>& client) { return client.call(41); });
  if (!holds_main_results()) return;
  EXPECT_EQ(next, 42);
}

TEST(ClientServer, InsideRunTwiceBetweenCollectives) {
  const auto total = backend().run([](Parallelizer& par) {
    long sum = 0;
    // A handler with state kept between requests: built on first use, once per server.
    ClientServerRunner<int, long> runner(par, [table = std::vector<long>()](const int& i) mutable {
      if (table.empty()) {
        table.resize(1000);
        std::iota(table.begin(), table.end(), 0L);
      }
      return table[static_cast<std::size_t>(i)] * 2;
    });
    for (int round = 0; round < 2; ++round) {
      const long part = runner.run([&](Client<int, long>& client) {
        std::vector<Future<long>> futures;
        for (int i = 0; i < 1000; ++i) futures.push_back(client.submit(i));
        unipar::wait_all(futures);
        long s = 0;
        for (auto& future : futures) {
          UNIPAR_CHECK(future.ready());
          s += future.get();
        }
        return s;
      });
      sum += par.broadcast(part, 0);
      par.barrier();
    }
    return par.allreduce(sum, std::plus<>{});
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(total, static_cast<long>(backend().nprocs()) * 2 * 999L * 1000L);
}

TEST(ClientServer, FutureMisuseIsAUsageError) {
  ClientServerRunner<int, int> runner(backend(), [](const int& i) { return i; });
  const bool ok = runner.run([](Client<int, int>& client) {
    Future<int> future = client.submit(1);
    UNIPAR_CHECK(future.get() == 1);
    bool threw = false;
    try {
      (void)future.get();
    } catch (const unipar::UsageError&) {
      threw = true;
    }
    Future<int> empty;
    UNIPAR_CHECK(!empty.valid());
    return threw;
  });
  if (!holds_main_results()) return;
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace unipar_test
