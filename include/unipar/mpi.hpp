/// @file mpi.hpp
/// @brief The MPI backend: every rank started by `mpirun` runs the program (target unipar::mpi).
///
/// Only this header and src/mpi/ include <mpi.h>. A program that links unipar::mpi but never
/// names this header still gets the backend: `make_parallelizer("mpi")`, `"auto"` and
/// `default_parallelizer()` find it.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "unipar/parallelizer.hpp"

namespace unipar {

namespace mpi_detail {
class Communicator;
}

/// @brief Every rank of an MPI communicator (`MPI_COMM_WORLD` by default) as one parallelizer.
///
/// Every rank executes the whole program; `run(f)` calls `f` on every rank and returns each
/// rank's own result (guard code that only main should do with `on_main()`). Messages and
/// collectives travel on private duplicates of the communicator, so they never mix with the
/// program's own MPI traffic.
/// @code
/// unipar::MpiParallelizer par;               // initializes MPI unless the program did
/// double pi = par.run([](unipar::Parallelizer& p) {
///   double mine = estimate_pi(p.id(), 1'000'000);
///   return p.allreduce(mine, std::plus<>{}) / p.nprocs();
/// });
/// if (par.on_main()) std::cout << pi << '\n';
/// @endcode
///
/// Failure: an exception thrown on one rank inside `run` (or `map`) ends `run` on every rank:
/// ranks other than 0 throw WorkerError naming the failing rank, rank 0 throws its own
/// exception when it failed first, else WorkerError. A rank that dies ends the whole job
/// (Open MPI's launcher aborts it). See docs/mpi.md for what is and is not survivable.
/// @note Every rank of the communicator must create the parallelizer (it duplicates the
/// communicator, a collective call) and call `run` the same number of times.
class MpiParallelizer final : public Parallelizer {
 public:
  /// @brief Wraps `comm` (any intra-communicator, e.g. a sub-communicator a library is given).
  /// Initializes MPI (thread level `MPI_THREAD_SERIALIZED`: `map`'s dispatcher thread calls MPI
  /// while the calling thread computes) if nobody has and then finalizes it once at exit; if
  /// the program initialized MPI itself, it does neither (with a thread level below
  /// `MPI_THREAD_SERIALIZED`, rank 0 then only dispatches in `map` and computes no items).
  /// @throws UsageError for MPI_COMM_NULL, an inter-communicator, or MPI already finalized.
  explicit MpiParallelizer(MPI_Comm comm = MPI_COMM_WORLD);
  ~MpiParallelizer() override;

  std::string_view name() const override { return "mpi"; }
  Capabilities capabilities() const override {
    return {.workers_hold_snapshot = false,
            .shares_memory = false,
            .serialized_threads = serialized_threads_};
  }

  /// @return the communicator this parallelizer was made from (not its private duplicates).
  MPI_Comm communicator() const noexcept { return user_comm_; }

  /// @brief Whether `print` on ranks other than 0 is collected and written by rank 0 at the end
  /// of each `run`, after rank 0's own lines and in rank order (readable, and identical from
  /// run to run), instead of at once by each rank (the default). The environment variable
  /// `UNIPAR_PRINT=collect` sets it for every parallelizer. If the run fails, each rank writes
  /// its own collected lines.
  void collect_output(bool collect) noexcept { collect_output_ = collect; }

 protected:
  void do_run(const std::function<void(Parallelizer&)>& body) override;
  void do_send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) override;
  void do_receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink) override;
  bool do_probe(int source, int tag) override;
  int do_wait_for_any(int tag) override;
  int do_poll_any(int tag) override;
  void do_broadcast(int root, detail::Fingerprint type, detail::ConstBytes root_bytes,
                    detail::ByteSink* sink) override;
  void do_scatter(int root, detail::Fingerprint type, detail::ScatterSource* source,
                  detail::ByteSink& sink) override;
  void do_gather(int root, detail::Fingerprint type, detail::ConstBytes mine,
                 detail::GatherSink* sink) override;
  void do_barrier() override;
  void write_line(std::string_view line) override;

 private:
  bool serialized_threads_ = false;  // MPI's thread level is MPI_THREAD_SERIALIZED or more
  mpi_detail::Communicator& communicator_for(const char* operation);

  MPI_Comm user_comm_;
  std::unique_ptr<mpi_detail::Communicator> comm_;
  bool broken_ = false;  // the last run failed: the next one starts on fresh communicators
  bool collect_output_ = false;
  std::string collected_;  // this rank's lines, while collecting
};

}  // namespace unipar
