/// @file communicator.hpp
/// @brief The MPI backend's transport: messages, collectives and failure notices over private
/// duplicates of one communicator, with every wait a polling loop that can end in an error.
///
/// Wire protocol (see docs/mpi.md):
///   message  = Header{type, size} + payload in one MPI message when size <= inline_limit();
///              else Header alone, then the payload in pieces of at most piece_limit() bytes,
///              all with the same tag (MPI keeps their order).
///   finished = a Finished record with tag finished_tag, sent by every rank to every other at
///              the end of run: how many messages it sent there and which collectives it
///              made. It ends run (nobody leaves before everybody is done), tells a waiting
///              rank that a peer will never send again, and lets every rank check that all
///              made the same collectives.
///   left     = an empty message with tag left_tag, sent by a rank to every other when it
///              finalizes MPI (returning from main, exit, or MPI_Finalize): a rank waiting for
///              it learns that it never will take part again.
///   collective = a fixed 64-byte Frame {type, size, tag, run, inline payload} moved point to
///              point (binomial tree for broadcast, to and from root otherwise), then, for a
///              larger payload, the payload. A barrier is frames alone.
///   notice   = a failure record (core/failure.hpp) on a third communicator, sent by a rank
///              whose function threw.
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

#include "core/backoff.hpp"
#include "core/checks.hpp"
#include "core/failure.hpp"
#include "core/stash.hpp"
#include "mpi/wire.hpp"
#include "unipar/detail/bytes.hpp"
#include "unipar/detail/tags.hpp"
#include "unipar/error.hpp"

namespace unipar::mpi_detail {

/// Above every tag unipar uses for messages (user tags and collective_tag()).
constexpr int finished_tag = 0x7FFFFFF0;
constexpr int left_tag = 0x7FFFFFF1;
constexpr int output_tag = 0x7FFFFFF2;  // a rank's collected output lines, at the end of run
constexpr int notice_tag = 1;
/// Collective frames, on the collectives' communicator (their payloads use collective tags).
constexpr int frame_tag = 0;

/// Throws unipar::Error naming the MPI call and MPI's description of `code` unless it is
/// MPI_SUCCESS.
void check(int code, const char* call);

// Header, Frame and Finished, and the parsing of received bytes: mpi/wire.hpp.

/// One process's part in a run over MPI. Replaced by a fresh one (new duplicates of the user's
/// communicator) after a failed run, because the failed run's operations can never complete.
class Communicator {
 public:
  /// Duplicates `user` three times (collective over `user`).
  explicit Communicator(MPI_Comm user);
  /// Frees the duplicates unless MPI is finalized.
  ~Communicator();

  /// Tells every other rank that this one will never take part again (once; best effort).
  /// Called for every communicator still kept when this process finalizes MPI.
  void announce_leaving() noexcept;
  /// This communicator's runs can never complete (a failed run): no announcement either.
  void abandon() noexcept { abandoned_ = true; }
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
  /// What every rank learns when a run ends well here.
  struct RunEnd {
    std::vector<detail::CollectiveLog> logs;  // every rank's collectives (for the check)
    std::vector<std::string> lines;           // on rank 0: the others' collected output
  };
  /// `output` (when not null) is sent to rank 0 first; rank 0 gets what every other rank sent,
  /// in rank order.
  RunEnd finish_run(const detail::CollectiveLog& log, const std::string* output);
  /// Tells every other rank that this one failed (unless it only relays a failure it was told
  /// about, or already told).
  void notify_failure(const detail::FailureRecord& record);
  /// Whether this run already failed somewhere (then every wait throws the recorded error).
  bool failed() const { return failure_.has_value(); }
  /// The WorkerError recorded for this run's failure (only when failed()).
  [[noreturn]] void throw_failure() const;

