/// @file farm.hpp
/// @brief The task farm: the one engine behind `map` and `map_each` (and the layers after).
///
/// Every process claims chunks of items from a claim counter (detail::Claims) as it becomes
/// free and sends main its results. On main a dispatcher thread owns the transport and takes
/// the results in while main's own thread computes chunks of its own, so that no process ever
/// waits for main's computation, neither to get work nor to hand its results over:
///   - fork: the counter is a word in the memory the processes share; a worker claims by
///     compare-and-swap, and the dispatcher stops once main holds every result;
///   - MPI (no shared word): the counter lives on main, and the dispatcher hands chunks to the
///     workers on request (and ships the items); workers ask for their next chunk before
///     computing the current one, so that the dispatcher's answer is there when they need it;
///   - one process (serial, fork:1, one rank): main alone, in chunks, for the same delivery and
///     progress.
/// What happens to results is the front end's Store: CollectResults (map: each result in its
/// place, plain ones received straight into it) or StreamResults (map_each: `on_result` per
/// item, in completion order or, ordered, in input order through a reorder buffer).
///
/// Protocol (all messages carry the call's collective tag):
///   fork  main -> worker: FarmOpen{total, items follow} [then every item, when the worker
///                         does not hold main's snapshot]
///         worker -> main: FarmMessage{results, begin, count, ns}, the results
///   MPI   worker -> main: FarmMessage{request, measured items, measured ns}
///         main -> worker: Span{begin, count} [then the items]; count 0: the call is over
///         worker -> main: FarmMessage{results, ...}, the results
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "unipar/detail/farm_stores.hpp"
#include "unipar/detail/farm_support.hpp"
#include "unipar/detail/progress.hpp"
#include "unipar/detail/resume.hpp"
#include "unipar/detail/transport.hpp"
#include "unipar/parallelizer.hpp"  // farm.hpp completes parallelizer.hpp

namespace unipar::detail {

struct FarmOpen {
  std::uint64_t total;
  std::uint64_t items_follow;
};

struct FarmMessage {
  static constexpr std::uint64_t request = 1;
  static constexpr std::uint64_t results = 2;
  std::uint64_t kind;
  std::uint64_t begin;
  std::uint64_t count;  // results: how many follow; request: items measured so far
  double nanoseconds;   // results: the chunk's cost; request: the cost of the items measured
};

/// One call of the farm over items of type T with results of type R (`f` already unpacks
/// tuple items: the engine is compiled once per item and result type, not per function).
template <class T, class R, class Store>
class Farm {
 public:
  using Result = R;
  using Function = FunctionRef<R(const T&)>;

  Farm(Parallelizer& par, Function f, const std::vector<T>& items, bool items_local,
       const MapOptions& options, Store& store)
      : t_(par.transport()),
        f_(f),
        items_(items),
        items_local_(items_local),
        options_(options),
        store_(store),
        tag_(t_.next_collective_tag()) {}

  void run() {
    if (t_.nprocs() == 1) return run_alone();
    std::atomic<std::uint64_t>* shared = t_.shared_word();
    if (t_.id() == 0) return run_main(shared);
    return shared != nullptr ? run_worker_shared(*shared) : run_worker_served();
  }

 private:
  // Work per chunk: main takes at most ~100 us at a time, so that it takes results in often;
  // a worker at least ~50 us (claims stay rare) and at most ~20 ms (a slow item among fast ones
  // cannot hold a large block back).
  static constexpr double main_ceiling_ns = 100'000;
  static constexpr double worker_floor_ns = 50'000;
  static constexpr double worker_ceiling_ns = 20'000'000;
  using Clock = std::chrono::steady_clock;

  ChunkSizer main_sizer() const { return {options_.chunk, t_.nprocs(), 0, main_ceiling_ns}; }
  ChunkSizer worker_sizer() const {
    return {options_.chunk, t_.nprocs(), worker_floor_ns, worker_ceiling_ns};
  }
  std::uint64_t epoch() const { return collective_sequence(tag_); }

