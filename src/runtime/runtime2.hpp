// runtime2.hpp: the scheduler's data structures: g, m, p and schedt, their
// status values and wait reasons. Go counterpart: runtime2.go (Go 1.23).
//
// G is a goroutine: its saved stack pointer, its stack, its status and its
// function. M is an OS thread; it runs Gs, and runs the scheduler itself on
// its g0, the thread's own stack. P is the right to run Go code: an M must
// hold a P to run a G, and there are gomaxprocs Ps. Each P has a local run
// queue; schedt (the global `sched`) has the global one, the idle lists and
// the counters that coordinate idle and spinning Ms.
//
// Ownership (who may touch what), as in Go:
//   g   A G's status is the lock on its stack: whoever moves it out of
//       Grunnable or Gwaiting owns the G (casgstatus). The running M owns all
//       other fields of its curg; a parked G's fields belong to whoever
//       parked it until goready.
//   m   Fields are the M's own, except park (futex word: anyone wakes it),
//       nextp and spinning (set by the waker under sched.lock before
//       notewakeup, read by the M after it wakes), schedlink (sched.lock).
//   p   The M holding the P owns it; the run queue is lock-free for thieves
//       (runq.hpp); status moves Pidle <-> Prunning under sched.lock.
//   schedt  Fields are guarded by sched.lock unless they are atomics.
//
// gort departures from Go, each argued where it is implemented:
//   - a G gets its stack when it first runs, not in newproc (stack.cpp);
//   - sudogs live on the waiting G's stack (stacks never move in gort), so
//     there is no sudog cache (sema.cpp);
//   - a switch goes straight from one G to the next when the next is already
//     at hand, and through g0 only when the M must look further or sleep
//     (proc.cpp, "Switching").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "gort/detail/funcval.hpp"
#include "runtime/asm_offsets.hpp"
#include "runtime/lock_futex.hpp"
#include "runtime/runq.hpp"

namespace gort::detail {
struct hchan;  // chan.hpp
struct timer;  // time.hpp
}  // namespace gort::detail

