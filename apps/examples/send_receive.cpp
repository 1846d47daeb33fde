// send / receive: pass a message around a ring of processes.
// Each process appends its id and hands the message to the next; main starts and ends the round.
//   UNIPAR_BACKEND=fork:4 ./unipar_example_send_receive
#include <string>

#include <unipar/unipar.hpp>

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();  // UNIPAR_BACKEND, or fork
  par.run([](unipar::Parallelizer& p) {
    const int next = (p.id() + 1) % p.nprocs();
    const int previous = (p.id() + p.nprocs() - 1) % p.nprocs();
    if (p.on_main()) {
      p.send(std::string("main"), next);
      const auto message = p.receive<std::string>(previous);
      p.print("the message came back as: ", message);
    } else {
      auto message = p.receive<std::string>(previous);
      message += " -> " + std::to_string(p.id());
      p.send(message, next);
    }
  });
}
