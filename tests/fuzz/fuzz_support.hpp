/// @file fuzz_support.hpp
/// @brief What the harnesses of tests/fuzz share: a reader over the fuzzer's bytes, the check
/// that stops on a broken property, and a Parallelizer whose messages come from the input (so
/// that the task farm and the client/server runner run their real protocol code on bytes the
/// fuzzer chose, with no live transport).
///
/// A script (the input of the farm and client_server harnesses, after their configuration
/// bytes) is a sequence of messages, each
///   u8 route      bits 0-5: which other process sent it (modulo the others; workers hear
///                 from process 0 only); bit 7: it carries another type than the receiver asks for
///   u32 length    little-endian; cut to the bytes left
///   length bytes  the payload, as a backend hands it to the receiver's ByteSink
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "unipar/codec.hpp"
#include "unipar/detail/bytes.hpp"
#include "unipar/detail/checkpoint.hpp"
#include "unipar/detail/tags.hpp"
#include "unipar/error.hpp"
#include "unipar/parallelizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace unipar::fuzz {

/// Stops the run when a property the harness checks does not hold (libFuzzer saves the input).
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "unipar fuzz: property broken: %s\n", what);
  std::fflush(stderr);
  __builtin_trap();
}
inline void require(bool holds, const char* what) {
  if (!holds) fail(what);
}

inline detail::ConstBytes as_bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

inline bool same_bytes(detail::ConstBytes a, detail::ConstBytes b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

/// Reads the fuzzer's bytes front to back; past the end it reads zeros.
class Input {
 public:
  explicit Input(detail::ConstBytes bytes) : bytes_(bytes) {}
  bool empty() const { return bytes_.empty(); }
  std::size_t size() const { return bytes_.size(); }
  std::uint8_t byte() {
    if (bytes_.empty()) return 0;
    const auto value = static_cast<std::uint8_t>(bytes_.front());
    bytes_ = bytes_.subspan(1);
    return value;
  }
  std::uint32_t u32() {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value |= std::uint32_t{byte()} << (8 * i);
    return value;
  }
  /// The next `count` bytes, or fewer when fewer are left.
  detail::ConstBytes take(std::size_t count) {
    const detail::ConstBytes part = bytes_.first(std::min(count, bytes_.size()));
    bytes_ = bytes_.subspan(part.size());
    return part;
  }
  detail::ConstBytes rest() { return take(bytes_.size()); }

 private:
  detail::ConstBytes bytes_;
};

/// The call the checkpoint harness opens files for: 16 items of type int, results of type R.
template <class R>
detail::CheckpointKey checkpoint_key() {
  return {16, detail::fingerprint_v<int>, detail::fingerprint_v<R>, "int", "the result type"};
}

// ---- scripts ------------------------------------------------------------------------------------

inline constexpr std::uint8_t wrong_type_flag = 0x80;

/// Writes scripts (make_corpus.cpp builds the seeds with it).
class ScriptWriter {
 public:
  void byte(std::uint8_t value) { bytes_.push_back(value); }
  void message(int source, detail::ConstBytes payload, bool wrong_type = false) {
    byte(static_cast<std::uint8_t>((source > 0 ? source - 1 : 0) & 0x3F) |
         (wrong_type ? wrong_type_flag : 0));
    const auto length = static_cast<std::uint32_t>(payload.size());
    for (int i = 0; i < 4; ++i) byte(static_cast<std::uint8_t>(length >> (8 * i)));
    const auto* first = reinterpret_cast<const std::uint8_t*>(payload.data());
    bytes_.insert(bytes_.end(), first, first + payload.size());
  }
  /// A message holding `value` as the codec encodes it.
  template <class T>
  void value(int source, const T& value) {
    const detail::Encoded<T> encoded(value);
    message(source, encoded.bytes());
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

/// A process of a run whose peers are the script: what it receives is the script's next message
/// (the source it names, the bytes it holds), what it sends is counted and dropped. When the
/// script is used up, every receive and poll throws Error, as a backend throws when the peer
/// can never send again, so no harness waits forever.
class ScriptedParallelizer final : public Parallelizer {
 public:
  struct Setup {
    int id = 0;
    int nprocs = 2;
    Capabilities capabilities{};
    bool shared_word = false;  // offer a shared word (fork's claim counter)
    bool open_word = false;    // a worker: main opened the word for the first map (fork)
  };

  ScriptedParallelizer(const Setup& setup, detail::ConstBytes script)
      : Parallelizer(setup.id, setup.nprocs), setup_(setup), script_(script) {}

  std::string_view name() const override { return "scripted"; }
  Capabilities capabilities() const override { return setup_.capabilities; }
  std::size_t sent() const { return sent_; }

 protected:
  void do_run(const std::function<void(Parallelizer&)>& body) override { body(*this); }
  void do_send(int, int, detail::Fingerprint, detail::ConstBytes) override { ++sent_; }
  void do_receive(int, int tag, detail::Fingerprint, detail::ByteSink& sink) override {
    if (setup_.open_word && !opened_) {
      opened_ = true;
      word_.store(std::uint64_t{detail::collective_sequence(tag)} << 40);
    }
    if (script_.empty()) throw Error("scripted: the script has no more messages");
    const std::uint8_t route = script_.byte();
    const std::uint32_t length = script_.u32();
    const detail::ConstBytes payload = script_.take(length);
    if ((route & wrong_type_flag) != 0) throw TypeMismatch("scripted: a message of another type");
    const detail::MutableBytes target = sink.prepare(payload.size());
    // What every backend checks of a sink.
    if (target.size() != payload.size()) throw Error("scripted: a sink prepared the wrong size");
    if (!payload.empty()) std::memcpy(target.data(), payload.data(), payload.size());
  }
  bool do_probe(int source, int) override { return !script_.empty() && next_source() == source; }
  int do_wait_for_any(int tag) override { return do_poll_any(tag); }
  int do_poll_any(int) override {
    if (script_.empty()) throw Error("scripted: the script has no more messages");
    return next_source();
  }
  std::atomic<std::uint64_t>* shared_word() override {
    return setup_.shared_word ? &word_ : nullptr;
  }

 private:
  int next_source() const {
    if (setup_.id != 0 || setup_.nprocs < 2) return 0;
    Input peek = script_;
    return 1 + (peek.byte() & 0x3F) % (setup_.nprocs - 1);
  }

  Setup setup_;
  Input script_;
  std::atomic<std::uint64_t> word_{0};
  bool opened_ = false;
  std::size_t sent_ = 0;
};

}  // namespace unipar::fuzz
