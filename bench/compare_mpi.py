#!/usr/bin/env python3
"""unipar's MPI backend against raw MPI and Boost.MPI: runs unipar_bench_mpi (bench/mpi_backend.cpp)
under mpirun with 2 and 4 ranks and prints a markdown table with the ratios unipar/raw MPI and
unipar/Boost.MPI, and the goals.

    python3 bench/compare_mpi.py --build build-bench [--rounds 1] [--json mpi.jsonl]

(`python3 bench/compare.py --build build-bench --mpi` prints the same table after the fork
backend's.) Every contender runs inside the same mpirun job as the others, on the same bytes,
taking turns. A figure is, per repetition, the maximum over ranks of each rank's time (a barrier
before every repetition), and then the median over the repetitions; with --rounds > 1 the lowest
median over the rounds is kept. 4 ranks on a 2-core machine are oversubscribed (--oversubscribe);
the map job's ideal then divides the work by the cores, not by the ranks.
"""
import argparse
import json
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/ for the import below
from compare import json_lines, machine, mpi_env, run, show_time, verdict  # noqa: E402

PROGRAM = "unipar_bench_mpi"
RANKS = (2, 4)


def command(build, procs, *args):
    program = os.path.join(build, "bench", PROGRAM)
    mpirun = shutil.which("mpirun")
    if mpirun is None or not os.path.exists(program):
        return None
    oversubscribe = ["--oversubscribe"] if procs > (os.cpu_count() or 1) else []
    return [mpirun, "-n", str(procs), *oversubscribe, program, *args]


class Results:
    """The lowest median of every (impl, name, procs) over all rounds, with its record."""

    def __init__(self):
        self.records = {}
        self.raw = []
        self.boost_mpi = None

    def add(self, record):
        self.raw.append(record)
        if "info" in record:
            self.boost_mpi = bool(record.get("boost_mpi")) or bool(self.boost_mpi)
            return
        key = (record["impl"], record["name"], record["procs"])
        best = self.records.get(key)
        if best is None or record["median"] < best["median"]:
            self.records[key] = record

    def time(self, impl, name, procs):
        record = self.records.get((impl, name, procs))
        return record["median"] if record else None

    def record(self, impl, name, procs):
        return self.records.get((impl, name, procs))


def collect(build, rounds, results):
    """Runs the program `rounds` times at every size; returns False when it is not built."""
    if command(build, 2) is None:
        print(f"{build}/bench/{PROGRAM} (or mpirun) not found: build with MPI and "
              "-DUNIPAR_BUILD_BENCH=ON", file=sys.stderr)
        return False
    for _ in range(rounds):
        for procs in RANKS:
            # map: 3 repetitions with 2 ranks, 1 with 4 (oversubscribed, only a sanity check).
            map_reps = "3" if procs <= (os.cpu_count() or 1) else "1"
            for record in json_lines(run(command(build, procs, "all", "--map-reps", map_reps),
                                         env=mpi_env(), timeout=600)):
                results.add(record)
    return True


def ratio_text(mine, peer, digits=2):
    return f"{mine / peer:.{digits}f}" if mine and peer else "—"


