// unipar-sweep: runs a command once per point of a parameter grid, in parallel on any unipar
// backend, and writes one row per point, in grid order.
//
//   unipar-sweep --param a=0.1,10 --param b=1:5:1 --backend fork:4 --out results.csv
//                -- ./sim --alpha {a} --beta {b}        (one command line)
//   mpirun -n 8 unipar-sweep --grid points.json --parse json --out results.jsonl -- ./sim {x}
//
// docs/sweep_tool.md describes every option, the output and resuming after a kill.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <unipar/unipar.hpp>

#include "grid.hpp"
#include "output.hpp"
#include "run_command.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

struct Options {
  std::vector<std::string> params;
  std::string grid_file;
  std::string backend = "auto";
  std::string out;
  std::string parse = "last-line";
  int retries = 0;
  bool fail_fast = false;
  bool quiet = false;
  bool dry_run = false;
  std::vector<std::string> command;
};

/// This process's rank when an MPI launcher started it (before MPI is initialized), else 0:
/// only rank 0 reports errors found before the parallelizer exists, so they appear once.
int launcher_rank() {
  for (const char* variable : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') {
      return std::atoi(value);
    }
  }
  return 0;
}

void report(const std::string& message) {
  std::fprintf(stderr, "unipar-sweep: %s\n", message.c_str());
}

/// Raised by on_result to end the sweep at the first failed row (--fail-fast).
struct FailFast : std::exception {
  const char* what() const noexcept override { return "a point failed (--fail-fast)"; }
};

/// Under MPI, main's value on every rank (a collective: every rank calls it); elsewhere the
/// value itself (under fork and serial there is no other process outside a map).
int agree(unipar::Parallelizer& par, int value) {
  if (par.name() != "mpi" || par.nprocs() == 1) return value;
  return par.run([value](unipar::Parallelizer& p) { return p.broadcast(value, 0); });
}

/// Whether `path` can be written: creates and removes its temporary file.
bool can_write(const std::string& temporary) {
  std::ofstream probe(temporary, std::ios::trunc);
  if (!probe) return false;
  probe.close();
  std::filesystem::remove(temporary);
  return true;
}

