/// @file group.hpp
/// @brief The processes of one fork `run` and the shared memory they talk through.
///
/// Layout of the anonymous shared mapping (created before the fork, so nothing is named in
/// /dev/shm and the kernel frees it when the last process leaves):
///
///   FailureReport                        the first failure of the run, for everyone to read
///   ProcessSlot[nprocs]                  a doorbell and a "finished" flag per process
///   ChannelState[nprocs * nprocs]        head/tail of the ring from process i to process j
///   ring bytes[nprocs * nprocs][capacity]
///
/// A message on a channel is a MessageHeader followed by `size` payload bytes, streamed through
/// the ring in pieces so that the sender's and receiver's copies overlap.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <boost/interprocess/mapped_region.hpp>

#include "core/exception_info.hpp"
#include "fork/channel.hpp"
#include "fork/waiter.hpp"
#include "unipar/detail/bytes.hpp"

namespace unipar::fork_detail {

enum class FailureKind : std::uint32_t {
  none = 0,
  worker_threw = 1,
  worker_lost = 2,
  main_failed = 3
};

/// The first failure of a run. `state` goes 0 -> 1 (claimed, being written) -> 2 (readable).
struct FailureReport {
  std::atomic<std::uint32_t> state{0};
  FailureKind kind = FailureKind::none;
  int worker = 0;
  pid_t pid = 0;
  int signal = 0;
  int exit_code = 0;
  bool has_item = false;
  std::uint64_t item = 0;
  char host[128] = {};
  char type_name[512] = {};
  char message[8192] = {};
};

struct alignas(64) ProcessSlot {
  Doorbell bell;  // its own cache line: peers read it after every publish
  alignas(64) std::atomic<std::uint32_t> finished{0};  // the process's function returned
  std::atomic<std::int32_t> collective{0};  // tag of the collective it is in (or was last in)
};

/// Precedes every payload on a channel; `check` guards against reading garbage as a header.
struct MessageHeader {
  std::uint32_t magic;
  std::int32_t tag;
  std::uint64_t type;
  std::uint64_t size;
  std::uint64_t check;
};

class Group {
 public:
  explicit Group(int nprocs);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int nprocs() const { return nprocs_; }

  // ---- processes ------------------------------------------------------------------------------

  /// Forks workers 1 .. nprocs-1; each calls `worker(id)`, which must not return. Main keeps id 0.
  void start_workers(const std::function<void(int)>& worker);
  /// Worker: its function returned; main may reap it.
  void finish_worker();
  /// Main: its function returned; a worker still waiting for it would wait forever.
  void finish_main();
  /// Worker: its function threw; the first failure of the run is recorded for all to see.
  void record_worker_error(const detail::ExceptionInfo& info);
  /// Main: waits until every worker finished, then reaps them. Throws the run's failure if any.
  void join();
  /// Main: the run failed; stops every worker (SIGKILL) and reaps them.
  void abort_workers();
  /// Main: marks the run failed because main's own function threw.
  void record_main_failure();
  /// Whether a worker failed (threw or was lost) in this run.
  bool worker_failed() const;
  /// Throws the recorded failure as WorkerError / WorkerLost.
  [[noreturn]] void throw_failure();

  // ---- messages -------------------------------------------------------------------------------

  void send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes);
  /// A message in two steps: its header (receivers learn the size and can allocate), then,
  /// with nothing else sent to `dest` in between, its payload.
  void send_header(int dest, int tag, detail::Fingerprint type, std::size_t size);
  void send_payload(int dest, detail::ConstBytes bytes);
  void receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink);
  bool probe(int source, int tag);
  int wait_any(int tag);

  /// Called from the SIGCHLD handler: reaps exited workers, records a lost one. Signal-safe.
  void reap_exited() noexcept;

 private:
  struct Pending {
    int tag;
    detail::Fingerprint type;
    std::vector<std::byte> bytes;
  };

  Channel& channel(int from, int to) {
    return channels_[static_cast<std::size_t>(from) * static_cast<std::size_t>(nprocs_) +
                     static_cast<std::size_t>(to)];
  }
  ProcessSlot& slot(int process) const { return slots_[process]; }

  /// Waits until `ready()`; throws on a failure of the run, or when `peer` (if >= 0) finished
  /// its function and so can never satisfy the wait.
  template <class Ready>
  void wait(Ready&& ready, int peer, const char* what);
  void check_failure();
  void check_peer(int peer, const char* what);
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

  /// Waits for the next header from `source` and consumes it.
  MessageHeader read_header(int source);
  /// Consumes the next header from `source`, which has arrived.
  MessageHeader take_header(int source);
  /// Moves whatever has arrived from `source` into pending messages without blocking, stopping
  /// before a message with `stop_tag`. A process waiting for room to send drains everyone, so
  /// two processes that send each other large messages before receiving do not deadlock.
  void drain(int source, int stop_tag);
  /// Finishes reading the message drain() started from `source`, if any (blocking).
  void complete_partial(int source);
  /// Reads a payload into `out` and gives the message's space back to the sender.
  void read_payload(int source, detail::MutableBytes out);
  void stash(int source, const MessageHeader& header);
  [[noreturn]] void throw_order_mismatch(int source, int expected_tag, int got_tag);
  void write_stream(int dest, detail::ConstBytes bytes);

  /// Main, with SIGCHLD blocked: waitpid on every worker not reaped yet (blocking).
  void reap_all() noexcept;
  void install_child_handler();
  void remove_child_handler() noexcept;

  int nprocs_;
  int self_ = 0;
  pid_t main_pid_;
  std::size_t capacity_;
  std::size_t piece_;
  WaitPolicy policy_;
  boost::interprocess::mapped_region region_;
  FailureReport* report_ = nullptr;
  ProcessSlot* slots_ = nullptr;
  std::vector<Channel> channels_;  // [from * nprocs + to]; each process uses its own ends
  int current_tag_ = 0;            // the tag this process waits for, if a collective's
  int spin_budget_;                // polls before yielding; adapts to how waits end

  // Main's view of its workers; written by the SIGCHLD handler, hence atomics.
  std::vector<pid_t> pids_;
  std::unique_ptr<std::atomic<bool>[]> reaped_;
  struct sigaction previous_child_action_ {};
  bool handler_installed_ = false;

  std::vector<std::deque<Pending>> pending_;  // messages read past while looking for others
  std::vector<Partial> partial_;              // per source: a message drain() is reading
};

}  // namespace unipar::fork_detail
