#!/usr/bin/env bash
# goroutines_test.sh: gort's gdb extension (src/runtime/gort-gdb.py), as a
# user meets it: auto-loaded from the program, on a live process and on a
# core file. Go counterpart: runtime-gdb_test.go (TestGdbPython, which
# checks "info goroutines" and "goroutine 1 bt" in a batch session).
#
#   tests/gdb/goroutines_test.sh <testprog> <work dir>
#
# testprog GdbParked parks 1,000 goroutines in testprog_parked_for_gdb (on
# a channel), puts one in a blocking() call in testprog_blocking_for_gdb
# (running on a thread of its own), and prints "ready <first> <last>
# <blocking>", their goroutine ids. Then:
#   1. gdb attaches to it (gdb -p) in batch mode, with the program's path in
#      its auto-load safe-path and no other set-up, so the commands exist
#      only if gdb loaded the extension from the program's
#      .debug_gdb_scripts section; checks that info goroutines lists every
#      parked goroutine with its wait reason and top frame, that goroutine
#      <n> bt unwinds a parked one through testprog_parked_for_gdb from its
#      saved context, that the blocking one's stack is its thread's, that
#      goroutine <n> select makes a parked goroutine's frame current (its
#      local variable prints), and that goroutine <n> frame, for another,
#      prints that one's header and top frame (testprog_parked_for_gdb,
#      not the switch the unwinder starts from).
#   2. The same checks on core files of two more runs (with 16 KiB stacks,
#      GdbParkedSmallStacks, as a core holds every stack made, 1,024 here):
#      a. the kernel's, as a crash leaves it: GOTRACEBACK=crash, SIGQUIT,
#         with the other Ms frozen in a signal handler (skipped where
#         core_pattern hands cores to a program);
#      b. the extension's gort gcore of the live process, with the default
#         guard pages: gdb's gcore alone stops writing a mapping at its
#         first unreadable page, and MADV_GUARD_INSTALL guards (Linux
#         6.13+) are such pages inside the stacks' mapping, so its core has
#         no goroutine stacks; and it writes the stacks' whole reservation,
#         used or not. Also checked: the core does not hold the
#         reservation's unused part (the segment with the stacks is under
#         half of it), and the live process has its guard pages back
#         afterwards. gort gcore calls into the program, so this part is
#         skipped, saying why, where gdb cannot call a function in any
#         process (gdb 13 on a CPU with AMX: "Couldn't write extended state
#         status").
#   Between the two: with the live process's descriptor version changed,
#   the extension refuses to read it and says which versions differ.
# Exits 77 (skipped) where gdb cannot attach to a process (ptrace denied).
set -uo pipefail
prog=$(realpath "$1")
work=$2
mkdir -p "$work"
rm -f "$work"/core "$work"/*.out "$work"/*.err

pids=()
cleanup() {
  for p in "${pids[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null; done
  rm -f "$work/core"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  exit 1
}

# start <name> <scenario> [env...]: runs testprog <scenario> and waits for
# its ready line; sets pid and the ids first, last, blocking. No time limit
# of its own: a run that dies ends the wait, and ctest's timeout the rest.
start() {
  local name=$1 scenario=$2
  shift 2
  env "$@" "$prog" "$scenario" >"$work/$name.prog.out" 2>"$work/$name.prog.err" &
  pid=$!
  pids+=("$pid")
  until grep -q '^ready ' "$work/$name.prog.out"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$work/$name.prog.err"
      fail "testprog $scenario exited before it was ready"
    fi
    sleep 0.1
  done
  read -r _ first last blocking < <(grep '^ready ' "$work/$name.prog.out")
}

# gdb_batch <out> <args...>: gdb in batch mode, trusting the program's
# auto-load entry and nothing else (-nx: no ~/.gdbinit).
gdb_batch() {
  local out=$1
  shift
  gdb -nx -batch -iex "add-auto-load-safe-path $prog" -iex "set pagination off" "$@" >"$out" 2>&1
}

# session sets commands, what both sessions run, for the ids start read.
session() {
  commands=(-ex "info goroutines"
            -ex "echo ---bt-parked\n" -ex "goroutine $last bt"
            -ex "echo ---bt-blocking\n" -ex "goroutine $blocking bt"
            -ex "echo ---select\n" -ex "goroutine $first select" -ex "print c"
            -ex "echo ---frame\n" -ex "goroutine $last frame"
            -ex "echo ---end\n")
}

# check <what> <gdb output>
check() {
  local what=$1 out=$2
  local status=0
  grep -q "Undefined info command: \"goroutines\"" "$out" &&
    { echo "FAIL($what): info goroutines undefined: the extension was not auto-loaded"; status=1; }
  # info goroutines: a row per parked goroutine, id, status waiting, wait
  # reason chan receive, top frame testprog_parked_for_gdb.
  local parked
  parked=$(sed -n '1,/^---bt-parked/p' "$out" |
    grep -cE '^[ *] +[0-9]+ +waiting +chan receive +testprog_parked_for_gdb at .*testprog\.cpp:[0-9]+$')
  if ((parked < 1000)); then
    echo "FAIL($what): info goroutines lists $parked goroutines waiting (chan receive) in testprog_parked_for_gdb, want 1000"
    status=1
  fi
  grep -qE "^[ *] +$blocking +syscall +[0-9]+ +" "$out" ||
    { echo "FAIL($what): info goroutines has no row for goroutine $blocking in syscall on an M"; status=1; }
  grep -qE "^[ *] +1 +waiting +sleep " "$out" ||
    { echo "FAIL($what): info goroutines has no row for goroutine 1 waiting (sleep)"; status=1; }
  # goroutine <last> bt: its header, the frames from its saved context,
  # numbered from #1, through the parking function to the goroutine's entry.
  local bt
  bt=$(sed -n '/^---bt-parked/,/^---bt-blocking/p' "$out")
  grep -qx "goroutine $last \[chan receive\]:" <<<"$bt" ||
    { echo "FAIL($what): goroutine $last bt: no header"; status=1; }
  grep -qE '^#1 ' <<<"$bt" && ! grep -qE '^#0 ' <<<"$bt" ||
    { echo "FAIL($what): goroutine $last bt does not start at #1"; status=1; }
  grep -qE '^#[0-9]+ .*testprog_parked_for_gdb ?\(.*testprog\.cpp:[0-9]+$' <<<"$bt" ||
    { echo "FAIL($what): goroutine $last bt has no frame in testprog_parked_for_gdb"; status=1; }
  grep -qE '^#[0-9]+ .*gort::chan<int>::recv' <<<"$bt" ||
    { echo "FAIL($what): goroutine $last bt has no frame in gort::chan<int>::recv"; status=1; }
  grep -qE '^#[0-9]+ .*gort_goentry_trampoline' <<<"$bt" ||
    { echo "FAIL($what): goroutine $last bt does not reach gort_goentry_trampoline"; status=1; }
  # goroutine <blocking> bt: its thread's stack, in the blocking call.
  bt=$(sed -n '/^---bt-blocking/,/^---select/p' "$out")
  grep -qE "^goroutine $blocking \[syscall\]: on thread [0-9]+ \(LWP [0-9]+\)$" <<<"$bt" ||
    { echo "FAIL($what): goroutine $blocking bt: no header naming its thread"; status=1; }
  grep -qE '^#[0-9]+ .*testprog_blocking_for_gdb' <<<"$bt" ||
    { echo "FAIL($what): goroutine $blocking bt has no frame in testprog_blocking_for_gdb"; status=1; }
  # goroutine <first> select: its top frame is current, with its argument.
  local sel
  sel=$(sed -n '/^---select/,/^---frame/p' "$out")
  grep -qE "^#[0-9]+ +testprog_parked_for_gdb " <<<"$sel" ||
    { echo "FAIL($what): goroutine $first select did not stop in testprog_parked_for_gdb"; status=1; }
  grep -qE '^\$1 = \{.*0x[0-9a-f]+\}$' <<<"$sel" ||
    { echo "FAIL($what): print c in the selected goroutine's frame"; status=1; }
  # goroutine <last> frame: that goroutine's header, then its top frame.
  local frame
  frame=$(sed -n '/^---frame/,/^---end/p' "$out")
  grep -qx "goroutine $last \[chan receive\]:" <<<"$frame" ||
    { echo "FAIL($what): goroutine $last frame: no header"; status=1; }
  grep -qE "^#[0-9]+ +testprog_parked_for_gdb \(.*testprog\.cpp:[0-9]+$" <<<"$frame" ||
    { echo "FAIL($what): goroutine $last frame did not print its top frame, testprog_parked_for_gdb"; status=1; }
  # An error in the extension (libstdc++'s printers may say "value has
  # been optimized out" printing an argument: not the extension's).
  if grep -E "Error occurred in Python|Python Exception" "$out" | grep -qv "optimized out"; then
    echo "FAIL($what): the extension raised"
    grep -m3 -E "Error occurred in Python|Python Exception" "$out"
    status=1
  fi
  if ((status)); then
    echo "--- gdb output ($out) ---"
    head -n 12 "$out"
    sed -n '/^---bt-parked/,$p' "$out"
    exit 1
  fi
  echo "ok($what): $parked parked goroutines listed; bt, thread bt, select and frame checked"
}

# 1. The live process.
start live GdbParked
session
gdb_batch "$work/live.out" -p "$pid" "${commands[@]}"
if grep -qE "ptrace: Operation not permitted|Could not attach to process" "$work/live.out"; then
  echo "SKIP: gdb cannot attach to a process here:"
  grep -m1 -E "ptrace|attach" "$work/live.out"
  exit 77
fi
check live "$work/live.out"

# The extension refuses a descriptor of another version, naming both,
# rather than read a layout it does not know: the live process's version
# word set to 99 for one command, then put back.
gdb_batch "$work/version.out" -p "$pid" -ex 'set $v = (unsigned long *)((char *)&gort_debug_info + 8)' \
  -ex 'set $was = *$v' -ex 'set var *$v = 99' -ex "info goroutines" -ex 'set var *$v = $was'
grep -qE "^gort: the program's runtime has debug descriptor version 99; this gort-gdb.py reads version [0-9]+ " \
  "$work/version.out" || { cat "$work/version.out"; fail "info goroutines read a descriptor of version 99"; }
echo "ok(version): a descriptor of another version refused"

# core_session <what> <core>: the session's commands on a core file.
core_session() {
  session
  gdb_batch "$work/$1.out" "$prog" "$2" "${commands[@]}"
  check "$1" "$work/$1.out"
}

# 2a. The kernel's core. testprog keeps its core limit (TESTPROG_CORE), and
# the run's directory is $work, where a core_pattern without a path puts it.
pattern=$(cat /proc/sys/kernel/core_pattern)
if [[ $pattern == '|'* || $pattern == */* ]]; then
  echo "SKIP(kernel core): core_pattern is $pattern"
