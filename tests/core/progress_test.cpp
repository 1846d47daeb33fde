/// @file progress_test.cpp
/// @brief The progress line of the task farm (unipar::detail::ProgressLine) on a pseudo-terminal
/// and on a pipe, UNIPAR_PROGRESS, and print's erase-to-end-of-line on a terminal.
///
/// No test depends on how fast the machine is: intervals are either 0 (always due) or an hour
/// (never due during a test), and the only sleeps need to last *at least* their length. A pty's
/// output reaches the master side asynchronously, so every read of it first writes a marker
/// through the slave and reads up to that marker: everything before it is what was drawn.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "unipar/detail/progress.hpp"
#include "unipar/error.hpp"
#include "unipar/serial.hpp"

namespace {

using unipar::Progress;
using unipar::detail::ProgressLine;
using namespace std::chrono_literals;

constexpr auto always = std::chrono::milliseconds(0);                     // every update is due
constexpr auto never = std::chrono::milliseconds(std::chrono::hours(1));  // no update is due
constexpr char marker[] = "<<end of output>>";

/// A pseudo-terminal in raw mode (output reaches the master unchanged).
class Pty {
 public:
  explicit Pty(unsigned short columns = 0) {
    winsize size{};
    size.ws_col = columns;
    size.ws_row = columns == 0 ? 0 : 24;
    if (::openpty(&master_, &slave_, nullptr, nullptr, &size) != 0) {
      ADD_FAILURE() << "openpty failed";
      return;
    }
    termios mode{};
    ::tcgetattr(slave_, &mode);
    ::cfmakeraw(&mode);
    ::tcsetattr(slave_, TCSANOW, &mode);
    ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
  }
  ~Pty() {
    if (slave_ >= 0) ::close(slave_);
    if (master_ >= 0) ::close(master_);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  int slave() const { return slave_; }

  /// Everything written to the slave since the last call.
  std::string output() {
    EXPECT_EQ(::write(slave_, marker, sizeof marker - 1), static_cast<ssize_t>(sizeof marker - 1));
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (text.find(marker) == std::string::npos) {
      char chunk[4096];
      const ssize_t got = ::read(master_, chunk, sizeof chunk);
      if (got > 0) {
        text.append(chunk, static_cast<std::size_t>(got));
        continue;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the pty's output did not arrive; so far: " << text;
        return text;
      }
      pollfd ready{master_, POLLIN, 0};
      ::poll(&ready, 1, 100);
    }
    text.erase(text.find(marker));
    return text;
  }

 private:
  int master_ = -1;
  int slave_ = -1;
};

/// A pipe; output() closes the write end and reads everything.
class Pipe {
 public:
  Pipe() {
    if (::pipe(fds_) != 0) ADD_FAILURE() << "pipe failed";
  }
  ~Pipe() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int write_end() const { return fds_[1]; }
  void close_read_end() {
    ::close(fds_[0]);
    fds_[0] = -1;
  }

  std::string output() {
    ::close(fds_[1]);
    fds_[1] = -1;
    std::string text;
    char chunk[4096];
    ssize_t got = 0;
    while ((got = ::read(fds_[0], chunk, sizeof chunk)) != 0) {
      if (got < 0) {
        if (errno == EINTR) continue;
        ADD_FAILURE() << "read failed";
        break;
      }
      text.append(chunk, static_cast<std::size_t>(got));
    }
    return text;
  }

