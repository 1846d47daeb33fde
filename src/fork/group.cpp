#include "fork/group.hpp"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include <boost/interprocess/anonymous_shared_memory.hpp>

#include "unipar/detail/tags.hpp"
#include "unipar/error.hpp"

namespace unipar::fork_detail {
namespace {

constexpr std::uint32_t header_magic = 0x756e6970;  // "unip"
constexpr std::size_t small_message = 4096;         // header and payload in one write
constexpr std::uint64_t max_message = std::uint64_t{1} << 48;
constexpr int no_tag = -1;  // no message has it

std::uint64_t header_check(const MessageHeader& h) {
  std::uint64_t x = h.magic ^ (static_cast<std::uint64_t>(static_cast<std::uint32_t>(h.tag)) << 32);
  x ^= h.type * 0x9E3779B97F4A7C15ull;
  x ^= h.size * 0xC2B2AE3D27D4EB4Full;
  return x ^ (x >> 29);
}

std::atomic<Group*> active_group{nullptr};

void on_child_exit(int) {
  const int saved = errno;
  if (Group* group = active_group.load()) group->reap_exited();
  errno = saved;
}

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : fallback;
}

std::size_t floor_power_of_two(std::size_t x) {
  std::size_t p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}

/// Ring capacity per channel: 1 MiB for small groups, less for large ones (nprocs^2 channels),
/// never below 64 KiB. UNIPAR_FORK_CHANNEL_BYTES overrides (rounded down to a power of two).
std::size_t channel_capacity(int nprocs) {
  const std::size_t channels = static_cast<std::size_t>(nprocs) * static_cast<std::size_t>(nprocs);
  std::size_t capacity = std::clamp<std::size_t>((std::size_t{128} << 20) / channels,
                                                 std::size_t{64} << 10, std::size_t{1} << 20);
  capacity = env_size("UNIPAR_FORK_CHANNEL_BYTES", capacity);
  return floor_power_of_two(std::max<std::size_t>(capacity, 4096));
}

void copy_text(char* out, std::size_t capacity, const std::string& text) {
  const std::size_t n = std::min(capacity - 1, text.size());
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

/// Blocks SIGCHLD for the calling thread while it lives, so that the handler never runs while
/// main reads or changes what the handler changes (the pid table, the reaped flags).
class ChildSignalBlock {
 public:
  ChildSignalBlock() {
    sigset_t child_signal;
    sigemptyset(&child_signal);
    sigaddset(&child_signal, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &child_signal, &previous_);
  }
  ~ChildSignalBlock() { restore(); }
  ChildSignalBlock(const ChildSignalBlock&) = delete;
  ChildSignalBlock& operator=(const ChildSignalBlock&) = delete;
  /// Restores the previous mask now (a forked worker never returns to the destructor).
  void restore() const { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

 private:
  sigset_t previous_;
};

/// Clears a doorbell's "sleeping" flag however the wait ends.
class Awake {
 public:
  explicit Awake(Doorbell& bell) : bell_(bell) {}
  ~Awake() { bell_.sleeping.store(0, std::memory_order_relaxed); }
  Awake(const Awake&) = delete;
  Awake& operator=(const Awake&) = delete;

 private:
  Doorbell& bell_;
};

}  // namespace

Group::Group(int nprocs)
    : nprocs_(nprocs),
      main_pid_(getpid()),
      capacity_(channel_capacity(nprocs)),
      piece_(std::max<std::size_t>(capacity_ / 4, 4096)),
      policy_(wait_policy(nprocs)),
      spin_budget_(policy_.spin_iterations),
      pids_(static_cast<std::size_t>(nprocs), 0),
      reaped_(new std::atomic<bool>[static_cast<std::size_t>(nprocs)]),
      pending_(static_cast<std::size_t>(nprocs)),
      partial_(static_cast<std::size_t>(nprocs)) {
  const auto n = static_cast<std::size_t>(nprocs);
  auto align = [](std::size_t x) { return (x + 63) & ~std::size_t{63}; };
  const std::size_t report_bytes = align(sizeof(FailureReport));
  const std::size_t slot_bytes = align(sizeof(ProcessSlot) * n);
  const std::size_t state_bytes = align(sizeof(ChannelState) * n * n);
  const std::size_t total = report_bytes + slot_bytes + state_bytes + capacity_ * n * n;
  try {
    region_ = boost::interprocess::anonymous_shared_memory(total);
  } catch (const std::exception& e) {
    throw Error(std::string("fork: cannot map ") + std::to_string(total >> 20) +
                " MiB of shared memory: " + e.what());
  }
  auto* base = static_cast<std::byte*>(region_.get_address());
  report_ = new (base) FailureReport();
  slots_ = new (base + report_bytes) ProcessSlot[n];
  auto* states = new (base + report_bytes + slot_bytes) ChannelState[n * n];
  std::byte* rings = base + report_bytes + slot_bytes + state_bytes;
  channels_.reserve(n * n);
  for (std::size_t i = 0; i < n * n; ++i) {
    channels_.emplace_back(&states[i], rings + i * capacity_, capacity_);
  }
  for (std::size_t i = 0; i < n; ++i) reaped_[i].store(i == 0);
}

Group::~Group() {
  if (self_ == 0) {
    abort_workers();  // a no-op when join() already reaped everyone
  }
}

// ---- processes --------------------------------------------------------------------------------

void Group::install_child_handler() {
  struct sigaction action {};
  action.sa_handler = on_child_exit;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  active_group.store(this);
  if (sigaction(SIGCHLD, &action, &previous_child_action_) != 0) {
    active_group.store(nullptr);
    detail::throw_system_error("sigaction(SIGCHLD)", errno);
  }
  handler_installed_ = true;
}

void Group::remove_child_handler() noexcept {
  if (!handler_installed_) return;
  sigaction(SIGCHLD, &previous_child_action_, nullptr);
  active_group.store(nullptr);
  handler_installed_ = false;
}

void Group::start_workers(const std::function<void(int)>& worker) {
  install_child_handler();
  const ChildSignalBlock blocked;  // the handler must not run while the pid table is half filled
  for (int id = 1; id < nprocs_; ++id) {
    const pid_t pid = fork();
    if (pid < 0) {
      detail::throw_system_error("fork", errno);  // the caller aborts the workers started
    }
    if (pid == 0) {
      // Worker: die with main, never run main's SIGCHLD handler.
      active_group.store(nullptr);
      signal(SIGCHLD, SIG_DFL);
      blocked.restore();
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != main_pid_) _exit(125);  // main died before prctl took effect
      self_ = id;
      handler_installed_ = false;
      worker(id);
      _exit(126);  // not reached: the worker function leaves with _exit
    }
    pids_[static_cast<std::size_t>(id)] = pid;
  }
  reap_exited();  // a worker may have died while the handler was blocked
}

void Group::finish_worker() {
  slot(self_).finished.store(1, std::memory_order_seq_cst);
  ring_always(slot(0).bell);
}

void Group::finish_main() {
  slot(0).finished.store(1, std::memory_order_seq_cst);
  for (int i = 1; i < nprocs_; ++i) ring_always(slot(i).bell);
}

void Group::record_worker_error(const detail::ExceptionInfo& info) {
  std::uint32_t expected = 0;
  if (report_->state.compare_exchange_strong(expected, 1)) {
    report_->kind = FailureKind::worker_threw;
    report_->worker = self_;
    report_->pid = getpid();
    report_->has_item = info.item.has_value();
    report_->item = info.item.value_or(0);
    copy_text(report_->host, sizeof report_->host, detail::host_name());
    copy_text(report_->type_name, sizeof report_->type_name, info.type_name);
    copy_text(report_->message, sizeof report_->message, info.message);
    report_->state.store(2, std::memory_order_release);
  }
  for (int i = 0; i < nprocs_; ++i) ring_always(slot(i).bell);
}

void Group::record_main_failure() {
  std::uint32_t expected = 0;
  if (report_->state.compare_exchange_strong(expected, 1)) {
    report_->kind = FailureKind::main_failed;
    report_->worker = 0;
    report_->pid = getpid();
    report_->state.store(2, std::memory_order_release);
  }
  for (int i = 0; i < nprocs_; ++i) ring_always(slot(i).bell);
}

void Group::reap_exited() noexcept {
  // Runs in the SIGCHLD handler (main only): waitpid, atomics and futex wakes are signal-safe.
  bool lost = false;
  for (int id = 1; id < nprocs_; ++id) {
    auto& reaped = reaped_[static_cast<std::size_t>(id)];
    const pid_t pid = pids_[static_cast<std::size_t>(id)];
    if (pid == 0 || reaped.load()) continue;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid) continue;
    reaped.store(true);
    if (slot(id).finished.load() != 0) continue;
    std::uint32_t expected = 0;
    if (report_->state.compare_exchange_strong(expected, 1)) {
      report_->kind = FailureKind::worker_lost;
      report_->worker = id;
      report_->pid = pid;
      report_->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      report_->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
      report_->state.store(2, std::memory_order_release);
    }
    lost = true;
  }
  if (lost) {
    for (int i = 0; i < nprocs_; ++i) ring_always(slot(i).bell);
  }
}

