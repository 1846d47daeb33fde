/// @file resume.hpp
/// @brief The Store behind `MapOptions::checkpoint` and `MapOptions::retries` (main only): it
/// wraps the front end's Store, writes every result to the checkpoint file before handing it
/// on, delivers what the file already held, and knows which items are still to compute, so
/// that a call resumed from its file, or given to new workers after one died, computes only
/// those (each attempt of the farm runs over the list of what is left).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "unipar/codec.hpp"
#include "unipar/detail/checkpoint.hpp"
#include "unipar/detail/farm_stores.hpp"
#include "unipar/detail/type_names.hpp"
#include "unipar/error.hpp"
#include "unipar/map_options.hpp"

namespace unipar::detail {

/// The fingerprint of one item: of its type and its encoded bytes.
template <class T>
std::uint64_t item_fingerprint(const T& item) {
  const Encoded<T> encoded(item);
  return hash_bytes(encoded.bytes(), fingerprint_v<T>);
}

/// A map call's options, checked before anything runs.
void check_resume_options(const MapOptions& options);

template <class T, class R, class Inner>
class ResumableStore {
 public:
  /// Opens the checkpoint file, if any, and reads what it holds.
  ResumableStore(Inner& inner, const std::vector<T>& items, const MapOptions& options)
      : inner_(inner), items_(items), delivered_(items.size(), false) {
    if (options.checkpoint.empty()) return;
    static_cast<void>(&type_name_registered<R, fingerprint_v<R>>);
    hashes_.reserve(items.size());
    for (const T& item : items) hashes_.push_back(item_fingerprint(item));
    file_ = std::make_unique<CheckpointFile>(
        options.checkpoint, CheckpointKey{items.size(), fingerprint_v<T>, fingerprint_v<R>,
                                          type_name<T>(), type_name<R>()});
    for (const CheckpointFile::Record& record : file_->records()) {
      if (record.item_hash != hashes_[record.index]) {
        throw UsageError("checkpoint file '" + options.checkpoint + "' holds a result for item " +
                         std::to_string(record.index) +
                         " computed from another item than this call's: it was written for other "
                         "items; give this call another file, or remove this one to start over");
      }
      if (delivered_[record.index]) continue;  // written twice (the first one stands)
      delivered_[record.index] = true;
      ++delivered_count_;
    }
  }

  /// The items of the next attempt: those not delivered yet.
  const std::vector<T>& remaining() {
    if (delivered_count_ == 0) {
      positions_.clear();
      return items_;
    }
    positions_.clear();
    left_.clear();
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (delivered_[i]) continue;
      positions_.push_back(i);
      left_.push_back(items_[i]);
    }
    return left_;
  }

  /// After an attempt ended by a lost worker: counts one more attempt for each item that was
  /// handed out and not delivered; false when one of them has had `retries` already.
  bool may_retry(int retries) {
    if (!claimed_) return false;
    bool allowed = true;
    if (attempts_.empty()) attempts_.assign(items_.size(), 0);
    for (std::uint64_t i = 0; i < *claimed_; ++i) {
      const std::size_t index = original(i);
      if (delivered_[index]) continue;
      if (++attempts_[index] > retries) allowed = false;
    }
    claimed_.reset();
    return allowed;
  }

  // ---- the Store of one attempt -----------------------------------------------------------

  void start(std::size_t) {
    if (started_) return;
    started_ = true;
    inner_.start(items_.size());
    if (file_) deliver_reloaded();
  }

  Chunk<R> chunk(std::uint64_t begin, std::uint64_t count) {
    Chunk<R> chunk{begin, count, std::vector<R>(count), {}};
    chunk.values = chunk.owned;
    return chunk;
  }

  void deliver(Chunk<R>&& chunk) {
    if (file_) {
      for (std::uint64_t i = 0; i < chunk.count; ++i) {
        const std::size_t index = original(chunk.begin + i);
        const Encoded<R> encoded(chunk.values[i]);
        file_->add(index, hashes_[index], encoded.bytes());
      }
      file_->flush();
    }
    for (std::uint64_t i = 0; i < chunk.count; ++i) {
      const std::size_t index = original(chunk.begin + i);
      if (!delivered_[index]) ++delivered_count_;
      delivered_[index] = true;
    }
    hand_on(chunk.values, [&](std::size_t i) { return original(chunk.begin + i); });
  }

  void interrupted(std::uint64_t claimed) noexcept { claimed_ = claimed; }

 private:
  std::size_t original(std::uint64_t position) const noexcept {
    return positions_.empty() ? static_cast<std::size_t>(position)
                              : positions_[static_cast<std::size_t>(position)];
  }

  /// Hands `values` to the inner store in runs of consecutive items (`index(i)`: value i's item).
  template <class Index>
  void hand_on(std::span<R> values, Index&& index) {
    for (std::size_t i = 0; i < values.size();) {
      std::size_t end = i + 1;
      while (end < values.size() && index(end) == index(i) + (end - i)) ++end;
      Chunk<R> run = inner_.chunk(index(i), end - i);
      std::move(values.begin() + static_cast<std::ptrdiff_t>(i),
                values.begin() + static_cast<std::ptrdiff_t>(end), run.values.begin());
      inner_.deliver(std::move(run));
      i = end;
    }
  }

  /// What the file held, in item order (map_each in completion order: before anything computed).
  void deliver_reloaded() {
    std::vector<CheckpointFile::Record>& records = file_->records();
    std::stable_sort(records.begin(), records.end(),
                     [](const auto& a, const auto& b) { return a.index < b.index; });
    records.erase(std::unique(records.begin(), records.end(),
                              [](const auto& a, const auto& b) { return a.index == b.index; }),
                  records.end());
    std::vector<R> values;
    values.reserve(records.size());
    for (const CheckpointFile::Record& record : records) {
      try {
        values.push_back(decode<R>(record.bytes));
      } catch (const TypeMismatch& error) {
        throw Error("checkpoint file '" + file_->path() + "': the result of item " +
                    std::to_string(record.index) + " cannot be read: " + error.what());
      }
    }
    std::vector<std::uint64_t> indices;
    indices.reserve(records.size());
    for (const auto& record : records) indices.push_back(record.index);
    records = {};
    hand_on(values, [&](std::size_t i) { return static_cast<std::size_t>(indices[i]); });
  }

  Inner& inner_;
  const std::vector<T>& items_;
  std::vector<bool> delivered_;
  std::size_t delivered_count_ = 0;
  std::vector<std::uint64_t> hashes_;
  std::unique_ptr<CheckpointFile> file_;
  std::vector<std::size_t> positions_;  // this attempt's items: position -> index; empty: all
  std::vector<T> left_;
  std::vector<int> attempts_;
  std::optional<std::uint64_t> claimed_;
  bool started_ = false;
};

}  // namespace unipar::detail