 private:
  int fds_[2] = {-1, -1};
};

/// Sets (or with nullptr unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', begin)) {
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// ---- on a terminal ------------------------------------------------------------------------------

TEST(ProgressTerminal, OnRedrawsInPlaceAndFinishEndsTheLine) {
  Pty pty;
  ProgressLine line(10, Progress::on, "sweep", pty.slave(), always, never);
  EXPECT_TRUE(line.enabled());
  line.update(3);
  const std::string first = pty.output();
  EXPECT_EQ(first.rfind("\rsweep: 3/10 (30.0%)  ", 0), 0u) << first;
  EXPECT_TRUE(ends_with(first, "\x1b[K\r")) << first;  // the cursor is left in column 0
  EXPECT_EQ(first.find('\n'), std::string::npos) << first;
  EXPECT_NE(first.find(" items/s  elapsed "), std::string::npos) << first;

  line.update(10);
  line.finish();
  const std::string rest = pty.output();
  EXPECT_NE(rest.find("\rsweep: 10/10 (100.0%)  "), std::string::npos) << rest;
  EXPECT_NE(rest.find("ETA 0.0s\x1b[K"), std::string::npos) << rest;
  EXPECT_TRUE(ends_with(rest, "\x1b[K\n")) << rest;
  EXPECT_EQ(lines_of(rest).size(), 1u) << rest;  // one '\n', at the very end
}

TEST(ProgressTerminal, RedrawsNoMoreOftenThanTheInterval) {
  Pty pty;
  ProgressLine line(10, Progress::on, "", pty.slave(), never, never);
  line.update(1);  // the first update draws at once
  line.update(2);  // an hour has not passed
  line.update(3);
  const std::string drawn = pty.output();
  EXPECT_EQ(drawn.rfind("\r1/10 (10.0%)", 0), 0u) << drawn;
  EXPECT_EQ(drawn.find("2/10"), std::string::npos) << drawn;
  EXPECT_EQ(drawn.find("3/10"), std::string::npos) << drawn;
  line.finish();  // the final state, whatever the interval
  const std::string last = pty.output();
  EXPECT_EQ(last.rfind("\r3/10 (30.0%)", 0), 0u) << last;
  EXPECT_TRUE(ends_with(last, "\n")) << last;
}

TEST(ProgressTerminal, DestructorWithoutFinishClearsTheLine) {
  Pty pty;
  {
    ProgressLine line(10, Progress::on, "sweep", pty.slave(), always, never);
    line.update(3);
  }  // an error path: finish() was never called
  const std::string drawn = pty.output();
  EXPECT_NE(drawn.find("sweep: 3/10"), std::string::npos) << drawn;
  EXPECT_TRUE(ends_with(drawn, "\r\x1b[K")) << drawn;
  EXPECT_EQ(drawn.find('\n'), std::string::npos) << drawn;
}

TEST(ProgressTerminal, NothingAfterFinish) {
  Pty pty;
  {
    ProgressLine line(10, Progress::on, "", pty.slave(), always, never);
    line.update(10);
    line.finish();
    EXPECT_TRUE(ends_with(pty.output(), "\x1b[K\n"));
    line.update(10);
    line.finish();
  }
  EXPECT_EQ(pty.output(), "");  // no more draws, and the destructor clears nothing
}

TEST(ProgressTerminal, OffDrawsNothing) {
  Pty pty;
  {
    ProgressLine line(10, Progress::off, "sweep", pty.slave(), always, always);
    EXPECT_FALSE(line.enabled());
    line.update(3);
    line.update(10);
    line.finish();
  }
  {
    ProgressLine line(10, Progress::off, "sweep", pty.slave(), always, always);
    line.update(3);
  }  // no finish(), nothing drawn: nothing cleared either
  EXPECT_EQ(pty.output(), "");
}

TEST(ProgressTerminal, CutToTheTerminalWidthAtACharacterBoundary) {
  Pty pty(30);
  std::string label;
  for (int i = 0; i < 20; ++i) label += "\xc3\xa9";  // 20 times U+00E9, 2 bytes each
  ProgressLine line(10, Progress::on, label, pty.slave(), always, never);
  line.update(3);
  const std::string drawn = pty.output();
  ASSERT_EQ(drawn.rfind('\r', 0), 0u) << drawn;
  const std::size_t end = drawn.find("\x1b[K");
  ASSERT_NE(end, std::string::npos) << drawn;
  // At most 29 columns (one less than the width, so the terminal never wraps): 29 bytes would
  // split the 15th character, so 14 whole characters remain.
  EXPECT_EQ(drawn.substr(1, end - 1), label.substr(0, 28));
}

// ---- not a terminal -----------------------------------------------------------------------------

TEST(ProgressPlain, OnWritesPlainLinesAndAFinalOne) {
  Pipe pipe;
  ProgressLine line(10, Progress::on, "sweep", pipe.write_end(), always,
                    std::chrono::milliseconds(1));
  EXPECT_TRUE(line.enabled());
  std::this_thread::sleep_for(5ms);  // at least the interval: the first line is due
  line.update(3);
  std::this_thread::sleep_for(5ms);
  line.update(10);
  line.finish();
  const std::string text = pipe.output();
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  ASSERT_TRUE(ends_with(text, "\n")) << text;
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_EQ(lines[0].rfind("sweep: 3/10 (30.0%)  ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("sweep: 10/10 (100.0%)  ", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("sweep: 10/10 (100.0%)  ", 0), 0u) << lines[2];
  EXPECT_TRUE(ends_with(lines[2], "  ETA 0.0s")) << lines[2];
  const std::regex format(
      R"(sweep: \d+/10 \(\d+\.\d%\)  (\d+|\d+\.\d|\d+\.\d\d|--) items/s  elapsed \d+\.\ds  ETA (--|\d+\.\ds|\d+m\d\ds|\d+h\d\dm))");
  for (const auto& one : lines) EXPECT_TRUE(std::regex_match(one, format)) << one;
}

TEST(ProgressPlain, FirstLineOnlyOnceTheIntervalHasPassed) {
  Pipe pipe;
  ProgressLine line(10, Progress::on, "", pipe.write_end(), always, never);
  line.update(3);
  line.update(7);
  line.update(10);
  line.finish();  // the final line, always written when the progress line is on
  const auto lines = lines_of(pipe.output());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("10/10 (100.0%)  ", 0), 0u) << lines[0];  // no label: no prefix
}

TEST(ProgressPlain, EtaAndRateFromDoneAndElapsed) {
  Pipe pipe;
  const std::size_t total = 10'000'001;
  ProgressLine line(total, Progress::on, "", pipe.write_end(), always, never);
  std::this_thread::sleep_for(20ms);
  line.update(1);
  line.finish();
  const auto lines = lines_of(pipe.output());
  ASSERT_EQ(lines.size(), 1u);
  // One item in at least 20 ms: at most 50 items/s, and the other 10^7 need at least 2*10^5 s
  // (over 55 hours), which is shown in hours and minutes.
  const std::regex format(
      R"(1/10000001 \(0\.0%\)  (\d\d?\.\d|\d\.\d\d) items/s  elapsed \d+\.\ds  ETA \d+h\d\dm)");
  EXPECT_TRUE(std::regex_match(lines[0], format)) << lines[0];
}

TEST(ProgressPlain, NothingDoneShowsNoEta) {
  Pipe pipe;
  ProgressLine line(10, Progress::on, "", pipe.write_end(), always, never);
  line.finish();
  const auto lines = lines_of(pipe.output());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("0/10 (0.0%)  0 items/s  elapsed ", 0), 0u) << lines[0];
  EXPECT_TRUE(ends_with(lines[0], "  ETA --")) << lines[0];
}

TEST(ProgressPlain, AClosedPipeIsIgnoredWithoutSigpipe) {
  Pipe pipe;
  pipe.close_read_end();
  {
    ProgressLine line(10, Progress::on, "", pipe.write_end(), always, always);
    line.update(3);  // SIGPIPE's default action would end this program here
    line.update(10);
    line.finish();
  }
  sigset_t pending;
  ASSERT_EQ(sigpending(&pending), 0);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);  // not left pending either
}

// ---- automatic and UNIPAR_PROGRESS --------------------------------------------------------------

TEST(ProgressAutomatic, UnsetOnAPipeNeverDraws) {
  const ScopedEnv unset("UNIPAR_PROGRESS", nullptr);
  Pipe pipe;
  {
    ProgressLine line(10, Progress::automatic, "sweep", pipe.write_end(), always, always);
    EXPECT_FALSE(line.enabled());
    std::this_thread::sleep_for(1100ms);
    line.update(5);
    line.update(10);
    line.finish();
  }
  EXPECT_EQ(pipe.output(), "");
}

TEST(ProgressAutomatic, UnsetOnATerminalDrawsNothingForAShortCall) {
  const ScopedEnv unset("UNIPAR_PROGRESS", nullptr);
  Pty pty;
  {
    ProgressLine line(10, Progress::automatic, "sweep", pty.slave(), always, always);
    EXPECT_TRUE(line.enabled());
    line.update(3);
    line.update(10);
    line.finish();  // well under a second after the start
  }
  EXPECT_EQ(pty.output(), "");
}

TEST(ProgressAutomatic, UnsetOnATerminalDrawsAfterASecond) {
  const ScopedEnv unset("UNIPAR_PROGRESS", nullptr);
  Pty pty;
  ProgressLine line(10, Progress::automatic, "sweep", pty.slave(), always, always);
  std::this_thread::sleep_for(1100ms);
  line.update(3);
  const std::string drawn = pty.output();
  EXPECT_EQ(drawn.rfind("\rsweep: 3/10 (30.0%)  ", 0), 0u) << drawn;
  EXPECT_TRUE(ends_with(drawn, "\x1b[K\r")) << drawn;
  line.finish();
  const std::string last = pty.output();
  EXPECT_NE(last.find("sweep: 3/10"), std::string::npos) << last;
  EXPECT_TRUE(ends_with(last, "\x1b[K\n")) << last;
}

TEST(ProgressAutomatic, SettingOneDrawsOnAPipe) {
  const ScopedEnv on("UNIPAR_PROGRESS", "1");
  Pipe pipe;
  {
    ProgressLine line(10, Progress::automatic, "sweep", pipe.write_end(), always, never);
    EXPECT_TRUE(line.enabled());
    line.update(10);
    line.finish();
  }
  const auto lines = lines_of(pipe.output());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("sweep: 10/10 (100.0%)  ", 0), 0u) << lines[0];
}

