/// @file map_test.cpp
/// @brief map: results in input order on main, empty elsewhere; inside and outside run; plain
/// and serialized items and results; empty, tiny and large inputs; items of uneven cost.
#include <chrono>
#include <thread>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Parallelizer;
using unipar::testing::backend;

std::vector<int> iota_items(int count) {
  std::vector<int> items(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) items[static_cast<std::size_t>(i)] = i;
  return items;
}

template <class T>
class Map : public ::testing::Test {};
TYPED_TEST_SUITE(Map, AllTypes, TypeNames);

TYPED_TEST(Map, OutsideRunReturnsEveryResultInOrder) {
  using T = TypeParam;
  const auto results = backend().map([](int i) { return make_value<T>(i); }, iota_items(257));
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), 257u);
  for (int i = 0; i < 257; ++i) EXPECT_EQ(results[i], make_value<T>(i)) << i;
}

TYPED_TEST(Map, InsideRunTakesMainsItemsAndResultsOnlyOnMain) {
  using T = TypeParam;
  const auto results = backend().run([](Parallelizer& par) {
    std::vector<T> items;
    if (par.on_main()) {
      for (int i = 0; i < 101; ++i) items.push_back(make_value<T>(i));
    }
    // Serialized items are shipped to the workers, plain ones too: both go through Combine.
    auto out = par.map([](const T& item) { return Combine{}(item, item); }, items);
    if (!par.on_main()) UNIPAR_CHECK(out.empty());
    return out;
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), 101u);
  for (int i = 0; i < 101; ++i) {
    EXPECT_EQ(results[i], Combine{}(make_value<T>(i), make_value<T>(i))) << i;
  }
}

TEST(Map, EmptyAndSingleItemInputs) {
  auto& par = backend();
  const auto no_results = par.map([](int i) { return i * 2; }, std::vector<int>{});
  const auto one_result = par.map([](int i) { return i * 2; }, std::vector<int>{21});
  const auto inside = par.run([](Parallelizer& p) {
    const auto none =
        p.map([](const std::string& s) { return s + "!"; }, std::vector<std::string>{});
    UNIPAR_CHECK(none.empty());
    std::vector<std::string> one;
    if (p.on_main()) one.push_back("one");
    return p.map([](const std::string& s) { return s + "!"; }, one);
  });
  if (!holds_main_results()) return;
  EXPECT_TRUE(no_results.empty());
  EXPECT_EQ(one_result, std::vector<int>{42});
  EXPECT_EQ(inside, std::vector<std::string>{"one!"});
}

TEST(Map, StringItemsAndStringResultsOutsideAndInsideRun) {
  std::vector<std::string> words;
  for (int i = 0; i < 500; ++i)
    words.push_back(std::string(static_cast<std::size_t>(i % 13), 'x') + std::to_string(i));
  auto shout = [](const std::string& word) {
    return std::string(word.rbegin(), word.rend()) + "/" + std::to_string(word.size());
  };
  std::vector<std::string> expected;
  for (const auto& w : words) expected.push_back(shout(w));

  const auto outside = backend().map(shout, words);
  const auto inside = backend().run([&](Parallelizer& par) {
    // Non-main processes pass no items; main's are used.
    return par.map(shout, par.on_main() ? words : std::vector<std::string>{});
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(outside, expected);
  EXPECT_EQ(inside, expected);
}

TEST(Map, SerializedItemsToSerializedResults) {
  std::vector<Particle> particles;
  for (int i = 0; i < 60; ++i) particles.push_back(make_value<Particle>(i));
  auto describe = [](const Particle& p) {
    return Dict{{p.name(), std::vector<double>(p.history().size(), p.mass())}};
  };
  const auto results = backend().map(describe, particles);
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), particles.size());
  for (std::size_t i = 0; i < particles.size(); ++i) EXPECT_EQ(results[i], describe(particles[i]));
}

TEST(Map, BoolResults) {
  const auto results = backend().map([](int i) { return i % 3 == 0; }, iota_items(1000));
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], i % 3 == 0) << i;
}

TEST(Map, UnevenItemCostStillGivesEveryResultInOrder) {
  // A few slow items among many fast ones, the slowest first.
  auto work = [](int i) {
    if (i % 25 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 40 : 10));
    double x = i;
    for (int k = 0; k < (i % 7) * 200; ++k) x = x * 0.999 + 1.0;
    return std::pair<int, double>(i, x);
  };
  const auto items = iota_items(200);
  const auto results = backend().map(work, items);
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), items.size());
  for (int i = 0; i < 200; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)], work(i)) << i;
}

TEST(Map, ManyTinyItems) {
  const auto results =
      backend().map([](int i) { return static_cast<long long>(i) * i; }, iota_items(100000));
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), 100000u);
  long long sum = 0, expected = 0;
  for (int i = 0; i < 100000; ++i) {
    sum += results[static_cast<std::size_t>(i)];
    expected += static_cast<long long>(i) * i;
  }
  EXPECT_EQ(sum, expected);
}

TEST(Map, SeesDataCapturedFromMain) {
  std::vector<double> table(1000);
  for (std::size_t i = 0; i < table.size(); ++i) table[i] = static_cast<double>(i) * 1.25;
  const auto results = backend().map([&table](int i) { return table[static_cast<std::size_t>(i)]; },
                                     iota_items(1000));
  if (!holds_main_results()) return;
  EXPECT_EQ(results, table);
}

TEST(Map, SeveralMapsInsideOneRunStayInStepWithCollectives) {
  const auto total = backend().run([](Parallelizer& par) {
    long long sum = 0;
    for (int round = 0; round < 5; ++round) {
      const auto items = par.on_main() ? iota_items(50 + round) : std::vector<int>{};
      auto out = par.map([round](int i) { return i + round; }, items);
      out = par.broadcast(std::move(out), 0);
      UNIPAR_CHECK(out.size() == static_cast<std::size_t>(50 + round));
      for (std::size_t i = 0; i < out.size(); ++i)
        UNIPAR_CHECK(out[i] == static_cast<int>(i) + round);
      sum += par.allreduce(static_cast<long long>(out.back()), std::plus<>{});
      par.barrier();
    }
    return sum;
  });
  long long expected = 0;
  for (int round = 0; round < 5; ++round)
    expected += static_cast<long long>(backend().nprocs()) * (49 + 2 * round);
  EXPECT_EQ(total, expected);
}

}  // namespace
}  // namespace unipar_test
