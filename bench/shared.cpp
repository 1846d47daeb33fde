// Shared objects against their peers, in one run (docs/benchmarks.md, "Shared objects"):
//
//   fill      2 processes filling disjoint halves of a 512 MiB SharedArray<double>, against one
//             process filling a private array of the same size (the memset ceiling); first touch
//             (page faults included: fresh memory each time) and warm (the same memory again).
//   dict      SharedDict<int, double> set (new keys), set (existing keys) and get, one process,
//             against a Boost.Interprocess map<int, double> in a managed segment of shared
//             memory with an interprocess_mutex taken per operation (the same guarantee: each
//             operation atomic for every process), and without the mutex; and against Python's
//             multiprocessing.Manager().dict() (bench/shared_python_peer.py) when --python is
//             given.
//   update    SharedDict::update of one key by 1 and 2 contending processes, against the
//             Boost.Interprocess map under its mutex (and Python's Manager dict under a Manager
//             Lock).
//
//   unipar_bench_shared [--reps 5] [--fill-mib 512] [--keys 100000] [--updates 200000]
//                       [--python python3] [--json]
//
// Prints a markdown table of medians over --reps repetitions (min-max in brackets) and their
// ratios; --json prints one JSON line per figure instead. Checks every result it times.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/map.hpp>
#include <boost/interprocess/managed_external_buffer.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>

#include "unipar/unipar.hpp"

namespace {

namespace bip = boost::interprocess;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Keeps the compiler from dropping stores to memory nobody reads.
void touch(const void* memory) {
  asm volatile("" : : "r"(memory) : "memory");
}

struct Options {
  int reps = 5;
  std::size_t fill_bytes = std::size_t{512} << 20;
  int keys = 100000;
  int updates = 200000;
  std::string python;
  bool json = false;
};

/// Repeated figures of one measure (a rate: higher is better).
struct Figure {
  std::string name;
  std::string unit;
  std::vector<double> values;
  double median() const {
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    return sorted.empty() ? 0 : sorted[sorted.size() / 2];
  }
  double min() const { return values.empty() ? 0 : *std::min_element(values.begin(), values.end()); }
  double max() const { return values.empty() ? 0 : *std::max_element(values.begin(), values.end()); }
};

std::map<std::string, Figure> figures;

void record(const std::string& name, const std::string& unit, double value) {
  Figure& figure = figures[name];
  figure.name = name;
  figure.unit = unit;
  figure.values.push_back(value);
}

void check(bool condition, const char* what) {
  if (!condition) throw std::runtime_error(std::string("wrong result: ") + what);
}

// ---- fill ----------------------------------------------------------------------------------------

void fill_private(const Options& options) {
  const std::size_t n = options.fill_bytes / sizeof(double);
  auto array = std::make_unique_for_overwrite<double[]>(n);
  for (const char* when : {"first touch", "warm"}) {
    const auto start = Clock::now();
    std::fill(array.get(), array.get() + n, 1.5);
    touch(array.get());
    record(std::string("fill private, 1 process, ") + when, "GB/s",
           static_cast<double>(options.fill_bytes) / seconds_since(start) / 1e9);
  }
  check(array[n / 2] == 1.5, "private fill");
}

void fill_shared(unipar::Parallelizer& par, const Options& options) {
  const std::size_t n = options.fill_bytes / sizeof(double);
  unipar::SharedArray<double> array(par, n);
  const std::string who = "fill SharedArray, " + std::to_string(par.nprocs()) + " process" +
                          (par.nprocs() > 1 ? "es, " : ", ");
  // Twice in one run (first touch, then warm), then once more in a new run: under fork the new
  // run's workers start without page tables for the shared mapping and fault again.
  for (const bool new_run : {false, true}) {
    const auto seconds = par.run([&](unipar::Parallelizer& p) {
      const auto block = unipar::detail::block_of(n, p.nprocs(), p.id());
      std::vector<double> times;
      for (int pass = 0; pass < (new_run ? 1 : 2); ++pass) {
        p.barrier();
        const auto start = Clock::now();
        std::fill(array.data() + block.begin, array.data() + block.begin + block.size,
                  2.5 + p.id() + pass);
        touch(array.data());
        p.barrier();
        times.push_back(seconds_since(start));
      }
      return times;
    });
    const double bytes = static_cast<double>(options.fill_bytes);
    if (new_run) {
      record(who + "warm, in a new run", "GB/s", bytes / seconds[0] / 1e9);
    } else {
      record(who + "first touch", "GB/s", bytes / seconds[0] / 1e9);
      record(who + "warm", "GB/s", bytes / seconds[1] / 1e9);
    }
  }
  check(array[0] == 2.5 && array[n - 1] == 2.5 + (par.nprocs() - 1), "shared fill");
}

// ---- the Boost.Interprocess peer -----------------------------------------------------------------

/// A map<int, double> in a managed segment of anonymous shared memory (inherited by forked
/// workers), with a process-shared mutex.
class BoostMap {
 public:
  using Segment = bip::basic_managed_external_buffer<char, bip::rbtree_best_fit<bip::mutex_family>,
                                                     bip::iset_index>;
  using Allocator = bip::allocator<std::pair<const int, double>, Segment::segment_manager>;
  using Map = bip::map<int, double, std::less<int>, Allocator>;

