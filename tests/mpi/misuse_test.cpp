/// @file misuse_test.cpp
/// @brief Misuse under MPI, checked on every rank (run under `mpirun -n 2` and `-n 3` with
/// UNIPAR_BACKEND=mpi; tests/support/gtest_main.cpp collects every rank's failures on rank 0):
/// invalid ranks, a message received as another type, sub-communicators, MPI_COMM_NULL and an
/// inter-communicator, and the fork backend refused once MPI is initialized.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "backend.hpp"
#include "unipar/mpi.hpp"
#include "unipar/unipar.hpp"

namespace {

using unipar::Parallelizer;
using unipar::TypeMismatch;
using unipar::UsageError;
using unipar::testing::backend;
using Dict = std::map<std::string, std::vector<double>>;

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

/// The even or odd world ranks, as a communicator of their own; freed by the destructor.
class Half {
 public:
  Half() { MPI_Comm_split(MPI_COMM_WORLD, world_rank() % 2, world_rank(), &comm_); }
  ~Half() { MPI_Comm_free(&comm_); }
  Half(const Half&) = delete;
  Half& operator=(const Half&) = delete;

  MPI_Comm comm() const { return comm_; }
  int color() const { return world_rank() % 2; }
  int rank() const {
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    return rank;
  }
  int size() const {
    int size = 0;
    MPI_Comm_size(comm_, &size);
    return size;
  }
  /// The world ranks in this half, in order.
  std::vector<int> members() const {
    std::vector<int> ranks;
    for (int r = color(); r < world_size(); r += 2) ranks.push_back(r);
    return ranks;
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

TEST(MpiBackend, IsTheWorldCommunicator) {
  EXPECT_EQ(backend().name(), "mpi");
  EXPECT_EQ(backend().nprocs(), world_size());
  EXPECT_EQ(backend().id(), world_rank());
}

TEST(MpiMisuse, InvalidRanksAreUsageErrorsOnEveryRank) {
  const int sum = backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    EXPECT_THROW(par.send(1, n), UsageError);
    EXPECT_THROW(par.send(std::string("x"), -1), UsageError);
    EXPECT_THROW(par.receive<int>(n), UsageError);
    EXPECT_THROW(par.receive<Dict>(-1), UsageError);
    EXPECT_THROW(par.probe(n), UsageError);
    EXPECT_THROW(par.broadcast(1, n), UsageError);
    EXPECT_THROW(par.scatter(std::vector<int>{1, 2, 3}, -1), UsageError);
    EXPECT_THROW(par.gather(1, n), UsageError);
    EXPECT_THROW(par.gather_blocks(std::vector<double>{1.0}, n + 3), UsageError);
    EXPECT_THROW(par.reduce(1, std::plus<>{}, -2), UsageError);
    // Nothing was sent or started: every rank is still in step.
    par.barrier();
    return par.allreduce(par.id() + 1, std::plus<>{});
  });
  const int n = backend().nprocs();
  EXPECT_EQ(sum, n * (n + 1) / 2);
}

TEST(MpiMisuse, WrongReceiveTypeIsATypeMismatchAndTheMessageStaysReceivable) {
  backend().run([](Parallelizer& par) {
    const int n = par.nprocs();
    const int next = (par.id() + 1) % n;
    const int previous = (par.id() + n - 1) % n;
    // 10 000 bytes: several pieces when UNIPAR_MPI_PIECE_BYTES is small.
    auto values_from = [](int rank) {
      std::vector<double> values(1250);
      std::iota(values.begin(), values.end(), 1000.0 * rank);
      return values;
    };
    auto dict_from = [](int rank) {
      return Dict{{"rank", {static_cast<double>(rank)}}, {"zeros", std::vector<double>(600)}};
    };
    par.send(values_from(par.id()), next, 3);
    par.send(dict_from(par.id()), next, 4);
    par.send(std::string(5000, 'a' + static_cast<char>(par.id())), next, 5);

    EXPECT_THROW(par.receive<int>(previous, 3), TypeMismatch);
    EXPECT_THROW(par.receive<std::string>(previous, 3), TypeMismatch);
    EXPECT_THROW(par.receive<Dict>(previous, 3), TypeMismatch);
    EXPECT_THROW(par.receive<std::vector<double>>(previous, 4), TypeMismatch);
    EXPECT_THROW(par.receive<std::vector<char>>(previous, 5), TypeMismatch);

    EXPECT_EQ(par.receive<std::vector<double>>(previous, 3), values_from(previous));
    EXPECT_EQ(par.receive<std::string>(previous, 5),
              std::string(5000, 'a' + static_cast<char>(previous)));
    EXPECT_EQ(par.receive<Dict>(previous, 4), dict_from(previous));
    EXPECT_FALSE(par.probe(previous, 3));
    par.barrier();
  });
}

TEST(MpiSubCommunicator, EachHalfIsAParallelizerOfItsOwn) {
  Half half;
  const std::vector<int> members = half.members();
  {
    unipar::MpiParallelizer sub(half.comm());
    EXPECT_EQ(sub.nprocs(), half.size());
    EXPECT_EQ(sub.nprocs(), static_cast<int>(members.size()));
    EXPECT_EQ(sub.id(), half.rank());
    EXPECT_EQ(sub.on_main(), half.rank() == 0);
    EXPECT_EQ(sub.communicator(), half.comm());

    struct Results {
      int sum = 0;
      std::vector<int> gathered;
      std::vector<int> squares;
      std::vector<int> blocks;
    };
    const int color = half.color();
    const Results results = sub.run([&](Parallelizer& p) {
      Results r;
      EXPECT_THROW(p.send(1, p.nprocs()), UsageError);  // a valid world rank, not a valid id
      r.sum = p.allreduce(world_rank(), std::plus<>{});
      r.gathered = p.gather(world_rank());
      std::vector<int> items(200);
      std::iota(items.begin(), items.end(), 0);
      r.squares = p.map([color](int i) { return i * i + color; }, items);
      const auto mine = p.scatter(items);
      std::vector<int> doubled;
      for (int x : mine) doubled.push_back(2 * x + color);
      r.blocks = p.gather_blocks(doubled);
      return r;
    });

    EXPECT_EQ(results.sum, std::accumulate(members.begin(), members.end(), 0));
    if (sub.on_main()) {
      EXPECT_EQ(results.gathered, members);
      ASSERT_EQ(results.squares.size(), 200u);
      ASSERT_EQ(results.blocks.size(), 200u);
      for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(results.squares[static_cast<std::size_t>(i)], i * i + color) << "item " << i;
        EXPECT_EQ(results.blocks[static_cast<std::size_t>(i)], 2 * i + color) << "item " << i;
      }
    } else {
      EXPECT_TRUE(results.gathered.empty());
      EXPECT_TRUE(results.squares.empty());
      EXPECT_TRUE(results.blocks.empty());
    }
  }
  // The world parallelizer is untouched by the halves.
  const int n = backend().nprocs();
  EXPECT_EQ(backend().run([](Parallelizer& p) { return p.allreduce(1, std::plus<>{}); }), n);
}

