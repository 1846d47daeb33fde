/// @file random_stream.hpp
/// @brief A reproducible random stream per task: xoshiro256** seeded from (seed, task index).
///
/// Giving every task its own stream, derived only from the run's seed and the task's index,
/// makes the results independent of which process runs which task: the same numbers come out
/// on every backend and for every process count.
#pragma once

#include <cstdint>

namespace demo {

/// One step of splitmix64: a good 64-bit mixing function (Steele, Lea and Flood, 2014).
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// xoshiro256** (Blackman and Vigna, 2018), seeded with splitmix64 from a hash of
/// (seed, index).
class RandomStream {
 public:
  RandomStream(std::uint64_t seed, std::uint64_t index) {
    std::uint64_t hashed_index = index;
    std::uint64_t state = seed ^ splitmix64(hashed_index);
    for (auto& word : state_) word = splitmix64(state);
  }

  /// The next 64 random bits.
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// A double uniform in [0, 1), from the top 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::uint64_t state_[4];
};

}  // namespace demo
