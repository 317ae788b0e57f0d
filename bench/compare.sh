#!/usr/bin/env bash
# compare.sh: runs gort's benchmark programs (bench/<workload>.cpp) and
# network servers (examples/http_hello.cpp, examples/echo.cpp) side by side
# with the anchors (Go, Boost.Fiber and Boost.Asio, in $ANCHORS: see below),
# run by run, and prints the anchors' median table (run.sh --report) with
# gort's columns, and gort ÷ Boost.Fiber and gort ÷ Asio columns, added.
#
# The anchors are built by their own run.sh (--build-only) into this repo's
# build directory (nothing is written under the anchors' directory) and each
# binary is invoked exactly as run.sh invokes it: same N, same environment
# (GOMAXPROCS=1 for yield, 1 and 2 for pingpong_p1/p2, else inherited), same
# timeout.
#
# The servers (httphello, httphello_nethttp, echo) are run by run.sh itself,
# one run of one implementation per call (--runs 1 --impl go|asio), so that
# its procedure (the answer check, wrk or echoclient pinned to a core, the
# SIGTERM, the figures appended, the failure rules) is the one every
# implementation goes through. gort's servers go through it as Asio's: run.sh
# runs <BUILD_DIR>/asio/<workload>, and in gort's own run.sh build directory
# (<build>/anchors-gort) that is a fresh copy of gort's binary, newer than
# the Asio source, so run.sh does not rebuild it; its go/ (echoclient) is a
# symlink to the anchors' go/. Its RESULT line must then say impl=gort.
#
# A workload with no anchor (timers, context) has its Go program in this repo,
# bench/go/<workload>/main.go (standard library only), built with go build
# into <build>/go/ and run as the anchors' Go programs are; it has no
# Boost.Fiber counterpart, and its rows get a table of their own.
#
# The workload `gobench` (not in the default set: it takes about 3.5 minutes a
# round) is Go's own runtime benchmarks (runtime/chan_test.go, proc_test.go,
# sync/mutex_test.go) against gort's ports, run by bench/gobench.sh with
# --runs N (and --benchtime 0.1s under --quick), after the other workloads;
# its table follows theirs.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
ALL_WORKLOADS="spawn pingpong skynet mpmc yield mutex sleepers parked httphello httphello_nethttp echo timers context"
BOOST_WORKLOADS=" spawn pingpong skynet mpmc yield mutex sleepers parked "
ASIO_WORKLOADS=" httphello echo "
SERVER_WORKLOADS=" httphello httphello_nethttp echo "
# Workloads gort can have a program for (net/http is Go's library: no gort twin).
GORT_WORKLOADS=" spawn pingpong skynet mpmc yield mutex sleepers parked httphello echo timers context "
# Workloads with no anchor: their Go program is bench/go/<workload>/main.go.
REPO_GO_WORKLOADS=" timers context "

usage() {
    cat <<EOF
usage: $(basename "$0") [--quick] [--runs N] [WORKLOAD...]

Builds gort's benchmarks (cmake + ninja bench_<workload>, Release) and
servers (ninja http_hello echo), the anchors (run.sh --build-only) and this
repo's Go programs (go build), runs each selected workload N times (default
5) alternating Go, Boost.Fiber or Asio, and gort run by run, keeps every
RESULT line in <build>/results-<timestamp>.txt and prints the median table
of run.sh --report plus gort ÷ Boost.Fiber and gort ÷ Asio columns and
gort's page faults.

  WORKLOAD      any of: $ALL_WORKLOADS
                (default: all; pingpong runs as pingpong_p1 and pingpong_p2).
                A workload with no bench/<workload>.cpp yet runs the anchors
                only (and says so). timers and context have no anchor: their Go
                programs are bench/go/<workload>/main.go (go build into <build>/go/), they have
                no Boost.Fiber counterpart, and they get a table of their own.
                httphello and echo run gort's examples/http_hello and
                examples/echo beside Go's and Asio's servers;
                httphello_nethttp is Go's net/http alone.
  gobench       Go's runtime benchmarks (go test -bench) against gort's
                ports, by bench/gobench.sh (see its --help); only when named
  --quick       every N scaled down 10x, http and echo runs 3 s, 3 runs (as run.sh --quick)
  --runs N      runs per workload and implementation (default 5, quick 3)
  -h, --help    this text