  /// Closes the claims when main leaves the call by an exception (and tells the store how far
  /// the items had been handed out, when it asks: retries count the items lost with a worker).
  struct OnFailure {
    Claims& claims;
    Store& store;
    bool armed = true;
    ~OnFailure() {
      if (!armed) return;
      if constexpr (requires { store.interrupted(std::uint64_t{}); }) {
        store.interrupted(claims.claimed());
      }
      claims.close();
    }
  };

  /// The store's start, on main: a resumed call delivers what its checkpoint held there.
  void start_store(std::uint64_t n) {
    const auto user_code = t_.user_code();
    store_.start(n);
  }

  // ---- one process ----------------------------------------------------------------------------

  void run_alone() {
    const std::uint64_t n = items_.size();
    start_store(n);
    ProgressLine progress(n, options_.progress, options_.label);
    ChunkSizer sizer = main_sizer();
    for (std::uint64_t begin = 0; begin < n;) {
      const std::uint64_t count = sizer.next(n - begin);
      hand_over(compute_on_main({begin, count}, sizer));
      begin += count;
      progress.update(begin);
    }
    progress.finish();
  }

  /// Main computes a chunk; the caller delivers it after the results that reached main
  /// meanwhile (they completed first).
  Chunk<Result> compute_on_main(Span span, ChunkSizer& sizer) {
    Chunk<Result> chunk = store_.chunk(span.begin, span.count);
    const auto user_code = t_.user_code();
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < span.count; ++i) {
      try {
        chunk.values[i] = f_(items_[span.begin + i]);
      } catch (...) {
        throw_item_failure_on_main(span.begin + i, std::current_exception());
      }
    }
    sizer.record(span.count, elapsed_ns(start));
    return chunk;
  }

  // ---- fork: a shared claim word --------------------------------------------------------------

  void open_workers(std::uint64_t n) {
    const FarmOpen open{n, items_local_ ? 0U : 1U};
    if (items_local_) {
      for (int worker = 1; worker < t_.nprocs(); ++worker) send_plain(worker, open);
      return;
    }
    const Encoded<std::vector<T>> encoded(items_);
    for (int worker = 1; worker < t_.nprocs(); ++worker) {
      send_plain(worker, open);
      t_.send(worker, tag_, fingerprint_v<std::vector<T>>, encoded.bytes());
    }
  }

  void run_worker_shared(std::atomic<std::uint64_t>& word) {
    FarmOpen open{};
    receive_plain(0, open);
    std::vector<T> shipped;
    const std::vector<T>* items = &items_;
    if (open.items_follow != 0) {
      receive_items(shipped);
      items = &shipped;
    }
    if (items->size() != open.total) throw_corrupt("map", "item count");
    Claims claims(word, epoch(), open.total);
    ChunkSizer sizer = worker_sizer();
    std::vector<Result> out;
    for (Span span = claims.claim(sizer); span.count > 0; span = claims.claim(sizer)) {
      compute_on_worker(std::span(*items).subspan(span.begin, span.count), span, out, sizer);
    }
  }

  // ---- main: the dispatcher thread and main's own chunks ---------------------------------------

