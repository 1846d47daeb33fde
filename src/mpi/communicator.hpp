/// @file communicator.hpp
/// @brief The MPI backend's transport: messages, collectives and failure notices over private
/// duplicates of one communicator, with every wait a polling loop that can end in an error.
///
/// Wire protocol (see docs/mpi.md):
///   message  = Header{type, size} + payload in one MPI message when size <= inline_limit();
///              else Header alone, then the payload in pieces of at most piece_limit() bytes,
///              all with the same tag (MPI keeps their order).
///   finished = a Finished record with tag finished_tag, sent by every rank to every other at
///              the end of run: how many messages it sent there and how many collectives it
///              made. It ends run (nobody leaves before everybody is done) and tells a waiting
///              rank that a peer will never send again.
///   collective = a fixed 64-byte Frame {type, size, tag, inline payload} moved by a
///              non-blocking MPI collective, then, for a larger payload, the payload.
///   notice   = a failure report on a third communicator, sent by a rank whose function threw.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/exception_info.hpp"
#include "unipar/detail/bytes.hpp"
#include "unipar/error.hpp"

namespace unipar::mpi_detail {

/// Throws unipar::Error naming the MPI call and MPI's description of `code` unless it is
/// MPI_SUCCESS.
void check(int code, const char* call);

/// What a message starts with.
struct Header {
  std::uint64_t type;
  std::uint64_t size;  // payload bytes
};

/// What every collective moves first: who is calling what, how big, and a small payload.
struct Frame {
  static constexpr std::size_t inline_capacity = 40;
  std::uint64_t type;
  std::uint64_t size;
  std::int32_t tag;   // the collective's kind and sequence number (detail::collective_tag)
  std::uint32_t run;  // which run of this communicator (a stale frame is a misuse, not data)
  std::byte inline_bytes[inline_capacity];
};
static_assert(sizeof(Frame) == 64);

/// The end-of-run record every rank sends every other rank.
struct Finished {
  std::uint64_t messages;     // MPI messages sent to the receiver in this run (this one excluded)
  std::uint64_t collectives;  // collectives this rank took part in during this run
};

/// One process's part in a run over MPI. Replaced by a fresh one (new duplicates of the user's
/// communicator) after a failed run, because the failed run's operations can never complete.
class Communicator {
 public:
  /// Duplicates `user` three times (collective over `user`).
  explicit Communicator(MPI_Comm user);
  /// Frees the duplicates unless MPI is finalized.
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  /// Largest payload sent in one MPI message together with its header.
  static std::size_t inline_limit();
  /// Largest payload piece of one MPI message (UNIPAR_MPI_PIECE_BYTES, default 1 GiB).
  static std::size_t piece_limit();

  // ---- run ---------------------------------------------------------------------------------
  /// Ends a run that went well here: tells every rank, waits until every rank did the same and
  /// every message sent to this rank arrived, drops those never received.
  void finish_run(std::uint64_t collectives);
  /// Tells every other rank that this one failed (unless it only relays a failure it was told
  /// about, or already told).
  void notify_failure(int rank, const detail::ExceptionInfo& info);
  /// Whether this run already failed somewhere (then every wait throws the recorded error).
  bool failed() const { return failure_.has_value(); }
  /// The WorkerError recorded for this run's failure (only when failed()).
  [[noreturn]] void throw_failure() const;

