#include "fork/waiter.hpp"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <ctime>
#include <thread>

namespace unipar::fork_detail {
namespace {

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* timeout) {
  // Shared (not FUTEX_PRIVATE) futex: the word lives in memory shared between processes.
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr, 0);
}

int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::atoi(text) : fallback;
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

WaitPolicy wait_policy(int nprocs) {
  cpu_set_t set;
  const int cores = sched_getaffinity(0, sizeof set, &set) == 0
                        ? CPU_COUNT(&set)
                        : static_cast<int>(std::thread::hardware_concurrency());
  const bool oversubscribed = nprocs > cores;
  WaitPolicy policy{oversubscribed ? 0 : 2000, oversubscribed ? 200 : 50,
                    std::chrono::milliseconds(50)};
  policy.spin_iterations = env_int("UNIPAR_FORK_SPIN", policy.spin_iterations);
  policy.yield_iterations = env_int("UNIPAR_FORK_YIELD", policy.yield_iterations);
  return policy;
}

}  // namespace unipar::fork_detail
