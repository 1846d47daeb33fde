#!/usr/bin/env bash
# unipar quick start: install the build dependencies, build, run the demo, run the tests.
#
#   bash cmake/quickstart.sh deps       install what the build and the tests need (Debian 12
#                                       packages)
#   bash cmake/quickstart.sh demo [ARGS...]
#                                       deps + build + run the demo program with its defaults
#                                       (build/apps/demo/unipar-demo) or with ARGS, then the
#                                       same under `mpirun -n 2`
#   bash cmake/quickstart.sh test       deps + build + ctest in build/
#   bash cmake/quickstart.sh sanitize   the sanitizer job: deps + ASan/UBSan build + ctest
#                                       in build-asan/
#   bash cmake/quickstart.sh tsan       the thread-sanitizer job: deps + TSan build + ctest in
#                                       build-tsan/
#   bash cmake/quickstart.sh fuzz       the fuzz job: deps + clang + libFuzzer/ASan/UBSan build of
#                                       the harnesses (tests/fuzz) in build-fuzz/, each fuzzed for
#                                       UNIPAR_FUZZ_SECONDS, then executions and coverage per harness
#   bash cmake/quickstart.sh ci         test, then sanitize (what CI runs: bash .ci/run)
#   bash cmake/quickstart.sh bench      deps + the benchmarks' own packages + Release build in
#                                       build-bench/ + bench/compare.py and bench/compare_farm.py,
#                                       then bench/plot.py (the SVGs in docs/plots/; see
#                                       docs/benchmarks.md; wants an otherwise idle machine)
#
# Environment (all optional):
#   UNIPAR_BUILD_DIR       build directory for demo/test          (default: build)
#   UNIPAR_ASAN_BUILD_DIR  build directory for sanitize           (default: build-asan)
#   UNIPAR_TSAN_BUILD_DIR  build directory for tsan               (default: build-tsan)
#   UNIPAR_BENCH_BUILD_DIR build directory for bench, Release     (default: build-bench)
#   UNIPAR_FUZZ_BUILD_DIR  build directory for fuzz (clang)       (default: build-fuzz)
#   UNIPAR_FUZZ_SECONDS    how long fuzz runs each harness        (default: 60)
#   UNIPAR_BUILD_TYPE      CMAKE_BUILD_TYPE, not for bench        (default: RelWithDebInfo)
#   UNIPAR_JOBS            parallel compile and test jobs         (default: 2)
#   UNIPAR_CMAKE_ARGS      extra arguments for the configure step (word-split)
#   UNIPAR_SKIP_DEPS=1     do not check or install packages
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT="$ROOT/cmake/quickstart.sh"
cd "$ROOT"

BUILD_DIR="${UNIPAR_BUILD_DIR:-build}"
ASAN_BUILD_DIR="${UNIPAR_ASAN_BUILD_DIR:-build-asan}"
TSAN_BUILD_DIR="${UNIPAR_TSAN_BUILD_DIR:-build-tsan}"
BENCH_BUILD_DIR="${UNIPAR_BENCH_BUILD_DIR:-build-bench}"
FUZZ_BUILD_DIR="${UNIPAR_FUZZ_BUILD_DIR:-build-fuzz}"
FUZZ_SECONDS="${UNIPAR_FUZZ_SECONDS:-60}"
BUILD_TYPE="${UNIPAR_BUILD_TYPE:-RelWithDebInfo}"
JOBS="${UNIPAR_JOBS:-2}"
read -r -a EXTRA_CMAKE_ARGS <<<"${UNIPAR_CMAKE_ARGS:-}"

