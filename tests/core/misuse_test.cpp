/// @file misuse_test.cpp
/// @brief Misuse is a clear error: invalid ranks and tags, a wrong receive type, a nested run,
/// bad backend specs, and (where the backend can tell) collectives called in a different order
/// and messages outside run.
#include <functional>
#include <string>
#include <typeinfo>
#include <utility>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Parallelizer;
using unipar::UsageError;
using unipar::testing::backend;

TEST(Misuse, InvalidRanksAreUsageErrors) {
  const int checked = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    std::vector<std::function<void()>> calls{
        [&] { par.send(1, n); },
        [&] { par.send(1, -1); },
        [&] { par.send(std::string("x"), n + 5); },
        [&] { par.receive<int>(-1); },
        [&] { par.receive<int>(n); },
        [&] {
          int into = 0;
          par.receive_into(into, n);
        },
        [&] { par.probe(-1); },
        [&] { par.probe(n); },
        [&] { par.broadcast(1, n); },
        [&] {
          int value = 1;
          par.broadcast_inplace(value, -1);
        },
        [&] {
          par.scatter(std::vector<int>{1, 2}, n);
        },
        [&] { par.gather(1, -1); },
        [&] { par.gather_blocks(std::vector<double>{1.0}, n); },
        [&] { par.reduce(1, std::plus<>{}, n); },
    };
    int count = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!throws<UsageError>(calls[i])) {
        throw std::logic_error("call " + std::to_string(i) +
                               " with an invalid rank did not throw UsageError");
      }
      ++count;
    }
    // Nothing was sent or started: the processes are still in step.
    par.barrier();
    UNIPAR_CHECK(par.allreduce(1, std::plus<>{}) == n);
    return count;
  });
  EXPECT_EQ(checked, 14);
}