else
  ulimit -c unlimited
  rm -f "$work"/core*
  (cd "$work" && start crash GdbParkedSmallStacks TESTPROG_CORE=1 GOTRACEBACK=crash &&
    kill -QUIT "$pid" && { wait "$pid"; } 2>/dev/null)
  kcore=$(find "$work" -maxdepth 1 -name 'core*' -type f | head -n 1)
  [[ -n $kcore ]] || { tail -n 3 "$work/crash.prog.err"; fail "SIGQUIT under GOTRACEBACK=crash left no core in $work"; }
  core_session kernel-core "$kcore"
  rm -f "$kcore"
fi

# 2b. gort gcore, where gdb can call into a process at all.
start core GdbParkedSmallStacks
gdb_batch "$work/call.out" -p "$pid" -ex 'print (int) getpid()'
if grep -q "Couldn't write extended state status" "$work/call.out"; then
  echo "SKIP(gort gcore): gdb cannot call a function in a process here: $(grep -m1 "Couldn't" "$work/call.out")"
  echo "PASS: info goroutines, goroutine bt, select and frame, live and on the kernel's core file"
  exit 0
fi
gdb_batch "$work/gcore.out" -p "$pid" -ex "gort gcore $work/core" \
  -ex "python print('stack', *find_goroutine(Descriptor(), $first).stack)"
