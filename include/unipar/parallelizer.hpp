/// @file parallelizer.hpp
/// @brief The one API every backend implements: SPMD run, messages, collectives and map.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "unipar/codec.hpp"
#include "unipar/detail/apply.hpp"
#include "unipar/detail/block_tree.hpp"
#include "unipar/detail/bytes.hpp"
#include "unipar/detail/function_ref.hpp"
#include "unipar/detail/tags.hpp"
#include "unipar/error.hpp"
#include "unipar/map_options.hpp"

namespace unipar {

class Parallelizer;

/// A function `run` can call: `f(par, args...)`.
template <class F, class... Args>
concept SpmdFunction = std::invocable<F&, Parallelizer&, Args&...>;

/// A function `map` can apply: `f(item)` returns a transferable value; or, when `item` is a
/// `std::tuple<A...>` that `f` does not take whole, `f(a...)` does (many-argument tasks).
template <class F, class T>
concept MapFunction = detail::applicable_v<F, T> && Transferable<detail::item_result_t<F, T>> &&
    std::is_default_constructible_v<detail::item_result_t<F, T>>;

/// What `map` gives for each item of `items` with `f`.
template <class F, class T>
using map_result_t = detail::item_result_t<F, T>;

/// A callback `map_each` can deliver results to: `on_result(index, std::move(result))`.
template <class C, class F, class T>
concept ResultCallback = std::invocable<C&, std::size_t, map_result_t<F, T> &&>;

/// What a backend offers beyond the common contract, for the layers built on the byte operations
/// (the task farm, shared objects).
struct Capabilities {
  /// Outside `run`, workers start with a copy-on-write snapshot of main's memory (fork), so
  /// data main holds need not be sent to them.
  bool workers_hold_snapshot = false;
  /// The processes can map the same memory (fork; the MPI ranks of one node).
  bool shares_memory = false;
  /// The byte operations may be called from another thread than the one that made the
  /// parallelizer, one thread at a time (MPI: initialized with MPI_THREAD_SERIALIZED or more).
  bool serialized_threads = true;
};

namespace detail {
class MessageStash;
class ServiceHost;
class Transport;
/// Block `index` of `count` items split over `parts`: sizes differ by at most one, larger first.
struct Block {
  std::size_t begin;
  std::size_t size;
};
Block block_of(std::size_t count, int parts, int index);
}  // namespace detail

/// @brief A group of processes that run the same code: the serial, fork or MPI backend.
///
/// Library code takes a `unipar::Parallelizer&` and works unchanged on every backend:
/// @code
/// double mean_of_squares(unipar::Parallelizer& par, const std::vector<double>& data) {
///   return par.run([&](unipar::Parallelizer& p) {
///     auto mine = p.scatter(data);                  // this process's block
///     double sum = 0;
///     for (double x : mine) sum += x * x;
///     double total = p.allreduce(sum, std::plus<>{});
///     return total / static_cast<double>(data.size());
///   });
/// }
/// @endcode
///
/// Values, not pointers: every operation takes and returns values (see codec.hpp for which
/// types travel as raw bytes and which through Boost.Serialization).
class Parallelizer {
 public:
  Parallelizer(const Parallelizer&) = delete;
  Parallelizer& operator=(const Parallelizer&) = delete;
  virtual ~Parallelizer();

  /// @return this process's id: 0 on main, 1 .. nprocs()-1 on the workers.
  int id() const noexcept { return id_; }
  /// @return how many processes take part, main included.
  int nprocs() const noexcept { return nprocs_; }
  /// @return whether this is the main process (id 0).
  bool on_main() const noexcept { return id_ == 0; }
  /// @return "serial", "fork" or "mpi".
  virtual std::string_view name() const = 0;
  /// @return whether this process is inside `run`.
  bool in_run() const noexcept { return in_run_; }
  /// @return what this backend offers beyond the common contract.
  virtual Capabilities capabilities() const { return {}; }
  /// @return the byte layer, for the layers built on it (detail: not a user API).
  detail::Transport transport() noexcept;

