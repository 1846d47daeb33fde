// Shared objects: a dict of arrays that every process writes into in place, a counter every
// process increments under the dict's lock, and unshare back to plain data.
//   UNIPAR_BACKEND=fork:3 ./unipar_example_shared_dict
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <unipar/unipar.hpp>

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  unipar::SharedObjectManager manager(par);

  // Three arrays (10x5x5, 10x3x8, 10x15x4 values), shared by every process of `par`.
  auto data = manager.share(std::map<std::string, std::vector<double>>{
      {"a", std::vector<double>(10 * 5 * 5, 0.0)},
      {"b", std::vector<double>(10 * 3 * 8, 1.0)},
      {"c", std::vector<double>(10 * 15 * 4, 2.0)}});
  // A dict every process updates.
  unipar::SharedDict<std::string, long> counters(par);

  par.run([&](unipar::Parallelizer& p) {
    // Each process fills its own rows of "a" (row i of 10 goes to process i % nprocs) ...
    const unipar::SharedArray<double> a = data.at("a");  // a handle: writes go to shared memory
    for (std::size_t row = static_cast<std::size_t>(p.id()); row < 10;
         row += static_cast<std::size_t>(p.nprocs())) {
      for (std::size_t k = 0; k < 25; ++k) a[row * 25 + k] = static_cast<double>(row);
    }
    // ... and counts what it did, atomically.
    counters.update("rows", [&](std::optional<long>& n) {
      n = n.value_or(0) + (10 - p.id() + p.nprocs() - 1) / p.nprocs();
    });
    p.barrier();  // every process's writes are visible to all after this
    if (p.on_main()) p.print("row 9 of a starts with ", a[9 * 25], " after the barrier");
  });

  // After run, main sees everything the workers wrote; unshare gives plain data back.
  const std::map<std::string, std::vector<double>> plain = manager.unshare(data);
  if (par.on_main()) {
    std::printf("on %s with %d processes: a[1][0][0] = %g, %ld rows written, b has %zu values\n",
                std::string(par.name()).c_str(), par.nprocs(), plain.at("a")[25],
                counters.at("rows"), plain.at("b").size());
  }
}