A program that fails its self-check, crashes or hangs (PROG_TIMEOUT) is listed
as FAILED, as is a gort or bench/go program that does not build; the table is printed
anyway and the script exits 1. Usage and setup errors exit 2.

Environment (optional):
  GOMAXPROCS         procs for the workloads that do not fix it (pingpong_p1=1,
                     pingpong_p2=2, yield=1); default: all hardware threads
  ANCHORS            the anchors' directory (default: $SCRIPT_DIR/../../shared/anchors)
  GORT_BUILD_DIR     gort's build directory and results (default: $REPO/build-bench)
  ANCHORS_BUILD_DIR  where run.sh builds the anchors (default: \$GORT_BUILD_DIR/anchors)
  PROG_TIMEOUT       seconds before a hung program is killed (default 300)
  PORT               first TCP port for the servers (default 18080)
  HTTP_DURATION      wrk's and echoclient's duration (default 10s; 3s with --quick)
  WRK_CPU            core to pin wrk and echoclient to (default: run.sh's, the last allowed core)
  ECHO_CONNS         echoclient connections (default 1000)
  ECHO_SIZE          echoclient message size in bytes (default 512)
  ASIO_MODE          shared (default) or per_thread: Asio's servers' mode (run.sh)
  CXX                C++ compiler for the Boost.Fiber anchors (default g++)
EOF
}

die() {
    echo "compare.sh: $*" >&2
    exit 2
}

RUNS=""
QUICK=0
GOBENCH=0
SELECTED=()
while (($# > 0)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --quick) QUICK=1 ;;
        --runs) [[ $# -ge 2 ]] || die "--runs needs a number"; RUNS="$2"; shift ;;
        --runs=*) RUNS="${1#--runs=}" ;;
        -*) usage | head -1 >&2; die "unknown option: $1 (see --help)" ;;
        gobench) GOBENCH=1 ;;
        *)
            [[ " $ALL_WORKLOADS " == *" $1 "* ]] || { usage | head -1 >&2; die "unknown workload: $1 (see --help)"; }
            [[ " ${SELECTED[*]-} " == *" $1 "* ]] || SELECTED+=("$1")
            ;;
    esac
    shift
done
if [[ -z "$RUNS" ]]; then
    if ((QUICK)); then RUNS=3; else RUNS=5; fi
fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, not '$RUNS'"
GOBENCH_ARGS=(--runs "$RUNS")
((QUICK == 0)) || GOBENCH_ARGS+=(--benchtime 0.1s)
if ((GOBENCH)) && ((${#SELECTED[@]} == 0)); then
    GORT_BUILD_DIR="${GORT_BUILD_DIR:-$REPO/build-bench}" exec "$SCRIPT_DIR/gobench.sh" "${GOBENCH_ARGS[@]}"
fi
((${#SELECTED[@]} > 0)) || read -r -a SELECTED <<<"$ALL_WORKLOADS"

ANCHORS="${ANCHORS:-$SCRIPT_DIR/../../shared/anchors}"
[[ -x "$ANCHORS/run.sh" ]] || die "no anchors at $ANCHORS (run.sh missing; set ANCHORS)"
ANCHORS="$(cd "$ANCHORS" && pwd)"
GORT_BUILD_DIR="${GORT_BUILD_DIR:-$REPO/build-bench}"
mkdir -p "$GORT_BUILD_DIR"
GORT_BUILD_DIR="$(cd "$GORT_BUILD_DIR" && pwd)"
ANCHORS_BUILD_DIR="${ANCHORS_BUILD_DIR:-$GORT_BUILD_DIR/anchors}"
PORT="${PORT:-18080}"
if ((QUICK)); then HTTP_DURATION="${HTTP_DURATION:-3s}"; else HTTP_DURATION="${HTTP_DURATION:-10s}"; fi
PROG_TIMEOUT="${PROG_TIMEOUT:-300}"
[[ "$PROG_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "PROG_TIMEOUT must be a positive integer, not '$PROG_TIMEOUT'"
NCPU="$(nproc)"

has_boost() { [[ "$BOOST_WORKLOADS" == *" $1 "* ]]; }
has_asio() { [[ "$ASIO_WORKLOADS" == *" $1 "* ]]; }
is_server() { [[ "$SERVER_WORKLOADS" == *" $1 "* ]]; }
gort_can() { [[ "$GORT_WORKLOADS" == *" $1 "* ]]; }
repo_go() { [[ "$REPO_GO_WORKLOADS" == *" $1 "* ]]; }

# The selected workloads that have anchors (run.sh knows them).
ANCHOR_SELECTED=()
for w in "${SELECTED[@]}"; do repo_go "$w" || ANCHOR_SELECTED+=("$w"); done

# The N each program gets as its first argument: run.sh's size_of, verbatim,
# plus the workloads with no anchor.
size_of() {
    local full
    case "$1" in
        spawn | pingpong | skynet | parked | timers) full=1000000 ;;
        mpmc) full=10000000 ;;
        yield) full=5000000 ;;
        mutex) full=1000000 ;;
        sleepers | context) full=100000 ;;
        *) die "no size for $1" ;;
    esac
    if ((QUICK)); then echo $((full / 10)); else echo "$full"; fi
}

# ---------------------------------------------------------------- tools
NEED_WRK=0
for w in "${SELECTED[@]}"; do [[ "$w" != httphello* ]] || NEED_WRK=1; done
missing_pkgs=()
command -v go >/dev/null || missing_pkgs+=(golang-go)
[[ -e /usr/include/boost/fiber/all.hpp ]] || missing_pkgs+=(libboost-fiber-dev libboost-context-dev)
command -v "${CXX:-g++}" >/dev/null || missing_pkgs+=(g++)
command -v cmake >/dev/null || missing_pkgs+=(cmake)
command -v ninja >/dev/null || missing_pkgs+=(ninja-build)
command -v timeout >/dev/null || missing_pkgs+=(coreutils)
if ((NEED_WRK)); then command -v wrk >/dev/null || missing_pkgs+=(wrk); fi
if ((${#missing_pkgs[@]} > 0)); then
    ((EUID == 0)) || die "missing: ${missing_pkgs[*]} (run: sudo apt-get install -y ${missing_pkgs[*]})"
    echo "installing ${missing_pkgs[*]}" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing_pkgs[@]}" >&2; then
        apt-get update >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing_pkgs[@]}" >&2 ||
            die "apt-get install ${missing_pkgs[*]} failed"
    fi
fi

STAMP="$(date +%Y%m%d-%H%M%S)"
RESULTS="$GORT_BUILD_DIR/results-$STAMP.txt"
BUILD_LOG="$GORT_BUILD_DIR/build-$STAMP.log"
FAILURES=()
NOTES=()

fail_run() { # label message
    FAILURES+=("$1: $2")
    echo "  FAIL $1: $2" >&2
}

# ---------------------------------------------------------------- build gort
# gort's program for a workload: a server is an example (examples/<source>,
# target <target>), anything else bench/<w>.cpp, target bench_<w>.
gort_source() {
    case "$1" in
        httphello) echo examples/http_hello.cpp ;;
        echo) echo examples/echo.cpp ;;
        *) echo "bench/$1.cpp" ;;
    esac
}
gort_target() {
    case "$1" in
        httphello) echo http_hello ;;
        echo) echo echo ;;
        *) echo "bench_$1" ;;
    esac
}
gort_bin() {
    case "$1" in
        httphello | echo) echo "$GORT_BUILD_DIR/examples/$(gort_target "$1")" ;;
        *) echo "$GORT_BUILD_DIR/bench/bench_$1" ;;
    esac
}

# GORT_OK[w]=1: gort's program for w is built and runs below.
declare -A GORT_OK=()
gort_wanted=()
for w in "${SELECTED[@]}"; do
    if ! gort_can "$w"; then
        NOTES+=("$w: no gort counterpart (Go's net/http); anchors only")
    elif [[ ! -e "$REPO/$(gort_source "$w")" ]]; then
        NOTES+=("$w: no gort program yet ($(gort_source "$w")); anchors only")
    else
        gort_wanted+=("$w")
    fi
