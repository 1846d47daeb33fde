/// @file messages_test.cpp
/// @brief Point-to-point messages: send / receive / receive_into / probe, tags, send-to-self,
/// and the type check on receive. Written against the public API only (every backend).
#include <thread>

#include "values.hpp"

namespace unipar_test {
namespace {

using unipar::Parallelizer;
using unipar::testing::backend;

template <class T>
class Messages : public ::testing::Test {};
TYPED_TEST_SUITE(Messages, AllTypes, TypeNames);

TYPED_TEST(Messages, RingPassesEachValueToTheNextProcess) {
  using T = TypeParam;
  const auto received = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    const int next = (par.id() + 1) % n;
    const int previous = (par.id() + n - 1) % n;
    par.send(make_value<T>(par.id()), next, 3);
    T value = par.receive<T>(previous, 3);
    UNIPAR_CHECK(value == make_value<T>(previous));
    return par.gather(value);
  });
  if (!holds_main_results()) return;
  const int n = backend().nprocs();
  ASSERT_EQ(received.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(received[i], make_value<T>((i + n - 1) % n)) << i;
}

TYPED_TEST(Messages, EveryPairExchangesIncludingSelf) {
  using T = TypeParam;
  const int checked = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    // The tag says who sent it; the value says from whom to whom.
    for (int dest = 0; dest < n; ++dest)
      par.send(make_value<T>(par.id() * 10 + dest), dest, par.id());
    int count = 0;
    for (int source = n - 1; source >= 0; --source) {
      UNIPAR_CHECK(par.receive<T>(source, source) == make_value<T>(source * 10 + par.id()));
      ++count;
    }
    const auto counts = par.gather(count);
    int total = 0;
    for (int c : counts) total += c;
    return total;
  });
  if (!holds_main_results()) return;
  EXPECT_EQ(checked, backend().nprocs() * backend().nprocs());
}

TYPED_TEST(Messages, ReceiveIntoOverwritesAnExistingValue) {
  using T = TypeParam;
  const bool ok = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    par.send(make_value<T>(par.id() + 1), (par.id() + 1) % n, 8);
    T value = make_value<T>(39);  // to be replaced entirely
    par.receive_into(value, (par.id() + n - 1) % n, 8);
    UNIPAR_CHECK(value == make_value<T>((par.id() + n - 1) % n + 1));
    return true;
  });
  EXPECT_TRUE(ok);
}

TYPED_TEST(Messages, SendToSelfIsReceivedAndProbed) {
  using T = TypeParam;
  const bool ok = backend().run([](Parallelizer& par) {
    const int me = par.id();
    UNIPAR_CHECK(!par.probe(me, 9));
    par.send(make_value<T>(me + 5), me, 9);
    par.send(make_value<T>(me + 6), me, 10);
    UNIPAR_CHECK(par.probe(me, 9));
    UNIPAR_CHECK(par.probe(me, 10));
    UNIPAR_CHECK(par.receive<T>(me, 10) == make_value<T>(me + 6));  // out of order
    UNIPAR_CHECK(par.receive<T>(me, 9) == make_value<T>(me + 5));
    UNIPAR_CHECK(!par.probe(me, 9));
    UNIPAR_CHECK(!par.probe(me, 10));
    return true;
  });
  EXPECT_TRUE(ok);
}

// Sending never waits for the receiver to call receive: every process may first send large
// messages (far beyond any transport buffer) to both neighbours and only then receive, and the
// exchange completes on every backend.
TEST(Messages, LargeMessagesSentBothWaysBeforeReceivingDoNotDeadlock) {
  constexpr std::size_t count = std::size_t{1} << 19;  // 4 MiB of doubles each way
  const auto sums = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    const int next = (par.id() + 1) % n;
    const int previous = (par.id() + n - 1) % n;
    par.send(std::vector<double>(count, par.id() + 0.5), next, 1);
    par.send(std::vector<double>(count, par.id() + 0.25), previous, 2);
    const auto from_previous = par.receive<std::vector<double>>(previous, 1);
    const auto from_next = par.receive<std::vector<double>>(next, 2);
    UNIPAR_CHECK(from_previous.size() == count && from_next.size() == count);
    UNIPAR_CHECK(from_previous.front() == previous + 0.5 && from_previous.back() == previous + 0.5);
    UNIPAR_CHECK(from_next.front() == next + 0.25 && from_next.back() == next + 0.25);
    return par.gather(from_previous[count / 2] + from_next[count / 2]);
  });
  if (!holds_main_results()) return;
  const int n = backend().nprocs();
  ASSERT_EQ(sums.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(sums[static_cast<std::size_t>(i)], (i + n - 1) % n + 0.5 + (i + 1) % n + 0.25) << i;
  }
}

