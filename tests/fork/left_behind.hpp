/// @file left_behind.hpp
/// @brief What a fork run could leave behind, seen so that only unipar's own leftovers count:
/// other programs (Open MPI's tests, run beside these by `ctest -j2`) create and remove their
/// own /dev/shm entries at any moment.
///
/// unipar's fork backend maps one anonymous shared region per run (nothing named); every
/// named segment unipar creates starts with "unipar" (docs/design.md). A leaked region shows in
/// /proc/self/maps as "/dev/zero (deleted)", a leaked name in /dev/shm.
#pragma once

#include <dirent.h>

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

}  // namespace unipar_test
