#include "core/checks.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

#include "unipar/detail/type_names.hpp"
#include "unipar/error.hpp"

namespace unipar::detail {
namespace {

std::string process(int id) {
  return "process " + std::to_string(id);
}

/// "processes 1, 2 and 4" / "process 3"
std::string processes(const std::vector<int>& ids) {
  if (ids.size() == 1) return process(ids.front());
  std::string text = "processes ";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) text += i + 1 == ids.size() ? " and " : ", ";
    text += std::to_string(ids[i]);
  }
  return text;
}

std::string collectives(std::uint64_t count) {
  return std::to_string(count) + (count == 1 ? " collective" : " collectives");
}

std::string describe_type(Fingerprint type) {
  std::string name = type_name_of(type);
  if (name.empty()) return "a type this program never moves";
  // The name everybody writes for the one std type that is spelled out in full.
  static constexpr std::string_view spelled =
      "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >";
  for (auto at = name.find(spelled); at != std::string::npos; at = name.find(spelled, at)) {
    name.replace(at, spelled.size(), "std::string");
  }
  return name;
}

constexpr const char* same_order = "; every process must call each collective, in the same order";

}  // namespace

const char* op_name(Op op) {
  static constexpr const char* names[op_count] = {
      "unknown collective", "broadcast", "scatter", "gather", "gather_blocks", "reduce",
      "allreduce",          "barrier",   "map",     "serve",  "reduce_blocks", "allreduce_blocks"};
  const int index = static_cast<int>(op);
  return index >= 1 && index < op_count ? names[index] : names[0];
}

std::string describe_tag(int tag) {
  if (!is_collective_tag(tag)) return "the message with tag " + std::to_string(tag);
  return std::string(op_name(collective_op(tag))) + " #" + std::to_string(collective_sequence(tag));
}

std::string describe_wait(int self, const Wait& wait) {
  const bool collective = is_collective_tag(wait.tag);
  const bool sending = wait.kind == Wait::Kind::send;
  std::string text = process(self) + " waits ";
  switch (wait.kind) {
    case Wait::Kind::receive:
    case Wait::Kind::send:
      // "in barrier #3 for process 0", "to send the message with tag 5 to process 2"
      text += collective ? "in " + describe_tag(wait.tag) + (sending ? " to send to " : " for ")
                         : (sending ? "to send " : "for ") + describe_tag(wait.tag) +
                               (sending ? " to " : " from ");
      return text + process(wait.peer);
    case Wait::Kind::collective:
      return text + "in " + describe_tag(wait.tag);
    case Wait::Kind::any_message:
      return text + (collective ? "in " + describe_tag(wait.tag)
                                : "for " + describe_tag(wait.tag) + " from any process");
    case Wait::Kind::end_of_run:
      break;
  }
  return text + "for the end of run";
}

void throw_order_mismatch(int self, int tag, int peer, int peer_tag) {
  throw UsageError("collectives called in a different order: " + process(self) + " is in " +
                   describe_tag(tag) + " but " + process(peer) + " is in " +
                   describe_tag(peer_tag) + same_order);
}

void throw_peer_returned(int self, const Wait& wait, int peer, const CollectiveLog& peer_log) {
  std::string text = describe_wait(self, wait) + ", but " + process(peer) +
                     " returned from its function after " + collectives(peer_log.count);
  if (is_collective_tag(wait.tag) || wait.kind == Wait::Kind::collective) {
    text += same_order;
  } else {
    text += "; it will never send what this process waits for (this would block forever)";
  }
  throw UsageError(text);
}

void throw_peer_left(int self, const Wait& wait, int peer) {
  throw UsageError(describe_wait(self, wait) + ", but " + process(peer) +
                   " has left the program (it returned from main, called exit or finalized MPI) "
                   "without taking part; every process must call run, and the collectives in "
                   "it, the same way (guard only the output with on_main())");
}

void check_same_collectives(std::span<const CollectiveLog> logs) {
  if (logs.empty()) return;
  const auto [fewest, most] = std::minmax_element(
      logs.begin(), logs.end(),
      [](const CollectiveLog& a, const CollectiveLog& b) { return a.count < b.count; });
  if (fewest->count == most->count) return;
  // The first collective some processes made and others skipped: number fewest + 1.
  const std::uint64_t skipped = fewest->count + 1;
  std::vector<int> made;
  std::vector<int> not_made;
  for (std::size_t i = 0; i < logs.size(); ++i) {
    (logs[i].count >= skipped ? made : not_made).push_back(static_cast<int>(i));
  }
  const int kind = logs[static_cast<std::size_t>(made.front())].kind_of(skipped);
  const std::string name =
      kind != 0 ? std::string(op_name(static_cast<Op>(kind))) + " #" + std::to_string(skipped)
                : "collective #" + std::to_string(skipped);
  throw UsageError("run: not every process made the same collectives: " + processes(made) +
                   " made " + name + ", but " + processes(not_made) +
                   " returned from the function after " + collectives(fewest->count) + same_order +
                   " (a collective that only some processes call is lost, or hangs)");
}

void throw_receive_type_mismatch(int self, int source, int tag, Fingerprint wanted,
                                 Fingerprint sent) {
  throw TypeMismatch("receive: " + process(self) + " asked for " + describe_type(wanted) +
                     ", but " + describe_tag(tag) + " from " + process(source) + " holds " +
                     describe_type(sent) + " (it stays receivable as that type)");
}

void throw_collective_type_mismatch(int self, int tag, int peer, Fingerprint mine,
                                    Fingerprint theirs) {
  throw TypeMismatch(describe_tag(tag) + ": " + process(peer) + " passed " + describe_type(theirs) +
                     " where " + process(self) + " passed " + describe_type(mine));
}

}  // namespace unipar::detail
