// broadcast: main decides the settings, every process gets a copy.
//   UNIPAR_BACKEND=fork:3 ./unipar_example_broadcast
#include <string>
#include <utility>

#include <unipar/unipar.hpp>

struct Settings {  // plain data: travels as its own bytes
  double tolerance;
  int max_iterations;
};

int main() {
  unipar::Parallelizer& par = unipar::default_parallelizer();
  par.run([](unipar::Parallelizer& p) {
    Settings settings{};
    std::string title;  // a contiguous container: travels as its characters
    if (p.on_main()) {
      settings = {1e-8, 500};
      title = "relaxation run";
    }
    settings = p.broadcast(settings);
    title = p.broadcast(std::move(title));  // std::move: no copy on main
    p.print("tolerance ", settings.tolerance, ", max_iterations ", settings.max_iterations,
            ", title \"", title, '"');
  });
}
