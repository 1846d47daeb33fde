/// @file backoff.hpp
/// @brief How every backend waits for another process: spin briefly, then yield the core, then
/// sleep (each backend sleeps its own way: fork on a futex its peers ring, MPI in short naps).
///
/// Spinning pays only while the peer runs on another core. The spin budget therefore adapts
/// across the waits of one process, by how long they took: a wait that ends while spinning, or
/// soon after it began to yield (within `quick_answer`: the peer is running, the budget was just
/// short), doubles it up to the policy's maximum; one that yields longer or has to sleep halves
/// it, so that on a loaded machine a waiting process quickly stops burning the time slice its
/// peer needs. With more processes than cores the budget is 0 from the start.
///
/// Counting yields instead of time (the first version: a wait that ended within 50 yields only
/// restored the budget to 16, and the switch to yielding halved it) let the budget settle at
/// 8-16 polls whenever a run began with a few long waits: every later wait then yielded once,
/// and 8-byte latency under fork was 0.5 us instead of 0.14 us for the whole run.
#pragma once

#include <chrono>
#include <cstdint>

namespace unipar::detail {

struct BackoffPolicy {
  int max_spins;   // busy polls with a pause instruction, at most
  int max_yields;  // polls after sched_yield() before sleeping (< 0: no limit)
  std::chrono::nanoseconds yield_limit;  // yield at most this long before sleeping (0: no limit)
  /// Stop yielding at the first yield that ran another task (crowded_yield). Right where a
  /// peer's publish wakes the sleeper (fork's futex): a yield on a busy core hands another task
  /// a whole time slice. Wrong where sleeping is a blind nap (MPI): there the yield is what lets
  /// an oversubscribed peer run.
  bool sleep_when_crowded;
  /// A pause instruction between polls. Right for a poll that reads one shared word (fork);
  /// an MPI poll is itself a call into the progress engine (~0.1 us), and a pause there only
  /// adds latency (measured: +45 ns on an 8-byte broadcast, +95 ns on a gather, 2 ranks).
  bool relax_while_spinning;
};

/// A wait that ends this soon after it began to yield says the peer is running.
inline constexpr std::chrono::microseconds quick_answer{20};
/// A sched_yield that takes this long ran another task: stop yielding, sleep.
inline constexpr std::chrono::microseconds crowded_yield{20};

/// The spin budget one process keeps across its waits.
class SpinBudget {
 public:
  explicit SpinBudget(int max_spins) : max_(max_spins), budget_(max_spins) {}
  int budget() const { return budget_; }
  int max() const { return max_; }
  /// Spinning longer would have paid (or did): double, starting from 16 polls.
  void grow() { budget_ = max_ < 2 * budget_ + 16 ? max_ : 2 * budget_ + 16; }
  /// Spinning did not pay: the peer was not running.
  void shrink() { budget_ /= 2; }

 private:
  int max_;
  int budget_;
};

/// The processor's pause instruction, for spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// One wait. After each poll that found nothing, call `pause()`: it spins or yields and says
/// so, or returns `Phase::sleep` when the caller should sleep before polling again. Call
/// `ended()` when the wait is over.
class Backoff {
 public:
  enum class Phase { spin, yield, sleep };

  Backoff(const BackoffPolicy& policy, SpinBudget& budget) : policy_(policy), budget_(budget) {}

  /// Inline for the spin phase: a wait that ends within a few polls must not pay a call per
  /// poll (under MPI that was 50-90 ns on an 8-byte collective).
  Phase pause() {
    ++rounds_;
    if (phase_ == Phase::spin && static_cast<std::int64_t>(rounds_) <= budget_.budget()) {
      if (policy_.relax_while_spinning) cpu_relax();
      return phase_;
    }
    return pause_after_spinning();
  }
  void ended() {
    if (phase_ == Phase::spin) {
      budget_.grow();
    } else {
      ended_after_spinning();
    }
  }
  /// How many times pause() was called.
  std::uint64_t rounds() const { return rounds_; }
  Phase phase() const { return phase_; }

 private:
  Phase pause_after_spinning();
  void ended_after_spinning();

  const BackoffPolicy& policy_;
  SpinBudget& budget_;
  Phase phase_ = Phase::spin;
  std::uint64_t rounds_ = 0;
  int yields_ = 0;
  std::chrono::steady_clock::time_point yield_start_{};
};

/// The CPUs this process may run on (fork's workers inherit main's mask).
int cores_in_affinity();
/// The CPUs online on this host (an MPI rank's own mask is often one core: mpirun binds).
int cores_online();

}  // namespace unipar::detail
