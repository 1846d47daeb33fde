// The processes of a fork run: forking the workers, SIGCHLD, reaping, joining.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fork/group.hpp"
#include "fork/group_wait.hpp"
#include "unipar/error.hpp"

namespace unipar::fork_detail {
namespace {

std::atomic<Group*> active_group{nullptr};

void on_child_exit(int) {
  const int saved = errno;
  if (Group* group = active_group.load()) group->reap_exited();
  errno = saved;
}

}  // namespace

void Group::install_child_handler() {
  struct sigaction action {};
  action.sa_handler = on_child_exit;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  active_group.store(this);
  if (sigaction(SIGCHLD, &action, &previous_child_action_) != 0) {
    active_group.store(nullptr);
    detail::throw_system_error("sigaction(SIGCHLD)", errno);
  }
  handler_installed_ = true;
}

void Group::remove_child_handler() noexcept {
  if (!handler_installed_) return;
  sigaction(SIGCHLD, &previous_child_action_, nullptr);
  active_group.store(nullptr);
  handler_installed_ = false;
}

void Group::start_workers(const std::function<void(int)>& worker) {
  install_child_handler();
  const ChildSignalBlock blocked;  // the handler must not run while the pid table is half filled
  for (int id = 1; id < nprocs_; ++id) {
    const pid_t pid = fork();
    if (pid < 0) {
      detail::throw_system_error("fork", errno);  // the caller aborts the workers started
    }
    if (pid == 0) {
      // Worker: die with main, never run main's SIGCHLD handler.
      active_group.store(nullptr);
      signal(SIGCHLD, SIG_DFL);
      blocked.restore();
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != main_pid_) _exit(125);  // main died before prctl took effect
      self_ = id;
      handler_installed_ = false;
      worker(id);
      _exit(126);  // not reached: the worker function leaves with _exit
    }
    pids_[static_cast<std::size_t>(id)] = pid;
  }
  reap_exited();  // a worker may have died while the handler was blocked
}

void Group::finish(const detail::CollectiveLog& log) {
  slot(self_).log = log;
  slot(self_).finished.store(1, std::memory_order_seq_cst);
  if (self_ == 0) {
    for (int i = 1; i < nprocs_; ++i) ring_always(slot(i).bell);
  } else {
    ring_always(slot(0).bell);
  }
}

void Group::reap_exited() noexcept {
  // Runs in the SIGCHLD handler (main only): waitpid, atomics, memcpy and futex wakes are
  // signal-safe; a lost worker's record is its facts alone (no text to allocate).
  bool lost = false;
  for (int id = 1; id < nprocs_; ++id) {
    auto& reaped = reaped_[static_cast<std::size_t>(id)];
    const pid_t pid = pids_[static_cast<std::size_t>(id)];
    if (pid == 0 || reaped.load()) continue;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid) continue;
    reaped.store(true);
    if (slot(id).finished.load() != 0) continue;
    if (tolerate_loss_.load()) {
      const int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
      lost_[static_cast<std::size_t>(id)].store(1 << 16 | (signal & 0xFF) << 8 | (code & 0xFF),
                                                std::memory_order_release);
      lost = true;
      continue;
    }
    std::uint32_t expected = 0;
    if (failure_->state.compare_exchange_strong(expected, 1)) {
      const detail::FailureFacts facts{detail::FailureKind::lost,
                                       id,
                                       pid,
                                       WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                                       WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                                       -1};
      std::memcpy(failure_->bytes, &facts, sizeof facts);
      failure_->size = sizeof facts;
      failure_->state.store(2, std::memory_order_release);
    }
    lost = true;
  }
  if (lost) ring_everyone();
}

void Group::reap_all() noexcept {
  const ChildSignalBlock blocked;
  for (int id = 1; id < nprocs_; ++id) {
    auto& reaped = reaped_[static_cast<std::size_t>(id)];
    const pid_t pid = pids_[static_cast<std::size_t>(id)];
    if (pid == 0 || reaped.load()) continue;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    reaped.store(true);
  }
}

void Group::join() {
  wait(
      [&] {
        for (int id = 1; id < nprocs_; ++id) {
          if (!lost(id) && slot(id).finished.load(std::memory_order_acquire) == 0) return false;
        }
        return true;
      },
      {detail::Wait::Kind::end_of_run});
  reap_all();
  remove_child_handler();
  if (worker_failed()) throw_failure();
  std::vector<detail::CollectiveLog> logs;
  for (int id = 0; id < nprocs_; ++id) {
    if (!lost(id)) logs.push_back(slot(id).log);  // a lost worker's log ends where it died
  }
  detail::check_same_collectives(logs);
}

void Group::abort_workers() {
  if (self_ != 0) return;
  for (int id = 1; id < nprocs_; ++id) {
    const pid_t pid = pids_[static_cast<std::size_t>(id)];
    if (pid != 0 && !reaped_[static_cast<std::size_t>(id)].load()) kill(pid, SIGKILL);
  }
  reap_all();
  remove_child_handler();
}

}  // namespace unipar::fork_detail