namespace gort::rt {

// gstatus: Go's values, since scheddetail prints them.
enum class gstatus : std::uint32_t {
  Gidle = 0,      // just allocated, not yet initialised
  Grunnable = 1,  // on a run queue; not running; may have no stack yet
  Grunning = 2,   // owns its stack, has an M and a P
  Gsyscall = 3,   // in blocking(), or its P taken by signal: has an M, no P
  Gwaiting = 4,   // parked in the runtime (gopark); on some wait structure
  Gdead = 6,      // on a free list, just exited, or being set up
};
// gstatus_strings: Go's names (gStatusStrings), by value; nullptr for 5,
// Go's unused _Gmoribund_unused. Dumps and the debugger (debug_descriptor.cpp)
// print them.
inline constexpr std::size_t num_gstatus = 7;
extern const char* const gstatus_strings[num_gstatus];

// pstatus: Go's values.
enum class pstatus : std::uint32_t {
  Pidle = 0,     // not running user code; on the idle list
  Prunning = 1,  // owned by an M
  Psyscall = 2,  // its M is in blocking(), or was signalled off it (preempt.cpp)
  Pgcstop = 3,   // halted by stop-the-world
  Pdead = 4,     // beyond gomaxprocs
};

// wait_reason: why a G is parked, with Go's strings (waitReasonStrings).
enum class wait_reason : std::uint8_t {
  zero,
  chan_receive_nil_chan,
  chan_send_nil_chan,
  select,
  select_no_cases,
  chan_receive,
  chan_send,
  semacquire,
  sleep,
  sync_cond_wait,
  sync_mutex_lock,
  sync_rwmutex_rlock,
  sync_rwmutex_lock,
  sync_waitgroup_wait,
  io_wait,  // the last: num_wait_reasons
};
const char* wait_reason_string(wait_reason r);
// wait_reason_strings: wait_reason_string's table, by value, which the
// debugger reads too (debug_descriptor.cpp).
inline constexpr std::size_t num_wait_reasons = static_cast<std::size_t>(wait_reason::io_wait) + 1;
extern const char* const wait_reason_strings[num_wait_reasons];

struct m;
struct tracebuf;  // trace.cpp
struct p;
struct sudog;

// A goroutine stack: [lo, hi). The descriptor itself sits at the top of the
// stack's memory, above hi, so it costs no allocation and shares the page a
// running goroutine touches first (stack.cpp).
struct stack {
  std::uintptr_t lo;
  std::uintptr_t hi;
  stack* next;   // free-list link
  bool guarded;  // a guard page lies below lo (else: canary at lo)
#if defined(GORT_TSAN)
  // TSan's fiber for whatever runs on this stack. Made once per stack and
  // kept with it through the pools: TSan counts fibers as threads (at most
  // 8128) and zeroes ~800 KB to make one, so not one per goroutine.
  void* tsan_fiber;
#endif
};

// A G is three cache lines, laid out by who touches them: the goroutine's
// creator writes line 0 (and line 1 for a closure over 16 bytes), the M that
// runs it everything. When one P creates and another runs (spawn, stealing),
// one or two lines cross between cores per goroutine, not the whole G.
struct alignas(64) g {
  // Line 0: newproc writes, execute reads.
  std::atomic<gstatus> atomicstatus{gstatus::Gidle};
  wait_reason waitreason = wait_reason::zero;
  bool is_g0 = false;
  // traceflow: while a trace runs, the count (1..127, cycling) of the last
  // time this G was made runnable (its go() or a goready), with
  // trace_flow_pending set until its next start records the count, for the
  // trace's arrow between the two (trace.cpp, "Flows"). Written by whoever
  // makes it runnable and by the M that starts it next; the run queue
  // orders the two, and the G's park orders the start before the next ready.
  // In line 0's padding: only a trace writes it, as the G is made runnable.
  std::uint8_t traceflow = 0;
  // preempted: the G is yielding at sysmon's request (entry_guard's
  // preempted, preempt.hpp), for the trace's label of the run that ends
  // ("preempted", not "yield"): execute clears p.preempt before the trace
  // sees the switch. Written by the G itself, read by its M as it switches
  // away. The last byte of line 0's padding.
  bool preempted = false;
  std::uint64_t goid = 0;
  const detail::funcval_ops* fnops = nullptr;  // the goroutine's function (a detail::closure),
  void* fn = nullptr;                          // in fnbuf or on the heap
  std::uint64_t parent_goid = 0;
  // gopc: where in its creator's code the go() that made this G is (a pc
  // inside the inlined gort::go), for the traceback's "created by" line.
  std::uintptr_t gopc = 0;
  static constexpr std::size_t fnbuf_size = 48;
  alignas(16) unsigned char fnbuf[fnbuf_size];

  // Line 1, after fnbuf: the running M's.
  gobuf sched;                     // saved sp while not running; nullptr: never ran
  stack* stk = nullptr;            // nullptr until first run (stack_prepare)
  struct m* m = nullptr;           // the M running it, or that last ran it
  struct m* lockedm = nullptr;     // lock_os_thread

  // Line 2. The C++ runtime's per-thread state that is really per-goroutine;
  // swapped on every switch (switch.cpp). Zero for a new G (goexit0 resets).
  int saved_errno = 0;
  // select: a waker must win this 0 -> 1 CAS to complete one of the G's
  // select cases (chan.cpp, waitq::dequeue); the G resets it after waking.
  std::atomic<std::uint32_t> selectdone{0};
  void* eh_globals[2] = {nullptr, nullptr};  // __cxa_eh_globals: caught list, uncaught count
  void* param = nullptr;           // waker -> wakee payload (e.g. the winning sudog)
  void* panic_trace = nullptr;     // frames at the throw of an unrecovered exception (panic.cpp)
  // waiting: while the G waits on channels or a Cond, its sudogs there (a
  // select's linked through waitlink), for the end of the run: a channel or
  // Cond may outlive the run, and teardown unlinks the abandoned Gs' sudogs
  // from it before their stacks go (proc.cpp, teardown). Go: g.waiting. The
  // G's own, but for teardown, which reads it once every M is joined.
  sudog* waiting = nullptr;
#if defined(GORT_ASAN)
  void* asan_fake_stack = nullptr;
#endif
  // waitsince: about when the G began to wait (Gwaiting or Gsyscall), a
  // nanotime(); 0: not known yet. Only tracebacks read it ("goroutine 7
  // [chan receive, 3 minutes]:"), so it costs next to nothing: gopark and
  // entersyscall clear it, and sysmon stamps the waiting Gs it finds
  // unstamped every few seconds (markwaitsince), as Go's GC stamps them
  // when it scans their stacks. The G's own M and sysmon write it; relaxed.
  // While the G is runnable the word is free, and holds the scheduling-
  // latency sample's stamp, negated (-cputicks()), when runqput picked the
  // G for it; execute reads and clears it (proc.cpp, "Scheduling latency").
  std::atomic<std::int64_t> waitsince{0};

