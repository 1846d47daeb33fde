#!/bin/sh
# netns_agent.sh: Open MPI's launch agent (plm_rsh_agent) for the hosts that multihost.py makes
# on one machine, in place of ssh.
#
#   netns_agent.sh HOST WORD...          what `ssh HOST WORD...` does: runs the words, joined by
#                                        spaces, as a shell command on HOST
#   netns_agent.sh --exec HOST PROGRAM [ARG...]
#                                        runs PROGRAM with its arguments as they are on HOST
#
# A host is the network namespace ${UNIPAR_NETNS_PREFIX}HOST (its own interfaces, addresses and
# /etc/hosts, through `ip netns exec`) entered with its own hostname (a UTS namespace), its own
# process ids and /proc (a PID namespace): what a process can see of another node is what it
# could see on a real cluster. When the agent ends, --kill-child ends everything it started.
#
# mpirun asks the remote daemon to --daemonize, which suits ssh (the session ends, the daemon
# stays); here the daemon must stay the agent's child, in the host's namespaces, so that option
# is dropped.
set -eu
: "${UNIPAR_NETNS_PREFIX:?netns_agent.sh: UNIPAR_NETNS_PREFIX is not set (see multihost.py)}"
enter() {
  host="$1"
  shift
  exec ip netns exec "${UNIPAR_NETNS_PREFIX}${host}" \
    unshare --uts --pid --fork --kill-child --mount-proc "$@"
}
if [ "${1:-}" = --exec ]; then
  host="$2"
  shift 2
  enter "$host" sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
fi
host="$1"
shift
command=$(printf '%s ' "$@" | sed 's/ --daemonize / /')
enter "$host" sh -c 'hostname "$0" && eval "$1"' "$host" "$command"
