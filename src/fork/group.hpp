/// @file group.hpp
/// @brief The processes of one fork `run` and the shared memory they talk through.
///
/// Layout of the anonymous shared mapping (created before the fork, so nothing is named in
/// /dev/shm and the kernel frees it when the last process leaves):
///
///   FailurePage                          the first failure of the run, for everyone to read,
///                                        and the run's shared word
///   ProcessSlot[nprocs]                  a doorbell, a "finished" flag and collective log each
///   ChannelState[nprocs * nprocs]        head/tail of the ring from process i to process j
///   ring bytes[nprocs * nprocs][capacity]
///
/// A message on a channel is a MessageHeader followed by `size` payload bytes, streamed through
/// the ring in pieces so that the sender's and receiver's copies overlap.
///
/// The class is one object; its parts live in files by concept: group.cpp (the shared mapping,
/// failure), group_processes.cpp (forking, SIGCHLD, reaping, joining), group_messages.cpp
/// (framing, sending, receiving, draining), group_wait.hpp (waiting).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <boost/interprocess/mapped_region.hpp>

#include "core/backoff.hpp"
#include "core/checks.hpp"
#include "core/failure.hpp"
#include "core/stash.hpp"
#include "fork/channel.hpp"
#include "fork/message_header.hpp"
#include "fork/waiter.hpp"
#include "unipar/detail/bytes.hpp"
#include "unipar/detail/tags.hpp"

namespace unipar::fork_detail {

/// The first failure of a run, encoded (detail::FailureRecord). `state` goes 0 -> 1 (claimed,
/// being written) -> 2 (readable).
struct FailurePage {
  static constexpr std::size_t capacity = 16384;
  std::atomic<std::uint32_t> state{0};
  std::uint32_t size = 0;
  std::byte bytes[capacity];
  /// The run's shared word (Parallelizer::shared_word: the task farm's claim counter).
  alignas(64) std::atomic<std::uint64_t> word{0};
};

struct alignas(64) ProcessSlot {
  Doorbell bell;  // its own cache line: peers read it after every publish
  alignas(64) std::atomic<std::uint32_t> finished{0};  // the process's function returned
  std::atomic<std::int32_t> collective{0};  // tag of the collective it is in (or was last in)
  detail::CollectiveLog log;                // its collectives, written before `finished`
};

class Group {
 public:
  explicit Group(int nprocs);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int nprocs() const { return nprocs_; }
  /// A word every process of the run updates atomically (the task farm's claim counter).
  std::atomic<std::uint64_t>& shared_word() { return failure_->word; }

  // ---- processes (group_processes.cpp) ----------------------------------------------------------

  /// Forks workers 1 .. nprocs-1; each calls `worker(id)`, which must not return. Main keeps id 0.
  void start_workers(const std::function<void(int)>& worker);
  /// This process's function returned after the collectives in `log`. On a worker, main may
  /// reap it; on main, a worker still waiting for main would wait forever.
  void finish(const detail::CollectiveLog& log);
  /// Main: waits until every worker finished, then reaps them. Throws the run's failure if
  /// any, or a UsageError when the processes did not make the same collectives.
  void join();
  /// Main: the run failed; stops every worker (SIGKILL) and reaps them.
  void abort_workers();
  /// Main: while `on`, a worker that dies does not fail the run: main's operations with that
  /// worker throw WorkerLost (for good), the others go on, and the end of the run leaves it out.
  void tolerate_loss(bool on) { tolerate_loss_.store(on); }

  // ---- failure (group.cpp) --------------------------------------------------------------------

  /// Records the first failure of the run for all to see and wakes everyone.
  void record_failure(const detail::FailureRecord& record);
  /// Whether a worker failed (threw or was lost) in this run.
  bool worker_failed() const;
  /// Throws the recorded failure as WorkerError / WorkerLost.
  [[noreturn]] void throw_failure();
  /// Waits (briefly) until a failure record being written is readable.
  void settle_failure() const;

  // ---- messages (group_messages.cpp) -----------------------------------------------------------

