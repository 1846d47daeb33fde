/// @file pieces.cpp
/// @brief Payloads split into several MPI messages: with UNIPAR_MPI_PIECE_BYTES small (1000,
/// 4097), every operation moves vectors, strings and a serialized map of 0 .. 250 000 bytes
/// exactly, and no MPI call moves more than a piece (counted through MPI's profiling interface,
/// message_sizes.cpp); unset, the same payloads go unsplit.
///
/// Run under `mpirun -n 3`. Every rank prints its failed checks and one summary line
/// `rank R: C checks, F failed, largest MPI message L bytes`; the exit status is 1 when a check
/// failed on this rank.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "message_sizes.hpp"
#include "unipar/mpi.hpp"
#include "unipar/unipar.hpp"

namespace {

using unipar::Parallelizer;
using Bytes = std::vector<std::uint8_t>;
using Table = std::map<std::string, std::vector<double>>;

/// Payload sizes in bytes: around both piece sizes the tests use, their multiples, and large.
const std::vector<std::size_t> sizes = {0,    1,    999,  1000, 1001, 2000,
                                        2001, 4096, 4097, 4098, 8195, 250000};

/// A MPI message may carry a small header besides its piece of the payload.
constexpr std::uint64_t header_allowance = 256;

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 31;
  x *= 0x9E3779B97F4A7C15ULL;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ULL;
  return x ^ (x >> 32);
}

/// A seed for one payload: who made it, for whom or which root, its size and kind.
std::uint64_t seed_of(int a, int b, std::size_t size, int kind) {
  return mix((static_cast<std::uint64_t>(a) << 48) ^ (static_cast<std::uint64_t>(b) << 40) ^
             (static_cast<std::uint64_t>(kind) << 32) ^ size);
}

/// `n` bytes that differ at every position and between seeds (a misplaced piece shows).
Bytes bytes(std::size_t n, std::uint64_t seed) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(mix(seed + i) >> 24);
  return out;
}

std::string text(std::size_t n, std::uint64_t seed) {
  std::string out(n, ' ');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('!' + mix(seed + i) % 90);
  return out;
}

std::vector<double> doubles(std::size_t n, std::uint64_t seed) {
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<double>(mix(seed + i) >> 11) * 0x1p-53;
  return out;
}

/// A serialized map of about `size` bytes (empty for 0).
Table table(std::size_t size, std::uint64_t seed) {
  Table out;
  if (size == 0) return out;
  const std::size_t entries = 1 + size / 4000;
  const std::size_t per_entry = size / 8 / entries;
  for (std::size_t e = 0; e < entries; ++e) {
    out["key " + std::to_string(e) + text(e % 7, seed + e)] = doubles(per_entry, seed + 1000 * e);
  }
  return out;
}

std::vector<std::string> strings(std::size_t count, std::size_t length, std::uint64_t seed) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) out.push_back(text(length + i % 3, seed + 77 * i));
  return out;
}

/// Block `index` of `count` items over `parts` processes, as scatter promises.
template <class T>
std::vector<T> block(const std::vector<T>& all, int parts, int index) {
  const std::size_t n = all.size();
  const std::size_t p = static_cast<std::size_t>(parts);
  const std::size_t i = static_cast<std::size_t>(index);
  const std::size_t begin = i * (n / p) + std::min(i, n % p);
  const std::size_t size = n / p + (i < n % p ? 1 : 0);
  return {all.begin() + static_cast<std::ptrdiff_t>(begin),
          all.begin() + static_cast<std::ptrdiff_t>(begin + size)};
}

/// A map item: the payload `f` makes.
struct Job {
  std::uint64_t size;
  std::uint64_t seed;
};

class Checks {
 public:
  explicit Checks(int rank) : rank_(rank) {}
  void expect(bool ok, const std::string& what) {
    ++count_;
    if (ok) return;
    ++failed_;
    std::printf("rank %d: FAILED %s\n", rank_, what.c_str());
    std::fflush(stdout);
  }
  int count() const { return count_; }
  int failed() const { return failed_; }

 private:
  int rank_;
  int count_ = 0;
  int failed_ = 0;
};

std::string where(const char* what, std::size_t size, int a, int b) {
  return std::string(what) + " size " + std::to_string(size) + " (" + std::to_string(a) + ", " +
         std::to_string(b) + ")";
}