TEST(Misuse, InvalidTagsAreUsageErrors) {
  const bool ok = backend().run([](Parallelizer& par) {
    const int me = par.id();
    const int too_large = unipar::detail::max_user_tag + 1;
    UNIPAR_CHECK(throws<UsageError>([&] { par.send(1, me, -1); }));
    UNIPAR_CHECK(throws<UsageError>([&] { par.send(1, me, too_large); }));
    UNIPAR_CHECK(throws<UsageError>([&] { par.receive<int>(me, -7); }));
    UNIPAR_CHECK(throws<UsageError>([&] { par.receive<int>(me, too_large); }));
    UNIPAR_CHECK(throws<UsageError>([&] { par.probe(me, -1); }));
    UNIPAR_CHECK(throws<UsageError>([&] { par.probe(me, too_large); }));
    // The largest user tag is valid.
    par.send(5, me, unipar::detail::max_user_tag);
    UNIPAR_CHECK(par.receive<int>(me, unipar::detail::max_user_tag) == 5);
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Misuse, ReceivingFromSelfWithoutASendIsAUsageError) {
  const bool ok = backend().run([](Parallelizer& par) {
    UNIPAR_CHECK(throws<UsageError>([&] { par.receive<int>(par.id(), 4); }));
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Misuse, WrongReceiveTypeIsATypeMismatch) {
  const bool ok = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    par.send(std::string("text"), (par.id() + 1) % n, 2);
    const int from = (par.id() + n - 1) % n;
    UNIPAR_CHECK(throws<unipar::TypeMismatch>([&] { par.receive<int>(from, 2); }));
    UNIPAR_CHECK(throws<unipar::TypeMismatch>([&] { par.receive<Particle>(from, 2); }));
    UNIPAR_CHECK(par.receive<std::string>(from, 2) == "text");
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Misuse, NestedRunIsAUsageErrorAndTheOuterRunGoesOn) {
  auto& outer = backend();
  const int sum = outer.run([&outer](Parallelizer& par) {
    UNIPAR_CHECK(throws<UsageError>([&] { outer.run([](Parallelizer&) {}); }));
    UNIPAR_CHECK(throws<UsageError>([&] { par.run([](Parallelizer& p) { return p.id(); }); }));
    UNIPAR_CHECK(par.in_run());
    return par.allreduce(par.id(), std::plus<>{});
  });
  const int n = outer.nprocs();
  EXPECT_EQ(sum, n * (n - 1) / 2);
  EXPECT_FALSE(outer.in_run());
  // And the parallelizer is usable afterwards.
  EXPECT_EQ(outer.run([](Parallelizer& par) { return par.allreduce(1, std::plus<>{}); }), n);
}

TEST(Misuse, ACollectiveFromInsideAMapIsAUsageErrorOnEveryBackend) {
  // The item's function runs while the other processes are inside the map: a collective (a
  // nested map included) there could only hang or mix messages up. It fails the map clearly, on
  // whichever process ran the item, and the parallelizer is usable afterwards.
  auto& par = backend();
  const std::vector<int> items{1, 2, 3, 4, 5, 6, 7, 8};
  const std::string nested = usage_error_message([&] {
    (void)par.map(
        [&par](int x) { return par.map([](int y) { return y; }, std::vector<int>{x})[0]; }, items);
  });
  EXPECT_TRUE(contains(nested, "map called from inside a map")) << nested;
  const std::string inside_run = usage_error_message([&] {
    par.run([](Parallelizer& p) {
      (void)p.map([&p](int x) { return p.allreduce(x, std::plus<>{}); },
                  std::vector<int>{1, 2, 3, 4});
    });
  });
  EXPECT_TRUE(contains(inside_run, "allreduce called from inside a map")) << inside_run;
  const std::string from_callback = usage_error_message([&] {
    par.run([](Parallelizer& p) {
      p.map_each([](int x) { return x; }, std::vector<int>{1, 2, 3},
                 [&p](std::size_t, int&&) { p.barrier(); });
    });
  });
  EXPECT_TRUE(contains(from_callback, "barrier called from inside a map")) << from_callback;
  EXPECT_EQ(par.map([](int x) { return 2 * x; }, items).size(),
            holds_main_results() ? items.size() : 0U);
}

TEST(Misuse, BadBackendSpecsNameTheAcceptedForms) {
  for (const char* spec : {"bogus", "fork:0", "fork:x", "fork:", "fork:-2", "fork:3x", "", "Serial",
                           "fork:99999999999"}) {
    try {
      auto par = unipar::make_parallelizer(spec);
      ADD_FAILURE() << "'" << spec << "' was accepted";
    } catch (const UsageError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("serial"), std::string::npos) << what;
      EXPECT_NE(what.find("fork:N"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("'") + spec + "'"), std::string::npos) << what;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "'" << spec << "' threw " << typeid(e).name() << ": " << e.what();
    }
  }
  // (Valid fork specs are checked in tests/fork: making a fork parallelizer is refused under MPI.)
  EXPECT_EQ(unipar::make_parallelizer("serial")->name(), "serial");
  EXPECT_EQ(unipar::make_parallelizer("serial")->nprocs(), 1);
}

/// Whether `f()` throws UsageError on main, or a WorkerError that carries a UsageError (the
/// worker noticed the misuse first).
template <class F>
::testing::AssertionResult usage_error_on_main(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return ::testing::AssertionSuccess() << e.what();
  } catch (const unipar::WorkerError& e) {
    if (e.type_name().find("UsageError") != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "WorkerError not from a UsageError: " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << typeid(e).name() << ": " << e.what();
  }
  return ::testing::AssertionFailure() << "no error";
}

bool fork_with_workers() {
  return backend().name() == "fork" && backend().nprocs() >= 2;
}

TEST(Misuse, CollectivesInADifferentOrderAreAUsageErrorUnderFork) {
  if (!fork_with_workers()) GTEST_SKIP() << "only the fork backend with workers checks the order";
  auto& par = backend();
  // Main broadcasts while the workers gather; the next collective exposes the mismatch.
  EXPECT_TRUE(usage_error_on_main([&] {
    par.run([](Parallelizer& p) {
      if (p.on_main()) {
        p.broadcast(1, 0);
      } else {
        p.gather(2, 0);
      }
      p.barrier();
    });
  }));
  // Main gathers while the workers broadcast from process 1.
  EXPECT_TRUE(usage_error_on_main([&] {
    par.run([](Parallelizer& p) {
      if (p.on_main()) {
        p.gather(1, 0);
      } else {
        p.broadcast(2, 1);
      }
    });
  }));
  // One process skips a collective, the others go on.
  EXPECT_TRUE(usage_error_on_main([&] {
    par.run([](Parallelizer& p) {
      if (p.id() != 1) p.broadcast(3, 0);
      p.gather(p.id(), 0);
      p.barrier();
    });
  }));
  // Afterwards the parallelizer still works.
  EXPECT_EQ(par.run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }), par.nprocs());
}

TEST(Misuse, MainWaitingForAWorkerWhoseFunctionReturnedIsAUsageErrorUnderFork) {
  if (!fork_with_workers()) GTEST_SKIP() << "only the fork backend can tell";
  EXPECT_TRUE(usage_error_on_main([] {
    backend().run([](Parallelizer& p) {
      if (p.on_main()) p.receive<int>(1, 3);
    });
  }));
}

// Every backend, serial included: the debugging backend reports what the others report.
TEST(Misuse, MessagesAndCollectivesOutsideRunAreUsageErrorsNamingTheCall) {
  auto& par = backend();
  const std::vector<std::pair<std::string, std::function<void()>>> calls{
      {"send", [&] { par.send(1, 0); }},
      {"receive", [&] { par.receive<int>(0); }},
      {"probe", [&] { par.probe(0); }},
      {"barrier", [&] { par.barrier(); }},
      {"broadcast", [&] { par.broadcast(1, 0); }},
      {"scatter",
       [&] {
         par.scatter(std::vector<int>{1, 2}, 0);
       }},
      {"gather", [&] { par.gather(1, 0); }},
      {"gather_blocks", [&] { par.gather_blocks(std::vector<int>{1}, 0); }},
      {"reduce", [&] { par.reduce(1, std::plus<>{}); }},
      {"allreduce", [&] { par.allreduce(1, std::plus<>{}); }},
  };
  for (const auto& [name, call] : calls) {
    try {
      call();
      ADD_FAILURE() << name << " outside run did not throw";
    } catch (const UsageError& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.starts_with(name + ":")) << what;
      EXPECT_TRUE(contains(what, "outside run()")) << what;
    }
  }
  // Still fine afterwards.
  EXPECT_EQ(par.run([](Parallelizer& p) { return p.allreduce(2, std::plus<>{}); }),
            2 * par.nprocs());
}

