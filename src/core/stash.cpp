#include "core/stash.hpp"

#include <algorithm>
#include <cstring>

#include "core/checks.hpp"
#include "unipar/detail/tags.hpp"

namespace unipar::detail {

bool MessageStash::contains(int source, int tag) const {
  const auto& messages = queues_[static_cast<std::size_t>(source)];
  return std::any_of(messages.begin(), messages.end(),
                     [tag](const Message& message) { return message.tag == tag; });
}

int MessageStash::any_source(int tag, int self) const {
  for (int source = 0; source < static_cast<int>(queues_.size()); ++source) {
    if (source != self && contains(source, tag)) return source;
  }
  return -1;
}

bool MessageStash::take(int self, int source, int tag, Fingerprint type, ByteSink& sink) {
  auto& messages = queue(source);
  for (auto it = messages.begin(); it != messages.end(); ++it) {
    if (it->tag == tag) {
      if (it->type != type) throw_receive_type_mismatch(self, source, tag, type, it->type);
      // The message stays here should the sink refuse its size.
      const MutableBytes target = sink.prepare(it->bytes.size());
      if (!it->bytes.empty()) std::memcpy(target.data(), it->bytes.data(), it->bytes.size());
      messages.erase(it);
      return true;
    }
    // Only the collectives' own tags say "another collective" (a backend's internal tags,
    // such as MPI's end-of-run output, sit above them with no collective kind).
    if (is_collective_tag(tag) && is_collective_tag(it->tag) &&
        static_cast<int>(collective_op(tag)) < op_count &&
        static_cast<int>(collective_op(it->tag)) < op_count) {
      throw_order_mismatch(self, tag, source, it->tag);
    }
  }
  return false;
}

bool MessageStash::empty() const {
  return std::all_of(queues_.begin(), queues_.end(),
                     [](const auto& messages) { return messages.empty(); });
}

void MessageStash::clear() {
  for (auto& messages : queues_) messages.clear();
}

}  // namespace unipar::detail
