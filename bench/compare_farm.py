#!/usr/bin/env python3
"""Runs the task farm's benchmarks in one go and prints markdown tables of ratios: unipar's map
and map_each against the ideal schedule, against the library before the farm, against a plain C
fork program and against Python's process pools, each figure measured in this same run.

    python3 bench/compare_farm.py --build build-bench [--old-trivial PATH] [--json farm.jsonl]

Runs (mpirun as root with OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1, and with
--oversubscribe when there are more ranks than cores):
    unipar_bench_farm uneven --backend fork:2 --reps 3         (and uneven_random --seed 3)
    unipar_bench_farm first_result --backend fork:2 --reps 3
    mpirun -n 2 unipar_bench_farm uneven --backend mpi --reps 3 (and uneven_random --seed 3)
    mpirun -n 2 unipar_bench_farm first_result --backend mpi --reps 3
    mpirun -n 4 --oversubscribe unipar_bench_farm uneven --backend mpi --reps 1
    unipar_bench_farm pi --backend fork:2 --reps 1  } taking turns, --pi-rounds times; each times
    unipar_bench_pi_fork_peer --reps 1              } its serial run, then its fork run
    unipar_bench_farm_trivial, --trivial-runs times, alternating with the --old-trivial program
        (the same source built against the library before the farm) when given
    farm_python_peer.py --reps 3 --trivial-items N  with a Python that has joblib (Debian's
        python3-joblib is for /usr/bin/python3)
    unipar_bench_farm_trivial --items N             unipar's figure beside Python's
Figures are medians over the repetitions (spread: min-max). Every part also says how many cores
other jobs kept busy while it ran. --from-json reprints a saved run. About 4 minutes on 2 cores.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from compare import cpu_and_kernel  # bench/ is on the path: the script runs from there

HERE = os.path.dirname(os.path.abspath(__file__))


def busy_cpu_seconds():
    """CPU time the whole machine has spent busy since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command, env=None, timeout=900):
    """Runs a command; returns its JSON records ([] with a note on stderr when it failed).

    Each record gets "others_cores": the CPU time the rest of the machine used while the
    command ran (all busy time less the command's own processes'), over its wall time, i.e.
    how many cores other jobs kept busy on average. (The load average cannot tell: the
    benchmark's own spinning processes raise it.)"""
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    busy, mine, start = busy_cpu_seconds(), children_cpu_seconds(), time.time()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"  failed: {error}", file=sys.stderr)
        return []
    others = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - mine)
    others_cores = max(0.0, others) / max(time.time() - start, 1e-9)
    if done.returncode != 0:
        print(f"  exit code {done.returncode}: {done.stderr.strip()[-2000:]}", file=sys.stderr)
        return []  # a wrong result makes the program fail: none of its figures count
    records = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            records.append(dict(json.loads(line), others_cores=others_cores))
    return records


def mpi_env():
    env = dict(os.environ)
    if os.geteuid() == 0:  # Open MPI refuses root without these
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def mpirun(procs, program, *args):
    launcher = shutil.which("mpirun")
    if launcher is None:
        return None
    oversubscribe = ["--oversubscribe"] if procs > (os.cpu_count() or 1) else []
    return [launcher, "-n", str(procs), *oversubscribe, program, *args]


