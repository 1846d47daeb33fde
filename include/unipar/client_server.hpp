/// @file client_server.hpp
/// @brief ClientServerRunner: main runs a client that submits requests, the other processes
/// serve them with a handler (`concurrent.futures`' `submit` / `as_completed` / `result()`).
/// @code
/// unipar::ClientServerRunner<double, double> runner(par, [](const double& x) { return f(x); });
/// double total = runner.run([](unipar::Client<double, double>& client) {
///   std::vector<unipar::Future<double>> futures;
///   for (double x : inputs) futures.push_back(client.submit(x));
///   double sum = 0;
///   for (auto& future : unipar::as_completed(futures)) sum += future.get();
///   return sum;
/// });
/// @endcode
///
/// Built on the task farm's parts (detail/farm_support.hpp): main's dispatcher thread
/// (ServiceThread) owns the transport while the client runs on main's own thread; requests go to
/// the servers in batches sized by the farm's ChunkSizer from each server's measured cost (one
/// request at a time when they are slow, thousands when they are tiny), at most two batches in
/// flight per server so that none idles between batches; the dispatcher polls with
/// Transport::poll_any (failures are seen as in any wait) and the farm's IdlePacer.
#pragma once

#include <unistd.h>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "unipar/detail/farm_support.hpp"
#include "unipar/detail/transport.hpp"
#include "unipar/parallelizer.hpp"

namespace unipar {

template <class Request, class Response>
class ClientServerRunner;
template <class Request, class Response>
class Client;

namespace detail {

/// What every future of one runner waits on; `completed` lists the states in the order they
/// became ready (as_completed follows it instead of scanning every future).
struct ServeSignal {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<const void*> completed;
  /// How many client calls wait for a response now: while one does, the client's thread is
  /// idle, and the dispatcher polls without sleeping so that the answer is taken at once.
  std::atomic<int> waiting{0};
};

/// Counts a wait of the client's thread in ServeSignal::waiting.
class Waiting {
 public:
  explicit Waiting(ServeSignal& signal) : signal_(signal) { signal_.waiting.fetch_add(1); }
  ~Waiting() { signal_.waiting.fetch_sub(1); }
  Waiting(const Waiting&) = delete;
  Waiting& operator=(const Waiting&) = delete;

 private:
  ServeSignal& signal_;
};

template <class T>
struct FutureState {
  std::shared_ptr<ServeSignal> signal;
  bool ready = false;  // guarded by signal->mutex
  std::optional<T> value;
  std::exception_ptr error;

  void fulfil(std::optional<T> result, std::exception_ptr failure) {
    {
      const std::lock_guard lock(signal->mutex);
      set(std::move(result), std::move(failure));
    }
    signal->changed.notify_all();
  }
  /// fulfil() without the lock and the wake-up, for a whole batch under one of each.
  void set(std::optional<T> result, std::exception_ptr failure) {
    value = std::move(result);
    error = std::move(failure);
    ready = true;
    signal->completed.push_back(this);
  }
};

/// Header of a batch of requests (main -> server) or of responses (server -> main).
struct ServeBatch {
  std::uint64_t first;   // the id of the first request in it
  std::uint64_t count;   // requests: 0 tells the server to stop
  std::uint64_t failed;  // responses: how many requests threw (their texts follow)
  double nanoseconds;    // responses: the handler's time for the batch
};

}  // namespace detail

/// The eventual response to one request (move-only).
template <class T>
class Future {
 public:
  Future() = default;
  Future(Future&&) noexcept = default;
  Future& operator=(Future&&) noexcept = default;
  Future(const Future&) = delete;
  Future& operator=(const Future&) = delete;