void Group::reap_all() noexcept {
  const ChildSignalBlock blocked;
  for (int id = 1; id < nprocs_; ++id) {
    auto& reaped = reaped_[static_cast<std::size_t>(id)];
    const pid_t pid = pids_[static_cast<std::size_t>(id)];
    if (pid == 0 || reaped.load()) continue;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    reaped.store(true);
  }
}

void Group::join() {
  wait(
      [&] {
        for (int id = 1; id < nprocs_; ++id) {
          if (slot(id).finished.load(std::memory_order_acquire) == 0) return false;
        }
        return true;
      },
      -1, "the end of run");
  reap_all();
  remove_child_handler();
  if (worker_failed()) throw_failure();
}

void Group::abort_workers() {
  if (self_ != 0) return;
  for (int id = 1; id < nprocs_; ++id) {
    const pid_t pid = pids_[static_cast<std::size_t>(id)];
    if (pid != 0 && !reaped_[static_cast<std::size_t>(id)].load()) kill(pid, SIGKILL);
  }
  reap_all();
  remove_child_handler();
}

bool Group::worker_failed() const {
  const std::uint32_t state = report_->state.load(std::memory_order_acquire);
  if (state != 2) return state == 1;  // 1: a worker or the reaper is writing its report
  return report_->kind == FailureKind::worker_threw || report_->kind == FailureKind::worker_lost;
}

