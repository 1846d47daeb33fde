#!/usr/bin/env python3
"""Python peer of unipar's shared dict (bench/shared.cpp): multiprocessing.Manager().dict().

    python3 bench/shared_python_peer.py [--reps 5] [--keys 20000] [--updates 20000]

Measures, like bench/shared.cpp does for SharedDict<int, double>:
    set (new keys), set (existing keys), get   one process, int keys in a scattered order
    update                                     d[0] += 1 under a Manager Lock (a proxy's
                                               operations are atomic one by one, not the
                                               read-modify-write), by 1 and by 2 processes
Results are checked. Prints one JSON line per repetition and figure:
    {"name": "...", "unit": "Mops/s", "value": ...}
"""
import argparse
import json
import multiprocessing
import time

FORK = multiprocessing.get_context("fork")


def scattered_keys(count):
    return [(i * 2654435761) % 1000000007 for i in range(count)]


def emit(name, value):
    print(json.dumps({"name": name, "unit": "Mops/s", "value": value}), flush=True)


def dict_operations(manager, keys):
    d = manager.dict()
    n = len(keys)
    start = time.perf_counter()
    for k in keys:
        d[k] = k * 0.5
    emit("Manager().dict() set (new keys)", n / (time.perf_counter() - start) / 1e6)
    start = time.perf_counter()
    for k in keys:
        d[k] = k * 0.25
    emit("Manager().dict() set (existing keys)", n / (time.perf_counter() - start) / 1e6)
    start = time.perf_counter()
    total = 0.0
    for k in keys:
        total += d.get(k, -1e300)
    emit("Manager().dict() get", n / (time.perf_counter() - start) / 1e6)
    assert total == sum(k * 0.25 for k in keys), "get"


def increment(d, lock, count, start_barrier):
    start_barrier.wait()
    for _ in range(count):
        with lock:
            d[0] = d[0] + 1


def updates(manager, count, processes):
    d = manager.dict()
    d[0] = 0
    lock = manager.Lock()
    barrier = FORK.Barrier(processes + 1)
    workers = [FORK.Process(target=increment, args=(d, lock, count, barrier))
               for _ in range(processes)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - start
    assert d[0] == count * processes, "update count"
    emit(f"Manager dict update, {processes} process(es)", count * processes / seconds / 1e6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--keys", type=int, default=20000)
    parser.add_argument("--updates", type=int, default=20000)
    args = parser.parse_args()
    keys = scattered_keys(args.keys)
    with FORK.Manager() as manager:
        for _ in range(args.reps):
            dict_operations(manager, keys)
            updates(manager, args.updates, 1)
            updates(manager, args.updates, 2)


if __name__ == "__main__":
    main()
