/// @file plain_only.cpp
/// @brief Must compile: plain and contiguous values (numbers, a struct of numbers, vectors of
/// doubles, strings) travel with nothing but the API and a backend header, which do not pull
/// Boost.Serialization in.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <unipar/fork.hpp>
#include <unipar/parallelizer.hpp>

#if defined(BOOST_ARCHIVE_BINARY_OARCHIVE_HPP) || defined(BOOST_SERIALIZATION_SERIALIZATION_HPP)
#error "<unipar/parallelizer.hpp> or <unipar/fork.hpp> includes Boost.Serialization"
#endif

namespace {

struct Sample {
  std::int32_t id;
  double value;
};

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  par.send(42, 1);
  par.send(Sample{1, 2.5}, 1, 3);
  par.send(std::vector<double>{1.0, 2.0}, 1);
  par.send(std::string("text"), 1);
  [[maybe_unused]] const auto number = par.receive<int>(0);
  [[maybe_unused]] const auto sample = par.receive<Sample>(0, 3);
  std::vector<double> values;
  par.receive_into(values, 0);
  [[maybe_unused]] const auto text = par.receive<std::string>(0);
  [[maybe_unused]] const auto pi = par.broadcast(3.14);
  [[maybe_unused]] const auto row = par.broadcast(std::vector<double>{1.0, 2.0});
  [[maybe_unused]] const auto name = par.broadcast(std::string("name"));
  [[maybe_unused]] const auto block = par.scatter(std::vector<double>{1.0, 2.0, 3.0});
  [[maybe_unused]] const auto all = par.gather_blocks(block);
  [[maybe_unused]] const auto sum = par.allreduce(1.5, std::plus<>{});
  [[maybe_unused]] const auto squares =
      par.map([](double x) { return x * x; }, std::vector<double>{1.0, 2.0});
}

[[maybe_unused]] void fork_backend() {
  unipar::ForkParallelizer par(2);
  use(par);
}

}  // namespace