  // ---- messages ----------------------------------------------------------------------------
  void send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes);
  void receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink);
  bool probe(int source, int tag);
  int wait_for_any(int tag);
  /// One round of wait_for_any, with its checks: a source, or -1.
  int poll_any(int tag);

  // ---- collectives (`tag` names the collective and its sequence number) ---------------------
  void broadcast(int root, int tag, detail::Fingerprint type, detail::ConstBytes root_bytes,
                 detail::ByteSink* sink);
  void scatter(int root, int tag, detail::Fingerprint type, detail::ScatterSource* source,
               detail::ByteSink& sink);
  void gather(int root, int tag, detail::Fingerprint type, detail::ConstBytes mine,
              detail::GatherSink* sink);
  void barrier(int tag);

 private:
  /// What a wait is waiting for, to tell when a finished or departed peer makes it hopeless.
  struct Waiting {
    detail::Wait wait;
    bool drain = true;  // take in unexpected messages meanwhile (not while receiving pieces)
  };

  template <class Ready>
  void wait(const Waiting& what, Ready ready);
  /// Waits for `requests`, looking after notices (and draining unless `what.drain` is false);
  /// on an error, cancels them first when `cancel_on_error` (receives into user memory).
  void wait_requests(std::vector<MPI_Request>& requests, const Waiting& what, bool cancel_on_error);
  /// On an error leaving a wait: cancels receives into user memory and completes them.
  void cancel_receives(std::vector<MPI_Request>& requests);

  /// Polls for a failure notice and for messages nobody waits for yet; throws on a failure or
  /// when `what` can no longer complete.
  void service(const Waiting& what);
  void poll_notices();
  /// Takes at most one waiting message off MPI into the stash (or records a Finished or a
  /// departure).
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
  /// Receives the `size` payload bytes that follow a header from `source` on the message
  /// communicator into `target`, adding the MPI messages to `counted`.
  void receive_pieces(int source, int tag, std::byte* target, std::size_t size,
                      std::uint64_t& counted);
  /// A frame for `bytes` (inline when they fit), in this run.
  Frame make_frame(detail::Fingerprint type, detail::ConstBytes bytes, int tag) const;
  /// Copies an inline payload into `target`; false when the payload follows the frame.
  static bool take_inline(const Frame& frame, detail::MutableBytes target);
  static std::size_t pieces(std::size_t size);
  void check_frame(const Frame& frame, int from, int tag, detail::Fingerprint type) const;
  /// Root receives a frame from every other rank (into frames_) and checks them.
  void gather_frames(int root, int tag, detail::Fingerprint type, const Waiting& what);
  /// The frame travels from root down a binomial tree (into frame_ on the others).
  void broadcast_frame(int root, const Waiting& what);
  /// Frames move as point-to-point messages on coll_: for a 64-byte frame between two ranks a
  /// posted receive costs what MPI_Bcast does, a non-blocking MPI collective 2-4 times more.
  void post_frame(int dest, const Frame& frame, std::vector<MPI_Request>& requests);
  void receive_frame(int source, Frame& frame, const Waiting& what);

  MPI_Comm data_ = MPI_COMM_NULL;    // messages, Finished records
  MPI_Comm coll_ = MPI_COMM_NULL;    // collectives and their payloads
  MPI_Comm notice_ = MPI_COMM_NULL;  // failure notices
  int rank_ = 0;
  int size_ = 1;
  detail::BackoffPolicy policy_;
  detail::SpinBudget spin_;

  /// What one run has taken in from the other ranks.
  struct RunState {
    explicit RunState(int size);
    detail::MessageStash stash;
    std::vector<std::uint64_t> received;            // MPI messages taken from each rank
    std::vector<std::optional<Finished>> finished;  // each rank's Finished, once received
    std::vector<bool> left;                         // each rank's departure, once received
  };
  /// What this rank sent to each rank in this run.
  std::vector<std::uint64_t> sent_;
  RunState now_;
  RunState next_;  // what ranks already in the next run sent while this one ends
  std::vector<std::byte> send_buffer_;     // a small message being sent
  std::vector<std::byte> receive_buffer_;  // a small message being received
  Header header_{};                        // a large message's header, until sent
  std::vector<Frame> frames_;              // collective frames (one per rank on root)
  Frame frame_{};
  std::vector<Finished> finished_out_;
  std::vector<std::byte> notice_out_;
  std::vector<MPI_Request> pending_sends_;  // notices and Finished records
  std::optional<detail::FailureRecord> failure_;
  std::uint32_t run_ = 0;  // runs finished on this communicator
  bool abandoned_ = false;
  bool announced_ = false;
};

}  // namespace unipar::mpi_detail
