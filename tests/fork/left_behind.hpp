/// @file left_behind.hpp
/// @brief What a fork run could leave behind, seen so that only unipar's own leftovers count:
/// other programs (Open MPI's tests, run beside these by `ctest -j2`) create and remove their
/// own /dev/shm entries at any moment.
///
/// unipar's fork backend maps one anonymous shared region per run (nothing named); every
/// named segment unipar creates starts with "unipar" (docs/design.md). A leaked region shows in
/// /proc/self/maps as "/dev/zero (deleted)", a leaked name in /dev/shm. Shared objects
/// (SharedArray, SharedDict, SharedList) are memfds named "unipar-Shared..." that show in
/// /proc/self/maps as "/memfd:unipar-Shared... (deleted)" while mapped, and in /proc/self/fd
/// while their descriptor is open.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

namespace unipar_test {

/// The /dev/shm entries whose names start with "unipar".
inline std::set<std::string> unipar_shm_entries() {
  std::set<std::string> names;
  if (DIR* shm = opendir("/dev/shm")) {
    while (const dirent* entry = readdir(shm)) {
      const std::string name = entry->d_name;
      if (name.starts_with("unipar")) names.insert(name);
    }
    closedir(shm);
  }
  return names;
}

/// How many anonymous shared mappings this process has.
inline int anonymous_shared_mappings() {
  std::ifstream maps("/proc/self/maps");
  int count = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/dev/zero (deleted)") != std::string::npos) ++count;
  }
  return count;
}

/// How many mappings of unipar's shared objects this process has.
inline int unipar_shared_mappings() {
  std::ifstream maps("/proc/self/maps");
  int count = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/memfd:unipar-Shared") != std::string::npos) ++count;
  }
  return count;
}

/// How many descriptors of unipar's shared objects this process has open.
inline int unipar_shared_descriptors() {
  int count = 0;
  if (DIR* fds = opendir("/proc/self/fd")) {
    while (const dirent* entry = readdir(fds)) {
      char target[256] = {};
      const std::string path = std::string("/proc/self/fd/") + entry->d_name;
      const ssize_t length = readlink(path.c_str(), target, sizeof target - 1);
      if (length > 0 && std::string(target).starts_with("/memfd:unipar-Shared")) ++count;
    }
    closedir(fds);
  }
  return count;
}

}  // namespace unipar_test
