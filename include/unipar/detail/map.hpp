/// @file map.hpp
/// @brief The task farm behind Parallelizer::map: main hands out chunks of items on demand.
///
/// Protocol (all messages carry the map's collective tag):
///   worker -> main: MapReport{begin, count, nanoseconds} then, if count > 0, its results;
///   main -> worker: MapAssignment{begin, count} then, unless the worker already holds the items
///                   (fork's snapshot), the items; count == 0 tells the worker to stop.
/// Chunks follow guided self-scheduling (remaining / 2P, shrinking toward the end) with a floor
/// and a ceiling derived from the measured cost per item (at least ~50 us, at most ~20 ms of
/// work), so that tiny items are grouped and slow items do not hold back a large block; the
/// very first chunk is one item, to measure. Main computes small chunks itself between serving
/// workers.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <span>
#include <vector>

#include "unipar/detail/transport.hpp"
#include "unipar/parallelizer.hpp"  // map.hpp completes parallelizer.hpp

namespace unipar::detail {

struct MapAssignment {
  std::uint64_t begin;
  std::uint64_t count;  // 0: stop
};

struct MapReport {
  std::uint64_t begin;
  std::uint64_t count;  // 0: no results (first request)
  std::uint64_t nanoseconds;
};

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

template <class F, class T>
class MapRunner {
 public:
  using Result = std::invoke_result_t<const F&, const T&>;

  MapRunner(Parallelizer& par, const F& f, const std::vector<T>& items, bool items_local)
      : par_(par.transport()),
        f_(f),
        items_(items),
        items_local_(items_local),
        tag_(par_.next_collective_tag()) {}

  std::vector<Result> run() {
    if (par_.nprocs() == 1) return run_alone();
    if (par_.id() == 0) return run_main();
    run_worker();
    return {};
  }

 private:
  static constexpr double target_chunk_ns = 50'000;   // a worker's chunk: at least ~50 us of work
  static constexpr double own_chunk_ns = 100'000;     // main serves workers about every 100 us
  static constexpr double max_chunk_ns = 20'000'000;  // a chunk: at most ~20 ms of work

  using Clock = std::chrono::steady_clock;

  std::vector<Result> run_alone() {
    std::vector<Result> results(items_.size());
    for (std::size_t i = 0; i < items_.size(); ++i) results[i] = apply_on_main(i);
    return results;
  }

  Result apply_on_main(std::size_t i) {
    try {
      return f_(items_[i]);
    } catch (...) {
      throw_item_failure_on_main(i, std::current_exception());
    }
  }

  // ---- main -----------------------------------------------------------------------------------

  std::vector<Result> run_main() {
    const std::size_t n = items_.size();
    std::vector<Result> results(n);
    int active = par_.nprocs() - 1;
    std::size_t own_chunk = 1;
    while (active > 0) {
      for (int worker = 1; worker < par_.nprocs(); ++worker) {
        if (par_.probe(worker, tag_)) active -= serve(worker, results);
      }
      if (next_ < n) {
        const std::size_t count = std::min(own_chunk, n - next_);
        const std::size_t begin = next_;
        next_ += count;
        const auto start = Clock::now();
        for (std::size_t i = begin; i < begin + count; ++i) results[i] = apply_on_main(i);
        record_cost(count, elapsed_ns(start));
        own_chunk =
            std::max<std::size_t>(1, static_cast<std::size_t>(own_chunk_ns / cost_per_item()));
      } else if (active > 0) {
        active -= serve(par_.wait_for_any(tag_), results);
      }
    }
    return results;
  }

  /// Takes a worker's report and results, gives it more work; returns 1 when it was told to stop.
  int serve(int worker, std::vector<Result>& results) {
    MapReport report{};
    receive_plain(worker, report);
    if (report.count > 0) {
      if (report.begin + report.count > results.size()) throw_corrupt("map", "result range");
      receive_results(worker, results, report.begin, report.count);
      record_cost(report.count, static_cast<double>(report.nanoseconds));
    }
    const std::size_t count = next_chunk();
    const MapAssignment assignment{next_, count};
    send_plain(worker, assignment);
    if (count == 0) return 1;
    if (!items_local_) send_items(worker, next_, count);
    next_ += count;
    return 0;
  }

  std::size_t next_chunk() const {
    const std::size_t remaining = items_.size() - next_;
    if (remaining == 0) return 0;
    // Nothing measured yet: one item, whose cost sizes the next chunks.
    if (measured_items_ == 0) return 1;
    const double per_item = cost_per_item();
    const auto floor = static_cast<std::size_t>(target_chunk_ns / per_item) + 1;
    // Guided: half of an equal share, shrinking toward the end; but never more than about
    // max_chunk_ns of work at the cost measured so far, so that slow items hiding among fast
    // ones cannot make one chunk outlast the others by much.
    const std::size_t guided = remaining / (2 * static_cast<std::size_t>(par_.nprocs()));
    const auto cap = std::max(floor, static_cast<std::size_t>(max_chunk_ns / per_item));
    return std::min(remaining, std::max(floor, std::min(guided, cap)));
  }

