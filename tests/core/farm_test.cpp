/// @file farm_test.cpp
/// @brief The task farm (`map`, `map_each`) on every backend: MapOptions (chunk, ordered,
/// progress, label), delivery exactly once and only on main, completion order against input
/// order, a slow item on main that must not stall the workers, tuple items (zip, grid),
/// exceptions from items and from `on_result`, several calls in one run beside collectives,
/// and the progress line on standard error.
///
/// Nothing here depends on how fast the machine is. Where the order in which processes work
/// matters, they signal each other through marker files in a directory main makes (a computed
/// item creates `<dir>/<index>`, a delivered one `<dir>/delivered-<index>`), and a waiting item
/// polls for them every millisecond; it gives up (throws) after 60 s only so that a broken
/// engine fails instead of hanging.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <typeinfo>
#include <vector>

#include "marker_dir.hpp"
#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::MapOptions;
using unipar::Parallelizer;
using unipar::Progress;
using unipar::WorkerError;
using unipar::testing::backend;

std::vector<int> iota_items(int count) {
  std::vector<int> items(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) items[static_cast<std::size_t>(i)] = i;
  return items;
}

/// Whether this process is main (under fork, the test body runs on main only; a function given
/// to map may run on a worker, where the backend's id is the worker's).
bool on_main_process() {
  return backend().on_main();
}

/// What `map_each` delivered on one process: the indices in delivery order.
template <class R>
struct Delivered {
  std::vector<std::size_t> order;
  std::vector<R> values;  // by index
  int off_main = 0;       // deliveries on a process other than main (must stay 0)
  int repeated = 0;       // an index delivered twice

  explicit Delivered(std::size_t n) : values(n) {}
  /// The callback: records, and refuses to run anywhere but on main.
  auto callback() {
    return [this](std::size_t index, R&& value) {
      if (!on_main_process()) {
        ++off_main;
        throw std::logic_error("on_result called on process " + std::to_string(backend().id()));
      }
      if (index >= values.size()) throw std::logic_error("index out of range");
      if (std::find(order.begin(), order.end(), index) != order.end()) ++repeated;
      order.push_back(index);
      values[index] = std::move(value);
    };
  }
  bool each_once() const {
    std::vector<std::size_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i)
      if (sorted[i] != i) return false;
    return sorted.size() == values.size() && repeated == 0;
  }
  bool in_input_order() const {
    for (std::size_t i = 0; i < order.size(); ++i)
      if (order[i] != i) return false;
    return order.size() == values.size();
  }
};

std::vector<std::size_t> zero_to(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// ---- marker files -------------------------------------------------------------------------------

/// Polls `done` every millisecond; throws after 60 s (a deadline against hangs, not a timing
/// expectation: the correct engine satisfies `done` long before).
void wait_until(const std::function<bool()>& done, const std::string& what) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up)
      throw std::runtime_error("gave up after 60 s waiting for " + what);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// The names `<prefix><i>` for every i in [0, n) except `except`.
std::vector<std::string> names_except(const std::string& prefix, int n, int except) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i)
    if (i != except) names.push_back(prefix + std::to_string(i));
  return names;
}

/// A result that says which item it is and which process computed it.
struct Done {
  std::int32_t index = -1;
  std::int32_t by = -1;
  friend bool operator==(const Done&, const Done&) = default;
};

// ---- 1. map with MapOptions ---------------------------------------------------------------------

TEST(FarmOptions, MapGivesResultsInInputOrderForEveryChunkSize) {
  const auto items = iota_items(37);
  std::vector<long long> expected;
  for (int i : items) expected.push_back(static_cast<long long>(i) * i - 5);
  auto f = [](int i) { return static_cast<long long>(i) * i - 5; };
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
    const auto outside = backend().map(f, items, MapOptions{.chunk = chunk});
    const auto inside = backend().run([&](Parallelizer& par) {
      auto out = par.map(f, par.on_main() ? items : std::vector<int>{}, MapOptions{.chunk = chunk});
      if (!par.on_main()) UNIPAR_CHECK(out.empty());
      return out;
    });
    if (!holds_main_results()) continue;
    EXPECT_EQ(outside, expected) << "outside run, chunk " << chunk;
    EXPECT_EQ(inside, expected) << "inside run, chunk " << chunk;
  }
}