  /// @brief Calls `f(*this, args...)` on every process (SPMD).
  /// @return on main, main's result; on other MPI ranks, their own result (fork workers never
  /// return from `run`).
  /// @note Under `fork`, workers are forked here and see a copy-on-write snapshot of main's
  /// memory as it was when `run` began; they end when `f` returns. Under `mpi`, every rank
  /// calls `run`. A `run` inside `run` is a UsageError.
  template <class F, class... Args>
  requires SpmdFunction<F, Args...> std::invoke_result_t<F&, Parallelizer&, Args&...> run(
      F&& f, Args&&... args) {
    using R = std::invoke_result_t<F&, Parallelizer&, Args&...>;
    RunScope scope(*this);
    if constexpr (std::is_void_v<R>) {
      do_run([&](Parallelizer& p) { std::invoke(f, p, args...); });
    } else {
      std::optional<R> result;
      do_run([&](Parallelizer& p) { result.emplace(std::invoke(f, p, args...)); });
      return std::move(*result);
    }
  }

  /// @brief Sends `value` to process `dest` with a tag (0 .. 2^30-1).
  /// Small messages return at once; a large one may wait until the receiver takes it.
  template <class T>
  void send(const T& value, int dest, int tag = 0) {
    check_message(dest, tag, "send");
    detail::Encoded<T> encoded(value);
    send_bytes(dest, tag, detail::fingerprint_v<T>, encoded.bytes());
  }

  /// @brief Receives the next message from `source` with `tag`, which must hold a T.
  /// @throws TypeMismatch when the message was sent as another type.
  template <class T>
  T receive(int source, int tag = 0) {
    if constexpr (!std::is_default_constructible_v<T>) {
      static_assert(std::is_default_constructible_v<T>,
                    "unipar: receive<T> creates the T it receives into, and this T has no "
                    "default constructor; use receive_into(value, source, tag) with an existing "
                    "object");
      std::terminate();  // not reached: the program does not compile
    } else {
      T value{};
      receive_into(value, source, tag);
      return value;
    }
  }

  /// @brief As `receive`, into an existing object (a vector reuses its capacity).
  template <class T>
  void receive_into(T& value, int source, int tag = 0) {
    check_message(source, tag, "receive");
    detail::Decoder<T> decoder(value);
    receive_bytes(source, tag, detail::fingerprint_v<T>, decoder);
    decoder.finish();
  }

  /// @brief Whether a message from `source` with `tag` is waiting (does not block).
  bool probe(int source, int tag = 0);

  /// @brief Root's `value`, on every process.
  /// Pass the value with `std::move` on root to avoid a copy; on the other processes the
  /// argument's storage is reused to receive (pass an empty value or a buffer to recycle).
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T>
  T broadcast(T value, int root = 0) {
    broadcast_inplace(value, root);
    return value;
  }

  /// @brief Root sends `value`; every other process's `value` is overwritten with it, reusing its
  /// storage (a vector keeps its capacity).
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T>
  void broadcast_inplace(T& value, int root = 0) {
    const Collective collective(*this, detail::Op::broadcast, root);
    if (id_ == root) {
      detail::Encoded<T> encoded(value);
      do_broadcast(root, detail::fingerprint_v<T>, encoded.bytes(), nullptr);
    } else {
      detail::Decoder<T> decoder(value);
      do_broadcast(root, detail::fingerprint_v<T>, {}, &decoder);
      decoder.finish();
    }
  }

  /// @brief Splits root's `data` into nprocs() contiguous blocks (sizes differ by at most one,
  /// larger blocks first) and returns this process's block.
  /// Other processes may pass an empty vector.
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T>
  std::vector<T> scatter(const std::vector<T>& data, int root = 0) {
    if constexpr (std::is_same_v<T, bool>) {
      const auto mine = scatter(as_bytes_of_bools(data), root);
      return {mine.begin(), mine.end()};
    } else if constexpr (!std::is_default_constructible_v<T>) {
      static_assert(std::is_default_constructible_v<T>,
                    "unipar: scatter<T> creates the T elements of each block, and this T has no "
                    "default constructor; scatter indices or plain records instead");
      return {};
    } else {
      const Collective collective(*this, detail::Op::scatter, root);
      using Block = std::vector<T>;
      std::vector<T> mine;
      detail::Decoder<Block> decoder(mine);
      if (id_ == root) {
        BlockSource<T> source(data, nprocs_);
        do_scatter(root, detail::fingerprint_v<Block>, &source, decoder);
      } else {
        do_scatter(root, detail::fingerprint_v<Block>, nullptr, decoder);
      }
      decoder.finish();
      return mine;
    }
  }

