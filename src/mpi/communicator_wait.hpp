/// @file communicator_wait.hpp
/// @brief How an MPI rank waits: poll, look after notices and unexpected messages every 16th
/// round, back off the shared way (spin, yield, then 50 us naps).
#pragma once

#include <chrono>
#include <thread>

#include "mpi/communicator.hpp"

namespace unipar::mpi_detail {

template <class Ready>
void Communicator::wait(const Waiting& what, Ready ready) {
  if (failure_) throw_failure();
  detail::Backoff backoff(policy_, spin_);
  for (;;) {
    if (ready()) return backoff.ended();
    // Every 16th round, starting with the 16th, also look after notices and unexpected
    // messages: each probe drives MPI's progress engine, which costs about 0.1 us (and,
    // oversubscribed, a yield of the core), and a wait that ends within a few rounds should
    // not pay for it.
    if ((backoff.rounds() & 15) == 15) service(what);
    if (backoff.pause() == detail::Backoff::Phase::sleep) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

}  // namespace unipar::mpi_detail
