#include "core/settings.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

#include "unipar/error.hpp"

namespace unipar::detail {
namespace {

[[noreturn]] void bad_setting(const char* name, const std::string& value,
                              const std::string& accepted) {
  throw UsageError(std::string(name) + "='" + value + "' is not accepted; " + name + " takes " +
                   accepted + " (or unset it for the default)");
}

}  // namespace

std::string size_text(std::uint64_t bytes) {
  const char* suffixes[] = {"", "K", "M", "G", "T"};
  int unit = 0;
  while (unit < 4 && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + suffixes[unit];
}

std::optional<std::string> setting_text(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  return std::string(text);
}

std::uint64_t setting_number(const char* name, std::uint64_t fallback, std::uint64_t min,
                             std::uint64_t max) {
  const auto text = setting_text(name);
  if (!text) return fallback;
  std::uint64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [stop, error] = std::from_chars(text->data(), end, value);
  if (error != std::errc{} || stop != end || value < min || value > max) {
    bad_setting(name, *text,
                "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return value;
}

std::uint64_t setting_bytes(const char* name, std::uint64_t fallback, std::uint64_t min,
                            std::uint64_t max) {
  const auto text = setting_text(name);
  if (!text) return fallback;
  std::uint64_t value = 0;
  const char* end = text->data() + text->size();
  auto [stop, error] = std::from_chars(text->data(), end, value);
  int shift = 0;
  if (error == std::errc{} && end - stop == 1) {
    const std::string_view suffixes = "KMGT";
    const auto at = suffixes.find(*stop);
    if (at != std::string_view::npos) {
      shift = 10 * static_cast<int>(at + 1);
      ++stop;
    }
  }
  const bool overflows = shift > 0 && value > (std::numeric_limits<std::uint64_t>::max() >> shift);
  if (!overflows) value <<= shift;
  if (error != std::errc{} || stop != end || overflows || value < min || value > max) {
    bad_setting(name, *text,
                "a size from " + size_text(min) + " to " + size_text(max) +
                    " (bytes: a whole number with an optional suffix K, M, G or T, 1K = 1024)");
  }
  return value;
}

std::size_t setting_choice(const char* name, std::initializer_list<const char*> choices,
                           std::size_t fallback) {
  const auto text = setting_text(name);
  if (!text) return fallback;
  std::size_t index = 0;
  std::string accepted;
  for (const char* choice : choices) {
    if (*text == choice) return index;
    accepted += (index == 0 ? "" : index + 1 == choices.size() ? " or " : ", ");
    accepted += std::string("'") + choice + "'";
    ++index;
  }
  bad_setting(name, *text, accepted);
}

std::string backend_setting() {
  return setting_text("UNIPAR_BACKEND").value_or("auto");
}

bool print_collect_setting() {
  return setting_choice("UNIPAR_PRINT", {"immediate", "collect"}, 0) == 1;
}

std::size_t mpi_piece_bytes_setting() {
  return setting_number("UNIPAR_MPI_PIECE_BYTES", std::uint64_t{1} << 30, 1,
                        (std::uint64_t{1} << 31) - 1);
}

bool fork_bind_setting() {
  // "core", "1": bind (the default); "none", "0": leave placement to the scheduler.
  return setting_choice("UNIPAR_FORK_BIND", {"core", "none", "1", "0"}, 0) % 2 == 0;
}

int fork_spin_setting(int fallback) {
  return static_cast<int>(
      setting_number("UNIPAR_FORK_SPIN", static_cast<std::uint64_t>(fallback), 0, 10'000'000));
}

int fork_yield_setting(int fallback) {
  return static_cast<int>(
      setting_number("UNIPAR_FORK_YIELD", static_cast<std::uint64_t>(fallback), 0, 10'000'000));
}

std::size_t fork_channel_bytes_setting(std::size_t fallback) {
  return setting_number("UNIPAR_FORK_CHANNEL_BYTES", fallback, 4096, std::uint64_t{1} << 34);
}

bool fork_under_launcher_setting() {
  return setting_choice("UNIPAR_FORK_UNDER_LAUNCHER", {"refuse", "allow", "0", "1"}, 0) % 2 == 1;
}

std::optional<bool> progress_setting() {
  switch (setting_choice("UNIPAR_PROGRESS", {"0", "1"}, 2)) {
    case 0:
      return false;
    case 1:
      return true;
    default:
      return std::nullopt;
  }
}

std::size_t shared_limit_setting() {
  return setting_bytes("UNIPAR_SHARED_LIMIT", std::uint64_t{1} << 30, std::uint64_t{64} << 10,
                       std::uint64_t{16} << 40);
}

}  // namespace unipar::detail
