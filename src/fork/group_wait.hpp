/// @file group_wait.hpp
/// @brief How a fork process waits: the shared back-off (spin, yield), then sleeping on its
/// doorbell, checking the run's failure page and whether the peer can still answer.
#pragma once

#include <sched.h>

#include <csignal>

#include "fork/group.hpp"

namespace unipar::fork_detail {

/// Blocks SIGCHLD for the calling thread while it lives, so that the handler never runs while
/// main reads or changes what the handler changes (the pid table, the reaped flags).
class ChildSignalBlock {
 public:
  ChildSignalBlock() {
    sigset_t child_signal;
    sigemptyset(&child_signal);
    sigaddset(&child_signal, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &child_signal, &previous_);
  }
  ~ChildSignalBlock() { restore(); }
  ChildSignalBlock(const ChildSignalBlock&) = delete;
  ChildSignalBlock& operator=(const ChildSignalBlock&) = delete;
  /// Restores the previous mask now (a forked worker never returns to the destructor).
  void restore() const { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

 private:
  sigset_t previous_;
};

/// Clears a doorbell's "sleeping" flag however the wait ends.
class Awake {
 public:
  explicit Awake(Doorbell& bell) : bell_(bell) {}
  ~Awake() { bell_.sleeping.store(0, std::memory_order_relaxed); }
  Awake(const Awake&) = delete;
  Awake& operator=(const Awake&) = delete;

 private:
  Doorbell& bell_;
};

template <class Ready>
void Group::wait(Ready&& ready, const detail::Wait& what) {
  detail::Backoff backoff(policy_, spin_);
  for (;;) {
    if (ready()) return backoff.ended();
    const auto phase = backoff.pause();
    if (phase == detail::Backoff::Phase::spin) {
      if ((backoff.rounds() & 63) == 1) check_failure();
      continue;
    }
    check_failure();
    if (phase == detail::Backoff::Phase::yield) continue;
    break;
  }
  Doorbell& bell = slot(self_).bell;
  for (;;) {
    Awake awake(bell);
    bell.sleeping.store(1, std::memory_order_seq_cst);
    const std::uint32_t seen = bell.rings.load(std::memory_order_seq_cst);
    // Which peers had finished before this look: everything they sent is visible to it, so
    // for them a wait that is not ready now never will be.
    for (int i = 0; i < nprocs_; ++i) {
      finished_seen_[static_cast<std::size_t>(i)] =
          slot(i).finished.load(std::memory_order_acquire) != 0;
    }
    if (ready()) return;
    check_failure();
    check_peer(what);
    sleep_on(bell, seen, sleep_slice);
    if (ready()) return;
    if (self_ == 0) {
      // The SIGCHLD handler reaps promptly; this is the fallback should a signal be missed.
      const ChildSignalBlock blocked;
      reap_exited();
    }
  }
}

}  // namespace unipar::fork_detail
