/// @file checks.hpp
/// @brief The checks every backend makes on how its processes use the API, with one wording:
/// collectives called in a different order, waits that can never end, processes that did not
/// make the same collectives by the end of run, and receives of the wrong type.
///
/// Messages say "process" for what the MPI backend calls a rank: the process id is the rank.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "unipar/detail/bytes.hpp"
#include "unipar/detail/tags.hpp"

namespace unipar::detail {

/// What a process waits for, to say so when the wait can never end.
struct Wait {
  enum class Kind { receive, send, collective, any_message, end_of_run };
  Kind kind;
  int tag = 0;    // the message's tag, or the collective's
  int peer = -1;  // the process waited for (-1: any)
};

/// "process 1 waits in barrier #1", "process 0 waits for the message with tag 3 from process 1"
std::string describe_wait(int self, const Wait& wait);

/// `self` expects `tag` (a collective's) but `peer` is in `peer_tag`.
[[noreturn]] void throw_order_mismatch(int self, int tag, int peer, int peer_tag);

/// `self` waits for `peer`, whose function returned (after `peer_log.count` collectives).
[[noreturn]] void throw_peer_returned(int self, const Wait& wait, int peer,
                                      const CollectiveLog& peer_log);

/// `self` waits for `peer`, which left the program (returned from main, called exit, or
/// finalized MPI) without entering or finishing this run.
[[noreturn]] void throw_peer_left(int self, const Wait& wait, int peer);

/// At the end of a run: every process must have made the same collectives. `logs[i]` is
/// process i's; throws UsageError naming the first collective some process skipped and who
/// skipped it.
void check_same_collectives(std::span<const CollectiveLog> logs);

/// A receive of the message from `source` with `tag` asked for `wanted` but it holds `sent`.
[[noreturn]] void throw_receive_type_mismatch(int self, int source, int tag, Fingerprint wanted,
                                              Fingerprint sent);

/// In a collective, `peer` passed a value of type `theirs` where `self` passed `mine`.
[[noreturn]] void throw_collective_type_mismatch(int self, int tag, int peer, Fingerprint mine,
                                                 Fingerprint theirs);

}  // namespace unipar::detail