def table(results):
    t = results.time
    rows = []

    # a. 8 bytes: an absolute goal, within 0.3 us of raw MPI.
    labels = {"broadcast_8B": "8 B `broadcast(double)` vs `MPI_Bcast`",
              "scatter_8B": "8 B `scatter` (one double per rank) vs `MPI_Scatter`",
              "gather_8B": "8 B `gather(double)` vs `MPI_Gather`"}
    for name, label in labels.items():
        for procs in RANKS:
            mine, raw = t("unipar-mpi", name, procs), t("openmpi", name, procs)
            diff = (mine - raw) * 1e6 if mine and raw else None
            rows.append([label, str(procs), show_time(mine), show_time(raw), "—",
                         ratio_text(mine, raw) + (f" ({diff:+.2f} µs)" if diff is not None else ""),
                         "—", "≤ raw + 0.3 µs", verdict(diff <= 0.3 if diff is not None else None)])

    # b. 64 MiB: within 5% of raw MPI doing the same job.
    labels = {"broadcast_inplace_64MiB":
              "64 MiB `broadcast_inplace` vs `MPI_Bcast` (both preallocated)",
              "broadcast_64MiB": "64 MiB `broadcast` → fresh vector vs size + `MPI_Bcast`",
              "scatter_64MiB": "64 MiB `scatter` → fresh blocks vs `MPI_Scatter` counts + "
                               "`MPI_Scatterv`",
              "gather_blocks_64MiB": "64 MiB `gather_blocks` → fresh vector vs `MPI_Gather` "
                                     "counts + `MPI_Gatherv`"}
    for name, label in labels.items():
        for procs in RANKS:
            mine, raw = t("unipar-mpi", name, procs), t("openmpi", name, procs)
            boost = t("boost-mpi", name, procs)
            ratio = mine / raw if mine and raw else None
            rows.append([label, str(procs), show_time(mine), show_time(raw), show_time(boost),
                         ratio_text(mine, raw), ratio_text(mine, boost), "≤ 1.05× raw",
                         verdict(ratio <= 1.05 if ratio else None)])

    # c. the same broadcast of 8M doubles, against Boost.MPI too.
    for procs in RANKS:
        mine, raw = t("unipar-mpi", "broadcast_64MiB", procs), t("openmpi", "broadcast_64MiB", procs)
        boost = t("boost-mpi", "broadcast_64MiB", procs)
        ratio = mine / raw if mine and raw else None
        note = f"; Boost.MPI/raw {boost / raw:.2f}×" if boost and raw else ""
        rows.append(["8M doubles (64 MiB): `broadcast` → fresh vector vs raw vs "
                     "`boost::mpi::broadcast` (the `broadcast` rows above)" + note, str(procs), show_time(mine),
                     show_time(raw), show_time(boost), ratio_text(mine, raw),
                     ratio_text(mine, boost), "≤ 1.10× raw", verdict(ratio <= 1.10 if ratio else None)])

    # d. a map of 64 vectors: within 3x of raw's best case, 2.5x faster than Boost.MPI.
    for procs in RANKS:
        mine = t("unipar-mpi", "broadcast_map_64MiB", procs)
        raw, boost = t("openmpi", "broadcast_map_64MiB", procs), t("boost-mpi", "broadcast_map_64MiB", procs)
        met = None
        if mine and raw:
            met = mine <= 3 * raw and (boost is None or boost >= 2.5 * mine)
        rows.append(["`broadcast` of a `std::map<std::string, std::vector<double>>`, 64 keys × "
                     "131072 doubles, vs raw pre-flattened bytes into a preallocated buffer (best "
                     "case) vs Boost.MPI", str(procs), show_time(mine), show_time(raw), show_time(boost),
                     ratio_text(mine, raw), ratio_text(mine, boost),
                     "≤ 3× raw and ≤ 0.40× Boost.MPI", verdict(met)])

    # e. map of uneven items: within 10% of the ideal; the raw column is a static split.
    for layout, description in (("front", "slow items all in the first quarter"),
                                ("spread", "slow items every 100th")):
        for procs in RANKS:
            record = results.record("unipar-mpi", f"map_uneven_{layout}", procs)
            static = t("openmpi-static", f"map_uneven_{layout}", procs)
            if not record:
                continue
            mine, ideal = record["median"], record["ideal_seconds"]
            divisor = record["ideal_divisor"]
            over = f"{mine / ideal:.2f}× ideal" if ideal else "—"
            rows.append([f"`map`, 10^5 items of 10 µs, 1% of 1 ms ({description}) vs a static "
                         f"split; ideal = {record['total_work_seconds']:.2f} s of work / "
                         f"{divisor} cores = {show_time(ideal)}" +
                         (" (more ranks than cores: each item spins on its thread's CPU-time "
                          "clock)" if procs > divisor else ""),
                         str(procs), show_time(mine), show_time(static), "—",
                         ratio_text(mine, static), "—", f"≤ 1.10× ideal: {over}",
                         verdict(mine <= 1.10 * ideal if ideal else None)])

    header = ["measurement", "ranks", "unipar mpi", "raw MPI", "Boost.MPI", "unipar/raw",
              "unipar/Boost.MPI", "goal", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(results, rounds, seconds=None):
    took = f"{seconds:.0f} s in all" if seconds is not None else "from a saved run"
    text = [f"MPI backend: median over repetitions of the max over ranks; best of {rounds} "
            f"round(s); {took}."]
    if results.boost_mpi is False:
        text.append("(built without Boost.MPI: its column is empty)")
    return "\n".join(text) + "\n\n" + table(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="the CMake build directory")
    parser.add_argument("--rounds", type=int, default=1, help="how often to run every size")
    parser.add_argument("--json", help="also write every raw result line to this file")
    parser.add_argument("--from-json", metavar="FILE",
                        help="print the table of a saved --json file instead of running")
    args = parser.parse_args()

    results = Results()
    if args.from_json:
        with open(args.from_json) as saved:
            for record in json_lines(saved):
                results.add(record)
        print(report(results, args.rounds))
        return
    start_machine = machine()
    start = time.time()
    if not collect(args.build, args.rounds, results):
        sys.exit(1)
    if args.json:
        with open(args.json, "w") as out:
            for record in results.raw:
                out.write(json.dumps(record) + "\n")
    print(f"Machine: {start_machine} at start; load average {os.getloadavg()[0]:.2f} at the end.")
    print(report(results, args.rounds, time.time() - start))


if __name__ == "__main__":
    main()