  // Acquire: pairs with casgstatus's release store (proc.hpp).
  gstatus status() const { return atomicstatus.load(std::memory_order_acquire); }
};
static_assert(sizeof(g) == 192);

// sudog is a G waiting on something: a channel (in a send/recv queue) or a
// semaphore address (in a sema root). A G waits in several at once only in
// select, with one sudog per case. gort: sudogs live on the waiting G's own
// stack (gort stacks never move), so there is no sudog cache as in Go.
//
// Channel sudogs: gp, next, prev, elem and c are guarded by the channel's
// lock; is_select and success are written by the waker under that lock and
// read by the G after it is readied (goready orders the two).
// Sema sudogs: the root's lock guards all fields; prev/next are the treap's
// left/right children, waitlink/waittail the FIFO list of further waiters on
// the same address, which hangs off the treap node (sema.cpp).
struct sudog {
  g* gp = nullptr;
  sudog* next = nullptr;
  sudog* prev = nullptr;
  void* elem = nullptr;        // channel: the data slot (may be on gp's stack); sema: the address
  sudog* parent = nullptr;     // sema treap
  sudog* waitlink = nullptr;   // sema: the list on one address; select: the G's sudogs
  sudog* waittail = nullptr;   // sema: the list's tail (on the list's head only)
  detail::hchan* c = nullptr;  // the channel waited on
  std::uint32_t ticket = 0;    // sema: treap priority; 1 on a direct handoff. notify list: the ticket
  bool is_select = false;      // a select case: wakers must win gp->selectdone
  bool success = false;        // channel: a value was delivered (false: woken by close)
};

// gort: Go links its run and free queues through g.schedlink. gort keeps
// them as arrays of pointers (the local ring, a deque, vectors), so that
// moving a batch of Gs between Ps reads no G: a G is touched first by the M
// that runs it, not by every queue it passes through: walking a batch of Gs
// freshly written by another core costs a cache miss per G, which would be
// most of a spawn (docs/PERFORMANCE.md, "Figures behind the comments").

// The function an M runs right after its next switch, on the new stack, to
// finish leaving the old G (Go does this on g0 inside mcall: park_m's
// unlockf, goexit0, gosched_m's runqput). A pure continuation: the switch
// calls fn(m, gp, arg) and clears fn, and knows nothing of what it does.
// See proc.cpp, "Switching".
struct after_switch {
  using func = void (*)(struct m* mp, g* gp, void* arg);
  func fn = nullptr;
  g* gp = nullptr;
  void* arg = nullptr;

  void set(func f, g* g1, void* a) {
    fn = f;
    gp = g1;
    arg = a;
  }
};

// timer_kind: what a heap entry's tagged pointer (timer_when::what) points
// at, in its low two bits (Gs and timers are aligned to at least 8). A
// detail::timer_ref holds a timer in the same encoding: an entry holding a
// timer is the heap's reference to it (time.hpp).
enum class timer_kind : std::uintptr_t {
  sleep = 0,  // a sleeping G
  chan = 1,   // a detail::chan_timer: a Timer's, Ticker's or after's
  func = 2,   // a detail::func_timer: an after_func's
  rt = 3,     // a detail::rt_timer: the runtime's own (netpoll deadlines)
};
inline constexpr std::uintptr_t timer_kind_mask = 3;

inline std::uintptr_t tagged(const void* p, timer_kind k) {
  return reinterpret_cast<std::uintptr_t>(p) | static_cast<std::uintptr_t>(k);
}
inline timer_kind kind_of(std::uintptr_t what) { return static_cast<timer_kind>(what & timer_kind_mask); }
// timer_of: the timer what points at (a detail::timer*, upcast before it
// was tagged), what not a sleep.
inline detail::timer* timer_of(std::uintptr_t what) {
  return reinterpret_cast<detail::timer*>(what & ~timer_kind_mask);
}

// timer_when: a heap entry, Go's timerWhen: the key sits in the heap itself,
// so sifting compares without touching the timers, and a timer keeps its
// when nowhere else. 16 bytes: when and one tagged pointer. A sleeping G
// needs no timer at all: its entry names the G, so firing it touches only
// the G it readies (100,000 sleepers are 100,000 cold stacks). A timer's
// entry keeps the timer's position in it (timer::index), so that stop and
// reset can remove it.
struct timer_when {
  std::int64_t when;
  std::uintptr_t what;  // a G or a timer, tagged with its timer_kind

