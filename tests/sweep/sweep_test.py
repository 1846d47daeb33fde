#!/usr/bin/env python3
"""End-to-end tests of unipar-sweep (the built binary), standard library only.

    sweep_test.py --binary build/apps/sweep/unipar-sweep [--python /usr/bin/python3]
                  [--mpiexec mpiexec --mpiexec-numproc-flag -n] [-- unittest arguments, e.g. -k Tool]

ToolTest runs on the fork and serial backends; MpiTest (skipped without --mpiexec) runs the tool
under mpiexec -n 2. Every test works in its own temporary directory.
"""
import argparse
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BINARY = None
PYTHON = sys.executable
MPIEXEC = None
NUMPROC_FLAG = "-n"
TIMEOUT = 120  # seconds for one run of the tool: a hang fails the test instead of blocking ctest


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def without_seconds(rows):
    """CSV rows (the header first) without the `seconds` column."""
    k = rows[0].index("seconds")
    return [r[:k] + r[k + 1:] for r in rows]


class SweepCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="unipar_sweep_test_")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.groups = []
        self.addCleanup(self.kill_groups)

    def kill_groups(self):
        for process in self.groups:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()

    def path(self, name):
        return os.path.join(self.dir, name)

    def script(self, name, text):
        """A Python script in the test directory; returns the command that runs it."""
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return [PYTHON, path]

    def sweep(self, *args, prefix=(), env=None):
        """Runs unipar-sweep with `args`; returns the CompletedProcess (text)."""
        environment = dict(os.environ)
        environment.pop("UNIPAR_BACKEND", None)
        environment["UNIPAR_PROGRESS"] = "0"
        environment.update(env or {})
        return subprocess.run([*prefix, BINARY, *args], cwd=self.dir, capture_output=True,
                              text=True, timeout=TIMEOUT, env=environment)

    def assert_exit(self, result, code):
        self.assertEqual(result.returncode, code,
                         f"exit {result.returncode}, expected {code}\nstdout:\n{result.stdout}\n"
                         f"stderr:\n{result.stderr}")

    def log_lines(self, log):
        try:
            with open(log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def start_and_kill(self, args, log, ends, prefix=(), group=True):
        """Starts unipar-sweep (after `prefix`) in a process group of its own, waits until
        `log` has `ends` lines that start with "end", then SIGKILLs the whole group (the tool,
        its workers and the commands), or with group=False sends SIGTERM to the first process
        (mpiexec, which passes it on to the ranks) and waits for it."""
        environment = dict(os.environ, UNIPAR_PROGRESS="0")
        environment.pop("UNIPAR_BACKEND", None)
        with open(self.path("killed.stderr"), "w") as errors:
            process = subprocess.Popen([*prefix, BINARY, *args], cwd=self.dir,
                                       start_new_session=True, stdout=subprocess.DEVNULL,
                                       stderr=errors, env=environment)
        self.groups.append(process)
        deadline = time.monotonic() + TIMEOUT
        while sum(line.startswith("end") for line in self.log_lines(log)) < ends:
            self.assertIsNone(process.poll(), "the sweep ended before it was killed")
            self.assertLess(time.monotonic(), deadline, "no progress")
            time.sleep(0.02)
        if group:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()  # the commands died with their process group: the log is final
        else:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=TIMEOUT)

    def leftovers(self, out):
        return [p for p in (out + ".checkpoint", out + ".tmp") if os.path.exists(p)]