TEST(MpiMisuse, NullCommunicatorIsAUsageError) {
  EXPECT_THROW({ unipar::MpiParallelizer par(MPI_COMM_NULL); }, UsageError);
}

TEST(MpiMisuse, InterCommunicatorIsAUsageError) {
  if (world_size() < 2) GTEST_SKIP() << "needs two halves";
  Half half;
  MPI_Comm inter = MPI_COMM_NULL;
  const int remote_leader = half.color() == 0 ? 1 : 0;  // world rank of the other half's first
  ASSERT_EQ(MPI_Intercomm_create(half.comm(), 0, MPI_COMM_WORLD, remote_leader, 77, &inter),
            MPI_SUCCESS);
  EXPECT_THROW({ unipar::MpiParallelizer par(inter); }, UsageError);
  MPI_Comm_free(&inter);
}

TEST(MpiMisuse, ForkAfterMpiInitIsAUsageError) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  ASSERT_TRUE(initialized);
  EXPECT_THROW({ unipar::ForkParallelizer par(2); }, UsageError);
  EXPECT_THROW({ unipar::ForkParallelizer par; }, UsageError);
  EXPECT_THROW(unipar::make_parallelizer("fork:2"), UsageError);
  EXPECT_THROW(unipar::make_parallelizer("fork"), UsageError);
  // Started by mpirun with several ranks, a fork spec is refused before anything forks: every
  // rank would compute everything once more.
  if (world_size() > 1) {
    try {
      (void)unipar::make_parallelizer("fork:5");
      ADD_FAILURE() << "fork:5 was accepted under mpirun";
    } catch (const UsageError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("started by an MPI launcher"), std::string::npos) << what;
      EXPECT_NE(what.find("UNIPAR_FORK_UNDER_LAUNCHER"), std::string::npos) << what;
    }
  }
  // Serial does not fork: still allowed.
  const auto serial = unipar::make_parallelizer("serial");
  EXPECT_EQ(serial->run([](Parallelizer& p) { return p.nprocs(); }), 1);
}

}  // namespace
