#!/usr/bin/env python3
"""Python multiprocessing peer of unipar's map: Pool.map of a trivial function over 10^6 floats.

    python3 bench/python_peer.py [--items N] [--reps R]

The time includes creating the pool (forking its workers), as unipar's map outside run includes
forking its workers. Default chunking. Prints one JSON line like the C++ drivers: the name is
map_trivial_1e6 for 10^6 items (compare.py), map_trivial_N otherwise (bench/plot.py).
"""
import argparse
import json
import multiprocessing
import time

PROCESSES = 2


def twice_plus_one(x):
    return 2.0 * x + 1.0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000, help="list length")
    parser.add_argument("--reps", type=int, default=5, help="calls; the best is reported")
    args = parser.parse_args()
    items = [float(i) for i in range(args.items)]
    seconds = []
    for _ in range(args.reps):
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
            results = pool.map(twice_plus_one, items)
        seconds.append((time.perf_counter() - start) / args.items)
        assert results[-1] == 2.0 * items[-1] + 1.0
    seconds.sort()
    name = "map_trivial_1e6" if args.items == 1_000_000 else f"map_trivial_{args.items}"
    print(json.dumps({"impl": "python-multiprocessing", "name": name,
                      "seconds_per_op": seconds[0], "median": seconds[len(seconds) // 2],
                      "bytes": 8, "procs": PROCESSES, "samples": len(seconds),
                      "items": args.items}), flush=True)


if __name__ == "__main__":
    main()
