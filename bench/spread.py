#!/usr/bin/env python3
"""Spread of the fork backend's speed over repeated program runs, against Open MPI's
shared-memory transport in the same session.

    python3 bench/spread.py --build build-bench --runs 10 [--build-before DIR]

Each run is a fresh program (`unipar_bench_fork latency`, `unipar_bench_fork
broadcast_inplace`, and `mpirun -n 2 unipar_bench_mpi_peer latency|broadcast_inplace`), so a
speed that depends on how a run starts (a spin budget, where the scheduler first puts the
processes) shows as a spread across runs, not within one. Prints min / median / max of each
figure over the runs, and every run's figure. With --build-before, the same for a second build
(e.g. an earlier commit), interleaved run by run so both see the same machine.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys


def figures(command, env=None):
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    out = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "seconds_per_op" in record:
                out[record["name"]] = record["seconds_per_op"]
    return out


def mpi_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def one_run(build, with_mpi):
    fork = os.path.join(build, "bench", "unipar_bench_fork")
    result = {}
    for op in ("latency", "broadcast_inplace"):
        for name, seconds in figures([fork, op]).items():
            result["fork " + name] = seconds
    peer = os.path.join(build, "bench", "unipar_bench_mpi_peer")
    if with_mpi and shutil.which("mpirun") and os.path.exists(peer):
        for op in ("latency", "broadcast_inplace"):
            for name, seconds in figures(["mpirun", "-n", "2", peer, op], mpi_env()).items():
                result["openmpi " + name] = seconds
    return result


def show(seconds):
    return f"{seconds * 1e6:.3f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def report(label, runs):
    print(f"\n{label}: {len(runs)} runs")
    for name in sorted({n for run in runs for n in run}):
        values = [run[name] for run in runs if name in run]
        print(f"  {name:40s} min {show(min(values)):>10s}  median {show(statistics.median(values)):>10s}"
              f"  max {show(max(values)):>10s}   all: " + ", ".join(show(v) for v in values))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build-bench")
    parser.add_argument("--build-before", help="a second build to measure run by run beside it")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    after, before = [], []
    for i in range(args.runs):
        if args.build_before:
            before.append(one_run(args.build_before, with_mpi=False))
        after.append(one_run(args.build, with_mpi=True))
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    if args.build_before:
        report(f"before ({args.build_before})", before)
    report(f"after ({args.build})", after)


if __name__ == "__main__":
    main()