  /// Waits for the response and returns it; rethrows what the handler threw as WorkerError
  /// (server id, pid, host, type and message), or WorkerLost / another error of the run.
  /// @throws UsageError on a future without a request (default-constructed, moved from, or
  /// already taken with get()).
  T get() {
    check("get");
    wait();
    auto state = std::move(state_);
    if (state->error) std::rethrow_exception(state->error);
    return std::move(*state->value);
  }
  /// Whether get() would return at once.
  bool ready() const {
    check("ready");
    const std::lock_guard lock(state_->signal->mutex);
    return state_->ready;
  }
  void wait() const {
    check("wait");
    const detail::Waiting waiting(*state_->signal);
    std::unique_lock lock(state_->signal->mutex);
    state_->signal->changed.wait(lock, [&] { return state_->ready; });
  }
  /// Waits at most `timeout`; returns whether the response is there.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    check("wait_for");
    const detail::Waiting waiting(*state_->signal);
    std::unique_lock lock(state_->signal->mutex);
    return state_->signal->changed.wait_for(lock, timeout, [&] { return state_->ready; });
  }
  /// Whether this future stands for a request (false once get() took its response).
  bool valid() const noexcept { return state_ != nullptr; }

 private:
  template <class Request, class Response>
  friend class Client;
  template <class U>
  friend class Completions;

  explicit Future(std::shared_ptr<detail::FutureState<T>> state) : state_(std::move(state)) {}
  void check(const char* operation) const {
    if (!state_) {
      throw UsageError(std::string("Future::") + operation +
                       ": this future has no request (default-constructed, moved from, or its "
                       "response was already taken with get())");
    }
  }

  std::shared_ptr<detail::FutureState<T>> state_;
};

/// as_completed(futures): the futures in the order their responses arrive.
template <class T>
class Completions {
 public:
  explicit Completions(std::vector<Future<T>>& futures) : futures_(futures) {
    for (std::size_t i = 0; i < futures.size(); ++i) {
      if (!futures[i].valid()) continue;
      if (!signal_) signal_ = futures[i].state_->signal;
      if (futures[i].state_->signal != signal_) {
        throw UsageError("as_completed: the futures come from different runners");
      }
    }
    if (!signal_) return;
    const std::lock_guard lock(signal_->mutex);
    seen_ = signal_->completed.size();
    for (std::size_t i = 0; i < futures.size(); ++i) {
      if (!futures[i].valid()) continue;
      if (futures[i].state_->ready) {
        ready_.push_back(i);
      } else {
        waiting_.emplace(futures[i].state_.get(), i);
      }
    }
  }

  class iterator {
   public:
    using value_type = Future<T>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Completions* owner) : owner_(owner) { advance(); }
    Future<T>& operator*() const { return owner_->futures_[current_]; }
    Future<T>* operator->() const { return &owner_->futures_[current_]; }
    iterator& operator++() {
      advance();
      return *this;
    }
    bool operator==(std::default_sentinel_t) const { return owner_ == nullptr; }

   private:
    void advance() {
      if (!owner_->next(current_)) owner_ = nullptr;
    }
    Completions* owner_ = nullptr;
    std::size_t current_ = 0;
  };

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  /// The next future to yield: one ready before the call, else the next one to complete
  /// (waiting for it); false when all were yielded.
  bool next(std::size_t& index) {
    if (cursor_ < ready_.size()) {
      index = ready_[cursor_++];
      return true;
    }
    if (waiting_.empty()) return false;
    const detail::Waiting waiting(*signal_);
    std::unique_lock lock(signal_->mutex);
    for (;;) {
      for (; seen_ < signal_->completed.size(); ++seen_) {
        const auto found = waiting_.find(signal_->completed[seen_]);
        // The address of a state that completed and was freed may be reused by one of ours
        // that is not ready yet: it is taken when it really completes.
        if (found == waiting_.end() || !futures_[found->second].state_->ready) continue;
        index = found->second;
        waiting_.erase(found);
        ++seen_;
        return true;
      }
      signal_->changed.wait(lock);
    }
  }

  std::vector<Future<T>>& futures_;
  std::shared_ptr<detail::ServeSignal> signal_;
  std::vector<std::size_t> ready_;  // ready before the call, in input order
  std::size_t cursor_ = 0;
  std::unordered_map<const void*, std::size_t> waiting_;  // state -> index in futures_
  std::size_t seen_ = 0;                                  // entries of signal_->completed looked at
};

/// The futures in completion order, usable in a range-for: each is yielded once its response
/// (or failure) is there. All must come from one runner.
template <class T>
Completions<T> as_completed(std::vector<Future<T>>& futures) {
  return Completions<T>(futures);
}

/// Waits until every future is ready.
template <class T>
void wait_all(const std::vector<Future<T>>& futures) {
  for (const auto& future : futures) {
    if (future.valid()) future.wait();
  }
}