  explicit BoostMap(std::size_t bytes) : bytes_(bytes) {
    memory_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (memory_ == MAP_FAILED) throw std::runtime_error("mmap");
    segment_.emplace(bip::create_only, memory_, bytes);
    mutex_ = segment_->construct<bip::interprocess_mutex>(bip::anonymous_instance)();
    map_ = segment_->construct<Map>(bip::anonymous_instance)(
        std::less<int>(), Allocator(segment_->get_segment_manager()));
  }
  ~BoostMap() {
    segment_.reset();
    munmap(memory_, bytes_);
  }
  BoostMap(const BoostMap&) = delete;
  BoostMap& operator=(const BoostMap&) = delete;

  void set(int key, double value, bool locked) {
    if (!locked) {
      (*map_)[key] = value;
      return;
    }
    const bip::scoped_lock<bip::interprocess_mutex> lock(*mutex_);
    (*map_)[key] = value;
  }
  std::optional<double> get(int key, bool locked) {
    auto find = [&]() -> std::optional<double> {
      const auto it = map_->find(key);
      if (it == map_->end()) return std::nullopt;
      return it->second;
    };
    if (!locked) return find();
    const bip::scoped_lock<bip::interprocess_mutex> lock(*mutex_);
    return find();
  }
  void increment(int key) {
    const bip::scoped_lock<bip::interprocess_mutex> lock(*mutex_);
    (*map_)[key] += 1;
  }

