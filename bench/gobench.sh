#!/usr/bin/env bash
# gobench.sh: Go's own runtime benchmarks (runtime/chan_test.go,
# proc_test.go, sync/mutex_test.go), run by Go's test binaries and by gort's
# ports (bench/go_chan.cpp, go_proc.cpp, go_mutex.cpp, on bench/gobench.hpp)
# interleaved, and the two side by side in one markdown table (issue 14:
# "faster than Go on every one of Go's own runtime benchmarks").
#
# Go's side is Go's test binary, built once per call with go test -c (runtime
# and sync, from the installed Go's GOROOT, standard library only, no
# network) into <build>/go/, and run as
#
#   runtime.test -test.run=NONE -test.bench='^BenchmarkX$' -test.cpu=P -test.benchtime=1s
#
# gort's is bench_go_<file> -bench='^BenchmarkX$' -cpu=P -benchtime=1s, which
# picks b.N by Go's own ramp. Both get GOMAXPROCS=P in the environment too.
# Each top-level benchmark runs R rounds, each round Go then gort, so that a
# drift in the machine's load hits both alike; a benchmark with sub-benchmarks
# (MakeChan/..., WakeupParallel*/<delay>) runs all of them in each run.
#
# Every figure goes to <build>/gobench-<timestamp>.txt as one RESULT line
# (Go's converted: name without go test's -P suffix, impl=go, n, ns_op, and
# bytes_op/allocs_op when Go reports them), each Go line preceded by Go's raw
# line as a # comment. The table: per benchmark, ns/op median (min–max) for
# Go and gort, and gort ÷ Go of the medians (below 1: gort is faster).
# compare.sh runs this for its workload `gobench`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
# gort program (bench_go_<file>) -> Go test binary (<pkg>.test) and package.
FILES="chan proc mutex"
go_pkg() {
    case "$1" in
        chan | proc) echo runtime ;;
        mutex) echo sync ;;
    esac
}

usage() {
    cat <<EOF
usage: $(basename "$0") [--runs N] [--benchtime D] [REGEX...]
       $(basename "$0") --report FILE

Builds gort's ports of Go's runtime benchmarks (ninja bench_go_chan
bench_go_proc bench_go_mutex, Release) and Go's test binaries (go test -c
runtime, sync), runs each selected benchmark N rounds, Go then gort, keeps
every figure as a RESULT line in <build>/gobench-<timestamp>.txt and prints
a markdown table of ns/op: Go and gort median (min–max), gort ÷ Go.

  REGEX         run only the top-level benchmarks whose name matches one of
                them (grep -E; e.g. 'Mutex' or '^BenchmarkChanSync\$');
                default: all that gort ports (bench_go_* -list)
  --runs N      rounds per benchmark (default 3)
  --benchtime D go test's -benchtime for both (default 1s; e.g. 0.1s, 1000x)
  --report FILE print the table of an existing results file and exit
  -h, --help    this text

Environment (optional):
  GOMAXPROCS      P: -test.cpu=P for Go, -cpu=P for gort, and both's
                  environment (default 2)
  GORT_BUILD_DIR  build directory and results (default: $REPO/build-bench)
  PROG_TIMEOUT    seconds before one run of one benchmark is killed (default 600)
  NINJA_JOBS      ninja -j (default 2)

A run that fails (non-zero exit, a FAIL, no figure) or hangs is listed as
FAILED, the table is printed anyway and the script exits 1. Usage and setup
errors exit 2.
EOF
}

die() {
    echo "gobench.sh: $*" >&2
    exit 2
}

# ---------------------------------------------------------------- report
fmt_awk='
    function fmt(x) {   # as the anchors run.sh formats
        if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
        if (x >= 1000) return sprintf("%.0f", x)
        if (x >= 10) return sprintf("%.1f", x)
        return sprintf("%.2f", x)
    }'