void point_to_point(Parallelizer& p, Checks& c) {
  const int n = p.nprocs();
  for (std::size_t size : sizes) {
    for (int src = 0; src < n; ++src) {
      for (int dst = 0; dst < n; ++dst) {
        if (src == dst) continue;
        const std::uint64_t s = seed_of(src, dst, size, 1);
        if (p.id() == src) {
          p.send(bytes(size, s), dst, 1);
          p.send(text(size, s), dst, 2);
          p.send(doubles(size / 8, s), dst, 3);
          p.send(table(size, s), dst, 4);
          p.send(bytes(size, s + 1), dst, 5);  // two messages with one tag: kept in order
          p.send(bytes(size, s + 2), dst, 5);
        }
        if (p.id() != dst) continue;
        // The last message first: the pieces of messages with other tags must not mix in.
        c.expect(p.receive<Table>(src, 4) == table(size, s), where("send Table", size, src, dst));
        // The sender got past the earlier messages, so they are here (taken in meanwhile).
        c.expect(p.probe(src, 1) && p.probe(src, 2) && p.probe(src, 3),
                 where("probe", size, src, dst));
        std::string t = "previous content";
        p.receive_into(t, src, 2);
        c.expect(t == text(size, s), where("send string", size, src, dst));
        Bytes buffer(3, 1);
        buffer.reserve(size + 10);
        const auto* before = buffer.data();
        p.receive_into(buffer, src, 1);
        c.expect(buffer == bytes(size, s), where("send bytes", size, src, dst));
        c.expect(buffer.data() == before, where("receive_into reuses capacity", size, src, dst));
        c.expect(p.receive<Bytes>(src, 5) == bytes(size, s + 1),
                 where("same tag 1", size, src, dst));
        c.expect(p.receive<Bytes>(src, 5) == bytes(size, s + 2),
                 where("same tag 2", size, src, dst));
      }
    }
  }
  p.barrier();
}

void broadcasts(Parallelizer& p, Checks& c) {
  const int n = p.nprocs();
  for (int root = 0; root < n; ++root) {
    for (std::size_t size : sizes) {
      const std::uint64_t s = seed_of(root, 0, size, 2);
      const bool is_root = p.id() == root;
      c.expect(p.broadcast(is_root ? bytes(size, s) : Bytes{}, root) == bytes(size, s),
               where("broadcast bytes", size, root, p.id()));
      c.expect(p.broadcast(is_root ? text(size, s) : std::string("x"), root) == text(size, s),
               where("broadcast string", size, root, p.id()));
      c.expect(p.broadcast(is_root ? table(size, s) : Table{}, root) == table(size, s),
               where("broadcast Table", size, root, p.id()));

      std::vector<double> buffer;
      const double* before = nullptr;
      if (is_root) {
        buffer = doubles(size / 8 + 1, s);
      } else {
        buffer.assign(5, -1.0);
        buffer.reserve(size / 8 + 1);
        before = buffer.data();
      }
      p.broadcast_inplace(buffer, root);
      c.expect(buffer == doubles(size / 8 + 1, s), where("broadcast_inplace", size, root, p.id()));
      c.expect(is_root || buffer.data() == before,
               where("broadcast_inplace reuses capacity", size, root, p.id()));
      Table into{{"old", {1.0}}};
      if (is_root) into = table(size, s + 5);
      p.broadcast_inplace(into, root);
      c.expect(into == table(size, s + 5), where("broadcast_inplace Table", size, root, p.id()));
    }
  }
}

void scatters(Parallelizer& p, Checks& c) {
  const int n = p.nprocs();
  for (int root : {0, n - 1}) {
    for (std::size_t size : sizes) {
      const std::uint64_t s = seed_of(root, 0, size, 3);
      // Blocks of about `size` bytes, sizes differing by one.
      const Bytes all = bytes(size * static_cast<std::size_t>(n) + 1, s);
      c.expect(p.scatter(p.id() == root ? all : Bytes{}, root) == block(all, n, p.id()),
               where("scatter bytes", size, root, p.id()));
      const auto all_doubles = doubles(size / 8 * static_cast<std::size_t>(n) + 2, s);
      c.expect(p.scatter(p.id() == root ? all_doubles : std::vector<double>{}, root) ==
                   block(all_doubles, n, p.id()),
               where("scatter doubles", size, root, p.id()));
      // Serialized: 2n + 1 strings of about size / 2 bytes.
      const auto all_strings = strings(2 * static_cast<std::size_t>(n) + 1, size / 2, s);
      c.expect(p.scatter(p.id() == root ? all_strings : std::vector<std::string>{}, root) ==
                   block(all_strings, n, p.id()),
               where("scatter strings", size, root, p.id()));
    }
  }
}

void gathers(Parallelizer& p, Checks& c) {
  const int n = p.nprocs();
  for (int root : {0, n - 1}) {
    for (std::size_t size : sizes) {
      auto mine_seed = [&](int rank) { return seed_of(rank, root, size, 4); };
      const auto got =
          p.gather(bytes(size + static_cast<std::size_t>(p.id()), mine_seed(p.id())), root);
      const auto tables = p.gather(table(size, mine_seed(p.id())), root);
      const auto texts = p.gather(text(size, mine_seed(p.id())), root);
      if (p.id() != root) {
        c.expect(got.empty() && tables.empty() && texts.empty(),
                 where("gather elsewhere empty", size, root, p.id()));
        continue;
      }
      bool same = got.size() == static_cast<std::size_t>(n) && tables.size() == got.size() &&
                  texts.size() == got.size();
      for (int r = 0; same && r < n; ++r) {
        const auto i = static_cast<std::size_t>(r);
        same = got[i] == bytes(size + i, mine_seed(r)) && tables[i] == table(size, mine_seed(r)) &&
               texts[i] == text(size, mine_seed(r));
      }
      c.expect(same, where("gather", size, root, p.id()));
    }
  }
}