 private:
  std::size_t bytes_;
  void* memory_;
  std::optional<Segment> segment_;
  bip::interprocess_mutex* mutex_ = nullptr;
  Map* map_ = nullptr;
};

// ---- dict operations -------------------------------------------------------------------------------

/// Keys in a scattered order (so that neither container sees them sorted).
std::vector<int> scattered_keys(int count) {
  std::vector<int> keys(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    keys[static_cast<std::size_t>(i)] = static_cast<int>((static_cast<unsigned>(i) * 2654435761u) % 1000000007u);
  }
  return keys;
}

template <class Set, class Get>
void time_dict(const std::string& who, const std::vector<int>& keys, Set&& set, Get&& get) {
  const double n = static_cast<double>(keys.size());
  auto start = Clock::now();
  for (const int key : keys) set(key, key * 0.5);
  record(who + " set (new keys)", "Mops/s", n / seconds_since(start) / 1e6);
  start = Clock::now();
  for (const int key : keys) set(key, key * 0.25);
  record(who + " set (existing keys)", "Mops/s", n / seconds_since(start) / 1e6);
  start = Clock::now();
  double sum = 0;
  for (const int key : keys) sum += get(key).value_or(-1e300);
  record(who + " get", "Mops/s", n / seconds_since(start) / 1e6);
  double expected = 0;
  for (const int key : keys) expected += key * 0.25;
  check(sum == expected, "dict get");
}

void dict_operations(unipar::Parallelizer& par, const Options& options) {
  const auto keys = scattered_keys(options.keys);
  {
    unipar::SharedDict<int, double> dict(par);
    time_dict(
        "SharedDict<int, double>", keys, [&](int k, double v) { dict.set(k, v); },
        [&](int k) { return dict.get(k); });
    check(dict.size() == keys.size(), "dict size");
  }
  for (const bool locked : {true, false}) {
    BoostMap map(std::size_t{1} << 30);
    time_dict(
        std::string("Boost.Interprocess map<int, double>") + (locked ? " + mutex" : ", no lock"),
        keys, [&](int k, double v) { map.set(k, v, locked); },
        [&](int k) { return map.get(k, locked); });
  }
}

// ---- update under contention ------------------------------------------------------------------------

void updates(unipar::Parallelizer& par, const Options& options) {
  const int each = options.updates;
  {
    unipar::SharedDict<int, long> dict(par);
    const double seconds = par.run([&](unipar::Parallelizer& p) {
      p.barrier();
      const auto start = Clock::now();
      for (int i = 0; i < each; ++i) {
        dict.update(0, [](std::optional<long>& n) { n = n.value_or(0) + 1; });
      }
      p.barrier();
      return seconds_since(start);
    });
    check(dict.at(0) == static_cast<long>(each) * par.nprocs(), "update count");
    record("SharedDict::update, " + std::to_string(par.nprocs()) + " process(es)", "Mops/s",
           each * par.nprocs() / seconds / 1e6);
  }
  {
    BoostMap map(std::size_t{64} << 20);
    const double seconds = par.run([&](unipar::Parallelizer& p) {
      p.barrier();
      const auto start = Clock::now();
      for (int i = 0; i < each; ++i) map.increment(0);
      p.barrier();
      return seconds_since(start);
    });
    check(map.get(0, true) == static_cast<double>(each) * par.nprocs(), "boost update count");
    record("Boost.Interprocess map + mutex, " + std::to_string(par.nprocs()) + " process(es)",
           "Mops/s", each * par.nprocs() / seconds / 1e6);
  }
}

// ---- the Python peer -----------------------------------------------------------------------------

void python_peer(const Options& options) {
  if (options.python.empty()) return;
  const char* here = std::getenv("UNIPAR_BENCH_DIR");
  const std::string script = std::string(here != nullptr ? here : UNIPAR_BENCH_SOURCE_DIR) +
                             "/shared_python_peer.py";
  const std::string command = options.python + " " + script + " --reps " +
                              std::to_string(options.reps) + " --keys " +
                              std::to_string(std::min(options.keys, 20000)) + " --updates " +
                              std::to_string(std::min(options.updates, 20000));
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return;
  char line[512];
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    // {"name": "...", "unit": "Mops/s", "value": ...}
    char name[256] = {};
    double value = 0;
    if (std::sscanf(line, "{\"name\": \"%255[^\"]\", \"unit\": \"Mops/s\", \"value\": %lf", name,
                    &value) == 2) {
      record(name, "Mops/s", value);
    }
  }
  pclose(pipe);
}

// ---- the report ----------------------------------------------------------------------------------

std::string cell(const std::string& name) {
  const auto it = figures.find(name);
  if (it == figures.end()) return "–";
  char text[128];
  std::snprintf(text, sizeof text, "%.3g [%.3g-%.3g]", it->second.median(), it->second.min(),
                it->second.max());
  return text;
}

std::string ratio(const std::string& a, const std::string& b) {
  const auto x = figures.find(a), y = figures.find(b);
  if (x == figures.end() || y == figures.end() || y->second.median() == 0) return "–";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", x->second.median() / y->second.median());
  return text;
}

