#include "unipar/mpi.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/backend_registry.hpp"
#include "core/exception_info.hpp"
#include "core/failure.hpp"
#include "core/settings.hpp"
#include "mpi/communicator.hpp"

namespace unipar {
namespace {

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized == 0) MPI_Finalize();
}

/// Initializes MPI unless the program (or an earlier parallelizer) did; whoever initializes it
/// here finalizes it at exit.
void ensure_initialized() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized != 0) {
    throw UsageError(
        "mpi: MPI is already finalized; create the MpiParallelizer before "
        "MPI_Finalize");
  }
  if (initialized != 0) return;
  int provided = 0;
  mpi_detail::check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided),
                    "MPI_Init_thread");
  std::atexit(finalize_at_exit);
}

MPI_Comm checked_communicator(MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) {
    throw UsageError(
        "mpi: MpiParallelizer needs a communicator, not MPI_COMM_NULL (a rank "
        "outside a split's group has no parallelizer)");
  }
  int inter = 0;
  mpi_detail::check(MPI_Comm_test_inter(comm, &inter), "MPI_Comm_test_inter");
  if (inter != 0) throw UsageError("mpi: MpiParallelizer needs an intra-communicator");
  return comm;
}

/// The communicators of failed runs and of destroyed parallelizers, kept until the process
/// ends: operations into their buffers may still be pending, while they exist Open MPI cannot
/// give their context id to a new communicator (a message still in flight on a freed
/// communicator is delivered on the next one that gets its id: measured with Open MPI 4.1.4),
/// and a destroyed parallelizer's communicator still tells the other ranks, when this process
/// finalizes MPI, that this rank left.
void keep_until_exit(std::unique_ptr<mpi_detail::Communicator> comm) {
  static auto* kept = new std::vector<std::unique_ptr<mpi_detail::Communicator>>();
  kept->push_back(std::move(comm));
}

/// What a failure notice says about the exception that ended this rank's function.
detail::ExceptionInfo describe_own_failure(std::exception_ptr error, int rank) {
  try {
    std::rethrow_exception(error);
  } catch (const WorkerError& e) {
    if (e.process() == rank) return {e.type_name(), e.message(), e.item()};  // from map, here
  } catch (...) {
  }
  return detail::describe_exception(error);
}

}  // namespace

MpiParallelizer::MpiParallelizer(MPI_Comm comm) : Parallelizer(0, 1), user_comm_(comm) {
  ensure_initialized();
  checked_communicator(comm);
  comm_ = std::make_unique<mpi_detail::Communicator>(comm);
  set_process(comm_->rank(), comm_->size());
  collect_output_ = detail::print_collect_setting();
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  serialized_threads_ = level >= MPI_THREAD_SERIALIZED;
}

MpiParallelizer::~MpiParallelizer() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized != 0 || !comm_) return;
  if (broken_) comm_->abandon();
  keep_until_exit(std::move(comm_));
}

mpi_detail::Communicator& MpiParallelizer::communicator_for(const char* operation) {
  if (!in_run()) {
    throw UsageError(std::string("mpi: ") + operation +
                     " needs every rank inside run(); call it from the function run() calls");
  }
  return *comm_;
}

void MpiParallelizer::do_run(const std::function<void(Parallelizer&)>& body) {
  if (nprocs() == 1) return body(*this);
  if (broken_) {
    // The failed run's operations can never complete: start afresh on new duplicates.
    comm_->abandon();
    keep_until_exit(std::move(comm_));
    comm_ = std::make_unique<mpi_detail::Communicator>(user_comm_);
    broken_ = false;
  }
  try {
    body(*this);
    // Lines collected on the other ranks travel with the end-of-run records, so that they
    // take no part in the run's collectives.
    const auto end =
        comm_->finish_run(collective_log(), collect_output_ && !on_main() ? &collected_ : nullptr);
    collected_.clear();
    for (const std::string& line : end.lines) Parallelizer::write_line(line);
    detail::check_same_collectives(end.logs);
  } catch (...) {
    broken_ = true;
    if (!collected_.empty()) {
      Parallelizer::write_line(collected_);
      collected_.clear();
    }
    const std::exception_ptr error = std::current_exception();
    if (comm_->failed()) throw;  // another rank failed first, and this rank was told
    const detail::ExceptionInfo info = describe_own_failure(error, id());
    comm_->notify_failure(detail::FailureRecord::thrown(id(), info));
    if (on_main()) throw;  // main sees its own exception, as under fork
    throw WorkerError(id(), getpid(), detail::host_name(), info.type_name, info.message, info.item);
  }
}

void MpiParallelizer::do_send(int dest, int tag, detail::Fingerprint type,
                              detail::ConstBytes bytes) {
  communicator_for("send").send(dest, tag, type, bytes);
}

void MpiParallelizer::do_receive(int source, int tag, detail::Fingerprint type,
                                 detail::ByteSink& sink) {
  communicator_for("receive").receive(source, tag, type, sink);
}

bool MpiParallelizer::do_probe(int source, int tag) {
  return communicator_for("probe").probe(source, tag);
}

int MpiParallelizer::do_wait_for_any(int tag) {
  return communicator_for("wait_for_any").wait_for_any(tag);
}

int MpiParallelizer::do_poll_any(int tag) {
  return communicator_for("poll_any").poll_any(tag);
}

void MpiParallelizer::do_broadcast(int root, detail::Fingerprint type,
                                   detail::ConstBytes root_bytes, detail::ByteSink* sink) {
  if (nprocs() == 1) return Parallelizer::do_broadcast(root, type, root_bytes, sink);
  auto& comm = communicator_for("broadcast");
  comm.broadcast(root, next_collective_tag(), type, root_bytes, sink);
}

void MpiParallelizer::do_scatter(int root, detail::Fingerprint type, detail::ScatterSource* source,
                                 detail::ByteSink& sink) {
  if (nprocs() == 1) return Parallelizer::do_scatter(root, type, source, sink);
  auto& comm = communicator_for("scatter");
  comm.scatter(root, next_collective_tag(), type, source, sink);
}

void MpiParallelizer::do_gather(int root, detail::Fingerprint type, detail::ConstBytes mine,
                                detail::GatherSink* sink) {
  if (nprocs() == 1) return Parallelizer::do_gather(root, type, mine, sink);
  auto& comm = communicator_for("gather");
  comm.gather(root, next_collective_tag(), type, mine, sink);
}

void MpiParallelizer::do_barrier() {
  if (nprocs() == 1) return Parallelizer::do_barrier();
  auto& comm = communicator_for("barrier");
  comm.barrier(next_collective_tag());
}

void MpiParallelizer::write_line(std::string_view line) {
  if (collect_output_ && in_run() && !on_main() && nprocs() > 1) {
    collected_ += line;
  } else {
    Parallelizer::write_line(line);
  }
}

}  // namespace unipar

// ---- registration with make_parallelizer --------------------------------------------------------

/// Referenced by the link option of unipar::mpi, so this file is always linked in.
extern "C" {
int unipar_mpi_backend_anchor = 0;
}

namespace {
const bool registered = [] {
  unipar::detail::register_mpi_backend([]() -> std::unique_ptr<unipar::Parallelizer> {
    return std::make_unique<unipar::MpiParallelizer>();
  });
  return true;
}();
}  // namespace