  detail::timer* t() const {  // nullptr: a sleep
    return kind_of(what) == timer_kind::sleep ? nullptr : timer_of(what);
  }
  struct g* gp() const { return reinterpret_cast<struct g*>(what); }  // a sleep's G
};
static_assert(sizeof(timer_when) == 16);

// timers: a P's timers, Go's timers (time.go): a 4-ary min-heap on when,
// and beside it the sorted run, sleeps that arrived in when order, a FIFO
// (time.cpp, "The sorted run"). Any M may lock mu: the owner adds and
// runs, others stop, reset and, when the P is idle or they steal, run.
struct timers {
  mutex mu{lock_rank::timers};
  std::vector<timer_when> heap GORT_GUARDED_BY(mu);
  std::vector<timer_when> run GORT_GUARDED_BY(mu);  // sleeps, when nondecreasing from run_head on
  std::size_t run_head GORT_GUARDED_BY(mu) = 0;
  std::atomic<std::int64_t> min_when{0};   // the earliest when of both; 0: empty. Written under mu, read without
};

inline constexpr std::uint32_t local_runq_size = 256;
inline constexpr int latency_buckets = 32;
using local_runq = runq<g, local_runq_size>;

struct p {
  std::int32_t id = 0;
  std::atomic<pstatus> status{pstatus::Pgcstop};
  p* link = nullptr;                       // idle list (sched.lock)
  std::atomic<std::uint32_t> schedtick{0}; // owner writes; schedtrace reads
  std::atomic<std::uint32_t> syscalltick{0};
  std::atomic<bool> preempt{false};        // sysmon: end the time slice at the next runtime entry
  std::atomic<struct m*> m{nullptr};       // back-link to the M (nil if idle)

  local_runq runq;
  // When Gs a poll readied went on runq without waking another P (0: none
  // waiting so): the owner sets and clears it, sysmon reads it. proc.cpp,
  // "Gs readied by the network".
  std::atomic<std::int64_t> wake_deferred{0};

  static constexpr std::int32_t gfree_max = 64;
  g* gfree[gfree_max];                     // free Gs (owner only)
  std::atomic<std::int32_t> gfreecnt{0};   // their number; stats read it
  stack* stackcache = nullptr;             // free stacks (owner only)
  std::atomic<std::int32_t> stackcachecnt{0};  // owner writes; stats reads
  std::uint64_t goidcache = 0;
  std::uint64_t goidcacheend = 0;

  struct timers timers;

