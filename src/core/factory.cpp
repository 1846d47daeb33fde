#include "unipar/factory.hpp"

#include <charconv>
#include <cstdlib>
#include <string>

#include "unipar/fork.hpp"
#include "unipar/serial.hpp"

namespace unipar {
namespace {

[[noreturn]] void bad_spec(std::string_view spec, const std::string& why) {
  throw UsageError("invalid parallelizer spec '" + std::string(spec) + "' (" + why +
                   "); accepted: \"serial\", \"fork\" (one process per core), \"fork:N\" with "
                   "N >= 1");
}

}  // namespace

std::unique_ptr<Parallelizer> make_parallelizer(std::string_view spec) {
  if (spec == "serial") return std::make_unique<SerialParallelizer>();
  if (spec == "fork") return std::make_unique<ForkParallelizer>();
  if (spec.starts_with("fork:")) {
    const std::string_view count = spec.substr(5);
    int nprocs = 0;
    const auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), nprocs);
    if (error != std::errc{} || end != count.data() + count.size() || nprocs < 1) {
      bad_spec(spec, "the process count must be a whole number >= 1");
    }
    return std::make_unique<ForkParallelizer>(nprocs);
  }
  bad_spec(spec, "unknown backend");
}

Parallelizer& default_parallelizer() {
  static const std::unique_ptr<Parallelizer> instance = [] {
    const char* spec = std::getenv("UNIPAR_BACKEND");
    return make_parallelizer(spec != nullptr && *spec != '\0' ? spec : "fork");
  }();
  return *instance;
}

}  // namespace unipar
