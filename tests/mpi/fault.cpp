/// @file fault.cpp
/// @brief The MPI backend's failure contract, one scenario per run of this program under
/// `mpirun` (driven by run_checked.py, see tests/mpi/CMakeLists.txt).
///
/// Usage: `mpi_fault_test <scenario> <failing rank>`. The failing rank throws `fault::Boom`
/// (or dies) while the other ranks wait for it in the scenario's operation:
///   gather, barrier, broadcast (rooted at the failing rank), receive (from the failing rank),
///   return (the others return from `run` at once), map (inside `run`), map_outside_run,
///   kill (raise(SIGKILL)), abort (std::abort()); and hold, for a kill from outside: every rank
///   prints `rank R: pid P holding`, then rank <failing rank> sleeps for two minutes while the
///   others wait for it in a gather (run_checked.py --kill kills rank 0 or mpirun meanwhile).
/// Every rank that catches the error prints one line
///   `rank R: WorkerError worker=W item=I type=T message=M`   (I is `none` outside map), or
///   `rank R: own T message=M`                                 (the failing rank 0's own)
/// then runs `allreduce(id + 1)` on the same parallelizer, prints `rank R: again allreduce=S`,
/// and exits with status 3. A run that ends without an exception prints `rank R: no exception`
/// and exits with status 1.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
#include <vector>

#include "unipar/mpi.hpp"
#include "unipar/unipar.hpp"

namespace fault {

/// What the failing rank throws: a type of this program's own, so that its name shows in
/// WorkerError::type_name().
class Boom : public std::runtime_error {
 public:
  explicit Boom(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace fault

namespace {

using unipar::Parallelizer;

/// Items for the map scenarios: enough that every rank gets some, each taking 1 ms.
constexpr int map_items = 2000;

/// One line on standard output, flushed at once (mpirun forwards it even if this rank dies).
void say(int rank, const std::string& text) {
  std::printf("rank %d: %s\n", rank, text.c_str());
  std::fflush(stdout);
}

void sleep_ms(int milliseconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
}

/// The failing rank's part: wait until the others are blocked in their operation, then fail.
[[noreturn]] void fail(std::string_view scenario) {
  sleep_ms(300);
  if (scenario == "kill") std::raise(SIGKILL);
  if (scenario == "abort") std::abort();
  throw fault::Boom("boom");
}

/// The map function: throws on the failing rank for the first item it gets there.
std::function<int(const int&)> map_function(int rank, int failing) {
  return [rank, failing](const int& item) {
    sleep_ms(1);
    if (rank == failing) throw fault::Boom("boom at item " + std::to_string(item));
    return item * 2;
  };
}

std::vector<int> map_input() {
  std::vector<int> items(map_items);
  std::iota(items.begin(), items.end(), 0);
  return items;
}

/// The body of `run` for one scenario.
void body(Parallelizer& p, std::string_view scenario, int failing) {
  const bool fails = p.id() == failing;
  if (scenario == "gather" || scenario == "kill" || scenario == "abort") {
    if (fails) fail(scenario);
    (void)p.gather(p.id(), 0);
  } else if (scenario == "barrier") {
    if (fails) fail(scenario);
    p.barrier();
  } else if (scenario == "broadcast") {
    if (fails) fail(scenario);
    (void)p.broadcast(std::string(), failing);
  } else if (scenario == "receive") {
    if (fails) fail(scenario);
    (void)p.receive<int>(failing, 7);
  } else if (scenario == "return") {
    if (fails) fail(scenario);
  } else if (scenario == "hold") {
    say(p.id(), "pid " + std::to_string(getpid()) + " holding");
    if (fails) sleep_ms(120'000);
    (void)p.gather(p.id(), failing);
  } else if (scenario == "map") {
    (void)p.map(map_function(p.id(), failing), map_input());
  } else {
    throw std::invalid_argument("unknown scenario " + std::string(scenario));
  }
}

std::string describe(const unipar::WorkerError& error) {
  return "WorkerError worker=" + std::to_string(error.process()) +
         " item=" + (error.item() ? std::to_string(*error.item()) : std::string("none")) +
         " type=" + error.type_name() + " message=" + error.message();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <scenario> <failing rank>\n", argv[0]);
    return 2;
  }
  const std::string scenario = argv[1];
  const int failing = std::atoi(argv[2]);
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the abort scenario must not write a core file

  unipar::MpiParallelizer par;
  const int rank = par.id();
  int status = 3;
  try {
    if (scenario == "map_outside_run") {
      (void)par.map(map_function(rank, failing), map_input());
    } else {
      par.run([&](Parallelizer& p) { body(p, scenario, failing); });
    }
    say(rank, "no exception");
    status = 1;
  } catch (const unipar::WorkerError& error) {
    say(rank, describe(error));
  } catch (const fault::Boom& error) {
    say(rank, "own " + unipar::detail::demangle(typeid(error).name()) + " message=" + error.what());
  } catch (const std::exception& error) {
    say(rank, "unexpected " + unipar::detail::demangle(typeid(error).name()) +
                  " message=" + error.what());
    status = 1;
  }

  // The same parallelizer works again after the failure.
  try {
    const int sum = par.run([](Parallelizer& p) { return p.allreduce(p.id() + 1, std::plus<>{}); });
    say(rank, "again allreduce=" + std::to_string(sum));
    par.run([](Parallelizer& p) { p.barrier(); });  // nobody exits before every rank printed
  } catch (const std::exception& error) {
    say(rank,
        "again failed: " + unipar::detail::demangle(typeid(error).name()) + ": " + error.what());
    return 4;
  }
  return status;
}
