#include "mpi/communicator.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/settings.hpp"
#include "unipar/codec.hpp"
#include "unipar/detail/tags.hpp"

namespace unipar::mpi_detail {
namespace {

using Clock = std::chrono::steady_clock;

/// Above every tag unipar uses for messages (user tags and collective_tag()).
constexpr int finished_tag = 0x7FFFFFF0;
constexpr int left_tag = 0x7FFFFFF1;
constexpr int output_tag = 0x7FFFFFF2;  // a rank's collected output lines, at the end of run
constexpr int notice_tag = 1;
/// Collective frames, on the collectives' communicator (their payloads use collective tags).
constexpr int frame_tag = 0;

/// More ranks on this node than cores: waiters yield from the start, as Open MPI's own progress
/// loop does.
bool running_oversubscribed() {
  const char* yield = std::getenv("OMPI_MCA_mpi_yield_when_idle");
  if (yield != nullptr && std::strcmp(yield, "1") == 0) return true;
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (local == nullptr) return false;
  int ranks = 0;
  const char* end = local + std::strlen(local);
  const auto [stop, error] = std::from_chars(local, end, ranks);
  return error == std::errc{} && stop == end && detail::oversubscribed(ranks);
}

/// Waiting under MPI is polling: spin while a reply is likely to come soon, then yield the
/// core for up to 20 ms, then sleep in 50 us naps so that an idle rank costs little CPU.
detail::BackoffPolicy mpi_backoff_policy(bool oversubscribed) {
  return {oversubscribed ? 0 : 2000, -1, std::chrono::milliseconds(20)};
}

/// Every communicator of this process that is not destroyed, so that finalizing MPI can tell
/// the other ranks that this one leaves.
std::vector<Communicator*>& kept_communicators() {
  static auto* kept = new std::vector<Communicator*>();
  return *kept;
}

/// Runs at the start of MPI_Finalize (MPI deletes MPI_COMM_SELF's attributes first).
int on_finalize(MPI_Comm, int, void*, void*) {
  for (Communicator* comm : kept_communicators()) comm->announce_leaving();
  return MPI_SUCCESS;
}

void watch_finalize() {
  static const bool watching = [] {
    int key = MPI_KEYVAL_INVALID;
    if (MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, on_finalize, &key, nullptr) != MPI_SUCCESS) {
      return false;
    }
    return MPI_Comm_set_attr(MPI_COMM_SELF, key, nullptr) == MPI_SUCCESS;
  }();
  (void)watching;
}

}  // namespace

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string("mpi: ") + call + " failed: " + std::string(text, length));
}

std::size_t Communicator::piece_limit() {
  static const std::size_t limit = detail::mpi_piece_bytes_setting();
  return limit;
}

std::size_t Communicator::inline_limit() {
  return std::min<std::size_t>(4096 - sizeof(Header), piece_limit());
}

std::size_t Communicator::pieces(std::size_t size) {
  return (size + piece_limit() - 1) / piece_limit();
}

Communicator::RunState::RunState(int size)
    : stash(size),
      received(static_cast<std::size_t>(size), 0),
      finished(static_cast<std::size_t>(size)),
      left(static_cast<std::size_t>(size), false) {}

Communicator::Communicator(MPI_Comm user)
    : policy_(mpi_backoff_policy(running_oversubscribed())),
      spin_(policy_.max_spins),
      now_(0),
      next_(0) {
  check(MPI_Comm_dup(user, &data_), "MPI_Comm_dup");
  check(MPI_Comm_dup(user, &coll_), "MPI_Comm_dup");
  check(MPI_Comm_dup(user, &notice_), "MPI_Comm_dup");
  for (MPI_Comm comm : {data_, coll_, notice_}) {
    check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  }
  check(MPI_Comm_rank(data_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(data_, &size_), "MPI_Comm_size");
  void* tag_ub = nullptr;
  int found = 0;
  check(MPI_Comm_get_attr(data_, MPI_TAG_UB, &tag_ub, &found), "MPI_Comm_get_attr");
  if (found != 0 && *static_cast<int*>(tag_ub) < left_tag) {
    throw Error("mpi: this MPI library's largest tag is " +
                std::to_string(*static_cast<int*>(tag_ub)) + "; unipar needs " +
                std::to_string(left_tag));
  }
  const auto n = static_cast<std::size_t>(size_);
  sent_.assign(n, 0);
  now_ = RunState(size_);
  next_ = RunState(size_);
  frames_.resize(n);
  watch_finalize();
  kept_communicators().push_back(this);
}

Communicator::~Communicator() {
  auto& kept = kept_communicators();
  kept.erase(std::remove(kept.begin(), kept.end(), this), kept.end());
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized != 0) return;
  for (MPI_Comm* comm : {&data_, &coll_, &notice_}) {
    if (*comm != MPI_COMM_NULL) MPI_Comm_free(comm);
  }
}

