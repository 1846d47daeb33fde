/// @file message_sizes.hpp
/// @brief Counts the bytes of every MPI call that moves data, through MPI's profiling interface.
///
/// message_sizes.cpp defines the sending MPI functions (MPI_Send, MPI_Isend, MPI_Bcast,
/// MPI_Scatterv, MPI_Gatherv, ... each calling its PMPI_ twin), so a program linked with it
/// learns how large the messages the backend handed to MPI were: the way to see that a payload
/// above UNIPAR_MPI_PIECE_BYTES really went as several messages.
#pragma once

#include <cstdint>

namespace message_sizes {

struct Stats {
  std::uint64_t calls = 0;    ///< MPI calls that moved data
  std::uint64_t largest = 0;  ///< the most bytes one of them moved to or from one process
  std::uint64_t total = 0;    ///< bytes of all of them
};

/// What this process's MPI calls moved so far.
Stats stats();

}  // namespace message_sizes
