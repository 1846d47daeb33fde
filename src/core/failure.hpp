/// @file failure.hpp
/// @brief How a run failed, as one record that crosses from the failing process to the others:
/// under fork through a page of the run's shared memory, under MPI as a failure notice.
///
/// Encoded form: the plain `FailureFacts`, then (optional) the codec's encoding of the texts.
/// The facts alone are a valid record: a signal handler can write them (a lost worker has no
/// texts); bytes that are not a valid record decode to an error, never a crash.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "core/exception_info.hpp"
#include "unipar/detail/bytes.hpp"

namespace unipar::detail {

enum class FailureKind : std::uint32_t {
  none = 0,
  threw = 1,        // a process's function (or a map item) threw
  lost = 2,         // a worker died: a signal or an exit
  main_failed = 3,  // main's own function threw: the workers stop
};

/// What a signal handler can write: plain numbers.
struct FailureFacts {
  FailureKind kind = FailureKind::none;
  std::int32_t process = 0;
  std::int64_t pid = 0;
  std::int32_t signal = 0;
  std::int32_t exit_code = 0;
  std::int64_t item = -1;  // the map item, or -1
};

struct FailureRecord {
  FailureFacts facts;
  std::string host;
  std::string type_name;
  std::string message;

  /// The record of an exception `process` caught (a map item's index included).
  static FailureRecord thrown(int process, const ExceptionInfo& info);
  /// The record of a worker that died.
  static FailureRecord lost(int process, pid_t pid, int signal, int exit_code);

  std::vector<std::byte> encode() const;
  /// Decodes an encoded record; throws TypeMismatch for bytes that are not one.
  static FailureRecord decode(ConstBytes bytes);

  /// Throws what the failure means to the process that reads it: WorkerError for an exception,
  /// WorkerLost for a death, Error when main failed (read by a worker, which then stops).
  [[noreturn]] void raise(int reader) const;
};

}  // namespace unipar::detail
