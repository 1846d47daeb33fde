// Many-argument tasks, as joblib's Parallel(n_jobs)(delayed(f)(a, b) for a, b in ...) or
// Python's starmap: a vector of tuples, each unpacked into f's arguments.
//   UNIPAR_BACKEND=fork:2 ./unipar_example_many_arguments
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <unipar/unipar.hpp>

// Integrates x^power over [0, upper] with `intervals` midpoint rectangles.
double integrate(int power, double upper, int intervals) {
  const double h = upper / intervals;
  double sum = 0;
  for (int i = 0; i < intervals; ++i) {
    double x = (i + 0.5) * h, term = 1;
    for (int p = 0; p < power; ++p) term *= x;
    sum += term * h;
  }
  return sum;
}

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  const std::vector<int> powers{1, 2, 3, 4};
  const std::vector<double> uppers{1.0, 2.0, 1.5, 0.5};
  const std::vector<int> intervals{1'000'000, 2'000'000, 3'000'000, 4'000'000};
  // zip pairs the i-th elements: integrate(1, 1.0, 1e6), integrate(2, 2.0, 2e6), ...
  const std::vector<double> areas = par.map(integrate, unipar::zip(powers, uppers, intervals));
  if (!par.on_main()) return 0;
  for (std::size_t i = 0; i < areas.size(); ++i) {
    std::printf("x^%d over [0, %g]: %.6f\n", powers[i], uppers[i], areas[i]);
  }
}
