// Harness: the client/server protocol (client_server.hpp), run for real on a
// ScriptedParallelizer whose peers are the input (see fuzz_support.hpp). The first byte picks the
// process (a server, which reads batches of requests from main; or main, whose dispatcher
// thread reads batches of responses from the servers), the types and the number of requests;
// the rest is the script of messages the other processes sent. Whatever they say, the run ends
// with answers or a unipar::Error, and every future main holds gets a response or an error.
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "fuzz_support.hpp"
#include "unipar/client_server.hpp"
#include "unipar/error.hpp"
#include "unipar/serialization.hpp"

namespace {

namespace fuzz = unipar::fuzz;

template <class Request, class Response, class Handler>
void run(bool main, int nprocs, int requests, unipar::detail::ConstBytes script, Handler handler,
         const std::vector<Request>& inputs) {
  fuzz::ScriptedParallelizer::Setup setup;
  setup.id = main ? 0 : 1;
  setup.nprocs = nprocs;
  setup.capabilities.serialized_threads = true;
  fuzz::ScriptedParallelizer par(setup, script);
  unipar::ClientServerRunner<Request, Response> runner(par, handler);
  try {
    const int answered = runner.run([&](unipar::Client<Request, Response>& client) {
      std::vector<unipar::Future<Response>> futures;
      for (int i = 0; i < requests; ++i) {
        futures.push_back(client.submit(inputs[static_cast<std::size_t>(i) % inputs.size()]));
      }
      int done = 0;
      for (auto& future : futures) {
        try {
          static_cast<void>(future.get());
        } catch (const unipar::Error&) {
        }
        ++done;
      }
      return done;
    });
    if (main) fuzz::require(answered == requests, "a future was left without an answer");
  } catch (const unipar::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input input(fuzz::as_bytes(data, size));
  const std::uint8_t config = input.byte();
  const bool main = (config & 1) != 0;
  const int nprocs = 2 + (config >> 1) % 2;
  const int requests = 1 + (config >> 2) % 4;
  const auto script = input.rest();
  if ((config & 0x10) == 0) {
    run<double, double>(
        main, nprocs, requests, script, [](const double& x) { return x * 2; },
        std::vector<double>{1.0, 2.0, 3.0, 4.0});
  } else {
    run<std::string, std::vector<std::string>>(
        main, nprocs, requests, script,
        [](const std::string& s) {
          if (s == "throw") throw unipar::Error("the handler refuses");
          return std::vector<std::string>{s, s};
        },
        std::vector<std::string>{"a", "throw", "ccc", ""});
  }
  return 0;
}
