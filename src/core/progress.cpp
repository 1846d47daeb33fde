#include "unipar/detail/progress.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

#include "core/settings.hpp"

namespace unipar::detail {
namespace {

/// A call left at `automatic` on a terminal draws once it has run this long.
constexpr std::chrono::seconds automatic_delay(1);
/// Room for everything of one draw but the label: the counts, rate, times and escape codes.
constexpr std::size_t numbers_capacity = 256;

/// Writes all of `size` bytes with as few write() calls as the kernel allows (one, as a rule);
/// gives up silently on an error. A closed pipe raises no SIGPIPE: the signal is blocked in
/// this thread for the write and a SIGPIPE it caused is taken back.
void write_all(int fd, const char* data, std::size_t size) noexcept {
  const int saved_errno = errno;
  sigset_t pipe_signal;
  sigset_t old_mask;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  const bool masked = pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask) == 0;
  bool was_pending = false;
  if (masked) {
    sigset_t pending;
    if (sigpending(&pending) == 0) was_pending = sigismember(&pending, SIGPIPE) == 1;
  }
  bool broken_pipe = false;
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      broken_pipe = errno == EPIPE;
      break;  // a progress line is not worth an error
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  if (masked) {
    if (broken_pipe && !was_pending) {
      const timespec no_wait{};
      while (sigtimedwait(&pipe_signal, nullptr, &no_wait) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }
  errno = saved_errno;
}

/// The width of the terminal `fd`, or 0 when it is not known.
std::size_t terminal_columns(int fd) noexcept {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

/// `seconds` as "59.2s", "12m03s" or "2h05m"; "--" when it is not a sensible time.
void format_duration(double seconds, char* out, std::size_t size) noexcept {
  if (!(seconds >= 0.0) || seconds > 1e9) {
    std::snprintf(out, size, "--");
    return;
  }
  const long long tenths = std::llround(seconds * 10.0);
  if (tenths < 600) {
    std::snprintf(out, size, "%lld.%llds", tenths / 10, tenths % 10);
    return;
  }
  const long long whole = std::llround(seconds);
  if (whole < 3600) {
    std::snprintf(out, size, "%lldm%02llds", whole / 60, whole % 60);
    return;
  }
  const long long minutes = whole / 60;
  std::snprintf(out, size, "%lldh%02lldm", minutes / 60, minutes % 60);
}

/// Items per second with three or so significant digits ("812", "45.3", "0.25").
void format_rate(std::size_t done, double seconds, char* out, std::size_t size) noexcept {
  if (done == 0) {
    std::snprintf(out, size, "0");
    return;
  }
  if (!(seconds >= 1e-3)) {
    std::snprintf(out, size, "--");
    return;
  }
  const double rate = static_cast<double>(done) / seconds;
  const int decimals = rate >= 100.0 ? 0 : rate >= 10.0 ? 1 : 2;
  std::snprintf(out, size, "%.*f", decimals, rate);
}

}  // namespace

ProgressLine::ProgressLine(std::size_t total, Progress mode, std::string label, int fd,
                           std::chrono::milliseconds redraw, std::chrono::milliseconds lines)
    : total_(total), fd_(fd), start_(Clock::now()) {
  terminal_ = ::isatty(fd) == 1;
  Clock::duration delay{0};
  switch (mode) {
    case Progress::off:
      break;
    case Progress::on:
      enabled_ = forced_ = true;
      break;
    case Progress::automatic:
      if (const auto setting = progress_setting()) {
        enabled_ = forced_ = *setting;
      } else if (terminal_) {
        enabled_ = true;
        delay = automatic_delay;
      }
      break;
  }
  interval_ = terminal_ ? Clock::duration(redraw) : Clock::duration(lines);
  if (!enabled_) {
    next_ = Clock::time_point::max();
    return;
  }
  // A terminal is drawn on from the first update (or once the delay of `automatic` has
  // passed); plain lines begin once one interval has passed.
  next_ = start_ + (terminal_ ? delay : interval_);
  if (!label.empty()) prefix_ = std::move(label) + ": ";
  buffer_.reserve(prefix_.size() + numbers_capacity);
}

ProgressLine::~ProgressLine() {
  if (drawn_ && !finished_ && terminal_) {
    static constexpr char clear[] = "\r\x1b[K";
    write_all(fd_, clear, sizeof clear - 1);
  }
}

void ProgressLine::update(std::size_t done) noexcept {
  done_ = done;
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now < next_) return;
  draw(now, false);
  next_ = now + interval_;
}

void ProgressLine::finish() noexcept {
  if (finished_) return;
  finished_ = true;
  next_ = Clock::time_point::max();
  if (enabled_ && (drawn_ || forced_)) draw(Clock::now(), true);
}

void ProgressLine::draw(Clock::time_point now, bool last) noexcept {
  const double elapsed = std::chrono::duration<double>(now - start_).count();

  unsigned permille = 1000;
  if (done_ < total_) {
    const double share = static_cast<double>(done_) / static_cast<double>(total_);
    permille = static_cast<unsigned>(std::floor(share * 1000.0));
    if (permille > 999) permille = 999;  // 100.0% only when all is done
  }
  char rate[48];
  format_rate(done_, elapsed, rate, sizeof rate);
  char elapsed_text[32];
  format_duration(elapsed, elapsed_text, sizeof elapsed_text);
  char eta[32];
  if (done_ == 0) {
    std::snprintf(eta, sizeof eta, "--");
  } else {
    const double left = done_ >= total_ ? 0.0
                                        : elapsed * static_cast<double>(total_ - done_) /
                                              static_cast<double>(done_);
    format_duration(left, eta, sizeof eta);
  }
  char numbers[numbers_capacity - 8];  // the rest of the capacity is for the escape codes
  const int length =
      std::snprintf(numbers, sizeof numbers, "%zu/%zu (%u.%u%%)  %s items/s  elapsed %s  ETA %s",
                    done_, total_, permille / 10, permille % 10, rate, elapsed_text, eta);
  if (length < 0) return;
  const std::size_t numbers_length = std::min(static_cast<std::size_t>(length), sizeof numbers - 1);

  try {  // within the reserved capacity: nothing here allocates or throws
    buffer_.clear();
    if (terminal_) buffer_ += '\r';
    const std::size_t text_begin = buffer_.size();
    buffer_ += prefix_;
    buffer_.append(numbers, numbers_length);
    if (terminal_) {
      // A line wider than the terminal would wrap, and "\r" would then return only to the
      // start of its last row: cut it (at a UTF-8 character boundary) to fit.
      const std::size_t columns = terminal_columns(fd_);
      if (columns >= 2 && buffer_.size() - text_begin > columns - 1) {
        std::size_t cut = text_begin + columns - 1;
        while (cut > text_begin && (static_cast<unsigned char>(buffer_[cut]) & 0xC0) == 0x80) {
          --cut;
        }
        buffer_.resize(cut);
      }
      buffer_ += "\x1b[K";
      buffer_ += last ? '\n' : '\r';
    } else {
      buffer_ += '\n';
    }
  } catch (...) {
    return;
  }
  write_all(fd_, buffer_.data(), buffer_.size());
  drawn_ = true;
}

}  // namespace unipar::detail
