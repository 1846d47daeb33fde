// A program that uses an installed unipar: a small fork:2 computation whose result is checked.
// Exits 0 when every check passes, 1 otherwise.
#include <unipar/unipar.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

namespace {

int failures = 0;

void check(bool condition, const std::string& what) {
  if (!condition) {
    std::cerr << "unipar_consumer: check failed: " << what << '\n';
    ++failures;
  }
}

/// Library-style code: takes any Parallelizer and returns the sum of 1..n and the ids seen.
struct Result {
  long sum = 0;
  std::vector<int> ids;
};

Result sum_and_ids(unipar::Parallelizer& par, long n) {
  std::vector<long> numbers(static_cast<std::size_t>(n));
  std::iota(numbers.begin(), numbers.end(), 1L);
  return par.run([&](unipar::Parallelizer& p) {
    auto mine = p.scatter(p.on_main() ? numbers : std::vector<long>{});
    long partial = std::accumulate(mine.begin(), mine.end(), 0L);
    Result result;
    result.sum = p.allreduce(partial, std::plus<>{});
    result.ids = p.gather(p.id());
    return result;
  });
}

}  // namespace

int main() {
  try {
    auto par = unipar::make_parallelizer("fork:2");
    check(par->name() == "fork", "backend name is fork");
    check(par->nprocs() == 2, "fork:2 has two processes");

    const Result result = sum_and_ids(*par, 1000);
    check(result.sum == 500500, "sum of 1..1000 is 500500, got " + std::to_string(result.sum));
    check(result.ids == std::vector<int>{0, 1}, "gather returns ids 0 and 1 in order");

    const auto squares = par->map([](int x) { return x * x; }, std::vector<int>{1, 2, 3, 4, 5});
    check(squares == std::vector<int>{1, 4, 9, 16, 25}, "map squares 1..5 in input order");
  } catch (const unipar::Error& error) {
    std::cerr << "unipar_consumer: unipar::Error: " << error.what() << '\n';
    return EXIT_FAILURE;
  }
  if (failures != 0) return EXIT_FAILURE;
  std::cout << "unipar_consumer: OK (fork:2, sum 500500, map in order)\n";
  return EXIT_SUCCESS;
}