  /// @brief One value per process, in id order, on root; an empty vector elsewhere.
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T>
  std::vector<T> gather(const T& value, int root = 0) {
    if constexpr (std::is_same_v<T, bool>) {
      const auto all = gather<std::uint8_t>(value, root);
      return {all.begin(), all.end()};
    } else if constexpr (!std::is_default_constructible_v<T>) {
      static_assert(std::is_default_constructible_v<T>,
                    "unipar: gather<T> (and reduce<T>) creates one T per process on root, and "
                    "this T has no default constructor; gather a default-constructible type");
      return {};
    } else {
      const Collective collective(*this, detail::Op::gather, root);
      detail::Encoded<T> encoded(value);
      std::vector<T> all;
      if (id_ != root) {
        do_gather(root, detail::fingerprint_v<T>, encoded.bytes(), nullptr);
        return all;
      }
      all.resize(static_cast<std::size_t>(nprocs_));
      ValueSink<T> sink(all);
      do_gather(root, detail::fingerprint_v<T>, encoded.bytes(), &sink);
      sink.finish();
      return all;
    }
  }

  /// @brief The concatenation of every process's block, in id order, on root (the inverse of
  /// `scatter`); an empty vector elsewhere.
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T>
  std::vector<T> gather_blocks(const std::vector<T>& block, int root = 0) {
    const Collective collective(*this, detail::Op::gather_blocks, root);
    if constexpr (std::is_same_v<T, bool>) {
      const auto all = gather_blocks(as_bytes_of_bools(block), root);
      return {all.begin(), all.end()};
    } else if constexpr (detail::Plain<T>) {
      // Sizes first, so root allocates the result once and receives into it in place.
      const auto sizes = gather<std::uint64_t>(block.size(), root);
      detail::Encoded<std::vector<T>> encoded(block);
      std::vector<T> all;
      if (id_ != root) {
        do_gather(root, detail::fingerprint_v<std::vector<T>>, encoded.bytes(), nullptr);
        return all;
      }
      std::uint64_t total = 0;
      for (auto size : sizes) total += size;
      all.reserve(total);
      ConcatSink<T> sink(all);
      do_gather(root, detail::fingerprint_v<std::vector<T>>, encoded.bytes(), &sink);
      return all;
    } else {
      auto blocks = gather(block, root);
      std::vector<T> all;
      for (auto& part : blocks) std::move(part.begin(), part.end(), std::back_inserter(all));
      return all;
    }
  }

  /// @brief Combines every process's value with `op`, in id order
  /// (`op(op(v0, v1), v2) ...`), so that floating-point results are the same on every backend.
  /// @return the result on root; `value` unchanged elsewhere.
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T, class Op>
  requires std::invocable<Op&, T, const T&> T reduce(const T& value, Op op, int root = 0) {
    const Collective collective(*this, detail::Op::reduce, root);
    auto all = gather(value, root);
    if (id_ != root) return value;
    T result = std::move(all.front());
    for (std::size_t i = 1; i < all.size(); ++i)
      result = std::invoke(op, std::move(result), all[i]);
    return result;
  }

  /// @brief As `reduce`, with the result on every process.
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T, class Op>
  requires std::invocable<Op&, T, const T&> T allreduce(const T& value, Op op) {
    const Collective collective(*this, detail::Op::allreduce, 0);
    return broadcast(reduce(value, op, 0), 0);
  }

  /// @brief Combines the concatenation of every process's block (in id order, the inverse of
  /// `scatter`, as `gather_blocks`) with `op` over one fixed binary tree of the global item
  /// index, so that the result is bit-identical on every backend and number of processes, with
  /// blocks of any sizes (op(op(x0, x1), op(x2, x3)) ... for four items, however they are
  /// spread). `op` need not be commutative; it must be associative for the result to mean the
  /// same as a left fold. Each process sends root at most 2 log2(n) partial values.
  /// @return the result on root; T{} elsewhere.
  /// @throws UsageError (on every process) when every block is empty.
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T, class Op>
  requires std::invocable<Op&, T, const T&> T reduce_blocks(const std::vector<T>& block, Op op,
                                                            int root = 0) {
    const Collective collective(*this, detail::Op::reduce_blocks, root);
    return reduce_blocks_on(root, block, op);
  }