[[ -s $work/core ]] || { tail -n 5 "$work/gcore.out"; fail "gort gcore wrote no core file"; }
read -r _ lo hi < <(grep '^stack ' "$work/gcore.out") || fail "no stack bounds for goroutine $first"
# The guard page under that stack faults again: a guard marker in the page
# map (bit 58: MADV_GUARD_INSTALL, Linux 6.13+) or a PROT_NONE mapping. The
# core's segment holding the stack is under half the reservation: 1,024
# stacks of 20 KiB in use of 16,384 (320 MiB), all of which a core that
# dumped the unused part would hold.
python3 - "$pid" "$lo" "$work/core" <<'PY' || fail "gort gcore: see above"
import struct, sys
pid, lo, core = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
guard = lo - 4096
with open("/proc/%d/pagemap" % pid, "rb") as f:
    f.seek(guard // 4096 * 8)
    ok = struct.unpack("<Q", f.read(8))[0] >> 58 & 1
for line in open("/proc/%d/maps" % pid):
    r, perms = line.split()[:2]
    a, b = (int(x, 16) for x in r.split("-"))
    ok = ok or (a <= guard < b and perms.startswith("---"))
if not ok:
    sys.exit("the guard page under the stack at 0x%x is gone after gort gcore" % lo)
with open(core, "rb") as f:
    elf = f.read(64)
    phoff, phentsize, phnum = struct.unpack_from("<Q", elf, 32)[0], *struct.unpack_from("<HH", elf, 54)
    f.seek(phoff)
    for _ in range(phnum):
        ptype, _, _, vaddr, _, filesz, _, _ = struct.unpack("<IIQQQQQQ", f.read(phentsize))
        if ptype == 1 and vaddr <= lo < vaddr + filesz:
            if filesz >= 160 << 20:
                sys.exit("the core's segment with the stacks is %d bytes: the unused reservation was dumped" % filesz)
            sys.exit(0)
sys.exit("the core has no segment holding the stack at 0x%x" % lo)
PY
{ kill -9 "$pid"; wait "$pid"; } 2>/dev/null
core_session core "$work/core"

echo "PASS: info goroutines, goroutine bt, select and frame, live and on core files"