class ToolTest(SweepCase):
    def test_grid_of_lists_and_ranges_in_grid_order(self):
        out = self.path("r.csv")
        result = self.sweep("--param", "a=0.1,10", "--param", "b=0:1:0.25", "--backend",
                            "fork:2", "--out", out, "--", "/bin/sh", "-c", "echo a={a} b={b}")
        self.assert_exit(result, 0)
        rows = read_csv(out)
        self.assertEqual(rows[0], ["a", "b", "exit_code", "seconds", "output", "stderr"])
        expected = [(a, b) for a in ("0.1", "10") for b in ("0", "0.25", "0.5", "0.75", "1")]
        self.assertEqual([tuple(r[:2]) for r in rows[1:]], expected)
        for r in rows[1:]:
            self.assertEqual(r[2], "0")
            self.assertGreaterEqual(float(r[3]), 0.0)
            self.assertEqual(r[4], f"a={r[0]} b={r[1]}")
            self.assertEqual(r[5], "")
        self.assertEqual(self.leftovers(out), [])
        # The serial backend gives the same file apart from the times.
        serial = self.path("serial.csv")
        self.assert_exit(self.sweep("--param", "a=0.1,10", "--param", "b=0:1:0.25", "--backend",
                                    "serial", "--out", serial, "--", "/bin/sh", "-c",
                                    "echo a={a} b={b}"), 0)
        self.assertEqual(without_seconds(read_csv(serial)), without_seconds(rows))

    def test_ranges_include_stop_and_print_no_spurious_digits(self):
        result = self.sweep("--param", "x=0:1:0.1", "--param", "n=1:5:2", "--backend", "fork:2",
                            "--", "/bin/echo", "{x}")
        self.assert_exit(result, 0)
        rows = list(csv.reader(io.StringIO(result.stdout)))  # CSV on stdout without --out
        xs = ["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"]
        self.assertEqual([(r[0], r[1]) for r in rows[1:]], [(x, n) for x in xs for n in "135"])
        self.assertEqual([r[4] for r in rows[1:]], [x for x in xs for _ in "135"])
        down = self.sweep("--param", "x=1:0:-0.25", "--", "/bin/echo", "{x}")
        self.assert_exit(down, 0)
        self.assertEqual([r[0] for r in list(csv.reader(io.StringIO(down.stdout)))[1:]],
                         ["1", "0.75", "0.5", "0.25", "0"])

    def test_substitution_inside_arguments_and_literal_braces(self):
        result = self.sweep("--param", "a=1,2", "--param", "b=x", "--backend", "fork:2", "--",
                            "/bin/echo", "--out=run_{a}_{b}.txt", "{{a}}", "{a}{b}{a}")
        self.assert_exit(result, 0)
        rows = list(csv.reader(io.StringIO(result.stdout)))
        self.assertEqual([r[4] for r in rows[1:]],
                         ["--out=run_1_x.txt {a} 1x1", "--out=run_2_x.txt {a} 2x2"])

    def test_jsonl_output(self):
        out = self.path("r.jsonl")
        result = self.sweep("--param", "a=0.5,007", "--param", "name=x y,q\"t", "--backend",
                            "fork:2", "--out", out, "--", "/bin/sh", "-c", "printf '%s\\n' '{name}'")
        self.assert_exit(result, 0)
        with open(out) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 4)
        rows = [json.loads(line, object_pairs_hook=list) for line in lines]
        self.assertEqual([k for k, _ in rows[0]],
                         ["a", "name", "exit_code", "seconds", "output", "stderr"])
        values = [dict(r) for r in rows]
        # A value that is a JSON number is a number; anything else ("007") is a string.
        self.assertEqual([(v["a"], v["name"]) for v in values],
                         [(0.5, "x y"), (0.5, 'q"t'), ("007", "x y"), ("007", 'q"t')])
        self.assertEqual([v["output"] for v in values], ["x y", 'q"t', "x y", 'q"t'])
        self.assertTrue(all(v["exit_code"] == 0 and v["stderr"] == "" for v in values))
        self.assertTrue(all(isinstance(v["seconds"], float) for v in values))

    def test_csv_quoting(self):
        out = self.path("q.csv")
        emit = self.script("emit.py", "import sys\nprint('a,b \"c\"')\n"
                                      "sys.stderr.write('e1\\ne2\\n')\nsys.exit(int(sys.argv[1]))\n")
        result = self.sweep("--param", "k=0,1", "--out", out, "--", *emit, "{k}")
        self.assert_exit(result, 1)
        with open(out, newline="") as f:
            text = f.read()
        self.assertEqual(text, 'k,exit_code,seconds,output,stderr\n'
                               f'0,0,{read_csv(out)[1][2]},"a,b ""c""",\n'
                               f'1,1,{read_csv(out)[2][2]},"a,b ""c""","e1\ne2"\n')

    def test_parse_json_columns(self):
        out = self.path("j.csv")
        emit = self.script("emit.py", """import json, sys
a = int(sys.argv[1])
print("progress line")
if a == 2:
    print("not json")
else:
    fields = {"v": a * 10, "s": "x,%d" % a}
    if a == 3:
        fields = {"w": True, "v": 30}
    print(json.dumps(fields))
""")
        result = self.sweep("--param", "a=1:3:1", "--parse", "json", "--backend", "fork:2",
                            "--out", out, "--", *emit, "{a}")
        self.assert_exit(result, 1)  # point 2 printed no JSON object
        rows = read_csv(out)
        self.assertEqual(rows[0], ["a", "exit_code", "seconds", "v", "s", "w", "error", "stderr"])
        k = rows[0].index
        self.assertEqual([(r[k("a")], r[k("v")], r[k("s")], r[k("w")]) for r in rows[1:]],
                         [("1", "10", "x,1", ""), ("2", "", "", ""), ("3", "30", "", "true")])
        self.assertEqual([r[k("exit_code")] for r in rows[1:]], ["0", "0", "0"])
        self.assertEqual(rows[1][k("error")], "")
        self.assertIn("not JSON", rows[2][k("error")])
        self.assertEqual(rows[3][k("error")], "")
        # The same as JSON Lines keeps the fields' types.
        jsonl = self.path("j.jsonl")
        self.assert_exit(self.sweep("--param", "a=1:3:1", "--parse", "json", "--out", jsonl,
                                    "--", *emit, "{a}"), 1)
        with open(jsonl) as f:
            values = [json.loads(line) for line in f]
        self.assertEqual([(v["v"], v["s"], v["w"]) for v in values],
                         [(10, "x,1", None), (None, None, None), (30, None, True)])

    def test_failing_command_row_and_exit_status(self):
        out = self.path("f.csv")
        result = self.sweep(
            "--param", "a=0,3", "--backend", "fork:2", "--out", out, "--", "/bin/sh", "-c",
            "echo out{a}; i=1; while [ $i -le 30 ]; do echo line$i >&2; i=$((i+1)); done; "
            "exit {a}")
        self.assert_exit(result, 1)
        self.assertIn("1 of 2 points failed", result.stderr)
        rows = read_csv(out)
        self.assertEqual([(r[0], r[1], r[3]) for r in rows[1:]], [("0", "0", "out0"),
                                                                  ("3", "3", "out3")])
        self.assertEqual(rows[1][4], "")  # no stderr for a row that succeeded
        self.assertEqual(rows[2][4].split("\n"), [f"line{i}" for i in range(11, 31)])
        # A command that cannot be started is a failed row, not a crash.
        missing = self.sweep("--param", "a=1", "--out", out, "--",
                             "unipar-sweep-no-such-program", "{a}")
        self.assert_exit(missing, 1)
        rows = read_csv(out)
        self.assertEqual(rows[1][1], "127")
        self.assertIn("unipar-sweep-no-such-program: command not found", rows[1][4])

    def test_usage_errors_exit_2(self):
        grid = self.path("bad.json")
        with open(grid, "w") as f:
            f.write('{"a": [1, [2]]}')
        good = self.path("good.json")
        with open(good, "w") as f:
            f.write('{"a": [1]}')
        cases = [
            ["--param", "a=1,2"],                                        # no command
            ["--param", "a=1,2", "--"],                                  # nothing after --
            ["--param", "a=1,2", "/bin/echo", "{a}"],                    # command without --
            ["--", "/bin/echo", "x"],                                    # no parameter
            ["--param", "a=1,2", "--", "/bin/echo", "{b}"],              # unknown placeholder
            ["--param", "a=1,2", "--", "/bin/echo", "{a"],               # unclosed brace
            ["--param", "a=0:1:0", "--", "/bin/echo", "{a}"],            # zero step
            ["--param", "a=5:1:1", "--", "/bin/echo", "{a}"],            # STOP below START
            ["--param", "a=1:x:1", "--", "/bin/echo", "{a}"],            # not a number
            ["--param", "a=1", "--param", "a=2", "--", "/bin/echo"],     # duplicate name
            ["--param", "=1,2", "--", "/bin/echo"],                      # empty name
            ["--param", "seconds=1", "--", "/bin/echo"],                 # reserved name
            ["--param", "a=1,,2", "--", "/bin/echo"],                    # empty value
            ["--param", "a=1", "--bogus", "--", "/bin/echo"],            # unknown option
            ["--param", "a=1", "--parse", "xml", "--", "/bin/echo"],     # bad --parse
            ["--param", "a=1", "--retries", "-1", "--", "/bin/echo"],    # bad --retries
            ["--param", "a=1", "--retries", "x", "--", "/bin/echo"],     # bad --retries
            ["--param", "a=1", "--backend", "pigeons", "--", "/bin/echo"],
            ["--param", "a=1", "--grid", good, "--", "/bin/echo"],       # --grid with --param
            ["--grid", grid, "--", "/bin/echo", "{a}"],                  # bad grid file
            ["--grid", self.path("missing.json"), "--", "/bin/echo"],    # no grid file
            ["--param", "a=1", "--out", self.path("no/such/dir/r.csv"), "--", "/bin/echo"],
        ]
        for args in cases:
            with self.subTest(args=args):
                result = self.sweep(*args)
                self.assert_exit(result, 2)
                self.assertEqual(result.stdout, "")
                self.assertNotEqual(result.stderr.strip(), "")
        self.assert_exit(self.sweep("--help"), 0)

    def test_grid_files(self):
        product = self.path("product.json")
        with open(product, "w") as f:
            f.write('{"z": [0.1, 10], "a": [1, "two"]}')
        result = self.sweep("--grid", product, "--backend", "fork:2", "--", "/bin/echo", "{z}/{a}")
        self.assert_exit(result, 0)
        rows = list(csv.reader(io.StringIO(result.stdout)))
        self.assertEqual(rows[0][:2], ["z", "a"])
        self.assertEqual([r[4] for r in rows[1:]], ["0.1/1", "0.1/two", "10/1", "10/two"])
        points = self.path("points.json")
        with open(points, "w") as f:
            f.write('[{"b": 2, "a": "x"}, {"a": "y", "b": 1.5}]')
        result = self.sweep("--grid", points, "--", "/bin/echo", "{a}{b}")
        self.assert_exit(result, 0)
        rows = list(csv.reader(io.StringIO(result.stdout)))
        self.assertEqual(rows[0][:2], ["b", "a"])
        self.assertEqual([r[4] for r in rows[1:]], ["x2", "y1.5"])

    def test_fail_fast_stops_at_the_first_failed_point(self):
        out = self.path("ff.csv")
        command = ["--", "/bin/sh", "-c", "echo {a}; [ {a} -ne 3 ]"]
        result = self.sweep("--param", "a=0:9:1", "--backend", "fork:2", "--fail-fast",
                            "--out", out, *command)
        self.assert_exit(result, 1)
        rows = read_csv(out)
        # Rows come in grid order: the ones before the failed point, then the failed point.
        self.assertEqual([(r[0], r[1]) for r in rows[1:]],
                         [("0", "0"), ("1", "0"), ("2", "0"), ("3", "1")])
        self.assertIn("--fail-fast", result.stderr)
        self.assertEqual(self.leftovers(out), [])
        full = self.sweep("--param", "a=0:9:1", "--backend", "fork:2", "--out", out, *command)
        self.assert_exit(full, 1)
        self.assertEqual(len(read_csv(out)), 11)

    def test_retries(self):
        log = self.path("runs.log")
        command = ["--", "/bin/sh", "-c",
                   f"echo {{a}} >> {log}; m={self.dir}/marker_{{a}}; "
                   "if [ -e $m ]; then echo ok{a}; else touch $m; echo first >&2; exit 5; fi"]
        out = self.path("r.csv")
        result = self.sweep("--param", "a=1:4:1", "--backend", "fork:2", "--retries", "1",
                            "--out", out, *command)
        self.assert_exit(result, 0)
        rows = read_csv(out)
        self.assertEqual(rows[0], ["a", "exit_code", "seconds", "attempts", "output", "stderr"])
        self.assertEqual([(r[0], r[1], r[3], r[4], r[5]) for r in rows[1:]],
                         [(str(a), "0", "2", f"ok{a}", "") for a in range(1, 5)])
        with open(log) as f:
            self.assertEqual(sorted(f.read().split()), sorted("11223344"))
        # Without --retries the first attempt is the answer.
        for a in range(1, 5):
            os.remove(self.path(f"marker_{a}"))
        result = self.sweep("--param", "a=1:4:1", "--backend", "fork:2", "--out", out, *command)
        self.assert_exit(result, 1)
        rows = read_csv(out)
        self.assertNotIn("attempts", rows[0])
        self.assertEqual([(r[1], r[4]) for r in rows[1:]], [("5", "first")] * 4)

    def test_resume_after_kill(self):
        """SIGKILL the whole sweep after some points, rerun: only the missing points run."""
        points = 12
        log = self.path("runs.log")
        out = self.path("resume.csv")
        args = ["--param", f"i=1:{points}:1", "--backend", "fork:2", "--quiet", "--out", out,
                "--", "/bin/sh", "-c",
                f"echo start {{i}} >> {log}; sleep 0.3; echo end {{i}} >> {log}; "
                "echo result {i}; echo note {i} >&2"]
        self.start_and_kill(args, log, ends=4)
        first = self.log_lines(log)
        ended_first = {line.split()[1] for line in first if line.startswith("end")}
        self.assertLess(len(ended_first), points, "every point ended before the kill")
        self.assertFalse(os.path.exists(out), "a killed sweep left a final file")
        self.assertTrue(os.path.exists(out + ".checkpoint"), "a killed sweep left no checkpoint")

        result = self.sweep(*args)
        self.assert_exit(result, 0)
        second = self.log_lines(log)[len(first):]
        started_second = [line.split()[1] for line in second if line.startswith("start")]
        ended_second = [line.split()[1] for line in second if line.startswith("end")]
        self.assertEqual(sorted(started_second), sorted(ended_second))
        # Every point ran to its end at least once ...
        self.assertEqual(ended_first | set(ended_second), {str(i) for i in range(1, points + 1)})
        # ... and the rerun did not compute again what the first run had delivered: only a
        # point that was in flight (at most one per process) may have ended in both runs.
        self.assertEqual(len(started_second), len(set(started_second)))
        self.assertLessEqual(len(ended_first & set(ended_second)), 2)
        self.assertEqual(self.leftovers(out), [])

        # The file equals an uninterrupted run's apart from the times.
        fresh_dir = self.path("fresh")
        os.mkdir(fresh_dir)
        fresh_out = os.path.join(fresh_dir, "resume.csv")
        fresh_args = [fresh_out if a == out else a.replace(log, os.path.join(fresh_dir, "log"))
                      for a in args]
        self.assert_exit(self.sweep(*fresh_args), 0)
        self.assertEqual(without_seconds(read_csv(out)), without_seconds(read_csv(fresh_out)))
        self.assertEqual([r[3] for r in read_csv(out)[1:]],
                         [f"result {i}" for i in range(1, points + 1)])

    def test_checkpoint_of_another_sweep_is_a_usage_error(self):
        log = self.path("runs.log")
        out = self.path("other.csv")
        with open(out, "w") as f:
            f.write("previous results\n")
        command = ["/bin/sh", "-c", f"echo start >> {log}; sleep 0.2; echo end >> {log}"]
        self.start_and_kill(["--param", "i=1:20:1", "--backend", "fork:2", "--quiet", "--out",
                             out, "--", *command, "{i}"], log, ends=3)
        self.assertTrue(os.path.exists(out + ".checkpoint"))
        # Another command: other items than the checkpoint's.
        result = self.sweep("--param", "i=1:20:1", "--backend", "fork:2", "--out", out, "--",
                            *command, "x{i}")
        self.assert_exit(result, 2)
        self.assertIn("checkpoint", result.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), "previous results\n")  # not overwritten
        self.assertTrue(os.path.exists(out + ".checkpoint"))  # not removed


