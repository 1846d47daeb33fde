#include "unipar/parallelizer.hpp"

#include "core/checks.hpp"
#include "core/stash.hpp"
#include "unipar/detail/farm_support.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace unipar {
namespace {

/// Remembers where a sink wanted the bytes, so that a broadcast can forward them.
class RecordingSink final : public detail::ByteSink {
 public:
  explicit RecordingSink(detail::ByteSink& inner) : inner_(inner) {}
  detail::MutableBytes prepare(std::size_t size) override { return bytes_ = inner_.prepare(size); }
  detail::ConstBytes bytes() const { return bytes_; }

 private:
  detail::ByteSink& inner_;
  detail::MutableBytes bytes_;
};

/// Routes one process's contribution to a gather into the root's GatherSink.
class GatherSlot final : public detail::ByteSink {
 public:
  GatherSlot(detail::GatherSink& sink, int process) : sink_(sink), process_(process) {}
  detail::MutableBytes prepare(std::size_t size) override { return sink_.prepare(process_, size); }

 private:
  detail::GatherSink& sink_;
  int process_;
};

/// Accepts only an empty message.
class EmptySink final : public detail::ByteSink {
 public:
  detail::MutableBytes prepare(std::size_t size) override {
    if (size != 0) detail::throw_bad_size("barrier", 0, size);
    return {};
  }
};

void copy_into(detail::ByteSink& sink, detail::ConstBytes bytes) {
  auto target = sink.prepare(bytes.size());
  if (!bytes.empty()) std::memcpy(target.data(), bytes.data(), bytes.size());
}

}  // namespace

namespace detail {

Block block_of(std::size_t count, int parts, int index) {
  const auto p = static_cast<std::size_t>(parts);
  const auto i = static_cast<std::size_t>(index);
  const std::size_t base = count / p;
  const std::size_t larger = count % p;  // the first `larger` blocks hold one more item
  return {i * base + std::min(i, larger), base + (i < larger ? 1 : 0)};
}

}  // namespace detail

Parallelizer::Parallelizer(int id, int nprocs)
    : id_(id), nprocs_(nprocs), self_messages_(std::make_unique<detail::MessageStash>(1)) {}

Parallelizer::~Parallelizer() = default;

Parallelizer::RunScope::RunScope(Parallelizer& par) : par_(par) {
  if (par_.in_run_) {
    throw UsageError(std::string(par_.name()) +
                     ": run() called inside run(); call the inner function directly, it already "
                     "runs on every process");
  }
  par_.in_run_ = true;
  par_.log_ = {};
  par_.collective_depth_ = 0;
  par_.self_messages_->clear();
}

Parallelizer::Collective::Collective(Parallelizer& par, detail::Op op, int root) : par_(par) {
  if (par.in_user_code_) {
    throw UsageError(std::string(detail::op_name(op)) +
                     " called from inside a map: a function given to map or map_each (or its "
                     "on_result callback) runs while the other processes are in the map, and "
                     "cannot make collective calls; compute in it and communicate after the map "
                     "returns");
  }
  if (par.collective_depth_ == 0) {
    par.check_in_run(detail::op_name(op));
    par.check_rank(root, detail::op_name(op));
    par.log_.record(op);
    par.op_ = op;
    par.step_ = 0;
  }
  ++par.collective_depth_;
}

int Parallelizer::next_collective_tag() {
  if (collective_depth_ == 0 || step_ >= detail::max_collective_steps) {
    throw std::logic_error("unipar: a collective step outside a collective, or too many steps");
  }
  return detail::collective_tag(op_, step_++, log_.count);
}

Parallelizer::RunScope::~RunScope() {
  par_.in_run_ = false;
  par_.service_host_.reset();  // joins the service thread: none outlives the run (fork forks)
}

detail::ServiceHost& Parallelizer::service_host() {
  if (!service_host_) service_host_ = std::make_unique<detail::ServiceHost>();
  return *service_host_;
}

void Parallelizer::check_rank(int rank, const char* operation) const {
  if (rank < 0 || rank >= nprocs_) {
    throw UsageError(std::string(operation) + ": invalid rank " + std::to_string(rank) + "; this " +
                     std::string(name()) + " parallelizer has ranks 0.." +
                     std::to_string(nprocs_ - 1));
  }
}

void Parallelizer::check_in_run(const char* operation) const {
  if (!in_run_) {
    throw UsageError(std::string(operation) + ": called outside run() on the " +
                     std::string(name()) +
                     " backend; messages and collectives need every process inside run(): call "
                     "them from the function run() calls (map alone also works outside run)");
  }
}

