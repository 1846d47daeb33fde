#include "unipar/error.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "core/exception_info.hpp"
#include "unipar/codec.hpp"
#include "unipar/detail/farm_support.hpp"

namespace unipar {
namespace {

std::string describe_worker_error(int worker, pid_t pid, const std::string& host,
                                  const std::string& type_name, const std::string& message,
                                  const std::optional<std::size_t>& item) {
  std::string text = "worker " + std::to_string(worker) + " (pid " + std::to_string(pid);
  if (!host.empty()) text += " on " + host;
  text += ") threw " + type_name;
  if (item) text += " on map item " + std::to_string(*item);
  text += ": " + message;
  return text;
}

std::string describe_worker_lost(int worker, pid_t pid, int signal, int exit_code,
                                 const std::string& detail) {
  std::string text = "worker " + std::to_string(worker) + " (pid " + std::to_string(pid) + ") ";
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    text += "was killed by signal " + std::to_string(signal);
    if (name != nullptr) text += std::string(" (SIG") + name + ")";
  } else {
    text += "exited with code " + std::to_string(exit_code);
  }
  if (!detail.empty()) text += ": " + detail;
  return text;
}

}  // namespace

WorkerError::WorkerError(int worker, pid_t pid, std::string host, std::string type_name,
                         std::string message, std::optional<std::size_t> item)
    : Error(describe_worker_error(worker, pid, host, type_name, message, item)),
      process_(worker),
      pid_(pid),
      host_(std::move(host)),
      type_name_(std::move(type_name)),
      message_(std::move(message)),
      item_(item) {}

WorkerLost::WorkerLost(int worker, pid_t pid, int signal, int exit_code, const std::string& detail)
    : Error(describe_worker_lost(worker, pid, signal, exit_code, detail)),
      process_(worker),
      pid_(pid),
      signal_(signal),
      exit_code_(exit_code) {}

namespace detail {

void throw_system_error(const char* call, int error_number) {
  throw Error(std::string(call) + " failed: " + std::strerror(error_number));
}

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

void throw_bad_size(const char* type, std::size_t expected, std::size_t got) {
  throw TypeMismatch("received " + std::to_string(got) + " bytes, which cannot hold " +
                     demangle(type) + " (expected " + std::to_string(expected) +
                     " bytes or a multiple)");
}

void throw_corrupt(const char* type, const char* reason) {
  throw TypeMismatch("received bytes are not a valid " + demangle(type) + ": " + reason);
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return {};
  return name;
}

ExceptionInfo describe_exception(std::exception_ptr error) {
  ExceptionInfo info;
  try {
    std::rethrow_exception(error);
  } catch (const ItemFailure& failure) {
    info = describe_exception(failure.cause());
    info.item = failure.item();
  } catch (const std::exception& e) {
    info.type_name = demangle(typeid(e).name());
    info.message = e.what();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    info.type_name = type != nullptr ? demangle(type->name()) : "unknown exception";
    info.message = "(not a std::exception)";
  }
  return info;
}

void throw_item_failure_on_main(std::size_t item, std::exception_ptr cause) {
  auto info = describe_exception(std::move(cause));
  throw WorkerError(0, getpid(), host_name(), info.type_name, info.message, item);
}

}  // namespace detail
}  // namespace unipar