/// The client's side of a ClientServerRunner: submits requests to the servers.
template <class Request, class Response>
class Client {
 public:
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Queues `request` and returns at once; the dispatcher hands it to a server as one becomes
  /// free. On one process, the request is served here, at once.
  Future<Response> submit(Request request) {
    auto state = std::make_shared<detail::FutureState<Response>>();
    state->signal = signal_;
    if (local_ != nullptr) {
      serve_here(std::move(request), *state);
      return Future<Response>(std::move(state));
    }
    std::exception_ptr failed;
    bool wake = false;
    {
      const std::lock_guard lock(signal_->mutex);
      failed = failed_;
      if (!failed) queue_.push_back({next_id_++, std::move(request), state});
      wake = idle_;
    }
    if (failed) {
      state->fulfil(std::nullopt, failed);  // the run failed: nobody is left to serve it
    } else if (wake) {
      work_.notify_one();  // only when the dispatcher sleeps: a notify is a system call
    }
    return Future<Response>(std::move(state));
  }
  /// submit(request).get().
  Response call(Request request) { return submit(std::move(request)).get(); }
  /// How many processes serve (1 when main serves alone).
  int servers() const noexcept { return servers_; }

 private:
  friend class ClientServerRunner<Request, Response>;
  using Handler = std::function<Response(const Request&)>;

  struct Queued {
    std::uint64_t id;
    Request request;
    std::shared_ptr<detail::FutureState<Response>> state;
    bool alone = false;  // was in the batch of a server that died: sent in a batch of its own
  };

  Client(Handler* local, int servers) : local_(local), servers_(servers) {}

  void serve_here(Request request, detail::FutureState<Response>& state) {
    try {
      state.fulfil((*local_)(request), nullptr);
    } catch (...) {
      const auto text = detail::describe_exception_text(std::current_exception());
      state.fulfil(std::nullopt,
                   std::make_exception_ptr(WorkerError(0, getpid(), host(), text.type_name,
                                                       text.message, std::nullopt)));
    }
  }
  static std::string host() {
    char name[256] = {};
    gethostname(name, sizeof name - 1);
    return name;
  }

  Handler* local_;  // serving alone: the handler; else null
  int servers_;
  std::shared_ptr<detail::ServeSignal> signal_ = std::make_shared<detail::ServeSignal>();
  std::condition_variable work_;  // the dispatcher waits here for requests (signal_->mutex)
  std::deque<Queued> queue_;      // submitted, not yet sent (signal_->mutex)
  std::uint64_t next_id_ = 0;
  bool closing_ = false;       // the client returned: finish what was submitted (signal_->mutex)
  std::exception_ptr failed_;  // the run failed: new requests fail at once (signal_->mutex)
  bool idle_ = false;          // the dispatcher waits on work_ (signal_->mutex)
};

/// Runs a client function on main while every other process serves its requests.
/// @tparam Request, Response transferable types (plain or serialized).
template <class Request, class Response>
class ClientServerRunner {
 public:
  /// @param handler `Response handler(const Request&)`, called on the servers (copied to each;
  /// it may keep state between requests, e.g. an expensive object built on first use).
  template <class Handler>
  requires std::is_invocable_r_v<Response, Handler&, const Request&> ClientServerRunner(
      Parallelizer& par, Handler handler)
      : par_(par), handler_(std::move(handler)) {
    detail::check_transferable<Request>();
    detail::check_transferable<Response>();
  }

  /// Calls `client(Client&)` on main while the other processes serve; returns the client's
  /// result on main (a value-initialized one elsewhere). Every request submitted is answered
  /// before it returns. Outside `run` the fork backend forks for the call; inside `run` every
  /// process calls it (a collective).
  template <class C>
  requires std::invocable < C&, Client<Request, Response>
  & > auto run(C&& client) -> std::invoke_result_t<C&, Client<Request, Response>&> {
    using R = std::invoke_result_t<C&, Client<Request, Response>&>;
    static_assert(std::is_void_v<R> || std::is_default_constructible_v<R>,
                  "ClientServerRunner::run: the client's result must be default-constructible "
                  "(the servers return one)");
    if (par_.in_run()) return run_on(par_, client);
    return par_.run([&](Parallelizer& par) { return run_on(par, client); });
  }