void Group::throw_failure() {
  // The failing process claims the report, then fills it in; give it a moment to finish. If it
  // was killed half-way, say so rather than wait forever.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (report_->state.load(std::memory_order_acquire) == 1) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw WorkerLost(-1, 0, 0, 0, "a process failed while reporting its failure");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const FailureReport& r = *report_;
  switch (r.kind) {
    case FailureKind::worker_threw:
      throw WorkerError(r.worker, r.pid, r.host, r.type_name, r.message,
                        r.has_item ? std::optional<std::size_t>(r.item) : std::nullopt);
    case FailureKind::worker_lost:
      throw WorkerLost(r.worker, r.pid, r.signal, r.exit_code);
    case FailureKind::main_failed:
      throw Error("fork: the main process failed; worker " + std::to_string(self_) + " stops");
    case FailureKind::none:
      break;
  }
  throw Error("fork: the run failed for an unknown reason");
}

// ---- waiting ----------------------------------------------------------------------------------

void Group::check_failure() {
  if (report_->state.load(std::memory_order_acquire) != 0) throw_failure();
}

void Group::check_peer(int peer, const char* what) {
  if (peer >= 0 && slot(peer).finished.load(std::memory_order_acquire) != 0) {
    throw UsageError("fork: process " + std::to_string(self_) + " waits for " + what +
                     " (process " + std::to_string(peer) +
                     "), but that process's function has already returned; this would block "
                     "forever");
  }
  if (self_ != 0 && getppid() != main_pid_) {
    throw WorkerLost(0, main_pid_, 0, 0, "the main process died");
  }
  // Both in collective #k, but not the same one: they will never meet.
  if (peer >= 0 && detail::is_collective_tag(current_tag_)) {
    const int theirs = slot(peer).collective.load(std::memory_order_acquire);
    if (detail::is_collective_tag(theirs) && theirs != current_tag_ &&
        (theirs & 0xFFFFFF) == (current_tag_ & 0xFFFFFF)) {
      throw_order_mismatch(peer, current_tag_, theirs);
    }
  }
}

void Group::enter(int tag) {
  current_tag_ = tag;
  if (detail::is_collective_tag(tag)) slot(self_).collective.store(tag, std::memory_order_release);
}

