// The shared mapping of a fork run, and the failure page in it.
#include "fork/group.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include <boost/interprocess/anonymous_shared_memory.hpp>

#include "core/settings.hpp"
#include "unipar/error.hpp"

namespace unipar::fork_detail {
namespace {

std::size_t floor_power_of_two(std::size_t x) {
  std::size_t p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}

/// Ring capacity per channel: 1 MiB for small groups, less for large ones (nprocs^2 channels),
/// never below 64 KiB. UNIPAR_FORK_CHANNEL_BYTES overrides (rounded down to a power of two).
std::size_t channel_capacity(int nprocs) {
  const std::size_t channels = static_cast<std::size_t>(nprocs) * static_cast<std::size_t>(nprocs);
  const std::size_t capacity = std::clamp<std::size_t>((std::size_t{128} << 20) / channels,
                                                       std::size_t{64} << 10, std::size_t{1} << 20);
  return floor_power_of_two(detail::fork_channel_bytes_setting(capacity));
}

}  // namespace

Group::Group(int nprocs)
    : nprocs_(nprocs),
      main_pid_(getpid()),
      capacity_(channel_capacity(nprocs)),
      piece_(std::max<std::size_t>(capacity_ / 4, 4096)),
      policy_(fork_backoff_policy(nprocs)),
      spin_(policy_.max_spins),
      pids_(static_cast<std::size_t>(nprocs), 0),
      reaped_(new std::atomic<bool>[static_cast<std::size_t>(nprocs)]),
      lost_(new std::atomic<std::int32_t>[static_cast<std::size_t>(nprocs)]),
      stash_(nprocs),
      partial_(static_cast<std::size_t>(nprocs)),
      finished_seen_(static_cast<std::size_t>(nprocs), 0) {
  const auto n = static_cast<std::size_t>(nprocs);
  auto align = [](std::size_t x) { return (x + 63) & ~std::size_t{63}; };
  const std::size_t failure_bytes = align(sizeof(FailurePage));
  const std::size_t slot_bytes = align(sizeof(ProcessSlot) * n);
  const std::size_t state_bytes = align(sizeof(ChannelState) * n * n);
  const std::size_t total = failure_bytes + slot_bytes + state_bytes + capacity_ * n * n;
  try {
    region_ = boost::interprocess::anonymous_shared_memory(total);
  } catch (const std::exception& e) {
    throw Error(std::string("fork: cannot map ") + std::to_string(total >> 20) +
                " MiB of shared memory: " + e.what());
  }
  auto* base = static_cast<std::byte*>(region_.get_address());
  failure_ = new (base) FailurePage();
  slots_ = new (base + failure_bytes) ProcessSlot[n];
  auto* states = new (base + failure_bytes + slot_bytes) ChannelState[n * n];
  std::byte* rings = base + failure_bytes + slot_bytes + state_bytes;
  channels_.reserve(n * n);
  for (std::size_t i = 0; i < n * n; ++i) {
    channels_.emplace_back(&states[i], rings + i * capacity_, capacity_);
  }
  for (std::size_t i = 0; i < n; ++i) reaped_[i].store(i == 0);
  for (std::size_t i = 0; i < n; ++i) lost_[i].store(0);
}

Group::~Group() {
  if (self_ == 0) {
    abort_workers();  // a no-op when join() already reaped everyone
  }
}

void Group::ring_everyone() noexcept {
  for (int i = 0; i < nprocs_; ++i) ring_always(slot(i).bell);
}

// ---- failure ----------------------------------------------------------------------------------

void Group::record_failure(const detail::FailureRecord& record) {
  // Encoded before the page is claimed: others wait for a claimed page to become readable.
  std::vector<std::byte> bytes = record.encode();
  if (bytes.size() > FailurePage::capacity) {
    // Keep the facts and as much of the message as fits.
    detail::FailureRecord shorter = record;
    shorter.message.resize(FailurePage::capacity / 2);
    shorter.message += "... (cut)";
    bytes = shorter.encode();
  }
  std::uint32_t expected = 0;
  if (failure_->state.compare_exchange_strong(expected, 1)) {
    std::memcpy(failure_->bytes, bytes.data(), bytes.size());
    failure_->size = static_cast<std::uint32_t>(bytes.size());
    failure_->state.store(2, std::memory_order_release);
  }
  ring_everyone();
}

bool Group::worker_failed() const {
  settle_failure();
  const std::uint32_t state = failure_->state.load(std::memory_order_acquire);
  if (state != 2) return state == 1;  // still 1: the writer died while writing
  detail::FailureFacts facts;
  std::memcpy(&facts, failure_->bytes, sizeof facts);
  return facts.kind == detail::FailureKind::threw || facts.kind == detail::FailureKind::lost;
}

void Group::settle_failure() const {
  // The failing process claims the page, then copies its record in; give it a moment to
  // finish (a memcpy), but not forever: it may have been killed half-way.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (failure_->state.load(std::memory_order_acquire) == 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void Group::throw_failure() {
  settle_failure();
  if (failure_->state.load(std::memory_order_acquire) == 1) {
    throw WorkerLost(-1, 0, 0, 0, "a process failed while reporting its failure");
  }
  const std::size_t size = std::min<std::size_t>(failure_->size, FailurePage::capacity);
  detail::FailureRecord::decode({failure_->bytes, size}).raise(self_);
}

void Group::check_lost(int peer) const {
  const std::int32_t code = lost_[static_cast<std::size_t>(peer)].load(std::memory_order_acquire);
  if (code == 0) return;
  throw WorkerLost(peer, pids_[static_cast<std::size_t>(peer)], (code >> 8) & 0xFF, code & 0xFF,
                   "it died while main tolerated the loss of a worker");
}

void Group::check_failure() {
  if (failure_->state.load(std::memory_order_acquire) != 0) throw_failure();
}

}  // namespace unipar::fork_detail
