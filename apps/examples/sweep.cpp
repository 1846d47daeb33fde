// A parameter sweep: every combination of four parameters (unipar::grid), computed in
// parallel, each result written as soon as it arrives (map_each), with a progress line.
//   UNIPAR_BACKEND=fork:2 ./unipar_example_sweep > sweep.csv
//   mpirun -n 4 ./unipar_example_sweep > sweep.csv
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <unipar/unipar.hpp>

// A damped, driven oscillator integrated for `steps` steps; returns its largest amplitude.
double peak_amplitude(double damping, double drive, double frequency, int steps) {
  double x = 0, v = 0, peak = 0;
  const double dt = 1e-3;
  for (int i = 0; i < steps; ++i) {
    const double a = -x - damping * v + drive * std::cos(frequency * i * dt);
    v += a * dt;
    x += v * dt;
    peak = std::max(peak, std::abs(x));
  }
  return peak;
}

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  // 4 x 4 x 4 x 2 = 128 runs, the last parameter varying fastest.
  const auto runs = unipar::grid(std::vector<double>{0.05, 0.1, 0.2, 0.4},   // damping
                                 std::vector<double>{0.5, 1.0, 1.5, 2.0},    // drive
                                 std::vector<double>{0.8, 0.95, 1.0, 1.05},  // frequency
                                 std::vector<int>{200'000, 400'000});        // steps
  if (par.on_main()) std::printf("damping,drive,frequency,steps,peak\n");
  // peak_amplitude takes the tuple's elements as its arguments; results come in as they
  // complete (add .ordered = true for input order), written at once, so a long sweep can be
  // watched, or stopped, with everything done so far on disk.
  par.map_each(peak_amplitude, runs,
               [&](std::size_t i, double peak) {
                 const auto& [damping, drive, frequency, steps] = runs[i];
                 std::printf("%g,%g,%g,%d,%.6f\n", damping, drive, frequency, steps, peak);
                 std::fflush(stdout);
               },
               {.progress = unipar::Progress::automatic, .label = "sweep"});
}