  void send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes);
  /// A message in two steps: its header (receivers learn the size and can allocate), then,
  /// with nothing else sent to `dest` in between, its payload.
  void send_header(int dest, int tag, detail::Fingerprint type, std::size_t size);
  void send_payload(int dest, int tag, detail::ConstBytes bytes);
  void receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink);
  bool probe(int source, int tag);
  int wait_for_any(int tag);

  /// Called from the SIGCHLD handler: reaps exited workers, records a lost one. Signal-safe.
  void reap_exited() noexcept;

 private:
  Channel& channel(int from, int to) {
    return channels_[static_cast<std::size_t>(from) * static_cast<std::size_t>(nprocs_) +
                     static_cast<std::size_t>(to)];
  }
  ProcessSlot& slot(int process) const { return slots_[process]; }
  void ring_everyone() noexcept;

  /// Waits until `ready()`; throws on a failure of the run, or when the peer waited for
  /// finished its function and so can never satisfy the wait (group_wait.hpp).
  template <class Ready>
  void wait(Ready&& ready, const detail::Wait& what);
  void check_failure();
  /// Main: throws WorkerLost when `peer` died while losses were tolerated.
  void check_lost(int peer) const;
  bool lost(int peer) const {
    return lost_[static_cast<std::size_t>(peer)].load(std::memory_order_acquire) != 0;
  }
  /// Throws when `what` can never end: a peer in finished_seen_ it waits for, or collectives
  /// called in a different order.
  void check_peer(const detail::Wait& what);
  /// Notes the tag this process is about to wait for: others look at it to detect collectives
  /// called in a different order.
  void enter(int tag);

  /// A message read in pieces, as they arrive, without blocking (see drain()).
  struct Partial {
    MessageHeader header{};
    std::vector<std::byte> bytes;
    std::size_t filled = 0;
    bool active = false;
  };

  /// Waits for the next header from `source` and consumes it (`tag`: what the caller wants).
  MessageHeader read_header(int source, int tag);
  /// Consumes the next header from `source`, which has arrived.
  MessageHeader take_header(int source);
  /// Moves whatever has arrived from `source` into the stash without blocking, stopping
  /// before a message with `stop_tag`. A process waiting for room to send drains everyone, so
  /// two processes that send each other large messages before receiving do not deadlock.
  void drain(int source, int stop_tag);
  /// Finishes reading the message drain() started from `source`, if any (blocking).
  void complete_partial(int source);
  /// Reads a payload into `out` and gives the message's space back to the sender.
  void read_payload(int source, int tag, detail::MutableBytes out);
  void stash(int source, const MessageHeader& header);
  void write_stream(int dest, int tag, detail::ConstBytes bytes);

  /// Main, with SIGCHLD blocked: waitpid on every worker not reaped yet (blocking).
  void reap_all() noexcept;
  void install_child_handler();
  void remove_child_handler() noexcept;

  int nprocs_;
  int self_ = 0;
  pid_t main_pid_;
  std::size_t capacity_;
  std::size_t piece_;
  detail::BackoffPolicy policy_;
  detail::SpinBudget spin_;  // polls before yielding; adapts to how waits end
  boost::interprocess::mapped_region region_;
  FailurePage* failure_ = nullptr;
  ProcessSlot* slots_ = nullptr;
  std::vector<Channel> channels_;  // [from * nprocs + to]; each process uses its own ends

  // Main's view of its workers; written by the SIGCHLD handler, hence atomics.
  std::vector<pid_t> pids_;
  std::unique_ptr<std::atomic<bool>[]> reaped_;
  // Workers that died while losses were tolerated: 1 << 16 | signal << 8 | exit code.
  std::unique_ptr<std::atomic<std::int32_t>[]> lost_;
  std::atomic<bool> tolerate_loss_{false};
  struct sigaction previous_child_action_ {};
  bool handler_installed_ = false;

  detail::MessageStash stash_;       // messages read past while looking for others
  std::vector<Partial> partial_;     // per source: a message drain() is reading
  std::vector<char> finished_seen_;  // per process: finished before the last look (wait)
};

}  // namespace unipar::fork_detail