 private:
  using Handler = std::function<Response(const Request&)>;
  using ClientType = Client<Request, Response>;
  // A server's batch: at least ~50 us of work (tiny requests go by thousands), at most ~2 ms
  // (a slow one alone, so that a server is never far behind the others at the end).
  static constexpr double batch_floor_ns = 50'000;
  static constexpr double batch_ceiling_ns = 2'000'000;
  static constexpr std::uint64_t max_batch = 65536;
  static constexpr int batches_in_flight = 2;
  static constexpr int linger_rounds = 64;
  static constexpr int eager_rounds = 256;

  template <class C>
  auto run_on(Parallelizer& par, C& client) -> std::invoke_result_t<C&, ClientType&> {
    using R = std::invoke_result_t<C&, ClientType&>;
    detail::Transport t = par.transport();
    const auto scope = t.begin_collective(detail::Op::serve);
    const int tag = t.next_collective_tag();
    if (t.nprocs() == 1) {
      ClientType alone(&handler_, 1);
      return client(alone);
    }
    if (t.id() != 0) {
      serve(t, tag);
      if constexpr (!std::is_void_v<R>)
        return R{};
      else
        return;
    }
    if (!t.capabilities().serialized_threads) {
      throw UsageError(
          "ClientServerRunner: main's dispatcher thread calls MPI while the client runs, which "
          "needs MPI initialized with MPI_THREAD_SERIALIZED or more (initialize it so, or let "
          "MpiParallelizer initialize it)");
    }
    ClientType front(nullptr, t.nprocs() - 1);
    // A server that dies fails only what it held (fork); under MPI a dead rank ends the job.
    tolerant_ = t.tolerate_worker_loss(true);
    struct Intolerant {
      detail::Transport& t;
      bool on;
      ~Intolerant() {
        if (on) t.tolerate_worker_loss(false);
      }
    } intolerant{t, tolerant_};
    std::exception_ptr failure;
    detail::ServiceThread dispatcher(
        t.service_host(), [&](const std::atomic<bool>& stop) { dispatch(t, tag, front, stop); },
        [&](std::exception_ptr error) { failure = std::move(error); });
    const auto close = [&] {
      {
        const std::lock_guard lock(front.signal_->mutex);
        front.closing_ = true;
      }
      front.work_.notify_one();
      dispatcher.finish();
    };
    // A failure of the run reached the client through the futures; it still ends the run.
    if constexpr (std::is_void_v<R>) {
      client(front);
      close();
      if (failure) std::rethrow_exception(failure);
    } else {
      R result = client(front);
      close();
      if (failure) std::rethrow_exception(failure);
      return result;
    }
  }

  // ---- main's dispatcher ----------------------------------------------------------------------

  struct Batch {
    std::uint64_t first;
    std::vector<typename ClientType::Queued> entries;  // requests kept until answered
  };

  struct Server {
    detail::ChunkSizer sizer;
    std::deque<Batch> in_flight;
    pid_t pid = 0;
    std::string host;
    bool dead = false;
  };

  void dispatch(detail::Transport& t, int tag, ClientType& front, const std::atomic<bool>& stop) {
    std::vector<Server> servers;
    try {
      serve_requests(t, tag, front, stop, servers);
    } catch (...) {
      fail_all(front, servers, std::current_exception());
      throw;
    }
  }

