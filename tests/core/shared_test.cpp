/// @file shared_test.cpp
/// @brief Shared objects on every backend: SharedArray, SharedDict, SharedList and the
/// SharedObjectManager, created outside and inside run; what any process writes, every process
/// (and main after run) reads; exact counts under contention; serialized keys and values; growth
/// up to UNIPAR_SHARED_LIMIT; misuse.
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../fork/left_behind.hpp"
#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Error;
using unipar::Parallelizer;
using unipar::SharedArray;
using unipar::SharedDict;
using unipar::SharedList;
using unipar::SharedObjectManager;
using unipar::Sharing;
using unipar::UsageError;
using unipar::testing::backend;

/// Sets an environment variable for the lifetime of the object (in this process; a fork worker
/// inherits it, and under MPI every rank runs the test body and sets it itself).
class ScopedEnvironment {
 public:
  ScopedEnvironment(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnvironment() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::vector<double> numbers(std::size_t count, double seed) {
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = seed + 0.25 * static_cast<double>(i % 97);
  return values;
}

/// The process that writes in the tests where "a worker" writes: the last one (main when alone).
bool is_writer(const Parallelizer& p) {
  return p.id() == p.nprocs() - 1;
}

// ---- the model library's cases ----------------------------------------------------------------

TEST(Shared, DistributedDictAWorkerWritesAnElementAndMainReadsItAfterRun) {
  // McUtils' test_DistributedDict: a dict of three arrays (10x5x5, 10x3x8, 10x15x4) and an empty
  // dict; a worker sets d['a'][1, 0, 0] = 5 and d['d']['key'] = 5; main reads both after run,
  // and unshare gives plain data back.
  auto& par = backend();
  const std::map<std::string, std::vector<double>> plain{{"a", numbers(10 * 5 * 5, 0.5)},
                                                         {"b", numbers(10 * 3 * 8, 1.5)},
                                                         {"c", numbers(10 * 15 * 4, 2.5)}};
  SharedObjectManager manager(par);
  SharedDict<std::string, SharedArray<double>> data = manager.share(plain);
  SharedDict<std::string, int> empty = manager.share(std::map<std::string, int>{});

  par.run([&](Parallelizer& p) {
    SharedDict<std::string, int> wat = empty;  // a second handle to the same dict
    UNIPAR_CHECK(data.size() == 3);
    if (is_writer(p)) {
      data.at("a")[1 * 5 * 5 + 0 * 5 + 0] = 5;
      wat.set("key", 5);
    }
  });

  EXPECT_EQ(data.at("a")[25], 5.0);
  EXPECT_EQ(empty.get("key"), std::optional<int>(5));
  const std::map<std::string, std::vector<double>> back = manager.unshare(data);
  auto expected = plain;
  expected["a"][25] = 5;
  EXPECT_EQ(back, expected);
  EXPECT_EQ(manager.unshare(empty), (std::map<std::string, int>{{"key", 5}}));
}

TEST(Shared, MakeSharedMemShareThenUnshareAnArrayGivesItBack) {
  auto& par = backend();
  const auto plain = numbers(10 * 5 * 5, 0.125);
  SharedObjectManager manager(par);
  SharedArray<double> shared = manager.share(plain);
  EXPECT_EQ(shared.size(), plain.size());
  EXPECT_EQ(shared.to_vector(), plain);
  EXPECT_EQ(manager.unshare(shared), plain);
  // And inside run, where every process shares it at the same point.
  const bool same = par.run([&](Parallelizer& p) {
    SharedObjectManager inside(p);
    const SharedArray<double> array = inside.share(p.on_main() ? plain : std::vector<double>{});
    return inside.unshare(array) == plain;
  });
  EXPECT_TRUE(same);
}

// ---- arrays
// --------------------------------------------------------------------------------------

TEST(Shared, ArrayElementsWrittenByEveryProcessAreSeenByAll) {
  auto& par = backend();
  SharedArray<std::int64_t> outside(par, 1000);
  EXPECT_EQ(outside.size(), 1000u);
  EXPECT_TRUE(std::all_of(outside.begin(), outside.end(), [](std::int64_t x) { return x == 0; }));
  const bool seen = par.run([&](Parallelizer& p) {
    SharedArray<int> inside(p, static_cast<std::size_t>(p.nprocs()));
    const auto block = unipar::detail::block_of(outside.size(), p.nprocs(), p.id());
    for (std::size_t i = block.begin; i < block.begin + block.size; ++i) {
      outside[i] = static_cast<std::int64_t>(i) * 3 + p.id();
    }
    inside[static_cast<std::size_t>(p.id())] = p.id() + 100;
    p.barrier();  // publishes every process's writes
    bool all = true;
    for (int i = 0; i < p.nprocs(); ++i)
      all = all && inside[static_cast<std::size_t>(i)] == i + 100;
    return p.allreduce(all, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(seen);
  std::size_t wrong = 0;
  for (int process = 0; process < par.nprocs(); ++process) {
    const auto block = unipar::detail::block_of(outside.size(), par.nprocs(), process);
    for (std::size_t i = block.begin; i < block.begin + block.size; ++i) {
      if (outside[i] != static_cast<std::int64_t>(i) * 3 + process) ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0u);
  // A copy of the handle is the same array; to_vector is a private copy.
  const bool aliases = par.run([&](Parallelizer& p) {
    bool ok = true;
    p.barrier();  // under MPI, every rank has checked the elements above before main writes
    if (p.on_main()) {
      const SharedArray<std::int64_t> alias = outside;
      const auto copy = outside.to_vector();
      alias[0] = -1;
      ok = outside[0] == -1 && copy[0] == 0 && outside.span().size() == 1000;
    }
    p.barrier();
    return p.allreduce(ok && outside[0] == -1, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(aliases);
}

TEST(Shared, ArraysInADictOrListAreHandlesToTheStoredArray) {
  auto& par = backend();
  SharedDict<int, SharedArray<float>> dict(par);
  SharedList<SharedArray<int>> list(par);
  const SharedArray<int> seven_eight(par, std::vector<int>{7, 8});
  par.run([&](Parallelizer& p) {
    if (p.on_main()) {
      dict.set(1, std::vector<float>{1, 2, 3});
      dict.set(2, std::vector<float>(5, 0.5f));
      list.push_back(seven_eight);
    }
    p.barrier();
    if (is_writer(p)) {
      dict.at(1)[2] = 30;
      dict.at(2)[4] = 4.5f;
      list.get(0)[1] = 80;
    }
  });
  EXPECT_EQ(dict.at(1).to_vector(), (std::vector<float>{1, 2, 30}));
  EXPECT_EQ(dict.at(2)[4], 4.5f);
  EXPECT_EQ(list.get(0).to_vector(), (std::vector<int>{7, 80}));
  EXPECT_EQ(seven_eight.to_vector(), (std::vector<int>{7, 8})) << "the list stores a copy";
  const bool kept_alive = par.run([&](Parallelizer& p) {
    p.barrier();
    bool ok = true;
    if (p.on_main()) {
      // A handle outlives the entry it came from.
      const SharedArray<float> kept = dict.at(1);
      ok = dict.erase(1) && !dict.contains(1);
      kept[0] = 11;
      ok = ok && kept.to_vector() == std::vector<float>{11, 2, 30};
      // Replacing an entry leaves a handle to the old array valid too.
      const SharedArray<float> old = dict.at(2);
      dict.set(2, std::vector<float>{9});
      old[0] = 1;
      ok = ok && dict.at(2).to_vector() == std::vector<float>{9} && old.size() == 5;
    }
    return p.allreduce(ok, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(kept_alive);
  EXPECT_EQ(dict.size(), 1u);
  EXPECT_EQ(SharedObjectManager(par).unshare(list), (std::vector<std::vector<int>>{{7, 80}}));
}

/// Elements that need more than 16-byte alignment.
struct alignas(64) Wide {
  double values[3];
};

TEST(Shared, StoredArraysKeepTheirElementsAlignment) {
  auto& par = backend();
  SharedDict<int, SharedArray<Wide>> dict(par);
  const SharedArray<Wide> standalone(par, 3);
  const bool aligned = par.run([&](Parallelizer& p) {
    if (p.on_main()) {
      for (int k = 0; k < 5; ++k) {
        dict.set(k, std::vector<Wide>(static_cast<std::size_t>(k + 1), Wide{{1.0 * k, 2, 3}}));
      }
    }
    p.barrier();
    bool ok = reinterpret_cast<std::uintptr_t>(standalone.data()) % 64 == 0;
    for (int k = 0; k < 5; ++k) {
      const SharedArray<Wide> array = dict.at(k);
      ok = ok && reinterpret_cast<std::uintptr_t>(array.data()) % 64 == 0 &&
           array.size() == static_cast<std::size_t>(k + 1) && array[0].values[0] == 1.0 * k;
    }
    return p.allreduce(ok, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(aligned);
}

TEST(Shared, StoringAnArrayStoresACopyOfItsElements) {
  auto& par = backend();
  SharedDict<std::string, SharedArray<double>> dict(par);
  SharedArray<double> source(par, std::vector<double>{1, 2});
  const bool ok = par.run([&](Parallelizer& p) {
    bool good = true;
    if (p.on_main()) {
      dict.set("x", source);
      source[0] = 100;  // the stored array is another one
      good = dict.at("x").to_vector() == std::vector<double>{1, 2};
      const SharedArray<double> stored = dict.at("x");
      stored[1] = 20;
      good = good && dict.at("x")[1] == 20;
    }
    p.barrier();
    const auto entries = dict.to_map();
    good = good && entries.size() == 1 && entries.at("x").to_vector() == std::vector<double>{1, 20};
    return p.allreduce(good, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(ok);
}

// ---- contention
// -----------------------------------------------------------------------------------

TEST(Shared, ConcurrentUpdatesAndPushBacksFromEveryProcessAreExact) {
  auto& par = backend();
  constexpr int rounds = 400;
  SharedDict<std::string, long> counts(par);
  SharedList<int> pushed(par);
  par.run([&](Parallelizer& p) {
    for (int i = 0; i < rounds; ++i) {
      counts.update("total", [](std::optional<long>& n) { n = n.value_or(0) + 1; });
      counts.update("p" + std::to_string(p.id()),
                    [](std::optional<long>& n) { n = n.value_or(0) + 1; });
      pushed.push_back(p.id() * 100000 + i);
    }
  });
  const int n = par.nprocs();
  EXPECT_EQ(counts.at("total"), static_cast<long>(rounds) * n);
  for (int id = 0; id < n; ++id) EXPECT_EQ(counts.at("p" + std::to_string(id)), rounds) << id;
  EXPECT_EQ(counts.size(), static_cast<std::size_t>(n) + 1);
  ASSERT_EQ(pushed.size(), static_cast<std::size_t>(rounds * n));
  auto values = pushed.to_vector();
  std::sort(values.begin(), values.end());
  std::vector<int> expected;
  for (int id = 0; id < n; ++id) {
    for (int i = 0; i < rounds; ++i) expected.push_back(id * 100000 + i);
  }
  EXPECT_EQ(values, expected);
}

TEST(Shared, ObjectsCreatedInsideRunAreSharedByEveryProcess) {
  auto& par = backend();
  constexpr int rounds = 200;
  const auto totals = par.run([&](Parallelizer& p) {
    SharedDict<int, long> dict(p);
    SharedList<std::string> list(p);
    for (int i = 0; i < rounds; ++i) {
      dict.update(i % 7, [](std::optional<long>& n) { n = n.value_or(0) + 1; });
    }
    list.push_back("process " + std::to_string(p.id()));
    p.barrier();
    long total = 0;
    for (const auto& [key, count] : dict.to_map()) total += count;
    const auto names = list.to_vector();
    const std::set<std::string> distinct(names.begin(), names.end());
    return std::pair<long, std::size_t>(total, distinct.size());
  });
  EXPECT_EQ(totals.first, static_cast<long>(rounds) * par.nprocs());
  EXPECT_EQ(totals.second, static_cast<std::size_t>(par.nprocs()));
}

TEST(Shared, UpdateCanInsertChangeAndRemoveAndReturnsWhatItLeft) {
  auto& par = backend();
  const bool ok = par.run([&](Parallelizer& p) {
    SharedDict<std::string, std::string> dict(p);
    if (p.on_main()) {
      auto made = dict.update("k", [](std::optional<std::string>& v) {
        UNIPAR_CHECK(!v);
        v = "one";
      });
      UNIPAR_CHECK(made == std::optional<std::string>("one"));
      made = dict.update("k", [](std::optional<std::string>& v) { *v += "+two"; });
      UNIPAR_CHECK(dict.at("k") == "one+two");
      made = dict.update("k", [](std::optional<std::string>& v) { v.reset(); });
      UNIPAR_CHECK(!made && !dict.contains("k") && dict.size() == 0);
      // An exception in the function changes nothing and releases the lock.
      dict.set("k", "kept");
      try {
        dict.update("k", [](std::optional<std::string>& v) {
          v = "lost";
          throw std::runtime_error("no");
        });
        UNIPAR_CHECK(false);
      } catch (const std::runtime_error&) {
      }
      UNIPAR_CHECK(dict.at("k") == "kept");
    }
    p.barrier();
    return true;
  });
  EXPECT_TRUE(ok);
}

// ---- serialized keys and values
// --------------------------------------------------------------------

TEST(Shared, SerializedKeysAndValuesRoundTripBetweenProcesses) {
  auto& par = backend();
  using Key = std::pair<std::string, int>;
  SharedDict<Key, Particle> particles(par);
  SharedList<Dict> dicts(par);
  par.run([&](Parallelizer& p) {
    for (int i = 0; i < 5; ++i) {
      particles.set({"p" + std::to_string(p.id()), i}, make_value<Particle>(p.id() * 10 + i));
    }
    dicts.push_back(make_value<Dict>(p.id()));
  });
  const int n = par.nprocs();
  ASSERT_EQ(particles.size(), static_cast<std::size_t>(5 * n));
  std::map<Key, Particle> expected;
  for (int id = 0; id < n; ++id) {
    for (int i = 0; i < 5; ++i) {
      expected[{"p" + std::to_string(id), i}] = make_value<Particle>(id * 10 + i);
    }
  }
  EXPECT_EQ(particles.to_map(), expected);
  std::vector<Key> keys;
  for (const auto& [key, value] : expected) keys.push_back(key);
  EXPECT_EQ(particles.keys(), keys);  // in key order
  EXPECT_EQ(particles.at({"p0", 3}), make_value<Particle>(3));
  EXPECT_FALSE(particles.get({"p0", 99}).has_value());
  EXPECT_THROW((void)particles.at({"nobody", 0}), std::out_of_range);
  EXPECT_TRUE(particles.contains({"p0", 4}));

  auto all = dicts.to_vector();
  std::vector<Dict> expected_dicts;
  for (int id = 0; id < n; ++id) expected_dicts.push_back(make_value<Dict>(id));
  std::sort(all.begin(), all.end());
  std::sort(expected_dicts.begin(), expected_dicts.end());
  EXPECT_EQ(all, expected_dicts);
  EXPECT_THROW((void)dicts.get(static_cast<std::size_t>(n)), std::out_of_range);
  EXPECT_THROW(dicts.set(static_cast<std::size_t>(n), Dict{}), std::out_of_range);
}

TEST(Shared, ListSetReplacesAnElementSeenByEveryProcess) {
  auto& par = backend();
  SharedList<std::string> list(par);
  const bool ok = par.run([&](Parallelizer& p) {
    if (p.on_main()) {
      for (int i = 0; i < p.nprocs(); ++i) list.push_back("empty");
    }
    p.barrier();
    list.set(static_cast<std::size_t>(p.id()),
             std::string(static_cast<std::size_t>(p.id() * 50), 'x'));
    p.barrier();
    bool all = list.size() == static_cast<std::size_t>(p.nprocs());
    for (int i = 0; i < p.nprocs(); ++i) {
      all = all && list.get(static_cast<std::size_t>(i)) ==
                       std::string(static_cast<std::size_t>(i * 50), 'x');
    }
    return p.allreduce(all, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(ok);
}

// ---- growth and its limit
// ----------------------------------------------------------------------------

TEST(Shared, DictsAndListsGrowPastTheirFirstPagesUntilTheLimitThenThrowAndStayUsable) {
  auto& par = backend();
  const ScopedEnvironment limit("UNIPAR_SHARED_LIMIT", "1M");
  const auto results = par.run([&](Parallelizer& p) {
    SharedDict<int, std::string> dict(p);
    SharedList<std::string> list(p);
    const std::string value(1000, 'v');
    std::int64_t stored = 0;
    std::string message;
    if (p.on_main()) {
      try {
        for (;; ++stored) dict.set(static_cast<int>(stored), value + std::to_string(stored));
      } catch (const Error& e) {
        message = e.what();
      }
    }
    stored = p.broadcast(stored);
    message = p.broadcast(message);
    // Every process sees the same intact dict: all that was stored, nothing else.
    bool intact = dict.size() == static_cast<std::size_t>(stored);
    for (int k = 0; k < stored; ++k) {
      intact = intact && dict.at(k) == value + std::to_string(k);
    }
    p.barrier();
    // Freed memory is used again.
    bool again = true;
    if (p.on_main()) {
      for (int k = 0; k < 10; ++k) again = again && dict.erase(k);
      for (int k = 0; k < 10; ++k) dict.set(-1 - k, value);
      again = again && dict.size() == static_cast<std::size_t>(stored);
    }
    // A list too.
    std::string list_message;
    std::int64_t pushed = 0;
    if (p.on_main()) {
      try {
        for (;; ++pushed) list.push_back(value);
      } catch (const Error& e) {
        list_message = e.what();
      }
      again = again && list.size() == static_cast<std::size_t>(pushed) &&
              list.get(static_cast<std::size_t>(pushed - 1)) == value;
    }
    const bool all_intact = p.allreduce(intact, [](bool a, bool b) { return a && b; });
    return std::tuple<std::int64_t, std::string, bool, bool, std::int64_t, std::string>(
        stored, message, all_intact, again, pushed, list_message);
  });
  if (!holds_main_results()) return;
  const auto& [stored, message, intact, again, pushed, list_message] = results;
  // 1 MiB holds hundreds of 1 KB values: the dict grew far past its first pages.
  EXPECT_GT(stored, 500);
  EXPECT_LT(stored, 1100);
  EXPECT_TRUE(contains(message, "out of shared memory")) << message;
  EXPECT_TRUE(contains(message, "UNIPAR_SHARED_LIMIT")) << message;
  EXPECT_TRUE(contains(message, "1M")) << message;
  EXPECT_TRUE(contains(message, "SharedDict<int, std::string>")) << message;
  EXPECT_TRUE(intact);
  EXPECT_TRUE(again);
  EXPECT_GT(pushed, 200);
  EXPECT_TRUE(contains(list_message, "UNIPAR_SHARED_LIMIT")) << list_message;
}

TEST(Shared, AnArrayLargerThanTheLimitIsAnError) {
  auto& par = backend();
  const ScopedEnvironment limit("UNIPAR_SHARED_LIMIT", "64K");
  std::string message;
  try {
    SharedArray<double> too_large(par, 64 * 1024 / 8);  // the header page needs room too
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, "UNIPAR_SHARED_LIMIT = 64K")) << message;
  const SharedArray<double> fits(par, 1000);
  EXPECT_EQ(fits.size(), 1000u);
}

TEST(Shared, ABadLimitIsAUsageErrorNamingTheVariable) {
  auto& par = backend();
  const ScopedEnvironment limit("UNIPAR_SHARED_LIMIT", "12Q");
  try {
    SharedDict<int, int> dict(par);
    ADD_FAILURE() << "a bad UNIPAR_SHARED_LIMIT was accepted";
  } catch (const UsageError& e) {
    EXPECT_TRUE(contains(e.what(), "UNIPAR_SHARED_LIMIT='12Q'")) << e.what();
    EXPECT_TRUE(contains(e.what(), "64K")) << e.what();
  }
}

// ---- what is left behind
// --------------------------------------------------------------------------

TEST(Shared, NoMappingOrDescriptorOutlivesTheObjects) {
  auto& par = backend();
  const int mappings = unipar_shared_mappings();
  const int descriptors = unipar_shared_descriptors();
  {
    SharedDict<int, SharedArray<double>> dict(par);
    SharedArray<double> array(par, 100000);
    dict.set(1, array);
    par.run([&](Parallelizer& p) {
      SharedList<int> inside(p);
      inside.push_back(p.id());
      array[static_cast<std::size_t>(p.id())] = 1;
    });
    EXPECT_GE(unipar_shared_mappings(), mappings + 2);
    EXPECT_EQ(unipar_shared_descriptors(), descriptors) << "a memfd stayed open";
  }
  EXPECT_EQ(unipar_shared_mappings(), mappings);
  EXPECT_EQ(unipar_shared_descriptors(), descriptors);
  EXPECT_TRUE(unipar_shm_entries().empty());
}

// ---- misuse
// ----------------------------------------------------------------------------------------

bool with_workers() {
  return backend().nprocs() >= 2;
}

TEST(SharedMisuse, CreatedInsideRunByMainOnlyIsAUsageError) {
  if (!with_workers()) GTEST_SKIP() << "one process creates every object it creates";
  const std::string what = usage_error_message([] {
    backend().run([](Parallelizer& p) {
      if (p.on_main()) SharedDict<int, int> dict(p);
    });
  });
  EXPECT_TRUE(contains(what, "SharedDict<int, int>")) << what;
  EXPECT_TRUE(contains(what, "every process must create each shared object at the same point"))
      << what;
  EXPECT_EQ(backend().run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }),
            backend().nprocs());
}

TEST(SharedMisuse, CreatedInsideRunByAWorkerOnlyIsAUsageError) {
  if (!with_workers()) GTEST_SKIP() << "needs workers";
  const std::string what = usage_error_message([] {
    backend().run([](Parallelizer& p) {
      if (p.id() == 1) SharedList<int> list(p);
    });
  });
  EXPECT_TRUE(contains(what, "SharedList<int>")) << what;
  EXPECT_TRUE(contains(what, "at the same point")) << what;
  EXPECT_EQ(backend().run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }),
            backend().nprocs());
}

TEST(SharedMisuse, ObjectsCreatedInADifferentOrderAreAUsageError) {
  if (!with_workers()) GTEST_SKIP() << "needs workers";
  const std::string what = usage_error_message([] {
    backend().run([](Parallelizer& p) {
      if (p.on_main()) {
        SharedDict<int, int> dict(p);
        SharedList<int> list(p);
      } else {
        SharedList<int> list(p);
        SharedDict<int, int> dict(p);
      }
    });
  });
  EXPECT_TRUE(contains(what, "created another shared object")) << what;
  EXPECT_TRUE(contains(what, "in the same order")) << what;
  EXPECT_EQ(backend().run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }),
            backend().nprocs());
}

TEST(SharedMisuse, ArraysOfDifferentSizesInsideRunAreAUsageError) {
  if (!with_workers()) GTEST_SKIP() << "needs workers";
  const std::string what = usage_error_message([] {
    backend().run(
        [](Parallelizer& p) { SharedArray<int> array(p, 10 + static_cast<std::size_t>(p.id())); });
  });
  EXPECT_TRUE(contains(what, "elements where process 0 created 10")) << what;
  EXPECT_TRUE(contains(what, "every process must ask for the same size")) << what;
}

TEST(SharedMisuse, AnObjectOfAnotherParallelizerIsAUsageError) {
  unipar::SerialParallelizer other;
  SharedArray<double> foreign(other, 3);
  SharedDict<int, int> foreign_dict(other);
  SharedObjectManager manager(backend());
  const std::string what = usage_error_message([&] { (void)manager.unshare(foreign); });
  EXPECT_TRUE(contains(what, "SharedObjectManager::unshare")) << what;
  EXPECT_TRUE(contains(what, "another parallelizer")) << what;
  EXPECT_TRUE(contains(usage_error_message([&] { (void)manager.unshare(foreign_dict); }),
                       "another parallelizer"));
  SharedDict<int, SharedArray<double>> dict(backend());
  EXPECT_TRUE(contains(usage_error_message([&] { dict.set(1, foreign); }), "another parallelizer"));
  EXPECT_FALSE(dict.contains(1));
}

TEST(SharedMisuse, UsingADictInsideItsOwnUpdateIsAUsageError) {
  auto& par = backend();
  SharedDict<int, int> dict(par);
  const std::string what = usage_error_message(
      [&] { dict.update(1, [&](std::optional<int>& v) { v = dict.get(2).value_or(0); }); });
  EXPECT_TRUE(contains(what, "inside its own update function")) << what;
  dict.set(2, 3);  // the lock was released
  EXPECT_EQ(dict.at(2), 3);
}

TEST(SharedMisuse, ProcessesOnSeveralNodesNeedNodeLocalSharing) {
  if (!with_workers()) GTEST_SKIP() << "needs several processes to play several nodes";
  auto& par = backend();
  // Each process says it runs on node "even" or "odd".
  auto play_nodes = [](Parallelizer& p) {
    unipar::detail::set_node_identity_for_testing(p.id() % 2 == 0 ? "even" : "odd");
  };
  const std::string what = usage_error_message([&] {
    par.run([&](Parallelizer& p) {
      play_nodes(p);
      try {
        SharedDict<int, int> dict(p);
      } catch (...) {
        unipar::detail::set_node_identity_for_testing("");
        throw;
      }
    });
  });
  unipar::detail::set_node_identity_for_testing("");
  EXPECT_TRUE(contains(what, "run on 2 nodes")) << what;
  EXPECT_TRUE(contains(what, "unipar::Sharing::node_local")) << what;

  // With node_local, each node has its own dict, created by its lowest process.
  const bool separate = par.run([&](Parallelizer& p) {
    play_nodes(p);
    SharedDict<int, int> dict(p, Sharing::node_local);
    SharedArray<int> array(p, std::vector<int>(4, p.id()), Sharing::node_local);
    unipar::detail::set_node_identity_for_testing("");
    dict.set(p.id(), p.id());
    p.barrier();
    bool mine_only = array[0] == p.id() % 2;  // the node's first process's contents
    for (const int key : dict.keys()) mine_only = mine_only && key % 2 == p.id() % 2;
    const int on_my_node = (p.nprocs() + 1 - p.id() % 2) / 2;
    mine_only = mine_only && dict.size() == static_cast<std::size_t>(on_my_node);
    return p.allreduce(mine_only, [](bool a, bool b) { return a && b; });
  });
  EXPECT_TRUE(separate);
}

}  // namespace
}  // namespace unipar_test
