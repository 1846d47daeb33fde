/// @file settings.hpp
/// @brief Every UNIPAR_* environment variable, parsed in one place.
///
/// A variable that is unset or empty gives the default; any other value that is not one the
/// variable accepts is a UsageError naming the variable, the value and the accepted values, so
/// that a typo never silently selects a default.
///
/// | variable                     | accepted                         | default              |
/// |------------------------------|----------------------------------|----------------------|
/// | UNIPAR_BACKEND               | a parallelizer spec              | "auto"               |
/// | UNIPAR_PRINT                 | "immediate", "collect"           | "immediate"          |
/// | UNIPAR_MPI_PIECE_BYTES       | 1 .. 2^31-1                      | 2^30                 |
/// | UNIPAR_FORK_BIND             | "core" (or 1), "none" (or 0)     | "core"               |
/// | UNIPAR_FORK_SPIN             | 0 .. 10^7                        | by machine           |
/// | UNIPAR_FORK_YIELD            | 0 .. 10^7                        | by machine           |
/// | UNIPAR_FORK_CHANNEL_BYTES    | 4096 .. 2^34                     | by process count     |
/// | UNIPAR_FORK_UNDER_LAUNCHER   | "refuse" (or 0), "allow" (or 1)  | "refuse"             |
/// | UNIPAR_PROGRESS              | "1" (on), "0" (off)              | by terminal          |
/// | UNIPAR_SHARED_LIMIT          | 64K .. 16T bytes (K, M, G, T)    | 1G                   |
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace unipar::detail {

/// The text of variable `name`, or nothing when it is unset or empty.
std::optional<std::string> setting_text(const char* name);

/// A whole number in [min, max] from variable `name`, or `fallback` when it is unset.
std::uint64_t setting_number(const char* name, std::uint64_t fallback, std::uint64_t min,
                             std::uint64_t max);

/// A size in bytes in [min, max] from variable `name`: a whole number with an optional binary
/// suffix K, M, G or T (1K = 1024), or `fallback` when it is unset.
std::uint64_t setting_bytes(const char* name, std::uint64_t fallback, std::uint64_t min,
                            std::uint64_t max);

/// `bytes` written with the largest binary suffix that divides it ("64K", "1G", "1000").
std::string size_text(std::uint64_t bytes);

/// The index in `choices` of variable `name`'s value, or `fallback` when it is unset.
std::size_t setting_choice(const char* name, std::initializer_list<const char*> choices,
                           std::size_t fallback);

// ---- the variables ------------------------------------------------------------------------------

/// UNIPAR_BACKEND, or "auto".
std::string backend_setting();
/// UNIPAR_PRINT=collect: MPI rank 0 writes every rank's lines at the end of each run.
bool print_collect_setting();
/// UNIPAR_MPI_PIECE_BYTES: the largest payload of one MPI message.
std::size_t mpi_piece_bytes_setting();
/// UNIPAR_FORK_BIND: whether fork processes are bound to cores.
bool fork_bind_setting();
/// UNIPAR_FORK_SPIN / UNIPAR_FORK_YIELD: polls before yielding / yields before sleeping.
int fork_spin_setting(int fallback);
int fork_yield_setting(int fallback);
/// UNIPAR_FORK_CHANNEL_BYTES: the ring per ordered pair of processes.
std::size_t fork_channel_bytes_setting(std::size_t fallback);
/// UNIPAR_FORK_UNDER_LAUNCHER=allow: a "fork" spec is accepted in a program an MPI launcher
/// started with several ranks (each rank then forks workers of its own).
bool fork_under_launcher_setting();
/// UNIPAR_PROGRESS: whether a task-farm call with Progress::automatic draws its progress line
/// ("1": yes, "0": no); nothing when unset (then stderr being a terminal decides).
std::optional<bool> progress_setting();
/// UNIPAR_SHARED_LIMIT: the most memory one shared object (SharedArray, SharedDict, SharedList)
/// may use, in bytes.
std::size_t shared_limit_setting();

}  // namespace unipar::detail
