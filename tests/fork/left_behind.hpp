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
/// while their descriptor is open. A child process left behind shows as a child of this one.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

/// Every process whose parent is this one, zombies included.
inline std::vector<pid_t> children_of_this_process() {
  std::vector<pid_t> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (const dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // gone meanwhile
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid()) children.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return children;
}

}  // namespace unipar_test