  // ---- messages ----------------------------------------------------------------------------
  void send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes);
  void receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink);
  bool probe(int source, int tag);
  int wait_any(int tag);

  // ---- collectives (`tag` names the collective and its sequence number) ---------------------
  void broadcast(int root, int tag, detail::Fingerprint type, detail::ConstBytes root_bytes,
                 detail::ByteSink* sink);
  void scatter(int root, int tag, detail::Fingerprint type, detail::ScatterSource* source,
               detail::ByteSink& sink);
  void gather(int root, int tag, detail::Fingerprint type, detail::ConstBytes mine,
              detail::GatherSink* sink);
  void barrier(int tag);

 private:
  /// A message taken off MPI before anyone asked for it.
  struct Stashed {
    detail::Fingerprint type;
    std::vector<std::byte> payload;
  };
  /// What a wait is waiting for, to tell when a finished peer makes it hopeless.
  struct Waiting {
    const char* operation;
    int source = -1;     // a message from this rank (-1: any)
    int tag = 0;         // ... with this tag
    int collective = 0;  // or a collective with this tag (0: none)
    bool drain = true;   // take in unexpected messages meanwhile (not while receiving pieces)
  };

  template <class Ready>
  void wait(const Waiting& what, Ready ready);
  /// Waits for `requests` while draining nothing (the transfer that belongs to them is under
  /// way); still watches failure notices when `watch` is set.
  void wait_requests(std::vector<MPI_Request>& requests, const Waiting& what, bool watch);
  /// On an error leaving a wait: cancels receives into user memory and completes them.
  void cancel_receives(std::vector<MPI_Request>& requests);

  /// Polls for a failure notice and for messages nobody waits for yet; throws on a failure or
  /// when `what` can no longer complete.
  void service(const Waiting& what);
  void poll_notices();
  /// Takes at most one waiting message off MPI into the stash (or records a Finished).
  bool drain_one();
  void check_hopeless(const Waiting& what) const;

  /// Receives the matched message (header first) into `sink`; counts it.
  void receive_matched(MPI_Message& message, const MPI_Status& status, int tag,
                       detail::Fingerprint type, detail::ByteSink& sink);
  /// Receives the matched message into the stash (front when `front`).
  void stash_matched(MPI_Message& message, const MPI_Status& status, bool front);
  /// Posts receives for `size` payload bytes that follow a header from `source`.
  void post_piece_receives(int source, int tag, MPI_Comm comm, std::byte* target, std::size_t size,
                           std::vector<MPI_Request>& requests);
  void post_piece_sends(int dest, int tag, MPI_Comm comm, const std::byte* data, std::size_t size,
                        std::vector<MPI_Request>& requests);
  static std::size_t pieces(std::size_t size);
  void check_frame(const Frame& frame, int from, int tag, detail::Fingerprint type) const;
  /// Frames move as point-to-point messages on coll_: for a 64-byte frame between two ranks a
  /// posted receive costs what MPI_Bcast does, a non-blocking MPI collective 2-4 times more.
  void post_frame(int dest, const Frame& frame, std::vector<MPI_Request>& requests);
  void receive_frame(int source, Frame& frame, const Waiting& what);

  std::deque<Stashed>* stashed(int source, int tag);

  MPI_Comm data_ = MPI_COMM_NULL;    // messages, Finished records
  MPI_Comm coll_ = MPI_COMM_NULL;    // collectives and their payloads
  MPI_Comm notice_ = MPI_COMM_NULL;  // failure notices
  int rank_ = 0;
  int size_ = 1;
  bool oversubscribed_ = false;

  using Stash = std::map<std::pair<int, int>, std::deque<Stashed>>;  // (source, tag) -> messages
  /// What ranks already in the next run sent while this one ends.
  struct NextRun {
    Stash stash;
    std::vector<std::uint64_t> received;
    std::vector<std::optional<Finished>> finished;
  };
  void reset_next_run();

  Stash stash_;
  std::vector<std::uint64_t> sent_;                // MPI messages sent to each rank in this run
  std::vector<std::uint64_t> received_;            // MPI messages taken from each rank in this run
  std::vector<std::optional<Finished>> finished_;  // each rank's Finished, once received
  NextRun next_;
  std::vector<std::byte> send_buffer_;     // a small message being sent
  std::vector<std::byte> receive_buffer_;  // a small message being received
  Header header_{};                        // a large message's header, until sent
  std::vector<Frame> frames_;              // collective frames (one per rank on root)
  Frame frame_{};
  std::vector<Finished> finished_out_;
  std::string notice_out_;
  std::vector<MPI_Request> pending_sends_;  // notices and Finished records
  std::optional<WorkerError> failure_;
  std::uint32_t run_ = 0;  // runs finished on this communicator
};

}  // namespace unipar::mpi_detail
