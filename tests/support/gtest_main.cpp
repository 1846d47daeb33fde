/// @file gtest_main.cpp
/// @brief The main of every multi-backend test program.
///
/// Under serial and fork it is GoogleTest's usual main. Under MPI (UNIPAR_BACKEND=mpi) every
/// rank runs every test: after each test the ranks send their failures to rank 0, which prints
/// them with the rank they came from, and only rank 0 prints GoogleTest's report. The program
/// exits non-zero on every rank when any rank failed a test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend.hpp"

#ifdef UNIPAR_TEST_WITH_MPI
#include "unipar/mpi.hpp"

namespace {

/// This rank's failure messages for one test (empty when it passed).
std::string failures_of(const ::testing::TestInfo& test) {
  std::string text;
  const ::testing::TestResult& result = *test.result();
  for (int i = 0; i < result.total_part_count(); ++i) {
    const ::testing::TestPartResult& part = result.GetTestPartResult(i);
    if (!part.failed()) continue;
    text += part.file_name() != nullptr ? part.file_name() : "?";
    text += ":" + std::to_string(part.line_number()) + ": " + part.message() + "\n";
  }
  return text;
}

/// Gathers every rank's failures of each test on rank 0 and prints them there.
class RankFailureCollector : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailureCollector(MPI_Comm comm) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }

  void OnTestEnd(const ::testing::TestInfo& test) override {
    const std::string mine = failures_of(test);
    const int length = static_cast<int>(mine.size());
    std::vector<int> lengths(static_cast<std::size_t>(size_));
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm_);
    std::vector<int> offsets(static_cast<std::size_t>(size_), 0);
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<std::size_t>(r)] = total;
      total += lengths[static_cast<std::size_t>(r)];
    }
    std::string all(static_cast<std::size_t>(rank_ == 0 ? total : 0), '\0');
    MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                0, comm_);
    if (rank_ != 0) {
      any_failed_ = any_failed_ || length > 0;
      return;
    }
    for (int r = 1; r < size_; ++r) {
      const auto n = static_cast<std::size_t>(lengths[static_cast<std::size_t>(r)]);
      if (n == 0) continue;
      any_failed_ = true;
      std::printf(
          "[  RANK %d ] %s.%s failed on rank %d:\n%s", r, test.test_suite_name(), test.name(), r,
          all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(r)]), n).c_str());
    }
    std::fflush(stdout);
  }

  bool any_failed() const { return any_failed_; }

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
  bool any_failed_ = false;  // on another rank (rank 0) or on this one (others)
};

}  // namespace
#endif

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
#ifdef UNIPAR_TEST_WITH_MPI
  if (unipar::testing::backend_spec().starts_with("mpi")) {
    // Creating the backend initializes MPI; the listener talks on its own communicator.
    auto& par = unipar::testing::backend();
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    if (par.id() != 0) delete listeners.Release(listeners.default_result_printer());
    auto* collector = new RankFailureCollector(comm);
    listeners.Append(collector);  // owned by GoogleTest
    int failed = RUN_ALL_TESTS() != 0 || collector->any_failed() ? 1 : 0;
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm);
    MPI_Comm_free(&comm);
    return any;
  }
#endif
  return RUN_ALL_TESTS();
}
