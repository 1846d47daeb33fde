#include "core/backoff.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>

#include <thread>

namespace unipar::detail {

Backoff::Phase Backoff::pause_after_spinning() {
  if (phase_ == Phase::spin) {
    phase_ = Phase::yield;
    yield_start_ = std::chrono::steady_clock::now();
  }
  if (phase_ == Phase::yield) {
    const bool count_left = policy_.max_yields < 0 || yields_ < policy_.max_yields;
    const bool time_left = policy_.yield_limit.count() == 0 ||
                           std::chrono::steady_clock::now() - yield_start_ < policy_.yield_limit;
    if (count_left && time_left) {
      ++yields_;
      const auto before = policy_.sleep_when_crowded ? std::chrono::steady_clock::now()
                                                     : std::chrono::steady_clock::time_point{};
      sched_yield();
      // A yield that took long let another task run on this core: the machine is busy, and
      // each further yield would hand that task a whole time slice while the peer's answer
      // waits. Sleeping instead lets the peer's wake-up preempt it.
      if (!policy_.sleep_when_crowded ||
          std::chrono::steady_clock::now() - before < crowded_yield) {
        return phase_;
      }
    }
    phase_ = Phase::sleep;
    budget_.shrink();
  }
  return phase_;
}

void Backoff::ended_after_spinning() {
  if (phase_ == Phase::yield) {
    if (std::chrono::steady_clock::now() - yield_start_ < quick_answer) {
      budget_.grow();
    } else {
      budget_.shrink();
    }
  }
}

int cores_in_affinity() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return cores_online();
}

int cores_online() {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online)
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace unipar::detail
