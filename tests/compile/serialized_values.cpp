/// @file serialized_values.cpp
/// @brief Must compile: receiving, broadcasting and decoding Boost-serialized values (a standard
/// container and a user class with a `serialize` member), with nothing but the public header.
#include <map>
#include <string>
#include <vector>

#include "unipar/unipar.hpp"

namespace {

struct Sample {
  std::string name;
  std::vector<int> counts;
  template <class Archive>
  void serialize(Archive& archive, unsigned /*version*/) {
    archive& name& counts;
  }
};

using Dict = std::map<std::string, std::vector<double>>;

[[maybe_unused]] void use(unipar::Parallelizer& par) {
  par.send(Dict{{"a", {1.0}}}, 0, 1);
  [[maybe_unused]] const auto dict = par.receive<Dict>(0, 1);
  [[maybe_unused]] const auto sample = par.broadcast(Sample{"s", {1, 2}}, 0);
  [[maybe_unused]] const auto all = par.gather(std::string("x") + "y");
  [[maybe_unused]] const auto names = par.gather(std::vector<std::string>{"a", "b"});
  [[maybe_unused]] const auto decoded =
      unipar::detail::decode<Dict>(unipar::detail::Encoded<Dict>(Dict{}).bytes());
}

}  // namespace
