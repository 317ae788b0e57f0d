#!/usr/bin/env bash
# idle_rss.sh: the resident memory an idle keep-alive connection costs an
# httphello server: gort's (examples/http_hello), Go's raw-TCP and net/http
# ones and Asio's (the anchors'), run by run in turn.
#
#   bench/idle_rss.sh [--runs N] [--conns C]      (default 3 runs, 10000 connections)
#
# Each run starts the server on a port of its own, waits until the port takes
# a connection, reads its VmRSS (/proc/PID/status), then runs
# bench/go/idleconns: C connections, each sending one GET and reading its
# response, then all held open and idle. Once they are, and one more second
# has passed, it reads VmRSS again; bytes_per_conn = (after − before) × 1024 / C:
# everything the server holds for a connection (goroutine or coroutine, its
# buffers, the runtime's records of it; the kernel's socket buffers are not in
# a process's RSS), with nothing taken off. Go's heap is read as it stands:
# no GC is forced, and its per-connection garbage is small (the 4 KiB buffer
# and the response slice stay live).
#
# Prints one RESULT line per run (kept in GORT_BUILD_DIR/idle-<timestamp>.txt),
# then a table of the medians (min–max) and each one's ratio to Go's raw-TCP
# server. Builds what it needs as
# compare.sh does: gort's http_hello in GORT_BUILD_DIR (default build-bench,
# Release), the anchors with their run.sh --build-only into
# GORT_BUILD_DIR/anchors, the client with go build. PORT: the first port
# (default 19080). ANCHORS: the anchors' directory, outside this repository
# (default: $REPO/../shared/anchors, as bench/compare.sh's).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=3
CONNS=10000
while (($# > 0)); do
    case "$1" in
        --runs) RUNS="$2"; shift ;;
        --conns) CONNS="$2"; shift ;;
        -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "idle_rss.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$CONNS" =~ ^[1-9][0-9]*$ ]] || { echo "idle_rss.sh: --runs and --conns need positive integers" >&2; exit 2; }

ANCHORS="${ANCHORS:-$REPO/../shared/anchors}"
BUILD="${GORT_BUILD_DIR:-$REPO/build-bench}"
ANCHORS_BUILD="$BUILD/anchors"
PORT="${PORT:-19080}"
mkdir -p "$BUILD/go"
cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGORT_BUILD_TESTS=OFF \
    -DGORT_BUILD_EXAMPLES=ON -DGORT_BUILD_BENCH=ON >/dev/null
ninja -C "$BUILD" http_hello >/dev/null
BUILD_DIR="$ANCHORS_BUILD" "$ANCHORS/run.sh" --build-only httphello httphello_nethttp >/dev/null 2>&1 ||
    { echo "idle_rss.sh: building the anchors failed" >&2; exit 2; }
(cd "$REPO/bench/go/idleconns" && GO111MODULE=on GOFLAGS='' GOPROXY=off GOWORK=off \
    GOCACHE="${GOCACHE:-$ANCHORS_BUILD/gocache}" GOPATH="${GOPATH:-$ANCHORS_BUILD/gopath}" \
    go build -o "$BUILD/go/idleconns" main.go)

declare -A SERVER=(
    [gort]="$BUILD/examples/http_hello"
    [go]="$ANCHORS_BUILD/go/httphello"
    [nethttp]="$ANCHORS_BUILD/go/httphello_nethttp"
    [asio]="$ANCHORS_BUILD/asio/httphello"
)
IMPLS=(go nethttp asio gort)
# Asio does not raise its own limit on descriptors; the Go programs and gort's do.
ulimit -Sn "$(ulimit -Hn)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/idle-rss.XXXXXX")"
SERVER_PID=""
CLIENT_PID=""
cleanup() {
    local p
    for p in $CLIENT_PID $SERVER_PID; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $CLIENT_PID $SERVER_PID; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

vmrss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

# one IMPL PORT: one run; prints its RESULT line.
one() {
    local impl="$1" port="$2" i
    "${SERVER[$impl]}" "$port" >"$TMP/server.out" 2>"$TMP/server.err" &
    SERVER_PID=$!
    for i in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "idle_rss.sh: $impl did not start: $(cat "$TMP/server.err")" >&2; exit 1; }
        sleep 0.05
    done
    sleep 0.5
    local before after
    before="$(vmrss "$SERVER_PID")"
    rm -f "$TMP/in"
    mkfifo "$TMP/in"
    "$BUILD/go/idleconns" -addr "127.0.0.1:$port" -conns "$CONNS" <"$TMP/in" >"$TMP/client.out" 2>"$TMP/client.err" &
    CLIENT_PID=$!
    local wfd
    exec {wfd}>"$TMP/in"
    for i in $(seq 1 1200); do
        grep -q '^READY' "$TMP/client.out" && break
        kill -0 "$CLIENT_PID" 2>/dev/null || { echo "idle_rss.sh: idleconns against $impl failed: $(cat "$TMP/client.err")" >&2; exit 1; }
        sleep 0.05
    done
    grep -q '^READY' "$TMP/client.out" || { echo "idle_rss.sh: idleconns against $impl: no READY in 60 s" >&2; exit 1; }
    sleep 1
    after="$(vmrss "$SERVER_PID")"
    exec {wfd}>&-
    wait "$CLIENT_PID" || { echo "idle_rss.sh: idleconns against $impl exited non-zero" >&2; exit 1; }
    CLIENT_PID=""
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
    echo "RESULT name=idle impl=$impl conns=$CONNS rss_before_kb=$before rss_after_kb=$after" \
        "bytes_per_conn=$(((after - before) * 1024 / CONNS))"
}

results="$BUILD/idle-$(date +%Y%m%d-%H%M%S).txt"
: >"$results"
seq_no=0
for r in $(seq 1 "$RUNS"); do
    for impl in "${IMPLS[@]}"; do
        line="$(one "$impl" $((PORT + seq_no)))"
        seq_no=$((seq_no + 1))
        echo "$line" | tee -a "$results" >&2
    done
done

echo
echo "| server | bytes per idle connection, median | min–max (runs) | ÷ Go | RSS after, median MiB |"
echo "|---|--:|--:|--:|--:|"
for impl in "${IMPLS[@]}"; do
    awk -v impl="$impl" '$3 == "impl=" impl {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            print v["bytes_per_conn"], v["rss_after_kb"] }' "$results" | sort -n |
        awk '{ b[NR] = $1; a[NR] = $2 } END { print b[int((NR + 1) / 2)], b[1], b[NR], NR, a[int((NR + 1) / 2)] }'
done | paste <(printf '%s\n' "${IMPLS[@]}") - | awk '
    { impl[NR] = $1; med[NR] = $2; lo[NR] = $3; hi[NR] = $4; n[NR] = $5; after[NR] = $6; if ($1 == "go") g = $2 }
    END {
        for (i = 1; i <= NR; i++) {
            name = impl[i] == "go" ? "Go (raw TCP)" : impl[i] == "nethttp" ? "Go net/http" : impl[i] == "asio" ? "Asio" : "gort"
            printf "| %s | %d | %d–%d (%d) | %.2f | %.1f |\n", name, med[i], lo[i], hi[i], n[i], med[i] / g, after[i] / 1024
        }
    }'
echo
echo "raw RESULT lines: $results"