void Communicator::announce_leaving() noexcept {
  if (announced_ || abandoned_ || size_ == 1) return;
  announced_ = true;
  std::vector<MPI_Request> requests;
  for (int dest = 0; dest < size_; ++dest) {
    if (dest == rank_) continue;
    MPI_Request request = MPI_REQUEST_NULL;
    if (MPI_Isend(nullptr, 0, MPI_BYTE, dest, left_tag, data_, &request) == MPI_SUCCESS) {
      requests.push_back(request);
    }
  }
  // Empty messages leave at once; a peer that is gone must not hold this rank here.
  const auto deadline = Clock::now() + std::chrono::milliseconds(200);
  int done = 0;
  while (done == 0 && Clock::now() < deadline) {
    if (MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done,
                    MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
      break;
    }
  }
  for (MPI_Request& request : requests) {
    if (request != MPI_REQUEST_NULL) MPI_Request_free(&request);
  }
}

// ---- waiting ------------------------------------------------------------------------------------

template <class Ready>
void Communicator::wait(const Waiting& what, Ready ready) {
  if (failure_) throw_failure();
  detail::Backoff backoff(policy_, spin_);
  for (;;) {
    if (ready()) return backoff.ended();
    // Every 16th round, starting with the 16th, also look after notices and unexpected
    // messages: each probe drives MPI's progress engine, which costs about 0.1 us (and,
    // oversubscribed, a yield of the core), and a wait that ends within a few rounds should
    // not pay for it.
    if ((backoff.rounds() & 15) == 15) service(what);
    if (backoff.pause() == detail::Backoff::Phase::sleep) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

void Communicator::wait_requests(std::vector<MPI_Request>& requests, const Waiting& what,
                                 bool cancel_on_error) {
  try {
    wait(what, [&] {
      int done = 0;
      check(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done,
                        MPI_STATUSES_IGNORE),
            "MPI_Testall");
      return done != 0;
    });
  } catch (...) {
    if (cancel_on_error) cancel_receives(requests);
    throw;
  }
}

void Communicator::cancel_receives(std::vector<MPI_Request>& requests) {
  // A cancelled receive will never write into the user's memory; one that already matched a
  // message completes, since its sender is alive and sending.
  for (MPI_Request& request : requests) {
    if (request != MPI_REQUEST_NULL) MPI_Cancel(&request);
  }
  for (MPI_Request& request : requests) {
    if (request != MPI_REQUEST_NULL) MPI_Wait(&request, MPI_STATUS_IGNORE);
  }
}

void Communicator::service(const Waiting& what) {
  poll_notices();
  for (int i = 0; what.drain && i < 64 && drain_one(); ++i) {
  }
  check_hopeless(what);
}

void Communicator::poll_notices() {
  if (failure_) throw_failure();
  int flag = 0;
  MPI_Status status;
  check(MPI_Iprobe(MPI_ANY_SOURCE, notice_tag, notice_, &flag, &status), "MPI_Iprobe");
  if (flag == 0) return;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::vector<std::byte> notice(static_cast<std::size_t>(count));
  check(MPI_Recv(notice.data(), count, MPI_BYTE, status.MPI_SOURCE, notice_tag, notice_,
                 MPI_STATUS_IGNORE),
        "MPI_Recv");
  try {
    failure_ = detail::FailureRecord::decode(notice);
  } catch (const TypeMismatch&) {
    failure_ = detail::FailureRecord::thrown(
        status.MPI_SOURCE, {"unipar::Error", "its failure notice could not be read", {}});
  }
  failure_->facts.process = status.MPI_SOURCE;
  throw_failure();
}

void Communicator::throw_failure() const {
  failure_->raise(rank_);
}

void Communicator::notify_failure(const detail::FailureRecord& record) {
  if (failure_) return;  // this rank knows of a failure: it was told, or told everybody
  notice_out_ = record.encode();
  for (int dest = 0; dest < size_; ++dest) {
    if (dest == rank_) continue;
    MPI_Request request = MPI_REQUEST_NULL;
    // Best effort: the rank is failing already, an error here would only hide the first one.
    if (MPI_Isend(notice_out_.data(), static_cast<int>(notice_out_.size()), MPI_BYTE, dest,
                  notice_tag, notice_, &request) == MPI_SUCCESS) {
      pending_sends_.push_back(request);
    }
  }
  failure_ = record;
}

void Communicator::check_hopeless(const Waiting& what) const {
  const detail::Wait& wait = what.wait;
  const bool collective = detail::is_collective_tag(wait.tag);
  for (int r = 0; r < size_; ++r) {
    if (r == rank_ || (wait.peer >= 0 && r != wait.peer)) continue;
    if (wait.peer < 0 && !collective && wait.kind != detail::Wait::Kind::end_of_run) continue;
    const auto& done = now_.finished[static_cast<std::size_t>(r)];
    if (!done) {
      if (now_.left[static_cast<std::size_t>(r)]) detail::throw_peer_left(rank_, wait, r);
      continue;
    }
    // Its Finished record came after all its messages, which are in the stash by now.
    if (collective) {
      if (done->log.count < detail::collective_sequence(wait.tag)) {
        detail::throw_peer_returned(rank_, wait, r, done->log);
      }
    } else if (wait.kind == detail::Wait::Kind::receive && !now_.stash.contains(r, wait.tag)) {
      detail::throw_peer_returned(rank_, wait, r, done->log);
    }
  }
}

// ---- messages ---------------------------------------------------------------------------------

void Communicator::post_piece_sends(int dest, int tag, MPI_Comm comm, const std::byte* data,
                                    std::size_t size, std::vector<MPI_Request>& requests) {
  for (std::size_t offset = 0; offset < size; offset += piece_limit()) {
    const auto count = static_cast<int>(std::min(piece_limit(), size - offset));
    MPI_Request request = MPI_REQUEST_NULL;
    // MPI's send buffers are not const in older headers; the bytes are only read.
    check(MPI_Isend(const_cast<std::byte*>(data + offset), count, MPI_BYTE, dest, tag, comm,
                    &request),
          "MPI_Isend");
    requests.push_back(request);
  }
}

void Communicator::post_piece_receives(int source, int tag, MPI_Comm comm, std::byte* target,
                                       std::size_t size, std::vector<MPI_Request>& requests) {
  for (std::size_t offset = 0; offset < size; offset += piece_limit()) {
    const auto count = static_cast<int>(std::min(piece_limit(), size - offset));
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Irecv(target + offset, count, MPI_BYTE, source, tag, comm, &request), "MPI_Irecv");
    requests.push_back(request);
  }
}