  void serve_requests(detail::Transport& t, int tag, ClientType& front,
                      const std::atomic<bool>& stop, std::vector<Server>& servers) {
    for (int s = 0; s < t.nprocs(); ++s) {
      servers.push_back({{0, t.nprocs(), batch_floor_ns, batch_ceiling_ns}, {}, 0, {}, false});
    }
    detail::IdlePacer pacer;
    std::size_t outstanding = 0;  // batches sent, not yet answered
    int lingered = 0;             // rounds with nothing in flight and nothing queued
    int eager = 0;                // rounds polled at once while the client waits
    int alive = t.nprocs() - 1;
    // A server that died while the backend tolerates it (fork) fails the request it was
    // computing; what it had not begun goes back to the queue for the others.
    const auto lost = [&](const WorkerLost& error) {
      if (!tolerant_ || error.process() < 1 || error.process() >= t.nprocs()) throw;
      Server& server = servers[static_cast<std::size_t>(error.process())];
      if (server.dead) return;
      server.dead = true;
      --alive;
      outstanding -= server.in_flight.size();
      requeue_from_dead(front, server, std::make_exception_ptr(error));
      if (alive == 0) fail_all(front, servers, std::make_exception_ptr(error));
    };
    for (;;) {
      if (stop.load(std::memory_order_relaxed)) return;
      bool busy = false;
      // Send: to every server with room, a batch from the queue.
      for (int s = 1; s < t.nprocs(); ++s) {
        Server& server = servers[static_cast<std::size_t>(s)];
        if (server.dead || server.in_flight.size() >= batches_in_flight) continue;
        Batch batch = take_batch(front, server);
        if (batch.entries.empty()) break;
        try {
          send_batch(t, tag, s, batch);
        } catch (const WorkerLost& error) {
          server.in_flight.push_back(std::move(batch));
          ++outstanding;
          lost(error);
          continue;
        }
        server.in_flight.push_back(std::move(batch));
        ++outstanding;
        busy = true;
      }
      // Receive: one batch of responses, if one is there.
      try {
        if (const int s = ready_server(t, tag, servers); s >= 0) {
          take_responses(t, tag, s, servers[static_cast<std::size_t>(s)]);
          --outstanding;
          busy = true;
        }
      } catch (const WorkerLost& error) {
        lost(error);
        busy = true;
      }
      if (busy) {
        pacer.busy();
        eager = 0;
        continue;
      }
      if (outstanding > 0) {
        // While the client waits its core is free: poll at once for a while (an answer to a
        // short request comes within microseconds), then sleep as usual, so that a long wait
        // does not take a core from the servers.
        if (front.signal_->waiting.load(std::memory_order_relaxed) > 0 && ++eager < eager_rounds) {
          std::this_thread::yield();
        } else {
          pacer.idle();
        }
        continue;
      }
      // Nothing in flight: a client that just got its answer often asks again at once, so look
      // at the queue for a few rounds before sleeping on it.
      if (++lingered < linger_rounds) {
        std::this_thread::yield();
        const std::lock_guard lock(front.signal_->mutex);
        if (front.queue_.empty() && front.closing_) break;
        if (!front.queue_.empty()) lingered = 0;
        continue;
      }
      lingered = 0;
      // Then wait for requests (or the client's return), looking for failures of the run now
      // and then.
      std::unique_lock lock(front.signal_->mutex);
      if (front.queue_.empty() && front.closing_) break;
      front.idle_ = true;
      front.work_.wait_for(lock, std::chrono::milliseconds(1),
                           [&] { return !front.queue_.empty() || front.closing_; });
      front.idle_ = false;
    }
    for (int s = 1; s < t.nprocs(); ++s) {
      if (!servers[static_cast<std::size_t>(s)].dead) {
        send_plain(t, s, tag, detail::ServeBatch{0, 0, 0, 0});
      }
    }
  }

  /// A server whose responses can be taken now, or -1. One look of a wait (failures of the
  /// run are seen); when losses are tolerated, servers that died are not looked at again.
  int ready_server(detail::Transport& t, int tag, const std::vector<Server>& servers) const {
    if (!tolerant_) return t.poll_any(tag);
    for (int s = 1; s < t.nprocs(); ++s) {
      if (!servers[static_cast<std::size_t>(s)].dead && t.probe(s, tag)) return s;
    }
    return -1;
  }

  /// The next batch for `server` from the queue (empty when the queue is).
  static Batch take_batch(ClientType& front, const Server& server) {
    Batch batch{0, {}};
    const std::lock_guard lock(front.signal_->mutex);
    if (front.queue_.empty()) return batch;
    std::size_t count = std::min<std::size_t>(server.sizer.next(front.queue_.size()), max_batch);
    if (front.queue_.front().alone) count = 1;
    batch.first = front.queue_.front().id;
    batch.entries.reserve(count);
    for (std::size_t i = 0;
         i < count && !front.queue_.empty() && !(i > 0 && front.queue_.front().alone); ++i) {
      batch.entries.push_back(std::move(front.queue_.front()));
      front.queue_.pop_front();
    }
    return batch;
  }

