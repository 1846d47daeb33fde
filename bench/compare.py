#!/usr/bin/env python3
"""Runs every benchmark in one go and prints a markdown table: unipar's fork backend against its
peers (raw Open MPI, memcpy, Python multiprocessing), with ratios and the goals.

    python3 bench/compare.py --build build-bench [--rounds 3] [--json results.jsonl] [--mpi]

With --mpi it then also runs the MPI backend's benchmark (unipar_bench_mpi against raw MPI and
Boost.MPI, once per size) and prints its table too: see bench/compare_mpi.py, which runs that part
alone.

Each program runs --rounds times; for every figure the best (minimum) over all rounds and all
repetitions inside a round is kept, since on a shared machine noise only ever adds time.
Needs the build to have unipar_bench_fork, and for the peers unipar_bench_mpi_peer (+ mpirun),
unipar_bench_memcpy (Google Benchmark) and python3.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def run(command, env=None, timeout=900):
    """Runs a command; returns its stdout lines, or [] (with a note on stderr) if it failed."""
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"  failed: {error}", file=sys.stderr)
        return []
    if done.returncode != 0:
        print(f"  exit code {done.returncode}: {done.stderr.strip()[-2000:]}", file=sys.stderr)
    return done.stdout.splitlines()


def json_lines(lines):
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            yield json.loads(line)


class Results:
    """The best figure of every (impl, name, procs) over all rounds."""

    def __init__(self):
        self.times = {}
        self.rss = {}
        self.raw = []

    def add(self, record):
        self.raw.append(record)
        key = (record["impl"], record["name"], record["procs"])
        if "peak_kib" in record:
            extra = [p - b for p, b in zip(record["peak_kib"], record["baseline_kib"])]
            best = self.rss.get(key)
            if best is None or max(extra) < max(best["extra_kib"]):
                self.rss[key] = dict(record, extra_kib=extra)
        else:
            best = self.times.get(key)
            if best is None or record["seconds_per_op"] < best:
                self.times[key] = record["seconds_per_op"]

    def time(self, impl, name, procs):
        return self.times.get((impl, name, procs))


def mpirun_command(build, procs, op):
    peer = os.path.join(build, "bench", "unipar_bench_mpi_peer")
    mpirun = shutil.which("mpirun")
    if mpirun is None or not os.path.exists(peer):
        return None
    oversubscribe = ["--oversubscribe"] if procs > (os.cpu_count() or 1) else []
    return [mpirun, "-n", str(procs), *oversubscribe, peer, op]


def mpi_env():
    env = dict(os.environ)
    if os.geteuid() == 0:  # Open MPI refuses root without these
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def one_round(build, results):
    fork = os.path.join(build, "bench", "unipar_bench_fork")
    for record in json_lines(run([fork, "all"])):
        results.add(record)
    for procs in (2, 4):
        for record in json_lines(run([fork, "rss", "--procs", str(procs)])):
            results.add(record)

    for procs, op in ((2, "all"), (4, "broadcast_gather"), (15, "broadcast_gather"),
                      (2, "rss"), (4, "rss")):
        command = mpirun_command(build, procs, op)
        if command:
            for record in json_lines(run(command, env=mpi_env())):
                results.add(record)

    memcpy = os.path.join(build, "bench", "unipar_bench_memcpy")
    if os.path.exists(memcpy):
        lines = run([memcpy, "--benchmark_format=json", "--benchmark_repetitions=5"])
        try:
            report = json.loads("\n".join(lines))
        except json.JSONDecodeError:
            report = {"benchmarks": []}
        for bench in report["benchmarks"]:
            if bench.get("run_type") != "iteration":
                continue
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[bench["time_unit"]]
            name = bench["run_name"].split("/")[0]  # "memcpy_warm/real_time"
            results.add({"impl": "memcpy", "name": name, "procs": 1,
                         "seconds_per_op": bench["real_time"] * scale, "bytes": 64 * MIB})

    for record in json_lines(run([sys.executable, os.path.join(HERE, "python_peer.py")])):
        results.add(record)


def show_time(seconds):
    if seconds is None:
        return "—"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def show_bandwidth(seconds, nbytes):
    return f"{show_time(seconds)} ({nbytes / seconds / 1e9:.1f} GB/s)" if seconds else "—"


def verdict(met):
    return "—" if met is None else ("**yes**" if met else "**no**")


def table(results):
    rows = []
    t = results.time

    def versus(label, name, procs, peer_label, peer_impl="openmpi", peer_name=None,
               large=False, ceiling=None):
        mine = t("unipar-fork", name, procs)
        peer = t(peer_impl, peer_name or name, procs)
        ratio = mine / peer if mine and peer else None
        show = (lambda s: show_bandwidth(s, 64 * MIB)) if large else show_time
        over_ceiling = ""
        if ceiling and mine and t("memcpy", ceiling, 1):
            over_ceiling = f"{mine / t('memcpy', ceiling, 1):.2f}× {ceiling}"
        rows.append([label, show(mine), f"{peer_label}: {show(peer)}",
                     f"{ratio:.2f}" if ratio else "—", "≤ 1.00",
                     verdict(ratio <= 1.0 if ratio else None), over_ceiling])

    versus("8 B send→receive, one-way (ping-pong / 2), 2 procs", "send_receive_8B", 2,
           "MPI_Send/MPI_Recv")
    for procs in (2, 4, 15):
        versus(f"8 B broadcast then gather, {procs} procs", "broadcast_gather_8B", procs,
               "MPI_Bcast+MPI_Gather")
    versus("64 MiB `broadcast_inplace`, 2 procs", "broadcast_inplace_64MiB", 2,
           "MPI_Bcast, preallocated", large=True, ceiling="memcpy_warm")
    versus("64 MiB `broadcast` → fresh vector, 2 procs", "broadcast_64MiB", 2,
           "size + MPI_Bcast into new vector", large=True, ceiling="memcpy_fresh")
    versus("64 MiB `scatter` → fresh blocks, 2 procs", "scatter_64MiB", 2,
           "MPI_Scatter sizes + MPI_Scatterv into new vectors", large=True)
    versus("64 MiB `gather_blocks` → fresh vector, 2 procs", "gather_blocks_64MiB", 2,
           "MPI_Gather sizes + MPI_Gatherv into new vector", large=True)

    # map: an absolute goal per item; Python's Pool.map is the peer.
    mine = t("unipar-fork", "map_trivial_1e6", 2)
    peer = t("python-multiprocessing", "map_trivial_1e6", 2)
    serial = t("unipar-serial", "map_trivial_1e6", 1)
    rows.append(["`map` of a trivial function, 10^6 doubles, fork:2, per item incl. fork",
                 show_time(mine), f"Python Pool(2).map: {show_time(peer)}",
                 f"{mine / peer:.3f}" if mine and peer else "—", "≤ 0.05 µs/item",
                 verdict(mine <= 0.05e-6 if mine else None),
                 f"serial map: {show_time(serial)}/item" if serial else ""])

    one, two = t("unipar-fork", "monte_carlo_pi_2e8", 1), t("unipar-fork", "monte_carlo_pi_2e8", 2)
    speedup = one / two if one and two else None
    rows.append(["Monte Carlo π, 2×10^8 samples in 400 `map` tasks: speedup fork:2 / fork:1",
                 f"{speedup:.2f}×" if speedup else "—",
                 f"fork:1 {show_time(one)}, fork:2 {show_time(two)}", "—", "≥ 1.90×",
                 verdict(speedup >= 1.9 if speedup else None), ""])

    for name in ("memcpy_warm", "memcpy_fresh"):
        rows.append([f"ceiling: {name} of 64 MiB, 1 process", show_bandwidth(t("memcpy", name, 1),
                     64 * MIB), "—", "—", "—", "—", ""])

    for procs in (2, 4):
        mine = results.rss.get(("unipar-fork", "broadcast_64MiB_rss", procs))
        peer = results.rss.get(("openmpi", "broadcast_64MiB_rss", procs))

        def describe(record):
            if not record:
                return "—"
            peaks = record["peak_kib"]
            extra = record["extra_kib"]
            return (f"root {peaks[0] / 1024:.0f} MiB, others ≤ {max(peaks[1:]) / 1024:.0f} MiB; "
                    f"growth ≤ {max(extra) / 1024:.0f} MiB")

        worst = max(mine["extra_kib"]) * 1024 if mine else None
        rows.append([f"peak RSS, 64 MiB `broadcast` (value form), {procs} procs", describe(mine),
                     f"Open MPI (size + Bcast into new vector): {describe(peer)}",
                     f"{max(mine['extra_kib']) / max(peer['extra_kib']):.2f}" if mine and peer
                     else "—",
                     "growth ≤ 2 × 64 MiB (payload + one staging copy)",
                     verdict(worst <= 2 * 64 * MIB if worst else None), ""])

    header = ["measurement", "unipar fork", "peer", "ratio unipar/peer", "goal", "met",
              "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_and_kernel():
    """The machine in a few words: cores, CPU model and kernel (compare_farm.py uses it too)."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def machine():
    return f"{cpu_and_kernel()}, load average {os.getloadavg()[0]:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="the CMake build directory")
    parser.add_argument("--rounds", type=int, default=3, help="how often to run every program")
    parser.add_argument("--json", help="also write every raw result line to this file")
    parser.add_argument("--mpi", action="store_true",
                        help="also benchmark the MPI backend (bench/compare_mpi.py)")
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.build, "bench", "unipar_bench_fork")):
        sys.exit(f"{args.build}/bench/unipar_bench_fork not found: build with "
                 "-DUNIPAR_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release")

    start_machine = machine()
    start = time.time()
    results = Results()
    for _ in range(args.rounds):
        one_round(args.build, results)
    if args.json:
        with open(args.json, "w") as out:
            for record in results.raw:
                out.write(json.dumps(record) + "\n")

    print(f"Machine: {start_machine} at start; load average {os.getloadavg()[0]:.2f} at the end.")
    print(f"Best of {args.rounds} rounds; {time.time() - start:.0f} s in all.\n")
    print(table(results))

    if args.mpi:
        sys.dont_write_bytecode = True
        import compare_mpi  # beside this file

        mpi_start = time.time()
        mpi_results = compare_mpi.Results()
        if compare_mpi.collect(args.build, 1, mpi_results):
            if args.json:
                with open(args.json, "a") as out:
                    for record in mpi_results.raw:
                        out.write(json.dumps(record) + "\n")
            print()
            print(compare_mpi.report(mpi_results, 1, time.time() - mpi_start))


if __name__ == "__main__":
    main()
