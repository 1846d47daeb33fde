#include "run_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace sweep {

void LastLine::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    const auto piece = bytes.substr(0, newline);
    if (current_.size() < max_line_bytes) {
      current_.append(piece.substr(0, max_line_bytes - current_.size()));
    }
    if (newline == std::string_view::npos) return;
    end_line();
    bytes.remove_prefix(newline + 1);
  }
}

void LastLine::end_line() {
  if (!current_.empty() && current_.back() == '\r') current_.pop_back();
  if (current_.find_first_not_of(" \t\r") != std::string::npos) last_ = std::move(current_);
  current_.clear();
}

std::string LastLine::finish() {
  end_line();
  return std::move(last_);
}

void Tail::feed(std::string_view bytes) {
  if (bytes.size() >= keep_) {
    text_.assign(bytes.substr(bytes.size() - keep_));
    return;
  }
  text_.append(bytes);
  if (text_.size() > keep_) text_.erase(0, text_.size() - keep_);
}

std::string tail_lines(std::string_view text, std::size_t max_lines, std::size_t max_bytes) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (max_lines == 0) return "";
  // The start of the last max_lines lines: after the max_lines-th newline from the end.
  std::size_t start = 0;
  std::size_t end = text.size();
  for (std::size_t count = 0; end > 0;) {
    const auto newline = text.rfind('\n', end - 1);
    if (newline == std::string_view::npos) break;
    if (++count == max_lines) {
      start = newline + 1;
      break;
    }
    end = newline;
  }
  if (text.size() - start > max_bytes) {
    start = text.size() - max_bytes;
    if (text[start - 1] != '\n') {
      const auto newline = text.find('\n', start);
      if (newline != std::string_view::npos) {
        start = newline + 1;  // drop the partial line
      } else {
        // Inside the last line: never start inside a UTF-8 sequence.
        while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
          ++start;
        }
      }
    }
  }
  return std::string(text.substr(start));
}

std::string find_executable(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return name;
  const char* path_variable = std::getenv("PATH");
  const std::string path =
      path_variable != nullptr ? path_variable : "/usr/local/bin:/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= path.size()) {
    auto end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    std::string directory = path.substr(begin, end - begin);
    if (directory.empty()) directory = ".";
    const std::string candidate = directory + "/" + name;
    struct stat info {};
    if (stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    begin = end + 1;
  }
  return "";
}

namespace {

using Clock = std::chrono::steady_clock;

/// A file descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

/// A pipe whose two ends are closed on exec; false (errno set) when it cannot be made.
bool make_pipe(Pipe& pipe) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  pipe.read.reset(fds[0]);
  pipe.write.reset(fds[1]);
  return true;
}

RunResult not_started(const std::string& message, Clock::time_point start) {
  RunResult result;
  result.exit_code = 127;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.stderr_tail = "unipar-sweep: " + message;
  result.attempts = 1;
  return result;
}

/// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const char* path, char* const* argv, pid_t parent, int out, int err,
                             int report) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);                // die with the process that runs the sweep
  if (getppid() != parent) _exit(127);             // which may have died before prctl took effect
  for (int signal = 1; signal < NSIG; ++signal) {  // no ignored signal or handler inherited
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigaction(signal, &action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const int null = open("/dev/null", O_RDONLY);
  // dup2 onto the same descriptor would keep its close-on-exec flag.
  const auto place = [](int from, int to) {
    if (from == to) {
      fcntl(to, F_SETFD, 0);
    } else {
      dup2(from, to);
    }
  };
  if (null >= 0) place(null, STDIN_FILENO);
  place(out, STDOUT_FILENO);
  place(err, STDERR_FILENO);
  execve(path, argv, environ);
  const int error = errno;
  [[maybe_unused]] const auto written = write(report, &error, sizeof error);
  _exit(127);
}

std::string signal_name(int signal) {
  const char* description = strsignal(signal);
  return "signal " + std::to_string(signal) +
         (description != nullptr ? " (" + std::string(description) + ")" : "");
}

}  // namespace

RunResult run_once(const std::vector<std::string>& argv) {
  const auto start = Clock::now();
  if (argv.empty() || argv.front().empty()) return not_started("empty command", start);
  const std::string path = find_executable(argv.front());
  if (path.empty()) return not_started(argv.front() + ": command not found", start);

  std::vector<char*> arguments;
  arguments.reserve(argv.size() + 1);
  for (const auto& argument : argv) arguments.push_back(const_cast<char*>(argument.c_str()));
  arguments.push_back(nullptr);

  Pipe out, err, report;
  if (!make_pipe(out) || !make_pipe(err) || !make_pipe(report)) {
    return not_started(std::string("cannot make a pipe: ") + std::strerror(errno), start);
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return not_started(std::string("fork: ") + std::strerror(errno), start);
  if (pid == 0) {
    exec_child(path.c_str(), arguments.data(), parent, out.write.get(), err.write.get(),
               report.write.get());
  }
  out.write.reset();
  err.write.reset();
  report.write.reset();

  // exec closes the report pipe; a failed exec writes its errno there first.
  int exec_error = 0;
  ssize_t got = 0;
  do {
    got = read(report.read.get(), &exec_error, sizeof exec_error);
  } while (got < 0 && errno == EINTR);

  LastLine last_line;
  Tail stderr_tail(2 * stderr_tail_bytes);
  std::array<pollfd, 2> fds{pollfd{out.read.get(), POLLIN, 0}, pollfd{err.read.get(), POLLIN, 0}};
  std::array<char, 65536> buffer{};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].fd < 0 || fds[k].revents == 0) continue;
      const ssize_t n = read(fds[k].fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[k].fd = -1;  // end of file (or an error): poll ignores negative descriptors
        continue;
      }
      const std::string_view bytes(buffer.data(), static_cast<std::size_t>(n));
      if (k == 0) {
        last_line.feed(bytes);
      } else {
        stderr_tail.feed(bytes);
      }
    }
  }

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  RunResult result;
  result.attempts = 1;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (got == static_cast<ssize_t>(sizeof exec_error)) {
    result.exit_code = 127;
    result.stderr_tail = "unipar-sweep: cannot run " + path + ": " + std::strerror(exec_error);
    return result;
  }
  result.output = last_line.finish();
  std::string errors = stderr_tail.text();
  if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
    if (!errors.empty() && errors.back() != '\n') errors += '\n';
    errors += "unipar-sweep: killed by " + signal_name(WTERMSIG(status));
  } else {
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  result.stderr_tail = tail_lines(errors);
  return result;
}

RunResult run_with_retries(const std::vector<std::string>& argv, int retries) {
  RunResult result = run_once(argv);
  for (int attempt = 2; result.exit_code != 0 && attempt <= retries + 1; ++attempt) {
    result = run_once(argv);
    result.attempts = attempt;
  }
  return result;
}

}  // namespace sweep
