// Harness: the task farm's map protocol (detail/farm.hpp, src/core/farm.cpp), run for real on a
// ScriptedParallelizer whose peers are the input (see fuzz_support.hpp). Two configuration bytes
// pick the process (main or a worker), the backend's way (MPI: main hands out chunks; fork: a
// shared claim word), the item and result types, the front end (map, map_each in completion or
// input order), the number of processes and the chunking; the rest is the script of messages
// the other processes sent. Whatever they say, the call ends with its results or a
// unipar::Error; when main's call returns, every item has exactly one result.
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "fuzz_support.hpp"
#include "unipar/detail/farm.hpp"
#include "unipar/error.hpp"
#include "unipar/parallelizer.hpp"
#include "unipar/serialization.hpp"

namespace {

namespace fuzz = unipar::fuzz;

struct Config {
  int role;        // 0 main (MPI), 1 main (fork), 2 worker (MPI), 3 worker (fork)
  int types;       // 0 int -> double, 1 string -> vector<int>, 2 double -> string
  bool local;      // workers hold main's snapshot (items are not sent)
  int front;       // 0 map, 1 map_each, 2 map_each ordered
  int nprocs;      // 2 .. 4
  bool fixed;      // chunk = 2 instead of guided
  bool open_word;  // fork worker: main opened the claim word
};

Config read_config(fuzz::Input& input) {
  const std::uint8_t a = input.byte();
  const std::uint8_t b = input.byte();
  // a: bits 0-1 role, 2-3 types, 6 local; b: bits 0-1 front, 2-3 nprocs - 2, 5 fixed, 6 open.
  Config config{};
  config.role = a & 3;
  config.types = ((a >> 2) & 3) % 3;
  config.local = (a & 0x40) != 0;
  config.front = (b & 3) % 3;
  config.nprocs = 2 + ((b >> 2) & 3) % 3;
  config.fixed = (b & 0x20) != 0;
  config.open_word = (b & 0x40) != 0;
  return config;
}

std::vector<int> int_items() {
  return {1, 2, 3, 4, 5, 6, 7};
}
std::vector<std::string> string_items() {
  return {"a", "bb", "", "dddd", "e", "ffffff"};
}
std::vector<double> double_items() {
  return {0.5, 1.5, -2.0, 3.25, 1e10};
}

template <class T, class F>
void run(const Config& config, unipar::detail::ConstBytes script, const std::vector<T>& items,
         const F& f) {
  const bool main = config.role < 2;
  const bool fork_like = config.role == 1 || config.role == 3;
  fuzz::ScriptedParallelizer::Setup setup;
  setup.id = main ? 0 : 1;
  setup.nprocs = config.nprocs;
  setup.capabilities.workers_hold_snapshot = config.local;
  setup.capabilities.shares_memory = fork_like;
  // MPI without a dispatcher thread (main dispatches and does not compute); fork with one.
  setup.capabilities.serialized_threads = fork_like;
  setup.shared_word = fork_like;
  setup.open_word = config.open_word;
  fuzz::ScriptedParallelizer par(setup, script);
  const unipar::MapOptions options{.chunk = config.fixed ? 2U : 0U,
                                   .progress = unipar::Progress::off,
                                   .ordered = config.front == 2};
  using R = std::invoke_result_t<const F&, const T&>;
  try {
    if (config.front == 0) {
      const std::vector<R> results = par.map(f, items, options);
      if (main) fuzz::require(results.size() == items.size(), "map returned another count");
      return;
    }
    std::vector<int> seen(items.size(), 0);
    std::size_t next = 0;
    bool in_order = true;
    par.map_each(
        f, items,
        [&](std::size_t index, R&&) {
          fuzz::require(index < items.size(), "map_each delivered an index past the end");
          ++seen[index];
          in_order = in_order && index == next;
          next = index + 1;
        },
        options);
    if (!main) return;
    for (int count : seen) fuzz::require(count == 1, "map_each delivered an item twice or never");
    if (config.front == 2) fuzz::require(in_order, "ordered map_each out of order");
  } catch (const unipar::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input input(fuzz::as_bytes(data, size));
  const Config config = read_config(input);
  const auto script = input.rest();
  switch (config.types) {
    case 0:
      run(config, script, int_items(), [](const int& x) { return x * 0.5; });
      break;
    case 1:
      run(config, script, string_items(), [](const std::string& s) {
        return std::vector<int>{static_cast<int>(s.size()), s.empty() ? 0 : s[0]};
      });
      break;
    default:
      run(config, script, double_items(), [](const double& x) { return std::to_string(x); });
      break;
  }
  return 0;
}
