#!/usr/bin/env python3
"""@file run_checked.py
@brief Runs one command (usually `mpirun ... program`) and checks how it ended.

    run_checked.py [options] -- command [args...]

Checks, each optional:
  --exit 0|nonzero|N     the command's exit status (a launcher killed by a signal is nonzero)
  --max-seconds S        it finished within S seconds (measured from start to exit)
  --line REGEX           exactly one line of its output (stdout and stderr) fully matches REGEX
  --output REGEX         REGEX is found somewhere in its output
  --no-process PREFIX    after it exited, no process whose command line starts with PREFIX
                         is alive (what `pgrep -f '^PREFIX'` would find, zombies excluded)
Running:
  --timeout S            kill the command's process group after S seconds: the test fails
  --kill WHO             kill -9 one process while the command runs: `launcher` (the command
                         itself, e.g. mpirun, not its children) or a REGEX whose first group is
                         a pid printed in the output (e.g. 'rank 0: pid ([0-9]+) holding')
  --kill-when REGEX      ... once REGEX matches --kill-count lines of the output (default 1).
                         With --kill, --max-seconds is measured from the kill to the end of the
                         job: the launcher has exited and no --no-process process is alive,
                         which the checker waits for (up to --timeout) after the launcher exits.
  --finalize-grace S     Open MPI 4.1.4's mpirun sometimes hangs in PMIx_server_finalize after a
                         rank was killed by a signal, although the job has ended. When every
                         --output pattern has been printed and no --no-process process is alive
                         any more, mpirun gets S more seconds; then it is killed, a NOTE says
                         so, and the time checked by --max-seconds is the time the job ended.

The whole output is printed, then one summary line per failed check; the exit status is 0 when
every check passed.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def live_processes(prefix):
    """Processes (not zombies) whose command line starts with `prefix`, this one excluded."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        command = b" ".join(a for a in argv if a).decode(errors="replace")
        if command and command.startswith(prefix):
            found.append(f"{entry}: {command}")
    return found


def kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def kill_one(who, process, output):
    """SIGKILLs the launcher or the pid that REGEX `who` finds in the output; returns the time
    and a failure message (None when the kill was done)."""
    if who == "launcher":
        pid = process.pid
    else:
        found = re.search(who, output, re.MULTILINE)
        if not found:
            return time.monotonic(), f"--kill {who!r}: no pid in the output"
        pid = int(found.group(1))
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return time.monotonic(), f"--kill {who!r}: process {pid} was already gone"
    print(f"---- kill -9 {pid} ({who})", flush=True)
    return time.monotonic(), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--exit", default="0")
    parser.add_argument("--max-seconds", type=float)
    parser.add_argument("--line", action="append", default=[])
    parser.add_argument("--output", action="append", default=[])
    parser.add_argument("--no-process", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--finalize-grace", type=float)
    parser.add_argument("--kill")
    parser.add_argument("--kill-when")
    parser.add_argument("--kill-count", type=int, default=1)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    if (args.kill is None) != (args.kill_when is None):
        parser.error("--kill and --kill-when go together")

    print("$ " + " ".join(command), flush=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        timed_out = False
        launcher_hung = False
        job_ended = None  # when the job's processes were all gone and its output complete
        killed_at = None  # when --kill was done
        kill_failure = None

        def text():
            out.seek(0)
            err.seek(0)
            return (out.read().decode(errors="replace") + err.read().decode(errors="replace"))

        while process.poll() is None:
            now = time.monotonic()
            if now - start > args.timeout:
                timed_out = True
                kill_group(process)
                break
            if args.kill is not None and killed_at is None:
                output = text()
                if len(re.findall(args.kill_when, output, re.MULTILINE)) >= args.kill_count:
                    killed_at, kill_failure = kill_one(args.kill, process, output)
            if args.finalize_grace is not None:
                if job_ended is None:
                    output = text()
                    if (all(re.search(p, output, re.MULTILINE) for p in args.output) and
                            not any(live_processes(p) for p in args.no_process)):
                        job_ended = now
                elif now - job_ended > args.finalize_grace:
                    launcher_hung = True
                    kill_group(process)
                    break
            time.sleep(0.05)
        end = time.monotonic()
        status = process.returncode
        if killed_at is not None and not timed_out:
            # The job ends when its last process is gone, which may be after the launcher.
            while (any(live_processes(p) for p in args.no_process) and
                   time.monotonic() - start < args.timeout):
                time.sleep(0.05)
            end = time.monotonic()
        output = text()

    sys.stdout.write(output)
    if output and not output.endswith("\n"):
        sys.stdout.write("\n")
    elapsed = (job_ended if launcher_hung else end) - (start if killed_at is None else killed_at)
    if killed_at is not None:
        print(f"---- {args.kill} killed {killed_at - start:.2f} s after the start")
    print(f"---- exit status {status}, {elapsed:.2f} s" +
          ("" if killed_at is None else " from the kill to the end of the job"))
    if launcher_hung:
        print(f"NOTE: the job had ended but the launcher had not exited {args.finalize_grace} s "
              "later (Open MPI's mpirun hanging in PMIx_server_finalize); it was killed")

    failures = []
    if kill_failure:
        failures.append(kill_failure)
    if args.kill is not None and killed_at is None:
        failures.append(f"--kill-when {args.kill_when!r} never matched {args.kill_count} lines: "
                        "nothing was killed")
    if timed_out:
        failures.append(f"timed out after {args.timeout} s (killed)")
    if args.exit == "nonzero":
        if status == 0:
            failures.append("exit status 0, expected non-zero")
    elif status != int(args.exit) and not timed_out:
        failures.append(f"exit status {status}, expected {args.exit}")
    if args.max_seconds is not None and elapsed > args.max_seconds:
        failures.append(f"took {elapsed:.2f} s, expected at most {args.max_seconds} s")
    lines = output.splitlines()
    for pattern in args.line:
        matches = [line for line in lines if re.fullmatch(pattern, line)]
        if len(matches) != 1:
            failures.append(f"{len(matches)} lines match {pattern!r}, expected exactly one")
    for pattern in args.output:
        if not re.search(pattern, output, re.MULTILINE):
            failures.append(f"output does not contain {pattern!r}")
    for prefix in args.no_process:
        left = live_processes(prefix)
        if left:
            time.sleep(2)
            still = live_processes(prefix)
            failures.append(f"processes left running after the command exited: {left}; "
                            f"2 s later: {still}")
            for entry in still:  # do not let them disturb later tests
                try:
                    os.kill(int(entry.split(":")[0]), signal.SIGKILL)
                except OSError:
                    pass

    for failure in failures:
        print("FAILED: " + failure)
    if not failures:
        print("PASSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
