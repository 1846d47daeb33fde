// Messages of a fork run: framing, streaming through the rings, receiving, draining, probing.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "fork/group.hpp"
#include "fork/group_wait.hpp"
#include "unipar/error.hpp"

namespace unipar::fork_detail {
namespace {

constexpr std::size_t small_message = 4096;  // header and payload in one write
constexpr int no_tag = -1;                   // no message has it

/// Whether a process whose collective log is `log` has not yet begun collective `sequence`.
bool not_yet_in(const detail::CollectiveLog& log, std::uint32_t sequence) {
  const std::uint32_t behind = (sequence - static_cast<std::uint32_t>(log.count)) & 0xFFFFFF;
  return behind != 0 && behind < (1u << 23);
}

}  // namespace

// ---- checks while waiting -------------------------------------------------------------------

void Group::check_peer(const detail::Wait& what) {
  if (self_ != 0 && getppid() != main_pid_) {
    throw WorkerLost(0, main_pid_, 0, 0, "the main process died");
  }
  if (self_ == 0 && what.peer > 0) check_lost(what.peer);
  if (self_ == 0 && what.peer < 0 && nprocs_ > 1) {
    // Waiting for any worker when every one died: none can answer.
    bool all_lost = true;
    for (int peer = 1; peer < nprocs_ && all_lost; ++peer) all_lost = lost(peer);
    if (all_lost) check_lost(1);
  }
  const bool collective = detail::is_collective_tag(what.tag);
  for (int peer = 0; peer < nprocs_; ++peer) {
    if (peer == self_ || (what.peer >= 0 && peer != what.peer)) continue;
    if (what.peer < 0 && !collective) continue;
    if (finished_seen_[static_cast<std::size_t>(peer)]) {
      // Everything a peer that returned sent is in the ring, and the wait looked there after
      // seeing it finished: waiting for it is hopeless. Waiting for any process, only one that
      // never began this collective makes it so.
      const detail::CollectiveLog& log = slot(peer).log;
      const std::uint32_t sequence = detail::collective_sequence(what.tag);
      if (collective && !not_yet_in(log, sequence)) {
        const int kind = log.kind_of(log.count - ((log.count - sequence) & 0xFFFFFF));
        if (kind != 0 && static_cast<detail::Op>(kind) != detail::collective_op(what.tag)) {
          detail::throw_order_mismatch(
              self_, what.tag, peer,
              detail::collective_tag(static_cast<detail::Op>(kind), 0, sequence));
        }
        if (what.peer < 0) continue;
      }
      detail::throw_peer_returned(self_, what, peer, log);
    }
    // Both in collective #k, but not the same one: they will never meet.
    if (collective) {
      const int theirs = slot(peer).collective.load(std::memory_order_acquire);
      if (detail::is_collective_tag(theirs) &&
          detail::collective_sequence(theirs) == detail::collective_sequence(what.tag) &&
          !detail::same_collective(theirs, what.tag)) {
        detail::throw_order_mismatch(self_, what.tag, peer, theirs);
      }
    }
  }
}

void Group::enter(int tag) {
  if (detail::is_collective_tag(tag)) slot(self_).collective.store(tag, std::memory_order_release);
}

// ---- sending ----------------------------------------------------------------------------------

void Group::write_stream(int dest, int tag, detail::ConstBytes bytes) {
  Channel& out = channel(self_, dest);
  while (!bytes.empty()) {
    const std::size_t wanted = std::min(bytes.size(), piece_);
    std::size_t room = out.writable(wanted);
    if (room == 0) {
      wait(
          [&] {
            if ((room = out.writable(wanted)) != 0) return true;
            // While the receiver is busy (perhaps sending to us), take in what others send.
            for (int source = 0; source < nprocs_; ++source) {
              if (source != self_) drain(source, no_tag);
            }
            return (room = out.writable(wanted)) != 0;
          },
          {detail::Wait::Kind::send, tag, dest});
    }
    const std::size_t count = std::min(wanted, room);
    out.write(bytes.first(count));
    out.publish();
    ring(slot(dest).bell);
    bytes = bytes.subspan(count);
  }
}

void Group::send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) {
  if (bytes.size() + sizeof(MessageHeader) > small_message) {
    send_header(dest, tag, type, bytes.size());
    send_payload(dest, tag, bytes);
    return;
  }
  // A small message: one copy and one publish for header and payload together.
  enter(tag);
  const MessageHeader header = make_header(tag, type, bytes.size());
  std::byte buffer[small_message];
  std::memcpy(buffer, &header, sizeof header);
  if (!bytes.empty()) std::memcpy(buffer + sizeof header, bytes.data(), bytes.size());
  write_stream(dest, tag, {buffer, sizeof header + bytes.size()});
}

void Group::send_header(int dest, int tag, detail::Fingerprint type, std::size_t size) {
  enter(tag);
  const MessageHeader header = make_header(tag, type, size);
  write_stream(dest, tag, std::as_bytes(std::span(&header, 1)));
}

void Group::send_payload(int dest, int tag, detail::ConstBytes bytes) {
  write_stream(dest, tag, bytes);
}

// ---- receiving --------------------------------------------------------------------------------

