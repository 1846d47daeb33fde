/// @file stash.hpp
/// @brief Messages a backend took off its transport before anyone asked for them (a receive
/// looking for another tag, a sender draining its inbox while it waits for room, a probe).
#pragma once

#include <cstddef>
#include <deque>
#include <vector>

#include "unipar/detail/bytes.hpp"

namespace unipar::detail {

/// Per source, in arrival order: a receive takes the first message with its tag, as MPI
/// matching does.
class MessageStash {
 public:
  struct Message {
    int tag;
    Fingerprint type;
    std::vector<std::byte> bytes;
  };

  explicit MessageStash(int nprocs = 0) : queues_(static_cast<std::size_t>(nprocs)) {}

  void push_back(int source, Message message) { queue(source).push_back(std::move(message)); }
  /// Puts a message back where a receive found it (before any later one with its tag).
  void push_front(int source, Message message) { queue(source).push_front(std::move(message)); }

  /// Whether a message from `source` with `tag` is here.
  bool contains(int source, int tag) const;
  /// The lowest source other than `self` with a message with `tag`, or -1.
  int any_source(int tag, int self) const;

  /// Moves the first message from `source` with `tag` into `sink`, as process `self`; returns
  /// false when there is none. Throws TypeMismatch, keeping the message, when it holds another
  /// type than `type`. When `tag` is a collective's and a message of another collective from
  /// `source` comes first, the processes called collectives in a different order: UsageError.
  bool take(int self, int source, int tag, Fingerprint type, ByteSink& sink);

  bool empty() const;
  void clear();

 private:
  std::deque<Message>& queue(int source) { return queues_[static_cast<std::size_t>(source)]; }
  std::vector<std::deque<Message>> queues_;
};

}  // namespace unipar::detail
