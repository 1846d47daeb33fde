/// @file reduce_blocks_test.cpp
/// @brief reduce_blocks / allreduce_blocks on every backend and process count: the result is
/// the value of one fixed tree over the global item index, bit for bit, however the items are
/// spread over the processes (even, uneven, some blocks empty). The expected value comes from a
/// separate recursive statement of the tree, computed by this process alone.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Parallelizer;
using unipar::UsageError;
using unipar::testing::backend;

/// The tree's value over items [lo, hi) of `items` (n = items.size()), stated directly: the
/// node of size 2^k starting at lo is op(left half, right half), the right half left out when
/// it holds no item.
template <class T, class Op>
T tree_reference(const std::vector<T>& items, std::uint64_t lo, std::uint64_t size, Op op) {
  if (size == 1) return items[lo];
  const std::uint64_t half = size / 2;
  if (lo + half >= items.size()) return tree_reference(items, lo, half, op);
  return op(tree_reference(items, lo, half, op), tree_reference(items, lo + half, half, op));
}

template <class T, class Op>
T tree_reference(const std::vector<T>& items, Op op) {
  std::uint64_t size = 1;
  while (size < items.size()) size *= 2;
  return tree_reference(items, 0, size, op);
}

/// How `n` items are spread: process i's block [begin, end) under `layout`.
std::pair<std::size_t, std::size_t> block_of(int layout, std::size_t n, int id, int nprocs) {
  if (layout == 0) {  // as scatter does
    const auto b = unipar::detail::block_of(n, nprocs, id);
    return {b.begin, b.begin + b.size};
  }
  // Uneven: weights id^2 (process 0's block is empty), and with layout 2 the last process
  // holds nothing either (with more than two processes).
  std::vector<std::size_t> cumulative(static_cast<std::size_t>(nprocs) + 1, 0);
  for (int i = 0; i < nprocs; ++i) {
    const bool empty = layout == 2 && i == nprocs - 1 && nprocs > 2;
    cumulative[static_cast<std::size_t>(i) + 1] =
        cumulative[static_cast<std::size_t>(i)] + (empty ? 0 : static_cast<std::size_t>(i * i));
  }
  const std::size_t total = cumulative.back();
  if (total == 0) return {0, n};  // one process: it holds everything
  const auto bound = [&](int i) { return n * cumulative[static_cast<std::size_t>(i)] / total; };
  return {bound(id), bound(id + 1)};
}

std::vector<double> mixed_magnitudes(std::size_t n) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double scale = i % 7 == 0 ? 1e16 : (i % 3 == 0 ? 1e-8 : 1.0);
    x[i] = scale * std::sin(double(i) * 0.37) * (i % 2 == 0 ? 1 : -1);
  }
  return x;
}

TEST(ReduceBlocks, SumsOfAMillionMixedMagnitudesAreBitIdenticalForEveryLayout) {
  constexpr std::size_t n = 1'000'000;
  const auto x = mixed_magnitudes(n);
  const double expected = tree_reference(x, std::plus<>{});
  // The tree is not a left fold: with these magnitudes the two differ (so this tests the tree).
  double fold = 0;
  for (const double v : x) fold += v;
  EXPECT_NE(fold, expected);
  for (int layout = 0; layout < 3; ++layout) {
    const auto got = backend().run([&](Parallelizer& par) {
      const auto [begin, end] = block_of(layout, n, par.id(), par.nprocs());
      const std::vector<double> block(x.begin() + static_cast<std::ptrdiff_t>(begin),
                                      x.begin() + static_cast<std::ptrdiff_t>(end));
      const double everywhere = par.allreduce_blocks(block, std::plus<>{});
      const double on_root = par.reduce_blocks(block, std::plus<>{}, par.nprocs() - 1);
      UNIPAR_CHECK(par.id() == par.nprocs() - 1 ? on_root == everywhere : on_root == 0.0);
      // Every process holds the same bits.
      UNIPAR_CHECK(par.allreduce(everywhere == par.broadcast(everywhere), std::logical_and<>{}));
      return everywhere;
    });
    EXPECT_EQ(got, expected) << "layout " << layout;
  }
}

TEST(ReduceBlocks, ANonCommutativeOpKeepsItemOrderAndTheTreeShape) {
  // An op that records its bracketing: the result shows both the order of the items and the
  // exact tree, which must not depend on how many processes hold which items.
  const auto bracket = [](std::string a, const std::string& b) { return "(" + a + b + ")"; };
  for (const std::size_t n : {1U, 2U, 3U, 5U, 8U, 13U, 100U}) {
    std::vector<std::string> items(n);
    for (std::size_t i = 0; i < n; ++i) items[i] = std::to_string(i) + ".";
    const std::string expected = tree_reference(items, bracket);
    for (int layout = 0; layout < 3; ++layout) {
      const auto got = backend().run([&](Parallelizer& par) {
        const auto [begin, end] = block_of(layout, n, par.id(), par.nprocs());
        const std::vector<std::string> block(items.begin() + static_cast<std::ptrdiff_t>(begin),
                                             items.begin() + static_cast<std::ptrdiff_t>(end));
        return par.allreduce_blocks(block, bracket);
      });
      EXPECT_EQ(got, expected) << n << " items, layout " << layout;
    }
  }
  // An associative op that does not commute: the tree gives the left fold's result.
  const auto concatenation = backend().run([](Parallelizer& par) {
    std::vector<std::string> mine;
    for (int i = 0; i <= par.id(); ++i) mine.push_back(std::to_string(par.id()));
    return par.allreduce_blocks(mine, [](std::string a, const std::string& b) { return a + b; });
  });
  std::string expected;
  for (int id = 0; id < backend().nprocs(); ++id) expected += std::string(id + 1, char('0' + id));
  EXPECT_EQ(concatenation, expected);
}

TEST(ReduceBlocks, EveryBlockEmptyIsAUsageErrorOnEveryProcess) {
  const bool all_threw = backend().run([](Parallelizer& par) {
    bool threw = false;
    try {
      (void)par.allreduce_blocks(std::vector<double>{}, std::plus<>{});
    } catch (const UsageError& e) {
      threw = contains(e.what(), "allreduce_blocks: every process's block is empty");
    }
    return par.allreduce(threw, std::logical_and<>{});
  });
  EXPECT_TRUE(all_threw);
}

}  // namespace
}  // namespace unipar_test