MessageHeader Group::read_header(int source, int tag) {
  Channel& in = channel(source, self_);
  wait([&] { return in.readable() >= sizeof(MessageHeader); },
       {detail::Wait::Kind::receive, tag, source});
  return take_header(source);
}

MessageHeader Group::take_header(int source) {
  Channel& in = channel(source, self_);
  std::byte bytes[sizeof(MessageHeader)];
  in.read(bytes);  // released with the payload
  return parse_header(bytes, source);
}

void Group::read_payload(int source, int tag, detail::MutableBytes out) {
  Channel& in = channel(source, self_);
  for (;;) {
    std::size_t available = out.empty() ? 0 : in.readable();
    if (!out.empty() && available == 0) {
      wait([&] { return (available = in.readable()) != 0; },
           {detail::Wait::Kind::receive, tag, source});
    }
    const std::size_t count = std::min({out.size(), available, piece_});
    in.read(out.first(count));
    out = out.subspan(count);
    // Give the space back: after each piece of a large payload (the sender may be waiting for
    // room), once for a small message.
    in.release();
    ring(slot(source).bell);
    if (out.empty()) return;
  }
}

void Group::drain(int source, int stop_tag) {
  Channel& in = channel(source, self_);
  Partial& partial = partial_[static_cast<std::size_t>(source)];
  for (;;) {
    if (!partial.active) {
      if (in.readable() < sizeof(MessageHeader)) return;
      MessageHeader next{};
      in.peek(std::as_writable_bytes(std::span(&next, 1)));
      if (next.tag == stop_tag) return;
      partial.header = take_header(source);
      partial.bytes.resize(partial.header.size);
      partial.filled = 0;
      partial.active = true;
    }
    const std::size_t count = std::min(in.readable(), partial.header.size - partial.filled);
    in.read(detail::MutableBytes(partial.bytes).subspan(partial.filled, count));
    partial.filled += count;
    in.release();
    ring(slot(source).bell);
    if (partial.filled < partial.header.size) return;
    stash_.push_back(source, {partial.header.tag, partial.header.type, std::move(partial.bytes)});
    partial = Partial{};
  }
}

void Group::complete_partial(int source) {
  Partial& partial = partial_[static_cast<std::size_t>(source)];
  if (!partial.active) return;
  read_payload(source, partial.header.tag,
               detail::MutableBytes(partial.bytes).subspan(partial.filled));
  stash_.push_back(source, {partial.header.tag, partial.header.type, std::move(partial.bytes)});
  partial = Partial{};
}

void Group::stash(int source, const MessageHeader& header) {
  partial_[static_cast<std::size_t>(source)] = {header, std::vector<std::byte>(header.size), 0,
                                                true};
  complete_partial(source);
}

void Group::receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink) {
  enter(tag);
  complete_partial(source);
  if (stash_.take(self_, source, tag, type, sink)) return;
  for (;;) {
    const MessageHeader header = read_header(source, tag);
    if (header.tag == tag && header.type == type) {
      detail::MutableBytes target;
      try {
        target = sink.prepare(header.size);
      } catch (...) {
        stash(source, header);  // keep the stream in step; the message stays receivable
        throw;
      }
      if (target.size() != header.size) throw Error("fork: a sink prepared the wrong size");
      read_payload(source, tag, target);
      return;
    }
    stash(source, header);
    if (header.tag == tag) {
      detail::throw_receive_type_mismatch(self_, source, tag, type, header.type);
    }
    if (detail::is_collective_tag(tag) && detail::is_collective_tag(header.tag)) {
      detail::throw_order_mismatch(self_, tag, source, header.tag);
    }
  }
}

bool Group::probe(int source, int tag) {
  // Never blocks: messages with other tags that have arrived move to the stash (one still
  // arriving is read as far as it has come), and a message with `tag` is left in place. A
  // process polling with probe learns of a failure of the run here, as a waiting one does.
  check_failure();
  drain(source, tag);
  if (stash_.contains(source, tag)) return true;
  const Partial& partial = partial_[static_cast<std::size_t>(source)];
  if (partial.active) return partial.header.tag == tag;
  // drain() stopped before a whole header, or before a header with `tag`; more may have
  // arrived since, so answer for the header that is there now, not for the bytes.
  Channel& in = channel(source, self_);
  if (in.readable() < sizeof(MessageHeader)) {
    if (self_ == 0) check_lost(source);  // what it sent before it died was taken first
    return false;
  }
  MessageHeader next{};
  in.peek(std::as_writable_bytes(std::span(&next, 1)));
  return next.tag == tag;
}

int Group::wait_for_any(int tag) {
  enter(tag);
  for (;;) {
    for (int source = 0; source < nprocs_; ++source) {
      if (source != self_ && probe(source, tag)) return source;
    }
    wait(
        [&] {
          for (int source = 0; source < nprocs_; ++source) {
            if (source == self_) continue;
            const std::size_t arrived = channel(source, self_).readable();
            // Any byte moves a partly read message on; otherwise wait for a whole header.
            if (partial_[static_cast<std::size_t>(source)].active
                    ? arrived > 0
                    : arrived >= sizeof(MessageHeader)) {
              return true;
            }
          }
          return false;
        },
        {detail::Wait::Kind::any_message, tag, -1});
  }
}

}  // namespace unipar::fork_detail
