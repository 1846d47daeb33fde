/// @file no_default_constructor_rejected.cpp
/// @brief Must NOT compile, with unipar's one-line explanation: receive<T> creates the T it
/// receives into, so T needs a default constructor (receive_into takes an existing object).
#include "unipar/parallelizer.hpp"

namespace {

struct Reading {
  explicit Reading(double v) : value(v) {}
  double value;
};

[[maybe_unused]] Reading use(unipar::Parallelizer& par) {
  return par.receive<Reading>(0);
}

}  // namespace
