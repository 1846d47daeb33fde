#include "unipar/fork.hpp"

#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "core/exception_info.hpp"
#include "fork/group.hpp"

namespace unipar {
namespace {

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int checked_nprocs(int nprocs) {
  if (nprocs < 0) {
    throw UsageError("fork: invalid process count " + std::to_string(nprocs) +
                     "; use 0 for one process per core, or a count >= 1");
  }
  return nprocs == 0 ? available_cores() : nprocs;
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

void ForkParallelizer::execute(const std::function<void(Parallelizer&)>& body) {
  const int nprocs = this->nprocs();
  if (nprocs == 1) return body(*this);

  // Output buffered now would otherwise be written once by main and again by every worker.
  flush_all_output();
  group_ = std::make_unique<fork_detail::Group>(nprocs);
  struct Release {
    std::unique_ptr<fork_detail::Group>& group;
    ~Release() { group.reset(); }  // kills and reaps any worker still alive, unmaps
  } release{group_};
  fork_detail::Group& group = *group_;

  std::exception_ptr main_error;
  try {
    group.start_workers([&](int id) {
      // In the worker: run the body, report how it ended, and leave without unwinding main's
      // stack or running its atexit handlers.
      set_process(id, nprocs);
      int code = 0;
      try {
        body(*this);
        flush_all_output();
        group.finish_worker();
      } catch (...) {
        group.record_worker_error(detail::describe_exception(std::current_exception()));
        flush_all_output();
        code = 1;
      }
      _exit(code);
    });
    body(*this);
    group.join();
  } catch (...) {
    main_error = std::current_exception();
  }
  if (!main_error) return;

  const bool worker_failed = group.worker_failed();
  if (!worker_failed) group.record_main_failure();
  group.abort_workers();
  if (worker_failed) group.throw_failure();
  std::rethrow_exception(main_error);
}

void ForkParallelizer::send_bytes(int dest, int tag, detail::Fingerprint type,
                                  detail::ConstBytes bytes) {
  group("send").send(dest, tag, type, bytes);
}

void ForkParallelizer::receive_bytes(int source, int tag, detail::Fingerprint type,
                                     detail::ByteSink& sink) {
  group("receive").receive(source, tag, type, sink);
}

bool ForkParallelizer::probe_bytes(int source, int tag) {
  return group("probe").probe(source, tag);
}

int ForkParallelizer::wait_any(int tag) {
  return group("map").wait_any(tag);
}

}  // namespace unipar
