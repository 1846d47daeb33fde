/// @file large_test.cpp
/// @brief 64 MiB payloads (8M doubles) through every path: broadcast, broadcast_inplace into a
/// buffer whose capacity is reused, scatter, gather_blocks and point-to-point between the first
/// and last processes. Each case runs once: they are about correctness, not speed.
#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Parallelizer;
using unipar::testing::backend;

constexpr std::size_t big_count = std::size_t{8} << 20;  // 8M doubles = 64 MiB

std::vector<double> big_vector(double offset) {
  std::vector<double> v(big_count);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.5 + offset;
  return v;
}

bool is_big_vector(const std::vector<double>& v, double offset) {
  if (v.size() != big_count) return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != static_cast<double>(i) * 0.5 + offset) return false;
  }
  return true;
}

TEST(Large, Broadcast64MiBFromTheLastProcess) {
  const bool ok = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    std::vector<double> data;
    if (par.id() == last) data = big_vector(1.0);
    const auto got = par.broadcast(std::move(data), last);
    UNIPAR_CHECK(is_big_vector(got, 1.0));
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Large, BroadcastInplace64MiBReusesTheReceiversCapacity) {
  const auto reused = backend().run([](Parallelizer& par) {
    std::vector<double> buffer;
    const double* before = nullptr;
    if (par.on_main()) {
      buffer = big_vector(2.0);
    } else {
      buffer.reserve(big_count);
      buffer.push_back(-1.0);
      before = buffer.data();
    }
    par.broadcast_inplace(buffer, 0);
    UNIPAR_CHECK(is_big_vector(buffer, 2.0));
    const bool same_storage = par.on_main() || buffer.data() == before;
    return par.gather(same_storage ? 1 : 0);
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(reused.size(), static_cast<std::size_t>(backend().nprocs()));
  for (int i = 0; i < backend().nprocs(); ++i) EXPECT_EQ(reused[i], 1) << "process " << i;
}

TEST(Large, Scatter64MiBAndGatherBlocksBack) {
  const bool ok = backend().run([](Parallelizer& par) {
    std::vector<double> data;
    if (par.on_main()) data = big_vector(3.0);
    const auto block = par.scatter(data, 0);
    const auto expected = expected_block(big_count, par.nprocs(), par.id());
    UNIPAR_CHECK(block.size() == expected.size);
    for (std::size_t j = 0; j < block.size(); ++j) {
      UNIPAR_CHECK(block[j] == static_cast<double>(expected.begin + j) * 0.5 + 3.0);
    }
    const auto all = par.gather_blocks(block, 0);
    if (par.on_main())
      UNIPAR_CHECK(all == data);
    else
      UNIPAR_CHECK(all.empty());
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Large, SendAndReceive64MiBBetweenFirstAndLast) {
  const bool ok = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    if (par.id() == 0) par.send(big_vector(4.0), last, 1);
    if (par.id() == last) {
      auto got = par.receive<std::vector<double>>(0, 1);
      UNIPAR_CHECK(is_big_vector(got, 4.0));
      for (double& x : got) x += 1.0;
      par.send(got, 0, 2);
    }
    if (par.id() == 0) UNIPAR_CHECK(is_big_vector(par.receive<std::vector<double>>(last, 2), 5.0));
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Large, Serialized64MiBValueIsBroadcast) {
  const bool ok = backend().run([](Parallelizer& par) {
    Dict dict;
    if (par.on_main()) dict = {{"big", big_vector(6.0)}, {"small", {1.0}}};
    dict = par.broadcast(std::move(dict), 0);
    UNIPAR_CHECK(dict.size() == 2);
    UNIPAR_CHECK(is_big_vector(dict["big"], 6.0));
    UNIPAR_CHECK(dict["small"] == std::vector<double>{1.0});
    return true;
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace unipar_test
