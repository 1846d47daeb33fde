#include "core/backoff.hpp"

#include <sched.h>

#include <thread>

namespace unipar::detail {

Backoff::Phase Backoff::pause() {
  ++rounds_;
  if (phase_ == Phase::spin) {
    if (static_cast<std::int64_t>(rounds_) <= budget_.budget()) {
      cpu_relax();
      return phase_;
    }
    phase_ = Phase::yield;
    yield_start_ = std::chrono::steady_clock::now();
  }
  if (phase_ == Phase::yield) {
    const bool count_left = policy_.max_yields < 0 || yields_ < policy_.max_yields;
    const bool time_left = policy_.yield_limit.count() == 0 ||
                           std::chrono::steady_clock::now() - yield_start_ < policy_.yield_limit;
    if (count_left && time_left) {
      ++yields_;
      sched_yield();
      return phase_;
    }
    phase_ = Phase::sleep;
    budget_.shrink();
  }
  return phase_;
}

void Backoff::ended() {
  if (phase_ == Phase::spin) {
    budget_.grow();
  } else if (phase_ == Phase::yield) {
    if (std::chrono::steady_clock::now() - yield_start_ < quick_answer) {
      budget_.grow();
    } else {
      budget_.shrink();
    }
  }
}

bool oversubscribed(int local_processes) {
  cpu_set_t set;
  const int cores = sched_getaffinity(0, sizeof set, &set) == 0
                        ? CPU_COUNT(&set)
                        : static_cast<int>(std::thread::hardware_concurrency());
  return local_processes > cores;
}

}  // namespace unipar::detail
