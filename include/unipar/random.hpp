/// @file random.hpp
/// @brief unipar::TaskRandom: a random stream per task, the same on every backend and process
/// count.
///
///     auto f = [seed](const Item& item) {
///       unipar::TaskRandom random(seed, item.index);  // this task's own stream
///       std::normal_distribution<double> noise;
///       return simulate(item, [&] { return noise(random); });
///     };
///
/// The stream of (seed, task) depends on nothing else: not on which process computes the task,
/// how many there are, or in what order tasks run. So a sweep gives the same numbers serially,
/// on fork:N and under mpirun -n N.
///
/// The engine is xoshiro256** (Blackman and Vigna, 2018: period 2^256 - 1, passes TestU01's
/// BigCrush, about 1 ns a draw), and a task's 256-bit starting state is two blocks of
/// Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2,
/// 3", SC 2011: the counter-based generator of Random123, cuRAND and JAX) keyed by the seed, at
/// counters (0, task) and (1, task). Philox is a keyed bijection of its counter, so different
/// tasks start from different states whatever the seed, and states that look independent: a
/// task's stream is a segment of xoshiro's one cycle starting at a point that is random for
/// every practical purpose. Two of 10^6 streams of 2^64 draws each overlap with probability
/// below 2^-150. Drawing from Philox itself would exclude overlaps by construction but costs
/// 7 ns a draw here against xoshiro's 1 ns; construction costs two Philox blocks, no warm-up.
#pragma once

#include <array>
#include <cstdint>
#include <limits>

namespace unipar {

class TaskRandom {
 public:
  using result_type = std::uint64_t;

  /// The stream of task `task_index` under `seed`.
  TaskRandom(std::uint64_t seed, std::uint64_t task_index) noexcept {
    const Key key{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
    const auto task_low = static_cast<std::uint32_t>(task_index);
    const auto task_high = static_cast<std::uint32_t>(task_index >> 32);
    const Block first = philox({0, 0, task_low, task_high}, key);
    const Block second = philox({1, 0, task_low, task_high}, key);
    state_ = {join(first[0], first[1]), join(first[2], first[3]), join(second[0], second[1]),
              join(second[2], second[3])};
    // xoshiro's one forbidden state (all zero) needs 2^-256 luck; step around it anyway.
    if (state_ == std::array<std::uint64_t, 4>{}) state_[0] = 1;
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  /// The next 64 random bits.
  result_type operator()() noexcept {
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

  /// A double uniform in [0, 1), from the top 53 bits of the next draw.
  double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  friend bool operator==(const TaskRandom&, const TaskRandom&) = default;

  using Block = std::array<std::uint32_t, 4>;
  using Key = std::array<std::uint32_t, 2>;

  /// Philox4x32 with 10 rounds: the block of `counter` under `key` (exposed for its
  /// known-answer tests).
  static constexpr Block philox(Block counter, Key key) noexcept {
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        key[0] += 0x9E3779B9U;  // the golden ratio's and sqrt(3)'s Weyl increments
        key[1] += 0xBB67AE85U;
      }
      const std::uint64_t p0 = std::uint64_t{0xD2511F53U} * counter[0];
      const std::uint64_t p1 = std::uint64_t{0xCD9E8D57U} * counter[2];
      counter = {static_cast<std::uint32_t>(p1 >> 32) ^ counter[1] ^ key[0],
                 static_cast<std::uint32_t>(p1),
                 static_cast<std::uint32_t>(p0 >> 32) ^ counter[3] ^ key[1],
                 static_cast<std::uint32_t>(p0)};
    }
    return counter;
  }

 private:
  static constexpr std::uint64_t join(std::uint32_t low, std::uint32_t high) noexcept {
    return low | (std::uint64_t{high} << 32);
  }
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }

  std::array<std::uint64_t, 4> state_{};
};

}  // namespace unipar