void Communicator::send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) {
  if (failure_) throw_failure();
  std::vector<MPI_Request> requests;
  const auto d = static_cast<std::size_t>(dest);
  if (bytes.size() <= inline_limit()) {
    // Small: header and payload in one message (one copy, one MPI call).
    std::vector<std::byte>& out = send_buffer_;
    out.resize(sizeof(Header) + bytes.size());
    const Header header{type, bytes.size()};
    std::memcpy(out.data(), &header, sizeof header);
    if (!bytes.empty()) std::memcpy(out.data() + sizeof header, bytes.data(), bytes.size());
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Isend(out.data(), static_cast<int>(out.size()), MPI_BYTE, dest, tag, data_, &request),
          "MPI_Isend");
    requests.push_back(request);
    sent_[d] += 1;
  } else {
    // Large: the header, then the payload straight from the caller's memory.
    header_ = {type, bytes.size()};
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Isend(&header_, sizeof header_, MPI_BYTE, dest, tag, data_, &request), "MPI_Isend");
    requests.push_back(request);
    post_piece_sends(dest, tag, data_, bytes.data(), bytes.size(), requests);
    sent_[d] += 1 + pieces(bytes.size());
  }
  // A send returns once its bytes are out of the caller's memory; meanwhile this rank takes in
  // whatever is sent to it, so two ranks sending large messages to each other never deadlock.
  wait_requests(requests, {{detail::Wait::Kind::send, tag, dest}}, false);
}

