#!/usr/bin/env python3
"""@file multihost.py
@brief Several hosts on one machine: runs a command whose mpirun spreads ranks over network
namespaces, each a host of its own, and removes every namespace and process afterwards.

    multihost.py --slots 2,1,1 --mpirun MPIRUN [--timeout S] -- COMMAND...

Makes one host per entry of --slots (h0, h1, ...; the entry is the host's slot count): a network
namespace with its own veth interface eth0 on 10.211.0.(i+1)/24, all plugged into a bridge that
lives in a namespace of its own, and /etc/hosts naming every host (/etc/netns/<namespace>/hosts,
which `ip netns exec` mounts). Nothing is added to the machine's own network namespace.

In COMMAND, the word @MPIRUN@ becomes the launcher: MPIRUN started on h0 (in its namespaces, see
netns_agent.sh) with --host h0:2,h1:1,... and Open MPI's TCP transport between hosts (btl
tcp,vader,self: shared memory stays within a host), netns_agent.sh as the launch agent instead of
ssh, and mpi_yield_when_idle (the hosts share this machine's cores, which no rank can tell).
COMMAND can be mpirun's arguments after @MPIRUN@, or a checker such as run_checked.py around it.
The environment reaches every rank (the agent keeps it, as ssh would not).

Exit status: COMMAND's; 77 (CTest's SKIP_RETURN_CODE) with a line starting "SKIP:" when this
machine cannot make namespaces (not root, no `ip netns`, no unshare); 1 when a host still has a
process 10 s after COMMAND ended (they are listed, then killed) or when setting up failed.
Namespaces left by an earlier run that was killed (its pid is gone) are removed first, once the
tools are known to be there.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77
SUBNET = "10.211.0"
HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(HERE, "netns_agent.sh")
PREFIX_PATTERN = re.compile(r"^unipar(\d+)-")


def run(*command, check=True):
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def skip(reason):
    print(f"SKIP: several hosts on one machine are not possible here: {reason}", flush=True)
    sys.exit(SKIP)


def namespaces():
    listing = run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def pids_in(namespace):
    listing = run("ip", "netns", "pids", namespace, check=False).stdout
    return [int(pid) for pid in listing.split()]


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b" ".join(a for a in f.read().split(b"\0") if a).decode(errors="replace")
    except OSError:
        return "(gone)"


def remove_namespace(namespace):
    """Kills what runs in it, then deletes it and its /etc/netns folder."""
    for _ in range(50):
        pids = pids_in(namespace)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    run("ip", "netns", "delete", namespace, check=False)
    shutil.rmtree(f"/etc/netns/{namespace}", ignore_errors=True)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def remove_stale():
    """Namespaces of earlier runs whose process is gone (killed by a test timeout, say)."""
    for namespace in namespaces():
        match = PREFIX_PATTERN.match(namespace)
        if match and not alive(int(match.group(1))):
            remove_namespace(namespace)
    if os.path.isdir("/etc/netns"):
        for entry in os.listdir("/etc/netns"):
            match = PREFIX_PATTERN.match(entry)
            if match and not alive(int(match.group(1))):
                shutil.rmtree(f"/etc/netns/{entry}", ignore_errors=True)


def check_allowed(prefix, mpirun):
    """Skips (exit 77) unless this machine can make the hosts; every tool is looked for before
    any is used, so that a missing one is a reason, not a traceback."""
    if os.geteuid() != 0:
        skip("network namespaces need root (this runs as uid %d)" % os.geteuid())
    for tool, package in (("ip", "iproute2"), ("unshare", "util-linux"), ("hostname", "hostname")):
        if shutil.which(tool) is None:
            skip(f"`{tool}` is not installed (Debian: {package})")
    if shutil.which(mpirun) is None and not os.access(mpirun, os.X_OK):
        skip(f"no mpirun at {mpirun}")
    remove_stale()
    probe = prefix + "probe"
    done = run("ip", "netns", "add", probe, check=False)
    if done.returncode != 0:
        skip(f"`ip netns add` failed: {done.stderr.strip()}")
    try:
        done = run("ip", "netns", "exec", probe, "unshare", "--uts", "--pid", "--fork",
                   "--kill-child", "--mount-proc", "true", check=False)
        if done.returncode != 0:
            skip(f"`unshare --uts --pid --mount-proc` in a namespace failed: {done.stderr.strip()}")
    finally:
        remove_namespace(probe)


def make_hosts(prefix, count):
    switch = prefix + "sw"
    names = [f"h{i}" for i in range(count)]
    run("ip", "netns", "add", switch)
    run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
    run("ip", "-n", switch, "link", "set", "br0", "up")
    hosts_file = "127.0.0.1 localhost\n" + "".join(
        f"{SUBNET}.{i + 1} {name}\n" for i, name in enumerate(names))
    for i, name in enumerate(names):
        namespace = prefix + name
        run("ip", "netns", "add", namespace)
        os.makedirs(f"/etc/netns/{namespace}", exist_ok=True)
        with open(f"/etc/netns/{namespace}/hosts", "w") as f:
            f.write(hosts_file)
        run("ip", "-n", switch, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0",
            "netns", namespace)
        run("ip", "-n", switch, "link", "set", f"p{i}", "master", "br0", "up")
        run("ip", "-n", namespace, "addr", "add", f"{SUBNET}.{i + 1}/24", "dev", "eth0")
        run("ip", "-n", namespace, "link", "set", "eth0", "up")
        run("ip", "-n", namespace, "link", "set", "lo", "up")
    return names


def launcher(mpirun, names, slots):
    subnet = f"{SUBNET}.0/24"
    return [
        AGENT, "--exec", names[0], mpirun,
        "--host", ",".join(f"{name}:{n}" for name, n in zip(names, slots)),
        "--mca", "plm_rsh_agent", AGENT, "--mca", "plm_rsh_no_tree_spawn", "1",
        "--mca", "btl", "tcp,vader,self", "--mca", "btl_tcp_if_include", subnet,
        "--mca", "oob_tcp_if_include", subnet, "--mca", "mpi_yield_when_idle", "1",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slots", required=True, help="slots per host, e.g. 2,1,1")
    parser.add_argument("--mpirun", default="mpirun")
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    slots = [int(n) for n in args.slots.split(",")]
    if not command or "@MPIRUN@" not in command or len(slots) < 2 or min(slots) < 1:
        parser.error("need --slots with two or more positive counts and a COMMAND with @MPIRUN@")

    prefix = f"unipar{os.getpid()}-"
    # A test timeout ends this script with SIGTERM or SIGKILL; the first still cleans up here,
    # the second at the next run (remove_stale).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    check_allowed(prefix, args.mpirun)
    names = []
    status = 1
    try:
        try:
            names = make_hosts(prefix, len(slots))
        except RuntimeError as error:
            print(f"multihost.py: setting up the hosts failed: {error}", flush=True)
            return 1
        words = launcher(args.mpirun, names, slots)
        expanded = []
        for word in command:
            expanded += words if word == "@MPIRUN@" else [word]
        environment = dict(os.environ, UNIPAR_NETNS_PREFIX=prefix,
                           UNIPAR_MULTIHOST_HOSTS=str(len(names)))
        print(f"multihost.py: hosts {', '.join(f'{n} ({s} slots)' for n, s in zip(names, slots))}"
              f" in namespaces {prefix}h*; running: {' '.join(expanded)}", flush=True)
        start = time.monotonic()
        process = subprocess.Popen(expanded, env=environment, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            status = process.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            print(f"multihost.py: FAILED: the command did not end within {args.timeout:g} s",
                  flush=True)
            status = 1
        print(f"multihost.py: the command ended with status {status} after "
              f"{time.monotonic() - start:.1f} s", flush=True)

        # Every host's processes end with the job: mpirun's and the daemons' children.
        deadline = time.monotonic() + 10
        left = {}
        while time.monotonic() < deadline:
            left = {name: pids_in(prefix + name) for name in names}
            left = {name: pids for name, pids in left.items() if pids}
            if not left:
                break
            time.sleep(0.2)
        for name, pids in left.items():
            for pid in pids:
                print(f"multihost.py: FAILED: left behind on {name}: {pid} {command_line(pid)}",
                      flush=True)
        if left:
            status = status or 1
        return status
    finally:
        for namespace in [prefix + name for name in names] + [prefix + "sw"]:
            remove_namespace(namespace)


if __name__ == "__main__":
    sys.exit(main())
