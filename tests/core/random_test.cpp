/// @file random_test.cpp
/// @brief unipar::TaskRandom: Philox4x32-10's known answers, the same draws on every backend
/// (computed by whichever process takes the task, compared with this process's own), and
/// statistical smoke tests of independence across streams. Every input is fixed, so every
/// outcome is too: the statistical bounds are wide (about 5 sigma) and decided once.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::TaskRandom;
using unipar::testing::backend;

static_assert(std::uniform_random_bit_generator<TaskRandom>);
static_assert(TaskRandom::min() == 0 && TaskRandom::max() == ~std::uint64_t{0});

TEST(TaskRandom, PhiloxGivesTheKnownAnswersOfRandom123) {
  // The known-answer vectors Random123 publishes for philox4x32 with 10 rounds.
  EXPECT_EQ(TaskRandom::philox({0, 0, 0, 0}, {0, 0}),
            (TaskRandom::Block{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(TaskRandom::philox({~0U, ~0U, ~0U, ~0U}, {~0U, ~0U}),
            (TaskRandom::Block{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(TaskRandom::philox({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                               {0xa4093822, 0x299f31d0}),
            (TaskRandom::Block{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(TaskRandom, AStreamDependsOnSeedAndTaskOnlyAndCopiesContinueIt) {
  TaskRandom a(7, 3);
  TaskRandom b(7, 3);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == TaskRandom(7, 4));
  EXPECT_FALSE(a == TaskRandom(8, 3));
  for (int i = 0; i < 5; ++i) (void)a();
  TaskRandom copy = a;
  for (int i = 0; i < 5; ++i) (void)b();
  for (int i = 0; i < 100; ++i) {
    const auto x = a();
    EXPECT_EQ(x, b());
    EXPECT_EQ(x, copy());
  }
  for (int i = 0; i < 1000; ++i) {
    const double u = a.uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

/// Draws 0-3 and 1000 of task `task`'s stream.
std::array<std::uint64_t, 5> signature(std::uint64_t seed, int task) {
  TaskRandom random(seed, static_cast<std::uint64_t>(task));
  std::array<std::uint64_t, 5> out{};
  for (int i = 0; i < 4; ++i) out[static_cast<std::size_t>(i)] = random();
  for (int i = 4; i < 1000; ++i) (void)random();
  out[4] = random();
  return out;
}

TEST(TaskRandom, EveryBackendAndProcessCountDrawsTheSameStreams) {
  constexpr int tasks = 500;
  constexpr std::uint64_t seed = 2026;
  std::vector<int> items(tasks);
  for (int i = 0; i < tasks; ++i) items[static_cast<std::size_t>(i)] = i;
  // Tasks land on whichever process claims them; each stream depends only on (seed, task).
  const auto drawn =
      backend().map([](int task) { return signature(seed, task); }, items, {.chunk = 7});
  // And a distribution over the stream gives the same values too.
  const auto normals = backend().map(
      [](int task) {
        TaskRandom random(seed, static_cast<std::uint64_t>(task));
        std::normal_distribution<double> normal;
        return normal(random);
      },
      items);
  if (!holds_main_results()) return;  // under MPI, the other ranks
  ASSERT_EQ(drawn.size(), items.size());
  for (int i = 0; i < tasks; ++i) {
    EXPECT_EQ(drawn[static_cast<std::size_t>(i)], signature(seed, i)) << "task " << i;
  }
  for (int i = 0; i < tasks; ++i) {
    TaskRandom random(seed, static_cast<std::uint64_t>(i));
    std::normal_distribution<double> normal;
    EXPECT_EQ(normals[static_cast<std::size_t>(i)], normal(random)) << "task " << i;
  }
}

TEST(TaskRandom, AMillionStreamsDoNotOverlapOrRepeatOneAnother) {
  // Streams start at Philox-chosen points of xoshiro's cycle. What a test can see: the first
  // two draws of 10^6 streams are 2 * 10^6 distinct 64-bit values (a repeat among truly random
  // ones has probability 1e-7), and neighbouring tasks do not give shifted copies of each
  // other (task i's second draw is never task i+1's first).
  constexpr std::uint64_t streams = 1'000'000;
  std::vector<std::uint64_t> firsts;
  firsts.reserve(2 * streams);
  std::uint64_t previous_second = 0;
  int shifted = 0;
  for (std::uint64_t task = 0; task < streams; ++task) {
    TaskRandom random(99, task);
    const std::uint64_t first = random();
    const std::uint64_t second = random();
    if (task > 0 && first == previous_second) ++shifted;
    previous_second = second;
    firsts.push_back(first);
    firsts.push_back(second);
  }
  EXPECT_EQ(shifted, 0);
  std::sort(firsts.begin(), firsts.end());
  EXPECT_EQ(std::adjacent_find(firsts.begin(), firsts.end()), firsts.end())
      << "two draws of a million streams are equal";
}

TEST(TaskRandom, OutputPassesStatisticalSmokeTests) {
  // Across streams (the first draw of 2^18 consecutive tasks) and along one stream (2^18
  // draws): every bit is set half the time, the top byte is uniform (chi-square, 255 degrees of
  // freedom), and consecutive values are uncorrelated, each within about 5 sigma.
  constexpr int count = 1 << 18;
  for (const bool across : {true, false}) {
    std::vector<std::uint64_t> values(count);
    TaskRandom one(5, 0);
    for (int i = 0; i < count; ++i) {
      values[static_cast<std::size_t>(i)] =
          across ? TaskRandom(5, static_cast<std::uint64_t>(i))() : one();
    }
    const char* what = across ? "across streams" : "along a stream";
    std::array<int, 64> ones{};
    std::array<int, 256> top{};
    double sum_xy = 0;
    double sum_x = 0;
    double sum_xx = 0;
    for (int i = 0; i < count; ++i) {
      const std::uint64_t v = values[static_cast<std::size_t>(i)];
      for (int bit = 0; bit < 64; ++bit) ones[static_cast<std::size_t>(bit)] += (v >> bit) & 1;
      ++top[v >> 56];
      const double x = double(v >> 11) * 0x1p-53;
      sum_x += x;
      sum_xx += x * x;
      if (i > 0) sum_xy += x * (double(values[static_cast<std::size_t>(i - 1)] >> 11) * 0x1p-53);
    }
    const double sigma_bit = std::sqrt(count * 0.25);
    for (int bit = 0; bit < 64; ++bit) {
      EXPECT_LT(std::abs(ones[static_cast<std::size_t>(bit)] - count / 2.0), 5 * sigma_bit)
          << what << ": bit " << bit;
    }
    const double expected = count / 256.0;
    double chi2 = 0;
    for (const int observed : top) chi2 += (observed - expected) * (observed - expected) / expected;
    // 255 degrees of freedom: mean 255, standard deviation sqrt(510) = 22.6.
    EXPECT_LT(chi2, 255 + 5 * 22.6) << what;
    EXPECT_GT(chi2, 255 - 5 * 22.6) << what;
    const double mean = sum_x / count;
    const double variance = sum_xx / count - mean * mean;
    const double correlation = (sum_xy / (count - 1) - mean * mean) / variance;
    EXPECT_LT(std::abs(correlation), 5 / std::sqrt(double(count))) << what;
    EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / 12 / count)) << what;
  }
}

}  // namespace
}  // namespace unipar_test
