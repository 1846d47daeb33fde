// map: apply a function to every item, in parallel, with dynamic load balancing.
// Works outside run: the fork backend forks its workers for the call.
//   UNIPAR_BACKEND=fork:2 ./unipar_example_map
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <unipar/unipar.hpp>

// Steps for n to reach 1 in the Collatz iteration: items of very uneven cost.
int collatz_steps(std::uint64_t n) {
  int steps = 0;
  for (; n != 1; ++steps) n = (n % 2 == 0) ? n / 2 : 3 * n + 1;
  return steps;
}

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  std::vector<std::uint64_t> numbers(1'000'000);
  std::iota(numbers.begin(), numbers.end(), std::uint64_t{1});
  const std::vector<int> steps = par.map(collatz_steps, numbers);  // in input order
  const auto longest = std::max_element(steps.begin(), steps.end()) - steps.begin();
  std::printf("on %s with %d processes: %llu takes the most steps (%d)\n",
              std::string(par.name()).c_str(), par.nprocs(),
              static_cast<unsigned long long>(numbers[longest]), steps[longest]);
}