void Communicator::receive_matched(MPI_Message& message, const MPI_Status& status, int tag,
                                   detail::Fingerprint type, detail::ByteSink& sink) {
  const int source = status.MPI_SOURCE;
  const Waiting what{{detail::Wait::Kind::receive, tag, source}, false};
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Header header{};
  std::vector<std::byte>& in = receive_buffer_;
  std::uint64_t& received = now_.received[static_cast<std::size_t>(source)];
  if (count > static_cast<int>(sizeof header)) {
    in.resize(static_cast<std::size_t>(count));
    check(MPI_Mrecv(in.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
    received += 1;
    std::memcpy(&header, in.data(), sizeof header);
    const std::size_t size = in.size() - sizeof header;
    if (header.size != size) detail::throw_corrupt("message", "size field");
    if (header.type != type) {
      now_.stash.push_front(source, {tag, header.type, {in.begin() + sizeof header, in.end()}});
      detail::throw_receive_type_mismatch(rank_, source, tag, type, header.type);
    }
    const detail::MutableBytes target = sink.prepare(size);
    std::memcpy(target.data(), in.data() + sizeof header, size);
    return;
  }
  if (count != static_cast<int>(sizeof header)) {
    MPI_Mrecv(nullptr, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE);
    received += 1;
    detail::throw_corrupt("message", "shorter than its header");
  }
  check(MPI_Mrecv(&header, sizeof header, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  received += 1;
  std::vector<MPI_Request> requests;
  if (header.size == 0 || header.type != type) {
    // Empty, or the wrong type: take the payload into the stash (a wrong type stays receivable).
    detail::MessageStash::Message entry{tag, header.type, std::vector<std::byte>(header.size)};
    post_piece_receives(source, tag, data_, entry.bytes.data(), header.size, requests);
    received += pieces(header.size);
    wait_requests(requests, what, true);
    if (header.type != type) {
      now_.stash.push_front(source, std::move(entry));
      detail::throw_receive_type_mismatch(rank_, source, tag, type, header.type);
    }
    sink.prepare(0);
    return;
  }
  detail::MutableBytes target;
  try {
    target = sink.prepare(header.size);
  } catch (...) {
    // The payload is on its way: take it off MPI so the next message is in its place.
    std::vector<std::byte> discard(header.size);
    post_piece_receives(source, tag, data_, discard.data(), header.size, requests);
    received += pieces(header.size);
    wait_requests(requests, what, true);
    throw;
  }
  post_piece_receives(source, tag, data_, target.data(), header.size, requests);
  received += pieces(header.size);
  wait_requests(requests, what, true);
}

void Communicator::stash_matched(MPI_Message& message, const MPI_Status& status, bool front) {
  const int source = status.MPI_SOURCE;
  const int tag = status.MPI_TAG;
  const auto from = static_cast<std::size_t>(source);
  // A rank whose Finished record for this run arrived may already be in the next run (it left
  // once everyone had finished): what it sends now belongs to that run, kept apart.
  RunState& run = now_.finished[from].has_value() ? next_ : now_;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::vector<std::byte> in(static_cast<std::size_t>(count));
  check(MPI_Mrecv(in.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  if (tag == finished_tag) {
    Finished done{};
    if (in.size() != sizeof done) detail::throw_corrupt("end-of-run record", "size");
    std::memcpy(&done, in.data(), sizeof done);
    run.finished[from] = done;  // not counted as a message
    return;
  }
  if (tag == left_tag) {
    run.left[from] = true;  // not counted: it is sent after the last run's record
    return;
  }
  run.received[from] += 1;
  Header header{};
  if (in.size() < sizeof header) detail::throw_corrupt("message", "shorter than its header");
  std::memcpy(&header, in.data(), sizeof header);
  detail::MessageStash::Message entry{tag, header.type, {}};
  if (in.size() > sizeof header) {
    if (header.size != in.size() - sizeof header) detail::throw_corrupt("message", "size field");
    entry.bytes.assign(in.begin() + sizeof header, in.end());
  } else if (header.size > 0) {
    entry.bytes.resize(header.size);
    std::vector<MPI_Request> requests;
    post_piece_receives(source, tag, data_, entry.bytes.data(), header.size, requests);
    run.received[from] += pieces(header.size);
    // No draining here: these pieces are the next messages from `source` with this tag.
    wait_requests(requests, {{detail::Wait::Kind::receive, tag, source}, false}, true);
  }
  if (front) {
    run.stash.push_front(source, std::move(entry));
  } else {
    run.stash.push_back(source, std::move(entry));
  }
}

bool Communicator::drain_one() {
  int flag = 0;
  MPI_Message message = MPI_MESSAGE_NULL;
  MPI_Status status;
  check(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, data_, &flag, &message, &status), "MPI_Improbe");
  if (flag == 0) return false;
  stash_matched(message, status, false);
  return true;
}

void Communicator::receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink) {
  wait({{detail::Wait::Kind::receive, tag, source}}, [&] {
    if (now_.stash.take(rank_, source, tag, type, sink)) return true;
    int flag = 0;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPI_Status status;
    check(MPI_Improbe(source, tag, data_, &flag, &message, &status), "MPI_Improbe");
    if (flag == 0) return false;
    receive_matched(message, status, tag, type, sink);
    return true;
  });
}

bool Communicator::probe(int source, int tag) {
  poll_notices();
  if (now_.stash.contains(source, tag)) return true;
  int flag = 0;
  check(MPI_Iprobe(source, tag, data_, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
  if (flag != 0) return true;
  // Take in what has arrived: a sender may be waiting for that before it sends this message
  // (a large message with another tag first), and a polling loop must see it in the end.
  for (int i = 0; i < 64 && drain_one(); ++i) {
  }
  return now_.stash.contains(source, tag);
}

int Communicator::wait_for_any(int tag) {
  int found = -1;
  wait({{detail::Wait::Kind::any_message, tag, -1}}, [&] {
    found = now_.stash.any_source(tag, rank_);
    if (found >= 0) return true;
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(MPI_ANY_SOURCE, tag, data_, &flag, &status), "MPI_Iprobe");
    if (flag != 0) found = status.MPI_SOURCE;
    return flag != 0;
  });
  return found;
}

// ---- the end of a run -------------------------------------------------------------------------

Communicator::RunEnd Communicator::finish_run(const detail::CollectiveLog& log,
                                              const std::string* output) {
  if (failure_) throw_failure();
  if (output != nullptr && !output->empty() && rank_ != 0) {
    send(0, output_tag, 0, std::as_bytes(std::span(output->data(), output->size())));
  }
  finished_out_.assign(static_cast<std::size_t>(size_), {});
  std::vector<MPI_Request> requests;
  for (int dest = 0; dest < size_; ++dest) {
    if (dest == rank_) continue;
    auto& record = finished_out_[static_cast<std::size_t>(dest)];
    record = {sent_[static_cast<std::size_t>(dest)], log};
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Isend(&record, sizeof record, MPI_BYTE, dest, finished_tag, data_, &request),
          "MPI_Isend");
    requests.push_back(request);
  }
  wait({{detail::Wait::Kind::end_of_run}}, [&] {
    while (drain_one()) {
    }
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      const auto& done = now_.finished[static_cast<std::size_t>(r)];
      if (!done || now_.received[static_cast<std::size_t>(r)] < done->messages) return false;
    }
    int sent = 0;
    check(
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &sent, MPI_STATUSES_IGNORE),
        "MPI_Testall");
    return sent != 0;
  });
  RunEnd end;
  for (int r = 0; r < size_; ++r) {
    end.logs.push_back(r == rank_ ? log : now_.finished[static_cast<std::size_t>(r)]->log);
  }
  if (rank_ == 0) {
    for (int r = 1; r < size_; ++r) {
      std::string text;
      detail::Decoder<std::string> decoder(text);
      if (now_.stash.take(rank_, r, output_tag, 0, decoder)) end.lines.push_back(std::move(text));
    }
  }
  // Messages nobody received are dropped, as under fork; what ranks already in the next run
  // sent is that run's.
  now_ = std::move(next_);
  next_ = RunState(size_);
  std::fill(sent_.begin(), sent_.end(), 0);
  ++run_;
  return end;
}

// ---- collectives ------------------------------------------------------------------------------

void Communicator::post_frame(int dest, const Frame& frame, std::vector<MPI_Request>& requests) {
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Isend(const_cast<Frame*>(&frame), sizeof frame, MPI_BYTE, dest, frame_tag, coll_,
                  &request),
        "MPI_Isend");
  requests.push_back(request);
}

void Communicator::receive_frame(int source, Frame& frame, const Waiting& what) {
  std::vector<MPI_Request> requests(1);
  check(MPI_Irecv(&frame, sizeof frame, MPI_BYTE, source, frame_tag, coll_, requests.data()),
        "MPI_Irecv");
  wait_requests(requests, what, true);
}

void Communicator::check_frame(const Frame& frame, int from, int tag,
                               detail::Fingerprint type) const {
  if (frame.run != run_) {
    throw UsageError("collectives called in a different order: process " + std::to_string(rank_) +
                     " received a frame of " + detail::describe_tag(frame.tag) + " from process " +
                     std::to_string(from) + " left over from an earlier run");
  }
  if (frame.tag != tag) detail::throw_order_mismatch(rank_, tag, from, frame.tag);
  if (frame.type != type)
    detail::throw_collective_type_mismatch(rank_, tag, from, type, frame.type);
}

void Communicator::broadcast_frame(int root, const Waiting& what) {
  // One message between two ranks, log2(n) steps for n, relative to root.
  const int relative = (rank_ - root + size_) % size_;
  int mask = 1;
  while (mask < size_ && (relative & mask) == 0) mask <<= 1;
  if (rank_ != root) receive_frame((relative - mask + root) % size_, frame_, what);
  std::vector<MPI_Request> requests;
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (relative + mask < size_) post_frame((relative + mask + root) % size_, frame_, requests);
  }
  if (!requests.empty()) wait_requests(requests, what, false);
}

