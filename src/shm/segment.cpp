// The memory of one shared object: created as a memfd, mapped whole, opened by the other
// processes of a node through /proc/<creator>/fd/<fd> and closed once all have mapped it; the
// robust lock.
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/settings.hpp"
#include "shm/layout.hpp"
#include "unipar/error.hpp"
#include "unipar/parallelizer.hpp"
#include "unipar/shared.hpp"

namespace unipar::detail {

// ---- this process -------------------------------------------------------------------------------

namespace {

std::atomic<pid_t> cached_pid{0};

void forget_pid() noexcept {
  cached_pid.store(0, std::memory_order_relaxed);
}

}  // namespace

pid_t this_process() noexcept {
  pid_t pid = cached_pid.load(std::memory_order_relaxed);
  if (pid != 0) return pid;
  static const bool registered = pthread_atfork(nullptr, nullptr, forget_pid) == 0;
  pid = getpid();
  if (registered) cached_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

// ---- the node a process runs on ----------------------------------------------------------------

namespace {

std::string& node_identity_override() {
  static std::string identity;
  return identity;
}

/// Processes that can open each other's /proc/<pid>/fd/<n> report the same identity: the
/// kernel's boot id (one per machine and boot) and the process namespace.
std::string node_identity() {
  if (!node_identity_override().empty()) return node_identity_override();
  static const std::string identity = [] {
    std::string boot;
    std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
    char name[256] = {};
    const ssize_t length = readlink("/proc/self/ns/pid", name, sizeof name - 1);
    std::string text = boot + "/" + (length > 0 ? std::string(name, static_cast<std::size_t>(length)) : "");
    if (boot.empty()) {
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      text += "/" + std::string(host);
    }
    return text;
  }();
  return identity;
}

}  // namespace

void set_node_identity_for_testing(std::string identity) {
  node_identity_override() = std::move(identity);
}

// ---- names ---------------------------------------------------------------------------------------

std::string shared_type_name(const char* mangled) {
  std::string name = demangle(mangled);
  static constexpr std::string_view spelled =
      "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >";
  for (auto at = name.find(spelled); at != std::string::npos; at = name.find(spelled, at)) {
    name.replace(at, spelled.size(), "std::string");
  }
  // "SharedDict<int, std::string>", as one writes it.
  for (auto at = name.find(" >"); at != std::string::npos; at = name.find(" >", at)) {
    name.erase(at, 1);
  }
  return name;
}

void throw_foreign_object(const std::string& operation, const SharedSegment& object) {
  throw UsageError(operation + ": this " + object.name() +
                   " was created for another parallelizer; a shared object belongs to the "
                   "parallelizer it was created with (its processes map it) and is used with "
                   "that one only");
}

void throw_missing_key(const std::string& name) {
  throw std::out_of_range(name + "::at: no such key");
}

// ---- the process-local state ---------------------------------------------------------------------

SharedSegment::State::~State() {
  if (base != nullptr) munmap(base, mapped);
  close_descriptor();
}

void SharedSegment::State::close_descriptor() noexcept {
  if (fd >= 0) close(fd);
  fd = -1;
}

SharedSegment::SharedSegment(std::string name, const Parallelizer* par,
                             std::unique_ptr<State> state)
    : name_(std::move(name)), parallelizer_(par), state_(std::move(state)) {
  const shm::Header& header = *state_->header;
  if (header.kind == static_cast<std::uint32_t>(SharedKind::array)) {
    elements_ = state_->base + shm::page_size;
    count_ = header.count;
  }
}

SharedSegment::~SharedSegment() = default;

// ---- creating and opening --------------------------------------------------------------------------

namespace {

using shm::Header;
using shm::page_size;

/// What the creator of a node's object tells the others.
struct Descriptor {
  std::int64_t pid = 0;
  std::int64_t fd = -1;
  std::uint64_t mapped = 0;
  std::uint64_t token[2] = {};
  Fingerprint type = 0;
  std::uint64_t count = 0;
};

const char* memfd_name(SharedKind kind) {
  switch (kind) {
    case SharedKind::array:
      return "unipar-SharedArray";
    case SharedKind::dict:
      return "unipar-SharedDict";
    case SharedKind::list:
      return "unipar-SharedList";
  }
  return "unipar-shared";
}

/// The bytes to map: an array's header page and elements, a dict's or list's whole limit (sparse:
/// only the pages written cost memory).
std::size_t mapped_size(const SharedSpec& spec, std::uint64_t limit) {
  if (spec.kind != SharedKind::array) return limit;
  const std::uint64_t most = (limit - page_size) / std::max<std::size_t>(spec.element_size, 1);
  if (spec.count > most) {
    throw Error(spec.name + ": " + std::to_string(spec.count) + " elements of " +
                std::to_string(spec.element_size) +
                " bytes are more than one shared object may hold (UNIPAR_SHARED_LIMIT = " +
                size_text(limit) + " per object, header page included); raise UNIPAR_SHARED_LIMIT");
  }
  const std::size_t payload = spec.count * spec.element_size;
  return page_size + (payload + page_size - 1) / page_size * page_size;
}

void init_lock(pthread_mutex_t& mutex) {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK);
  const int result = pthread_mutex_init(&mutex, &attributes);
  pthread_mutexattr_destroy(&attributes);
  if (result != 0) throw_system_error("pthread_mutex_init", result);
}

std::byte* map_whole(int fd, std::size_t bytes) {
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (base == MAP_FAILED) throw_system_error("mmap of a shared object", errno);
  return static_cast<std::byte*>(base);
}

/// A new object's memory, with its header written and (dict, list) an empty heap.
std::unique_ptr<SharedSegment::State> create_memory(const SharedSpec& spec,
                                                    std::uint64_t limit) {
  const std::size_t bytes = mapped_size(spec, limit);
  auto state = std::make_unique<SharedSegment::State>();
  state->fd = memfd_create(memfd_name(spec.kind), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (state->fd < 0) throw_system_error("memfd_create", errno);
  if (ftruncate(state->fd, static_cast<off_t>(bytes)) != 0) throw_system_error("ftruncate", errno);
  // Nobody can shrink it under another process's mapping (which would then fault).
  fcntl(state->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  state->base = map_whole(state->fd, bytes);
  state->mapped = bytes;
  state->limit = limit;

  Header* header = new (state->base) Header{};
  state->header = header;
  header->magic = shm::header_magic;
  if (getrandom(header->token, sizeof header->token, 0) != sizeof header->token) {
    header->token[0] = static_cast<std::uint64_t>(getpid()) << 32 ^
                       reinterpret_cast<std::uintptr_t>(state->base);
    header->token[1] = static_cast<std::uint64_t>(time(nullptr));
  }
  header->type = spec.type;
  header->kind = static_cast<std::uint32_t>(spec.kind);
  header->array_values = spec.array_values ? 1 : 0;
  header->mapped = bytes;
  header->count = spec.count;
  header->element_size = spec.element_size;
  header->limit = limit;
  init_lock(header->mutex);
  if (spec.kind != SharedKind::array) shm::Heap::format(*header, page_size, bytes);
  return state;
}

Descriptor describe(const SharedSegment::State& state) {
  Descriptor descriptor;
  descriptor.pid = this_process();
  descriptor.fd = state.fd;
  descriptor.mapped = state.mapped;
  descriptor.token[0] = state.header->token[0];
  descriptor.token[1] = state.header->token[1];
  descriptor.type = state.header->type;
  descriptor.count = state.header->count;
  return descriptor;
}

/// Maps the object `descriptor` names, created by another process of this node.
std::unique_ptr<SharedSegment::State> open_memory(const Descriptor& descriptor,
                                                  const SharedSpec& spec, int self, int creator) {
  if (descriptor.type != spec.type) {
    throw UsageError("process " + std::to_string(self) + " creates " + spec.name +
                     " where process " + std::to_string(creator) +
                     " created another shared object: inside run, every process must create "
                     "the same shared objects in the same order");
  }
  if (spec.check_count && descriptor.count != spec.count) {
    throw UsageError(spec.name + ": process " + std::to_string(self) + " asks for " +
                     std::to_string(spec.count) + " elements where process " +
                     std::to_string(creator) + " created " + std::to_string(descriptor.count) +
                     "; every process must ask for the same size");
  }
  const std::string path =
      "/proc/" + std::to_string(descriptor.pid) + "/fd/" + std::to_string(descriptor.fd);
  auto state = std::make_unique<SharedSegment::State>();
  state->fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (state->fd < 0) {
    const int error = errno;
    throw Error(spec.name + ": process " + std::to_string(self) +
                " cannot open the shared memory process " + std::to_string(creator) +
                " created (" + path + ": " + std::strerror(error) +
                "); the processes sharing an object must run on one machine, as one user, "
                "with access to each other's /proc");
  }
  struct stat status {};
  if (fstat(state->fd, &status) != 0 || static_cast<std::uint64_t>(status.st_size) != descriptor.mapped) {
    throw Error(spec.name + ": " + path + " is not the shared memory process " +
                std::to_string(creator) + " created (its size differs)");
  }
  state->base = map_whole(state->fd, descriptor.mapped);
  state->mapped = descriptor.mapped;
  state->close_descriptor();
  Header* header = reinterpret_cast<Header*>(state->base);
  if (header->magic != shm::header_magic || header->token[0] != descriptor.token[0] ||
      header->token[1] != descriptor.token[1]) {
    throw Error(spec.name + ": " + path + " is not the shared memory process " +
                std::to_string(creator) +
                " created (are the processes on different machines or in different process "
                "namespaces?)");
  }
  state->header = header;
  state->limit = header->limit;
  return state;
}

std::string misuse_text(const SharedSpec& spec, const UsageError& error) {
  return spec.name +
         ": inside run, every process must create each shared object at the same point, as it "
         "calls a collective (was it created on some processes only, or in another order?): " +
         error.what();
}

/// Main's plan, from every process's node identity: the creator (lowest id of its node) of each
/// process's object; {-nodes} when the processes span several nodes and `sharing` is `all`.
std::vector<std::int32_t> plan_for(const std::vector<std::string>& identities, Sharing sharing) {
  std::map<std::string, std::int32_t> first;
  std::vector<std::int32_t> plan(identities.size());
  for (std::size_t i = 0; i < identities.size(); ++i) {
    plan[i] = first.emplace(identities[i], static_cast<std::int32_t>(i)).first->second;
  }
  if (first.size() > 1 && sharing == Sharing::all) {
    return {-static_cast<std::int32_t>(first.size())};
  }
  return plan;
}

}  // namespace

/// Builds SharedSegment objects (its constructor is private).
struct SegmentMaker {
  static std::shared_ptr<SharedSegment> make(const SharedSpec& spec, const Parallelizer& par,
                                             std::unique_ptr<SharedSegment::State> state) {
    return std::shared_ptr<SharedSegment>(new SharedSegment(spec.name, &par, std::move(state)));
  }

  /// One process alone: fork outside run (workers forked later inherit the mapping), serial,
  /// a single process.
  static std::shared_ptr<SharedSegment> alone(Parallelizer& par, const SharedSpec& spec,
                                              std::uint64_t limit,
                                              FunctionRef<void(SharedSegment&)> init) {
    auto segment = make(spec, par, create_memory(spec, limit));
    init(*segment);
    segment->state().close_descriptor();
    return segment;
  }

  /// Inside run: every process calls this at the same point; one process per node creates.
  static std::shared_ptr<SharedSegment> together(Parallelizer& par, const SharedSpec& spec,
                                                 Sharing sharing, std::uint64_t limit,
                                                 FunctionRef<void(SharedSegment&)> init) {
    std::vector<std::int32_t> plan;
    try {
      const auto identities = par.gather(node_identity());
      if (par.on_main()) plan = plan_for(identities, sharing);
      plan = par.broadcast(std::move(plan));
    } catch (const UsageError& e) {
      throw UsageError(misuse_text(spec, e));
    }
    if (plan.size() == 1 && plan[0] < 0) {
      throw UsageError(spec.name + ": the " + std::to_string(par.nprocs()) + " processes run on " +
                       std::to_string(-plan[0]) +
                       " nodes, and memory is shared only within one node; pass "
                       "unipar::Sharing::node_local as the last argument for one object per "
                       "node");
    }
    if (plan.size() != static_cast<std::size_t>(par.nprocs())) {
      throw Error(spec.name + ": the creation plan does not match the processes");
    }
    const int self = par.id();
    const int creator = plan[static_cast<std::size_t>(self)];
    const bool main_creates_all =
        std::all_of(plan.begin(), plan.end(), [](std::int32_t leader) { return leader == 0; });

    std::shared_ptr<SharedSegment> segment;
    Descriptor mine;
    if (creator == self) {
      segment = make(spec, par, create_memory(spec, limit));
      init(*segment);
      mine = describe(segment->state());
    }
    Descriptor theirs;
    try {
      if (main_creates_all) {
        theirs = par.broadcast(mine);
      } else {
        auto all = par.gather(mine);
        all = par.broadcast(std::move(all));
        theirs = all.at(static_cast<std::size_t>(creator));
      }
    } catch (const UsageError& e) {
      throw UsageError(misuse_text(spec, e));
    }
    if (creator != self) segment = make(spec, par, open_memory(theirs, spec, self, creator));
    // Every process of the node has it mapped: the creators close the descriptor, and the
    // memory now lives exactly as long as some process maps it.
    par.barrier();
    segment->state().close_descriptor();
    return segment;
  }
};

std::shared_ptr<SharedSegment> SharedSegment::create(Parallelizer& par, const SharedSpec& spec,
                                                     Sharing sharing,
                                                     FunctionRef<void(SharedSegment&)> init) {
  // Every process checks the setting and the size itself, so that each throws the same error
  // rather than waiting for a creator that did.
  const std::uint64_t limit = shared_limit_setting();
  (void)mapped_size(spec, limit);
  if (par.nprocs() == 1) return SegmentMaker::alone(par, spec, limit, init);
  if (par.in_run()) return SegmentMaker::together(par, spec, sharing, limit, init);
  if (par.capabilities().workers_hold_snapshot) return SegmentMaker::alone(par, spec, limit, init);
  // Outside run on a backend whose processes all run the program (MPI): a run of its own.
  std::shared_ptr<SharedSegment> segment;
  par.run([&](Parallelizer& p) { segment = SegmentMaker::together(p, spec, sharing, limit, init); });
  return segment;
}

// ---- the lock ------------------------------------------------------------------------------------

SharedSegment::Lock::Lock(SharedSegment& segment) : segment_(segment) {
  Header& header = *segment.state().header;
  const int result = pthread_mutex_lock(&header.mutex);
  if (result == EOWNERDEAD) {
    // The holder died. Every change is made of steps that each leave the object consistent
    // (src/shm/layout.hpp): carry on from its last step, with its counts made exact again.
    pthread_mutex_consistent(&header.mutex);
    shm::recover(segment);
  } else if (result == EDEADLK) {
    throw UsageError(segment.name() +
                     ": used inside its own update function (which runs under the object's "
                     "lock); change the value through the function's argument instead");
  } else if (result == ENOTRECOVERABLE) {
    header.broken.store(1, std::memory_order_relaxed);
    throw Error(segment.name() + ": its lock is unusable after a process died holding it");
  } else if (result != 0) {
    throw_system_error("pthread_mutex_lock", result);
  }
  held_ = true;
  if (header.broken.load(std::memory_order_relaxed) != 0) {
    unlock();
    throw Error(segment.name() +
                ": its shared memory was found corrupt (written past the end of an array?); it "
                "can no longer be used");
  }
}

void SharedSegment::Lock::unlock() noexcept {
  if (!held_) return;
  held_ = false;
  pthread_mutex_unlock(&segment_.state().header->mutex);
}

}  // namespace unipar::detail
