/// @file farm_support.hpp
/// @brief The task farm's parts that are not templates: the claim word, chunk sizing, item
/// failures and the pacing of MPI's dispatcher thread (compiled once, in src/core/farm.cpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace unipar::detail {

/// Thrown on a worker when `f(item)` throws; the backend reports it as a WorkerError with the
/// item's index.
class ItemFailure : public std::exception {
 public:
  ItemFailure(std::size_t item, std::exception_ptr cause) : item_(item), cause_(std::move(cause)) {}
  const char* what() const noexcept override { return "a map item failed"; }
  std::size_t item() const noexcept { return item_; }
  const std::exception_ptr& cause() const noexcept { return cause_; }

 private:
  std::size_t item_;
  std::exception_ptr cause_;
};

/// The WorkerError main reports for an item that failed on main itself.
[[noreturn]] void throw_item_failure_on_main(std::size_t item, std::exception_ptr cause);

/// A half-open range of items [begin, begin + count); count 0: nothing left.
struct Span {
  std::uint64_t begin = 0;
  std::uint64_t count = 0;
};

/// How many items a process takes next. Fixed (`MapOptions::chunk`), or guided self-scheduling
/// (remaining / 2P, shrinking toward the end) between a floor of about `floor_ns` of work and a
/// ceiling of about `ceiling_ns`, from the cost per item this process measured; the very first
/// chunk is one item, to measure.
class ChunkSizer {
 public:
  ChunkSizer(std::size_t fixed, int nprocs, double floor_ns, double ceiling_ns) noexcept
      : fixed_(fixed),
        nprocs_(static_cast<std::size_t>(nprocs)),
        floor_ns_(floor_ns),
        ceiling_ns_(ceiling_ns) {}

  std::size_t next(std::size_t remaining) const noexcept;
  void record(std::uint64_t count, double nanoseconds) noexcept {
    items_ += count;
    nanoseconds_ += nanoseconds;
  }
  std::uint64_t measured_items() const noexcept { return items_; }
  double measured_ns() const noexcept { return nanoseconds_; }
  /// Takes another process's totals (MPI's dispatcher sizes each worker's chunks by its cost).
  void assign(std::uint64_t items, double nanoseconds) noexcept {
    items_ = items;
    nanoseconds_ = nanoseconds;
  }

 private:
  std::size_t fixed_;
  std::size_t nprocs_;
  double floor_ns_;
  double ceiling_ns_;
  std::uint64_t items_ = 0;
  double nanoseconds_ = 0;
};

/// The claim counter of one farm call: the index of the next unclaimed item, in a word every
/// claimer can update (fork: shared memory; MPI: main's memory, claimed for the workers by the
/// dispatcher thread). The word's high bits hold the call's epoch (its collective sequence), so
/// that a process still in an earlier call never takes items of a later one.
class Claims {
 public:
  static constexpr int index_bits = 40;
  static constexpr std::uint64_t index_mask = (std::uint64_t{1} << index_bits) - 1;

  Claims(std::atomic<std::uint64_t>& word, std::uint64_t epoch, std::uint64_t total) noexcept
      : word_(word), epoch_(epoch & 0xFFFFFF), total_(total) {}

  /// Main, before any process claims: the call begins at item 0.
  void open() noexcept { word_.store(epoch_ << index_bits, std::memory_order_release); }
  /// Takes the next `sizer.next(remaining)` items; count 0 when none are left.
  Span claim(const ChunkSizer& sizer) noexcept;
  /// How many items have been claimed (from item 0 on).
  std::uint64_t claimed() const noexcept;
  /// Leaves nothing more to claim (main, when the call fails).
  void close() noexcept;

 private:
  std::atomic<std::uint64_t>& word_;
  std::uint64_t epoch_;
  std::uint64_t total_;
};

/// Starts a thread with every signal blocked, so that signals meant for the process (fork's
/// SIGCHLD handler, which main's thread keeps from running at the wrong moments by blocking it,
/// or the program's own) are never run on a thread of the library's.
std::thread thread_without_signals(std::function<void()> body);

/// The one thread a process keeps for ServiceThread bodies during a run (Parallelizer owns it,
/// creates it at the first use in a run and joins it when the run ends, so that no such thread
/// exists when fork forks). Starting a thread costs about 50 us on some machines, more than a
/// small map call; handing a parked thread a body costs a wake-up.
class ServiceHost {
 public:
  /// A body for the thread (it must outlive its run()).
  class Job {
   public:
    virtual void run() noexcept = 0;

   protected:
    ~Job() = default;
  };

  ServiceHost() = default;
  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  /// Runs `job` on the thread (started at the first job); false when a job is running already
  /// (one inside another, e.g. a map inside a client/server runner's client).
  bool try_start(Job& job);
  /// Takes `job` back if the thread has not begun it (then it never runs); false otherwise.
  bool withdraw(Job& job);
  /// Waits until the job started last has returned.
  void wait();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable changed_;
  Job* job_ = nullptr;   // given and not yet finished
  bool picked_ = false;  // job_ is running
  bool quit_ = false;
  std::thread thread_;
};

/// A body on main's service thread that owns the transport while main's own thread runs the
/// user's code (the farm's dispatcher, the client/server runner's): `body(stop)` runs there,
/// and when it ends, by returning or throwing, `ended(error)` is called there. Destroying it
/// (main leaving by an exception) asks the body to stop and waits for it, as stop() does;
/// finish() waits without asking (the body ends by itself).
class ServiceThread final : private ServiceHost::Job {
 public:
  template <class Body, class Ended>
  ServiceThread(ServiceHost& host, Body body, Ended ended)
      : host_(host), body_([this, body = std::move(body), ended = std::move(ended)]() mutable {
          std::exception_ptr error;
          try {
            body(static_cast<const std::atomic<bool>&>(stop_));
          } catch (...) {
            error = std::current_exception();
          }
          ended(error);
        }) {
    if (!host_.try_start(*this)) own_ = thread_without_signals([this] { run(); });
  }
  ~ServiceThread() { stop(); }
  ServiceThread(const ServiceThread&) = delete;
  ServiceThread& operator=(const ServiceThread&) = delete;

  void finish() {
    if (own_.joinable()) {
      own_.join();
    } else if (running_) {
      host_.wait();
    }
    running_ = false;
  }
  /// Asks the body to stop and waits for it; a body the thread has not begun yet never runs
  /// (nor does `ended`).
  void stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (running_ && !own_.joinable() && host_.withdraw(*this)) running_ = false;
    finish();
  }

 private:
  void run() noexcept override { body_(); }

  ServiceHost& host_;
  std::atomic<bool> stop_{false};
  std::function<void()> body_;
  bool running_ = true;
  std::thread own_;  // when the host was busy
};

/// The demangled type and what() of an exception (a handler's, reported to main).
struct ExceptionText {
  std::string type_name;
  std::string message;
};
ExceptionText describe_exception_text(std::exception_ptr error);

/// Paces a polling loop that must not take a core from the computation beside it (MPI's
/// dispatcher thread): polls again at once a few times after traffic, then sleeps, doubling
/// the sleep up to about half a millisecond while nothing arrives.
class IdlePacer {
 public:
  /// Asks the kernel for fine-grained sleeps on the calling thread.
  IdlePacer() noexcept;
  void busy() noexcept { idle_ = 0; }
  void idle() noexcept;

 private:
  unsigned idle_ = 0;
};

}  // namespace unipar::detail