# report FILE: the markdown table of FILE's RESULT lines, rows in the order
# the names first appear; medians as run.sh's (the mean of the middle two for
# an even count).
report() {
    awk "$fmt_awk"'
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $1 == "RESULT" {
            name = ""; impl = ""; ns = ""
            for (i = 2; i <= NF; i++) {
                eq = index($i, "="); k = substr($i, 1, eq - 1); v = substr($i, eq + 1)
                if (k == "name") name = v; else if (k == "impl") impl = v; else if (k == "ns_op") ns = v
            }
            if (name == "" || ns == "") next
            if (!(name in seen)) { seen[name] = 1; order[++nn] = name }
            k = name SUBSEP impl; cnt[k]++; val[k, cnt[k]] = ns + 0
            if (!(k in lo) || ns + 0 < lo[k]) lo[k] = ns + 0
            if (!(k in hi) || ns + 0 > hi[k]) hi[k] = ns + 0
        }
        function cell(k,    a, i) {
            if (!(k in cnt)) return "—"
            for (i = 1; i <= cnt[k]; i++) a[i] = val[k, i]
            med[k] = median(a, cnt[k])
            return fmt(med[k]) " (" fmt(lo[k]) "–" fmt(hi[k]) ")"
        }
        END {
            print "| benchmark | Go ns/op median (min–max) | gort ns/op median (min–max) | gort ÷ Go |"
            print "|---|--:|--:|--:|"
            for (r = 1; r <= nn; r++) {
                n = order[r]; g = n SUBSEP "go"; o = n SUBSEP "gort"
                cg = cell(g); co = cell(o)
                ratio = ((g in med) && (o in med) && med[g] > 0) ? sprintf("%.2f", med[o] / med[g]) : "—"
                sub(/^Benchmark/, "", n)
                print "| " n " | " cg " | " co " | " ratio " |"
            }
        }' "$1"
}

RUNS=3
BENCHTIME=1s
PATTERNS=()
while (($# > 0)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --runs) [[ $# -ge 2 ]] || die "--runs needs a number"; RUNS="$2"; shift ;;
        --runs=*) RUNS="${1#--runs=}" ;;
        --benchtime) [[ $# -ge 2 ]] || die "--benchtime needs a value"; BENCHTIME="$2"; shift ;;
        --benchtime=*) BENCHTIME="${1#--benchtime=}" ;;
        --report)
            [[ $# -ge 2 && -r "$2" ]] || die "--report needs a readable results file"
            report "$2"
            exit 0
            ;;
        -*) usage | head -2 >&2; die "unknown option: $1 (see --help)" ;;
        *) PATTERNS+=("$1") ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, not '$RUNS'"
