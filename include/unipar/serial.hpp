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
  void execute(const std::function<void(Parallelizer&)>& body) override;
  void send_bytes(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) override;
  void receive_bytes(int source, int tag, detail::Fingerprint type,
                     detail::ByteSink& sink) override;
  bool probe_bytes(int source, int tag) override;
  int wait_for_any(int tag) override;
};

}  // namespace unipar
