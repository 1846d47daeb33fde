/// @file collectives_test.cpp
/// @brief broadcast, broadcast_inplace, scatter, gather, gather_blocks, reduce, allreduce and
/// barrier, for every kind of value, with empty and uneven data and roots other than 0; plus
/// the run contract (ids, arguments, results, run called twice) and long collective sequences.
#include <cstdlib>
#include <cstring>
#include <functional>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Parallelizer;
using unipar::testing::backend;

template <class T>
class Collectives : public ::testing::Test {};
TYPED_TEST_SUITE(Collectives, AllTypes, TypeNames);

TYPED_TEST(Collectives, BroadcastFromEveryRoot) {
  using T = TypeParam;
  const auto seen = backend().run([](Parallelizer& par) {
    std::vector<T> got;
    for (int root : roots_for(par.nprocs())) {
      const T mine = par.id() == root ? make_value<T>(100 + root) : make_value<T>(7);
      const T value = par.broadcast(mine, root);
      UNIPAR_CHECK(value == make_value<T>(100 + root));
      UNIPAR_CHECK(mine == (par.id() == root ? make_value<T>(100 + root) : make_value<T>(7)));
      got.push_back(value);
    }
    return got;
  });
  const auto roots = roots_for(backend().nprocs());
  ASSERT_EQ(seen.size(), roots.size());
  for (std::size_t i = 0; i < roots.size(); ++i) EXPECT_EQ(seen[i], make_value<T>(100 + roots[i]));
}

TYPED_TEST(Collectives, BroadcastOfAnEmptyOrDefaultValue) {
  using T = TypeParam;
  const bool ok = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    // Seed 0 gives the empty string / vector / map.
    UNIPAR_CHECK(par.broadcast(par.id() == last ? make_value<T>(0) : make_value<T>(5), last) ==
                 make_value<T>(0));
    UNIPAR_CHECK(par.broadcast(T{}, 0) == T{});
    return true;
  });
  EXPECT_TRUE(ok);
}

TYPED_TEST(Collectives, BroadcastInplaceOverwritesOnEveryOtherProcess) {
  using T = TypeParam;
  const bool ok = backend().run([](Parallelizer& par) {
    for (int root : roots_for(par.nprocs())) {
      T value = par.id() == root ? make_value<T>(200 + root) : make_value<T>(3);
      par.broadcast_inplace(value, root);
      UNIPAR_CHECK(value == make_value<T>(200 + root));
    }
    return true;
  });
  EXPECT_TRUE(ok);
}

TYPED_TEST(Collectives, ScatterSplitsEmptyTinyAndUnevenData) {
  using T = TypeParam;
  // Per (count, root): the block sizes gathered on main.
  const auto sizes = backend().run([](Parallelizer& par) {
    std::vector<std::vector<std::size_t>> all_sizes;
    for (std::size_t count : {0, 1, 7, 13}) {
      for (int root : roots_for(par.nprocs())) {
        std::vector<T> data;
        if (par.id() == root) {
          for (std::size_t i = 0; i < count; ++i)
            data.push_back(make_value<T>(static_cast<int>(i)));
        } else if (par.id() % 2 == 1) {
          data.push_back(make_value<T>(99));  // ignored: only root's data counts
        }
        const auto block = par.scatter(data, root);
        const auto expected = expected_block(count, par.nprocs(), par.id());
        UNIPAR_CHECK(block.size() == expected.size);
        for (std::size_t j = 0; j < block.size(); ++j) {
          UNIPAR_CHECK(block[j] == make_value<T>(static_cast<int>(expected.begin + j)));
        }
        all_sizes.push_back(par.gather(block.size()));
      }
    }
    return all_sizes;
  });
  if (!holds_main_results()) return;
  const int n = backend().nprocs();
  std::size_t index = 0;
  for (std::size_t count : {0, 1, 7, 13}) {
    for (std::size_t r = 0; r < roots_for(n).size(); ++r, ++index) {
      ASSERT_LT(index, sizes.size());
      ASSERT_EQ(sizes[index].size(), static_cast<std::size_t>(n));
      std::size_t total = 0;
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(sizes[index][i], expected_block(count, n, i).size) << "count " << count;
        if (i > 0) {
          EXPECT_LE(sizes[index][i], sizes[index][i - 1]) << "larger blocks first";
        }
        total += sizes[index][i];
      }
      EXPECT_EQ(total, count);
    }
  }
}