void Parallelizer::check_message(int peer, int tag, const char* operation) const {
  check_in_run(operation);
  check_rank(peer, operation);
  if (tag < 0 || tag > detail::max_user_tag) {
    throw UsageError(std::string(operation) + ": invalid tag " + std::to_string(tag) +
                     "; tags are 0.." + std::to_string(detail::max_user_tag));
  }
}

void Parallelizer::send_bytes(int dest, int tag, detail::Fingerprint type,
                              detail::ConstBytes bytes) {
  if (dest != id_) return do_send(dest, tag, type, bytes);
  self_messages_->push_back(0, {tag, type, std::vector<std::byte>(bytes.begin(), bytes.end())});
}

void Parallelizer::receive_bytes(int source, int tag, detail::Fingerprint type,
                                 detail::ByteSink& sink) {
  if (source != id_) return do_receive(source, tag, type, sink);
  if (self_messages_->take(id_, 0, tag, type, sink)) return;
  throw UsageError("receive: process " + std::to_string(id_) +
                   " waits for a message from itself with tag " + std::to_string(tag) +
                   " that it never sent; this would block forever");
}

bool Parallelizer::probe(int source, int tag) {
  check_message(source, tag, "probe");
  if (source != id_) return do_probe(source, tag);
  return self_messages_->contains(0, tag);
}

void Parallelizer::barrier() {
  const Collective collective(*this, detail::Op::barrier, 0);
  do_barrier();
}

void Parallelizer::do_broadcast(int root, detail::Fingerprint type, detail::ConstBytes root_bytes,
                                detail::ByteSink* sink) {
  const int tag = next_collective_tag();
  const int n = nprocs_;
  const int relative = (id_ - root + n) % n;
  detail::ConstBytes bytes = root_bytes;
  // Binomial tree over ranks relative to root: receive from the parent, then forward.
  int mask = 1;
  while (mask < n) {
    if ((relative & mask) != 0) {
      RecordingSink recording(*sink);
      do_receive((relative - mask + root) % n, tag, type, recording);
      bytes = recording.bytes();
      break;
    }
    mask <<= 1;
  }
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (relative + mask < n) do_send((relative + mask + root) % n, tag, type, bytes);
  }
}

void Parallelizer::do_scatter(int root, detail::Fingerprint type, detail::ScatterSource* source,
                              detail::ByteSink& sink) {
  const int tag = next_collective_tag();
  if (id_ != root) return do_receive(root, tag, type, sink);
  for (int process = 0; process < nprocs_; ++process) {
    if (process != root) do_send(process, tag, type, source->part(process));
  }
  copy_into(sink, source->part(root));
}

void Parallelizer::do_gather(int root, detail::Fingerprint type, detail::ConstBytes mine,
                             detail::GatherSink* sink) {
  const int tag = next_collective_tag();
  if (id_ != root) return do_send(root, tag, type, mine);
  for (int process = 0; process < nprocs_; ++process) {
    GatherSlot slot(*sink, process);
    if (process == root) {
      copy_into(slot, mine);
    } else {
      do_receive(process, tag, type, slot);
    }
  }
}

void Parallelizer::do_barrier() {
  const int tag = next_collective_tag();
  EmptySink empty;
  if (id_ == 0) {
    for (int process = 1; process < nprocs_; ++process) do_receive(process, tag, 0, empty);
    for (int process = 1; process < nprocs_; ++process) do_send(process, tag, 0, {});
  } else {
    do_send(0, tag, 0, {});
    do_receive(0, tag, 0, empty);
  }
}

int Parallelizer::do_poll_any(int tag) {
  for (int process = 0; process < nprocs_; ++process) {
    if (process != id_ && do_probe(process, tag)) return process;
  }
  return -1;
}

void Parallelizer::write_line(std::string_view line) {
  std::cout.flush();
  std::fflush(stdout);
  // On a terminal, "\x1b[K" before each '\n' erases the rest of the row: a line that lands on
  // the row of a task farm's progress line (drawn on stderr, cursor left in column 0) replaces
  // it instead of leaving its tail behind.
  static const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  std::string erasing;
  if (terminal && line.find('\n') != std::string_view::npos) {
    erasing.reserve(line.size() + 8);
    for (const char c : line) {
      if (c == '\n') erasing += "\x1b[K";
      erasing += c;
    }
    line = erasing;
  }
  // One write() per line: lines from different processes do not interleave.
  while (!line.empty()) {
    const ssize_t written = ::write(STDOUT_FILENO, line.data(), line.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // stdout closed: nothing sensible to do with a log line
    }
    line.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace unipar
