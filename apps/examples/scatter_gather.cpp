// scatter / gather: split a vector into blocks, work on each block, put it back together.
//   UNIPAR_BACKEND=fork:3 ./unipar_example_scatter_gather
#include <cstddef>
#include <cstdio>
#include <numeric>
#include <vector>

#include <unipar/unipar.hpp>

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  const auto squares = par.run([](unipar::Parallelizer& p) {
    std::vector<double> data;
    if (p.on_main()) {  // only main needs the data; the others pass an empty vector
      data.resize(10);
      std::iota(data.begin(), data.end(), 1.0);
    }
    std::vector<double> block = p.scatter(data);  // this process's contiguous block
    for (double& x : block) x *= x;
    const auto sizes = p.gather(block.size());  // one value per process, on main
    if (p.on_main()) {
      for (std::size_t i = 0; i < sizes.size(); ++i) p.print("process ", i, " had ", sizes[i]);
    }
    return p.gather_blocks(block);  // the blocks concatenated in order, on main
  });
  for (double x : squares) std::printf("%g ", x);
  std::printf("\n");
}