TYPED_TEST(Collectives, GatherCollectsOneValuePerProcessInIdOrder) {
  using T = TypeParam;
  const auto on_main = backend().run([](Parallelizer& par) {
    std::vector<T> gathered_on_main;
    for (int root : roots_for(par.nprocs())) {
      const auto all = par.gather(make_value<T>(par.id()), root);
      if (par.id() == root) {
        UNIPAR_CHECK(all.size() == static_cast<std::size_t>(par.nprocs()));
        for (int i = 0; i < par.nprocs(); ++i) UNIPAR_CHECK(all[i] == make_value<T>(i));
      } else {
        UNIPAR_CHECK(all.empty());
      }
      if (root == 0) gathered_on_main = all;
    }
    return gathered_on_main;
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(on_main.size(), static_cast<std::size_t>(backend().nprocs()));
  for (int i = 0; i < backend().nprocs(); ++i) EXPECT_EQ(on_main[i], make_value<T>(i));
}

TYPED_TEST(Collectives, GatherBlocksConcatenatesUnevenBlocks) {
  using T = TypeParam;
  const auto on_main = backend().run([](Parallelizer& par) {
    std::vector<T> result_on_main;
    for (int root : roots_for(par.nprocs())) {
      // Process i contributes i % 3 values (some contribute nothing).
      std::vector<T> block;
      for (int j = 0; j < par.id() % 3; ++j) block.push_back(make_value<T>(par.id() * 10 + j));
      const auto all = par.gather_blocks(block, root);
      if (par.id() == root) {
        std::vector<T> expected;
        for (int i = 0; i < par.nprocs(); ++i) {
          for (int j = 0; j < i % 3; ++j) expected.push_back(make_value<T>(i * 10 + j));
        }
        UNIPAR_CHECK(all == expected);
      } else {
        UNIPAR_CHECK(all.empty());
      }
      if (root == 0) result_on_main = all;
    }
    return result_on_main;
  });
  if (!holds_main_results()) return;
  std::vector<T> expected;
  for (int i = 0; i < backend().nprocs(); ++i) {
    for (int j = 0; j < i % 3; ++j) expected.push_back(make_value<T>(i * 10 + j));
  }
  EXPECT_EQ(on_main, expected);
}

TYPED_TEST(Collectives, GatherBlocksUndoesScatter) {
  using T = TypeParam;
  const auto back = backend().run([](Parallelizer& par) {
    std::vector<T> result_on_main;
    const int last = par.nprocs() - 1;
    for (std::size_t count : {0, 1, 7, 13}) {
      std::vector<T> data;
      if (par.id() == last) {
        for (std::size_t i = 0; i < count; ++i) data.push_back(make_value<T>(static_cast<int>(i)));
      }
      const auto block = par.scatter(data, last);
      auto all = par.gather_blocks(block, last);
      if (par.id() == last) UNIPAR_CHECK(all == data);
      all = par.broadcast(std::move(all), last);
      UNIPAR_CHECK(all.size() == count);
      result_on_main = all;
    }
    return result_on_main;
  });
  ASSERT_EQ(back.size(), 13u);
  for (int i = 0; i < 13; ++i) EXPECT_EQ(back[i], make_value<T>(i));
}

TYPED_TEST(Collectives, ReduceCombinesInIdOrderOnRoot) {
  using T = TypeParam;
  const auto on_main = backend().run([](Parallelizer& par) {
    T main_result{};
    for (int root : roots_for(par.nprocs())) {
      const T mine = make_value<T>(par.id());
      const T result = par.reduce(mine, Combine{}, root);
      if (par.id() == root) {
        UNIPAR_CHECK(result == fold_of_values<T>(par.nprocs()));
      } else {
        UNIPAR_CHECK(result == mine);  // unchanged elsewhere
      }
      if (root == 0) main_result = result;
    }
    return main_result;
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(on_main, fold_of_values<T>(backend().nprocs()));
}

TYPED_TEST(Collectives, AllreduceGivesTheSameFoldEverywhere) {
  using T = TypeParam;
  const auto all = backend().run([](Parallelizer& par) {
    const T result = par.allreduce(make_value<T>(par.id()), Combine{});
    UNIPAR_CHECK(result == fold_of_values<T>(par.nprocs()));
    return par.gather(result);
  });
  if (!holds_main_results()) return;
  ASSERT_EQ(all.size(), static_cast<std::size_t>(backend().nprocs()));
  for (const auto& value : all) EXPECT_EQ(value, fold_of_values<T>(backend().nprocs()));
}

TEST(Collectives, ReduceOfStringsConcatenatesInIdOrder) {
  const auto results = backend().run([](Parallelizer& par) {
    std::vector<std::string> on_roots;
    for (int root : roots_for(par.nprocs())) {
      const std::string result = par.reduce(std::to_string(par.id()) + ",", std::plus<>{}, root);
      on_roots.push_back(par.broadcast(result, root));
    }
    on_roots.push_back(par.allreduce(std::to_string(par.id()) + ";", std::plus<>{}));
    return on_roots;
  });
  std::string commas, semicolons;
  for (int i = 0; i < backend().nprocs(); ++i) {
    commas += std::to_string(i) + ",";
    semicolons += std::to_string(i) + ";";
  }
  ASSERT_FALSE(results.empty());
  for (std::size_t i = 0; i + 1 < results.size(); ++i) EXPECT_EQ(results[i], commas);
  EXPECT_EQ(results.back(), semicolons);
}

/// Values whose sum depends on the order of the additions.
double order_sensitive(int id) {
  static constexpr double values[] = {0.1, 1e16, 0.3, -1e16, 0.7, 3.0e-3, 1.0 / 3.0};
  return values[id % 7] * (1.0 + id / 7);
}

std::uint64_t bits_of(double x) {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

TEST(Collectives, AllreduceOfDoublesIsExactlyTheSerialFoldInIdOrder) {
  const auto all = backend().run([](Parallelizer& par) {
    return par.gather(par.allreduce(order_sensitive(par.id()), std::plus<>{}));
  });
  if (!holds_main_results()) return;
  const int n = backend().nprocs();
  double serial = order_sensitive(0);
  for (int i = 1; i < n; ++i) serial = serial + order_sensitive(i);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(n));
  for (double value : all) EXPECT_EQ(bits_of(value), bits_of(serial)) << value << " vs " << serial;
  if (n == 4) {
    // The test means something: another order gives another answer.
    double reversed = order_sensitive(3);
    for (int i = 2; i >= 0; --i) reversed = reversed + order_sensitive(i);
    EXPECT_NE(bits_of(reversed), bits_of(serial));
  }
}

TEST(Collectives, BarrierManyTimesInterleavedWithMessages) {
  const int rounds = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    int done = 0;
    for (int i = 0; i < 500; ++i) {
      par.barrier();
      if (i % 50 == 0) {
        par.send(i, (par.id() + 1) % n, 1);
        UNIPAR_CHECK(par.receive<int>((par.id() + n - 1) % n, 1) == i);
      }
      ++done;
    }
    return par.allreduce(done, [](int a, int b) { return std::min(a, b); });
  });
  EXPECT_EQ(rounds, 500);
}

TEST(Collectives, TenThousandConsecutiveCollectivesStayInStep) {
  const long long checksum = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    long long sum = 0;
    for (int i = 0; i < 10000; ++i) {
      switch (i % 3) {
        case 0: {
          const int root = i % n;
          const int value = par.broadcast(par.id() == root ? i : -1, root);
          UNIPAR_CHECK(value == i);
          sum += value;
          break;
        }
        case 1: {
          const long long total =
              par.allreduce(static_cast<long long>(par.id() + i), std::plus<>{});
          UNIPAR_CHECK(total == static_cast<long long>(n) * i + n * (n - 1) / 2);
          sum += total;
          break;
        }
        default:
          par.barrier();
          break;
      }
    }
    return sum;
  });
  const long long n = backend().nprocs();
  long long expected = 0;
  for (long long i = 0; i < 10000; ++i) {
    if (i % 3 == 0) expected += i;
    if (i % 3 == 1) expected += n * i + n * (n - 1) / 2;
  }
  EXPECT_EQ(checksum, expected);
}