template <class Ready>
void Group::wait(Ready&& ready, int peer, const char* what) {
  // Spinning pays only while the peer runs on another core. A wait that ends while spinning
  // doubles the budget; one that has to yield or sleep (the peer computes, or waits for a core
  // that others hold) halves it, so under load the process quickly stops burning its share.
  for (int i = 0; i < spin_budget_; ++i) {
    if (ready()) {
      spin_budget_ = std::min(policy_.spin_iterations, 2 * spin_budget_ + 16);
      return;
    }
    if ((i & 63) == 0) check_failure();
    cpu_relax();
  }
  spin_budget_ /= 2;
  for (int i = 0; i < policy_.yield_iterations; ++i) {
    if (ready()) {
      // Answered within a few yields: the peer is responsive again, so let spinning (which a
      // budget of 0 could never prove worthwhile) start over small.
      spin_budget_ = std::min(policy_.spin_iterations, std::max(spin_budget_, 16));
      return;
    }
    check_failure();
    sched_yield();
  }
  Doorbell& bell = slot(self_).bell;
  for (;;) {
    Awake awake(bell);
    bell.sleeping.store(1, std::memory_order_seq_cst);
    const std::uint32_t seen = bell.rings.load(std::memory_order_seq_cst);
    if (ready()) return;
    check_failure();
    // A peer that finished may have published just before: look once more, then give up.
    if (peer >= 0 && slot(peer).finished.load(std::memory_order_acquire) != 0 && ready()) return;
    check_peer(peer, what);
    sleep_on(bell, seen, policy_.sleep_slice);
    if (ready()) return;
    if (self_ == 0) {
      // The SIGCHLD handler reaps promptly; this is the fallback should a signal be missed.
      const ChildSignalBlock blocked;
      reap_exited();
    }
  }
}

// ---- messages ---------------------------------------------------------------------------------

void Group::write_stream(int dest, detail::ConstBytes bytes) {
  Channel& out = channel(self_, dest);
  while (!bytes.empty()) {
    const std::size_t wanted = std::min(bytes.size(), piece_);
    std::size_t room = out.writable(wanted);
    if (room == 0) {
      wait(
          [&] {
            if ((room = out.writable(wanted)) != 0) return true;
            // While the receiver is busy (perhaps sending to us), take in what others send.
            for (int source = 0; source < nprocs_; ++source) {
              if (source != self_) drain(source, no_tag);
            }
            return (room = out.writable(wanted)) != 0;
          },
          dest, "room to send");
    }
    const std::size_t count = std::min(wanted, room);
    out.write(bytes.first(count));
    out.publish();
    ring(slot(dest).bell);
    bytes = bytes.subspan(count);
  }
}

namespace {

MessageHeader make_header(int tag, detail::Fingerprint type, std::size_t size) {
  MessageHeader header{header_magic, tag, type, size, 0};
  header.check = header_check(header);
  return header;
}

}  // namespace

void Group::send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) {
  if (bytes.size() + sizeof(MessageHeader) > small_message) {
    send_header(dest, tag, type, bytes.size());
    send_payload(dest, bytes);
    return;
  }
  // A small message: one copy and one publish for header and payload together.
  enter(tag);
  const MessageHeader header = make_header(tag, type, bytes.size());
  std::byte buffer[small_message];
  std::memcpy(buffer, &header, sizeof header);
  if (!bytes.empty()) std::memcpy(buffer + sizeof header, bytes.data(), bytes.size());
  write_stream(dest, {buffer, sizeof header + bytes.size()});
}

void Group::send_header(int dest, int tag, detail::Fingerprint type, std::size_t size) {
  enter(tag);
  const MessageHeader header = make_header(tag, type, size);
  write_stream(dest, std::as_bytes(std::span(&header, 1)));
}

void Group::send_payload(int dest, detail::ConstBytes bytes) {
  write_stream(dest, bytes);
}

MessageHeader Group::read_header(int source) {
  Channel& in = channel(source, self_);
  wait([&] { return in.readable() >= sizeof(MessageHeader); }, source, "a message");
  return take_header(source);
}

MessageHeader Group::take_header(int source) {
  Channel& in = channel(source, self_);
  MessageHeader header{};
  in.read(std::as_writable_bytes(std::span(&header, 1)));  // released with the payload
  if (header.magic != header_magic || header.check != header_check(header) ||
      header.size > max_message) {
    throw Error("fork: corrupt message header from process " + std::to_string(source));
  }
  return header;
}

void Group::read_payload(int source, detail::MutableBytes out) {
  Channel& in = channel(source, self_);
  for (;;) {
    std::size_t available = out.empty() ? 0 : in.readable();
    if (!out.empty() && available == 0) {
      wait([&] { return (available = in.readable()) != 0; }, source, "the rest of a message");
    }
    const std::size_t count = std::min({out.size(), available, piece_});
    in.read(out.first(count));
    out = out.subspan(count);
    // Give the space back: after each piece of a large payload (the sender may be waiting for
    // room), once for a small message.
    in.release();
    ring(slot(source).bell);
    if (out.empty()) return;
  }
}