TEST(ProgressAutomatic, SettingZeroSilencesATerminal) {
  const ScopedEnv off("UNIPAR_PROGRESS", "0");
  Pty pty;
  {
    ProgressLine line(10, Progress::automatic, "sweep", pty.slave(), always, always);
    EXPECT_FALSE(line.enabled());
    std::this_thread::sleep_for(1100ms);
    line.update(3);
    line.update(10);
    line.finish();
  }
  EXPECT_EQ(pty.output(), "");
}

TEST(ProgressAutomatic, BadSettingIsAUsageError) {
  const ScopedEnv bad("UNIPAR_PROGRESS", "yes");
  Pipe pipe;
  try {
    ProgressLine line(10, Progress::automatic, "", pipe.write_end());
    ADD_FAILURE() << "UNIPAR_PROGRESS=yes was accepted";
  } catch (const unipar::UsageError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("UNIPAR_PROGRESS='yes'"), std::string::npos) << message;
    EXPECT_NE(message.find("'0' or '1'"), std::string::npos) << message;
  }
  // An explicit mode does not consult the variable.
  EXPECT_NO_THROW(ProgressLine(10, Progress::on, "", pipe.write_end()));
  EXPECT_NO_THROW(ProgressLine(10, Progress::off, "", pipe.write_end()));
}