  static void send_batch(detail::Transport& t, int tag, int s, const Batch& batch) {
    std::vector<Request> requests;
    requests.reserve(batch.entries.size());
    for (const auto& entry : batch.entries) requests.push_back(entry.request);
    send_plain(t, s, tag, detail::ServeBatch{batch.first, requests.size(), 0, 0});
    const detail::Encoded<std::vector<Request>> encoded(requests);
    t.send(s, tag, detail::fingerprint_v<std::vector<Request>>, encoded.bytes());
  }

  /// A server died: the request it was computing (the first of its oldest batch, when that
  /// batch held one request) fails with `error`; every other request it held goes back to the
  /// front of the queue, those of its oldest batch each in a batch of its own, so that a request
  /// that kills servers is found and failed alone.
  static void requeue_from_dead(ClientType& front, Server& server,
                                const std::exception_ptr& error) {
    std::deque<Batch> batches;
    batches.swap(server.in_flight);
    if (!batches.empty() && batches.front().entries.size() == 1) {
      batches.front().entries.front().state->fulfil(std::nullopt, error);
      batches.pop_front();
    } else if (!batches.empty()) {
      for (auto& entry : batches.front().entries) entry.alone = true;
    }
    const std::lock_guard lock(front.signal_->mutex);
    for (auto batch = batches.rbegin(); batch != batches.rend(); ++batch) {
      for (auto entry = batch->entries.rbegin(); entry != batch->entries.rend(); ++entry) {
        front.queue_.push_front(std::move(*entry));
      }
    }
  }

  void take_responses(detail::Transport& t, int tag, int s, Server& server) {
    detail::ServeBatch header{};
    receive_plain(t, s, tag, header);
    if (server.in_flight.empty() || header.first != server.in_flight.front().first ||
        header.count != server.in_flight.front().entries.size() || header.failed > header.count) {
      detail::throw_corrupt("ClientServerRunner", "response batch");
    }
    // The batch stays in flight until everything about it has been received and checked: a
    // corrupt answer fails the run, and fail_all then fails the batch's futures too.
    std::vector<Response> responses;
    {
      detail::Decoder<std::vector<Response>> decoder(responses);
      t.receive(s, tag, detail::fingerprint_v<std::vector<Response>>, decoder);
      decoder.finish();
    }
    if (responses.size() != header.count) detail::throw_corrupt("ClientServerRunner", "responses");
    std::vector<std::uint64_t> failed;
    std::string texts;
    if (header.failed > 0) {
      receive_value(t, s, tag, failed);
      receive_value(t, s, tag, texts);
      if (failed.size() != header.failed) detail::throw_corrupt("ClientServerRunner", "failures");
      for (std::size_t i = 0; i < failed.size(); ++i) {
        if (failed[i] >= header.count || (i > 0 && failed[i] <= failed[i - 1])) {
          detail::throw_corrupt("ClientServerRunner", "failed request");
        }
      }
      if (server.pid == 0) receive_identity(t, s, tag, server);
    }
    std::size_t text_at = 0;
    std::vector<std::exception_ptr> errors(failed.size());
    for (auto& error : errors) {
      const std::string type = take_text(texts, text_at);
      const std::string message = take_text(texts, text_at);
      error = std::make_exception_ptr(
          WorkerError(s, server.pid, server.host, type, message, std::nullopt));
    }
    Batch batch = std::move(server.in_flight.front());
    server.in_flight.pop_front();
    server.sizer.record(header.count, header.nanoseconds);
    // The whole batch under one lock and one wake-up: a wake-up per response would cost more
    // than a tiny request.
    std::size_t next_failure = 0;
    {
      const std::lock_guard lock(batch.entries.front().state->signal->mutex);
      for (std::size_t i = 0; i < responses.size(); ++i) {
        if (next_failure < failed.size() && failed[next_failure] == i) {
          batch.entries[i].state->set(std::nullopt, errors[next_failure++]);
        } else {
          batch.entries[i].state->set(std::move(responses[i]), nullptr);
        }
      }
    }
    batch.entries.front().state->signal->changed.notify_all();
  }