TEST(FarmOptions, EmptyListGivesNoResultsAndNoDeliveries) {
  int calls = 0;
  const auto none = backend().map([](int i) { return i; }, std::vector<int>{}, {.chunk = 3});
  backend().map_each([](int i) { return i; }, std::vector<int>{},
                     [&](std::size_t, int&&) { ++calls; });
  const int inside_calls = backend().run([](Parallelizer& par) {
    int n = 0;
    const auto out = par.map([](const std::string& s) { return s; }, std::vector<std::string>{},
                             {.chunk = 1, .ordered = true});
    UNIPAR_CHECK(out.empty());
    par.map_each([](const std::string& s) { return s; }, std::vector<std::string>{},
                 [&](std::size_t, std::string&&) { ++n; }, {.ordered = true});
    return n;
  });
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(calls, 0);
  if (holds_main_results()) {
    EXPECT_EQ(inside_calls, 0);
  }
}

TEST(FarmOptions, DesignatedInitializersCompileAndWork) {
  const auto items = iota_items(11);
  const auto outside =
      backend().map([](int i) { return i * 3; }, items, {.chunk = 2, .label = "x"});
  std::vector<int> each(items.size(), -1);
  backend().map_each([](int i) { return i * 5; }, items,
                     [&](std::size_t k, int&& v) { each[k] = v; },
                     {.chunk = 2, .label = "x", .ordered = true});
  const auto inside = backend().run([&](Parallelizer& par) {
    return par.map([](int i) { return i * 3; }, par.on_main() ? items : std::vector<int>{},
                   {.chunk = 2, .progress = Progress::off, .label = "x"});
  });
  if (!holds_main_results()) return;
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(outside[i], static_cast<int>(i) * 3);
    EXPECT_EQ(inside[i], static_cast<int>(i) * 3);
    EXPECT_EQ(each[i], static_cast<int>(i) * 5);
  }
  EXPECT_EQ(outside.size(), items.size());
  EXPECT_EQ(inside.size(), items.size());
}

// ---- 2. map_each: each index once, the right value, only on main --------------------------------

template <class T>
class FarmEach : public ::testing::Test {};
TYPED_TEST_SUITE(FarmEach, AllTypes, TypeNames);

TYPED_TEST(FarmEach, OutsideRunDeliversEveryIndexOnceOnMainOnly) {
  using T = TypeParam;
  constexpr int n = 131;
  for (const bool ordered : {false, true}) {
    Delivered<T> got(n);
    backend().map_each([](int i) { return make_value<T>(i); }, iota_items(n), got.callback(),
                       {.chunk = ordered ? 0U : 3U, .ordered = ordered});
    if (!holds_main_results()) {
      EXPECT_TRUE(got.order.empty()) << "delivered on process " << backend().id();
      continue;
    }
    EXPECT_EQ(got.off_main, 0);
    EXPECT_TRUE(got.each_once()) << "ordered=" << ordered << ", " << got.order.size()
                                 << " deliveries";
    if (ordered) {
      EXPECT_EQ(got.order, zero_to(n));
    }
    for (int i = 0; i < n; ++i) EXPECT_EQ(got.values[i], make_value<T>(i)) << i;
  }
}

TYPED_TEST(FarmEach, InsideRunUsesMainsItemsAndDeliversOnMainOnly) {
  using T = TypeParam;
  constexpr int n = 77;
  for (const bool ordered : {false, true}) {
    const auto got = backend().run([&](Parallelizer& par) {
      std::vector<T> items;
      if (par.on_main()) {
        for (int i = 0; i < n; ++i) items.push_back(make_value<T>(i));
      }
      Delivered<T> mine(n);
      par.map_each([](const T& item) { return Combine{}(item, item); }, items, mine.callback(),
                   {.ordered = ordered});
      if (!par.on_main()) UNIPAR_CHECK(mine.order.empty());
      return mine;
    });
    if (!holds_main_results()) continue;
    EXPECT_TRUE(got.each_once()) << "ordered=" << ordered;
    if (ordered) {
      EXPECT_EQ(got.order, zero_to(n));
    }
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(got.values[i], Combine{}(make_value<T>(i), make_value<T>(i))) << i;
    }
  }
}