  /// What the dispatcher hands main's thread: results that arrived, and how it ended.
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<Chunk<Result>> arrived;
    std::exception_ptr error;
    bool finished = false;
  };

  /// Who may take messages in, and what is known of the workers. The transport is used by one
  /// thread at a time, whichever holds `transport`: the dispatcher while main's thread computes,
  /// main's thread between its chunks (so that what arrived during a chunk is delivered before
  /// it, in completion order).
  struct Dispatch {
    std::mutex transport;
    std::vector<ChunkSizer> sizers;  // MPI: each worker's measured cost, for its next chunk
    // MPI: workers not yet told that nothing is left, and items handed out whose results have
    // not come back. fork's workers claim for themselves (results are checked for range only),
    // and main's thread stops the dispatcher when it holds every result.
    bool hands_out = false;
    int working = 0;
    std::uint64_t outstanding = 0;
    std::vector<std::deque<Span>> handed;  // MPI: each worker's chunks, in the order handed out
    std::vector<bool> received;            // items whose results main holds (or computes)
    bool over() const { return hands_out && working == 0 && outstanding == 0; }
    /// Marks the items of `span` as having their results; false when one already had.
    bool take(Span span) {
      const auto first = received.begin() + static_cast<std::ptrdiff_t>(span.begin);
      const auto last = first + static_cast<std::ptrdiff_t>(span.count);
      if (std::find(first, last, true) != last) return false;
      std::fill(first, last, true);
      return true;
    }
  };

  /// `shared`: fork's claim word, or null (MPI: main claims for the workers in a word of its own).
  void run_main(std::atomic<std::uint64_t>* shared) {
    const std::uint64_t n = items_.size();
    start_store(n);
    std::atomic<std::uint64_t> own_word{0};
    Claims claims(shared != nullptr ? *shared : own_word, shared != nullptr ? epoch() : 0, n);
    claims.open();
    if (shared != nullptr) open_workers(n);
    Dispatch state;
    state.sizers.assign(static_cast<std::size_t>(t_.nprocs()), worker_sizer());
    state.hands_out = shared == nullptr;
    state.working = t_.nprocs() - 1;
    state.handed.resize(static_cast<std::size_t>(t_.nprocs()));
    state.received.assign(n, false);
    ProgressLine progress(n, options_.progress, options_.label);
    std::uint64_t delivered = 0;
    const auto deliver = [&](Chunk<Result>&& chunk) {
      delivered += chunk.count;
      hand_over(std::move(chunk));
    };
    if (!t_.capabilities().serialized_threads) {
      // No thread may call MPI but this one: main dispatches and does not compute.
      const std::atomic<bool> never{false};
      dispatch(claims, state, never, [&](Chunk<Result>&& chunk) {
        deliver(std::move(chunk));
        progress.update(delivered);
      });
      progress.finish();
      return;
    }
    Mailbox mailbox;
    // However main leaves, the claims are closed and the dispatcher stopped first; when main
    // leaves by an exception the dispatcher is stopped at once (the workers then learn of the
    // failure from the backend).
    OnFailure on_failure{claims, store_};
    ServiceThread dispatcher(
        t_.service_host(),
        [&](const std::atomic<bool>& stop) {
          dispatch(claims, state, stop, [&](Chunk<Result>&& chunk) {
            const std::lock_guard lock(mailbox.mutex);
            mailbox.arrived.push_back(std::move(chunk));
            mailbox.changed.notify_one();
          });
        },
        [&](std::exception_ptr error) {
          const std::lock_guard lock(mailbox.mutex);
          mailbox.error = std::move(error);
          mailbox.finished = true;
          mailbox.changed.notify_one();
        });

    ChunkSizer sizer = main_sizer();
    std::deque<Chunk<Result>> taken;
    while (delivered < n) {
      const Span span = claims.claim(sizer);
      Chunk<Result> own;
      if (span.count > 0) own = compute_on_main(span, sizer);
      {
        // What the dispatcher took in during the chunk, then what is waiting: both completed
        // before main's own chunk is delivered.
        const std::lock_guard transport(state.transport);
        if (span.count > 0 && !state.take(span)) throw_corrupt("map", "results delivered twice");
        {
          const std::lock_guard lock(mailbox.mutex);
          if (mailbox.error) std::rethrow_exception(mailbox.error);
          taken.swap(mailbox.arrived);
        }
        const auto keep = [&](Chunk<Result>&& chunk) { taken.push_back(std::move(chunk)); };
        while (!state.over() && serve_one(claims, state, keep)) {
        }
      }
      if (span.count == 0 && taken.empty()) {
        std::unique_lock lock(mailbox.mutex);
        mailbox.changed.wait(lock, [&] { return !mailbox.arrived.empty() || mailbox.finished; });
        if (mailbox.error) std::rethrow_exception(mailbox.error);
        taken.swap(mailbox.arrived);
        if (taken.empty()) throw_corrupt("map", "the dispatcher ended before every result arrived");
      }
      for (; !taken.empty(); taken.pop_front()) deliver(std::move(taken.front()));
      if (span.count > 0) deliver(std::move(own));
      progress.update(delivered);
    }
    // Every result is in. MPI: the dispatcher ends once it has told every worker so; fork: it
    // has nothing left to wait for.
    if (shared != nullptr) {
      dispatcher.stop();
    } else {
      dispatcher.finish();
    }
    on_failure.armed = false;
    if (mailbox.error) std::rethrow_exception(mailbox.error);
    progress.finish();
  }

  /// The dispatcher: takes the workers' results in (and, MPI, serves their requests) until
  /// `stop`, and under MPI until every worker knows the call is over and every chunk it was
  /// given came back.
  template <class Deliver>
  void dispatch(Claims& claims, Dispatch& state, const std::atomic<bool>& stop, Deliver&& deliver) {
    IdlePacer pacer;
    while (!stop.load(std::memory_order_relaxed)) {
      bool served = false;
      {
        const std::lock_guard transport(state.transport);
        if (state.over()) return;
        served = serve_one(claims, state, deliver);
      }
      if (served) {
        pacer.busy();
      } else {
        pacer.idle();
      }
    }
  }

  /// Takes in one message from a worker, if one is there (the caller holds state.transport):
  /// answers a request, or hands a chunk of results to `deliver`. A worker that failed or left
  /// ends the call here (one look with the checks of a wait).
  template <class Deliver>
  bool serve_one(Claims& claims, Dispatch& state, Deliver&& deliver) {
    const int worker = t_.poll_any(tag_);
    if (worker < 0) return false;
    const std::uint64_t n = items_.size();
    FarmMessage message{};
    receive_plain(worker, message);
    if (message.kind == FarmMessage::request && state.hands_out) {
      auto& sizer = state.sizers[static_cast<std::size_t>(worker)];
      sizer.assign(message.count, message.nanoseconds);
      const Span span = claims.claim(sizer);
      send_plain(worker, span);
      if (span.count == 0) {
        --state.working;
      } else {
        state.outstanding += span.count;
        state.handed[static_cast<std::size_t>(worker)].push_back(span);
        if (!items_local_) send_items(worker, span);
      }
    } else if (message.kind == FarmMessage::results && message.begin <= n &&
               message.count <= n - message.begin && matches_handed(state, worker, message) &&
               state.take({message.begin, message.count})) {
      // Results of the chunk handed to this worker longest ago (MPI), or of items claimed
      // that nobody delivered yet (fork): anything else is a corrupt message.
      Chunk<Result> chunk = store_.chunk(message.begin, message.count);
      receive_values(worker, chunk.values);
      if (state.hands_out) {
        state.outstanding -= message.count;
        state.handed[static_cast<std::size_t>(worker)].pop_front();
      }
      deliver(std::move(chunk));
    } else {
      throw_corrupt("map", "farm message");
    }
    return true;
  }

  /// MPI: whether `message` answers the oldest chunk handed to `worker` (fork: always).
  static bool matches_handed(const Dispatch& state, int worker, const FarmMessage& message) {
    if (!state.hands_out) return true;
    const auto& handed = state.handed[static_cast<std::size_t>(worker)];
    return !handed.empty() && handed.front().begin == message.begin &&
           handed.front().count == message.count;
  }

  void run_worker_served() {
    ChunkSizer sizer = worker_sizer();
    std::vector<T> shipped;
    std::vector<Result> out;
    const auto request = [&] {
      send_plain(0,
                 FarmMessage{FarmMessage::request, 0, sizer.measured_items(), sizer.measured_ns()});
    };
    const auto assignment = [&] {
      Span span{};
      receive_plain(0, span);
      if (span.count > 0 && !items_local_) {
        receive_items(shipped);
        if (shipped.size() != span.count) throw_corrupt("map", "item count");
      } else if (span.count > 0 &&
                 (span.count > items_.size() || span.begin > items_.size() - span.count)) {
        throw_corrupt("map", "item range");
      }
      return span;
    };
    request();
    for (Span span = assignment(); span.count > 0; span = assignment()) {
      request();  // the next chunk, asked for now so that its answer waits for this worker
      const std::span<const T> work =
          items_local_ ? std::span(items_).subspan(span.begin, span.count) : std::span(shipped);
      compute_on_worker(work, span, out, sizer);
    }
  }

  // ---- both -----------------------------------------------------------------------------------

  /// A worker computes a chunk and sends main its results.
  void compute_on_worker(std::span<const T> work, Span span, std::vector<Result>& out,
                         ChunkSizer& sizer) {
    const auto start = Clock::now();
    out.resize(work.size());
    {
      const auto user_code = t_.user_code();
      for (std::size_t i = 0; i < work.size(); ++i) {
        try {
          out[i] = f_(work[i]);
        } catch (...) {
          throw ItemFailure(span.begin + i, std::current_exception());
        }
      }
    }
    const double nanoseconds = elapsed_ns(start);
    sizer.record(span.count, nanoseconds);
    send_plain(0, FarmMessage{FarmMessage::results, span.begin, span.count, nanoseconds});
    const Encoded<std::vector<Result>> encoded(out);
    t_.send(0, tag_, fingerprint_v<std::vector<Result>>, encoded.bytes());
  }

  /// Main: gives a chunk to the store (map_each: the user's on_result, as user code).
  void hand_over(Chunk<Result>&& chunk) {
    const auto user_code = t_.user_code();
    store_.deliver(std::move(chunk));
  }

  /// Plain results land straight in `into`; others are decoded, then moved.
  void receive_values(int worker, std::span<Result> into) {
    if constexpr (Plain<Result>) {
      struct Into final : ByteSink {
        MutableBytes target;
        MutableBytes prepare(std::size_t size) override {
          if (size != target.size()) throw_bad_size("map results", target.size(), size);
          return target;
        }
      } sink;
      sink.target = std::as_writable_bytes(into);
      t_.receive(worker, tag_, fingerprint_v<std::vector<Result>>, sink);
    } else {
      std::vector<Result> values;
      Decoder<std::vector<Result>> decoder(values);
      t_.receive(worker, tag_, fingerprint_v<std::vector<Result>>, decoder);
      decoder.finish();
      if (values.size() != into.size()) throw_corrupt("map", "result count");
      std::move(values.begin(), values.end(), into.begin());
    }
  }

  void send_items(int worker, Span span) {
    if constexpr (Plain<T>) {
      t_.send(worker, tag_, fingerprint_v<std::vector<T>>,
              std::as_bytes(std::span(items_.data() + span.begin, span.count)));
    } else {
      const auto first = items_.begin() + static_cast<std::ptrdiff_t>(span.begin);
      const std::vector<T> slice(first, first + static_cast<std::ptrdiff_t>(span.count));
      const Encoded<std::vector<T>> encoded(slice);
      t_.send(worker, tag_, fingerprint_v<std::vector<T>>, encoded.bytes());
    }
  }

  void receive_items(std::vector<T>& items) {
    Decoder<std::vector<T>> decoder(items);
    t_.receive(0, tag_, fingerprint_v<std::vector<T>>, decoder);
    decoder.finish();
  }

  template <class P>
  void send_plain(int to, const P& value) {
    t_.send(to, tag_, fingerprint_v<P>, std::as_bytes(std::span<const P, 1>(&value, 1)));
  }

  template <class P>
  void receive_plain(int from, P& value) {
    Decoder<P> decoder(value);
    t_.receive(from, tag_, fingerprint_v<P>, decoder);
  }

  static double elapsed_ns(Clock::time_point start) {
    return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  }

  Transport t_;
  Function f_;
  const std::vector<T>& items_;
  bool items_local_;
  const MapOptions& options_;
  Store& store_;
  int tag_;
};

}  // namespace unipar::detail

