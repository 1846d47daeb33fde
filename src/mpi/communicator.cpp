#include "mpi/communicator.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "unipar/codec.hpp"
#include "unipar/detail/tags.hpp"

namespace unipar::mpi_detail {
namespace {

using Clock = std::chrono::steady_clock;

/// Above every tag unipar uses for messages (user tags and collective_tag()).
constexpr int finished_tag = 0x7FFFFFF0;
constexpr int notice_tag = 1;
/// Collective frames, on the collectives' communicator (their payloads use collective tags).
constexpr int frame_tag = 0;

std::size_t read_size_setting(const char* name, std::size_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  std::size_t value = 0;
  const char* end = text + std::strlen(text);
  const auto [stop, error] = std::from_chars(text, end, value);
  if (error != std::errc{} || stop != end || value == 0) {
    throw UsageError(std::string(name) + "='" + text + "' is not a whole number > 0");
  }
  return value;
}

/// Waiting under MPI is polling: spin while a reply is likely to come soon, then yield the core,
/// then sleep in short steps so that an idle rank costs little CPU. Oversubscribed ranks (more
/// ranks than cores here) yield from the start, as Open MPI's own progress loop does.
class Backoff {
 public:
  explicit Backoff(bool oversubscribed) : spins_(oversubscribed ? 0 : 2000) {}

  /// Whether this round should also look after notices and unexpected messages: every 16th
  /// round, starting with the 16th. Each probe drives MPI's progress engine, which costs about
  /// 0.1 µs (and, oversubscribed, a yield of the core): a wait that ends within a few rounds
  /// should not pay for it.
  bool service_due() const { return (round_ & 15) == 15; }