void Communicator::gather_frames(int root, int tag, detail::Fingerprint type, const Waiting& what) {
  std::vector<MPI_Request> requests;
  for (int r = 0; r < size_; ++r) {
    if (r == root) continue;
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Irecv(&frames_[static_cast<std::size_t>(r)], sizeof(Frame), MPI_BYTE, r, frame_tag,
                    coll_, &request),
          "MPI_Irecv");
    requests.push_back(request);
  }
  wait_requests(requests, what, true);
  for (int r = 0; r < size_; ++r) {
    if (r != root) check_frame(frames_[static_cast<std::size_t>(r)], r, tag, type);
  }
}

void Communicator::broadcast(int root, int tag, detail::Fingerprint type,
                             detail::ConstBytes root_bytes, detail::ByteSink* sink) {
  const Waiting what{{detail::Wait::Kind::collective, tag, -1}};
  if (rank_ == root) {
    frame_ = {type, root_bytes.size(), tag, run_, {}};
    if (root_bytes.size() <= Frame::inline_capacity && !root_bytes.empty()) {
      std::memcpy(frame_.inline_bytes, root_bytes.data(), root_bytes.size());
    }
  }
  broadcast_frame(root, what);
  detail::MutableBytes target;
  if (rank_ != root) {
    check_frame(frame_, root, tag, type);
    target = sink->prepare(frame_.size);
    if (frame_.size <= Frame::inline_capacity) {
      if (frame_.size > 0) std::memcpy(target.data(), frame_.inline_bytes, frame_.size);
      return;
    }
  } else if (root_bytes.size() <= Frame::inline_capacity) {
    return;
  }
  // A larger payload goes straight into each rank's memory. First every rank confirms it is
  // here and ready (so that no rank can leave with a broadcast into its memory still pending),
  // then the payload, in pieces of at most piece_limit() bytes.
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  check(MPI_Ibarrier(coll_, requests.data()), "MPI_Ibarrier");
  wait_requests(requests, what, false);
  const std::size_t size = frame_.size;
  std::byte* data = rank_ == root ? const_cast<std::byte*>(root_bytes.data()) : target.data();
  requests.clear();
  for (std::size_t offset = 0; offset < size; offset += piece_limit()) {
    const auto count = static_cast<int>(std::min(piece_limit(), size - offset));
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Ibcast(data + offset, count, MPI_BYTE, root, coll_, &request), "MPI_Ibcast");
    requests.push_back(request);
  }
  wait_requests(requests, what, false);
}