TEST(ProgressAutomatic, EmptySettingIsUnset) {
  const ScopedEnv empty("UNIPAR_PROGRESS", "");
  Pipe pipe;
  ProgressLine line(10, Progress::automatic, "", pipe.write_end());
  EXPECT_FALSE(line.enabled());
}

// ---- print on a terminal ------------------------------------------------------------------------

/// Prints two lines with standard output moved (dup2) onto `fd`, in a child process: this
/// program's own standard output is never redirected, and the isatty() that write_line caches
/// on its first call is the child's own (this program itself never prints through unipar).
bool print_to(int fd) {
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child == 0) {
    int status = 0;
    try {
      if (::dup2(fd, STDOUT_FILENO) < 0) ::_exit(2);
      unipar::SerialParallelizer par;
      par.run([](unipar::Parallelizer& p) {
        p.print("hello ", 42);
        p.print("two");
      });
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }
  int status = -1;
  return child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

TEST(PrintLine, OnATerminalErasesTheRestOfTheRow) {
  Pty pty;
  ASSERT_TRUE(print_to(pty.slave()));
  EXPECT_EQ(pty.output(), "[0] hello 42\x1b[K\n[0] two\x1b[K\n");
}

TEST(PrintLine, ElsewhereUnchanged) {
  Pipe pipe;
  ASSERT_TRUE(print_to(pipe.write_end()));
  EXPECT_EQ(pipe.output(), "[0] hello 42\n[0] two\n");
}

}  // namespace
