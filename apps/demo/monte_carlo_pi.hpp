/// @file monte_carlo_pi.hpp
/// @brief Estimating pi by throwing random points at the unit square, split into tasks.
#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

#include <unipar/unipar.hpp>

namespace demo {

/// How many of `samples` random points in [0,1)^2 fall inside the quarter circle, using the
/// stream of (seed, task).
inline std::uint64_t count_hits(std::uint64_t seed, std::uint64_t task, std::uint64_t samples) {
  unipar::TaskRandom random(seed, task);
  std::uint64_t hits = 0;
  for (std::uint64_t i = 0; i < samples; ++i) {
    const double x = random.uniform();
    const double y = random.uniform();
    hits += (x * x + y * y < 1.0) ? 1 : 0;
  }
  return hits;
}

/// The samples of task `task` when `samples` are split over `tasks` (the first tasks take one
/// more when the split is uneven).
inline std::uint64_t samples_of_task(std::uint64_t samples, std::uint64_t tasks,
                                     std::uint64_t task) {
  return samples / tasks + (task < samples % tasks ? 1 : 0);
}

/// The hits of every task, computed with `par.map` (tasks are handed out dynamically).
inline std::vector<std::uint64_t> hits_per_task(unipar::Parallelizer& par, std::uint64_t samples,
                                                std::uint64_t tasks, std::uint64_t seed) {
  std::vector<std::uint64_t> task_indices(tasks);
  std::iota(task_indices.begin(), task_indices.end(), std::uint64_t{0});
  return par.map(
      [&](std::uint64_t task) {
        return count_hits(seed, task, samples_of_task(samples, tasks, task));
      },
      task_indices);
}

/// 4 * (points inside) / (points thrown). Integer counts make it exact on every backend.
inline double estimate_pi(const std::vector<std::uint64_t>& hits, std::uint64_t samples) {
  const std::uint64_t inside = std::accumulate(hits.begin(), hits.end(), std::uint64_t{0});
  return 4.0 * static_cast<double>(inside) / static_cast<double>(samples);
}

}  // namespace demo