/// Parses the options (everything before `--`) and takes the command (everything after).
/// Returns -1 to go on, else the exit status.
int parse_command_line(int argc, char** argv, Options& options) {
  CLI::App app{
      "unipar-sweep: runs a command once per point of a parameter grid, in parallel, and "
      "collects one row per point (in grid order).\n"
      "Usage: unipar-sweep [OPTIONS] -- COMMAND [ARGS...]   ({name} in COMMAND and ARGS is "
      "replaced by the value of parameter name; {{ and }} are literal braces)",
      "unipar-sweep"};
  app.add_option("--param", options.params,
                 "a parameter: NAME=V1,V2,... (a list) or NAME=START:STOP:STEP (STOP included "
                 "when it lands on it); several --param make a Cartesian product, the last "
                 "varying fastest")
      ->allow_extra_args(false);
  app.add_option("--grid", options.grid_file,
                 "a JSON file: {\"a\": [..], \"b\": [..]} (their product) or "
                 "[{\"a\": .., \"b\": ..}, ..] (the points); not with --param");
  app.add_option("--backend", options.backend,
                 "serial, fork (one process per core), fork:N, mpi (under mpirun), auto (mpi "
                 "under mpirun, else fork)")
      ->capture_default_str();
  app.add_option("--out", options.out,
                 "the output file: CSV, or JSON Lines when it ends in .jsonl (default: CSV on "
                 "stdout); also enables resuming through FILE.checkpoint");
  app.add_option("--parse", options.parse,
                 "last-line: column output = the last non-empty stdout line; json: that line is "
                 "a JSON object whose fields become columns")
      ->check(CLI::IsMember({"last-line", "json"}))
      ->capture_default_str();
  app.add_option("--retries", options.retries,
                 "run a command that exits non-zero again, up to N times (adds column attempts)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--fail-fast", options.fail_fast, "stop at the first failed point");
  app.add_flag("--quiet", options.quiet, "no progress line on stderr");
  app.add_flag("--dry-run", options.dry_run, "print each point's command line and exit");

  int split = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      split = i;
      break;
    }
  }
  for (int i = split + 1; i < argc; ++i) options.command.emplace_back(argv[i]);
  try {
    app.parse(split, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (launcher_rank() == 0) app.exit(e);
    return exit_usage;
  }
  if (options.command.empty()) {
    if (launcher_rank() == 0) {
      report(split == argc ? "no command: give it after --, as in: unipar-sweep --param "
                             "x=1,2 -- ./program --x {x}"
                           : "no command after --");
    }
    return exit_usage;
  }
  if (!options.grid_file.empty() && !options.params.empty()) {
    if (launcher_rank() == 0) report("--grid and --param cannot be combined");
    return exit_usage;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const int status = parse_command_line(argc, argv, options); status >= 0) return status;

  // The grid and every point's command line: every rank builds them (under MPI each rank is
  // its own program), so every rank finds the same usage errors.
  sweep::Grid grid;
  std::vector<std::vector<std::string>> commands;
  try {
    if (!options.grid_file.empty()) {
      grid = sweep::load_grid_file(options.grid_file);
    } else {
      std::vector<sweep::Parameter> parameters;
      for (const auto& spec : options.params) parameters.push_back(sweep::parse_param(spec));
      grid = sweep::product(parameters);
    }
    const sweep::CommandTemplate command(options.command, grid.names);
    commands.reserve(grid.points.size());
    for (const auto& point : grid.points) commands.push_back(command.expand(point));
  } catch (const sweep::UsageError& e) {
    if (launcher_rank() == 0) report(e.what());
    return exit_usage;
  }
  if (options.dry_run) {
    if (launcher_rank() != 0) return exit_ok;
    for (const auto& command : commands) {
      std::string line;
      for (const auto& argument : command) {
        line += (line.empty() ? "" : " ") + sweep::shell_quote(argument);
      }
      std::printf("%s\n", line.c_str());
    }
    return exit_ok;
  }

  std::unique_ptr<unipar::Parallelizer> par;
  try {
    par = unipar::make_parallelizer(options.backend);
  } catch (const unipar::UsageError& e) {
    if (launcher_rank() == 0) report(std::string("--backend ") + options.backend + ": " + e.what());
    return exit_usage;
  }
  const bool on_main = par->on_main();

  const std::string temporary = options.out + ".tmp";
  const std::string checkpoint = options.out.empty() ? "" : options.out + ".checkpoint";
  int status = exit_ok;
  if (on_main && !options.out.empty() && !can_write(temporary)) {
    report("--out " + options.out + ": cannot write " + temporary);
    status = exit_usage;
  }
  if (agree(*par, status) != exit_ok) return exit_usage;

  const sweep::Format format =
      options.out.empty() ? sweep::Format::csv : sweep::format_for(options.out);
  const sweep::RowLayout layout{grid.names, options.parse == "json", options.retries > 0};
  sweep::Table table(layout.lead(), layout.trail());
  // CSV on stdout without --parse json: each row is written as soon as it is delivered (the
  // columns are known from the start). Otherwise the table is written once at the end.
  const bool stream = options.out.empty() && !layout.parse_json;
  if (stream && on_main) {
    sweep::write_header(std::cout, format, table.columns());
    std::cout.flush();
  }

  std::size_t delivered = 0;
  std::size_t failed = 0;
  std::size_t first_failed = 0;
  bool stopped = false;  // by --fail-fast
  const auto on_result = [&](std::size_t index, sweep::RunResult&& result) {
    sweep::Row row = sweep::make_row(layout, grid.points[index], result);
    const bool row_failed = row.failed;
    table.add(std::move(row.lead), row.fields, std::move(row.trail));
    ++delivered;
    if (stream) {
      const auto columns = table.columns();
      sweep::write_row(std::cout, format, columns, table.row(table.size() - 1));
      std::cout.flush();
    }
    if (row_failed) {
      if (failed++ == 0) first_failed = index;
      if (options.fail_fast) {
        stopped = true;
        throw FailFast{};
      }
    }
  };

  unipar::MapOptions map_options;
  map_options.chunk = 1;  // a command costs at least a fork and an exec: balance every point
  map_options.progress = options.quiet ? unipar::Progress::off : unipar::Progress::automatic;
  map_options.label = "unipar-sweep";
  map_options.ordered = true;
  map_options.checkpoint = checkpoint;
  map_options.retries = options.retries;
  const int retries = options.retries;
  try {
    par->map_each(
        [retries](const std::vector<std::string>& command) {
          return sweep::run_with_retries(command, retries);
        },
        commands, on_result, map_options);
  } catch (const unipar::UsageError& e) {
    if (on_main && !stopped) {
      report(e.what());  // e.g. the checkpoint is another sweep's: it says to remove it
      status = exit_usage;
    }
  } catch (const std::exception& e) {
    if (on_main && !stopped) {
      report(std::string("the sweep stopped: ") + e.what());
      status = exit_failed;
    }
  }

  // A usage error of the map (a checkpoint from another sweep) writes nothing and leaves the
  // checkpoint alone.
  if (on_main && status != exit_usage) {
    if (status == exit_ok && failed > 0) status = exit_failed;
    try {
      if (!options.out.empty()) {
        {
          std::ofstream out(temporary, std::ios::trunc);
          sweep::write_table(out, format, table);
          out.close();
          if (!out) throw std::runtime_error("cannot write " + temporary);
        }
        std::filesystem::rename(temporary, options.out);
      } else if (!stream) {
        sweep::write_table(std::cout, format, table);
        std::cout.flush();
      }
      // The checkpoint outlives only a sweep that did not end by itself (killed, or stopped by
      // an error of the library): rerun, it computes only the points without a row.
      if (!checkpoint.empty() && (delivered == commands.size() || stopped)) {
        std::filesystem::remove(checkpoint);
      }
    } catch (const std::exception& e) {
      report(std::string("--out ") + options.out + ": " + e.what());
      status = exit_failed;
    }
    if (failed > 0) {
      report(std::to_string(failed) + " of " + std::to_string(delivered) +
             " points failed (the first is point " + std::to_string(first_failed) + ")" +
             (stopped ? "; --fail-fast stopped the sweep" : ""));
    }
    if (delivered < commands.size()) {
      report(std::to_string(commands.size() - delivered) + " of " +
             std::to_string(commands.size()) + " points have no row" +
             (checkpoint.empty() || stopped ? "" : "; rerun to compute them (" + checkpoint + ")"));
    }
  }
  try {
    return agree(*par, status);
  } catch (const std::exception& e) {
    report(e.what());
    return exit_failed;
  }
}
