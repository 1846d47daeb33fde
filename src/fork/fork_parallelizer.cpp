#include "unipar/fork.hpp"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include "core/exception_info.hpp"
#include "core/failure.hpp"
#include "core/settings.hpp"
#include "fork/group.hpp"

namespace unipar {
namespace {

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

/// Whether MPI is initialized (and not yet finalized) in this process. Asked through the
/// dynamic linker, so it also sees an MPI the program uses without unipar::mpi.
bool mpi_is_active() {
  using Query = int (*)(int*);
  void* initialized_symbol = dlsym(RTLD_DEFAULT, "MPI_Initialized");
  if (initialized_symbol == nullptr) return false;
  Query initialized = nullptr;
  std::memcpy(&initialized, &initialized_symbol, sizeof initialized);
  int is_initialized = 0;
  initialized(&is_initialized);
  if (is_initialized == 0) return false;
  int is_finalized = 0;
  if (void* finalized_symbol = dlsym(RTLD_DEFAULT, "MPI_Finalized")) {
    Query finalized = nullptr;
    std::memcpy(&finalized, &finalized_symbol, sizeof finalized);
    finalized(&is_finalized);
  }
  return is_finalized == 0;
}

int checked_nprocs(int nprocs) {
  if (mpi_is_active()) {
    throw UsageError(
        "fork: MPI is initialized in this process, and forking an MPI process is "
        "unsafe (the children share its network connections and registered "
        "memory); use the mpi backend here (UNIPAR_BACKEND=mpi, or \"auto\" under "
        "mpirun), or create the fork parallelizer before MPI is initialized");
  }
  if (nprocs < 0) {
    throw UsageError("fork: invalid process count " + std::to_string(nprocs) +
                     "; use 0 for one process per core, or a count >= 1");
  }
  return nprocs == 0 ? available_cores() : nprocs;
}

/// The CPUs to bind process i to (cpus[i]), like mpirun's --bind-to core: pinned processes are
/// never put on one core together nor moved mid-exchange, which keeps latency low and steady.
/// Empty (no binding) when there are fewer CPUs in main's affinity mask than processes, or when
/// UNIPAR_FORK_BIND=none.
std::vector<int> binding_cpus(int nprocs) {
  if (!detail::fork_bind_setting()) return {};
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return {};
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  if (static_cast<int>(cpus.size()) < nprocs) return {};
  return cpus;
}

void bind_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);  // a refusal only costs speed
}

void flush_all_output() {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

}  // namespace

ForkParallelizer::ForkParallelizer(int nprocs) : Parallelizer(0, checked_nprocs(nprocs)) {}

ForkParallelizer::~ForkParallelizer() = default;

fork_detail::Group& ForkParallelizer::group(const char* operation) {
  if (!group_) {
    throw UsageError(std::string("fork: ") + operation +
                     " needs the worker processes, which exist only inside run()");
  }
  return *group_;
}

void ForkParallelizer::do_run(const std::function<void(Parallelizer&)>& body) {
  const int nprocs = this->nprocs();
  if (nprocs == 1) return body(*this);

  // Output buffered now would otherwise be written once by main and again by every worker.
  flush_all_output();
  const std::vector<int> cpus = binding_cpus(nprocs);
  group_ = std::make_unique<fork_detail::Group>(nprocs);
  struct Release {
    std::unique_ptr<fork_detail::Group>& group;
    cpu_set_t main_cpus;
    bool bound;
    ~Release() {
      group.reset();  // kills and reaps any worker still alive, unmaps
      if (bound) sched_setaffinity(0, sizeof main_cpus, &main_cpus);
    }
  } release{group_, {}, !cpus.empty()};
  if (release.bound) sched_getaffinity(0, sizeof release.main_cpus, &release.main_cpus);
  fork_detail::Group& group = *group_;

  std::exception_ptr main_error;
  try {
    group.start_workers([&](int id) {
      // In the worker: run the body, report how it ended, and leave without unwinding main's
      // stack or running its atexit handlers.
      set_process(id, nprocs);
      if (!cpus.empty()) bind_to(cpus[static_cast<std::size_t>(id)]);
      int code = 0;
      try {
        body(*this);
        flush_all_output();
        group.finish(collective_log());
      } catch (...) {
        group.record_failure(detail::FailureRecord::thrown(
            id, detail::describe_exception(std::current_exception())));
        flush_all_output();
        code = 1;
      }
      _exit(code);
    });
    if (!cpus.empty()) bind_to(cpus[0]);
    body(*this);
    group.finish(collective_log());
    group.join();
  } catch (...) {
    main_error = std::current_exception();
  }
  if (!main_error) return;

  const bool worker_failed = group.worker_failed();
  if (!worker_failed) {
    detail::FailureRecord record;
    record.facts = {detail::FailureKind::main_failed, 0, getpid(), 0, 0, -1};
    group.record_failure(record);
  }
  group.abort_workers();
  if (worker_failed) group.throw_failure();
  std::rethrow_exception(main_error);
}

void ForkParallelizer::do_send(int dest, int tag, detail::Fingerprint type,
                               detail::ConstBytes bytes) {
  group("send").send(dest, tag, type, bytes);
}

void ForkParallelizer::do_receive(int source, int tag, detail::Fingerprint type,
                                  detail::ByteSink& sink) {
  group("receive").receive(source, tag, type, sink);
}

bool ForkParallelizer::do_probe(int source, int tag) {
  return group("probe").probe(source, tag);
}

int ForkParallelizer::do_wait_for_any(int tag) {
  return group("wait_for_any").wait_for_any(tag);
}

bool ForkParallelizer::tolerate_worker_loss(bool on) {
  if (!group_ || !on_main()) return false;
  group_->tolerate_loss(on);
  return true;
}

std::atomic<std::uint64_t>* ForkParallelizer::shared_word() {
  return &group("shared_word").shared_word();
}

void ForkParallelizer::do_scatter(int root, detail::Fingerprint type, detail::ScatterSource* source,
                                  detail::ByteSink& sink) {
  if (nprocs() == 1) return Parallelizer::do_scatter(root, type, source, sink);
  const int tag = next_collective_tag();
  fork_detail::Group& group = this->group("scatter");
  if (id() != root) return group.receive(root, tag, type, sink);
  // Headers first, so that every receiver sizes its block (page faults, for a fresh vector)
  // while root copies its own; then the payloads.
  for (int process = 0; process < nprocs(); ++process) {
    if (process != root) group.send_header(process, tag, type, source->part(process).size());
  }
  const detail::ConstBytes own = source->part(root);
  const detail::MutableBytes target = sink.prepare(own.size());
  if (!own.empty()) std::memcpy(target.data(), own.data(), own.size());
  for (int process = 0; process < nprocs(); ++process) {
    if (process != root) group.send_payload(process, tag, source->part(process));
  }
}

}  // namespace unipar