void Communicator::scatter(int root, int tag, detail::Fingerprint type,
                           detail::ScatterSource* source, detail::ByteSink& sink) {
  const Waiting what{{detail::Wait::Kind::collective, tag, -1}};
  std::vector<MPI_Request> requests;
  if (rank_ != root) {
    receive_frame(root, frame_, what);
    check_frame(frame_, root, tag, type);
    const detail::MutableBytes target = sink.prepare(frame_.size);
    if (frame_.size <= Frame::inline_capacity) {
      if (frame_.size > 0) std::memcpy(target.data(), frame_.inline_bytes, frame_.size);
      return;
    }
    post_piece_receives(root, tag, coll_, target.data(), frame_.size, requests);
    wait_requests(requests, what, true);
    return;
  }
  for (int r = 0; r < size_; ++r) {
    const detail::ConstBytes part = source->part(r);
    Frame& frame = frames_[static_cast<std::size_t>(r)];
    frame = {type, part.size(), tag, run_, {}};
    if (part.size() <= Frame::inline_capacity && !part.empty()) {
      std::memcpy(frame.inline_bytes, part.data(), part.size());
    }
  }
  for (int r = 0; r < size_; ++r) {
    if (r != root) post_frame(r, frames_[static_cast<std::size_t>(r)], requests);
  }
  wait_requests(requests, what, false);
  // Every larger block straight from its place, while copying root's own.
  requests.clear();
  for (int r = 0; r < size_; ++r) {
    const detail::ConstBytes part = source->part(r);
    if (r != root && part.size() > Frame::inline_capacity) {
      post_piece_sends(r, tag, coll_, part.data(), part.size(), requests);
    }
  }
  const detail::ConstBytes own = source->part(root);
  const detail::MutableBytes target = sink.prepare(own.size());
  if (!own.empty()) std::memcpy(target.data(), own.data(), own.size());
  wait_requests(requests, what, false);
}

