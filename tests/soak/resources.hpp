/// @file resources.hpp
/// @brief What a process holds, measured so that many runs can be compared with few: open
/// descriptors, mappings, virtual and resident memory, the heap in use, child processes, and
/// what unipar itself could leave behind (tests/fork/left_behind.hpp).
///
/// `Resources::take()` measures; `leaks(before, after, slack)` lists what grew by more than the
/// slack. The slack is fixed, not per run: over thousands of runs a leak of one descriptor, one
/// mapping or 1 KiB per run grows far past it.
#pragma once

#include <dirent.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "left_behind.hpp"

namespace unipar_soak {

/// A "Name:   123 kB" field of /proc/self/status, in bytes (0 when absent).
inline std::int64_t status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(field + ":")) {
      std::istringstream value(line.substr(field.size() + 1));
      std::int64_t kib = 0;
      value >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

inline int open_descriptors() {
  int count = 0;
  if (DIR* fds = opendir("/proc/self/fd")) {
    while (const dirent* entry = readdir(fds)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(fds);
  }
  return count - 1;  // the descriptor opendir itself holds
}

inline int mapping_lines() {
  std::ifstream maps("/proc/self/maps");
  int count = 0;
  for (std::string line; std::getline(maps, line);) ++count;
  return count;
}

/// The heap in use: small blocks (arenas) plus blocks malloc mapped on their own.
inline std::int64_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<std::int64_t>(info.uordblks + info.hblkhd);
}

struct Resources {
  int descriptors = 0;
  int mappings = 0;            // lines of /proc/self/maps
  int shared_mappings = 0;     // anonymous shared regions ("/dev/zero (deleted)")
  int object_mappings = 0;     // unipar's shared objects mapped
  int object_descriptors = 0;  // ... and their descriptors open
  std::int64_t virtual_bytes = 0;
  std::int64_t resident_bytes = 0;
  std::int64_t heap_bytes = 0;
  std::vector<pid_t> children;
  std::set<std::string> shm_entries;  // unipar's names in /dev/shm

  static Resources take() {
    Resources r;
    r.descriptors = open_descriptors();
    r.mappings = mapping_lines();
    r.shared_mappings = unipar_test::anonymous_shared_mappings();
    r.object_mappings = unipar_test::unipar_shared_mappings();
    r.object_descriptors = unipar_test::unipar_shared_descriptors();
    r.virtual_bytes = status_bytes("VmSize");
    r.resident_bytes = status_bytes("VmRSS");
    r.heap_bytes = heap_in_use();
    r.children = unipar_test::children_of_this_process();
    r.shm_entries = unipar_test::unipar_shm_entries();
    return r;
  }

  /// One line to quote: "fds 5, maps 231, VmSize 20.1 MiB, VmRSS 6.2 MiB, heap 180.3 KiB".
  std::string summary() const {
    auto mib = [](std::int64_t bytes) {
      std::ostringstream out;
      out.setf(std::ios::fixed);
      out.precision(1);
      out << static_cast<double>(bytes) / (1 << 20) << " MiB";
      return out.str();
    };
    auto kib = [](std::int64_t bytes) {
      std::ostringstream out;
      out.setf(std::ios::fixed);
      out.precision(1);
      out << static_cast<double>(bytes) / 1024 << " KiB";
      return out.str();
    };
    return "fds " + std::to_string(descriptors) + ", maps " + std::to_string(mappings) +
           ", VmSize " + mib(virtual_bytes) + ", VmRSS " + mib(resident_bytes) + ", heap " +
           kib(heap_bytes) + ", children " + std::to_string(children.size()) +
           ", unipar /dev/shm entries " + std::to_string(shm_entries.size());
  }
};

/// How much each measure may grow between two measurements without counting as a leak.
struct Slack {
  int mappings = 4;  // malloc may map one more arena or a large block, then keep it
  std::int64_t virtual_bytes = std::int64_t{8} << 20;
  std::int64_t resident_bytes = std::int64_t{4} << 20;
  std::int64_t heap_bytes = std::int64_t{256} << 10;
};

/// What grew from `before` to `after` by more than `slack` (descriptors, shared mappings,
/// children and /dev/shm entries have no slack); empty when nothing did.
inline std::string leaks(const Resources& before, const Resources& after, const Slack& slack = {}) {
  std::string problems;
  auto grew = [&](const char* what, std::int64_t was, std::int64_t is, std::int64_t allowed) {
    if (is - was > allowed) {
      problems += std::string(" ") + what + " " + std::to_string(was) + " -> " +
                  std::to_string(is) + " (allowed +" + std::to_string(allowed) + ");";
    }
  };
  grew("descriptors", before.descriptors, after.descriptors, 0);
  grew("mappings", before.mappings, after.mappings, slack.mappings);
  grew("anonymous shared mappings", before.shared_mappings, after.shared_mappings, 0);
  grew("shared object mappings", before.object_mappings, after.object_mappings, 0);
  grew("shared object descriptors", before.object_descriptors, after.object_descriptors, 0);
  grew("VmSize bytes", before.virtual_bytes, after.virtual_bytes, slack.virtual_bytes);
  grew("VmRSS bytes", before.resident_bytes, after.resident_bytes, slack.resident_bytes);
  grew("heap bytes in use", before.heap_bytes, after.heap_bytes, slack.heap_bytes);
  for (pid_t child : after.children) problems += " child process " + std::to_string(child) + ";";
  for (const auto& name : after.shm_entries) {
    if (!before.shm_entries.contains(name)) problems += " /dev/shm/" + name + ";";
  }
  return problems;
}

}  // namespace unipar_soak