  static std::string take_text(const std::string& texts, std::size_t& at) {
    const std::size_t end = texts.find('\0', at);
    if (end == std::string::npos) detail::throw_corrupt("ClientServerRunner", "failure text");
    std::string text = texts.substr(at, end - at);
    at = end + 1;
    return text;
  }

  /// The run failed (a server lost, a failure elsewhere): every request not yet answered
  /// fails with it, and so does every later one, so no future waits forever.
  static void fail_all(ClientType& front, std::vector<Server>& servers,
                       const std::exception_ptr& error) {
    std::deque<typename ClientType::Queued> queued;
    {
      const std::lock_guard lock(front.signal_->mutex);
      queued.swap(front.queue_);
      front.failed_ = error;
    }
    for (auto& entry : queued) entry.state->fulfil(std::nullopt, error);
    for (Server& server : servers) {
      for (Batch& batch : server.in_flight) {
        for (auto& entry : batch.entries) entry.state->fulfil(std::nullopt, error);
      }
      server.in_flight.clear();
    }
  }

  // ---- a server -------------------------------------------------------------------------------

  void serve(detail::Transport& t, int tag) {
    std::vector<Request> requests;
    std::vector<Response> responses;
    bool identified = false;
    for (;;) {
      detail::ServeBatch header{};
      receive_plain(t, 0, tag, header);
      if (header.count == 0) return;
      requests.clear();
      {
        detail::Decoder<std::vector<Request>> decoder(requests);
        t.receive(0, tag, detail::fingerprint_v<std::vector<Request>>, decoder);
        decoder.finish();
      }
      if (requests.size() != header.count) detail::throw_corrupt("ClientServerRunner", "requests");
      responses.assign(requests.size(), Response{});
      std::vector<std::uint64_t> failed;
      std::string texts;
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < requests.size(); ++i) {
        try {
          responses[i] = handler_(requests[i]);
        } catch (...) {
          // The concurrent.futures contract: this request fails, the server goes on.
          const auto text = detail::describe_exception_text(std::current_exception());
          failed.push_back(i);
          texts += text.type_name + '\0' + text.message + '\0';
        }
      }
      const double ns =
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
              .count();
      send_plain(t, 0, tag, detail::ServeBatch{header.first, header.count, failed.size(), ns});
      const detail::Encoded<std::vector<Response>> encoded(responses);
      t.send(0, tag, detail::fingerprint_v<std::vector<Response>>, encoded.bytes());
      if (!failed.empty()) {
        send_value(t, 0, tag, failed);
        send_value(t, 0, tag, texts);
        if (!identified) {
          send_identity(t, tag);
          identified = true;
        }
      }
    }
  }

  /// A server's pid and host, sent with its first failure (WorkerError names them).
  void send_identity(detail::Transport& t, int tag) {
    send_plain(t, 0, tag, static_cast<std::int64_t>(getpid()));
    send_value(t, 0, tag, ClientType::host());
  }
  void receive_identity(detail::Transport& t, int s, int tag, Server& server) {
    std::int64_t pid = 0;
    receive_plain(t, s, tag, pid);
    server.pid = static_cast<pid_t>(pid);
    receive_value(t, s, tag, server.host);
  }

  // ---- helpers --------------------------------------------------------------------------------

  template <class P>
  static void send_plain(detail::Transport& t, int to, int tag, const P& value) {
    t.send(to, tag, detail::fingerprint_v<P>, std::as_bytes(std::span<const P, 1>(&value, 1)));
  }
  template <class P>
  static void receive_plain(detail::Transport& t, int from, int tag, P& value) {
    detail::Decoder<P> decoder(value);
    t.receive(from, tag, detail::fingerprint_v<P>, decoder);
  }
  template <class V>
  static void send_value(detail::Transport& t, int to, int tag, const V& value) {
    const detail::Encoded<V> encoded(value);
    t.send(to, tag, detail::fingerprint_v<V>, encoded.bytes());
  }
  template <class V>
  static void receive_value(detail::Transport& t, int from, int tag, V& value) {
    detail::Decoder<V> decoder(value);
    t.receive(from, tag, detail::fingerprint_v<V>, decoder);
    decoder.finish();
  }

  Parallelizer& par_;
  Handler handler_;
  bool tolerant_ = false;  // this run's backend lets a server die without failing the run
};

}  // namespace unipar