bool with_workers() {
  return backend().nprocs() >= 2;
}

TEST(Misuse, AnAllreduceOnlyMainMakesIsReportedByItsOwnName) {
  if (!with_workers()) GTEST_SKIP() << "one process makes every collective it calls";
  const std::string what = usage_error_message([] {
    backend().run([](Parallelizer& p) {
      int x = p.id();
      if (p.on_main()) x = p.allreduce(x, std::plus<>{});
      p.barrier();
    });
  });
  EXPECT_TRUE(contains(what, "allreduce #1")) << what;
  EXPECT_TRUE(contains(what, "barrier #1")) << what;
  EXPECT_FALSE(contains(what, "gather")) << what;
  EXPECT_EQ(backend().run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }),
            backend().nprocs());
}

TEST(Misuse, ACollectiveOnlyRootMadeFailsTheRunNamingItAndWhoSkippedIt) {
  if (!with_workers()) GTEST_SKIP() << "one process makes every collective it calls";
  const std::string what = usage_error_message([] {
    backend().run([](Parallelizer& p) {
      int x = 5;
      if (p.on_main()) x = p.broadcast(x);
      (void)x;
    });
  });
  EXPECT_TRUE(contains(what, "process 0 made broadcast #1")) << what;
  EXPECT_TRUE(contains(what, "after 0 collectives")) << what;
  EXPECT_TRUE(contains(what, backend().nprocs() == 2 ? "process 1 returned" : "processes 1"))
      << what;
  EXPECT_EQ(backend().run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }),
            backend().nprocs());
}

TEST(Misuse, ABarrierOnTheWorkersOnlySaysMainReturnedAfterNoCollective) {
  if (!with_workers()) GTEST_SKIP() << "needs workers";
  const std::string what = usage_error_message([] {
    backend().run([](Parallelizer& p) {
      if (!p.on_main()) p.barrier();
    });
  });
  EXPECT_TRUE(contains(what, "waits in barrier #1")) << what;
  EXPECT_TRUE(contains(what, "process 0 returned from its function after 0 collectives")) << what;
  EXPECT_EQ(backend().run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }),
            backend().nprocs());
}

TEST(Misuse, AWrongReceiveTypeNamesBothTypes) {
  const bool ok = backend().run([](Parallelizer& p) {
    const int n = p.nprocs();
    p.send(std::string("text"), (p.id() + 1) % n, 3);
    const int from = (p.id() + n - 1) % n;
    std::string what;
    try {
      (void)p.receive<double>(from, 3);
    } catch (const unipar::TypeMismatch& e) {
      what = e.what();
    }
    UNIPAR_CHECK(contains(what, "asked for double"));
    UNIPAR_CHECK(contains(what, "holds std::string"));
    UNIPAR_CHECK(contains(what, "tag 3"));
    UNIPAR_CHECK(p.receive<std::string>(from, 3) == "text");
    return true;
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace unipar_test
