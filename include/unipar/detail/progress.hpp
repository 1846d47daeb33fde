/// @file progress.hpp
/// @brief The progress line of a task-farm call (`map`, `map_each`): items done / total, rate,
/// elapsed time and ETA, drawn on standard error by main.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "unipar/map_options.hpp"

namespace unipar::detail {

/// @brief Draws one call's progress: on a terminal one line redrawn in place, elsewhere a plain
/// line now and then.
///
/// The mode is resolved once, at construction:
/// - `off`: never draws.
/// - `on`: draws; on a terminal from the first update(), at most once per `redraw`; elsewhere a
///   plain line at most once per `lines` (the first once `lines` has passed), and finish()
///   always writes the final line.
/// - `automatic`: UNIPAR_PROGRESS decides when set ("1" as `on`, "0" as `off`; another value is
///   a UsageError from the constructor). Unset: only when `fd` is a terminal, and only once the
///   call has run for more than a second, so a shorter call draws nothing at all.
///
/// One line reads `label: 1234/5000 (24.7%)  812 items/s  elapsed 1.5s  ETA 4.6s` (no
/// `label: ` when the label is empty). On a terminal it is drawn as "\r" + text + "\x1b[K" +
/// "\r", which leaves the cursor in column 0: a line another process writes then overwrites the
/// progress line instead of being appended to it; the text is cut to the terminal's width. Each
/// draw is one write(); write errors (a closed pipe included, without SIGPIPE) are ignored.
class ProgressLine {
 public:
  /// @param total the number of items.
  /// @param mode from MapOptions::progress.
  /// @param label shown before the counts (MapOptions::label).
  /// @param fd where to draw (2: standard error).
  /// @param redraw the least time between two redraws on a terminal.
  /// @param lines the least time between two plain lines when `fd` is not a terminal.
  /// @throws UsageError when `mode` is `automatic` and UNIPAR_PROGRESS has a value other than
  /// "0" or "1".
  ProgressLine(std::size_t total, Progress mode, std::string label, int fd = 2,
               std::chrono::milliseconds redraw = std::chrono::milliseconds(100),
               std::chrono::milliseconds lines = std::chrono::milliseconds(5000));
  /// When something was drawn on a terminal and finish() was not called (an error path):
  /// clears the line.
  ~ProgressLine();

  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  /// `done` items have been delivered. Cheap when nothing is due: no clock read when the line
  /// is disabled, else one steady_clock read and a compare, and no allocation.
  void update(std::size_t done) noexcept;
  /// Draws the final state and ends the line with '\n' when anything was drawn (or when the
  /// mode resolved to `on`); else writes nothing. Later calls of update() and finish() do
  /// nothing.
  void finish() noexcept;
  /// Whether this line may draw at all (the mode after resolving `automatic`).
  bool enabled() const noexcept { return enabled_; }

 private:
  using Clock = std::chrono::steady_clock;

  /// Formats the current state and writes it; `last`: the final draw, ending with '\n'.
  void draw(Clock::time_point now, bool last) noexcept;

  std::size_t total_;
  std::size_t done_ = 0;
  int fd_;
  bool enabled_ = false;   // may draw at all
  bool forced_ = false;    // resolved to `on`: finish() writes the final line regardless
  bool terminal_ = false;  // fd_ is a terminal: redraw in place
  bool drawn_ = false;     // something has been written
  bool finished_ = false;  // finish() has run
  Clock::duration interval_;
  Clock::time_point start_;
  Clock::time_point next_;  // no draw before this
  std::string prefix_;      // "label: " or empty
  std::string buffer_;      // one draw, its capacity reserved at construction
};

}  // namespace unipar::detail
