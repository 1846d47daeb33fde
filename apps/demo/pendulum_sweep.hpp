/// @file pendulum_sweep.hpp
/// @brief A parameter sweep: the driven, damped pendulum
///   theta'' + damping * theta' + sin(theta) = drive * cos(2/3 * t)
/// integrated with fourth-order Runge-Kutta, one independent run per (damping, drive) pair.
///
/// Each run starts from a random state (its own stream, from the seed and the run's index),
/// lets the transient decay, then measures how many full turns the pendulum makes per drive
/// period: 0 when it swings back and forth, a whole number when it rotates in step with the
/// drive, anything in between when its motion is chaotic. Lightly damped runs need a longer
/// transient, so some runs cost several times more than others.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include <unipar/random.hpp>

namespace demo {

struct PendulumRun {
  std::uint64_t index;  // selects the run's random stream
  double damping;
  double drive;
};

struct PendulumResult {
  double turns_per_period;  // net rotation per drive period, in the measurement window
  double mean_energy;       // mean kinetic energy, (1/2) <theta'^2>
  std::uint64_t steps;      // integration steps taken: the cost of the run
  bool operator==(const PendulumResult&) const = default;
};

/// The runs of a grid, damping-major.
inline std::vector<PendulumRun> pendulum_grid(const std::vector<double>& dampings,
                                              const std::vector<double>& drives) {
  std::vector<PendulumRun> runs;
  for (double damping : dampings) {
    for (double drive : drives) runs.push_back({runs.size(), damping, drive});
  }
  return runs;
}

inline PendulumResult simulate_pendulum(const PendulumRun& run, std::uint64_t seed) {
  constexpr double frequency = 2.0 / 3.0;
  constexpr double period = 2.0 * std::numbers::pi / frequency;
  constexpr int steps_per_period = 1000;
  constexpr int measured_periods = 25;
  constexpr double dt = period / steps_per_period;
  // The transient decays like exp(-damping * t): wait until it is below e^-40.
  const auto transient_periods =
      static_cast<std::uint64_t>(std::ceil(40.0 / (run.damping * period)));

  unipar::TaskRandom random(seed ^ 0x5357454550ull /* "SWEEP" */, run.index);
  double theta = std::numbers::pi * (2.0 * random.uniform() - 1.0);
  double omega = 2.0 * random.uniform() - 1.0;

  const auto acceleration = [&](double t, double angle, double speed) {
    return -run.damping * speed - std::sin(angle) + run.drive * std::cos(frequency * t);
  };
  const std::uint64_t transient_steps = transient_periods * steps_per_period;
  const std::uint64_t total_steps = transient_steps + measured_periods * steps_per_period;
  double theta_at_start = 0;
  double energy_sum = 0;
  for (std::uint64_t step = 0; step < total_steps; ++step) {
    if (step == transient_steps) theta_at_start = theta;
    const double t = static_cast<double>(step) * dt;
    const double k1 = omega;
    const double l1 = acceleration(t, theta, omega);
    const double k2 = omega + 0.5 * dt * l1;
    const double l2 = acceleration(t + 0.5 * dt, theta + 0.5 * dt * k1, k2);
    const double k3 = omega + 0.5 * dt * l2;
    const double l3 = acceleration(t + 0.5 * dt, theta + 0.5 * dt * k2, k3);
    const double k4 = omega + dt * l3;
    const double l4 = acceleration(t + dt, theta + dt * k3, k4);
    theta += dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    omega += dt / 6.0 * (l1 + 2.0 * l2 + 2.0 * l3 + l4);
    if (step >= transient_steps) energy_sum += 0.5 * omega * omega;
  }
  const double measured_steps = static_cast<double>(measured_periods) * steps_per_period;
  return {(theta - theta_at_start) / (2.0 * std::numbers::pi) / measured_periods,
          energy_sum / measured_steps, total_steps};
}

}  // namespace demo