TEST(Collectives, MixedTypesAndRootsInOneSequence) {
  const auto result = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    const int middle = par.nprocs() / 2;
    const auto text =
        par.broadcast(par.id() == middle ? std::string("mid") : std::string(), middle);
    const auto dict = par.broadcast(par.id() == last ? make_value<Dict>(3) : Dict{}, last);
    const auto ids = par.gather(par.id(), middle);
    const auto particle = par.allreduce(make_value<Particle>(par.id()), Combine{});
    std::vector<double> mine(static_cast<std::size_t>(par.id()), 1.0);
    const auto blocks = par.gather_blocks(mine, last);
    par.barrier();
    UNIPAR_CHECK(text == "mid");
    UNIPAR_CHECK(dict == make_value<Dict>(3));
    UNIPAR_CHECK(par.id() != middle || ids.size() == static_cast<std::size_t>(par.nprocs()));
    UNIPAR_CHECK(particle == fold_of_values<Particle>(par.nprocs()));
    const std::size_t n = static_cast<std::size_t>(par.nprocs());
    UNIPAR_CHECK(par.id() != last || blocks.size() == n * (n - 1) / 2);
    return particle;
  });
  EXPECT_EQ(result, fold_of_values<Particle>(backend().nprocs()));
}

// ---- the run contract ---------------------------------------------------------------------------

