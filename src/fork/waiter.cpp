#include "fork/waiter.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

#include "core/settings.hpp"

namespace unipar::fork_detail {
namespace {

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout) {
  // Shared (not FUTEX_PRIVATE) futex: the word lives in memory shared between processes.
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

}  // namespace

void ring(Doorbell& bell) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (bell.sleeping.load(std::memory_order_relaxed) != 0) ring_always(bell);
}

void ring_always(Doorbell& bell) noexcept {
  bell.rings.fetch_add(1, std::memory_order_seq_cst);
  futex(&bell.rings, FUTEX_WAKE, INT_MAX, nullptr);
}

void sleep_on(Doorbell& bell, std::uint32_t seen, std::chrono::milliseconds timeout) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const timespec relative{static_cast<time_t>(seconds.count()),
                          static_cast<long>((timeout - seconds).count() * 1'000'000)};
  futex(&bell.rings, FUTEX_WAIT, seen, &relative);  // EAGAIN, EINTR, ETIMEDOUT: all fine
}

detail::BackoffPolicy fork_backoff_policy(int nprocs) {
  const bool crowded = nprocs > detail::cores_in_affinity();
  return {detail::fork_spin_setting(crowded ? 0 : 2000),
          detail::fork_yield_setting(crowded ? 200 : 50), std::chrono::nanoseconds(0), true, true};
}

}  // namespace unipar::fork_detail