  /// @brief As `reduce_blocks`, with the result on every process.
  /// @note Every process must call it, in the same order as the other collectives.
  template <class T, class Op>
  requires std::invocable<Op&, T, const T&> T allreduce_blocks(const std::vector<T>& block, Op op) {
    const Collective collective(*this, detail::Op::allreduce_blocks, 0);
    return broadcast(reduce_blocks_on(0, block, op), 0);
  }

  /// @brief Returns once every process has called it.
  /// @note Every process must call it, in the same order as the other collectives.
  void barrier();

  /// @brief `f(item)` for every item, in input order, on main; an empty vector elsewhere.
  ///
  /// Load is balanced dynamically: processes claim chunks of items as they become free, chunks
  /// shrink toward the end and small items are grouped automatically; no process waits for
  /// main's own computation. Items that are tuples `f` does not take whole are unpacked:
  /// `f(a, b, c)` (see `zip` and `grid`). Outside `run`, the fork backend forks its workers for
  /// the call; inside `run`, every process calls `map` and the items of main are used (the
  /// others may pass an empty vector). An exception thrown by `f` reaches main as WorkerError
  /// with the item's index.
  template <class F, class T>
  requires MapFunction<F, T> std::vector<map_result_t<F, T>> map(const F& f,
                                                                 const std::vector<T>& items,
                                                                 const MapOptions& options = {});

  /// @brief As `map`, streaming: on main, `on_result(index, std::move(result))` for each item
  /// as soon as its result reaches main, in completion order, or in input order with
  /// `options.ordered` (each as soon as all earlier ones were delivered). Workers keep
  /// computing while `on_result` runs; an exception it throws stops the call and propagates.
  template <class F, class T, class OnResult>
  requires MapFunction<F, T> && ResultCallback<OnResult, F, T>
  void map_each(const F& f, const std::vector<T>& items, OnResult&& on_result,
                const MapOptions& options = {});

  /// @brief Writes one line, prefixed with this process's id; lines from different processes
  /// never interleave.
  template <class... Args>
  void print(const Args&... args) {
    std::ostringstream line;
    line << '[' << id_ << "] ";
    (line << ... << args);
    line << '\n';
    write_line(line.str());
  }

 protected:
  Parallelizer(int id, int nprocs);

  /// Sets this process's place in the group (a fork worker learns its id after the fork).
  void set_process(int id, int nprocs) {
    id_ = id;
    nprocs_ = nprocs;
  }
  /// The collectives (map included) this process has begun in the current run.
  const detail::CollectiveLog& collective_log() const noexcept { return log_; }
  /// The tag of the next step of the collective this process is in (each public collective
  /// opens one; its steps exchange messages under distinct tags).
  int next_collective_tag();

  // ---- what a backend implements (bytes only) ---------------------------------------------------

  /// Calls `body(*this)` on every process of the group.
  virtual void do_run(const std::function<void(Parallelizer&)>& body) = 0;
  /// Sends one message to another process.
  virtual void do_send(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes) = 0;
  /// Receives the next message from `source` with `tag` into `sink`; throws TypeMismatch when
  /// its fingerprint is not `type`.
  virtual void do_receive(int source, int tag, detail::Fingerprint type,
                          detail::ByteSink& sink) = 0;
  /// Whether a message from `source` with `tag` can be received without blocking.
  virtual bool do_probe(int source, int tag) = 0;
  /// Blocks until a message with `tag` from some other process can be received; returns that
  /// process (the lowest id when several can).
  virtual int do_wait_for_any(int tag) = 0;
  /// One look of wait_for_any: a process whose message with `tag` can be received now, or -1;
  /// throws what a wait would when none can ever come (a failure of the run, a peer that
  /// left). The default probes every other process.
  virtual int do_poll_any(int tag);

  /// Root's `root_bytes` into `sink` on every other process (`sink` is null on root).
  /// The default sends along a binomial tree of point-to-point messages.
  virtual void do_broadcast(int root, detail::Fingerprint type, detail::ConstBytes root_bytes,
                            detail::ByteSink* sink);
  /// Root's `source->part(i)` into process i's `sink` (`source` is null except on root).
  virtual void do_scatter(int root, detail::Fingerprint type, detail::ScatterSource* source,
                          detail::ByteSink& sink);
  /// Every process's `mine` into root's `sink` (`sink` is null except on root).
  virtual void do_gather(int root, detail::Fingerprint type, detail::ConstBytes mine,
                         detail::GatherSink* sink);
  /// Returns once every process has called it.
  virtual void do_barrier();
  /// Writes one whole line to standard output.
  virtual void write_line(std::string_view line);
  /// Inside `run`: a word every process of the run can update atomically (in memory they
  /// share), zero at the start of the run; null when the processes share no memory.
  virtual std::atomic<std::uint64_t>* shared_word() { return nullptr; }
  /// Main, inside `run`: while `on`, a worker that dies does not fail the run; main's
  /// operations with it throw WorkerLost and the others go on (the client/server runner).
  /// @return whether the backend can (fork: yes; MPI: a dead rank ends the job).
  virtual bool tolerate_worker_loss(bool /*on*/) { return false; }