  std::atomic<std::uint64_t> steals{0};            // owner writes; stats reads
  std::atomic<std::uint64_t> context_switches{0};  // owner writes; stats reads
  std::atomic<std::uint64_t> preempt_yields{0};    // owner writes; stats reads
  // The scheduling-latency sample (proc.cpp, "Scheduling latency"): which
  // runqput is the next sampled one (owner only), and the histogram of the
  // sampled waits, bucket i for waits under 2^i cputicks (owner writes;
  // stats reads).
  std::uint32_t latency_tick = 0;
  std::atomic<std::uint64_t> latency[latency_buckets] = {};
};

struct m {
  g g0;                                // the scheduler's context: the thread's own stack
  stack g0stack{};                     // g0's bounds (the thread's stack), g0.stk points here
  g* curg = nullptr;                   // the user G running, nullptr on g0
  struct p* p = nullptr;               // attached P (nullptr if none)
  struct p* nextp = nullptr;           // P to acquire when woken (startm)
  int waker_cpu = -1;                  // startm's CPU, for the M it wakes (leave_wakers_cpu)
  struct p* waker_p = nullptr;         // startm's caller's P, if it had one; with waker_cpu
  struct p* oldp = nullptr;            // P before blocking()
  std::int64_t id = 0;
  bool spinning = false;               // looking for work (counted in sched.nmspinning)
  std::atomic<bool> blocked{false};    // parked in stopm (schedtrace)
  note park;                           // stopm sleeps here
  m* schedlink = nullptr;              // idle list (sched.lock)
  m* alllink = nullptr;                // allm (sched.lock)
  g* lockedg = nullptr;                // lock_os_thread
  std::uint32_t locked = 0;            // lock_os_thread nesting (Go's lockedExt)
  bool parkedlocked = false;           // asleep in stoplockedm (sched.lock)
  g* handofflocked = nullptr;          // a G locked to another M, found by a fast path
  std::uint64_t cheaprand = 0;         // per-M PRNG state (wyrand)
  after_switch afterswitch;            // see proc.cpp, "Switching"
  after_switch::func leave_commit = nullptr;  // schedule_from's: the afterswitch commit_then_timers wraps
  bool (*waitunlockf)(g*, void*) = nullptr;  // gopark's unlockf and its argument,
  void* waitlock = nullptr;                  // carried across the switch (Go: the same)

  // Addresses of this thread's errno and __cxa_eh_globals, looked up once:
  // they are constant for the thread, and switch.cpp copies a G's values in
  // and out of them on every switch.
  int* errno_loc = nullptr;
  void** eh_globals_loc = nullptr;

  std::thread thread;                  // joinable for every M but m0
  // now_hint: a nanotime() the running G read just before it parked
  // (sleep), which the timer check after the switch (commit_then_timers)
  // uses instead of reading the clock again. Older than the clock, so no
  // timer fires early. schedule_from clears it when no check follows.
  std::int64_t now_hint = 0;
  std::int32_t procid = 0;             // kernel thread id: sysmon signals it (preempt.cpp)
  std::atomic<bool> stallsample{false};  // sysmon wants this thread's stack (sample_stack)
  // in_user: the M is running its curg's own code, outside every runtime
  // entry, so sysmon may take its P. Written by the M; read by sysmon
  // (after a membarrier) or by the M's own signal handler. handoff: sysmon's
  // side of the handshake that takes the P (handoff_state). Both in
  // preempt.cpp.
  std::atomic<bool> in_user{false};
  std::atomic<std::uint32_t> handoff{0};
  void* sigstack = nullptr;            // alternate signal stack (stack overflow reports)

  // An extra M: a thread the runtime did not start, calling in (extram.cpp).
  // Its G (lockedg) runs on the thread's own stack and never switches.
  // incall: inside a call, so teardown waits before freeing what the call
  // may touch. attached: in this run's allm (extram_lock). aborted: run()
  // ended while the call waited; the call unwinds with an exception.
  bool extram = false;
  bool attached = false;
  bool thread_gone = false;
  bool aborted = false;
  std::atomic<bool> incall{false};

  // The execution trace (trace.cpp): this M's event buffer and the count
  // that is odd while the M writes an event, which trace_stop waits to see
  // even; both the M's own, but for trace_stop, which takes the buffer once
  // the count is even and tracing off. tracepending: the ready the M has
  // not yet written (trace.cpp, "Pending readies"), which trace_stop takes
  // too.
  tracebuf* tbuf = nullptr;
  std::atomic<std::uint32_t> traceseq{0};
  struct trace_pending {
    std::atomic<std::uint32_t> meta{0};  // its flow, P and trace (trace.cpp, pend_ready); 0: none
    std::atomic<std::uint64_t> goid{0};  // the G readied
  } tracepending;
};

// schedt: the global scheduler state (Go's `sched`).
struct schedt {
  mutex lock{lock_rank::sched};

  std::atomic<std::uint64_t> goidgen{0};

