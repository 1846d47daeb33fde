/// @file examples_test.cpp
/// @brief The examples of the model library (McUtils.Parallelizers), written once against
/// unipar::Parallelizer: they give the same numbers on every backend as a serial computation.
#include <cmath>
#include <numeric>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Parallelizer;
using unipar::testing::backend;

TEST(Examples, BroadcastAFlagThenScatterAndGatherBlockLengths) {
  const auto result = backend().run([](Parallelizer& par) {
    const bool go = par.broadcast(par.on_main());  // true on main only, so true everywhere after
    UNIPAR_CHECK(go);
    std::vector<int> data;
    if (par.on_main()) {
      data.resize(1000);
      std::iota(data.begin(), data.end(), 0);
    }
    const auto block = par.scatter(data);
    return par.gather(block.size());
  });
  if (!holds_main_results()) return;
  const int n = backend().nprocs();
  ASSERT_EQ(result.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(std::accumulate(result.begin(), result.end(), std::size_t{0}), 1000u);
  for (int i = 0; i < n; ++i) {
    const std::size_t expected =
        1000 / static_cast<std::size_t>(n) +
        (static_cast<std::size_t>(i) < 1000 % static_cast<std::size_t>(n) ? 1 : 0);
    EXPECT_EQ(result[i], expected) << "block " << i;
  }
}

TEST(Examples, BlocksOfAThousandItemsOverFifteenProcesses) {
  std::size_t next = 0;
  int of_67 = 0, of_66 = 0;
  for (int i = 0; i < 15; ++i) {
    const auto block = unipar::detail::block_of(1000, 15, i);
    EXPECT_EQ(block.begin, next) << "block " << i << " is contiguous";
    next += block.size;
    if (block.size == 67) ++of_67;
    if (block.size == 66) ++of_66;
    EXPECT_EQ(block.size, i < 10 ? 67u : 66u) << "larger blocks first";
  }
  EXPECT_EQ(of_67, 10);
  EXPECT_EQ(of_66, 5);
  EXPECT_EQ(next, 1000u);
  // And the same split as the contract describes it, for the sizes the tests run.
  for (int parts = 1; parts <= 7; ++parts) {
    for (std::size_t count : {0, 1, 7, 1000}) {
      for (int i = 0; i < parts; ++i) {
        const auto block = unipar::detail::block_of(count, parts, i);
        const auto expected = expected_block(count, parts, i);
        EXPECT_EQ(block.begin, expected.begin) << count << " over " << parts << ", block " << i;
        EXPECT_EQ(block.size, expected.size) << count << " over " << parts << ", block " << i;
      }
    }
  }
}

TEST(Examples, MapPlusOneEqualsTheSerialResult) {
  std::vector<int> items(1000);
  std::iota(items.begin(), items.end(), 0);
  std::vector<int> serial;
  for (int x : items) serial.push_back(x + 1);
  const auto parallel = backend().map([](int x) { return x + 1; }, items);
  if (!holds_main_results()) return;
  EXPECT_EQ(parallel, serial);
}

TEST(Examples, RunTwice) {
  auto work = [](Parallelizer& par) { return par.gather(par.id() * par.id()); };
  const auto first = backend().run(work);
  const auto second = backend().run(work);
  if (!holds_main_results()) return;
  EXPECT_EQ(first, second);
  ASSERT_EQ(first.size(), static_cast<std::size_t>(backend().nprocs()));
  for (int i = 0; i < backend().nprocs(); ++i) EXPECT_EQ(first[i], i * i);
}

/// A library class that takes a Parallelizer: it knows nothing about the backend.
class RootMeanSquares {
 public:
  explicit RootMeanSquares(Parallelizer& par) : par_(par) {}

  /// sqrt(x * x) of every x, computed in parallel: main holds the data, the processes square
  /// their blocks, main collects the squares and takes the roots.
  std::vector<double> absolute_values(std::size_t count) {
    return par_.run([count](Parallelizer& par) {
      std::vector<double> data;
      if (par.on_main()) data = initial_data(count);
      auto block = par.scatter(data);
      for (double& x : block) x = x * x;
      auto squares = par.gather_blocks(block);
      for (double& x : squares) x = std::sqrt(x);
      return squares;
    });
  }

  static std::vector<double> initial_data(std::size_t count) {
    std::vector<double> data(count);
    for (std::size_t i = 0; i < count; ++i)
      data[i] = std::sin(static_cast<double>(i)) * (1.0 + static_cast<double>(i) / 7.0);
    return data;
  }

 private:
  Parallelizer& par_;
};

TEST(Examples, AClassTakingAParallelizerMatchesTheSerialComputation) {
  for (std::size_t count : {0, 1, 7, 1000, 4097}) {
    RootMeanSquares computation(backend());
    const auto parallel = computation.absolute_values(count);
    if (!holds_main_results()) continue;  // every rank still takes part in the next run
    std::vector<double> serial = RootMeanSquares::initial_data(count);
    for (double& x : serial) x = std::sqrt(x * x);
    ASSERT_EQ(parallel.size(), serial.size());
    for (std::size_t i = 0; i < count; ++i) {
      EXPECT_EQ(parallel[i], serial[i]) << i;  // exactly: same operations on the same values
    }
    // And with the serial backend itself.
    unipar::SerialParallelizer serial_par;
    EXPECT_EQ(RootMeanSquares(serial_par).absolute_values(count), parallel);
  }
}

}  // namespace
}  // namespace unipar_test
