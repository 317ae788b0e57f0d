#!/usr/bin/env bash
# startup_test.sh: gort's start-up path and a goroutine's life under Go's
# names, in a debugger, as people learning Go's runtime step through it
# (docs/ARCHITECTURE.md, "Read it alongside Go").
#
#   tests/gdb/startup_test.sh <source dir> <build dir for the Debug demo>
#
# Builds examples/demo as a Debug build (-O0: execute, which optimised
# builds inline, is a function of its own), runs it under gdb in batch mode
# with a breakpoint on each of Go's names below, and checks that each is
# hit, the start-up ones first in Go's order: schedinit, newproc, mstart,
# schedule, execute, gogo (rt0_go -> schedinit -> newproc(main) -> mstart
# -> schedule -> execute -> gogo). Each breakpoint prints its name at its
# first hit, then disables itself.
set -euo pipefail
src=$1
work=$2
names=(schedinit newproc newproc1 mstart schedule execute gogo goexit0 runqput wakep gopark goready)
startup=(schedinit newproc mstart schedule execute gogo)

mkdir -p "$work"
if ! { cmake -S "$src" -B "$work" -DCMAKE_BUILD_TYPE=Debug -DGORT_BUILD_TESTS=OFF -DGORT_BUILD_BENCH=OFF &&
       cmake --build "$work" --target demo -j2; } >"$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log"
  echo "FAIL: the Debug demo did not build (log: $work/build.log)"
  exit 1
fi

script=$work/breakpoints.gdb
{
  echo "set pagination off"
  echo "set confirm off"
  for n in "${names[@]}"; do
    echo "break $n"
    echo "commands"
    echo "silent"
    echo "printf \"HIT $n\\n\""
    echo "disable \$_hit_bpnum"
    echo "continue"
    echo "end"
  done
  echo "run"
  echo "quit"
} >"$script"

out=$work/gdb.out
gdb -nx -batch -x "$script" "$work/examples/demo" >"$out" 2>&1 || true
mapfile -t hits < <(grep -o '^HIT [a-z0-9]*' "$out" | cut -d' ' -f2)

status=0
for n in "${names[@]}"; do
  if [[ " ${hits[*]} " != *" $n "* ]]; then
    echo "FAIL: no stop in $n"
    status=1
  fi
done
# The start-up names, in the order of their first hits.
order=()
for h in "${hits[@]}"; do
  for s in "${startup[@]}"; do
    [[ $h == "$s" ]] && order+=("$h")
  done
done
if [[ "${order[*]}" != "${startup[*]}" ]]; then
  echo "FAIL: start-up order ${order[*]}, want ${startup[*]}"
  status=1
fi
if ((status)); then
  echo "--- gdb output ($out) ---"
  tail -n 60 "$out"
  exit 1
fi
echo "PASS: stopped in ${hits[*]}"
