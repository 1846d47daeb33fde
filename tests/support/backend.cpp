#include "backend.hpp"

#include <cstdlib>

namespace unipar::testing {

std::string backend_spec() {
  const char* spec = std::getenv("UNIPAR_BACKEND");
  return spec != nullptr ? spec : "serial";
}

Parallelizer& backend() {
  static const auto par = make_parallelizer(backend_spec());
  return *par;
}

}  // namespace unipar::testing
