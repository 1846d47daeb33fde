// Harness: the fork backend's message framing (src/fork/message_header.hpp, the parse step of
// Group::take_header) over the byte ring it is read from (src/fork/channel.cpp). The input is
// a ring size, a pattern of write sizes, then the byte stream a sender wrote: it is streamed
// through a real Channel (wrapping around a small ring) and read back as the receiver reads it,
// header then payload. Every header either is refused with unipar::Error or re-encodes to the
// same bytes; every payload byte read is the byte written.
#include <cstdint>
#include <cstring>
#include <vector>

#include "fork/channel.hpp"
#include "fork/message_header.hpp"
#include "fuzz_support.hpp"
#include "unipar/error.hpp"

namespace {

using unipar::detail::ConstBytes;
using unipar::fork_detail::MessageHeader;
namespace fuzz = unipar::fuzz;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input input(fuzz::as_bytes(data, size));
  const std::size_t capacity = std::size_t{64} << (input.byte() % 4);  // 64 .. 512 bytes
  const std::uint8_t pattern = input.byte();
  const ConstBytes stream = input.rest();

  // A header of any length other than its own is refused, never read past.
  const std::size_t length = std::min<std::size_t>(stream.size(), pattern % 40);
  try {
    static_cast<void>(unipar::fork_detail::parse_header(stream.first(length), 1));
    fuzz::require(length == sizeof(MessageHeader), "a header of the wrong length parsed");
  } catch (const unipar::Error&) {
  }

  unipar::fork_detail::ChannelState state;
  std::vector<std::byte> ring(capacity);
  unipar::fork_detail::Channel producer(&state, ring.data(), capacity);
  unipar::fork_detail::Channel consumer(&state, ring.data(), capacity);

  std::size_t written = 0;  // of the stream, by the producer
  std::size_t read = 0;     // of the stream, by the consumer
  std::size_t step = 0;
  // Producer: writes the stream in pieces whose sizes follow `pattern`, as room allows.
  const auto produce = [&] {
    const std::size_t wanted = 1 + ((pattern >> (step++ % 8)) & 0x3F);
    const std::size_t count =
        std::min({wanted, producer.writable(wanted), stream.size() - written});
    if (count == 0) return false;
    producer.write(stream.subspan(written, count));
    producer.publish();
    written += count;
    return true;
  };
  // Consumer: reads exactly `out.size()` bytes, letting the producer go on while it waits.
  const auto consume = [&](unipar::detail::MutableBytes out) {
    while (!out.empty()) {
      const std::size_t available = consumer.readable();
      if (available == 0) {
        if (!produce()) return false;  // the stream ends here
        continue;
      }
      const std::size_t count = std::min(available, out.size());
      consumer.read(out.first(count));
      fuzz::require(fuzz::same_bytes(out.first(count), stream.subspan(read, count)),
                    "the channel returned other bytes than were written");
      read += count;
      out = out.subspan(count);
      consumer.release();
    }
    return true;
  };

  for (;;) {
    std::byte bytes[sizeof(MessageHeader)];
    // A receiver peeks at the next header (probe, drain) before it takes it.
    while (consumer.readable() < sizeof bytes && produce()) {
    }
    if (consumer.readable() >= sizeof bytes) {
      std::byte peeked[sizeof(MessageHeader)];
      consumer.peek(peeked);
      fuzz::require(fuzz::same_bytes(peeked, stream.subspan(read, sizeof peeked)),
                    "peek returned other bytes than were written");
    }
    if (!consume(bytes)) break;
    MessageHeader header{};
    try {
      header = unipar::fork_detail::parse_header(bytes, 1);
    } catch (const unipar::Error&) {
      break;  // the receiver throws; nothing after it is read
    }
    const MessageHeader again =
        unipar::fork_detail::make_header(header.tag, header.type, header.size);
    fuzz::require(std::memcmp(&again, bytes, sizeof again) == 0,
                  "a header parsed that does not re-encode to its bytes");
    fuzz::require(header.size <= unipar::fork_detail::max_message, "a header too large parsed");
    // The payload, in pieces (as read_payload does), as far as the stream holds it.
    std::vector<std::byte> payload(std::min<std::uint64_t>(header.size, stream.size() - read));
    if (!consume(payload) || payload.size() < header.size) break;
  }
  return 0;
}