def python_with(module):
    """This Python when it can import `module`, else the system one when that can (Debian's
    python3-* packages are for /usr/bin/python3), else None."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        if candidate and os.path.exists(candidate):
            probe = subprocess.run([candidate, "-c", f"import {module}"], capture_output=True)
            if probe.returncode == 0:
                return candidate
    return None


def python_with_joblib():
    """A Python with joblib (see python_with), else this one (the joblib peer is then skipped)."""
    return python_with("joblib") or sys.executable


def tag(records, **fields):
    for record in records:
        record.update(fields)
    return records


def collect(args):
    bench = os.path.join(args.build, "bench")
    farm = os.path.join(bench, "unipar_bench_farm")
    trivial = os.path.join(bench, "unipar_bench_farm_trivial")
    peer = os.path.join(bench, "unipar_bench_pi_fork_peer")
    records = []
    reps = str(args.reps)

    # 1 and 4: uneven lists and map_each's first result.
    records += tag(run([farm, "uneven", "--backend", "fork:2", "--reps", reps]), run="fork:2")
    records += tag(run([farm, "first_result", "--backend", "fork:2", "--reps", reps]),
                   run="fork:2")
    # The random place of the slow item, a second time with another seed: seed 2026 puts it at
    # item 1988 (late: no farm that starts items in input order can come near the ideal), 3 at
    # item 710.
    records += tag(run([farm, "uneven_random", "--seed", "3", "--backend", "fork:2", "--reps",
                        reps]), run="fork:2")
    for procs, what in ((2, ["uneven"]), (2, ["uneven_random", "--seed", "3"]),
                        (2, ["first_result"]), (4, ["uneven"])):
        count = reps if procs <= (os.cpu_count() or 1) else "1"
        command = mpirun(procs, farm, *what, "--backend", "mpi", "--reps", count)
        if command:
            records += tag(run(command, env=mpi_env()), run=f"mpirun -n {procs}")

    # 3: Monte Carlo pi, unipar and the C program taking turns.
    for _ in range(args.pi_rounds):
        records += tag(run([farm, "pi", "--backend", "fork:2", "--reps", "1"]), run="fork:2")
        if os.path.exists(peer):
            records += tag(run([peer, "--reps", "1"]), run="fork:2")

    # 2: the trivial map, before and after the farm, alternating.
    for _ in range(args.trivial_runs):
        if args.old_trivial:
            records += tag(run([args.old_trivial, "--impl", "unipar-fork-old"]), run="old")
        records += tag(run([trivial, "--impl", "unipar-fork"]), run="new")

    # 5: Python's pools on the same workloads.
    python = python_with_joblib()
    records += tag(run([python, os.path.join(HERE, "farm_python_peer.py"), "--reps", reps,
                        "--trivial-items", str(args.python_trivial_items)]), run="python")
    if args.python_trivial_items != 1_000_000:
        records += tag(run([trivial, "--items", str(args.python_trivial_items)]), run="new")
    return records


# ---- the tables ----------------------------------------------------------------------------------

def show_time(seconds):
    if seconds is None:
        return "—"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.3f} s"


def verdict(met):
    return "—" if met is None else ("**yes**" if met else "**no**")


def spread(values):
    return f"{show_time(min(values))}–{show_time(max(values))}"


def find(records, impl, name, run=None):
    for record in records:
        if record.get("impl") == impl and record.get("name") == name and \
                (run is None or record.get("run") == run):
            return record
    return None


def uneven_table(records):
    lines = ["| workload | run | median (min–max) | ideal | median / ideal | in-order bound | "
             "median / bound | goal ≤ 1.05× ideal |", "|" + "---|" * 8]
    labels = {
        "uneven_first": "1 × 1 s first, then 2000 × 1 ms",
        "uneven_random": "1 × 1 s at a random place among 2000 × 1 ms",
        "uneven_ten": "10 × 100 ms at random places among 2000 × 1 ms",
        "flat": "2000 × 1 ms",
    }
    for name, label in labels.items():
        for run_name in ("fork:2", "mpirun -n 2", "mpirun -n 4"):
            impl = "unipar-fork" if run_name == "fork:2" else "unipar-mpi"
            for record in records:
                if (record.get("impl"), record.get("name"), record.get("run")) != \
                        (impl, name, run_name):
                    continue
                lines.append(uneven_row(record, name, label, run_name))
    return "\n".join(lines)


def uneven_row(record, name, label, run_name):
    median = record["median"]
    ideal, bound = record["ideal_seconds"], record["in_order_bound"]
    where = f" (item {', '.join(str(p) for p in record['slow_at'])})" \
        if name in ("uneven_random", "uneven_ten") else ""
    note = run_name
    if record.get("work_clock") == "thread CPU time":
        note += " (2 cores oversubscribed; items spin on CPU time; reported)"
    return (f"| {label}{where} | {note} | {show_time(median)} ({spread(record['all'])}) | "
            f"{show_time(ideal)} | {median / ideal:.3f} | {show_time(bound)} | "
            f"{median / bound:.3f} | {verdict(median <= 1.05 * ideal)} |")


def first_result_table(records):
    lines = ["| `map_each`, 200 items × 10 ms | run | first result: median (min–max) | "
             "half delivered | last delivered | call returns | goal: first ≤ 20 ms |",
             "|" + "---|" * 7]
    for name, label in (("first_result", "completion order"),
                        ("first_result_ordered", "input order (`ordered`)")):
        for run_name in ("fork:2", "mpirun -n 2"):
            impl = "unipar-fork" if run_name == "fork:2" else "unipar-mpi"
            record = find(records, impl, name, run_name)
            if not record:
                continue
            first = record["median"]
            lines.append(f"| {label} | {run_name} | {show_time(first)} ({spread(record['all'])})"
                         f" | {show_time(record['half_delivered_median'])} | "
                         f"{show_time(record['last_delivered_median'])} | "
                         f"{show_time(record['call_median'])} | "
                         f"{verdict(first <= 2 * record['item_seconds'])} |")
    return "\n".join(lines)


def pi_table(records):
    """Each program run times its serial run and then its fork run; its speedup is the ratio of
    the two (adjacent in time, so a slow phase of the machine mostly hits both); the table gives
    the median over the runs, and the median times."""
    unipar = [r for r in records if r.get("impl") == "unipar-fork" and r.get("name") == "pi"]
    c_serial = [r for r in records if r.get("impl") == "c-fork" and r.get("name") == "pi_serial"]
    c_fork = [r for r in records if r.get("impl") == "c-fork" and r.get("name") == "pi_fork"]
    if not unipar:
        return "(no Monte Carlo pi figures)"
    u_serial = [s for r in unipar for s in r["serial_all"]]
    u_fork = [s for r in unipar for s in r["all"]]
    u_speedups = [r["serial_median"] / r["median"] for r in unipar]
    u_speedup = statistics.median(u_speedups)
    hits = {r["hits"] for r in unipar} | {r["hits"] for r in c_serial + c_fork}
    lines = ["| Monte Carlo π, 2×10^8 points, 64 tasks | runs | serial: median (min–max) | "
             "fork:2: median (min–max) | speedup: median (min–max) | "
             "unipar speedup / C speedup | goal ≥ 0.97 |",
             "|" + "---|" * 7,
             f"| unipar `map`: serial backend, then fork:2 | {len(unipar)} | "
             f"{show_time(statistics.median(u_serial))} ({spread(u_serial)}) | "
             f"{show_time(statistics.median(u_fork))} ({spread(u_fork)}) | "
             f"{u_speedup:.3f}× ({min(u_speedups):.3f}–{max(u_speedups):.3f}) | | |"]
    if c_serial and c_fork and len(c_serial) == len(c_fork):
        s_all = [r["median"] for r in c_serial]
        f_all = [r["median"] for r in c_fork]
        c_speedups = [s / f for s, f in zip(s_all, f_all)]
        c_speedup = statistics.median(c_speedups)
        ratio = u_speedup / c_speedup
        lines.append(f"| C: one loop, then fork + shared atomic counter (`pi_fork_peer.c`) | "
                     f"{len(c_fork)} | {show_time(statistics.median(s_all))} ({spread(s_all)}) | "
                     f"{show_time(statistics.median(f_all))} ({spread(f_all)}) | "
                     f"{c_speedup:.3f}× ({min(c_speedups):.3f}–{max(c_speedups):.3f}) | "
                     f"{ratio:.3f} | {verdict(ratio >= 0.97)} |")
    estimate = unipar[0]["pi"]
    lines.append("")
    lines.append(f"Hit counts: {'all equal' if len(hits) == 1 else 'DIFFER: ' + str(hits)} "
                 f"({', '.join(str(h) for h in sorted(hits))}); π ≈ {estimate:.6f} "
                 f"(error {abs(estimate - 3.141592653589793):.1e}).")
    return "\n".join(lines)


def trivial_table(records):
    new = [r["median"] for r in records
           if r.get("impl") == "unipar-fork" and r.get("name") == "map_trivial_1e6"]
    old = [r["median"] for r in records
           if r.get("impl") == "unipar-fork-old" and r.get("name") == "map_trivial_1e6"]
    if not new:
        return "(no trivial-map figures)"
    lines = ["| trivial `map`, 10^6 doubles, fork:2, per item (fork included) | runs | "
             "median of the runs' medians | spread (min–max) | new / old | goal ≤ 1.00 |",
             "|" + "---|" * 6]
    if old:
        lines.append(f"| before the farm (`77f5779`) | {len(old)} | "
                     f"{show_time(statistics.median(old))} | {spread(old)} | | |")
    ratio = statistics.median(new) / statistics.median(old) if old else None
    lines.append(f"| task farm | {len(new)} | {show_time(statistics.median(new))} | "
                 f"{spread(new)} | {f'{ratio:.2f}' if ratio else '—'} | "
                 f"{verdict(ratio <= 1.0 if ratio else None)} |")
    return "\n".join(lines)


def python_table(records, trivial_items):
    trivial_name = "map_trivial_1e6" if trivial_items == 1_000_000 else \
        f"map_trivial_{trivial_items}"
    unipar = {
        "trivial": find(records, "unipar-fork", trivial_name, "new"),
        "flat": find(records, "unipar-fork", "flat", "fork:2"),
        "uneven_first": find(records, "unipar-fork", "uneven_first", "fork:2"),
    }
    peers = ["pool-imap", "pool-imap-unordered", "executor-map", "joblib"]
    labels = {"trivial": f"trivial 2x+1, {trivial_items:,} floats, per item",
              "flat": "2000 × 1 ms", "uneven_first": "1 × 1 s first, then 2000 × 1 ms"}
    header = ["workload", "unipar fork:2"] + [f"`{p}`" for p in peers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload, label in labels.items():
        mine = unipar[workload]["median"] if unipar[workload] else None
        cells = [label, show_time(mine)]
        for peer in peers:
            record = find(records, "python-" + peer, workload)
            if not record:
                cells.append("—")
                continue
            theirs = record["median"]
            ratio = f" (**{theirs / mine:.1f}×**)" if mine else ""
            cells.append(show_time(theirs) + ratio)
        lines.append("| " + " | ".join(cells) + " |")
    versions = {r.get("python") for r in records if r.get("run") == "python"}
    lines.append("")
    lines.append(f"Python {', '.join(sorted(v for v in versions if v))}; in parentheses: Python's "
                 "time / unipar's (above 1: unipar is faster).")
    return "\n".join(lines)


def load_note(records, keep):
    others = [r["others_cores"] for r in records if "others_cores" in r and keep(r)]
    if not others:
        return ""
    return f"Other jobs on the machine while this part ran: {min(others):.2f}–" \
           f"{max(others):.2f} cores busy on average per program."


def report(records, args, seconds, loads):
    def impl_is(*prefixes):
        return lambda r: r.get("impl", "").startswith(prefixes)

    uneven_names = ("uneven_first", "uneven_random", "uneven_ten", "flat")
    parts = [f"Machine: {cpu_and_kernel()}; load average (1 min) {loads[0]:.2f} at the start, "
             f"{loads[1]:.2f} at the end; {seconds:.0f} s in all.", "",
             "**Uneven lists (`map`)**", "", uneven_table(records), "",
             load_note(records, lambda r: r.get("name") in uneven_names), "",
             "**First result of `map_each`**", "", first_result_table(records), "",
             load_note(records, lambda r: str(r.get("name", "")).startswith("first_result")), "",
             "**Monte Carlo π: speedup against a plain C fork program**", "", pi_table(records),
             load_note(records, lambda r: str(r.get("name", "")).startswith("pi")), "",
             "**Trivial map: cost per item before and after the task farm**", "",
             trivial_table(records), "",
             load_note(records, lambda r: r.get("name") == "map_trivial_1e6"), "",
             "**Python's process pools on the same workloads**", "",
             python_table(records, args.python_trivial_items),
             load_note(records, impl_is("python-"))]
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build-bench", help="the CMake build directory")
    parser.add_argument("--old-trivial", help="unipar_bench_farm_trivial built against the "
                        "library before the farm (see docs/benchmarks.md)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each call")
    parser.add_argument("--pi-rounds", type=int, default=7,
                        help="turns of the unipar and C pi programs")
    parser.add_argument("--trivial-runs", type=int, default=10,
                        help="runs of each trivial-map program, alternating old and new")
    parser.add_argument("--python-trivial-items", type=int, default=50_000,
                        help="items of the trivial map for the Python peers (and unipar's "
                        "figure beside them); their default chunk of one item makes 10^6 take "
                        "minutes")
    parser.add_argument("--json", help="also write every raw record to this file")
    parser.add_argument("--from-json", help="reprint the tables of a saved run")
    args = parser.parse_args()

    if args.from_json:
        with open(args.from_json) as saved:
            records = [json.loads(line) for line in saved if line.strip()]
        meta = next((r for r in records if r.get("meta")), {})
        print(report(records, args, meta.get("seconds", 0), meta.get("loads", (0, 0))))
        return
    if not os.path.exists(os.path.join(args.build, "bench", "unipar_bench_farm")):
        sys.exit(f"{args.build}/bench/unipar_bench_farm not found: build it with "
                 "-DUNIPAR_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release")
    start_load = os.getloadavg()[0]
    start = time.time()
    records = collect(args)
    seconds = time.time() - start
    loads = (start_load, os.getloadavg()[0])
    if args.json:
        with open(args.json, "w") as out:
            out.write(json.dumps({"meta": True, "seconds": seconds, "loads": loads}) + "\n")
            for record in records:
                out.write(json.dumps(record) + "\n")
    print(report(records, args, seconds, loads))


if __name__ == "__main__":
    main()
