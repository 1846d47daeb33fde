#!/usr/bin/env python3
"""@file same_results.py
@brief Runs mpi_same_results on every backend and fails unless all printed results are
byte-identical.

    same_results.py PROGRAM -- MPIRUN_COMMAND...

MPIRUN_COMMAND is the launcher's command line for 3 processes, ending with PROGRAM (as
unipar_mpi_command makes it). The runs: UNIPAR_BACKEND=serial, UNIPAR_BACKEND=fork:3, the spec
`fork:2` given on the command line, and under the launcher UNIPAR_BACKEND=mpi, UNIPAR_BACKEND
unset (the automatic choice must be MPI), the spec `mpi` on the command line (with
UNIPAR_BACKEND=serial, which it must override) and the spec `auto`. Each must exit 0 and report
the expected backend and process count on standard error; standard output must be the same for
all (only main prints).
"""

import difflib
import os
import subprocess
import sys
import time


def run(name, command, backend_env, expected_backend):
    env = dict(os.environ)
    env.pop("UNIPAR_BACKEND", None)
    if backend_env is not None:
        env["UNIPAR_BACKEND"] = backend_env
    start = time.monotonic()
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        return None, [f"{name}: timed out after 60 s: {' '.join(command)}"]
    elapsed = time.monotonic() - start
    out = done.stdout.decode(errors="replace")
    err = done.stderr.decode(errors="replace")
    print(f"---- {name} (UNIPAR_BACKEND={backend_env}): {' '.join(command)}: "
          f"exit {done.returncode}, {elapsed:.2f} s")
    sys.stdout.write(out)
    if err:
        sys.stdout.write("[stderr]\n" + err)
    problems = []
    if done.returncode != 0:
        problems.append(f"{name}: exit status {done.returncode}")
    reported = [line for line in err.splitlines() if line.startswith("backend=")]
    if reported != [expected_backend]:
        problems.append(f"{name}: reported {reported}, expected ['{expected_backend}']")
    if not out.strip():
        problems.append(f"{name}: printed nothing")
    return out, problems


def main():
    if "--" not in sys.argv or sys.argv.index("--") != 2:
        sys.exit(__doc__)
    program = sys.argv[1]
    mpirun = sys.argv[3:]
    runs = [
        ("serial", [program], "serial", "backend=serial nprocs=1"),
        ("fork:3", [program], "fork:3", "backend=fork nprocs=3"),
        ("argv fork:2", [program, "fork:2"], None, "backend=fork nprocs=2"),
        ("mpi", mpirun, "mpi", "backend=mpi nprocs=3"),
        ("mpi, UNIPAR_BACKEND unset", mpirun, None, "backend=mpi nprocs=3"),
        ("argv mpi", mpirun + ["mpi"], "serial", "backend=mpi nprocs=3"),
        ("argv auto", mpirun + ["auto"], None, "backend=mpi nprocs=3"),
    ]
    problems = []
    reference = None
    for name, command, backend_env, expected in runs:
        out, found = run(name, command, backend_env, expected)
        problems += found
        if out is None:
            continue
        if reference is None:
            reference = (name, out)
        elif out != reference[1]:
            diff = difflib.unified_diff(reference[1].splitlines(), out.splitlines(),
                                        reference[0], name, lineterm="")
            problems.append(f"{name}: output differs from {reference[0]}:\n" + "\n".join(diff))
    for problem in problems:
        print("FAILED: " + problem)
    if not problems:
        print(f"PASSED: {len(runs)} runs, identical results")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