TEST(FarmEachValues, BoolResultsAndBoolItems) {
  constexpr int n = 200;
  std::vector<bool> flags;
  for (int i = 0; i < n; ++i) flags.push_back(i % 3 == 1);
  for (const bool ordered : {false, true}) {
    Delivered<bool> results(n);  // bool results
    backend().map_each([](int i) { return i % 7 == 2; }, iota_items(n), results.callback(),
                       {.ordered = ordered});
    Delivered<int> from_bools(n);  // bool items
    backend().map_each([](bool b) { return b ? 11 : -4; }, flags, from_bools.callback(),
                       {.chunk = 5, .ordered = ordered});
    Delivered<bool> both(n);  // bool items to bool results
    backend().map_each([](bool b) { return !b; }, flags, both.callback(), {.ordered = ordered});
    const auto mapped = backend().map([](bool b) { return !b; }, flags);
    if (!holds_main_results()) {
      EXPECT_TRUE(results.order.empty() && from_bools.order.empty() && both.order.empty());
      continue;
    }
    EXPECT_TRUE(results.each_once());
    EXPECT_TRUE(from_bools.each_once());
    EXPECT_TRUE(both.each_once());
    if (ordered) {
      EXPECT_EQ(results.order, zero_to(n));
      EXPECT_EQ(from_bools.order, zero_to(n));
      EXPECT_EQ(both.order, zero_to(n));
    }
    ASSERT_EQ(mapped.size(), flags.size());
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(results.values[i], i % 7 == 2) << i;
      EXPECT_EQ(from_bools.values[i], flags[i] ? 11 : -4) << i;
      EXPECT_EQ(both.values[i], !flags[i]) << i;
      EXPECT_EQ(mapped[i], !flags[i]) << i;
    }
  }
  // Inside run, with bool items on main only.
  const auto inside = backend().run([&](Parallelizer& par) {
    Delivered<bool> mine(n);
    par.map_each([](bool b) { return !b; }, par.on_main() ? flags : std::vector<bool>{},
                 mine.callback(), {.ordered = true});
    return mine;
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(inside.order, zero_to(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(inside.values[i], !flags[i]) << i;
}

// ---- 3. completion order against input order ----------------------------------------------------
//
// Item 0 is made to finish after the late items. With `.chunk = 1` it is a chunk of its own, so
// every other item is computed elsewhere while it waits:
//   - item 0 on main waits until every other item has been *computed* (main cannot deliver
//     while it computes). A worker sends each result before it computes its next item (under
//     MPI, where workers ask for the next chunk ahead, before the one after), so by then all
//     but each worker's last two results have reached main; main must deliver them before its
//     own item 0.
//   - item 0 on a worker waits until all but one other item has been *delivered* (under MPI
//     that worker may hold one more item it asked for ahead).
// Unordered, then, 0 is not first, and a late-input item (from the second half) comes before
// it; on a worker, 0 comes after at least n - 2 others. Ordered, the same workload gives 0..n-1.

constexpr int completion_items = 32;

/// The function of the completion-order workload.
auto completion_work(const MarkerDir& dir, bool ordered) {
  return [&dir, ordered](int i) {
    const int n = completion_items;
    if (i == 0) {
      if (ordered) {
        wait_until([&] { return dir.count(names_except("", n, 0)) >= n - 2; },
                   "the other items to be computed");
      } else if (on_main_process()) {
        wait_until([&] { return dir.count(names_except("", n, 0)) == n - 1; },
                   "every other item to be computed");
      } else {
        wait_until([&] { return dir.count(names_except("delivered-", n, 0)) >= n - 2; },
                   "the other items to be delivered");
      }
    }
    dir.mark(std::to_string(i));
    return Done{i, backend().id()};
  };
}

/// The callback of the completion-order workload: records, and marks the item delivered.
auto completion_callback(const MarkerDir& dir, Delivered<Done>& got) {
  return [&dir, record = got.callback()](std::size_t index, Done&& done) mutable {
    record(index, std::move(done));
    dir.mark("delivered-" + std::to_string(index));
  };
}

/// Checks the unordered delivery of the completion-order workload.
void expect_completion_order(const Delivered<Done>& got) {
  constexpr int n = completion_items;
  ASSERT_TRUE(got.each_once()) << got.order.size() << " deliveries";
  for (int i = 0; i < n; ++i) EXPECT_EQ(got.values[i].index, i);
  const auto zero = std::find(got.order.begin(), got.order.end(), std::size_t{0});
  const auto position = static_cast<int>(zero - got.order.begin());
  const int by = got.values[0].by;
  EXPECT_GT(position, 0) << "item 0 finished after the others but was delivered first (computed "
                         << "by process " << by << ")";
  const std::size_t latest_before = *std::max_element(got.order.begin(), zero + (position == 0));
  EXPECT_GE(latest_before, std::size_t{n / 2})
      << "no late-input item was delivered before item 0 (computed by process " << by << ")";
  if (by != 0) {
    EXPECT_GE(position, n - 2) << "item 0 waited on worker " << by
                               << " for the others to be delivered";
  }
  ::testing::Test::RecordProperty("item0_computed_by", by);
  ::testing::Test::RecordProperty("item0_position", position);
}

TEST(FarmCompletionOrder, OutsideRunLateItemsComeFirstUnorderedAndInOrderWhenOrdered) {
  if (backend().nprocs() == 1) GTEST_SKIP() << "needs a second process to finish items first";
  for (const bool ordered : {false, true}) {
    const MarkerDir dir;
    Delivered<Done> got(completion_items);
    backend().map_each(completion_work(dir, ordered), iota_items(completion_items),
                       completion_callback(dir, got), {.chunk = 1, .ordered = ordered});
    if (!holds_main_results()) {
      EXPECT_TRUE(got.order.empty());
      continue;
    }
    if (ordered) {
      EXPECT_EQ(got.order, zero_to(completion_items));
      EXPECT_TRUE(got.each_once());
    } else {
      expect_completion_order(got);
    }
  }
}

TEST(FarmCompletionOrder, InsideRunLateItemsComeFirstUnorderedAndInOrderWhenOrdered) {
  if (backend().nprocs() == 1) GTEST_SKIP() << "needs a second process to finish items first";
  for (const bool ordered : {false, true}) {
    const MarkerDir dir;  // made before run; the function captures its path
    const auto got = backend().run([&](Parallelizer& par) {
      Delivered<Done> mine(completion_items);
      par.map_each(completion_work(dir, ordered),
                   par.on_main() ? iota_items(completion_items) : std::vector<int>{},
                   completion_callback(dir, mine), {.chunk = 1, .ordered = ordered});
      if (!par.on_main()) UNIPAR_CHECK(mine.order.empty());
      return mine;
    });
    if (!holds_main_results()) continue;
    if (ordered) {
      EXPECT_EQ(got.order, zero_to(completion_items));
      EXPECT_TRUE(got.each_once());
    } else {
      expect_completion_order(got);
    }
  }
}

// ---- 4. a slow item on main does not stall the workers ------------------------------------------
//
// Main's first item waits until every item main did not take has been computed by the workers.
// An engine in which workers wait for main to hand out work would never get there (the item
// gives up after 60 s and the test fails). While main waits, the workers claim everything else,
// so main computes exactly that one item.

/// A result that carries `payload` doubles besides which item it is and who computed it: with
/// enough of them a worker's results overflow the channel to main while main is in its slow item.
struct Heavy {
  Done done;
  std::vector<double> payload;
  template <class Archive>
  void serialize(Archive& archive, unsigned /*version*/) {
    archive& done.index& done.by& payload;
  }
};

/// The slow-main case with results made by `make(done)`; `done_of(result)` reads them back.
template <class Make, class DoneOf>
void expect_workers_compute_everything_else_while_main_is_slow(Make make, DoneOf done_of) {
  constexpr int n = 40;
  const MarkerDir dir;
  using R = decltype(make(Done{}));
  struct Outcome {
    std::vector<R> each;  // map_each, by index
    std::vector<std::size_t> order;
    std::vector<R> mapped;  // map
  };
  const auto outcome = backend().run([&](Parallelizer& par) {
    Outcome out;
    for (const std::string call : {"each-", "map-"}) {
      bool main_waited = false;  // this process's copy: only main's is used
      auto f = [&](int i) {
        if (!par.on_main()) {
          // So that main surely gets an item: the workers hold at most two each until then.
          wait_until([&] { return dir.has(call + "main-started"); }, "main to begin an item");
        } else if (!main_waited) {
          main_waited = true;
          dir.mark(call + "main-started");
          wait_until([&] { return dir.count(names_except(call, n, i)) == n - 1; },
                     "the workers to compute every item main did not take");
        }
        dir.mark(call + std::to_string(i));
        return make(Done{i, par.id()});
      };
      const auto items = par.on_main() ? iota_items(n) : std::vector<int>{};
      if (call == "each-") {
        Delivered<R> got(n);
        par.map_each(f, items, got.callback());
        out.each = std::move(got.values);
        out.order = got.order;
      } else {
        out.mapped = par.map(f, items);
      }
      UNIPAR_CHECK(main_waited == par.on_main());
    }
    return out;
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(outcome.order.size(), std::size_t{n});
  std::set<std::size_t> distinct(outcome.order.begin(), outcome.order.end());
  EXPECT_EQ(distinct.size(), std::size_t{n}) << "an index was delivered twice";
  ASSERT_EQ(outcome.mapped.size(), std::size_t{n});
  for (const auto* results : {&outcome.each, &outcome.mapped}) {
    int on_main = 0;
    for (int i = 0; i < n; ++i) {
      const Done done = done_of((*results)[i]);
      EXPECT_EQ(done.index, i);
      EXPECT_GE(done.by, 0);
      EXPECT_LT(done.by, backend().nprocs());
      on_main += done.by == 0 ? 1 : 0;
    }
    EXPECT_EQ(on_main, 1) << (results == &outcome.each ? "map_each" : "map")
                          << ": main should compute only the item it was slow in";
  }
}

TEST(FarmSlowMain, WorkersComputeEverythingElseWhileMainIsInASlowItem) {
  if (backend().nprocs() == 1) GTEST_SKIP() << "needs workers besides main";
  expect_workers_compute_everything_else_while_main_is_slow([](Done d) { return d; },
                                                            [](const Done& d) { return d; });
}

TEST(FarmSlowMain, WorkersHandOverResultsLargerThanTheChannelWhileMainIsInASlowItem) {
  // 39 results of 160 KiB are 6 MiB, several times what the channel from a worker to main holds:
  // the workers must be able to hand them over while main's thread is in its item.
  if (backend().nprocs() == 1) GTEST_SKIP() << "needs workers besides main";
  constexpr std::size_t doubles = 20'000;
  expect_workers_compute_everything_else_while_main_is_slow(
      [](Done d) {
        Heavy heavy{d, std::vector<double>(doubles, double(d.index))};
        return heavy;
      },
      [](const Heavy& h) {
        const bool intact = h.payload.size() == doubles &&
                            std::all_of(h.payload.begin(), h.payload.end(),
                                        [&](double x) { return x == double(h.done.index); });
        return intact ? h.done : Done{-1, -1};
      });
}

// ---- 5. tuples, zip and grid --------------------------------------------------------------------

TEST(FarmTuples, TupleItemsAreUnpackedIntoTheArguments) {
  std::vector<std::tuple<int, double>> pairs;
  for (int i = 0; i < 45; ++i) pairs.emplace_back(i, i * 0.5);
  const auto products = backend().map([](int a, double b) { return a * b + 1.0; }, pairs);
  std::vector<std::tuple<int, std::string>> named;
  for (int i = 0; i < 45; ++i) named.emplace_back(i, std::string(i % 5, 'z') + "#");
  Delivered<std::string> joined(named.size());
  backend().map_each(
      [](int count, const std::string& text) { return std::to_string(count) + ":" + text; }, named,
      joined.callback(), {.chunk = 4});
  const auto inside = backend().run([&](Parallelizer& par) {
    return par.map([](int count, const std::string& text) { return text.size() + count; },
                   par.on_main() ? named : std::vector<std::tuple<int, std::string>>{});
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(products.size(), pairs.size());
  ASSERT_EQ(inside.size(), named.size());
  EXPECT_TRUE(joined.each_once());
  for (int i = 0; i < 45; ++i) {
    EXPECT_EQ(products[i], i * (i * 0.5) + 1.0) << i;
    EXPECT_EQ(joined.values[i], std::to_string(i) + ":" + std::get<1>(named[i])) << i;
    EXPECT_EQ(inside[i], std::get<1>(named[i]).size() + static_cast<std::size_t>(i)) << i;
  }
}

/// Takes a tuple whole and also element by element: whole must win.
struct WholeOrUnpacked {
  int operator()(const std::tuple<int, int>& t) const {
    return 1000 + std::get<0>(t) * 10 + std::get<1>(t);
  }
  int operator()(int, int) const { return -1; }
};

TEST(FarmTuples, AFunctionThatTakesTheTupleWholeGetsItWhole) {
  const auto items = unipar::zip(iota_items(20), iota_items(20));
  const auto whole = backend().map(
      [](const std::tuple<int, int>& t) { return std::get<0>(t) * 10 + std::get<1>(t); }, items);
  const auto generic = backend().map(
      [](const auto& t) { return static_cast<int>(std::tuple_size_v<std::decay_t<decltype(t)>>); },
      items);
  const auto overloaded = backend().map(WholeOrUnpacked{}, items);
  if (!holds_main_results()) return;
  ASSERT_EQ(whole.size(), items.size());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(whole[i], i * 11);
    EXPECT_EQ(generic[i], 2);
    EXPECT_EQ(overloaded[i], 1000 + i * 11);
  }
}

TEST(FarmTuples, ZipPairsEqualLengthsAndRejectsDifferentOnes) {
  const std::vector<int> a{1, 2, 3};
  const std::vector<std::string> b{"x", "y", "z"};
  const std::vector<double> c{0.5, 1.5, 2.5};
  const auto zipped = unipar::zip(a, b, c);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(zipped)>::value_type,
                               std::tuple<int, std::string, double>>);
  ASSERT_EQ(zipped.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(zipped[i], std::make_tuple(a[i], b[i], c[i]));
  EXPECT_TRUE(unipar::zip(std::vector<int>{}, std::vector<char>{}).empty());
  try {
    (void)unipar::zip(a, std::vector<std::string>{"only", "two"}, c);
    ADD_FAILURE() << "zip of lengths 3, 2, 3 did not throw";
  } catch (const unipar::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("3, 2, 3"), std::string::npos) << e.what();
  }
  // And map over it, unpacked, equals the serial computation.
  auto f = [](int x, const std::string& s, double y) { return s + std::to_string(x * y); };
  const auto results = backend().map(f, zipped);
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(results[i], f(a[i], b[i], c[i]));
}

TEST(FarmTuples, GridIsTheProductWithTheLastArgumentFastest) {
  const std::vector<int> a{1, 2, 3};
  const std::vector<std::string> b{"p", "q"};
  const auto g = unipar::grid(a, b);
  ASSERT_EQ(g.size(), a.size() * b.size());
  const std::vector<std::tuple<int, std::string>> expected{{1, "p"}, {1, "q"}, {2, "p"},
                                                           {2, "q"}, {3, "p"}, {3, "q"}};
  EXPECT_EQ(g, expected);
  const auto g3 = unipar::grid(a, b, std::vector<char>{'u', 'v'});
  ASSERT_EQ(g3.size(), 12u);
  EXPECT_EQ(g3[1], std::make_tuple(1, std::string("p"), 'v'));
  EXPECT_EQ(g3[2], std::make_tuple(1, std::string("q"), 'u'));
  EXPECT_EQ(g3[11], std::make_tuple(3, std::string("q"), 'v'));
  EXPECT_TRUE(unipar::grid(a, std::vector<double>{}).empty());
  EXPECT_TRUE(unipar::grid(std::vector<double>{}, a).empty());
  EXPECT_TRUE(unipar::grid(a, std::vector<int>{}, b).empty());
}

TEST(FarmTuples, MapOverAGridEqualsTheSerialComputation) {
  std::vector<double> masses;
  for (int i = 0; i < 9; ++i) masses.push_back(0.5 + i);
  const std::vector<int> steps{1, 4, 9, 16, 25};
  auto simulate = [](double mass, int count) {
    double x = mass;
    for (int k = 0; k < count; ++k) x = x * 0.97 + mass / (k + 1);
    return x;
  };
  const auto g = unipar::grid(masses, steps);
  std::vector<double> expected;
  for (const auto& [mass, count] : g) expected.push_back(simulate(mass, count));
  const auto outside = backend().map(simulate, g, {.chunk = 2});
  Delivered<double> each(g.size());
  backend().map_each(simulate, g, each.callback(), {.ordered = true});
  const auto inside = backend().run([&](Parallelizer& par) {
    return par.map(simulate, par.on_main() ? g : std::vector<std::tuple<double, int>>{});
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(outside, expected);
  EXPECT_EQ(inside, expected);
  EXPECT_EQ(each.order, zero_to(g.size()));
  EXPECT_EQ(each.values, expected);
}

// ---- 6. exceptions ------------------------------------------------------------------------------

constexpr int failing_item = 13;

int fails_at_item(int i) {
  if (i == failing_item) throw std::invalid_argument("bad item " + std::to_string(i));
  return i;
}

/// `call` must throw a WorkerError for the failing item, on every process that runs the test.
void expect_item_error(const std::function<void()>& call, const std::string& what) {
  try {
    call();
    ADD_FAILURE() << what << ": nothing thrown";
  } catch (const WorkerError& e) {
    EXPECT_EQ(e.item(), std::optional<std::size_t>(failing_item)) << what << ": " << e.what();
    EXPECT_EQ(e.message(), "bad item " + std::to_string(failing_item)) << what;
    EXPECT_NE(e.type_name().find("invalid_argument"), std::string::npos)
        << what << ": " << e.type_name();
    EXPECT_GE(e.process(), 0);
    EXPECT_LT(e.process(), backend().nprocs());
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": another exception: " << typeid(e).name() << ": " << e.what();
  }
}

/// The parallelizer works after a failed call.
void expect_usable_again() {
  const auto results = backend().map([](int i) { return i * 2 + 1; }, iota_items(60));
  const int sum = backend().run([](Parallelizer& par) { return par.allreduce(1, std::plus<>{}); });
  if (!holds_main_results()) return;
  ASSERT_EQ(results.size(), 60u);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(results[i], i * 2 + 1);
  EXPECT_EQ(sum, backend().nprocs());
}

TEST(FarmErrors, AnItemThatThrowsIsAWorkerErrorWithItsIndex) {
  const auto items = iota_items(40);
  expect_item_error([&] { (void)backend().map(fails_at_item, items, {.chunk = 2}); },
                    "map outside run");
  expect_usable_again();
  for (const bool ordered : {false, true}) {
    expect_item_error(
        [&] {
          backend().map_each(fails_at_item, items, [](std::size_t, int&&) {}, {.ordered = ordered});
        },
        ordered ? "ordered map_each outside run" : "map_each outside run");
    expect_usable_again();
  }
  expect_item_error(
      [&] {
        backend().run([&](Parallelizer& par) {
          (void)par.map(fails_at_item, par.on_main() ? items : std::vector<int>{});
        });
      },
      "map inside run");
  expect_usable_again();
  for (const bool ordered : {false, true}) {
    expect_item_error(
        [&] {
          backend().run([&](Parallelizer& par) {
            par.map_each(fails_at_item, par.on_main() ? items : std::vector<int>{},
                         [](std::size_t, int&&) {}, {.chunk = 1, .ordered = ordered});
          });
        },
        ordered ? "ordered map_each inside run" : "map_each inside run");
    expect_usable_again();
  }
}

/// `call` lets on_result's std::runtime_error("stop") out on main (as itself); under MPI the
/// other ranks get WorkerError from process 0 (see unipar::MpiParallelizer).
void expect_stop(const std::function<void()>& call, const std::string& what) {
  try {
    call();
    ADD_FAILURE() << what << ": nothing thrown";
  } catch (const WorkerError& e) {
    EXPECT_FALSE(on_main_process()) << what << ": main got a WorkerError: " << e.what();
    EXPECT_EQ(e.process(), 0) << e.what();
    EXPECT_EQ(e.message(), "stop") << e.what();
    EXPECT_NE(e.type_name().find("runtime_error"), std::string::npos) << e.type_name();
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(on_main_process()) << what;
    EXPECT_EQ(typeid(e), typeid(std::runtime_error)) << what << ": " << typeid(e).name();
    EXPECT_STREQ(e.what(), "stop") << what;
  } catch (...) {
    ADD_FAILURE() << what << ": another exception";
  }
}

TEST(FarmErrors, AnExceptionFromOnResultPropagatesOnMain) {
  const auto items = iota_items(50);
  for (const bool ordered : {false, true}) {
    int delivered = 0;
    auto stop_after_five = [&delivered](std::size_t, int&&) {
      if (delivered == 5) throw std::runtime_error("stop");
      ++delivered;
    };
    expect_stop(
        [&] {
          backend().map_each([](int i) { return i; }, items, stop_after_five, {.ordered = ordered});
        },
        ordered ? "ordered, outside run" : "outside run");
    if (on_main_process()) {
      EXPECT_EQ(delivered, 5);
    }
    expect_usable_again();

    // Inside run: main's own exception comes out of run.
    expect_stop(
        [&] {
          backend().run([&](Parallelizer& par) {
            int mine = 0;
            par.map_each([](int i) { return i; }, par.on_main() ? items : std::vector<int>{},
                         [&mine](std::size_t, int&&) {
                           if (mine == 5) throw std::runtime_error("stop");
                           ++mine;
                         },
                         {.chunk = 1, .ordered = ordered});
          });
        },
        ordered ? "ordered, inside run" : "inside run");
    expect_usable_again();
  }
}

// ---- 7. several calls in one run, beside collectives --------------------------------------------

TEST(FarmInRun, MapEachAndMapInterleavedWithCollectivesStayInStep) {
  const auto total = backend().run([](Parallelizer& par) {
    long long sum = 0;
    for (int round = 0; round < 4; ++round) {
      const int n = 30 + round * 7;
      const auto items = par.on_main() ? iota_items(n) : std::vector<int>{};
      std::vector<int> streamed(static_cast<std::size_t>(n), -1);
      int deliveries = 0;
      par.map_each([round](int i) { return i * 3 + round; }, items,
                   [&](std::size_t k, int&& v) {
                     streamed[k] = v;
                     ++deliveries;
                   },
                   {.chunk = static_cast<std::size_t>(round), .ordered = round % 2 == 1});
      UNIPAR_CHECK(deliveries == (par.on_main() ? n : 0));
      streamed = par.broadcast(std::move(streamed), 0);
      for (int i = 0; i < n; ++i) UNIPAR_CHECK(streamed[i] == i * 3 + round);
      sum += par.allreduce(static_cast<long long>(streamed.back()), std::plus<>{});

      auto mapped = par.map([round](int i) { return std::to_string(i - round); }, items);
      const auto count = par.broadcast(mapped.size(), 0);
      UNIPAR_CHECK(count == static_cast<std::size_t>(n));
      Delivered<std::string> words(static_cast<std::size_t>(n));
      par.map_each([](int i) { return std::string(static_cast<std::size_t>(i % 4), 'w'); }, items,
                   words.callback(), {.ordered = true});
      if (par.on_main()) {
        UNIPAR_CHECK(words.in_input_order());
        UNIPAR_CHECK(mapped[5] == std::to_string(5 - round));
      }
      par.barrier();
      sum += par.allreduce(static_cast<long long>(count), std::plus<>{});
    }
    return sum;
  });
  long long expected = 0;
  for (int round = 0; round < 4; ++round) {
    const int n = 30 + round * 7;
    expected += static_cast<long long>(backend().nprocs()) * ((n - 1) * 3 + round + n);
  }
  EXPECT_EQ(total, expected);
}

// ---- 8. the progress line -----------------------------------------------------------------------

/// Standard error into a pipe while it lives (on this process only); `take()` restores it and
/// returns what was written.
class StderrCapture {
 public:
  StderrCapture() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    read_ = fds[0];
    std::fflush(stderr);
    saved_ = ::dup(2);
    ::dup2(fds[1], 2);  // fd 2 itself is not close-on-exec
    ::close(fds[1]);
  }
  ~StderrCapture() {
    if (saved_ >= 0) (void)take();
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string take() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
    ::fcntl(read_, F_SETFL, ::fcntl(read_, F_GETFL) | O_NONBLOCK);
    std::string text;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(read_, buffer, sizeof buffer);
      if (n > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        break;  // end of file, or nothing more written (EAGAIN)
      }
    }
    ::close(read_);
    return text;
  }

 private:
  int read_ = -1;
  int saved_ = -1;
};

TEST(FarmProgress, OnDrawsAFinalLineOnMainOnlyAndOffDrawsNothing) {
  const auto items = iota_items(50);
  std::string on_text;
  std::vector<int> results;
  {
    StderrCapture capture;
    results = backend().map([](int i) { return i + 1; }, items,
                            {.progress = Progress::on, .label = "farmtest"});
    on_text = capture.take();
  }
  std::string off_text;
  {
    StderrCapture capture;
    backend().map_each([](int i) { return i; }, items, [](std::size_t, int&&) {},
                       {.progress = Progress::off, .label = "farmtest"});
    (void)backend().map([](int i) { return i; }, items, {.progress = Progress::off});
    off_text = capture.take();
  }
  EXPECT_EQ(off_text, "") << "Progress::off drew on process " << backend().id();
  if (!holds_main_results()) {
    EXPECT_EQ(on_text, "") << "process " << backend().id() << " drew a progress line";
    return;
  }
  ASSERT_EQ(results.size(), items.size());
  ASSERT_FALSE(on_text.empty()) << "nothing drawn";
  EXPECT_EQ(on_text.back(), '\n') << on_text;
  const auto last_begin = on_text.find_last_of('\n', on_text.size() - 2);
  const std::string last = on_text.substr(last_begin == std::string::npos ? 0 : last_begin + 1);
  EXPECT_NE(last.find("farmtest: 50/50 (100.0%)"), std::string::npos) << on_text;
}

}  // namespace
}  // namespace unipar_test
