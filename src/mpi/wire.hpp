/// @file wire.hpp
/// @brief What the MPI backend's messages look like on the wire, and the functions that decide
/// whether received bytes are one: pure functions on bytes that do not include <mpi.h>, so that
/// tests and the fuzzer reach them without MPI. (communicator.hpp describes the protocol.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "unipar/codec.hpp"
#include "unipar/detail/bytes.hpp"
#include "unipar/detail/tags.hpp"

namespace unipar::mpi_detail {

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
  detail::CollectiveLog log;  // the collectives this rank made during this run
};

/// The largest payload a header or frame may announce when the payload follows in pieces (it
/// cannot be checked against bytes that have not arrived; this keeps a damaged size from asking
/// for exabytes).
inline constexpr std::uint64_t max_payload = std::uint64_t{1} << 48;

/// One message received on the message communicator, parsed.
struct Arrival {
  Header header{};
  bool pieces_follow = false;  // header alone: header.size bytes follow in pieces
  detail::ConstBytes payload;  // else: the payload, inside the message
};

/// Parses the bytes of one received message (header and inline payload, or a header alone);
/// throws TypeMismatch when they are not a valid message.
inline Arrival parse_message(detail::ConstBytes message) {
  Arrival arrival;
  if (message.size() < sizeof(Header)) detail::throw_corrupt("message", "shorter than its header");
  std::memcpy(&arrival.header, message.data(), sizeof(Header));
  arrival.payload = message.subspan(sizeof(Header));
  if (!arrival.payload.empty()) {
    if (arrival.header.size != arrival.payload.size())
      detail::throw_corrupt("message", "size field");
    return arrival;
  }
  if (arrival.header.size > max_payload) detail::throw_corrupt("message", "size field");
  arrival.pieces_follow = arrival.header.size > 0;
  return arrival;
}

/// Parses a received end-of-run record.
inline Finished parse_finished(detail::ConstBytes record) {
  Finished done{};
  if (record.size() != sizeof done) detail::throw_corrupt("end-of-run record", "size");
  std::memcpy(&done, record.data(), sizeof done);
  return done;
}

/// Checks what a received frame says about its payload.
inline void check_frame_size(const Frame& frame) {
  if (frame.size > max_payload) detail::throw_corrupt("collective frame", "size field");
}

/// Parses a received frame (exactly sizeof(Frame) bytes).
inline Frame parse_frame(detail::ConstBytes bytes) {
  Frame frame{};
  if (bytes.size() != sizeof frame) detail::throw_corrupt("collective frame", "size");
  std::memcpy(&frame, bytes.data(), sizeof frame);
  check_frame_size(frame);
  return frame;
}

}  // namespace unipar::mpi_detail
