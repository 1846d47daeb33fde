/// @file run_command.hpp
/// @brief Running one point's command: fork + exec (no shell), stdout and stderr read through
/// pipes with poll(), timed; what unipar-sweep keeps of the output.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sweep {

/// What running a point gave: the last attempt's outcome and how many attempts it took.
/// Travels from the worker that ran it to main (Boost.Serialization) and into the checkpoint.
struct RunResult {
  /// The command's exit status; 128 + N when signal N killed it; 127 when it could not be
  /// started (not found, not executable, out of resources: the reason is in stderr_tail).
  int exit_code = 0;
  double seconds = 0;       ///< wall time of the last attempt
  std::string output;       ///< the last non-empty line of stdout (without the line end)
  std::string stderr_tail;  ///< the last lines of stderr (see tail_lines)
  int attempts = 0;         ///< 1 + the retries used

  template <class Archive>
  void serialize(Archive& archive, unsigned /*version*/) {
    archive& exit_code& seconds& output& stderr_tail& attempts;
  }
  friend bool operator==(const RunResult&, const RunResult&) = default;
};

/// How much of stderr a row keeps.
inline constexpr std::size_t stderr_tail_lines = 20;
inline constexpr std::size_t stderr_tail_bytes = 2048;
/// The longest stdout line kept (the rest of a longer line is dropped).
inline constexpr std::size_t max_line_bytes = 1 << 20;

/// Follows a stream in pieces and remembers its last non-empty line (a line of only spaces,
/// tabs and a '\r' counts as empty; a final '\r' is dropped).
class LastLine {
 public:
  void feed(std::string_view bytes);
  /// The last non-empty line, the unterminated rest of the stream included.
  std::string finish();

 private:
  void end_line();
  std::string current_;
  std::string last_;
};

/// Keeps the last `keep` bytes of a stream.
class Tail {
 public:
  explicit Tail(std::size_t keep) : keep_(keep) {}
  void feed(std::string_view bytes);
  const std::string& text() const { return text_; }

 private:
  std::size_t keep_;
  std::string text_;
};

/// The end of `text`: at most `max_lines` lines and `max_bytes` bytes, without the final line
/// end; cut at a line start when the byte limit cuts into a line that is not the last, and
/// never inside a UTF-8 sequence.
std::string tail_lines(std::string_view text, std::size_t max_lines = stderr_tail_lines,
                       std::size_t max_bytes = stderr_tail_bytes);

/// The file exec would run for `name`: `name` itself when it holds a '/', else the first
/// executable regular file `dir/name` for the directories of PATH; "" when there is none.
std::string find_executable(const std::string& name);

/// Runs `argv` once: argv[0] is looked up in PATH, stdin is /dev/null, stdout and stderr are
/// captured. The command dies with this process (PR_SET_PDEATHSIG). `attempts` is 1.
RunResult run_once(const std::vector<std::string>& argv);

/// run_once, and again up to `retries` times while the command exits non-zero; the result is
/// the last attempt's, with the number of attempts.
RunResult run_with_retries(const std::vector<std::string>& argv, int retries);

}  // namespace sweep
