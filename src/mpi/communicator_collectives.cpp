// Collectives under MPI: frames point to point, then payloads.
#include <algorithm>
#include <cstring>
#include <vector>

#include "mpi/communicator.hpp"
#include "mpi/communicator_wait.hpp"
#include "unipar/codec.hpp"

namespace unipar::mpi_detail {

Frame Communicator::make_frame(detail::Fingerprint type, detail::ConstBytes bytes, int tag) const {
  Frame frame{type, bytes.size(), tag, run_, {}};
  if (bytes.size() <= Frame::inline_capacity && !bytes.empty()) {
    std::memcpy(frame.inline_bytes, bytes.data(), bytes.size());
  }
  return frame;
}

bool Communicator::take_inline(const Frame& frame, detail::MutableBytes target) {
  if (frame.size > Frame::inline_capacity) return false;
  if (frame.size > 0) std::memcpy(target.data(), frame.inline_bytes, frame.size);
  return true;
}

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
  check_frame_size(frame);
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
  if (rank_ == root) frame_ = make_frame(type, root_bytes, tag);
  broadcast_frame(root, what);
  detail::MutableBytes target;
  if (rank_ != root) {
    check_frame(frame_, root, tag, type);
    target = sink->prepare(frame_.size);
    if (take_inline(frame_, target)) return;
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
    if (take_inline(frame_, target)) return;
    post_piece_receives(root, tag, coll_, target.data(), frame_.size, requests);
    wait_requests(requests, what, true);
    return;
  }
  for (int r = 0; r < size_; ++r) {
    frames_[static_cast<std::size_t>(r)] = make_frame(type, source->part(r), tag);
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
  frame_ = make_frame(type, mine, tag);
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
      } else if (!take_inline(frame, target)) {
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
  frame_ = make_frame(0, {}, tag);
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