void report(const Options& options) {
  if (options.json) {
    for (const auto& [name, figure] : figures) {
      for (const double value : figure.values) {
        std::printf("{\"name\": \"%s\", \"unit\": \"%s\", \"value\": %.6g}\n", name.c_str(),
                    figure.unit.c_str(), value);
      }
    }
    return;
  }
  std::printf("Medians of %d repetitions [min-max].\n\n", options.reps);
  std::printf("| fill, %zu MiB | SharedArray, 2 processes (GB/s) | SharedArray, 1 process (GB/s) "
              "| private, 1 process (GB/s) | 2 processes / private |\n|---|---|---|---|---|\n",
              options.fill_bytes >> 20);
  for (const char* when : {"first touch", "warm", "warm, in a new run"}) {
    const std::string two = std::string("fill SharedArray, 2 processes, ") + when;
    const std::string one = std::string("fill SharedArray, 1 process, ") + when;
    const std::string own = std::string("fill private, 1 process, ") +
                            (std::string(when) == "first touch" ? "first touch" : "warm");
    std::printf("| %s | %s | %s | %s | %s |\n", when, cell(two).c_str(), cell(one).c_str(),
                cell(own).c_str(), ratio(two, own).c_str());
  }
  std::printf("\n| %d int keys, 1 process (Mops/s) | SharedDict<int, double> | Boost.Interprocess "
              "map + mutex | Boost.Interprocess map, no lock | Manager().dict() | SharedDict / "
              "Boost + mutex | SharedDict / Manager |\n|---|---|---|---|---|---|---|\n",
              options.keys);
  for (const char* op : {"set (new keys)", "set (existing keys)", "get"}) {
    const std::string ours = std::string("SharedDict<int, double> ") + op;
    const std::string boost = std::string("Boost.Interprocess map<int, double> + mutex ") + op;
    const std::string bare = std::string("Boost.Interprocess map<int, double>, no lock ") + op;
    const std::string python = std::string("Manager().dict() ") + op;
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", op, cell(ours).c_str(),
                cell(boost).c_str(), cell(bare).c_str(), cell(python).c_str(),
                ratio(ours, boost).c_str(), ratio(ours, python).c_str());
  }
  std::printf("\n| update of one key (Mops/s, all processes) | SharedDict::update | "
              "Boost.Interprocess map + mutex | Manager dict + Manager Lock | SharedDict / Boost | "
              "SharedDict / Manager |\n|---|---|---|---|---|---|\n");
  for (const char* procs : {"1 process(es)", "2 process(es)"}) {
    const std::string ours = std::string("SharedDict::update, ") + procs;
    const std::string boost = std::string("Boost.Interprocess map + mutex, ") + procs;
    const std::string python = std::string("Manager dict update, ") + procs;
    std::printf("| %s | %s | %s | %s | %s | %s |\n", procs, cell(ours).c_str(),
                cell(boost).c_str(), cell(python).c_str(), ratio(ours, boost).c_str(),
                ratio(ours, python).c_str());
  }
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--reps") {
      options.reps = std::stoi(value());
    } else if (arg == "--fill-mib") {
      options.fill_bytes = std::stoull(value()) << 20;
    } else if (arg == "--keys") {
      options.keys = std::stoi(value());
    } else if (arg == "--updates") {
      options.updates = std::stoi(value());
    } else if (arg == "--python") {
      options.python = value();
    } else if (arg == "--json") {
      options.json = true;
    } else {
      throw std::runtime_error("unknown argument " + arg);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    unipar::ForkParallelizer one(1), two(2);
    for (int rep = 0; rep < options.reps; ++rep) {
      fill_private(options);
      fill_shared(two, options);
      fill_shared(one, options);
      dict_operations(one, options);
      updates(one, options);
      updates(two, options);
    }
    python_peer(options);
    report(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unipar_bench_shared: %s\n", e.what());
    return 1;
  }
}
