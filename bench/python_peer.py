#!/usr/bin/env python3
"""Python multiprocessing peer of unipar's map: Pool.map of a trivial function over 10^6 floats.

The time includes creating the pool (forking its workers), as unipar's map outside run includes
forking its workers. Default chunking. Prints one JSON line like the C++ drivers.
"""
import json
import multiprocessing
import time

ITEMS = 1_000_000
PROCESSES = 2
REPETITIONS = 5


def twice_plus_one(x):
    return 2.0 * x + 1.0


def main():
    items = [float(i) for i in range(ITEMS)]
    seconds = []
    for _ in range(REPETITIONS):
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
            results = pool.map(twice_plus_one, items)
        seconds.append((time.perf_counter() - start) / ITEMS)
        assert results[-1] == 2.0 * items[-1] + 1.0
    seconds.sort()
    print(json.dumps({"impl": "python-multiprocessing", "name": "map_trivial_1e6",
                      "seconds_per_op": seconds[0], "median": seconds[len(seconds) // 2],
                      "bytes": 8, "procs": PROCESSES, "samples": len(seconds)}), flush=True)


if __name__ == "__main__":
    main()
