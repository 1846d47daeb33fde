/// @file exception_info.hpp
/// @brief Turning a caught exception into text that can cross a process boundary.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string>

namespace unipar::detail {

struct ExceptionInfo {
  std::string type_name;
  std::string message;
  std::optional<std::size_t> item;  // set when it came from a map item
};

/// The demangled type, what() and (for map items) the item index of an exception.
ExceptionInfo describe_exception(std::exception_ptr error);

/// This machine's host name, or "" when it cannot be read.
std::string host_name();

}  // namespace unipar::detail