namespace unipar {

template <class F, class T, class Store>
void Parallelizer::run_farm(const F& f, const std::vector<T>& items, const MapOptions& options,
                            Store& store) {
  using R = detail::item_result_t<F, T>;
  const auto call = [&f](const T& item) -> R { return detail::apply_item(f, item); };
  run_farm_erased<T, R, Store>(call, items, options, store);
}

template <class T, class R, class Store>
void Parallelizer::run_farm_erased(detail::FunctionRef<R(const T&)> f, const std::vector<T>& items,
                                   const MapOptions& options, Store& store) {
  if (options.checkpoint.empty() && options.retries == 0) {
    return run_farm_once<T, R, Store>(f, items, options, store);
  }
  detail::check_resume_options(options);
  // Only main keeps the file and knows what is left; the others take part in each attempt as
  // in any call (they compute the items main hands them).
  if (id_ != 0) return run_farm_once<T, R, Store>(f, items, options, store);
  using Resumable = detail::ResumableStore<T, R, Store>;
  std::optional<Resumable> opened;
  try {
    opened.emplace(store, items, options);
  } catch (...) {
    // A file that cannot be used. MPI outside run: the other ranks are entering the call's
    // run; main fails there, so that they learn of it (as a WorkerError from main).
    if (in_run_ || capabilities().workers_hold_snapshot) throw;
    const std::exception_ptr error = std::current_exception();
    run([&](Parallelizer&) { std::rethrow_exception(error); });
    throw;  // not reached: run rethrows main's exception
  }
  Resumable& resumable = *opened;
  for (;;) {
    const std::vector<T>& left = resumable.remaining();
    try {
      if (left.empty() && !in_run_ && capabilities().workers_hold_snapshot) {
        // fork: nothing to compute, so no workers to fork; the file's results are delivered.
        resumable.start(0);
      } else {
        run_farm_once<T, R, Resumable>(f, left, options, resumable);
      }
      return;
    } catch (const WorkerLost&) {
      // fork, outside run: each attempt forks its own workers, so one that died is replaced
      // by the next attempt's. Inside run, or under MPI, a lost process ends the run (the job).
      if (in_run_ || !capabilities().workers_hold_snapshot ||
          !resumable.may_retry(options.retries)) {
        throw;
      }
    }
  }
}

template <class T, class R, class Store>
void Parallelizer::run_farm_once(detail::FunctionRef<R(const T&)> f, const std::vector<T>& items,
                                 const MapOptions& options, Store& store) {
  using Engine = detail::Farm<T, R, Store>;
  if (in_run_) {
    const Collective collective(*this, detail::Op::map, 0);
    Engine(*this, f, items, false, options, store).run();
    return;
  }
  run([&](Parallelizer& par) {
    const Collective collective(par, detail::Op::map, 0);
    const bool local = par.capabilities().workers_hold_snapshot;
    Engine(par, f, items, local, options, store).run();
  });
}

template <class F, class T>
requires MapFunction<F, T> std::vector<map_result_t<F, T>> Parallelizer::map(
    const F& f, const std::vector<T>& items, const MapOptions& options) {
  detail::check_transferable<T>();
  using R = map_result_t<F, T>;
  if constexpr (std::is_same_v<T, bool>) {
    // std::vector<bool> has no contiguous storage to hand out: map over one byte per item.
    return map([&f](const std::uint8_t& item) { return f(item != 0); }, as_bytes_of_bools(items),
               options);
  } else if constexpr (std::is_same_v<R, bool>) {
    const auto bytes =
        map([&f](const T& item) -> std::uint8_t { return detail::apply_item(f, item) ? 1 : 0; },
            items, options);
    return std::vector<bool>(bytes.begin(), bytes.end());
  } else {
    detail::CollectResults<R> store;
    run_farm(f, items, options, store);
    return store.take();
  }
}

template <class F, class T, class OnResult>
requires MapFunction<F, T> && ResultCallback<OnResult, F, T>
void Parallelizer::map_each(const F& f, const std::vector<T>& items, OnResult&& on_result,
                            const MapOptions& options) {
  detail::check_transferable<T>();
  using R = map_result_t<F, T>;
  if constexpr (std::is_same_v<T, bool>) {
    map_each([&f](const std::uint8_t& item) { return f(item != 0); }, as_bytes_of_bools(items),
             on_result, options);
  } else if constexpr (std::is_same_v<R, bool>) {
    auto relay = [&on_result](std::size_t index, std::uint8_t&& value) {
      bool result = value != 0;
      std::invoke(on_result, index, std::move(result));
    };
    map_each([&f](const T& item) -> std::uint8_t { return detail::apply_item(f, item) ? 1 : 0; },
             items, relay, options);
  } else {
    detail::StreamResults<R> store(on_result, options.ordered);
    run_farm(f, items, options, store);
  }
}

}  // namespace unipar
