#!/usr/bin/python3
"""Python peers of unipar_bench_client_server: concurrent.futures.ProcessPoolExecutor (one worker
process: the same server count as unipar on 2 processes) and, under mpirun, mpi4py.futures'
MPIPoolExecutor. Same workloads, same JSON lines:

  /usr/bin/python3 bench/client_server_python_peer.py pool
  mpirun -n 2 /usr/bin/python3 -m mpi4py.futures bench/client_server_python_peer.py mpi4py

tiny: empty handler, requests submitted at once then taken with as_completed (10^4 requests:
Python is slow enough that more only takes longer); busy: 400 requests of 1 ms of busy work,
time over the ideal; call: sequential submit().result() round trips.
"""
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

TINY = 10_000
BUSY = 400
CALLS = 2_000
REPS = 3


def plus_one(x):
    return x + 1


def busy_ms(x):
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass
    return x


def identity(x):
    return x


def measure(executor, impl, servers):
    rates, ratios, calls = [], [], []
    for _ in range(REPS):
        start = time.perf_counter()
        futures = [executor.submit(plus_one, i) for i in range(TINY)]
        total = sum(f.result() for f in as_completed(futures))
        rates.append(TINY / (time.perf_counter() - start))
        assert total == TINY * (TINY + 1) // 2

        start = time.perf_counter()
        futures = [executor.submit(busy_ms, i) for i in range(BUSY)]
        total = sum(f.result() for f in futures)
        ratios.append((time.perf_counter() - start) / (BUSY * 0.001 / servers))
        assert total == BUSY * (BUSY - 1) // 2

        start = time.perf_counter()
        x = 0.0
        for _ in range(CALLS):
            x = executor.submit(identity, x + 1).result()
        calls.append((time.perf_counter() - start) / CALLS)
        assert x == CALLS
    for name, values, unit in (("tiny_requests_per_s", rates, "1/s"),
                               ("busy_1ms_x400_over_ideal", ratios, "ratio"),
                               ("call_round_trip_s", calls, "s")):
        print(json.dumps({"impl": impl, "name": name, "procs": servers + 1,
                          "value": statistics.median(values), "unit": unit}), flush=True)


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "pool"
    if which == "pool":
        with ProcessPoolExecutor(max_workers=1) as executor:
            executor.submit(identity, 0).result()  # the worker is started
            measure(executor, "python-ProcessPoolExecutor", 1)
    else:
        from mpi4py import MPI
        from mpi4py.futures import MPIPoolExecutor
        servers = MPI.COMM_WORLD.Get_size() - 1
        with MPIPoolExecutor() as executor:
            executor.submit(identity, 0).result()
            measure(executor, "python-mpi4py.futures", servers)


if __name__ == "__main__":
    main()
