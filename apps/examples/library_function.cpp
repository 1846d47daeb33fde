// A library function that takes a unipar::Parallelizer&: written once, it runs unchanged on
// every backend, and the caller decides which one.
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <vector>

#include <unipar/unipar.hpp>

/// The root mean square of `data` (only main's `data` is read).
double root_mean_square(unipar::Parallelizer& par, const std::vector<double>& data) {
  return par.run([&](unipar::Parallelizer& p) {
    const std::vector<double> mine = p.scatter(data);
    double sum = 0;
    for (double x : mine) sum += x * x;
    const double total = p.allreduce(sum, std::plus<>{});
    return std::sqrt(total / static_cast<double>(data.size()));
  });
}

int main() {
  std::vector<double> data(1000);
  std::iota(data.begin(), data.end(), 0.0);
  for (const char* spec : {"serial", "fork:2", "fork:3"}) {
    const auto par = unipar::make_parallelizer(spec);
    std::printf("%-7s rms = %.15g\n", spec, root_mean_square(*par, data));
  }
}
