/// @file transport_class.hpp
/// @brief The byte layer under Parallelizer, as the layers built on it see it (the task farm,
/// and next the client/server runner and the shared objects).
///
/// A backend implements bytes only (Parallelizer's protected virtual functions); the typed API
/// encodes values and calls them. The upper layers need the same byte operations without the
/// typed API's checks and numbering, and without being friends of Parallelizer: Transport is
/// the one door. It adds nothing and costs one inlined call.
#pragma once

// Included by parallelizer.hpp once Parallelizer is complete; include unipar/detail/transport.hpp.

namespace unipar::detail {

class Transport {
 public:
  explicit Transport(Parallelizer& par) noexcept : par_(par) {}

  int id() const noexcept { return par_.id(); }
  int nprocs() const noexcept { return par_.nprocs(); }
  Capabilities capabilities() const { return par_.capabilities(); }

  /// Sends one message to another process (it may wait for room, never for the receive).
  void send(int dest, int tag, Fingerprint type, ConstBytes bytes) {
    par_.do_send(dest, tag, type, bytes);
  }
  /// Receives the next message from `source` with `tag` into `sink` (TypeMismatch when its
  /// type is not `type`).
  void receive(int source, int tag, Fingerprint type, ByteSink& sink) {
    par_.do_receive(source, tag, type, sink);
  }
  /// Whether a message from `source` with `tag` can be received without blocking.
  bool probe(int source, int tag) { return par_.do_probe(source, tag); }
  /// Blocks until a message with `tag` from some other process can be received; returns it.
  int wait_for_any(int tag) { return par_.do_wait_for_any(tag); }
  /// A process whose message with `tag` can be received now, or -1 (one look of wait_for_any,
  /// with its checks: it throws when no message can ever come).
  int poll_any(int tag) { return par_.do_poll_any(tag); }
  /// Main: whether a worker that dies fails the run (Parallelizer::tolerate_worker_loss).
  bool tolerate_worker_loss(bool on) { return par_.tolerate_worker_loss(on); }
  /// Marks the caller's scope as the user's code (Parallelizer::UserCode).
  [[nodiscard]] Parallelizer::UserCode user_code() { return Parallelizer::UserCode(par_); }
  /// The thread that runs ServiceThread bodies on this process during the run.
  ServiceHost& service_host() { return par_.service_host(); }
  /// A word every process of the run can update atomically, or null (Parallelizer::shared_word).
  std::atomic<std::uint64_t>* shared_word() { return par_.shared_word(); }
  /// Opens a collective of kind `op` for the caller's scope (numbered and checked like the
  /// typed collectives): `const auto scope = transport.begin_collective(Op::serve);`.
  [[nodiscard]] Parallelizer::Collective begin_collective(Op op) {
    return Parallelizer::Collective(par_, op, 0);
  }
  /// The tag of the next step of the collective the caller opened (see Parallelizer::map).
  int next_collective_tag() { return par_.next_collective_tag(); }

 private:
  Parallelizer& par_;
};

}  // namespace unipar::detail

inline unipar::detail::Transport unipar::Parallelizer::transport() noexcept {
  return detail::Transport(*this);
}