 private:
  friend class detail::Transport;

  /// The thread that runs ServiceThread bodies in this run (created when first asked for,
  /// joined when the run ends).
  detail::ServiceHost& service_host();

  template <class T, class Op>
  T reduce_blocks_on(int root, const std::vector<T>& block, Op& op) {
    static_assert(!std::is_same_v<T, bool>,
                  "unipar: reduce_blocks of bool: reduce a vector of std::uint8_t instead");
    const auto sizes = broadcast(gather<std::uint64_t>(block.size(), root), root);
    std::uint64_t offset = 0;
    std::uint64_t total = 0;
    for (int i = 0; i < nprocs_; ++i) {
      if (i == id_) offset = total;
      total += sizes[static_cast<std::size_t>(i)];
    }
    if (total == 0) {
      throw UsageError(std::string(detail::op_name(op_)) +
                       ": every process's block is empty; there is nothing to combine");
    }
    // Root knows every block's place from the sizes, so only the nodes' values travel (three
    // steps in all, four with allreduce_blocks' broadcast: the most a collective has).
    std::vector<T> values;
    for (const detail::TreeNode node : detail::tree_cover(offset, offset + block.size())) {
      values.push_back(detail::tree_value(block.data() + (node.begin() - offset),
                                          std::uint64_t{1} << node.level, op));
    }
    auto gathered = gather(values, root);
    if (id_ != root) return T{};
    std::vector<detail::TreeNode> all_nodes;
    std::vector<T> all_values;
    std::uint64_t begin = 0;
    for (int i = 0; i < nprocs_; ++i) {
      const std::uint64_t end = begin + sizes[static_cast<std::size_t>(i)];
      const auto nodes = detail::tree_cover(begin, end);
      auto& part = gathered[static_cast<std::size_t>(i)];
      if (part.size() != nodes.size()) detail::throw_corrupt("reduce_blocks", "node count");
      for (std::size_t k = 0; k < nodes.size(); ++k) {
        all_nodes.push_back(nodes[k]);
        all_values.push_back(std::move(part[k]));
      }
      begin = end;
    }
    return detail::tree_join(all_nodes, all_values, op);
  }

  /// map and map_each: the task farm (detail/farm.hpp) with the front end's `store`. The
  /// engine is instantiated per item and result type, not per function: `f` gets there as a
  /// detail::FunctionRef.
  template <class F, class T, class Store>
  void run_farm(const F& f, const std::vector<T>& items, const MapOptions& options, Store& store);
  template <class T, class R, class Store>
  void run_farm_erased(detail::FunctionRef<R(const T&)> f, const std::vector<T>& items,
                       const MapOptions& options, Store& store);
  /// One attempt of the farm (run_farm_erased makes several for `MapOptions::retries`).
  template <class T, class R, class Store>
  void run_farm_once(detail::FunctionRef<R(const T&)> f, const std::vector<T>& items,
                     const MapOptions& options, Store& store);

  /// Marks this object as running for the duration of `run`; rejects a nested `run`.
  class RunScope {
   public:
    explicit RunScope(Parallelizer& par);
    ~RunScope();
    RunScope(const RunScope&) = delete;
    RunScope& operator=(const RunScope&) = delete;

   private:
    Parallelizer& par_;
  };

  /// Marks the scope in which the task farm runs the user's code (an item's function, an
  /// `on_result` callback): a collective called there is a UsageError, not a hang.
  class UserCode {
   public:
    explicit UserCode(Parallelizer& par) noexcept : par_(par), outer_(par.in_user_code_) {
      par_.in_user_code_ = true;
    }
    ~UserCode() { par_.in_user_code_ = outer_; }
    UserCode(const UserCode&) = delete;
    UserCode& operator=(const UserCode&) = delete;

