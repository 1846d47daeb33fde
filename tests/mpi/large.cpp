/// @file large.cpp
/// @brief One payload above 2 GiB, more than one MPI call can carry (MPI counts are `int`):
/// a broadcast of a std::vector<char> of 2^31 + 4096 bytes from rank 0, under `mpirun -n 2`.
///
/// Byte i is `i * 7 mod 251`; the receiver checks every byte, the bytes around the 2 GiB mark
/// explicitly, and a checksum against root's. About 2 GiB per rank (plus whatever the backend
/// buffers). Every rank prints `rank R: ok ...` or what was wrong; the exit status is 1 when
/// anything was.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "unipar/mpi.hpp"
#include "unipar/unipar.hpp"

namespace {

constexpr std::size_t payload_bytes = (std::size_t{1} << 31) + 4096;

char expected_at(std::size_t i) {
  return static_cast<char>(i * 7 % 251);
}

/// Fletcher-style sum over all bytes (modulo 2^64): order-sensitive, so a misplaced piece shows.
std::uint64_t checksum(const std::vector<char>& data) {
  std::uint64_t a = 1;
  std::uint64_t b = 0;
  for (char ch : data) {
    a += static_cast<unsigned char>(ch);
    b += a;
  }
  return b ^ (a << 32);
}

}  // namespace

int main() {
  unipar::MpiParallelizer par;
  const auto start = std::chrono::steady_clock::now();
  const std::string problem = par.run([](unipar::Parallelizer& p) -> std::string {
    std::vector<char> data;
    if (p.on_main()) {
      data.resize(payload_bytes);
      unsigned value = 0;  // i * 7 mod 251, incrementally
      for (std::size_t i = 0; i < payload_bytes; ++i) {
        data[i] = static_cast<char>(value);
        value += 7;
        if (value >= 251) value -= 251;
      }
    }
    const std::uint64_t root_sum = p.broadcast(p.on_main() ? checksum(data) : 0);
    data = p.broadcast(std::move(data), 0);

    if (data.size() != payload_bytes) return "size " + std::to_string(data.size());
    for (std::size_t i : {std::size_t{0}, std::size_t{1}, (std::size_t{1} << 31) - 1,
                          std::size_t{1} << 31, (std::size_t{1} << 31) + 1, payload_bytes - 1}) {
      if (data[i] != expected_at(i)) return "byte " + std::to_string(i);
    }
    unsigned value = 0;
    for (std::size_t i = 0; i < payload_bytes; ++i) {
      if (data[i] != static_cast<char>(value)) return "first wrong byte at " + std::to_string(i);
      value += 7;
      if (value >= 251) value -= 251;
    }
    const std::uint64_t sum = checksum(data);
    if (sum != root_sum)
      return "checksum " + std::to_string(sum) + " != " + std::to_string(root_sum);
    return {};
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!problem.empty()) {
    std::printf("rank %d: FAILED %s\n", par.id(), problem.c_str());
    return 1;
  }
  std::printf("rank %d: ok, %zu bytes broadcast and checked in %.1f s\n", par.id(), payload_bytes,
              seconds);
  return 0;
}