class MpiTest(SweepCase):
    def setUp(self):
        if not MPIEXEC:
            self.skipTest("no mpiexec given (the MPI backend is not built)")
        super().setUp()

    def mpi_prefix(self):
        return (MPIEXEC, NUMPROC_FLAG, "2", "--oversubscribe")

    def mpi(self, *args):
        return self.sweep(*args, prefix=self.mpi_prefix())

    def test_resume_after_mpirun_is_terminated(self):
        """mpiexec stopped with SIGTERM (it passes it on to the ranks), then the same call:
        only the points without a result run, and the file is complete."""
        points = 16
        log = self.path("runs.log")
        out = self.path("resume.csv")
        args = ["--param", f"i=1:{points}:1", "--quiet", "--out", out, "--", "/bin/sh", "-c",
                f"echo start {{i}} >> {log}; sleep 0.3; echo end {{i}} >> {log}; "
                "echo result {i}"]
        self.start_and_kill(args, log, ends=4, prefix=self.mpi_prefix(), group=False)
        first = self.log_lines(log)
        ended_first = {line.split()[1] for line in first if line.startswith("end")}
        self.assertLess(len(ended_first), points, "every point ended before the kill")
        self.assertFalse(os.path.exists(out), "a killed sweep left a final file")
        self.assertTrue(os.path.exists(out + ".checkpoint"), "a killed sweep left no checkpoint")
        self.assert_exit(self.mpi(*args), 0)
        ended_second = [line.split()[1] for line in self.log_lines(log)[len(first):]
                        if line.startswith("end")]
        self.assertEqual(ended_first | set(ended_second), {str(i) for i in range(1, points + 1)})
        self.assertEqual(len(ended_second), len(set(ended_second)))
        self.assertLessEqual(len(ended_first & set(ended_second)), 2)  # in flight, one per rank
        self.assertEqual([r[3] for r in read_csv(out)[1:]],
                         [f"result {i}" for i in range(1, points + 1)])
        self.assertEqual(self.leftovers(out), [])

    def test_mpirun_gives_the_fork_file(self):
        log = self.path("runs.log")
        sweep = ["--param", "a=1:3:1", "--param", "b=x,y,z", "--quiet", "--", "/bin/sh", "-c",
                 f"echo {{a}}{{b}} >> {log}; echo row {{a}} {{b}}; echo warn {{a}} >&2; "
                 "[ {a} -ne 2 ] || [ {b} != y ]"]
        mpi_out = self.path("mpi.csv")
        result = self.mpi("--out", mpi_out, *sweep)
        self.assert_exit(result, 1)  # point (2, y) fails, on every rank's exit status
        with open(log) as f:
            self.assertEqual(sorted(f.read().split()),
                             sorted(a + b for a in "123" for b in "xyz"))
        fork_out = self.path("fork.csv")
        self.assert_exit(self.sweep("--backend", "fork:2", "--out", fork_out, *sweep), 1)
        mpi_rows = read_csv(mpi_out)
        self.assertEqual(len(mpi_rows), 10)
        self.assertEqual(without_seconds(mpi_rows), without_seconds(read_csv(fork_out)))
        self.assertEqual(mpi_rows[5][5], "warn 2")  # the failed row's stderr
        self.assertEqual(self.leftovers(mpi_out), [])
        # Only rank 0 writes: the CSV on stdout appears once.
        on_stdout = self.mpi("--param", "a=1,2", "--", "/bin/echo", "{a}")
        self.assert_exit(on_stdout, 0)
        self.assertEqual([r[3] for r in csv.reader(io.StringIO(on_stdout.stdout))],
                         ["output", "1", "2"])

    def test_usage_error_under_mpirun(self):
        result = self.mpi("--param", "a=5:1:1", "--", "/bin/echo", "{a}")
        self.assert_exit(result, 2)
        self.assertEqual(result.stderr.count("unipar-sweep: range 5:1:1"), 1, result.stderr)


def main():
    global BINARY, PYTHON, MPIEXEC, NUMPROC_FLAG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the helper scripts the sweeps run")
    parser.add_argument("--mpiexec")
    parser.add_argument("--mpiexec-numproc-flag", default="-n")
    parser.add_argument("rest", nargs="*", help="arguments for unittest, after --")
    args = parser.parse_args()
    BINARY = os.path.abspath(args.binary)
    PYTHON = args.python
    MPIEXEC = args.mpiexec
    NUMPROC_FLAG = args.mpiexec_numproc_flag
    unittest.main(argv=[sys.argv[0], "-v", *args.rest])


if __name__ == "__main__":
    main()
