/// @file farm.cpp
/// @brief The task farm's parts that are not templates (see unipar/detail/farm_support.hpp).
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <chrono>
#include <thread>

#include "unipar/detail/farm_support.hpp"

#include "core/exception_info.hpp"

namespace unipar::detail {

std::size_t ChunkSizer::next(std::size_t remaining) const noexcept {
  if (remaining == 0) return 0;
  if (fixed_ > 0) return std::min(fixed_, remaining);
  if (items_ == 0) return 1;  // nothing measured yet: one item, whose cost sizes the next
  // (Another process's measurements arrive in messages: a cost that is not a number, or one
  // that would make more items than there are, must not reach a conversion to an integer.)
  const double measured = nanoseconds_ / double(items_);
  const double per_item = measured > 0.5 ? measured : 0.5;
  const auto items_in = [&](double nanoseconds) {
    const double items = nanoseconds / per_item;
    return items < double(remaining) ? static_cast<std::size_t>(items) : remaining;
  };
  const std::size_t floor = items_in(floor_ns_) + 1;
  // Guided: half of an equal share, shrinking toward the end; never more than about
  // ceiling_ns of work at the cost measured so far, so that slow items hiding among fast ones
  // cannot make one chunk outlast the others by much.
  const std::size_t guided = remaining / (2 * nprocs_);
  const auto cap = std::max(floor, items_in(ceiling_ns_));
  return std::min(remaining, std::max(floor, std::min(guided, cap)));
}

Span Claims::claim(const ChunkSizer& sizer) noexcept {
  std::uint64_t seen = word_.load(std::memory_order_acquire);
  for (;;) {
    // A later call opened the word: this process is late, and nothing of its call is left.
    if ((seen >> index_bits) != epoch_) return {total_, 0};
    const std::uint64_t next = seen & index_mask;
    if (next >= total_) return {total_, 0};
    const std::uint64_t count = sizer.next(static_cast<std::size_t>(total_ - next));
    if (word_.compare_exchange_weak(seen, seen + count, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return {next, count};
    }
  }
}

std::uint64_t Claims::claimed() const noexcept {
  const std::uint64_t seen = word_.load(std::memory_order_acquire);
  if ((seen >> index_bits) != epoch_) return total_;
  return std::min(seen & index_mask, total_);
}

void Claims::close() noexcept {
  std::uint64_t seen = word_.load(std::memory_order_acquire);
  while ((seen >> index_bits) == epoch_ && (seen & index_mask) < total_) {
    if (word_.compare_exchange_weak(seen, (epoch_ << index_bits) | total_,
                                    std::memory_order_acq_rel, std::memory_order_acquire)) {
      return;
    }
  }
}

std::thread thread_without_signals(std::function<void()> body) {
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);  // the new thread inherits this mask
  struct Restore {
    sigset_t& mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};
  return std::thread(std::move(body));
}

ServiceHost::~ServiceHost() {
  {
    const std::lock_guard lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ServiceHost::try_start(Job& job) {
  {
    const std::lock_guard lock(mutex_);
    if (job_ != nullptr) return false;
  }
  // Started before the job is given: if starting throws, nothing waits for a job never run.
  if (!thread_.joinable()) thread_ = thread_without_signals([this] { loop(); });
  {
    const std::lock_guard lock(mutex_);
    job_ = &job;
  }
  changed_.notify_all();
  return true;
}

bool ServiceHost::withdraw(Job& job) {
  const std::lock_guard lock(mutex_);
  if (job_ != &job || picked_) return false;
  job_ = nullptr;
  return true;
}

void ServiceHost::wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return job_ == nullptr; });
}

void ServiceHost::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return job_ != nullptr || quit_; });
    if (job_ == nullptr) return;  // quit, nothing given
    Job* job = job_;
    picked_ = true;
    lock.unlock();
    job->run();
    lock.lock();
    job_ = nullptr;
    picked_ = false;
    changed_.notify_all();
  }
}

ExceptionText describe_exception_text(std::exception_ptr error) {
  ExceptionInfo info = describe_exception(std::move(error));
  return {std::move(info.type_name), std::move(info.message)};
}

IdlePacer::IdlePacer() noexcept {
  // The default timer slack (50 us) would turn every short sleep into a long one.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

void IdlePacer::idle() noexcept {
  ++idle_;
  if (idle_ <= 8) return;  // traffic just now: poll again at once
  const unsigned shift = std::min(idle_ - 8, 9U);
  std::this_thread::sleep_for(std::chrono::microseconds(1U << shift));  // 2 us .. 512 us
}

}  // namespace unipar::detail