# Packages the build needs, and the one that is only nice to have.
REQUIRED_PACKAGES=(
  cmake ninja-build g++
  libboost-dev libboost-serialization-dev    # Boost >= 1.74: headers (Interprocess), serialization
  libopenmpi-dev openmpi-bin                 # the MPI backend and the benchmarks
  libgtest-dev libbenchmark-dev libcli11-dev # tests, benchmarks, the demo's command line
  nlohmann-json3-dev                         # unipar-sweep's grid files and JSON output
  libboost-mpi-dev                           # the Boost.MPI peer in bench/mpi_backend.cpp
  python3
)
OPTIONAL_PACKAGES=(clang-format)
# Packages the test jobs' tests call (installed by test, sanitize, tsan and ci, so that these
# tests run on a fresh machine instead of skipping): each test that needs one still skips with
# its reason where it is missing.
TEST_PACKAGES=(
  iproute2 # `ip netns`: the multi-host tests' hosts (tests/multihost/multihost.py)
  gdb      # the stall detector's stacks of every thread of a test that stops making progress
)
# Packages only the benchmarks use (installed by `bench` alone; without them a peer is skipped).
BENCH_PACKAGES=(
  python3-joblib # joblib's Parallel, a Python peer in bench/farm_python_peer.py
  python3-mpi4py # mpi4py.futures, a Python peer in bench/client_server_python_peer.py
  python3-matplotlib # bench/plot.py draws docs/plots/*.svg with it
)
# Packages only the fuzz job uses (installed by `fuzz` alone): clang and its libFuzzer runtime.
FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)
MIN_BOOST_VERSION=1.74

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'quickstart.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$SCRIPT" | sed '$d' | sed 's/^# \{0,1\}//'
}

# ---- deps ---------------------------------------------------------------------------------------

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (run as root, or install sudo)"
  fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@" </dev/null
}