   private:
    Parallelizer& par_;
    bool outer_;
  };

  /// One public collective call: checks that it is made inside `run` with a valid root, and
  /// numbers it. A collective built from others (allreduce = reduce + broadcast) is one call.
  class Collective {
   public:
    Collective(Parallelizer& par, detail::Op op, int root);
    ~Collective() { --par_.collective_depth_; }
    Collective(const Collective&) = delete;
    Collective& operator=(const Collective&) = delete;

   private:
    Parallelizer& par_;
  };

  template <class T>
  class BlockSource final : public detail::ScatterSource {
   public:
    BlockSource(const std::vector<T>& data, int parts)
        : data_(data), parts_(parts), encoded_(static_cast<std::size_t>(parts)) {}
    detail::ConstBytes part(int process) override {
      const auto block = detail::block_of(data_.size(), parts_, process);
      if constexpr (detail::Plain<T>) {
        return std::as_bytes(std::span(data_.data() + block.begin, block.size));
      } else {
        // Serialized once, when first asked for, and kept: a backend may ask twice.
        auto& encoded = encoded_[static_cast<std::size_t>(process)];
        if (!encoded) {
          const auto first = data_.begin() + static_cast<std::ptrdiff_t>(block.begin);
          const std::vector<T> copy(first, first + static_cast<std::ptrdiff_t>(block.size));
          encoded = std::make_unique<detail::Encoded<std::vector<T>>>(copy);
        }
        return encoded->bytes();
      }
    }

   private:
    const std::vector<T>& data_;
    int parts_;
    std::vector<std::unique_ptr<detail::Encoded<std::vector<T>>>> encoded_;
  };

  template <class T>
  class ValueSink final : public detail::GatherSink {
   public:
    explicit ValueSink(std::vector<T>& out) : out_(out) {}
    detail::MutableBytes prepare(int process, std::size_t size) override {
      decoders_.emplace_back(out_[static_cast<std::size_t>(process)]);
      return decoders_.back().prepare(size);
    }
    void finish() {
      for (auto& decoder : decoders_) decoder.finish();
    }

   private:
    std::vector<T>& out_;
    std::deque<detail::Decoder<T>> decoders_;
  };

  template <class T>
  class ConcatSink final : public detail::GatherSink {
   public:
    explicit ConcatSink(std::vector<T>& out) : out_(out) {}
    detail::MutableBytes prepare(int, std::size_t size) override {
      if (size % sizeof(T) != 0) detail::throw_bad_size(typeid(T).name(), sizeof(T), size);
      const std::size_t begin = out_.size();
      out_.resize(begin + size / sizeof(T));
      return std::as_writable_bytes(std::span(out_.data() + begin, size / sizeof(T)));
    }

   private:
    std::vector<T>& out_;
  };

  /// std::vector<bool> packs its bits and has no data(): bools travel as one byte each.
  static std::vector<std::uint8_t> as_bytes_of_bools(const std::vector<bool>& bits) {
    return {bits.begin(), bits.end()};
  }

  void check_rank(int rank, const char* operation) const;
  /// Messages and collectives need every process inside run().
  void check_in_run(const char* operation) const;
  /// A send or receive: inside run, a valid peer and a user tag.
  void check_message(int peer, int tag, const char* operation) const;
  /// do_send, or into this process's own queue when `dest` is this process.
  void send_bytes(int dest, int tag, detail::Fingerprint type, detail::ConstBytes bytes);
  /// do_receive, or from this process's own queue when `source` is this process.
  void receive_bytes(int source, int tag, detail::Fingerprint type, detail::ByteSink& sink);

  int id_;
  int nprocs_;
  bool in_run_ = false;
  bool in_user_code_ = false;        // a map item's function or map_each's callback is running
  detail::CollectiveLog log_;        // the collectives of the current run
  detail::Op op_ = detail::Op::map;  // the collective this process is in (or was last in)
  int step_ = 0;                     // its next step
  int collective_depth_ = 0;         // > 0 inside a public collective
  std::unique_ptr<detail::MessageStash> self_messages_;  // sent by this process to itself
  std::unique_ptr<detail::ServiceHost> service_host_;    // during a run, once asked for
};

}  // namespace unipar

// Completing Parallelizer, in this order: the transport, then what is built on it.
#include "unipar/detail/transport_class.hpp"

#include "unipar/detail/farm.hpp"
