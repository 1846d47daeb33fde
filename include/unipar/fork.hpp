/// @file fork.hpp
/// @brief The fork backend: main plus forked workers talking through shared memory.
#pragma once

#include <memory>

#include "unipar/parallelizer.hpp"

namespace unipar {

namespace fork_detail {
class Group;
}

/// @brief Main plus `nprocs - 1` workers forked for each `run` (and each `map` outside `run`),
/// exchanging messages through anonymous shared memory.
///
/// Workers see a copy-on-write snapshot of main's memory as it was when `run` began, and leave
/// when the function returns. A worker that throws or dies makes every process waiting on it
/// fail promptly with WorkerError / WorkerLost; all workers are reaped before `run` returns or
/// throws, and they die with main.
/// @code
/// unipar::ForkParallelizer par(4);
/// double pi = par.run([](unipar::Parallelizer& p) {
///   double mine = estimate_pi(p.id(), 1'000'000);
///   return p.allreduce(mine, std::plus<>{}) / p.nprocs();
/// });
/// @endcode
/// @note Refused after MPI was initialized in this process: forking an MPI process is unsafe.
class ForkParallelizer final : public Parallelizer {
 public:
  /// @param nprocs processes including main; 0 means one per available core.
  explicit ForkParallelizer(int nprocs = 0);
  ~ForkParallelizer() override;

  std::string_view name() const override { return "fork"; }
  Capabilities capabilities() const override {
    return {.workers_hold_snapshot = true, .shares_memory = true};
  }

 protected:
  void do_run(const std::function<void(Parallelizer&)>& body) override;
  void do_send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) override;
  void do_receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink) override;
  bool do_probe(int source, int tag) override;
  int do_wait_for_any(int tag) override;
  void do_scatter(int root, detail::Fingerprint type, detail::ScatterSource* source,
                  detail::ByteSink& sink) override;
  std::atomic<std::uint64_t>* shared_word() override;
  bool tolerate_worker_loss(bool on) override;

 private:
  fork_detail::Group& group(const char* operation);

  std::unique_ptr<fork_detail::Group> group_;  // the workers and their shared memory, in run
};

}  // namespace unipar
