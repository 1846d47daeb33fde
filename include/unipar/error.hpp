/// @file error.hpp
/// @brief The exceptions unipar throws. Every one derives from unipar::Error.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

namespace unipar {

/// @brief Base of every exception unipar throws.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// @brief Misuse of the API: an invalid rank or tag, a nested `run`, collectives called in a
/// different order on different processes, a bad backend spec.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

/// @brief Received bytes are not of the type asked for, or are truncated or corrupt.
class TypeMismatch : public Error {
 public:
  explicit TypeMismatch(const std::string& what) : Error(what) {}
};

/// @brief An exception thrown by user code on another process (or by a `map` function).
///
/// Carries where it happened (process id, pid, host), what was thrown (type name and `what()`),
/// and, when it came from `map`, the index of the item being processed.
class WorkerError : public Error {
 public:
  WorkerError(int worker, pid_t pid, std::string host, std::string type_name, std::string message,
              std::optional<std::size_t> item);

  /// @return the id of the process that threw (0 is main), as Parallelizer::id() numbers them.
  int process() const noexcept { return process_; }
  /// @return process(): the earlier name, kept so that programs written against it compile.
  [[deprecated("use process()")]] int worker() const noexcept { return process_; }
  /// @return its process id.
  pid_t pid() const noexcept { return pid_; }
  /// @return its host name.
  const std::string& host() const noexcept { return host_; }
  /// @return the demangled type name of the exception it threw.
  const std::string& type_name() const noexcept { return type_name_; }
  /// @return the `what()` of the exception it threw.
  const std::string& message() const noexcept { return message_; }
  /// @return the index of the `map` item that failed, when it came from `map`.
  std::optional<std::size_t> item() const noexcept { return item_; }

 private:
  int process_;
  pid_t pid_;
  std::string host_;
  std::string type_name_;
  std::string message_;
  std::optional<std::size_t> item_;
};

/// @brief A worker process died (killed by a signal, or exited) while others depended on it.
class WorkerLost : public Error {
 public:
  WorkerLost(int worker, pid_t pid, int signal, int exit_code, const std::string& detail = {});

  /// @return the id of the process that died, as Parallelizer::id() numbers them.
  int process() const noexcept { return process_; }
  /// @return process(): the earlier name, kept so that programs written against it compile.
  [[deprecated("use process()")]] int worker() const noexcept { return process_; }
  /// @return its process id.
  pid_t pid() const noexcept { return pid_; }
  /// @return the signal that killed it, 0 if it exited.
  int signal() const noexcept { return signal_; }
  /// @return its exit code when it exited (meaningless when killed by a signal).
  int exit_code() const noexcept { return exit_code_; }

 private:
  int process_;
  pid_t pid_;
  int signal_;
  int exit_code_;
};

namespace detail {
/// Throws unipar::Error naming the failing call and errno's text.
[[noreturn]] void throw_system_error(const char* call, int error_number);
/// Demangled name of a type as given by `typeid(...).name()`.
std::string demangle(const char* mangled);
}  // namespace detail

}  // namespace unipar
