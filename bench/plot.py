#!/usr/bin/env python3
"""Draws the pictures of docs/benchmarks.md ("Pictures"): runs the benchmark programs, saves their
raw records as JSON under docs/plots/data/, and draws SVGs from them under docs/plots/.

    python3 bench/plot.py --build build-bench [--rounds 2] [--plots speedup,bandwidth,map]
    python3 bench/plot.py --from-data          # redraw every plot from docs/plots/data/*.json

The plots, and what each runs (as root mpirun gets OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1, and --oversubscribe for more ranks than cores):
  speedup.svg       the demo's two workloads (apps/demo: Monte Carlo pi, the pendulum sweep),
                    speedup T(1)/T(p) for p = 1..4:
                      unipar-demo --backends serial,fork:1,fork:2,fork:3,fork:4 --samples N
                      mpirun -n p unipar-demo --backends mpi --samples N      (p = 1..4)
  bandwidth.svg     message size 8 B .. 64 MiB against bandwidth, 2 processes:
                      unipar_bench_fork sweep
                      mpirun -n 2 unipar_bench_mpi_peer sweep
  map_overhead.svg  the cost per item of a trivial map (2x + 1 over N doubles, 2 processes;
                    unipar's fork and the Pool's start included, joblib's workers already
                    started), N = 10^3 .. 10^6:
                      unipar_bench_farm_trivial --items N                     (fork:2)
                      python_peer.py --items N --reps 2                       (Pool(2).map)
                      farm_python_peer.py --workloads trivial --impls joblib --trivial-items N
Every part runs --rounds times, taking turns; a plot shows the best (lowest) time of each point
over all rounds and repetitions, since on a shared machine noise only ever adds time. The data
files also keep the load average before and after each part and how many cores other jobs kept
busy meanwhile. About 2 minutes on a quiet 2-core machine with the defaults.

Drawing needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3): when this Python
lacks it, /usr/bin/python3 draws them if it has it; else the plots are skipped with a note (the
data is saved all the same).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
import compare  # noqa: E402  (bench/ is on the path: the script runs from there)
import compare_farm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROCS = (1, 2, 3, 4)
MAP_ITEMS = (1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000)
PARTS = ("speedup", "bandwidth", "map")
FILES = {"speedup": "speedup", "bandwidth": "bandwidth", "map": "map_overhead"}

# ---- measuring -----------------------------------------------------------------------------------

# A row of unipar-demo's table: backend, procs, pi, error, pi time, sweep time, total, speedup.
DEMO_ROW = re.compile(r"^(\S+)\s+(\d+)\s+[\d.]+\s+\S+\s+([\d.]+) s\s+([\d.]+) s\s+([\d.]+) s")


def demo_records(lines, impl):
    """The pi and sweep times of every row unipar-demo printed ([] when its backends disagreed)."""
    if any(line.startswith("MISMATCH") for line in lines):
        print("  the demo's backends gave different results: this run does not count",
              file=sys.stderr)
        return []
    records = []
    for line in lines:
        match = DEMO_ROW.match(line)
        if not match:
            continue
        backend, procs, pi_seconds, sweep_seconds, _total = match.groups()
        for name, seconds in (("pi", pi_seconds), ("sweep", sweep_seconds)):
            records.append({"impl": "unipar-serial" if backend == "serial" else impl,
                            "backend": backend, "name": name, "procs": int(procs),
                            "seconds_per_op": float(seconds)})
    return records


def collect_speedup(args):
    demo = args.demo or os.path.join(args.build, "apps", "demo", "unipar-demo")
    if not os.path.exists(demo):
        print(f"plot.py: {demo} not found (configure with -DUNIPAR_BUILD_APPS=ON and build "
              "unipar_demo): no speedup plot", file=sys.stderr)
        return []
    samples = ["--samples", str(args.pi_samples)]
    fork_backends = ",".join(["serial"] + [f"fork:{p}" for p in PROCS])
    records = []
    for round_ in range(args.rounds):
        lines = compare.run([demo, "--backends", fork_backends, *samples])
        records += compare_farm.tag(demo_records(lines, "unipar-fork"), round=round_,
                                    samples=args.pi_samples)
        for procs in PROCS:
            command = compare_farm.mpirun(procs, demo, "--backends", "mpi", *samples)
            if command:
                lines = compare.run(command, env=compare.mpi_env())
                records += compare_farm.tag(demo_records(lines, "unipar-mpi"), round=round_,
                                            samples=args.pi_samples)
    return records


def collect_bandwidth(args):
    fork = os.path.join(args.build, "bench", "unipar_bench_fork")
    records = []
    for round_ in range(args.rounds):
        records += compare_farm.tag(compare_farm.run([fork, "sweep"]), round=round_)
        command = compare.mpirun_command(args.build, 2, "sweep")
        if command:
            records += compare_farm.tag(compare_farm.run(command, env=compare.mpi_env()),
                                        round=round_)
    return records


def collect_map(args):
    trivial = os.path.join(args.build, "bench", "unipar_bench_farm_trivial")
    python = compare_farm.python_with_joblib()
    records = []
    for round_ in range(args.rounds):
        for items in MAP_ITEMS:
            count = str(items)
            for command in (
                    [trivial, "--items", count],
                    [python, os.path.join(HERE, "python_peer.py"), "--items", count, "--reps", "2"],
                    [python, os.path.join(HERE, "farm_python_peer.py"), "--workloads", "trivial",
                     "--impls", "joblib", "--trivial-items", count, "--reps", "2"]):
                records += compare_farm.tag(compare_farm.run(command), items=items, round=round_)
    return records


COLLECT = {"speedup": collect_speedup, "bandwidth": collect_bandwidth, "map": collect_map}


def git_commit():
    done = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def is_vm():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " hypervisor" in line for line in cpuinfo)
    except OSError:
        return False


def measure(part, args):
    """Runs one part; returns its data: the records and what the machine was doing meanwhile."""
    load_before = os.getloadavg()
    busy, mine, start = (compare_farm.busy_cpu_seconds(), compare_farm.children_cpu_seconds(),
                         time.time())
    records = COLLECT[part](args)
    seconds = time.time() - start
    others = (compare_farm.busy_cpu_seconds() - busy) - (compare_farm.children_cpu_seconds() - mine)
    return {"meta": {"part": part, "commit": args.commit or git_commit(),
                     "date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(),
                     "vm": is_vm(), "machine": compare.cpu_and_kernel(),
                     "python": sys.version.split()[0], "rounds": args.rounds,
                     "load_before": [round(x, 2) for x in load_before],
                     "load_after": [round(x, 2) for x in os.getloadavg()],
                     "others_cores": round(max(0.0, others) / max(seconds, 1e-9), 3),
                     "seconds": round(seconds, 1)},
            "records": records}


# ---- reading the data ----------------------------------------------------------------------------

def best(records, key):
    """The lowest seconds_per_op of every key(record) (records whose key is None left out)."""
    table = {}
    for record in records:
        k = key(record)
        if k is not None and "seconds_per_op" in record:
            table[k] = min(table.get(k, float("inf")), record["seconds_per_op"])
    return table


def speedups(data, impl, name):
    """{p: T(1) / T(p)} of one backend and workload, from the best time of each p."""
    times = best(data["records"], lambda r: r["procs"] if (r["impl"], r["name"]) == (impl, name)
                 else None)
    if 1 not in times:
        return {}
    return {p: times[1] / t for p, t in sorted(times.items())}


SWEEPS = {  # (impl, name): label
    ("unipar-fork", "sweep_send_receive"): "unipar fork: send → receive_into",
    ("openmpi", "sweep_send_receive"): "Open MPI: MPI_Send → MPI_Recv",
    ("unipar-fork", "sweep_broadcast_inplace"): "unipar fork: broadcast_inplace",
    ("openmpi", "sweep_broadcast_inplace"): "Open MPI: MPI_Bcast",
}


def bandwidths(data, impl, name):
    """{bytes: GB/s} of one sweep: bytes over the best one-way (or per-operation) time."""
    times = best(data["records"], lambda r: r["bytes"] if (r["impl"], r["name"]) == (impl, name)
                 else None)
    return {size: size / t / 1e9 for size, t in sorted(times.items())}


MAPS = {  # impl: label
    "unipar-fork": "unipar fork:2 map",
    "python-multiprocessing": "Python Pool(2).map",
"python-joblib": "joblib Parallel(n_jobs=2), workers already started",
}


def per_item(data, impl):
    """{items: seconds per item} of one map implementation."""
    return dict(sorted(best(data["records"],
                            lambda r: r["items"] if r["impl"] == impl else None).items()))


def show_bytes(size):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size:g} B"


def summary(data):
    """The figures the docs quote, one line each."""
    lines = []

    def by_procs(points):
        return " ".join(f"p={p} {s:.2f}" for p, s in points.items())

    if "speedup" in data:
        for name in ("pi", "sweep"):
            fork = speedups(data["speedup"], "unipar-fork", name)
            mpi = speedups(data["speedup"], "unipar-mpi", name)
            lines.append(f"speedup {name}: fork {by_procs(fork)}; mpi {by_procs(mpi)}")
    if "bandwidth" in data:
        for name in ("sweep_send_receive", "sweep_broadcast_inplace"):
            fork = bandwidths(data["bandwidth"], "unipar-fork", name)
            mpi = bandwidths(data["bandwidth"], "openmpi", name)
            for size in (8, 4 << 10, 1 << 20, 64 << 20):
                if size in fork and size in mpi:
                    lines.append(f"{name} {show_bytes(size)}: fork {fork[size]:.3g} GB/s, "
                                 f"Open MPI {mpi[size]:.3g} GB/s, "
                                 f"fork/MPI {fork[size] / mpi[size]:.2f}")
    if "map" in data:
        mine = per_item(data["map"], "unipar-fork")
        for impl in ("python-multiprocessing", "python-joblib"):
            peer = per_item(data["map"], impl)
            for items in sorted(set(mine) & set(peer)):
                lines.append(f"map {items} items: unipar {mine[items] * 1e9:.1f} ns/item, "
                             f"{impl} {peer[items] * 1e9:.1f} ns/item, "
                             f"peer/unipar {peer[items] / mine[items]:.1f}")
    for part, part_data in data.items():
        meta = part_data["meta"]
        lines.append(f"{part}: load average {meta['load_before'][0]:.2f} before, "
                     f"{meta['load_after'][0]:.2f} after; other jobs {meta['others_cores']:.2f} "
                     f"cores; {meta['seconds']:.0f} s")
    return lines


# ---- drawing -------------------------------------------------------------------------------------

def pyplot():
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "svg.fonttype": "none",          # text stays text: small files, searchable
        "svg.hashsalt": "unipar-plots",  # the same ids on every redraw
        "font.size": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.fontsize": 9,
    })
    return plt


def title(figure, what, meta):
    machine = f"{meta['cores']}-core {'VM' if meta['vm'] else 'machine'}"
    figure.suptitle(f"{what}\n{machine}, unipar {meta['commit']}, {meta['date'][:10]}; load "
                    f"average {meta['load_before'][0]:.2f} → {meta['load_after'][0]:.2f}",
                    fontsize=10)


def save(figure, out, name):
    path = os.path.join(out, name + ".svg")
    figure.savefig(path, metadata={"Date": None, "Creator": "bench/plot.py (matplotlib)"})
    print(f"wrote {os.path.relpath(path, ROOT)}")


def draw_speedup(plt, data, out):
    meta = data["meta"]
    cores = meta["cores"]
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True, layout="constrained")
    samples = data["records"][0].get("samples", 200_000_000)  # the demo's default
    exponent = int(math.floor(math.log10(samples)))
    mantissa = f"{samples / 10 ** exponent:g}×" if samples != 10 ** exponent else ""
    workloads = (("pi", f"Monte Carlo π, {mantissa}10^{exponent} points in 400 tasks"),
                 ("sweep", "pendulum sweep, 40 runs of uneven cost"))
    for ax, (name, label) in zip(axes, workloads):
        ax.axvspan(cores, max(PROCS) + 0.3, color="0.85", alpha=0.6, lw=0,
                   label=f"p > {cores} cores: oversubscribed")
        ax.axvline(cores, color="0.4", lw=0.8)
        ax.plot(PROCS, PROCS, "--", color="0.5", lw=1, label="ideal: p")
        ax.plot(PROCS, [min(p, cores) for p in PROCS], ":", color="k", lw=1.2,
                label=f"ideal on {cores} cores: min(p, {cores})")
        for impl, style, color, backend, offset in (
                ("unipar-fork", "o-", "C0", "fork", (8, -14)),
                ("unipar-mpi", "s-", "C1", "MPI (mpirun -n p)", (-34, 6))):
            points = speedups(data, impl, name)
            if points:
                ax.plot(list(points), list(points.values()), style, color=color,
                        label=f"unipar {backend}")
                if cores in points:
                    ax.annotate(f"{points[cores]:.2f}×", (cores, points[cores]), color=color,
                                textcoords="offset points", xytext=offset, fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("processes p")
        ax.set_xticks(PROCS)
        ax.set_xlim(0.8, max(PROCS) + 0.3)
        ax.set_ylim(0, max(PROCS) + 0.3)
    axes[0].set_ylabel("speedup T(1) / T(p)")
    axes[0].legend(loc="upper left")
    title(figure, "unipar-demo: speedup against processes (T(1): the same backend with 1 process)",
          meta)
    save(figure, out, FILES["speedup"])


def draw_bandwidth(plt, data, out):
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.2), sharex=True, layout="constrained",
                                         gridspec_kw={"height_ratios": [3, 1.3]})
    colors = {"unipar-fork": "C0", "openmpi": "C1"}
    styles = {"sweep_send_receive": "o-", "sweep_broadcast_inplace": "s--"}
    for (impl, name), label in SWEEPS.items():
        points = bandwidths(data, impl, name)
        if points:
            top.plot(list(points), list(points.values()), styles[name], color=colors[impl], ms=3,
                     label=label)
    for name, label in (("sweep_send_receive", "send → receive"),
                        ("sweep_broadcast_inplace", "broadcast")):
        mine, peer = bandwidths(data, "unipar-fork", name), bandwidths(data, "openmpi", name)
        sizes = sorted(set(mine) & set(peer))
        bottom.plot(sizes, [mine[s] / peer[s] for s in sizes], styles[name], color="C2", ms=3,
                    alpha=1.0 if name == "sweep_send_receive" else 0.6, label=label)
    bottom.axhline(1.0, color="k", lw=0.8)
    top.set_xscale("log", base=2)
    top.set_yscale("log")
    bottom.set_yscale("log")
    ratio_ticks = [0.25, 0.5, 1, 2, 4, 8, 16]
    bottom.set_yticks(ratio_ticks, [f"{t:g}" for t in ratio_ticks])
    bottom.minorticks_off()
    low, high = bottom.get_ylim()
    bottom.set_ylim(min(low, 0.5), max(high, 2))
    top.set_ylabel("bandwidth (GB/s, 10^9 bytes/s)")
    top.legend(loc="upper left")
    bottom.set_ylabel("unipar / Open MPI\n(above 1: unipar faster)")
    bottom.legend(loc="lower right", fontsize=8)
    ticks = [1 << k for k in range(3, 27, 3)] + [64 << 20]
    bottom.set_xticks(ticks, [show_bytes(t) for t in ticks])
    bottom.set_xlabel("message size (bytes, one vector of doubles)")
    title(figure, "2 processes: unipar fork against Open MPI (vader), preallocated buffers; "
          "send → receive: one way (ping-pong / 2)", data["meta"])
    save(figure, out, FILES["bandwidth"])


def draw_map(plt, data, out):
    figure, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    for (impl, label), style in zip(MAPS.items(), ("o-", "s-", "^-")):
        points = per_item(data, impl)
        if points:
            ax.plot(list(points), [s * 1e9 for s in points.values()], style, label=label)
    mine = per_item(data, "unipar-fork")
    for impl, color, first in (("python-multiprocessing", "C1", (6, 4)),
                               ("python-joblib", "C2", (6, -12))):
        peer = per_item(data, impl)
        common = sorted(set(mine) & set(peer))
        for items, offset in ((common[:1], first), (common[-1:], (-58, 6))):
            for n in items:
                ax.annotate(f"{peer[n] / mine[n]:.0f}× unipar", (n, peer[n] * 1e9), color=color,
                            textcoords="offset points", xytext=offset, fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("list length (items)")
    ax.set_ylabel("time per item (ns): one call's time / items")
    ax.legend(loc="upper right")
    title(figure, "map of 2x + 1 over a list of doubles, 2 processes (unipar and Pool: forking "
          "the workers included)", data["meta"])
    save(figure, out, FILES["map"])


DRAW = {"speedup": draw_speedup, "bandwidth": draw_bandwidth, "map": draw_map}


def load_data(directory):
    data = {}
    for part in PARTS:
        path = os.path.join(directory, FILES[part] + ".json")
        if os.path.exists(path):
            with open(path) as source:
                data[part] = json.load(source)
    return data


def draw(args):
    """Draws every plot whose data is saved; leaves it to a Python with matplotlib if this one
    has none. Returns the exit code."""
    try:
        plt = pyplot()
    except ImportError:
        python = compare_farm.python_with("matplotlib")
        if python and os.path.realpath(python) != os.path.realpath(sys.executable):
            return subprocess.run([python, os.path.abspath(__file__), "--from-data", "--data",
                                   args.data, "--out", args.out]).returncode
        print("plot.py: matplotlib not found (Debian: apt-get install python3-matplotlib): "
              f"plots skipped; the measurements are in {args.data}", file=sys.stderr)
        return 0
    data = load_data(args.data)
    if not data:
        print(f"plot.py: no data in {args.data}: run without --from-data first", file=sys.stderr)
        return 1
    for part, part_data in data.items():
        DRAW[part](plt, part_data, args.out)
    print("\n".join(summary(data)))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build-bench", help="the Release build directory")
    parser.add_argument("--demo", help="the demo program (default BUILD/apps/demo/unipar-demo)")
    parser.add_argument("--plots", default=",".join(PARTS),
                        help="which parts to measure: speedup, bandwidth, map")
    parser.add_argument("--rounds", type=int, default=2, help="how often to run every part")
    parser.add_argument("--pi-samples", type=int, default=1_000_000_000,
                        help="the demo's --samples (its pi part)")
    parser.add_argument("--commit", help="the commit the plots name (default: git's HEAD)")
    parser.add_argument("--from-data", action="store_true",
                        help="measure nothing: redraw from the saved data")
    parser.add_argument("--data", default=os.path.join(ROOT, "docs", "plots", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "plots"))
    args = parser.parse_args()

    if not args.from_data:
        parts = [part.strip() for part in args.plots.split(",") if part.strip()]
        unknown = set(parts) - set(PARTS)
        if unknown:
            sys.exit(f"plot.py: unknown part(s) {', '.join(sorted(unknown))}")
        os.makedirs(args.data, exist_ok=True)
        for part in parts:
            data = measure(part, args)
            if not data["records"]:
                print(f"plot.py: no measurements for {part}; its data file is left as it was",
                      file=sys.stderr)
                continue
            path = os.path.join(args.data, FILES[part] + ".json")
            with open(path, "w") as out:
                json.dump(data, out, indent=1)
                out.write("\n")
            print(f"wrote {os.path.relpath(path, ROOT)}")
    os.makedirs(args.out, exist_ok=True)
    sys.exit(draw(args))


if __name__ == "__main__":
    main()
