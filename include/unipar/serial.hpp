/// @file serial.hpp
/// @brief The serial backend: the calling process alone, with the same code path.
#pragma once

#include "unipar/parallelizer.hpp"

namespace unipar {

/// @brief Runs everything in the calling process: `nprocs() == 1`, collectives are identities.
///
/// The same program gives the same results as on the parallel backends, which makes it the
/// backend for debugging.
/// @code
/// unipar::SerialParallelizer par;
/// auto squares = par.map([](int x) { return x * x; }, std::vector<int>{1, 2, 3});
/// @endcode
class SerialParallelizer final : public Parallelizer {
 public:
  SerialParallelizer() : Parallelizer(0, 1) {}
  std::string_view name() const override { return "serial"; }

 protected:
  void do_run(const std::function<void(Parallelizer&)>& body) override;
  void do_send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) override;
  void do_receive(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink) override;
  bool do_probe(int source, int tag) override;
  int do_wait_for_any(int tag) override;
};

}  // namespace unipar
