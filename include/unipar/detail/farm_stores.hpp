/// @file farm_stores.hpp
/// @brief What the task farm does with results on main (its front ends' Store): a chunk of
/// results, CollectResults (map) and StreamResults (map_each). A Store has
///   start(total)            main, before the first result (total: the items of this call)
///   chunk(begin, count)     a Chunk to receive results of items [begin, begin + count) into
///                           (may be called from the dispatcher thread)
///   deliver(chunk)          main's thread, in completion order
/// and optionally interrupted(claimed) (main leaves the call by an exception; the items before
/// `claimed` had been handed out).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "unipar/detail/function_ref.hpp"

namespace unipar::detail {

/// Results of items [begin, begin + count), in `values`: a view into main's result vector
/// (map) or into `owned` (map_each).
template <class R>
struct Chunk {
  std::uint64_t begin = 0;
  std::uint64_t count = 0;
  std::vector<R> owned;
  std::span<R> values;
};

/// map: every result in its place. chunk() may be called from the dispatcher thread.
template <class R>
class CollectResults {
 public:
  void start(std::size_t total) { results_.resize(total); }
  Chunk<R> chunk(std::uint64_t begin, std::uint64_t count) {
    Chunk<R> chunk{begin, count, {}, {}};
    chunk.values = std::span(results_).subspan(begin, count);
    return chunk;
  }
  void deliver(Chunk<R>&&) {}
  std::vector<R> take() { return std::move(results_); }

 private:
  std::vector<R> results_;
};

/// map_each: `on_result(index, std::move(result))` per item, on main's thread.
template <class R>
class StreamResults {
 public:
  using OnResult = FunctionRef<void(std::size_t, R&&)>;
  StreamResults(OnResult on_result, bool ordered) : on_result_(on_result), ordered_(ordered) {}
  void start(std::size_t) {}
  Chunk<R> chunk(std::uint64_t begin, std::uint64_t count) {
    Chunk<R> chunk{begin, count, std::vector<R>(count), {}};
    chunk.values = chunk.owned;
    return chunk;
  }
  void deliver(Chunk<R>&& chunk) {
    if (!ordered_) return emit(chunk);
    if (chunk.begin != next_) {
      pending_.emplace(chunk.begin, std::move(chunk));
      return;
    }
    emit(chunk);
    while (!pending_.empty() && pending_.begin()->first == next_) {
      auto node = pending_.extract(pending_.begin());
      emit(node.mapped());
    }
  }

 private:
  void emit(Chunk<R>& chunk) {
    for (std::size_t i = 0; i < chunk.count; ++i) {
      on_result_(static_cast<std::size_t>(chunk.begin + i), std::move(chunk.values[i]));
    }
    next_ = chunk.begin + chunk.count;
  }

  OnResult on_result_;
  bool ordered_;
  std::uint64_t next_ = 0;
  std::map<std::uint64_t, Chunk<R>> pending_;  // ordered: chunks that arrived early
};

}  // namespace unipar::detail
