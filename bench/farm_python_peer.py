#!/usr/bin/env python3
"""Python peers of unipar's task farm (bench/farm.cpp, bench/farm_trivial.cpp): the same
workloads with the tools most users of `map` come from, each with its default chunking.

    python3 bench/farm_python_peer.py [--workloads trivial,flat,uneven_first] [--reps 3]
                                      [--trivial-items 1000000] [--impls pool-imap,...]

Workloads (busy items spin on time.perf_counter, not sleep, so that they keep a core busy):
    trivial       2x + 1 over 10^6 floats (--trivial-items), reported per item
    flat          2000 items of 1 ms (--busy-items)
    uneven_first  one item of 1 s, then the 2000 items of 1 ms
Peers, 2 processes each, every call's time including creating its pool (unipar's map outside
run forks its workers too), except joblib's:
    pool-imap            multiprocessing.get_context("fork").Pool(2).imap (chunksize 1)
    pool-imap-unordered  the same, imap_unordered
    executor-map         concurrent.futures.ProcessPoolExecutor(2, fork context).map (chunksize 1)
    joblib               joblib.Parallel(n_jobs=2)(delayed(f)(x) for x in items): loky backend,
                         batch_size "auto"; loky keeps its workers from one call to the next (that
                         is how joblib is used), so one untimed call starts them first
Results are checked (every value, in order; imap_unordered's sorted). Prints one JSON line per
(peer, workload) like the C++ drivers: "seconds_per_op" the best, "median" the median.
"""
import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor

PROCESSES = 2
FORK = multiprocessing.get_context("fork")


def twice_plus_one(x):
    return 2.0 * x + 1.0


def busy(microseconds):
    end = time.perf_counter() + microseconds * 1e-6
    while time.perf_counter() < end:
        pass
    return microseconds + 0.5


def items_of(workload, args):
    if workload == "trivial":
        return [float(i) for i in range(args.trivial_items)], twice_plus_one
    flat = [1000.0] * args.busy_items
    if workload == "flat":
        return flat, busy
    if workload == "uneven_first":
        return [1_000_000.0] + flat, busy
    raise ValueError(workload)


def pool_imap(f, items):
    with FORK.Pool(PROCESSES) as pool:
        return list(pool.imap(f, items))


def pool_imap_unordered(f, items):
    with FORK.Pool(PROCESSES) as pool:
        return list(pool.imap_unordered(f, items))


def executor_map(f, items):
    with ProcessPoolExecutor(PROCESSES, mp_context=FORK) as executor:
        return list(executor.map(f, items))


def joblib_parallel(f, items):
    from joblib import Parallel, delayed

    return Parallel(n_jobs=PROCESSES)(delayed(f)(x) for x in items)


PEERS = {
    "pool-imap": pool_imap,
    "pool-imap-unordered": pool_imap_unordered,
    "executor-map": executor_map,
    "joblib": joblib_parallel,
}


def check(workload, peer, items, f, results):
    expected = [f(x) for x in items] if f is twice_plus_one else [x + 0.5 for x in items]
    if peer == "pool-imap-unordered":
        results, expected = sorted(results), sorted(expected)
    if results != expected:
        sys.exit(f"farm_python_peer: {peer} gave wrong results for {workload}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="trivial,flat,uneven_first")
    parser.add_argument("--impls", default=",".join(PEERS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--trivial-items", type=int, default=1_000_000)
    parser.add_argument("--busy-items", type=int, default=2000)
    args = parser.parse_args()

    for peer in args.impls.split(","):
        run = PEERS[peer]
        if peer == "joblib":
            try:
                import joblib  # noqa: F401
            except ImportError:
                print("farm_python_peer: joblib not found (Debian: python3-joblib); skipped",
                      file=sys.stderr)
                continue
            run(twice_plus_one, [0.0, 1.0])  # starts loky's workers, kept for the next calls
        for workload in args.workloads.split(","):
            items, f = items_of(workload, args)
            seconds = []
            for _ in range(args.reps):
                start = time.perf_counter()
                results = run(f, items)
                seconds.append(time.perf_counter() - start)
                check(workload, peer, items, f, results)
            scale = 1.0 / len(items) if workload == "trivial" else 1.0
            seconds = sorted(s * scale for s in seconds)
            print(json.dumps({"impl": "python-" + peer, "name": workload,
                              "seconds_per_op": seconds[0], "median": seconds[len(seconds) // 2],
                              "procs": PROCESSES, "samples": len(seconds), "items": len(items),
                              "per_item": workload == "trivial", "all": seconds,
                              "python": sys.version.split()[0]}), flush=True)


if __name__ == "__main__":
    main()
