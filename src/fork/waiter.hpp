/// @file waiter.hpp
/// @brief Waiting for another process: spin briefly, then yield, then sleep on a futex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace unipar::fork_detail {

/// One per process, in shared memory: others ring it when they publish something this process
/// may be waiting for.
struct alignas(64) Doorbell {
  std::atomic<std::uint32_t> rings{0};     // futex word
  std::atomic<std::uint32_t> sleeping{0};  // 1 while the owner sleeps (or is about to)
};

/// Wakes the owner of `bell` if it sleeps. Call after publishing (the fence orders the publish
/// before the read of `sleeping`; the sleeper orders `sleeping` before its last check).
void ring(Doorbell& bell);
/// Wakes the owner of `bell` unconditionally (failure notices, async-signal-safe).
void ring_always(Doorbell& bell) noexcept;

/// How long a waiter spins and yields before it sleeps.
struct WaitPolicy {
  int spin_iterations;                    // busy polls with a pause instruction
  int yield_iterations;                   // polls each after sched_yield()
  std::chrono::milliseconds sleep_slice;  // futex timeout between liveness checks
};

/// The policy for a group of `nprocs` processes on this machine: with more processes than
/// cores, spinning would starve the process being waited for, so waiters yield at once.
WaitPolicy wait_policy(int nprocs);

/// Sleeps until `bell` rings after `seen` was read, or `timeout` passes.
void sleep_on(Doorbell& bell, std::uint32_t seen, std::chrono::milliseconds timeout);

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace unipar::fork_detail
