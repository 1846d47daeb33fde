// Client/server: main submits requests as it decides what to ask next; the other processes
// serve them with a handler that keeps an expensive object between requests (built once per
// server, on first use). As concurrent.futures: submit, as_completed, result (get).
//   UNIPAR_BACKEND=fork:3 ./unipar_example_client_server
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include <unipar/unipar.hpp>

// A "simulation" whose setup is expensive: a table of sines, built once per server.
class Simulation {
 public:
  Simulation() : table_(1 << 20) {
    for (std::size_t i = 0; i < table_.size(); ++i) table_[i] = std::sin(1e-6 * double(i));
  }
  double run(double parameter) const {
    double sum = 0;
    for (std::size_t i = 0; i < table_.size(); i += 7) sum += table_[i] * parameter;
    return sum;
  }

 private:
  std::vector<double> table_;
};

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  std::optional<Simulation> simulation;  // each server builds its own on its first request
  unipar::ClientServerRunner<double, double> runner(par, [&simulation](const double& parameter) {
    if (!simulation) simulation.emplace();
    return simulation->run(parameter);
  });
  const double best = runner.run([](unipar::Client<double, double>& client) {
    // A coarse scan first, then a finer one around the best point: the client decides what to
    // ask next from the answers, which map cannot do.
    std::vector<unipar::Future<double>> coarse;
    for (int i = 0; i < 16; ++i) coarse.push_back(client.submit(0.25 * i));
    double best_value = -1e300;
    double best_parameter = 0;
    for (int i = 0; i < 16; ++i) {
      const double value = coarse[static_cast<std::size_t>(i)].get();
      if (value > best_value) best_value = value, best_parameter = 0.25 * i;
    }
    std::vector<unipar::Future<double>> fine;
    for (int i = -8; i <= 8; ++i) fine.push_back(client.submit(best_parameter + 0.01 * i));
    for (auto& future : unipar::as_completed(fine)) best_value = std::max(best_value, future.get());
    std::printf("%d servers; coarse best at %g\n", client.servers(), best_parameter);
    return best_value;
  });
  if (par.on_main()) std::printf("best value %.6f\n", best);
}