  void pause() {
    ++round_;
    if (spins_ > 0) {
      --spins_;
      return;
    }
    if (yield_start_ == Clock::time_point{}) yield_start_ = Clock::now();
    if (Clock::now() - yield_start_ < std::chrono::milliseconds(20)) {
      sched_yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  int spins_;
  unsigned round_ = 0;
  Clock::time_point yield_start_{};
};

bool running_oversubscribed() {
  const char* yield = std::getenv("OMPI_MCA_mpi_yield_when_idle");
  if (yield != nullptr && std::strcmp(yield, "1") == 0) return true;
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (local == nullptr) return false;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::atoi(local)) > cores;
}

// A failure notice: rank, pid, item (or -1), then host, type name and message, each prefixed
// with its length.
void put_text(std::string& out, const std::string& text) {
  const auto length = static_cast<std::uint64_t>(text.size());
  out.append(reinterpret_cast<const char*>(&length), sizeof length);
  out += text;
}

std::string get_text(const std::string& in, std::size_t& at) {
  std::uint64_t length = 0;
  if (at + sizeof length > in.size()) return {};
  std::memcpy(&length, in.data() + at, sizeof length);
  at += sizeof length;
  length = std::min<std::uint64_t>(length, in.size() - at);
  std::string text = in.substr(at, length);
  at += length;
  return text;
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
  static const std::size_t limit = std::min<std::size_t>(
      read_size_setting("UNIPAR_MPI_PIECE_BYTES", std::size_t{1} << 30), INT_MAX);
  return limit;
}

std::size_t Communicator::inline_limit() {
  return std::min<std::size_t>(4096 - sizeof(Header), piece_limit());
}

std::size_t Communicator::pieces(std::size_t size) {
  return (size + piece_limit() - 1) / piece_limit();
}

Communicator::Communicator(MPI_Comm user) {
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
  if (found != 0 && *static_cast<int*>(tag_ub) < finished_tag) {
    throw Error("mpi: this MPI library's largest tag is " +
                std::to_string(*static_cast<int*>(tag_ub)) + "; unipar needs " +
                std::to_string(finished_tag));
  }
  oversubscribed_ = running_oversubscribed();
  const auto n = static_cast<std::size_t>(size_);
  sent_.assign(n, 0);
  received_.assign(n, 0);
  finished_.assign(n, std::nullopt);
  frames_.resize(n);
  reset_next_run();
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized != 0) return;
  for (MPI_Comm* comm : {&data_, &coll_, &notice_}) {
    if (*comm != MPI_COMM_NULL) MPI_Comm_free(comm);
  }
}

// ---- waiting ------------------------------------------------------------------------------------

template <class Ready>
void Communicator::wait(const Waiting& what, Ready ready) {
  if (failure_) throw_failure();
  Backoff backoff(oversubscribed_);
  for (;;) {
    if (ready()) return;
    if (backoff.service_due()) service(what);
    backoff.pause();
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
  std::string notice(static_cast<std::size_t>(count), '\0');
  check(MPI_Recv(notice.data(), count, MPI_BYTE, status.MPI_SOURCE, notice_tag, notice_,
                 MPI_STATUS_IGNORE),
        "MPI_Recv");
  std::int32_t rank = status.MPI_SOURCE;
  std::int64_t pid = 0;
  std::int64_t item = -1;
  std::size_t at = 0;
  if (notice.size() >= sizeof rank + sizeof pid + sizeof item) {
    std::memcpy(&rank, notice.data(), sizeof rank);
    std::memcpy(&pid, notice.data() + sizeof rank, sizeof pid);
    std::memcpy(&item, notice.data() + sizeof rank + sizeof pid, sizeof item);
    at = sizeof rank + sizeof pid + sizeof item;
  }
  std::string host = get_text(notice, at);
  std::string type_name = get_text(notice, at);
  std::string message = get_text(notice, at);
  failure_.emplace(
      rank, static_cast<pid_t>(pid), std::move(host), std::move(type_name), std::move(message),
      item >= 0 ? std::optional<std::size_t>(static_cast<std::size_t>(item)) : std::nullopt);
  throw_failure();
}

void Communicator::throw_failure() const {
  throw WorkerError(*failure_);
}

void Communicator::notify_failure(int rank, const detail::ExceptionInfo& info) {
  if (failure_) return;  // this rank knows of a failure: it was told, or told everybody
  const std::int32_t failing = rank;
  const std::int64_t pid = getpid();
  const std::int64_t item = info.item ? static_cast<std::int64_t>(*info.item) : -1;
  notice_out_.clear();
  notice_out_.append(reinterpret_cast<const char*>(&failing), sizeof failing);
  notice_out_.append(reinterpret_cast<const char*>(&pid), sizeof pid);
  notice_out_.append(reinterpret_cast<const char*>(&item), sizeof item);
  put_text(notice_out_, detail::host_name());
  put_text(notice_out_, info.type_name);
  put_text(notice_out_, info.message);
  for (int dest = 0; dest < size_; ++dest) {
    if (dest == rank_) continue;
    MPI_Request request = MPI_REQUEST_NULL;
    // Best effort: the rank is failing already, an error here would only hide the first one.
    if (MPI_Isend(notice_out_.data(), static_cast<int>(notice_out_.size()), MPI_BYTE, dest,
                  notice_tag, notice_, &request) == MPI_SUCCESS) {
      pending_sends_.push_back(request);
    }
  }
  failure_.emplace(rank, static_cast<pid_t>(pid), detail::host_name(), info.type_name, info.message,
                   info.item);
}

void Communicator::check_hopeless(const Waiting& what) const {
  if (what.source >= 0 && what.source != rank_ &&
      finished_[static_cast<std::size_t>(what.source)]) {
    // Its Finished record came after all its messages, which are in the stash by now.
    const auto it = stash_.find({what.source, what.tag});
    if (it == stash_.end() || it->second.empty()) {
      throw UsageError("mpi: rank " + std::to_string(rank_) + " waits in " + what.operation +
                       " for the " + detail::describe_tag(what.tag) + " from rank " +
                       std::to_string(what.source) +
                       ", but that rank's function has already returned; this would block "
                       "forever");
    }
  }
  if (what.collective != 0) {
    const std::uint64_t sequence = static_cast<std::uint64_t>(what.collective) & 0xFFFFFF;
    for (int r = 0; r < size_; ++r) {
      const auto& done = finished_[static_cast<std::size_t>(r)];
      if (done && (done->collectives & 0xFFFFFF) < sequence) {
        throw UsageError("mpi: rank " + std::to_string(rank_) + " waits in " +
                         detail::describe_tag(what.collective) + ", but rank " + std::to_string(r) +
                         " returned from its function after " + std::to_string(done->collectives) +
                         " collectives; collectives must be called by every rank, in the same "
                         "order");
      }
    }
  }
}

// ---- messages ---------------------------------------------------------------------------------

std::deque<Communicator::Stashed>* Communicator::stashed(int source, int tag) {
  const auto it = stash_.find({source, tag});
  if (it == stash_.end() || it->second.empty()) return nullptr;
  return &it->second;
}

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
  wait_requests(requests, {"send"}, false);
}

void Communicator::receive_matched(MPI_Message& message, const MPI_Status& status, int tag,
                                   detail::Fingerprint type, detail::ByteSink& sink) {
  const int source = status.MPI_SOURCE;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Header header{};
  std::vector<std::byte>& in = receive_buffer_;
  if (count > static_cast<int>(sizeof header)) {
    in.resize(static_cast<std::size_t>(count));
    check(MPI_Mrecv(in.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
    received_[static_cast<std::size_t>(source)] += 1;
    std::memcpy(&header, in.data(), sizeof header);
    const std::size_t size = in.size() - sizeof header;
    if (header.size != size) detail::throw_corrupt("message", "size field");
    if (header.type != type) {
      stash_[{source, tag}].push_front(
          {header.type, std::vector<std::byte>(in.begin() + sizeof header, in.end())});
      detail::throw_receive_type_mismatch(source, tag);
    }
    const detail::MutableBytes target = sink.prepare(size);
    std::memcpy(target.data(), in.data() + sizeof header, size);
    return;
  }
  if (count != static_cast<int>(sizeof header)) {
    MPI_Mrecv(nullptr, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE);
    received_[static_cast<std::size_t>(source)] += 1;
    detail::throw_corrupt("message", "shorter than its header");
  }
  check(MPI_Mrecv(&header, sizeof header, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  received_[static_cast<std::size_t>(source)] += 1;
  if (header.size == 0 || header.type != type) {
    // Empty, or the wrong type: take the payload into the stash (a wrong type stays receivable).
    Stashed entry{header.type, std::vector<std::byte>(header.size)};
    std::vector<MPI_Request> requests;
    post_piece_receives(source, tag, data_, entry.payload.data(), header.size, requests);
    received_[static_cast<std::size_t>(source)] += pieces(header.size);
    wait_requests(requests, {"receive"}, true);
    if (header.type != type) {
      stash_[{source, tag}].push_front(std::move(entry));
      detail::throw_receive_type_mismatch(source, tag);
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
    std::vector<MPI_Request> requests;
    post_piece_receives(source, tag, data_, discard.data(), header.size, requests);
    received_[static_cast<std::size_t>(source)] += pieces(header.size);
    wait_requests(requests, {"receive"}, true);
    throw;
  }
  std::vector<MPI_Request> requests;
  post_piece_receives(source, tag, data_, target.data(), header.size, requests);
  received_[static_cast<std::size_t>(source)] += pieces(header.size);
  wait_requests(requests, {"receive"}, true);
}

void Communicator::stash_matched(MPI_Message& message, const MPI_Status& status, bool front) {
  const int source = status.MPI_SOURCE;
  const int tag = status.MPI_TAG;
  const auto from = static_cast<std::size_t>(source);
  // A rank whose Finished record for this run arrived may already be in the next run (it left
  // once everyone had finished): what it sends now belongs to that run, kept apart.
  const bool ahead = finished_[from].has_value();
  std::uint64_t& counted = ahead ? next_.received[from] : received_[from];
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::vector<std::byte> in(static_cast<std::size_t>(count));
  check(MPI_Mrecv(in.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  if (tag == finished_tag) {
    Finished done{};
    if (in.size() != sizeof done) detail::throw_corrupt("end-of-run record", "size");
    std::memcpy(&done, in.data(), sizeof done);
    (ahead ? next_.finished : finished_)[from] = done;  // not counted as a message
    return;
  }
  counted += 1;
  Header header{};
  if (in.size() < sizeof header) detail::throw_corrupt("message", "shorter than its header");
  std::memcpy(&header, in.data(), sizeof header);
  Stashed entry{header.type, {}};
  if (in.size() > sizeof header) {
    if (header.size != in.size() - sizeof header) detail::throw_corrupt("message", "size field");
    entry.payload.assign(in.begin() + sizeof header, in.end());
  } else if (header.size > 0) {
    entry.payload.resize(header.size);
    std::vector<MPI_Request> requests;
    post_piece_receives(source, tag, data_, entry.payload.data(), header.size, requests);
    counted += pieces(header.size);
    // No draining here: these pieces are the next messages from `source` with this tag.
    wait_requests(requests, {"receive", -1, 0, 0, false}, true);
  }
  auto& queue = (ahead ? next_.stash : stash_)[{source, tag}];
  if (front) {
    queue.push_front(std::move(entry));
  } else {
    queue.push_back(std::move(entry));
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
  const Waiting what{"receive", source, tag, detail::is_collective_tag(tag) ? tag : 0};
  wait(what, [&] {
    if (auto* queue = stashed(source, tag)) {
      Stashed& entry = queue->front();
      if (entry.type != type) {
        detail::throw_receive_type_mismatch(source, tag);
      }
      const Stashed taken = std::move(entry);
      queue->pop_front();
      const detail::MutableBytes target = sink.prepare(taken.payload.size());
      if (!taken.payload.empty()) {
        std::memcpy(target.data(), taken.payload.data(), taken.payload.size());
      }
      return true;
    }
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
  if (stashed(source, tag) != nullptr) return true;
  int flag = 0;
  check(MPI_Iprobe(source, tag, data_, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
  if (flag != 0) return true;
  // Take in what has arrived: a sender may be waiting for that before it sends this message
  // (a large message with another tag first), and a polling loop must see it in the end.
  for (int i = 0; i < 64 && drain_one(); ++i) {
  }
  return stashed(source, tag) != nullptr;
}

int Communicator::wait_any(int tag) {
  int found = -1;
  wait({"map", -1, tag, tag}, [&] {
    for (int source = 0; source < size_; ++source) {
      if (source != rank_ && stashed(source, tag) != nullptr) {
        found = source;
        return true;
      }
    }
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(MPI_ANY_SOURCE, tag, data_, &flag, &status), "MPI_Iprobe");
    if (flag != 0) found = status.MPI_SOURCE;
    return flag != 0;
  });
  return found;
}

// ---- the end of a run -------------------------------------------------------------------------

void Communicator::finish_run(std::uint64_t collectives) {
  if (failure_) throw_failure();
  finished_out_.assign(static_cast<std::size_t>(size_), {});
  std::vector<MPI_Request> requests;
  for (int dest = 0; dest < size_; ++dest) {
    if (dest == rank_) continue;
    auto& record = finished_out_[static_cast<std::size_t>(dest)];
    record = {sent_[static_cast<std::size_t>(dest)], collectives};
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Isend(&record, sizeof record, MPI_BYTE, dest, finished_tag, data_, &request),
          "MPI_Isend");
    requests.push_back(request);
  }
  wait({"the end of run"}, [&] {
    while (drain_one()) {
    }
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      const auto& done = finished_[static_cast<std::size_t>(r)];
      if (!done || received_[static_cast<std::size_t>(r)] < done->messages) return false;
    }
    int sent = 0;
    check(
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &sent, MPI_STATUSES_IGNORE),
        "MPI_Testall");
    return sent != 0;
  });
  // Messages nobody received are dropped, as under fork; what ranks already in the next run
  // sent is that run's.
  stash_ = std::move(next_.stash);
  received_ = std::move(next_.received);
  finished_ = std::move(next_.finished);
  std::fill(sent_.begin(), sent_.end(), 0);
  reset_next_run();
  ++run_;
}

void Communicator::reset_next_run() {
  const auto n = static_cast<std::size_t>(size_);
  next_.stash.clear();
  next_.received.assign(n, 0);
  next_.finished.assign(n, std::nullopt);
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
    throw UsageError("mpi: collectives called in a different order: rank " + std::to_string(rank_) +
                     " received a frame of " + detail::describe_tag(frame.tag) + " from rank " +
                     std::to_string(from) + " left over from an earlier run");
  }
  if (frame.tag != tag) {
    throw UsageError("mpi: collectives called in a different order: rank " + std::to_string(rank_) +
                     " is in " + detail::describe_tag(tag) + " but rank " + std::to_string(from) +
                     " is in " + detail::describe_tag(frame.tag));
  }
  if (frame.type != type) {
    throw TypeMismatch(detail::describe_tag(tag) + ": rank " + std::to_string(from) +
                       " passed another type than rank " + std::to_string(rank_));
  }
}

void Communicator::broadcast(int root, int tag, detail::Fingerprint type,
                             detail::ConstBytes root_bytes, detail::ByteSink* sink) {
  const Waiting what{"broadcast", -1, 0, tag};
  if (rank_ == root) {
    frame_ = {type, root_bytes.size(), tag, run_, {}};
    if (root_bytes.size() <= Frame::inline_capacity && !root_bytes.empty()) {
      std::memcpy(frame_.inline_bytes, root_bytes.data(), root_bytes.size());
    }
  }
  // The frame travels down a binomial tree of point-to-point messages (relative to root): one
  // message between two ranks, log2(n) steps for n.
  const int relative = (rank_ - root + size_) % size_;
  int mask = 1;
  while (mask < size_ && (relative & mask) == 0) mask <<= 1;
  if (rank_ != root) receive_frame((relative - mask + root) % size_, frame_, what);
  std::vector<MPI_Request> requests;
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (relative + mask < size_) post_frame((relative + mask + root) % size_, frame_, requests);
  }
  if (!requests.empty()) wait_requests(requests, what, false);
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
  requests.assign(1, MPI_REQUEST_NULL);
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
  const Waiting what{"scatter", -1, 0, tag};
  if (rank_ == root) {
    for (int r = 0; r < size_; ++r) {
      const detail::ConstBytes part = source->part(r);
      Frame& frame = frames_[static_cast<std::size_t>(r)];
      frame = {type, part.size(), tag, run_, {}};
      if (part.size() <= Frame::inline_capacity && !part.empty()) {
        std::memcpy(frame.inline_bytes, part.data(), part.size());
      }
    }
  }
  std::vector<MPI_Request> requests;
  if (rank_ == root) {
    for (int r = 0; r < size_; ++r) {
      if (r != root) post_frame(r, frames_[static_cast<std::size_t>(r)], requests);
    }
    wait_requests(requests, what, false);
  } else {
    receive_frame(root, frame_, what);
  }
  if (rank_ != root) {
    check_frame(frame_, root, tag, type);
    const detail::MutableBytes target = sink.prepare(frame_.size);
    if (frame_.size <= Frame::inline_capacity) {
      if (frame_.size > 0) std::memcpy(target.data(), frame_.inline_bytes, frame_.size);
      return;
    }
    requests.clear();
    post_piece_receives(root, tag, coll_, target.data(), frame_.size, requests);
    wait_requests(requests, what, true);
    return;
  }
  // Root: every larger block straight from its place, while copying its own.
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
  const Waiting what{"gather", -1, 0, tag};
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
  // Sizes are known: each block is received straight into its place, in rank order.
  requests.clear();
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
  std::vector<MPI_Request> requests(1);
  check(MPI_Ibarrier(coll_, requests.data()), "MPI_Ibarrier");
  wait_requests(requests, {"barrier", -1, 0, tag}, false);
}

}  // namespace unipar::mpi_detail