void gather_blocks(Parallelizer& p, Checks& c) {
  const int n = p.nprocs();
  for (int root : {0, n - 1}) {
    for (std::size_t size : sizes) {
      auto mine_seed = [&](int rank) { return seed_of(rank, root, size, 5); };
      auto my_bytes = [&](int rank) {
        return bytes(size + static_cast<std::size_t>(rank), mine_seed(rank));
      };
      auto my_strings = [&](int rank) { return strings(2, size / 2, mine_seed(rank)); };
      const auto got = p.gather_blocks(my_bytes(p.id()), root);
      const auto got_doubles = p.gather_blocks(doubles(size / 8, mine_seed(p.id())), root);
      const auto got_strings = p.gather_blocks(my_strings(p.id()), root);
      if (p.id() != root) {
        c.expect(got.empty() && got_doubles.empty() && got_strings.empty(),
                 where("gather_blocks elsewhere empty", size, root, p.id()));
        continue;
      }
      Bytes expected;
      std::vector<double> expected_doubles;
      std::vector<std::string> expected_strings;
      for (int r = 0; r < n; ++r) {
        const auto b = my_bytes(r);
        expected.insert(expected.end(), b.begin(), b.end());
        const auto d = doubles(size / 8, mine_seed(r));
        expected_doubles.insert(expected_doubles.end(), d.begin(), d.end());
        const auto s = my_strings(r);
        expected_strings.insert(expected_strings.end(), s.begin(), s.end());
      }
      c.expect(got == expected, where("gather_blocks bytes", size, root, p.id()));
      c.expect(got_doubles == expected_doubles, where("gather_blocks doubles", size, root, p.id()));
      c.expect(got_strings == expected_strings, where("gather_blocks strings", size, root, p.id()));
    }
  }
}

/// `map` with large results, large items and serialized results; `label` says where it ran.
void maps(Parallelizer& p, Checks& c, const char* label) {
  std::vector<Job> jobs;
  std::vector<std::string> texts;
  for (int k = 0; k < 3; ++k) {
    for (std::size_t size : sizes) {
      jobs.push_back({size, seed_of(k, 0, size, 6)});
      texts.push_back(text(size, seed_of(k, 1, size, 6)));
    }
  }
  const auto made = p.map([](const Job& job) { return bytes(job.size, job.seed); }, jobs);
  const auto tables = p.map([](const Job& job) { return table(job.size, job.seed); }, jobs);
  const auto lengths = p.map(
      [](const std::string& s) {
        std::uint64_t sum = s.size();
        for (char ch : s) sum = sum * 31 + static_cast<unsigned char>(ch);
        return sum;
      },
      texts);
  if (!p.on_main()) {
    c.expect(made.empty() && tables.empty() && lengths.empty(),
             std::string(label) + " map elsewhere empty");
    return;
  }
  bool same =
      made.size() == jobs.size() && tables.size() == jobs.size() && lengths.size() == jobs.size();
  for (std::size_t i = 0; same && i < jobs.size(); ++i) {
    std::uint64_t sum = texts[i].size();
    for (char ch : texts[i]) sum = sum * 31 + static_cast<unsigned char>(ch);
    same = made[i] == bytes(jobs[i].size, jobs[i].seed) &&
           tables[i] == table(jobs[i].size, jobs[i].seed) && lengths[i] == sum;
  }
  c.expect(same, std::string(label) + " map results");
}

}  // namespace

int main() {
  unipar::MpiParallelizer par;
  Checks checks(par.id());
  par.run([&](Parallelizer& p) {
    point_to_point(p, checks);
    broadcasts(p, checks);
    scatters(p, checks);
    gathers(p, checks);
    gather_blocks(p, checks);
    maps(p, checks, "inside run:");
  });
  maps(par, checks, "outside run:");

  const message_sizes::Stats sent = message_sizes::stats();
  if (const char* piece = std::getenv("UNIPAR_MPI_PIECE_BYTES")) {
    const std::uint64_t limit = std::strtoull(piece, nullptr, 10);
    checks.expect(sent.largest <= limit + header_allowance,
                  "largest MPI message " + std::to_string(sent.largest) + " bytes, pieces of " +
                      std::to_string(limit) + " expected");
  } else {
    checks.expect(sent.largest >= 250000, "largest MPI message " + std::to_string(sent.largest) +
                                              " bytes: 250000-byte payloads should go unsplit");
  }
  std::printf("rank %d: %d checks, %d failed, largest MPI message %llu bytes (%llu calls)\n",
              par.id(), checks.count(), checks.failed(),
              static_cast<unsigned long long>(sent.largest),
              static_cast<unsigned long long>(sent.calls));
  std::fflush(stdout);
  return checks.failed() == 0 ? 0 : 1;
}