void Group::drain(int source, int stop_tag) {
  Channel& in = channel(source, self_);
  Partial& partial = partial_[static_cast<std::size_t>(source)];
  for (;;) {
    if (!partial.active) {
      if (in.readable() < sizeof(MessageHeader)) return;
      MessageHeader next{};
      in.peek(std::as_writable_bytes(std::span(&next, 1)));
      if (next.tag == stop_tag) return;
      partial.header = take_header(source);
      partial.bytes.resize(partial.header.size);
      partial.filled = 0;
      partial.active = true;
    }
    const std::size_t count = std::min(in.readable(), partial.header.size - partial.filled);
    in.read(detail::MutableBytes(partial.bytes).subspan(partial.filled, count));
    partial.filled += count;
    in.release();
    ring(slot(source).bell);
    if (partial.filled < partial.header.size) return;
    pending_[static_cast<std::size_t>(source)].push_back(
        {partial.header.tag, partial.header.type, std::move(partial.bytes)});
    partial = Partial{};
  }
}

void Group::complete_partial(int source) {
  Partial& partial = partial_[static_cast<std::size_t>(source)];
  if (!partial.active) return;
  read_payload(source, detail::MutableBytes(partial.bytes).subspan(partial.filled));
  pending_[static_cast<std::size_t>(source)].push_back(
      {partial.header.tag, partial.header.type, std::move(partial.bytes)});
  partial = Partial{};
}

void Group::stash(int source, const MessageHeader& header) {
  partial_[static_cast<std::size_t>(source)] = {header, std::vector<std::byte>(header.size), 0,
                                                true};
  complete_partial(source);
}

void Group::throw_order_mismatch(int source, int expected_tag, int got_tag) {
  throw UsageError("fork: collectives called in a different order: process " +
                   std::to_string(self_) + " is in " + detail::describe_tag(expected_tag) +
                   " but process " + std::to_string(source) + " is in " +
                   detail::describe_tag(got_tag));
}

void Group::receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink) {
  enter(tag);
  complete_partial(source);
  auto& queue = pending_[static_cast<std::size_t>(source)];
  for (auto it = queue.begin(); it != queue.end(); ++it) {
    if (it->tag == tag) {
      if (it->type != type) detail::throw_receive_type_mismatch(source, tag);
      const auto target = sink.prepare(it->bytes.size());
      if (!it->bytes.empty()) std::memcpy(target.data(), it->bytes.data(), it->bytes.size());
      queue.erase(it);
      return;
    }
    if (detail::is_collective_tag(tag) && detail::is_collective_tag(it->tag)) {
      throw_order_mismatch(source, tag, it->tag);
    }
  }
  for (;;) {
    const MessageHeader header = read_header(source);
    if (header.tag == tag && header.type == type) {
      detail::MutableBytes target;
      try {
        target = sink.prepare(header.size);
      } catch (...) {
        stash(source, header);  // keep the stream in step; the message stays receivable
        throw;
      }
      if (target.size() != header.size) throw Error("fork: a sink prepared the wrong size");
      read_payload(source, target);
      return;
    }
    stash(source, header);
    if (header.tag == tag) detail::throw_receive_type_mismatch(source, tag);
    if (detail::is_collective_tag(tag) && detail::is_collective_tag(header.tag)) {
      throw_order_mismatch(source, tag, header.tag);
    }
  }
}

bool Group::probe(int source, int tag) {
  // Never blocks: messages with other tags that have arrived move to the pending queue (one
  // still arriving is read as far as it has come), and a message with `tag` is left in place.
  drain(source, tag);
  for (const auto& pending : pending_[static_cast<std::size_t>(source)]) {
    if (pending.tag == tag) return true;
  }
  const Partial& partial = partial_[static_cast<std::size_t>(source)];
  if (partial.active) return partial.header.tag == tag;
  // drain() stopped before a whole header, or before a header with `tag`.
  return channel(source, self_).readable() >= sizeof(MessageHeader);
}

int Group::wait_any(int tag) {
  enter(tag);
  for (;;) {
    for (int source = 0; source < nprocs_; ++source) {
      if (source != self_ && probe(source, tag)) return source;
    }
    wait(
        [&] {
          for (int source = 0; source < nprocs_; ++source) {
            if (source == self_) continue;
            const std::size_t arrived = channel(source, self_).readable();
            // Any byte moves a partly read message on; otherwise wait for a whole header.
            if (partial_[static_cast<std::size_t>(source)].active
                    ? arrived > 0
                    : arrived >= sizeof(MessageHeader)) {
              return true;
            }
          }
          return false;
        },
        -1, "a message");
  }
}

}  // namespace unipar::fork_detail