void Communicator::gather(int root, int tag, detail::Fingerprint type, detail::ConstBytes mine,
                          detail::GatherSink* sink) {
  const Waiting what{{detail::Wait::Kind::collective, tag, -1}};
  frame_ = {type, mine.size(), tag, run_, {}};
  if (mine.size() <= Frame::inline_capacity && !mine.empty()) {
    std::memcpy(frame_.inline_bytes, mine.data(), mine.size());
  }
  std::vector<MPI_Request> requests;
  if (rank_ != root) {
    post_frame(root, frame_, requests);
    wait_requests(requests, what, false);
    if (mine.size() <= Frame::inline_capacity) return;
    requests.clear();
    post_piece_sends(root, tag, coll_, mine.data(), mine.size(), requests);
    wait_requests(requests, what, false);
    return;
  }
  frames_[static_cast<std::size_t>(root)] = frame_;
  gather_frames(root, tag, type, what);
  // Sizes are known: each block is received straight into its place, in rank order.
  try {
    for (int r = 0; r < size_; ++r) {
      const Frame& frame = frames_[static_cast<std::size_t>(r)];
      const detail::MutableBytes target = sink->prepare(r, frame.size);
      if (r == root) {
        if (!mine.empty()) std::memcpy(target.data(), mine.data(), mine.size());
      } else if (frame.size <= Frame::inline_capacity) {
        if (frame.size > 0) std::memcpy(target.data(), frame.inline_bytes, frame.size);
      } else {
        post_piece_receives(r, tag, coll_, target.data(), frame.size, requests);
      }
    }
  } catch (...) {
    cancel_receives(requests);
    throw;
  }
  wait_requests(requests, what, true);
}

void Communicator::barrier(int tag) {
  // Frames, not MPI_Ibarrier: a rank that is in another collective then receives a frame it
  // can check (and report), where a barrier would wait forever. Everyone reports to rank 0,
  // which releases everyone down a tree.
  const Waiting what{{detail::Wait::Kind::collective, tag, -1}};
  frame_ = {0, 0, tag, run_, {}};
  if (rank_ == 0) {
    gather_frames(0, tag, 0, what);
  } else {
    std::vector<MPI_Request> requests;
    post_frame(0, frame_, requests);
    wait_requests(requests, what, false);
  }
  broadcast_frame(0, what);
  if (rank_ != 0) check_frame(frame_, 0, tag, 0);
}

}  // namespace unipar::mpi_detail
