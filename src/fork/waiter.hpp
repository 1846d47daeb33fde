/// @file waiter.hpp
/// @brief The fork backend's way to sleep while waiting: a futex doorbell per process that
/// peers ring when they publish something it may be waiting for.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/backoff.hpp"

namespace unipar::fork_detail {

/// One per process, in shared memory.
struct alignas(64) Doorbell {
  std::atomic<std::uint32_t> rings{0};     // futex word
  std::atomic<std::uint32_t> sleeping{0};  // 1 while the owner sleeps (or is about to)
};

/// Wakes the owner of `bell` if it sleeps. Call after publishing (the fence orders the publish
/// before the read of `sleeping`; the sleeper orders `sleeping` before its last check).
void ring(Doorbell& bell);
/// Wakes the owner of `bell` unconditionally (failure notices, async-signal-safe).
void ring_always(Doorbell& bell) noexcept;

/// Sleeps until `bell` rings after `seen` was read, or `timeout` passes.
void sleep_on(Doorbell& bell, std::uint32_t seen, std::chrono::milliseconds timeout);

/// How long a sleeping waiter sleeps before it checks liveness again.
inline constexpr std::chrono::milliseconds sleep_slice{50};

/// The back-off of a group of `nprocs` processes on this machine: spin up to 2000 polls
/// (about 50 us), then 50 yields, then sleep on the doorbell; with more processes than cores,
/// no spinning and 200 yields. UNIPAR_FORK_SPIN and UNIPAR_FORK_YIELD override the counts.
detail::BackoffPolicy fork_backoff_policy(int nprocs);

}  // namespace unipar::fork_detail
