// export_test.hpp: runtime internals exposed to tests only (Go's
// export_test.go pattern: proc_test.go reads GCount, runtime_test.go
// the stack pools). Here: the census, what the runtime still holds, which
// the leak checks (tests/runtime/leak_check.hpp) read after run() returns.
//
// What run()'s end must leave, and why each count is where it is. A run
// allocates its Gs, stacks, Ms, Ps, timer heaps and semaphore waiters for
// itself, and its end (teardown, proc.cpp) frees them all, whatever the
// program left behind: goroutines still parked when main returns are
// abandoned as in Go, and their G, stack and wait records go with the run.
// Those counts are the first group, and must read zero once run() has
// returned. The second group is held by the program's objects (an
// after_func Timer, a net connection, a thread that called in): each goes
// with its owner, so it reads zero once the owners are gone, which in a
// test that keeps none past run() is also when run() returns.
//
// Cost. Nothing here is on a hot path: the census walks the structures
// that already exist (allgs, the stack pool's chunk list, allm, allp, the
// semaphore table, the poll descriptor blocks), each under its own lock,
// and the few counts that no structure holds are kept where the thing is
// allocated, off the paths of spawn, yield and channel hand-offs: an
// after_func, a select of more than 8 cases, an M's signal stack, a trace
// buffer, an extra M's binding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gort::rt {

struct Census {
  // Held by a run, freed by its end.
  std::size_t gs = 0;              // Gs in allgs: every G the run made, live or free (Go: allglen)
  std::size_t g_regions = 0;       // the mappings they are carved from (proc.cpp, malg)
  std::size_t stacks = 0;          // goroutine stacks mapped: in use, cached by a P, or pooled
  std::size_t stack_regions = 0;   // the mappings they are carved from (stack.cpp)
  std::size_t ms = 0;              // Ms on allm (Go: mcount)
  std::size_t ps = 0;              // Ps in allp
  std::size_t timer_entries = 0;   // entries in the Ps' timer heaps: sleeps and timers
  std::size_t sema_roots = 0;      // semaphore roots with a waiter (a treap)
  std::size_t sema_waiters = 0;    // their nwait, summed
  std::size_t sigstacks = 0;       // Ms' alternate signal stacks mapped
  std::size_t trace_bufs = 0;      // execution trace buffers allocated
  // Held by the program's objects, freed with them.
  std::size_t func_timers = 0;     // after_func's timers (a Timer or the heap holds one)
  std::size_t poll_descs = 0;      // poll descriptors in use (an fd not closed)
  std::size_t select_scratch = 0;  // heap scratch of selects of over 8 cases, in progress
  std::size_t extra_ms = 0;        // extra Ms a thread keeps between runs (until it exits)
};

// census counts what the runtime holds now. Between runs, or from a
// goroutine during one (each part is read under its own lock, so the
// counts are of slightly different moments).
Census census();

// census_leaks describes c's nonzero counts, "gs=12 stacks=64", or "" if
// every count is zero.
std::string census_leaks(const Census& c);

// Go: GCount, the goroutines that are not dead (allglen less the free
// ones and the system ones; gort has no system goroutines). During a run.
std::size_t GCount();

// The last run's teardown: what it reclaimed from the goroutines the
// program abandoned (still parked, or runnable, when main returned). A
// count that is not a leak but what run()'s end had to free.
struct TeardownStats {
  std::size_t abandoned_gs = 0;  // Gs parked or runnable at the end
  std::size_t chan_waiters = 0;  // their sudogs unlinked from channels (g::waiting)
  std::size_t cond_waiters = 0;  // and from Conds
};
TeardownStats last_teardown();

// backdate_waits stamps every waiting G that has no stamp yet (g::waitsince,
// runtime2.hpp) as waiting since ago_ns before now: markwaitsince with a
// clock behind, so that a test sees a traceback's "[chan receive, 3
// minutes]" without waiting them (testprog's DeadlockWaitMinutes). sysmon
// stamps with the true clock every 10 s: a test that needs its stamp to be
// the only one turns sysmon off (GODEBUG=sysmonoff=1). During a run.
void backdate_waits(std::int64_t ago_ns);

// sysmon_netpolls: how many of sysmon's polls found a G ready (sysmon.cpp,
// sysmon_netpoll), so that a test can tell when one is in sysmon's hands.
std::uint64_t sysmon_netpolls();

// syscall_keeps: how many times, this run, an M coming back from syscall
// state (blocking(), or a P taken from user code) took back the very P it
// had left there: exitsyscallfast's CAS, which adds one to the P's
// syscalltick (proc.cpp). retake's hand-offs add one too; they are taken
// off. Every other return handed the P over. During a run, at a fixed
// GOMAXPROCS.
std::uint64_t syscall_keeps();

// held_p_taken: sysmon has taken the calling goroutine's P while it ran its
// own code (preempt.cpp): the G is in syscall state outside blocking().
// Reads the G's status only: no runtime entry, so the goroutine stays as it
// is, without a P. From a goroutine, outside blocking().
bool held_p_taken();

// The execution trace's records (trace.cpp, tracebuf): each written into
// one buffer as the hooks write it (in its fixed form where it has one
// that fits, else with varints), then read back as trace_stop reads them.
// ev names trace.cpp's trace_ev ("go_unpark", "go_switch", ...); end and
// reason are go_stop's and go_switch's; from is go_switch's.
struct TraceRecordView {
  std::string ev;
  std::int64_t ticks = 0;  // 0: untimed
  std::uint64_t goid = 0;
  std::uint64_t arg = 0;
  std::int32_t p = -1;
  int end = 0;
  int reason = 0;
  std::uint64_t from = 0;
  bool operator==(const TraceRecordView&) const = default;
};
// Readies pass through the M's pending word as the hooks' do. *fixed: how
// many took a fixed form; *fused: how many readies a start carried.
std::vector<TraceRecordView> trace_records_roundtrip(const std::vector<TraceRecordView>& recs, std::size_t* fixed,
                                                     std::size_t* fused);

// trace_merge: records of Ms (streams[i] is M i's, in the order written;
// ticks are ns here) placed in time and merged as trace_stop merges them.
struct TraceMerged {
  std::size_t m;
  std::int64_t ns;
  TraceRecordView r;
};
std::vector<TraceMerged> trace_merge(const std::vector<std::vector<TraceRecordView>>& streams);

// Each file's part of the census, defined beside what it counts.
void census_proc(Census& c);     // proc.cpp: allgs, allm, allp, extra Ms
void census_stack(Census& c);    // stack.cpp
void census_time(Census& c);     // time.cpp: heap entries (with allp), func timers
void census_sema(Census& c);     // sema.cpp
void census_netpoll(Census& c);  // netpoll.cpp
void census_select(Census& c);   // select.cpp
void census_signal(Census& c);   // signal_unix.cpp
void census_trace(Census& c);    // trace.cpp

}  // namespace gort::rt
