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
};

/// A wait that ends this soon after it began to yield says the peer is running.
inline constexpr std::chrono::microseconds quick_answer{20};

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

/// One wait. After each poll that found nothing, call `pause()`: it spins or yields and says
/// so, or returns `Phase::sleep` when the caller should sleep before polling again. Call
/// `ended()` when the wait is over.
class Backoff {
 public:
  enum class Phase { spin, yield, sleep };

  Backoff(const BackoffPolicy& policy, SpinBudget& budget) : policy_(policy), budget_(budget) {}

  Phase pause();
  void ended();
  /// How many times pause() was called.
  std::uint64_t rounds() const { return rounds_; }
  Phase phase() const { return phase_; }

 private:
  const BackoffPolicy& policy_;
  SpinBudget& budget_;
  Phase phase_ = Phase::spin;
  std::uint64_t rounds_ = 0;
  int yields_ = 0;
  std::chrono::steady_clock::time_point yield_start_{};
};

/// Whether more processes share this machine's cores than it has (`local_processes` counts
/// the ones on this host).
bool oversubscribed(int local_processes);

/// The processor's pause instruction, for spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace unipar::detail
