/// @file marker_dir.hpp
/// @brief A temporary directory every process of the test's backend sees, for tests whose
/// processes signal each other through files (and for files a call writes, as checkpoints).
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend.hpp"

namespace unipar_test {

/// A fresh directory under /tmp that every process of the backend sees: main makes it (under
/// MPI, where every rank runs the test, its name is broadcast); main removes it.
class MarkerDir {
 public:
  MarkerDir() {
    path_ = unipar::testing::backend().run([](unipar::Parallelizer& p) {
      std::string path;
      if (p.on_main()) {
        char name[] = "/tmp/unipar-test-XXXXXX";
        if (mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = name;
      }
      return p.broadcast(path);
    });
  }
  ~MarkerDir() {
    if (!unipar::testing::backend().on_main()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  MarkerDir(const MarkerDir&) = delete;
  MarkerDir& operator=(const MarkerDir&) = delete;

  const std::string& path() const { return path_; }

  /// Creates `<dir>/<name>`.
  void mark(const std::string& name) const {
    const std::string file = path_ + "/" + name;
    const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + file);
    ::close(fd);
  }
  bool has(const std::string& name) const {
    return ::access((path_ + "/" + name).c_str(), F_OK) == 0;
  }
  /// How many of `names` exist.
  int count(const std::vector<std::string>& names) const {
    int n = 0;
    for (const auto& name : names) n += has(name) ? 1 : 0;
    return n;
  }

 private:
  std::string path_;
};

}  // namespace unipar_test