  void record_cost(std::size_t count, double nanoseconds) {
    measured_items_ += count;
    measured_ns_ += nanoseconds;
  }

  double cost_per_item() const {
    return measured_items_ == 0 ? 1.0 : std::max(measured_ns_ / double(measured_items_), 0.5);
  }

  void send_items(int worker, std::size_t begin, std::size_t count) {
    if constexpr (Plain<T>) {
      par_.send(worker, tag_, fingerprint_v<std::vector<T>>,
                std::as_bytes(std::span(items_.data() + begin, count)));
    } else {
      const auto first = items_.begin() + static_cast<std::ptrdiff_t>(begin);
      const std::vector<T> slice(first, first + static_cast<std::ptrdiff_t>(count));
      Encoded<std::vector<T>> encoded(slice);
      par_.send(worker, tag_, fingerprint_v<std::vector<T>>, encoded.bytes());
    }
  }

  /// Plain results land straight in their place in `results`; others are decoded then moved.
  void receive_results(int worker, std::vector<Result>& results, std::size_t begin,
                       std::size_t count) {
    if constexpr (Plain<Result> && !std::is_same_v<Result, bool>) {
      struct Into final : ByteSink {
        MutableBytes target;
        MutableBytes prepare(std::size_t size) override {
          if (size != target.size()) throw_bad_size("map results", target.size(), size);
          return target;
        }
      } sink;
      sink.target = std::as_writable_bytes(std::span(results.data() + begin, count));
      par_.receive(worker, tag_, fingerprint_v<std::vector<Result>>, sink);
    } else {
      std::vector<Result> chunk;
      Decoder<std::vector<Result>> decoder(chunk);
      par_.receive(worker, tag_, fingerprint_v<std::vector<Result>>, decoder);
      decoder.finish();
      if (chunk.size() != count) throw_corrupt("map", "result count");
      std::move(chunk.begin(), chunk.end(), results.begin() + static_cast<std::ptrdiff_t>(begin));
    }
  }

  // ---- worker ---------------------------------------------------------------------------------

  void run_worker() {
    MapReport report{0, 0, 0};
    std::vector<Result> out;
    std::vector<T> shipped;
    for (;;) {
      send_plain(0, report);
      if (report.count > 0) {
        Encoded<std::vector<Result>> encoded(out);
        par_.send(0, tag_, fingerprint_v<std::vector<Result>>, encoded.bytes());
      }
      MapAssignment assignment{};
      receive_plain(0, assignment);
      if (assignment.count == 0) return;
      std::span<const T> work;
      if (items_local_) {
        if (assignment.begin + assignment.count > items_.size()) throw_corrupt("map", "item range");
        work = std::span(items_).subspan(assignment.begin, assignment.count);
      } else {
        Decoder<std::vector<T>> decoder(shipped);
        par_.receive(0, tag_, fingerprint_v<std::vector<T>>, decoder);
        decoder.finish();
        if (shipped.size() != assignment.count) throw_corrupt("map", "item count");
        work = shipped;
      }
      const auto start = Clock::now();
      out.resize(work.size());
      for (std::size_t i = 0; i < work.size(); ++i) {
        try {
          out[i] = f_(work[i]);
        } catch (...) {
          throw ItemFailure(assignment.begin + i, std::current_exception());
        }
      }
      report = {assignment.begin, assignment.count, static_cast<std::uint64_t>(elapsed_ns(start))};
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  template <class P>
  void send_plain(int to, const P& value) {
    par_.send(to, tag_, fingerprint_v<P>, std::as_bytes(std::span<const P, 1>(&value, 1)));
  }

  template <class P>
  void receive_plain(int from, P& value) {
    Decoder<P> decoder(value);
    par_.receive(from, tag_, fingerprint_v<P>, decoder);
  }

  static double elapsed_ns(Clock::time_point start) {
    return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  }

  Transport par_;
  const F& f_;
  const std::vector<T>& items_;
  bool items_local_;
  int tag_;
  std::size_t next_ = 0;
  std::size_t measured_items_ = 0;
  double measured_ns_ = 0;
};

}  // namespace unipar::detail

namespace unipar {

template <class F, class T>
requires MapFunction<F, T> std::vector<std::invoke_result_t<const F&, const T&>> Parallelizer::map(
    const F& f, const std::vector<T>& items) {
  detail::check_transferable<T>();
  if constexpr (std::is_same_v<T, bool>) {
    // std::vector<bool> has no contiguous storage to hand out: map over one byte per item.
    return map([&f](const std::uint8_t& item) { return f(item != 0); }, as_bytes_of_bools(items));
  } else {
    if (in_run_) {
      const Collective collective(*this, detail::Op::map, 0);
      return detail::MapRunner<F, T>(*this, f, items, false).run();
    }
    return run([&](Parallelizer& par) {
      const Collective collective(par, detail::Op::map, 0);
      return detail::MapRunner<F, T>(par, f, items, par.capabilities().workers_hold_snapshot).run();
    });
  }
}

}  // namespace unipar
