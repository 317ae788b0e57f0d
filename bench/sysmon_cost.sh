#!/usr/bin/env bash
# sysmon_cost.sh: what sysmon costs the busiest scheduling paths. Runs gort's
# yield (GOMAXPROCS=1) and pingpong (GOMAXPROCS=1 and 2) benchmarks with
# sysmon (the default) and without it (GODEBUG=sysmonoff=1), alternating run
# by run, and prints the median ns/op of each with min-max and the ratio.
# sysmon's share is its own thread's wakeups (20 us doubling to 10 ms while
# it finds nothing to do) and the cache lines it reads; the entry checks it
# makes necessary (entry_guard) are paid in both columns.
#
#   bench/sysmon_cost.sh [--runs N]      (default 7)
#
# GORT_BUILD_DIR: the Release build with bench_yield and bench_pingpong
# (default: build-bench, built here if missing).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=7
while (($# > 0)); do
    case "$1" in
        --runs) RUNS="$2"; shift ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "sysmon_cost.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "sysmon_cost.sh: --runs needs a positive integer" >&2; exit 2; }

BUILD="${GORT_BUILD_DIR:-$REPO/build-bench}"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$BUILD" --target bench_yield bench_pingpong >/dev/null

# one LABEL PROCS BENCH [GODEBUG]: prints "LABEL ns_per_op"
one() {
    local label="$1" procs="$2" bench="$3" godebug="${4-}"
    local line
    line="$(env GOMAXPROCS="$procs" ${godebug:+GODEBUG=$godebug} "$BUILD/bench/bench_$bench" | grep '^RESULT ')"
    echo "$label $(sed -n 's/.* ns_per_op=\([0-9.]*\).*/\1/p' <<<"$line")"
}

samples="$(mktemp)"
trap 'rm -f "$samples"' EXIT
for r in $(seq 1 "$RUNS"); do
    echo "run $r/$RUNS" >&2
    for w in "yield 1" "pingpong 1" "pingpong 2"; do
        read -r bench procs <<<"$w"
        one "${bench}_p$procs sysmon" "$procs" "$bench" >>"$samples"
        one "${bench}_p$procs no-sysmon" "$procs" "$bench" sysmonoff=1 >>"$samples"
    done
done

echo "| workload | with sysmon, ns/op (min-max) | without, ns/op (min-max) | with / without |"
echo "|---|--:|--:|--:|"
sort -k1,1 -k2,2 -k3,3g "$samples" | awk -v runs="$RUNS" '
    function median(a, n) { return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { key = $1 " " $2; v[key, ++n[key]] = $3 }
    END {
        split("yield_p1 pingpong_p1 pingpong_p2", ws, " ")
        for (i = 1; i <= 3; i++) {
            w = ws[i]; a = w " sysmon"; b = w " no-sysmon"
            for (j = 1; j <= n[a]; j++) x[j] = v[a, j]
            for (j = 1; j <= n[b]; j++) y[j] = v[b, j]
            ma = median(x, n[a]); mb = median(y, n[b])
            printf "| %s | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) | %.3f |\n", w, ma, x[1], x[n[a]], mb, y[1], y[n[b]], ma / mb
        }
    }'