TEST(Messages, DifferentTagsAreReceivedOutOfOrder) {
  const bool ok = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    if (par.id() == 0) {
      par.send(11, last, 1);
      par.send(std::string("two"), last, 2);
      par.send(Dict{{"three", {3.0, 3.5}}}, last, 3);
      par.send(Particle("four", 4.0, {4}), last, 4);
      par.send(std::vector<double>{5.0, 5.5, 5.25}, last, 5);
    }
    if (par.id() == last) {
      UNIPAR_CHECK((par.receive<std::vector<double>>(0, 5) == std::vector<double>{5.0, 5.5, 5.25}));
      UNIPAR_CHECK((par.receive<Dict>(0, 3) == Dict{{"three", {3.0, 3.5}}}));
      UNIPAR_CHECK(par.receive<int>(0, 1) == 11);
      UNIPAR_CHECK(par.receive<Particle>(0, 4) == Particle("four", 4.0, {4}));
      UNIPAR_CHECK(par.receive<std::string>(0, 2) == "two");
      // And back the other way, received in reverse.
      for (int tag = 20; tag < 26; ++tag) par.send(tag * 2, 0, tag);
    }
    if (par.id() == 0) {
      for (int tag = 25; tag >= 20; --tag) UNIPAR_CHECK(par.receive<int>(last, tag) == tag * 2);
    }
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Messages, SameTagKeepsSendingOrder) {
  const long long sum = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    long long total = 0;
    if (par.id() == 0) {
      for (int i = 0; i < 3000; ++i) {
        par.send(i, last, 6);
        if (i % 3 == 0) par.send(std::to_string(i), last, 7);
      }
    }
    if (par.id() == last) {
      for (int i = 0; i < 3000; ++i) {
        const int value = par.receive<int>(0, 6);
        UNIPAR_CHECK(value == i);
        total += value;
      }
      for (int i = 0; i < 3000; i += 3)
        UNIPAR_CHECK(par.receive<std::string>(0, 7) == std::to_string(i));
    }
    return par.broadcast(total, last);
  });
  EXPECT_EQ(sum, 2999LL * 3000 / 2);
}

TEST(Messages, ProbeSeesAWaitingMessageWithoutTakingIt) {
  const bool ok = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    for (int source = 0; source < par.nprocs(); ++source) UNIPAR_CHECK(!par.probe(source, 99));
    if (par.id() == 0) {
      par.send(42, last, 11);
      par.send(std::string("later"), last, 12);
    }
    if (par.id() == last) {
      while (!par.probe(0, 12)) std::this_thread::yield();
      UNIPAR_CHECK(par.probe(0, 12));  // probing does not consume
      UNIPAR_CHECK(par.probe(0, 11));  // the earlier message with another tag is there too
      UNIPAR_CHECK(!par.probe(0, 13));
      UNIPAR_CHECK(par.receive<std::string>(0, 12) == "later");
      UNIPAR_CHECK(!par.probe(0, 12));
      UNIPAR_CHECK(par.probe(0, 11));
      UNIPAR_CHECK(par.receive<int>(0, 11) == 42);
      UNIPAR_CHECK(!par.probe(0, 11));
    }
    par.barrier();
    return true;
  });
  EXPECT_TRUE(ok);
}