[[ "$BENCHTIME" =~ ^([0-9]+x|[0-9.]+(ns|us|µs|ms|s|m))$ ]] || die "--benchtime: want e.g. 1s, 0.1s, 1000x, not '$BENCHTIME'"
P="${GOMAXPROCS:-2}"
[[ "$P" =~ ^[1-9][0-9]*$ ]] || die "GOMAXPROCS must be a positive integer, not '$P'"
PROG_TIMEOUT="${PROG_TIMEOUT:-600}"
[[ "$PROG_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "PROG_TIMEOUT must be a positive integer, not '$PROG_TIMEOUT'"
GORT_BUILD_DIR="${GORT_BUILD_DIR:-$REPO/build-bench}"
mkdir -p "$GORT_BUILD_DIR/go"
GORT_BUILD_DIR="$(cd "$GORT_BUILD_DIR" && pwd)"
for tool in go cmake ninja timeout; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: golang-go, cmake, ninja-build, coreutils)"
done

STAMP="$(date +%Y%m%d-%H%M%S)"
RESULTS="$GORT_BUILD_DIR/gobench-$STAMP.txt"
BUILD_LOG="$GORT_BUILD_DIR/gobench-build-$STAMP.log"
FAILURES=()
fail_run() { # label message
    FAILURES+=("$1: $2")
    echo "  FAIL $1: $2" >&2
}

# ---------------------------------------------------------------- build
: >"$BUILD_LOG"
echo "building bench_go_{chan,proc,mutex} -> $GORT_BUILD_DIR (log: $BUILD_LOG)" >&2
cmake -S "$REPO" -B "$GORT_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_BENCH=ON >>"$BUILD_LOG" 2>&1 ||
    die "cmake configure failed: $(tail -n 5 "$BUILD_LOG" | tr '\n' ' ')"
targets=()
for f in $FILES; do targets+=("bench_go_$f"); done
ninja -j"${NINJA_JOBS:-2}" -C "$GORT_BUILD_DIR" "${targets[@]}" >>"$BUILD_LOG" 2>&1 ||
    die "ninja ${targets[*]} failed: $(grep -m 3 -E 'error|FAILED' "$BUILD_LOG" | tr '\n' ' ') (see $BUILD_LOG)"
for pkg in runtime sync; do
    echo "  go test -c -o $GORT_BUILD_DIR/go/$pkg.test $pkg" >&2
    (cd "$GORT_BUILD_DIR/go" && GO111MODULE=on GOFLAGS='' GOPROXY=off GOWORK=off \
        GOCACHE="${GOCACHE:-$GORT_BUILD_DIR/gocache}" GOPATH="${GOPATH:-$GORT_BUILD_DIR/gopath}" \
        go test -c -o "$GORT_BUILD_DIR/go/$pkg.test" "$pkg") >>"$BUILD_LOG" 2>&1 ||
        die "go test -c $pkg failed: $(tail -n 3 "$BUILD_LOG" | tr '\n' ' ') (see $BUILD_LOG)"
done

# The benchmarks: each gort program's list, filtered by the patterns.
declare -A FILE_OF=()
BENCHES=()
for f in $FILES; do
    while read -r name; do
        [[ -n "$name" ]] || continue
        if ((${#PATTERNS[@]} > 0)); then
            keep=0
            for re in "${PATTERNS[@]}"; do
                if grep -qE -- "$re" <<<"$name"; then keep=1; break; fi
            done
            ((keep)) || continue
        fi
        FILE_OF[$name]=$f
        BENCHES+=("$name")
    done < <("$GORT_BUILD_DIR/bench/bench_go_$f" -list)
done
((${#BENCHES[@]} > 0)) || die "no benchmark matches ${PATTERNS[*]}"

# ---------------------------------------------------------------- run
TMP="$(mktemp -d "${TMPDIR:-/tmp}/gort-gobench.XXXXXX")"
CHILD_PID=""
cleanup() {
    if [[ -n "$CHILD_PID" ]]; then
        kill -TERM "$CHILD_PID" 2>/dev/null || true
        wait "$CHILD_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"  # wait_child
trap cleanup EXIT
trap 'exit 130' INT TERM

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
{
    echo "# gobench.sh $(date -u '+%Y-%m-%d %H:%M UTC'): GOMAXPROCS=$P, benchtime $BENCHTIME, rounds: $RUNS (Go then gort)"
    echo "# $(go version); gort $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'); $(nproc) CPUs, Linux $(uname -r); load average at start $LOAD_START"
} >"$RESULTS"

# run_go NAME FILE ROUND: one run of Go's test binary; its benchmark lines go
# to RESULTS as RESULT lines.
run_go() {
    local name="$1" f="$2" r="$3" pkg
    pkg="$(go_pkg "$f")"
    local rc=0
    wait_child env GOMAXPROCS="$P" timeout -k 10 "$PROG_TIMEOUT" "$GORT_BUILD_DIR/go/$pkg.test" \
        -test.run=NONE -test.bench="^$name\$" -test.cpu="$P" -test.benchtime="$BENCHTIME" \
        >"$TMP/out" 2>"$TMP/err" || rc=$?
    local label="$name/go round $r"
    if ((rc == 124 || rc == 137)); then fail_run "$label" "timed out after ${PROG_TIMEOUT}s"; return 0; fi
    if ((rc != 0)) || grep -q -- '^--- FAIL' "$TMP/out"; then
        fail_run "$label" "exit $rc; $(grep -m 3 -E 'FAIL|panic|error' "$TMP/out" "$TMP/err" | tr '\n' ' ' | tail -c 300)"
        return 0
    fi
    awk -v p="$P" '
        /^Benchmark/ && / ns\/op/ {
            name = $1
            if (p != 1) { suffix = "-" p; if (substr(name, length(name) - length(suffix) + 1) == suffix) name = substr(name, 1, length(name) - length(suffix)) }
            line = "RESULT name=" name " impl=go procs=" p " n=" $2
            for (i = 3; i < NF; i++) {
                if ($(i + 1) == "ns/op") line = line " ns_op=" $i
                else if ($(i + 1) == "B/op") line = line " bytes_op=" $i
                else if ($(i + 1) == "allocs/op") line = line " allocs_op=" $i
            }
            print "# " $0
            print line
        }' "$TMP/out" >"$TMP/lines"
    if ! grep -q '^RESULT ' "$TMP/lines"; then
        fail_run "$label" "no ns/op line in Go's output: $(tr '\n' ' ' <"$TMP/out" | tail -c 300)"
        return 0
    fi
    cat "$TMP/lines" >>"$RESULTS"
    grep '^RESULT ' "$TMP/lines" | sed 's/^/  /' >&2
}

# run_gort NAME FILE ROUND: one run of gort's port; its RESULT lines go to RESULTS.
run_gort() {
    local name="$1" f="$2" r="$3"
    local rc=0
    wait_child env GOMAXPROCS="$P" timeout -k 10 "$PROG_TIMEOUT" "$GORT_BUILD_DIR/bench/bench_go_$f" \
        -bench="^$name\$" -cpu="$P" -benchtime="$BENCHTIME" >"$TMP/out" 2>"$TMP/err" || rc=$?
    local label="$name/gort round $r"
    if ((rc == 124 || rc == 137)); then fail_run "$label" "timed out after ${PROG_TIMEOUT}s"; return 0; fi
    if ((rc != 0)); then fail_run "$label" "exit $rc; $(tail -c 300 "$TMP/err" | tr '\n' ' ')"; return 0; fi
    if ! grep -q '^RESULT .* impl=gort ' "$TMP/out"; then
        fail_run "$label" "no RESULT line: $(tr '\n' ' ' <"$TMP/out" | tail -c 300)"
        return 0
    fi
    grep '^RESULT ' "$TMP/out" >>"$RESULTS"
    grep '^RESULT ' "$TMP/out" | sed 's/^/  /' >&2
}

echo "${#BENCHES[@]} benchmarks, $RUNS rounds, GOMAXPROCS=$P, benchtime $BENCHTIME; results: $RESULTS" >&2
START_S=$SECONDS
for name in "${BENCHES[@]}"; do
    f="${FILE_OF[$name]}"
    for r in $(seq 1 "$RUNS"); do
        echo "[$name round $r/$RUNS]" >&2
        run_go "$name" "$f" "$r"
        run_gort "$name" "$f" "$r"
    done
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "# load average at end $LOAD_END; took $((SECONDS - START_S)) s" >>"$RESULTS"

# ---------------------------------------------------------------- table
echo
echo "# Go's runtime benchmarks: Go vs gort ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || echo '?')), Linux $(uname -r); load average $LOAD_START at start, $LOAD_END at end"
gort_rev="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
[[ -z "$(git -C "$REPO" status --porcelain 2>/dev/null | head -1)" ]] || gort_rev="$gort_rev + uncommitted changes"
echo "- gort $gort_rev (Release library, benchmarks -O2); $(go version)"
echo "- GOMAXPROCS=$P (go test -cpu=$P); -benchtime=$BENCHTIME; rounds: $RUNS, each Go then gort; took $((SECONDS - START_S)) s"
echo
report "$RESULTS"
echo
echo "raw RESULT lines: $RESULTS"
if ((${#FAILURES[@]} > 0)); then
    echo
    echo "FAILED (${#FAILURES[@]}):"
    printf -- '- %s\n' "${FAILURES[@]}"
    exit 1
fi
