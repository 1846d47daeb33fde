// Point-to-point messages under MPI: sending, matching, stashing, probing.
#include <algorithm>
#include <cstring>
#include <vector>

#include "mpi/communicator.hpp"
#include "mpi/communicator_wait.hpp"
#include "unipar/codec.hpp"

namespace unipar::mpi_detail {

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

void Communicator::receive_pieces(int source, int tag, std::byte* target, std::size_t size,
                                  std::uint64_t& counted) {
  std::vector<MPI_Request> requests;
  post_piece_receives(source, tag, data_, target, size, requests);
  counted += pieces(size);
  // No draining here: these pieces are the next messages from `source` with this tag.
  wait_requests(requests, {{detail::Wait::Kind::receive, tag, source}, false}, true);
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
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Header header{};
  std::vector<std::byte>& in = receive_buffer_;
  std::uint64_t& received = now_.received[static_cast<std::size_t>(source)];
  if (count > static_cast<int>(sizeof header)) {
    in.resize(static_cast<std::size_t>(count));
    check(MPI_Mrecv(in.data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
    received += 1;
    const Arrival arrival = parse_message(in);
    header = arrival.header;
    const std::size_t size = arrival.payload.size();
    if (header.type != type) {
      now_.stash.push_front(source,
                            {tag, header.type, {arrival.payload.begin(), arrival.payload.end()}});
      detail::throw_receive_type_mismatch(rank_, source, tag, type, header.type);
    }
    const detail::MutableBytes target = sink.prepare(size);
    std::memcpy(target.data(), arrival.payload.data(), size);
    return;
  }
  if (count != static_cast<int>(sizeof header)) {
    MPI_Mrecv(nullptr, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE);
    received += 1;
    detail::throw_corrupt("message", "shorter than its header");
  }
  check(MPI_Mrecv(&header, sizeof header, MPI_BYTE, &message, MPI_STATUS_IGNORE), "MPI_Mrecv");
  received += 1;
  static_cast<void>(parse_message(std::as_bytes(std::span(&header, 1))));  // checks the size
  if (header.size == 0 || header.type != type) {
    // Empty, or the wrong type: take the payload into the stash (a wrong type stays receivable).
    detail::MessageStash::Message entry{tag, header.type, std::vector<std::byte>(header.size)};
    receive_pieces(source, tag, entry.bytes.data(), header.size, received);
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
    receive_pieces(source, tag, discard.data(), header.size, received);
    throw;
  }
  receive_pieces(source, tag, target.data(), header.size, received);
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
    run.finished[from] = parse_finished(in);  // not counted as a message
    return;
  }
  if (tag == left_tag) {
    run.left[from] = true;  // not counted: it is sent after the last run's record
    return;
  }
  run.received[from] += 1;
  const Arrival arrival = parse_message(in);
  detail::MessageStash::Message entry{
      tag, arrival.header.type, {arrival.payload.begin(), arrival.payload.end()}};
  if (arrival.pieces_follow) {
    entry.bytes.resize(arrival.header.size);
    receive_pieces(source, tag, entry.bytes.data(), arrival.header.size, run.received[from]);
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

int Communicator::poll_any(int tag) {
  int found = now_.stash.any_source(tag, rank_);
  if (found >= 0) return found;
  int flag = 0;
  MPI_Status status;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, data_, &flag, &status), "MPI_Iprobe");
  if (flag != 0) return status.MPI_SOURCE;
  service({{detail::Wait::Kind::any_message, tag, -1}});
  return now_.stash.any_source(tag, rank_);
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

}  // namespace unipar::mpi_detail