TEST(Messages, ReceivingTheWrongTypeThrowsAndKeepsTheMessage) {
  const int mismatches = backend().run([](Parallelizer& par) {
    const int last = par.nprocs() - 1;
    int count = 0;
    if (par.id() == 0) {
      par.send(7, last, 1);
      par.send(std::vector<double>{1.5, 2.5}, last, 2);
      par.send(Particle("q", 2.0, {1, 2}), last, 3);
      par.send(std::string("text"), last, 4);
      par.send(Dict{{"d", {1.0}}}, last, 5);
      par.send(std::vector<double>(1 << 20, 0.5), last, 6);  // larger than a fork channel
    }
    if (par.id() == last) {
      auto mismatch = [&](auto&& receive_wrong) {
        const bool thrown = throws<unipar::TypeMismatch>(receive_wrong);
        count += thrown ? 1 : 0;
        return thrown;
      };
      UNIPAR_CHECK(mismatch([&] { par.receive<double>(0, 1); }));
      UNIPAR_CHECK(mismatch([&] { par.receive<unsigned>(0, 1); }));  // same size, other type
      UNIPAR_CHECK(par.receive<int>(0, 1) == 7);
      UNIPAR_CHECK(mismatch([&] { par.receive<std::vector<float>>(0, 2); }));
      UNIPAR_CHECK((par.receive<std::vector<double>>(0, 2) == std::vector<double>{1.5, 2.5}));
      UNIPAR_CHECK(mismatch([&] { par.receive<Dict>(0, 3); }));
      UNIPAR_CHECK(par.receive<Particle>(0, 3) == Particle("q", 2.0, {1, 2}));
      UNIPAR_CHECK(mismatch([&] { par.receive<std::vector<char>>(0, 4); }));
      UNIPAR_CHECK(par.receive<std::string>(0, 4) == "text");
      UNIPAR_CHECK(mismatch([&] { par.receive<Particle>(0, 5); }));
      UNIPAR_CHECK((par.receive<Dict>(0, 5) == Dict{{"d", {1.0}}}));
      UNIPAR_CHECK(mismatch([&] { par.receive<std::vector<int>>(0, 6); }));
      UNIPAR_CHECK(par.receive<std::vector<double>>(0, 6) == std::vector<double>(1 << 20, 0.5));
    }
    return par.broadcast(count, last);
  });
  EXPECT_EQ(mismatches, 7);
}

}  // namespace
}  // namespace unipar_test

namespace unipar_test {
namespace {

// probe(source, tag) answers for that tag alone, however many messages with other tags wait
// unreceived and however they interleave with the probes.
TEST(Messages, ProbeAnswersForTheTagAskedUnderTrafficOfOtherTags) {
  const bool ok = unipar::testing::backend().run([](unipar::Parallelizer& p) {
    const int n = p.nprocs();
    const int to = (p.id() + 1) % n;
    const int from = (p.id() + n - 1) % n;
    constexpr int backlog = 3000;
    for (int i = 0; i < backlog; ++i) {
      p.send(i, to, 7 + i % 3);  // tags 7, 8, 9: never 5
      UNIPAR_CHECK(!p.probe(from, 5));
    }
    p.barrier();  // every message of the backlog has been sent
    for (int i = 0; i < 1000; ++i) UNIPAR_CHECK(!p.probe(from, 5));
    p.barrier();  // nobody probes any more when the first message with tag 5 is sent
    p.send(-1, to, 5);
    while (!p.probe(from, 5)) {
    }
    UNIPAR_CHECK(p.receive<int>(from, 5) == -1);
    for (int i = 0; i < backlog; ++i) UNIPAR_CHECK(p.receive<int>(from, 7 + i % 3) == i);
    UNIPAR_CHECK(!p.probe(from, 7));
    return true;
  });
  EXPECT_TRUE(ok);
}

// A process that polls with probe (never blocking) still learns that the run failed.
TEST(Messages, AFailureReachesAProcessPollingWithProbe) {
  auto& par = unipar::testing::backend();
  if (par.nprocs() < 2) GTEST_SKIP() << "needs a second process to fail";
  try {
    par.run([](unipar::Parallelizer& p) {
      if (p.id() == 1) throw std::runtime_error("boom");
      while (!p.probe(1, 9)) {
      }
    });
    ADD_FAILURE() << "run returned";
  } catch (const unipar::WorkerError& e) {
    EXPECT_EQ(e.process(), 1);
    EXPECT_EQ(e.message(), "boom");
  }
  EXPECT_EQ(par.run([](unipar::Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }),
            par.nprocs());
}

}  // namespace
}  // namespace unipar_test