  m* midle GORT_GUARDED_BY(lock) = nullptr;                  // idle Ms waiting for work
  std::int32_t nmidle GORT_GUARDED_BY(lock) = 0;             // number of idle Ms
  std::int32_t nmidlelocked GORT_GUARDED_BY(lock) = 0;       // idle Ms locked to a G (lock_os_thread)
  std::int32_t threads_before_run GORT_GUARDED_BY(lock) = 0; // the process's other threads at schedinit (checkdead)
  std::int64_t mnext GORT_GUARDED_BY(lock) = 0;              // Ms created so far; next M's id
  std::int32_t maxmcount GORT_GUARDED_BY(lock) = 10000;      // over it: fatal error: thread exhaustion
  std::int32_t nmsys GORT_GUARDED_BY(lock) = 0;              // system Ms not counted by checkdead (sysmon)
  std::int32_t nmfreed GORT_GUARDED_BY(lock) = 0;            // Ms that have exited

  p* pidle GORT_GUARDED_BY(lock) = nullptr;                  // idle Ps
  std::atomic<std::int32_t> npidle{0};
  std::atomic<std::int32_t> nmspinning{0};  // see "Worker thread parking/unparking" in proc.cpp
  std::atomic<std::uint32_t> needspinning{0};

  std::deque<g*> runq GORT_GUARDED_BY(lock);                 // global run queue
  std::atomic<std::int32_t> runqsize{0};  // runq.size(), readable without the lock

  mutex gfreelock{lock_rank::gfree};                 // Go: sched.gFree.lock
  std::vector<g*> gfree GORT_GUARDED_BY(gfreelock);  // global free Gs

  // Stop flags, one word so the fast switch paths test both with one load:
  // stop_gcwaiting: a stop-the-world is in progress (gomaxprocs);
  // stop_exiting: main has returned, every M must stop.
  std::atomic<std::uint32_t> stop{0};
  std::int32_t stopwait GORT_GUARDED_BY(lock) = 0;           // Ps yet to stop
  note stopnote;                       // the stopper sleeps here

  // The netpoller (proc.cpp, find_runnable): at most one idle M, without a
  // P, blocks in netpoll, until an fd is ready or poll_until, the earliest
  // timer of any P when it went to sleep (0: none). lastpoll is 0 while it
  // does, else when the last poll ended, which tells sysmon how stale the
  // poll is. A timer armed earlier than poll_until, or work for an M while
  // every M sleeps, breaks it out (netpoll_break). Go: the same fields.
  std::atomic<std::int64_t> lastpoll{0};
  std::atomic<std::int64_t> poll_until{0};

  std::atomic<bool> sysmonwait{false};  // sysmon sleeps deeply (sysmon.cpp); written under lock
  // sysmon's preemptions, for stats: time slices it ended (preemptone), Ps
  // it took from a G that kept them (take_p: the handshake or the signal),
  // Ps it took from a long blocking() call (retake). Relaxed.
  std::atomic<std::uint64_t> npreempt{0};
  std::atomic<std::uint64_t> nhandoff_held{0};
  std::atomic<std::uint64_t> nhandoff_syscall{0};
  // cputicks() and nanotime() at schedinit: stats scales the latency
  // sample's ticks to ns with them.
  std::int64_t ticks0 = 0, ns0 = 0;
  bool sysmon_rush GORT_GUARDED_BY(lock) = false;  // its wakeup was for a system call or a start: sleep short again

  std::atomic<std::int32_t> gomaxprocs{0};
  std::atomic<std::uint64_t> allglen{0};  // Gs ever allocated this run
  std::atomic<bool> main_started{false};
};
inline constexpr std::uint32_t stop_gcwaiting = 1;
inline constexpr std::uint32_t stop_exiting = 2;

inline constexpr int max_gomaxprocs = 1024;  // Go's _MaxGomaxprocs

extern schedt sched;
extern p* allp[max_gomaxprocs];  // Ps are never freed during a run
extern m* allm GORT_GUARDED_BY(sched.lock);  // all Ms

// allp_len: how many of allp a reader may index that neither holds
// sched.lock nor is held still by a stop-the-world (sysmon, the stats and
// schedtrace walks, an idle M working out its sleep). Acquire, pairing with
// procresize's release store of gomaxprocs, which publishes the Ps it made
// (Go reads allp under allpLock for the same reason).
inline std::int32_t allp_len() { return sched.gomaxprocs.load(std::memory_order_acquire); }

}  // namespace gort::rt
