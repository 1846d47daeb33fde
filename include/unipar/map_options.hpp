/// @file map_options.hpp
/// @brief How a task-farm call (`map`, `map_each`) runs: chunking, delivery order, progress,
/// checkpoint and retries.
#pragma once

#include <cstddef>
#include <string>

namespace unipar {

/// Whether a task-farm call draws a progress line on standard error (see MapOptions::progress).
enum class Progress {
  off,       ///< never
  on,        ///< always: redrawn in place on a terminal, periodic plain lines otherwise
  automatic  ///< UNIPAR_PROGRESS=0|1 decides when set; else on when stderr is a terminal and
             ///< the call has run for more than about a second
};

/// Options of `map` and `map_each`; an aggregate, so designated initializers work:
/// `par.map(f, items, {.chunk = 16, .label = "sweep"})` (members in this order).
struct MapOptions {
  /// Exactly this many consecutive items per chunk (the last may be smaller), as
  /// `multiprocessing.Pool.map`'s `chunksize`; 0 = automatic (guided chunks sized from the
  /// measured cost per item).
  std::size_t chunk = 0;
  /// The progress line (items done / total, rate, elapsed, ETA, label).
  Progress progress = Progress::automatic;
  /// Shown by the progress line. (The `{}` keeps GCC's -Wmissing-field-initializers quiet about
  /// designated initializers that leave it out.)
  std::string label{};
  /// `map_each` only: call `on_result` in input order, each as soon as all earlier results
  /// have been delivered (Python's `imap`); false: in completion order (`imap_unordered`).
  bool ordered = false;
  /// A file main appends every result to as it arrives (with its index and fingerprints of its
  /// item and of the result type); called again with the same file, the call delivers what the
  /// file holds without computing it and computes only the rest. Empty: none. A file written
  /// for other items or another result type is a UsageError. See docs/sweeps.md.
  std::string checkpoint{};
  /// fork, outside `run`: how many times an item that was not delivered when a worker died is
  /// computed again, by newly forked workers, before the call fails with WorkerLost. An item
  /// whose function threw is never retried (the exception is its answer). Under MPI a rank that
  /// dies ends the job; inside `run` a worker that dies ends the run.
  int retries = 0;
};

}  // namespace unipar
