#include "mpi/communicator.hpp"
#include "mpi/communicator_wait.hpp"

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
  // The host's cores, not this rank's affinity mask: mpirun binds each rank to one core.
  return error == std::errc{} && stop == end && ranks > detail::cores_online();
}

/// Waiting under MPI is polling: spin while a reply is likely to come soon, then yield the
/// core for up to 20 ms, then sleep in 50 us naps so that an idle rank costs little CPU.
detail::BackoffPolicy mpi_backoff_policy(bool oversubscribed) {
  return {oversubscribed ? 0 : 2000, -1, std::chrono::milliseconds(20), false, false};
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

}  // namespace unipar::mpi_detail