done
: >"$BUILD_LOG"
if ((${#gort_wanted[@]} > 0)); then
    echo "building gort benchmarks (${gort_wanted[*]}) -> $GORT_BUILD_DIR (log: $BUILD_LOG)" >&2
    if ! cmake -S "$REPO" -B "$GORT_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_EXAMPLES=ON -DGORT_BUILD_BENCH=ON >>"$BUILD_LOG" 2>&1; then
        why="cmake configure failed: $(tail -n 5 "$BUILD_LOG" | tr '\n' ' ' | tail -c 400)"
        for w in "${gort_wanted[@]}"; do fail_run "$w/gort build" "$why"; done
    else
        for w in "${gort_wanted[@]}"; do
            t="$(gort_target "$w")"
            if ! ninja -C "$GORT_BUILD_DIR" -t query "$t" >/dev/null 2>&1; then
                NOTES+=("$w: $(gort_source "$w") exists but CMake has no target $t; anchors only")
                continue
            fi
            echo "  ninja $t" >&2
            if ninja -C "$GORT_BUILD_DIR" "$t" >>"$BUILD_LOG" 2>&1; then
                GORT_OK[$w]=1
            else
                fail_run "$w/gort build" "ninja $t failed: $(grep -m 3 -E 'error|FAILED' "$BUILD_LOG" | tr '\n' ' ' | tail -c 400) (see $BUILD_LOG)"
            fi
        done
    fi
fi

# ---------------------------------------------------------------- build this repo's Go programs
# GO_OK[w]=1: <build>/go/<w> is built from bench/go/<w>/main.go. Built as
# run.sh builds the anchors (standard library only, no network), as a single
# file, so that no go.mod is needed.
declare -A GO_OK=()
for w in "${SELECTED[@]}"; do
    repo_go "$w" || continue
    echo "  go build bench/go/$w/main.go -> $GORT_BUILD_DIR/go/$w" >&2
    mkdir -p "$GORT_BUILD_DIR/go"
    if (cd "$SCRIPT_DIR/go/$w" && GO111MODULE=on GOFLAGS='' GOPROXY=off GOWORK=off \
        GOCACHE="${GOCACHE:-$GORT_BUILD_DIR/gocache}" GOPATH="${GOPATH:-$GORT_BUILD_DIR/gopath}" \
        go build -o "$GORT_BUILD_DIR/go/$w" main.go) >>"$BUILD_LOG" 2>&1; then
        GO_OK[$w]=1
    else
        fail_run "$w/go build" "go build bench/go/$w/main.go failed: $(tail -n 3 "$BUILD_LOG" | tr '\n' ' ' | tail -c 400) (see $BUILD_LOG)"
    fi
done

# ---------------------------------------------------------------- build anchors
if ((${#ANCHOR_SELECTED[@]} > 0)); then
    echo "building anchors with $ANCHORS/run.sh --build-only -> $ANCHORS_BUILD_DIR" >&2
    BUILD_DIR="$ANCHORS_BUILD_DIR" "$ANCHORS/run.sh" --build-only "${ANCHOR_SELECTED[@]}" ||
        die "building the anchors failed ($ANCHORS/run.sh --build-only)"
    ANCHORS_BUILD_DIR="$(cd "$ANCHORS_BUILD_DIR" && pwd)"
fi
# gort's run.sh build directory: asio/<server> gets gort's binary before each
# run; go/ (echoclient) is the anchors'.
GORT_RUNSH_DIR="$GORT_BUILD_DIR/anchors-gort"
mkdir -p "$GORT_RUNSH_DIR/asio"
ln -sfn "$ANCHORS_BUILD_DIR/go" "$GORT_RUNSH_DIR/go"

# ---------------------------------------------------------------- run
TMP="$(mktemp -d "${TMPDIR:-/tmp}/gort-compare.XXXXXX")"
# Children run in the background and are waited for, so that a signal to this
# script is handled at once; cleanup ends them by PID (as run.sh does).
SERVER_PID=""
CHILD_PID=""
cleanup() {
    local p
    for p in $CHILD_PID $SERVER_PID; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $CHILD_PID $SERVER_PID; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"  # wait_child
trap cleanup EXIT
trap 'exit 130' INT TERM
: >"$RESULTS"

# run_prog LABEL IMPL BINARY [ENV=VALUE...] -- ARGS...: runs one program as
# run.sh does (env ENV... timeout PROG_TIMEOUT BINARY ARGS...), keeps its
# RESULT line; a non-zero exit or a missing RESULT line is a failure. gort's
# programs also get a SIGKILL 10 s after the SIGTERM of the timeout (a new
# runtime may not die of SIGTERM), and their line must say impl=gort.
run_prog() {
    local label="$1" impl="$2" bin="$3"
    shift 3
    local envs=()
    while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
    shift
    local kill_after=()
    [[ "$impl" != gort ]] || kill_after=(-k 10)
    local rc=0
    wait_child env ${envs[@]+"${envs[@]}"} timeout ${kill_after[@]+"${kill_after[@]}"} "$PROG_TIMEOUT" \
        "$bin" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    local line
    line="$(awk '/^RESULT /{print; exit}' "$TMP/out")"
    if ((rc == 124 || rc == 137)); then
        fail_run "$label" "timed out after ${PROG_TIMEOUT}s (exit $rc); $(tail -c 300 "$TMP/err" | tr '\n' ' ')"
        return 0
    fi
    if ((rc != 0)) || [[ -z "$line" ]]; then
        fail_run "$label" "exit $rc; $(tail -c 300 "$TMP/err" | tr '\n' ' ')"
        return 0
    fi
    if [[ " $line " != *" impl=$impl "* ]]; then
        fail_run "$label" "RESULT line without impl=$impl: $line"
        return 0
    fi
    echo "$line" >>"$RESULTS"
    echo "  $line" >&2
}

# The core run.sh pins wrk and echoclient to (its default, computed as run.sh
# does), passed to run.sh so that every server's client shares it.
if command -v taskset >/dev/null && ((NCPU > 1)); then
    WRK_CPU="${WRK_CPU:-$(taskset -pc $$ | awk -F': ' '{n = split($2, a, /[,-]/); print a[n]}')}"
    PIN_NOTE="client pinned to core $WRK_CPU (taskset), server unpinned"
else
    PIN_NOTE="client not pinned"
fi
ECHO_CONNS="${ECHO_CONNS:-1000}"
ECHO_SIZE="${ECHO_SIZE:-512}"
ASIO_MODE="${ASIO_MODE:-shared}"

# run_server WORKLOAD LABEL IMPL: one run of one server (go, asio or gort) by
# run.sh --runs 1 (see the top of this file for gort's), on a port of its
# own. Its RESULT line joins ours, its failures are ours; its progress goes
# to stderr as it comes.
SERVER_SEQ=0
run_server() {
    local w="$1" label="$2" impl="$3" dir="$ANCHORS_BUILD_DIR" as="$3"
    if [[ "$impl" == gort ]]; then
        dir="$GORT_RUNSH_DIR"
        as=asio
        # A copy, not a symlink: were run.sh to rebuild Asio's server over it,
        # it would not overwrite gort's binary, and the impl check catches it.
        cp -f "$(gort_bin "$w")" "$dir/asio/$w" || { fail_run "$label" "cannot copy $(gort_bin "$w") to $dir/asio/"; return 0; }
    fi
    local port=$((PORT + SERVER_SEQ))
    SERVER_SEQ=$((SERVER_SEQ + 1))
    local rc=0
    wait_child env BUILD_DIR="$dir" PORT="$port" HTTP_DURATION="$HTTP_DURATION" PROG_TIMEOUT="$PROG_TIMEOUT" \
        ECHO_CONNS="$ECHO_CONNS" ECHO_SIZE="$ECHO_SIZE" ASIO_MODE="$ASIO_MODE" ${WRK_CPU:+WRK_CPU="$WRK_CPU"} \
        GOCACHE="${GOCACHE:-$ANCHORS_BUILD_DIR/gocache}" GOPATH="${GOPATH:-$ANCHORS_BUILD_DIR/gopath}" \
        "$ANCHORS/run.sh" --runs 1 --impl "$as" "$w" >"$TMP/runsh.out" || rc=$?
    local file
    file="$(awk '/^raw RESULT lines: /{print $4}' "$TMP/runsh.out")"
    if ((rc != 0)); then
        local why
        why="$(awk '/^FAILED runs/{f = 1; next} f && /^- /{sub(/^- [^:]*: /, ""); print}' "$TMP/runsh.out" | tr '\n' ' ')"
        fail_run "$label" "run.sh exit $rc: ${why:-$(tail -c 300 "$TMP/runsh.out" | tr '\n' ' ')}"
        return 0
    fi
    local line
    line="$(awk '/^RESULT /{print; exit}' "${file:-/dev/null}" 2>/dev/null || true)"
    if [[ -z "$line" ]]; then fail_run "$label" "no RESULT line in run.sh's results (${file:-none})"; return 0; fi
    if [[ " $line " != *" impl=$impl "* ]]; then fail_run "$label" "RESULT line without impl=$impl: $line"; return 0; fi
    echo "$line" >>"$RESULTS"
}

echo "runs: $RUNS per workload; results: $RESULTS" >&2
for w in "${SELECTED[@]}"; do
    impls=()
    if ! repo_go "$w" || [[ -n "${GO_OK[$w]-}" ]]; then impls+=(go); fi
    has_boost "$w" && impls+=(boostfiber)
    has_asio "$w" && impls+=(asio)
    [[ -z "${GORT_OK[$w]-}" ]] || impls+=(gort)
    for r in $(seq 1 "$RUNS"); do
        for impl in ${impls[@]+"${impls[@]}"}; do
            label="$w/$impl run $r/$RUNS"
            if is_server "$w"; then
                echo "[$label] (run.sh --runs 1 --impl $impl)" >&2
                run_server "$w" "$label" "$impl"
                continue
            fi
            if [[ "$impl" == gort ]]; then
                bin="$(gort_bin "$w")"
            elif repo_go "$w"; then
                bin="$GORT_BUILD_DIR/go/$w"
            else
                bin="$ANCHORS_BUILD_DIR/$impl/$w"
            fi
            if [[ ! -x "$bin" ]]; then fail_run "$label" "no binary $bin"; continue; fi
            n="$(size_of "$w")"
            echo "[$label] N=$n" >&2
            case "$w" in
                pingpong)
                    run_prog "pingpong_p1/$impl run $r" "$impl" "$bin" GOMAXPROCS=1 -- "$n"
                    run_prog "pingpong_p2/$impl run $r" "$impl" "$bin" GOMAXPROCS=2 -- "$n"
                    ;;
                yield) run_prog "$label" "$impl" "$bin" GOMAXPROCS=1 -- "$n" ;;
                *) run_prog "$label" "$impl" "$bin" -- "$n" ;;
            esac
        done
    done
done

# ---------------------------------------------------------------- report
# stats FILE: "name impl key median min max count" per numeric field, with
# run.sh's median (the mean of the middle two for an even count).
stats() {
    awk '$1 == "RESULT" {
        name = ""; impl = ""
        for (i = 2; i <= NF; i++) {
            eq = index($i, "="); k = substr($i, 1, eq - 1); v = substr($i, eq + 1)
            if (k == "name") name = v; else if (k == "impl") impl = v
        }
        for (i = 2; i <= NF; i++) {
            eq = index($i, "="); k = substr($i, 1, eq - 1); v = substr($i, eq + 1)
            if (k != "name" && k != "impl" && v ~ /^-?[0-9]+(\.[0-9]+)?$/) print name, impl, k, v
        }
    }' "$1" | sort -k1,1 -k2,2 -k3,3 -k4,4g | awk '
        function flush() {
            if (cnt == 0) return
            med = (cnt % 2) ? vals[(cnt + 1) / 2] : (vals[cnt / 2] + vals[cnt / 2 + 1]) / 2
            print key, med, vals[1], vals[cnt], cnt
        }
        { k = $1 " " $2 " " $3
          if (k != key) { flush(); key = k; cnt = 0 }
          vals[++cnt] = $4 }
        END { flush() }'
}

boost_ver="$(awk '/define BOOST_LIB_VERSION/{gsub(/"/, "", $3); gsub(/_/, ".", $3); print $3}' /usr/include/boost/version.hpp 2>/dev/null || true)"
cpu_model="$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
gort_rev="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
[[ -z "$(git -C "$REPO" status --porcelain 2>/dev/null | head -1)" ]] || gort_rev="$gort_rev + uncommitted changes"
echo
echo "# gort vs the anchors ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- machine: $NCPU CPUs (${cpu_model:-unknown}), $(awk '/MemTotal/{printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
echo "- gort $gort_rev (Release library, benchmarks -O2); $(go version 2>/dev/null || echo 'go: not found'); Boost ${boost_ver:-?} (Boost.Fiber); $("${CXX:-g++}" --version 2>/dev/null | head -1)"
echo "- GOMAXPROCS=${GOMAXPROCS:-unset (all cores)}; $RUNS runs each, interleaved Go / Boost.Fiber or Asio / gort; $( ((QUICK)) && echo 'QUICK mode (N/10)' || echo 'full size')"
if printf '%s\n' "${SELECTED[@]}" | awk '$0 == "httphello" || $0 == "echo" {f = 1} END {exit !f}'; then
    echo "- Asio: ASIO_MODE=$ASIO_MODE, GOMAXPROCS threads; servers run by run.sh --runs 1, gort's as its Asio"
fi
if printf '%s\n' "${SELECTED[@]}" | awk '/httphello/{f = 1} END {exit !f}'; then
    echo "- http: wrk -t1 -c256 -d$HTTP_DURATION --latency; $PIN_NOTE"
fi
if printf '%s\n' "${SELECTED[@]}" | awk '$0 == "echo" {f = 1} END {exit !f}'; then
    echo "- echo: echoclient -conns $ECHO_CONNS -size $ECHO_SIZE -duration $HTTP_DURATION (GOMAXPROCS=1); $PIN_NOTE"
fi
echo

STATS="$TMP/stats"
stats "$RESULTS" >"$STATS"
# run.sh's table, with a gort ÷ Boost.Fiber and a gort ÷ Asio column
# appended when gort and that implementation are both there. Each row's
# field is found from its workload and label in bench/metrics.tsv (the
# labels are run.sh's). With no anchor workload selected there is no such
# table.
if ((${#ANCHOR_SELECTED[@]} > 0)); then
    "$ANCHORS/run.sh" --report "$RESULTS" >"$TMP/report" || die "run.sh --report $RESULTS failed"
else
    : >"$TMP/report"
fi
awk -v statsfile="$STATS" -v metricsfile="$SCRIPT_DIR/metrics.tsv" '
    BEGIN {
        while ((getline line < metricsfile) > 0) {
            if (line ~ /^#/ || line == "") continue
            split(line, f, "\t")
            if (f[5] == "anchor") field[f[1] SUBSEP f[3]] = f[2]
        }
        while ((getline line < statsfile) > 0) {
            split(line, s, " "); med[s[1] SUBSEP s[2] SUBSEP s[3]] = s[4]; has[s[2]] = 1
        }
        nother = 0
        if (("gort" in has) && ("boostfiber" in has)) { other[++nother] = "boostfiber"; title["boostfiber"] = "Boost.Fiber" }
        if (("gort" in has) && ("asio" in has)) { other[++nother] = "asio"; title["asio"] = "Asio" }
    }
    function trim(x) { gsub(/^ +| +$/, "", x); return x }
    nother == 0 { print; next }
    /^\| workload \|/ { for (i = 1; i <= nother; i++) $0 = $0 " gort ÷ " title[other[i]] " |"; print; next }
    /^\|---/ { for (i = 1; i <= nother; i++) $0 = $0 "--:|"; print; next }
    /^\| / {
        split($0, c, "|"); n = trim(c[2]); label = trim(c[3]); line = $0
        for (i = 1; i <= nother; i++) {
            ratio = "—"
            if ((n SUBSEP label) in field) {
                m = field[n SUBSEP label]; g = n SUBSEP "gort" SUBSEP m; b = n SUBSEP other[i] SUBSEP m
                # %.2f as run.sh; below 0.1 two significant digits (RSS ratios get tiny)
                if ((g in med) && (b in med) && med[b] != 0) { x = med[g] / med[b]; ratio = sprintf(x >= 0.1 ? "%.2f" : "%.2g", x) }
            }
            line = line " " ratio " |"
        }
        print line; next
    }
    { print }' "$TMP/report"

# The workloads with no anchor: a table of their own in run.sh's format
# (median, min–max (runs), gort ÷ Go), from the same stats.
repo_selected=0
for w in "${SELECTED[@]}"; do repo_go "$w" && repo_selected=1; done
if ((repo_selected)); then
    [[ ! -s "$TMP/report" ]] || echo
    echo "## Workloads with no anchor (Go: bench/go/<workload>/main.go; no Boost.Fiber)"
    echo
    awk -v statsfile="$STATS" -v metricsfile="$SCRIPT_DIR/metrics.tsv" '
        function fmt(x) {   # as run.sh formats
            if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
            if (x >= 1000) return sprintf("%.0f", x)
            if (x >= 10) return sprintf("%.1f", x)
            return sprintf("%.2f", x)
        }
        function cell(k) { return (k in med) ? fmt(med[k]) " | " fmt(lo[k]) "–" fmt(hi[k]) " (" cnt[k] ")" : "— | " }
        BEGIN {
            nrows = 0
            while ((getline line < metricsfile) > 0) {
                if (line ~ /^#/ || line == "") continue
                split(line, f, "\t")
                if (f[5] == "repo") { ++nrows; rname[nrows] = f[1]; rfield[nrows] = f[2]; rlabel[nrows] = f[3] }
            }
            while ((getline line < statsfile) > 0) {
                split(line, s, " "); k = s[1] SUBSEP s[2] SUBSEP s[3]
                med[k] = s[4]; lo[k] = s[5]; hi[k] = s[6]; cnt[k] = s[7]; seen[s[1]] = 1
            }
            print "| workload | metric | Go median | Go min–max (runs) | gort median | gort min–max (runs) | gort ÷ Go |"
            print "|---|---|--:|--:|--:|--:|--:|"
            for (r = 1; r <= nrows; r++) {
                n = rname[r]; m = rfield[r]; label = rlabel[r]
                if (!(n in seen)) continue
                g = n SUBSEP "go" SUBSEP m; o = n SUBSEP "gort" SUBSEP m
                ratio = ((g in med) && (o in med) && med[g] != 0) ? sprintf("%.2f", med[o] / med[g]) : "—"
                print "| " n " | " label " | " cell(g) " | " cell(o) " | " ratio " |"
            }
        }'
fi

# gort's own extra figure: page faults over the timed region.
if awk '$2 == "gort" && $3 == "minflt" {f = 1} END {exit !f}' "$STATS"; then
    echo
    echo "gort's minor page faults over the timed region (minflt):"
    echo
    echo "| workload | gort minflt median | min–max (runs) |"
    echo "|---|--:|--:|"
    awk '$2 == "gort" && $3 == "minflt" { printf "| %s | %.0f | %.0f–%.0f (%d) |\n", $1, $4, $5, $6, $7 }' "$STATS"
fi

echo
echo "raw RESULT lines: $RESULTS"
if ((GOBENCH)); then
    # Go's runtime benchmarks, after the rest: gobench.sh prints its own table.
    gb_rc=0
    wait_child env GORT_BUILD_DIR="$GORT_BUILD_DIR" "$SCRIPT_DIR/gobench.sh" "${GOBENCH_ARGS[@]}" || gb_rc=$?
    ((gb_rc == 0)) || FAILURES+=("gobench: bench/gobench.sh exit $gb_rc (see its FAILED list above)")
fi
if ((${#NOTES[@]} > 0)); then
    echo
    echo "Not run for gort:"
    printf -- '- %s\n' "${NOTES[@]}"
fi
if ((${#FAILURES[@]} > 0)); then
    echo
    echo "FAILED (${#FAILURES[@]}):"
    printf -- '- %s\n' "${FAILURES[@]}"
    exit 1
fi
