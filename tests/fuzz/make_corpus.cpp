// Writes the seed corpus of every harness from real messages: values encoded by the codec,
// fork and MPI frames made by the backends' own encoders, failure records, a checkpoint file
// written by CheckpointFile, and scripts of the messages the task farm and the client/server
// runner exchange (see fuzz_support.hpp for the script format).
//
//   unipar_fuzz_make_corpus <directory>     writes <directory>/<harness>/seed-NNN
//
// The checked-in corpus (tests/fuzz/corpus/) is its output: regenerate it after a change of a
// wire format (see docs/design.md, "Fuzzing").
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "core/failure.hpp"
#include "fork/message_header.hpp"
#include "fuzz_support.hpp"
#include "fuzz_types.hpp"
#include "mpi/wire.hpp"
#include "unipar/client_server.hpp"
#include "unipar/detail/checkpoint.hpp"
#include "unipar/detail/farm.hpp"
#include "unipar/serialization.hpp"

namespace {

namespace fs = std::filesystem;
namespace fuzz = unipar::fuzz;
namespace detail = unipar::detail;
using Bytes = std::vector<std::uint8_t>;

fs::path root;
std::map<std::string, int> counts;

void write(const std::string& harness, const Bytes& bytes) {
  const fs::path dir = root / harness;
  fs::create_directories(dir);
  char name[32];
  std::snprintf(name, sizeof name, "seed-%03d", counts[harness]++);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void append(Bytes& out, detail::ConstBytes bytes) {
  const auto* first = reinterpret_cast<const std::uint8_t*>(bytes.data());
  out.insert(out.end(), first, first + bytes.size());
}
template <class P>
void append_plain(Bytes& out, const P& value) {
  append(out, std::as_bytes(std::span<const P, 1>(&value, 1)));
}
template <class T>
Bytes encoded(const T& value) {
  const detail::Encoded<T> bytes(value);
  Bytes out;
  append(out, bytes.bytes());
  return out;
}

// ---- codec ------------------------------------------------------------------------------------

template <class... Ts>
void codec(fuzz::TypeList<Ts...>) {
  std::uint8_t index = 0;
  const auto one = [&](auto tag) {
    for (const auto& value : samples(tag)) {
      Bytes bytes{index};
      const Bytes body = encoded(value);
      bytes.insert(bytes.end(), body.begin(), body.end());
      write("codec", bytes);
    }
    ++index;
  };
  (one(fuzz::Tag<Ts>{}), ...);
}

// ---- fork frames --------------------------------------------------------------------------------

void fork_frames() {
  const auto frame = [](Bytes& out, int tag, detail::Fingerprint type, const Bytes& payload) {
    const auto header = unipar::fork_detail::make_header(tag, type, payload.size());
    append_plain(out, header);
    out.insert(out.end(), payload.begin(), payload.end());
  };
  const int collective = detail::collective_tag(detail::Op::broadcast, 0, 1);
  for (std::uint8_t ring = 0; ring < 4; ++ring) {
    Bytes stream{ring, static_cast<std::uint8_t>(0x5A + 32 * ring)};
    frame(stream, 5, detail::fingerprint_v<int>, encoded(42));
    frame(stream, collective, detail::fingerprint_v<std::vector<double>>,
          encoded(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    frame(stream, 0, detail::fingerprint_v<std::string>, encoded(std::string(200, 'x')));
    frame(stream, 7, detail::fingerprint_v<std::map<std::string, std::vector<int>>>,
          encoded(std::map<std::string, std::vector<int>>{{"k", {1, 2}}}));
    frame(stream, 1, 0, {});
    write("fork_frames", stream);
  }
}

// ---- MPI frames
// -----------------------------------------------------------------------------------

void mpi_frames() {
  namespace mpi = unipar::mpi_detail;
  const auto message = [](detail::Fingerprint type, const Bytes& payload, bool header_alone,
                          std::uint64_t size) {
    Bytes out{0};
    append_plain(out, mpi::Header{type, size});
    if (!header_alone) out.insert(out.end(), payload.begin(), payload.end());
    write("mpi_frames", out);
  };
  const Bytes text = encoded(std::string("[1] hello from rank 1\n"));
  message(detail::fingerprint_v<std::string>, text, false, text.size());
  message(detail::fingerprint_v<double>, encoded(2.5), false, 8);
  message(detail::fingerprint_v<std::vector<double>>, {}, true, 1 << 20);
  message(0, {}, true, 0);

  const auto frame = [](detail::Fingerprint type, const Bytes& payload, int tag) {
    mpi::Frame f{type, payload.size(), tag, 3, {}};
    if (payload.size() <= mpi::Frame::inline_capacity && !payload.empty()) {
      std::memcpy(f.inline_bytes, payload.data(), payload.size());
    }
    Bytes out{1};
    append_plain(out, f);
    write("mpi_frames", out);
  };
  frame(detail::fingerprint_v<double>, encoded(1.25),
        detail::collective_tag(detail::Op::broadcast, 0, 4));
  frame(detail::fingerprint_v<std::vector<double>>, encoded(std::vector<double>(100, 1.0)),
        detail::collective_tag(detail::Op::scatter, 0, 2));
  frame(0, {}, detail::collective_tag(detail::Op::barrier, 0, 9));

  const auto finished = [](std::vector<std::vector<detail::Op>> ranks) {
    Bytes out{2};
    for (const auto& ops : ranks) {
      mpi::Finished done{};
      done.messages = 3;
      for (const detail::Op op : ops) done.log.record(op);
      append_plain(out, done);
    }
    write("mpi_frames", out);
  };
  using detail::Op;
  finished({{Op::broadcast, Op::map}, {Op::broadcast, Op::map}, {Op::broadcast, Op::map}});
  finished({{Op::barrier, Op::gather, Op::reduce}, {Op::barrier}});
  finished({{}, {}});
}

// ---- failure records
// ------------------------------------------------------------------------------

void failure_records() {
  detail::FailureRecord thrown;
  thrown.facts = {detail::FailureKind::threw, 2, 4242, 0, 0, 17};
  thrown.host = "node-1";
  thrown.type_name = "std::runtime_error";
  thrown.message = "item 17 failed";
  const auto put = [](const std::vector<std::byte>& bytes) {
    Bytes out;
    append(out, bytes);
    write("failure_record", out);
  };
  put(thrown.encode());
  put(detail::FailureRecord::lost(3, 999, 9, 0).encode());
  detail::FailureRecord main_failed;
  main_failed.facts.kind = detail::FailureKind::main_failed;
  put(main_failed.encode());
  // The facts alone (what fork's SIGCHLD handler writes).
  const auto lost = detail::FailureRecord::lost(1, 77, 0, 3).encode();
  put({lost.begin(), lost.begin() + sizeof(detail::FailureFacts)});
}

// ---- checkpoint files
// -----------------------------------------------------------------------------

template <class R>
void checkpoint(std::uint8_t selector, const std::vector<R>& results) {
  const fs::path path = fs::temp_directory_path() /
                        ("unipar-make-corpus-" + std::to_string(getpid()) + ".checkpoint");
  fs::remove(path);
  {
    detail::CheckpointFile file(path.string(), fuzz::checkpoint_key<R>());
    for (std::size_t i = 0; i < results.size(); ++i) {
      const detail::Encoded<R> bytes(results[i]);
      file.add(i * 3 % 16, 1000 + i, bytes.bytes());
    }
    file.flush();
  }
  std::ifstream in(path, std::ios::binary);
  Bytes out{selector};
  out.insert(out.end(), std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  fs::remove(path);
  write("checkpoint", out);
  // The same file with its last record torn (a kill while writing).
  out.resize(out.size() - 5);
  write("checkpoint", out);
}

// ---- farm scripts -------------------------------------------------------------------------------

/// Config bytes for farm_fuzz.cpp: role, types, local; front, nprocs 2, chunk 2, open word.
Bytes farm_config(int role, int types, bool local, int front, bool open_word) {
  return {static_cast<std::uint8_t>(role | (types << 2) | (local ? 0x40 : 0)),
          static_cast<std::uint8_t>(front | 0x20 | (open_word ? 0x40 : 0))};
}

template <class T, class F>
void farm(int types, const std::vector<T>& items, const F& f) {
  using R = std::invoke_result_t<const F&, const T&>;
  using detail::FarmMessage;
  const std::uint64_t n = items.size();
  const auto results = [&](fuzz::ScriptWriter& script, std::uint64_t begin, std::uint64_t count) {
    std::vector<R> values;
    for (std::uint64_t i = begin; i < begin + count; ++i) values.push_back(f(items[i]));
    script.value(1, FarmMessage{FarmMessage::results, begin, count, 1000.0 * count});
    script.value(1, values);
  };
  for (int front = 0; front < 3; ++front) {
    // Main under MPI: worker 1 asks for chunks of 2 (one ahead) and returns their results.
    fuzz::ScriptWriter main;
    for (std::uint8_t b : farm_config(0, types, false, front, false)) main.byte(b);
    const auto request = [&] { main.value(1, FarmMessage{FarmMessage::request, 0, 0, 0}); };
    request();
    for (std::uint64_t begin = 0; begin < n; begin += 2) {
      request();  // the next chunk, asked for before computing this one
      results(main, begin, std::min<std::uint64_t>(2, n - begin));
    }
    write("farm", main.bytes());
  }
  // A worker under MPI: chunks of 2 with their items, then the end.
  for (const bool local : {false, true}) {
    fuzz::ScriptWriter worker;
    for (std::uint8_t b : farm_config(2, types, local, 0, false)) worker.byte(b);
    for (std::uint64_t begin = 0; begin < n; begin += 2) {
      const std::uint64_t count = std::min<std::uint64_t>(2, n - begin);
      worker.value(0, detail::Span{begin, count});
      if (!local)
        worker.value(0, std::vector<T>(items.begin() + begin, items.begin() + begin + count));
    }
    worker.value(0, detail::Span{n, 0});
    write("farm", worker.bytes());
  }
  // A worker under fork: the call's opening, the items when it does not hold them.
  for (const bool local : {false, true}) {
    fuzz::ScriptWriter worker;
    for (std::uint8_t b : farm_config(3, types, local, 0, true)) worker.byte(b);
    worker.value(0, detail::FarmOpen{n, local ? 0U : 1U});
    if (!local) worker.value(0, items);
    write("farm", worker.bytes());
  }
  // Main under fork: a worker's results for the first chunk.
  fuzz::ScriptWriter main;
  for (std::uint8_t b : farm_config(1, types, true, 1, false)) main.byte(b);
  results(main, 0, 2);
  write("farm", main.bytes());
}

// ---- client/server scripts ---------------------------------------------------------------------

void client_server() {
  using detail::ServeBatch;
  // A server of doubles: two batches, then the stop.
  {
    fuzz::ScriptWriter server;
    server.byte(0x00);
    server.value(0, ServeBatch{0, 2, 0, 0});
    server.value(0, std::vector<double>{1.0, 2.0});
    server.value(0, ServeBatch{2, 1, 0, 0});
    server.value(0, std::vector<double>{3.0});
    server.value(0, ServeBatch{0, 0, 0, 0});
    write("client_server", server.bytes());
  }
  // A server of strings, one request of which throws.
  {
    fuzz::ScriptWriter server;
    server.byte(0x10);
    server.value(0, ServeBatch{0, 3, 0, 0});
    server.value(0, std::vector<std::string>{"a", "throw", "c"});
    server.value(0, ServeBatch{0, 0, 0, 0});
    write("client_server", server.bytes());
  }
  // Main with one request (a batch of one), answered.
  {
    fuzz::ScriptWriter main;
    main.byte(0x01);
    main.value(1, ServeBatch{0, 1, 0, 5000.0});
    main.value(1, std::vector<double>{2.0});
    write("client_server", main.bytes());
  }
  // Main with two requests, two batches of one.
  {
    fuzz::ScriptWriter main;
    main.byte(0x05);
    main.value(1, ServeBatch{0, 1, 0, 5000.0});
    main.value(1, std::vector<double>{2.0});
    main.value(1, ServeBatch{1, 1, 0, 5000.0});
    main.value(1, std::vector<double>{4.0});
    write("client_server", main.bytes());
  }
  // Main of strings: the request failed on the server (texts and the server's identity follow).
  {
    fuzz::ScriptWriter main;
    main.byte(0x11);
    main.value(1, ServeBatch{0, 1, 1, 5000.0});
    main.value(1, std::vector<std::vector<std::string>>{{}});
    main.value(1, std::vector<std::uint64_t>{0});
    main.value(1, std::string("unipar::Error\0the handler refuses\0", 34));
    main.value(1, std::int64_t{4321});
    main.value(1, std::string("node-2"));
    write("client_server", main.bytes());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  root = argv[1];
  codec(fuzz::CodecTypes{});
  fork_frames();
  mpi_frames();
  failure_records();
  checkpoint<double>(0, {1.5, -2.0, 3.25});
  checkpoint<std::string>(1, {"first", "", "third result"});
  checkpoint<std::vector<std::string>>(2, {{"a", "b"}, {}});
  farm(0, std::vector<int>{1, 2, 3, 4, 5, 6, 7}, [](const int& x) { return x * 0.5; });
  farm(1, std::vector<std::string>{"a", "bb", "", "dddd", "e", "ffffff"}, [](const std::string& s) {
    return std::vector<int>{static_cast<int>(s.size()), s.empty() ? 0 : s[0]};
  });
  farm(2, std::vector<double>{0.5, 1.5, -2.0, 3.25, 1e10},
       [](const double& x) { return std::to_string(x); });
  client_server();
  for (const auto& [harness, count] : counts) {
    std::printf("%s: %d seeds\n", harness.c_str(), count);
  }
  return 0;
}