TEST(Run, IdsNprocsAndNameAreConsistent) {
  auto& par = backend();
  EXPECT_FALSE(par.in_run());
  EXPECT_EQ(par.on_main(), par.id() == 0);
  if (par.name() != "mpi") {
    EXPECT_EQ(par.id(), 0) << "outside run, only main exists";
  }
  if (spec_nprocs() > 0) {
    EXPECT_EQ(par.nprocs(), spec_nprocs());
  }
  const std::string spec = unipar::testing::backend_spec();
  EXPECT_EQ(std::string(par.name()), spec.substr(0, spec.find(':')));

  const auto ids = par.run([](Parallelizer& p) {
    UNIPAR_CHECK(p.in_run());
    UNIPAR_CHECK(p.on_main() == (p.id() == 0));
    UNIPAR_CHECK(p.id() >= 0 && p.id() < p.nprocs());
    const auto counts = p.gather(p.nprocs());
    for (int count : counts) UNIPAR_CHECK(count == p.nprocs());
    const auto names = p.gather(std::string(p.name()));
    for (const auto& name : names) UNIPAR_CHECK(name == std::string(p.name()));
    return p.gather(p.id());
  });
  EXPECT_FALSE(par.in_run());
  if (!holds_main_results()) return;
  EXPECT_EQ(par.id(), 0);
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(par.nprocs()));
  for (int i = 0; i < par.nprocs(); ++i) EXPECT_EQ(ids[i], i);
}

TEST(Run, ReturnsMainsResultAndPassesArguments) {
  const std::vector<double> weights{0.5, 1.5, 2.5};
  const std::string label = "w";
  const auto result = backend().run(
      [](Parallelizer& par, const std::vector<double>& w, const std::string& l, int offset) {
        // Every process sees the arguments; main's result is returned.
        UNIPAR_CHECK(w.size() == 3 && l == "w" && offset == 10);
        return l + std::to_string(par.id() + offset) + ":" + std::to_string(w[1]);
      },
      weights, label, 10);
  if (!holds_main_results()) return;
  EXPECT_EQ(result, "w10:" + std::to_string(1.5));
}

TEST(Run, VoidFunctionAndRunTwiceOnTheSameParallelizer) {
  auto& par = backend();
  int calls_on_main = 0;
  par.run([&](Parallelizer& p) {
    if (p.on_main()) ++calls_on_main;
    p.barrier();
  });
  // Under MPI every rank goes on: each takes part in the runs below.
  if (holds_main_results()) {
    EXPECT_EQ(calls_on_main, 1);
  }
  for (int round = 0; round < 3; ++round) {
    const int sum = par.run([round](Parallelizer& p) {
      // A message to self left unreceived does not leak into the next run.
      p.send(round, p.id(), 77);
      return p.allreduce(p.id() + round, std::plus<>{});
    });
    const int n = par.nprocs();
    EXPECT_EQ(sum, n * round + n * (n - 1) / 2) << "round " << round;
  }
  const bool clean = par.run([](Parallelizer& p) { return !p.probe(p.id(), 77); });
  EXPECT_TRUE(clean);
}

TEST(Run, PrintWritesWholeLinesPrefixedWithTheId) {
  ::testing::internal::CaptureStdout();
  backend().run([](Parallelizer& par) {
    par.print("hello ", 42, ' ', 2.5, " from ", par.id());
    par.barrier();
  });
  const std::string out = ::testing::internal::GetCapturedStdout();
  if (!holds_main_results()) return;
  EXPECT_NE(out.find("[0] hello 42 2.5 from 0\n"), std::string::npos) << out;
  // Under MPI with UNIPAR_PRINT=collect (as the mpi registrations set), rank 0 writes them all.
  const char* print = std::getenv("UNIPAR_PRINT");
  const bool collected = print != nullptr && std::string(print) == "collect";
  if (backend().name() == "fork" || (backend().name() == "mpi" && collected)) {
    for (int i = 1; i < backend().nprocs(); ++i) {
      const std::string line =
          "[" + std::to_string(i) + "] hello 42 2.5 from " + std::to_string(i) + "\n";
      EXPECT_NE(out.find(line), std::string::npos) << out;
    }
  }
}

}  // namespace
}  // namespace unipar_test