# install_missing required|optional WHAT PACKAGE...: installs the packages that are not installed
# (one `apt-get update` per session of this script); "optional" only notes a failure, "required"
# stops. Does nothing with UNIPAR_SKIP_DEPS=1 or off Debian.
APT_UPDATED=0
install_missing() {
  local kind="$1" what="$2"
  shift 2
  if [[ "${UNIPAR_SKIP_DEPS:-0}" == 1 ]] || ! command -v dpkg-query >/dev/null 2>&1; then
    return 0
  fi
  local missing=() package status=0
  for package in "$@"; do
    is_installed "$package" || missing+=("$package")
  done
  ((${#missing[@]} > 0)) || return 0
  log "installing $what: ${missing[*]}"
  if ((APT_UPDATED == 0)); then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null || status=$?
    ((status != 0)) || APT_UPDATED=1
  fi
  ((status != 0)) || apt_install "${missing[@]}" || status=$?
  if ((status != 0)); then
    [[ "$kind" == optional ]] || die "could not install ${missing[*]} ($what)"
    echo "quickstart.sh: note: could not install ${missing[*]} ($what, optional)" >&2
  fi
}

cmd_deps() {
  if [[ "${UNIPAR_SKIP_DEPS:-0}" == 1 ]]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "quickstart.sh: not a Debian system; install the equivalents of these yourself:" >&2
    echo "  ${REQUIRED_PACKAGES[*]} (tests: ${TEST_PACKAGES[*]}; optional: ${OPTIONAL_PACKAGES[*]})" >&2
    return 0
  fi
  install_missing required "what the build needs" "${REQUIRED_PACKAGES[@]}"
  install_missing optional "what is nice to have" "${OPTIONAL_PACKAGES[@]}"
  local boost_version
  boost_version="$(dpkg-query -W -f='${Version}' libboost-dev)"
  dpkg --compare-versions "$boost_version" ge "$MIN_BOOST_VERSION" ||
    die "libboost-dev $boost_version is older than $MIN_BOOST_VERSION"
  echo "deps: all required packages are installed (Boost $boost_version)"
}

# The test jobs' packages: required, as the tests that use them are part of the job.
cmd_test_deps() {
  install_missing required "the tests' packages" "${TEST_PACKAGES[@]}"
}

# The benchmarks' own packages: best effort, a missing one only drops its peer from the tables.
cmd_bench_deps() {
  install_missing optional "the benchmarks' packages" "${BENCH_PACKAGES[@]}"
}

# ---- configure / build / test -------------------------------------------------------------------

# configure <build dir> [cmake -D arguments...]
configure() {
  local dir="$1"
  shift
  local generator=(-G Ninja)
  if [[ -f "$dir/CMakeCache.txt" ]]; then
    # An existing build directory keeps its generator (CMake refuses to switch).
    local existing
    existing="$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")"
    if [[ -n "$existing" && "$existing" != Ninja ]]; then
      echo "quickstart.sh: note: $dir was configured with '$existing'; keeping it" >&2
      generator=()
    fi
  fi
  log "configure $dir ($BUILD_TYPE)"
  cmake -S "$ROOT" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@" \
    "${EXTRA_CMAKE_ARGS[@]}"
}

# build <build dir> [targets...]
build() {
  local dir="$1"
  shift
  local targets=()
  if (($# > 0)); then
    targets=(--target "$@")
  fi
  log "build $dir ${*:-(all)} with $JOBS jobs"
  cmake --build "$dir" --parallel "$JOBS" "${targets[@]}"
}

# run_ctest <build dir> <label for the summary> [ctest args...]: prints ctest's output and,
# last, its summary.
run_ctest() {
  local dir="$1" job="$2" logfile status=0
  shift 2
  logfile="$dir/quickstart-ctest.log"
  log "ctest in $dir ($job), $JOBS jobs"
  # --timeout: a default for tests that set none, so that a hang fails instead of stalling CI.
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$JOBS" --timeout 900 "$@" \
    2>&1 | tee "$logfile" || status=$?
  echo
  echo "---- $job: ctest summary ($dir) ----"
  grep -E '^[0-9]+% tests passed|^Total Test time|^No tests were found' "$logfile" || true
  if ((status != 0)); then
    sed -n '/^The following tests FAILED:/,$p' "$logfile"
    echo "$job: FAILED (ctest exit code $status)"
  else
    echo "$job: passed"
  fi
  return "$status"
}

cmd_demo() {
  cmd_deps
  configure "$BUILD_DIR" -DUNIPAR_BUILD_APPS=ON
  build "$BUILD_DIR" unipar_demo
  # The target unipar_demo writes its program as unipar-demo (its OUTPUT_NAME).
  local demo="" candidate
  for candidate in "$BUILD_DIR/apps/demo/unipar-demo" "$BUILD_DIR/apps/demo/unipar_demo"; do
    if [[ -x "$candidate" ]]; then
      demo="$candidate"
      break
    fi
  done
  [[ -n "$demo" ]] || die "the demo was not built in $BUILD_DIR/apps/demo/"
  log "run $demo${*:+ $*}"
  "$demo" "$@"
  # The same binary under mpirun: "auto" picks the MPI backend there.
  if command -v mpirun >/dev/null 2>&1; then
    log "run mpirun -n 2 $demo${*:+ $*} (the same program, on the MPI backend)"
    if [[ "$(id -u)" -eq 0 ]]; then  # Open MPI refuses root unless told it is meant
      export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    mpirun -n 2 --oversubscribe "$demo" "$@"
  fi
}

cmd_test() {
  cmd_deps
  cmd_test_deps
  configure "$BUILD_DIR" -DUNIPAR_BUILD_TESTS=ON -DUNIPAR_INSTALL=ON
  build "$BUILD_DIR"
  # Not the soak tests (label soak, 15 s to 1.5 min of repeated runs):
  # `ctest --test-dir build -L soak` after this job runs them. The multi-host tests (label multihost) run here when the machine
  # allows network namespaces (root, `ip netns`) and say why they skip where it does not.
  run_ctest "$BUILD_DIR" test -LE '^soak$'
}

# The sanitizer job: AddressSanitizer + UndefinedBehaviorSanitizer (-DUNIPAR_SANITIZE=ON).
# Any ASan or UBSan finding fails the test that triggered it. Benchmarks are left out: their
# numbers mean nothing under a sanitizer.
cmd_sanitize() {
  cmd_deps
  cmd_test_deps
  echo
  echo "#### sanitizer job: AddressSanitizer + UndefinedBehaviorSanitizer in $ASAN_BUILD_DIR ####"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:check_initialization_order=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  echo "ASAN_OPTIONS=$ASAN_OPTIONS"
  echo "UBSAN_OPTIONS=$UBSAN_OPTIONS"
  # -O1 -g1 (line tables): what sanitizer builds usually use; it keeps findings' stacks exact
  # and builds in about half the time of -O2 -g.
  configure "$ASAN_BUILD_DIR" -DUNIPAR_SANITIZE=ON -DUNIPAR_BUILD_TESTS=ON \
    -DUNIPAR_BUILD_BENCH=OFF -DUNIPAR_INSTALL=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  build "$ASAN_BUILD_DIR"
  # Not the compile-failure checks (they run the compiler, not unipar), the install check
  # (it builds a consumer against the installed tree) nor the 2 GiB broadcast (label large: it
  # runs alone, about a minute under ASan, on the same code paths as mpi.pieces): the test job
  # runs all three. Nor the soak tests, the resource-limit tests (ASan reserves terabytes of
  # shadow address space, so RLIMIT_AS means nothing under it) or the multi-host runs (the same
  # MPI code as the mpi tests, over TCP).
  run_ctest "$ASAN_BUILD_DIR" sanitize -LE '^(compile|install|large|soak|limits|multihost)$'

}

# The thread-sanitizer job: ThreadSanitizer (-DUNIPAR_SANITIZE_THREAD=ON) over the suite, for the
# threads the library runs (the task farm's and the client/server runner's dispatcher, the
# progress display, the service thread) on serial and fork. Any report fails the test that
# made it (halt_on_error); tests/support/tsan.supp says what is suppressed and why. Not the
# MPI runs (label mpi): Open MPI is not instrumented, its plugins report mutex misuse from
# MPI_Init on, and TSan aborts when a plugin it was told to ignore is unloaded, so no
# suppression list holds; nor what the sanitizer job leaves out.
cmd_tsan() {
  cmd_deps
  cmd_test_deps
  echo
  echo "#### thread-sanitizer job: ThreadSanitizer in $TSAN_BUILD_DIR ####"
  # die_after_fork=0: fork's workers are forked from a main whose service thread is parked,
  # and a worker may start its own; TSan's default would kill such a child.
  export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:die_after_fork=0:suppressions=$ROOT/tests/support/tsan.supp}"
  echo "TSAN_OPTIONS=$TSAN_OPTIONS"
  configure "$TSAN_BUILD_DIR" -DUNIPAR_SANITIZE_THREAD=ON -DUNIPAR_BUILD_TESTS=ON \
    -DUNIPAR_BUILD_BENCH=OFF -DUNIPAR_INSTALL=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  build "$TSAN_BUILD_DIR"
  run_ctest "$TSAN_BUILD_DIR" tsan -LE '^(compile|install|large|mpi|soak|limits|multihost)$'
}

# The fuzz job: the libFuzzer harnesses of tests/fuzz (the codec's decoders, fork's and MPI's
# framing, failure records, the task farm's and the client/server runner's protocols, the
# checkpoint reader), built by clang with -fsanitize=fuzzer,address,undefined (the library with
# fuzzer-no-link) in $FUZZ_BUILD_DIR. Each fuzz.<name> test fuzzes one harness for
# $FUZZ_SECONDS seconds from its seed corpus and regression inputs (copied into the build
# tree); any crash, sanitizer finding, hang (-timeout=10), leak, huge allocation
# (-rss_limit_mb=2048) or broken round trip fails it, and the input is kept in
# $FUZZ_BUILD_DIR/tests/fuzz/runs/<name>/artifacts/. MPI's framing is fuzzed without MPI.
cmd_fuzz() {
  cmd_deps
  install_missing required "the fuzz job's packages" "${FUZZ_PACKAGES[@]}"
  local cc=clang cxx=clang++
  if ! command -v clang++ >/dev/null 2>&1; then
    cc=clang-14
    cxx=clang++-14
  fi
  command -v "$cxx" >/dev/null 2>&1 || die "clang++ not found (Debian: clang-14 libclang-rt-14-dev)"
  echo
  echo "#### fuzz job: libFuzzer + ASan + UBSan in $FUZZ_BUILD_DIR, $FUZZ_SECONDS s per harness ####"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  echo "UBSAN_OPTIONS=$UBSAN_OPTIONS"
  local start=$SECONDS status=0
  # The compiler of a new build directory (an existing one keeps its own; UNIPAR_FUZZ refuses
  # any but clang).
  CC="$cc" CXX="$cxx" configure "$FUZZ_BUILD_DIR" -DUNIPAR_FUZZ=ON \
    -DUNIPAR_FUZZ_SECONDS="$FUZZ_SECONDS" -DUNIPAR_BUILD_TESTS=ON -DUNIPAR_BUILD_BENCH=OFF \
    -DUNIPAR_BUILD_APPS=OFF -DUNIPAR_INSTALL=OFF -DUNIPAR_WITH_MPI=OFF \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  # Only the harnesses (tests/ holds many other targets this job does not run).
  build "$FUZZ_BUILD_DIR" unipar_fuzz
  run_ctest "$FUZZ_BUILD_DIR" fuzz -L '^fuzz(_replay)?$' || status=$?

  echo
  echo "---- fuzz: executions and coverage per harness ($FUZZ_SECONDS s each) ----"
  printf '  %-16s %12s %8s %8s\n' harness executions cov ft
  local log name executions last total=0
  for log in "$FUZZ_BUILD_DIR"/tests/fuzz/runs/*/fuzz.log; do
    [[ -f "$log" ]] || continue
    name="$(basename "$(dirname "$log")")"
    executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
    last="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n1 || true)"
    printf '  %-16s %12s %8s %8s\n' "$name" "${executions:-?}" \
      "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")" \
      "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    total=$((total + ${executions:-0}))
  done
  printf '  %-16s %12s\n' total "$total"
  echo "fuzz: $((SECONDS - start)) s in all"
  return "$status"
}

# The benchmarks: a Release build of the library, the bench targets and the apps (the demo is a
# workload of bench/plot.py), then the tables, then the pictures.
cmd_bench() {
  cmd_deps
  cmd_bench_deps
  local BUILD_TYPE=Release # seen by configure
  configure "$BENCH_BUILD_DIR" -DUNIPAR_BUILD_BENCH=ON -DUNIPAR_BUILD_TESTS=OFF \
    -DUNIPAR_BUILD_APPS=ON
  build "$BENCH_BUILD_DIR"
  log "bench/compare.py --build $BENCH_BUILD_DIR --mpi"
  python3 "$ROOT/bench/compare.py" --build "$BENCH_BUILD_DIR" --mpi
  log "bench/compare_farm.py --build $BENCH_BUILD_DIR"
  python3 "$ROOT/bench/compare_farm.py" --build "$BENCH_BUILD_DIR"
  # plot.py draws with whichever of python3 and /usr/bin/python3 has matplotlib.
  local python
  for python in python3 /usr/bin/python3; do
    if "$python" -c 'import matplotlib' >/dev/null 2>&1; then
      log "bench/plot.py --build $BENCH_BUILD_DIR (docs/plots/*.svg, data in docs/plots/data/)"
      python3 "$ROOT/bench/plot.py" --build "$BENCH_BUILD_DIR"
      return
    fi
  done
  echo "quickstart.sh: note: matplotlib not found (Debian: python3-matplotlib): the plots" \
    "(bench/plot.py, docs/plots/) are skipped" >&2
}

# What CI runs: every job runs (a failing test job does not hide sanitizer findings); the exit
# code is non-zero when any job failed.
cmd_ci() {
  local start total job status
  local -A results=() seconds=()
  start=$SECONDS
  log "ci: $(uname -srm), $(nproc) cores, $(cmake --version | head -n1), $(g++ --version | head -n1)"
  cmd_deps
  cmd_test_deps
  for job in test sanitize; do
    local job_start=$SECONDS
    status=0
    # A child bash: `set -e` stays in force inside it (it would not in a `||` list here).
    UNIPAR_SKIP_DEPS=1 bash "$SCRIPT" "$job" || status=$?
    results[$job]=$status
    seconds[$job]=$((SECONDS - job_start))
  done
  total=$((SECONDS - start))

  echo
  echo "==== ci summary ===="
  local failed=0
  for job in test sanitize; do
    if ((results[$job] == 0)); then
      printf '  %-9s passed  %4ds\n' "$job" "${seconds[$job]}"
    else
      printf '  %-9s FAILED  %4ds  (exit code %d)\n' "$job" "${seconds[$job]}" "${results[$job]}"
      failed=1
    fi
  done
  printf '  total             %4ds\n' "$total"
  return "$failed"
}

main() {
  local command="${1:-}"
  (($# > 0)) && shift
  case "$command" in
    deps) cmd_deps && cmd_test_deps ;;
    demo) cmd_demo "$@" ;;
    test) cmd_test ;;
    sanitize) cmd_sanitize ;;
    tsan) cmd_tsan ;;
    fuzz) cmd_fuzz ;;
    ci) cmd_ci ;;
    bench) cmd_bench ;;
    -h | --help | help) usage ;;
    *)
      [[ -n "$command" ]] && echo "quickstart.sh: unknown command '$command'" >&2
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
