// proc.cpp: the scheduler. Go counterpart: proc.go (Go 1.23): schedinit,
// mstart, schedule, findRunnable, stealWork, execute, newproc, gfput/gfget,
// goexit0, wakep, startm, stopm, handoffp, procresize, checkdead keep Go's
// names (in snake_case) and shape.
// The public API that calls into it (run, go, yield, gomaxprocs, stats,
// ...) is runtime.cpp's.
//
// Goroutine scheduler. The scheduler's job is to distribute ready-to-run
// goroutines over worker threads. The main concepts are:
//   G - goroutine.
//   M - worker thread, or machine.
//   P - processor, a resource that is required to execute user code.
//       An M must have an associated P to run a G; an M may be blocked or in
//       blocking() without a P.
// There are exactly gomaxprocs Ps. Each P has a local run queue (runq.hpp);
// the global queue in sched holds what overflows and what has no P.
//
// Finding work (find_runnable, in Go's order). First the P's due timers
// (time.cpp). Every 61st schedule of a P takes one G from the global queue
// first, so that two Gs handing a value back and forth through the local
// queue cannot starve it; then runnext and the local queue; then a batch
// from the global queue; then the network, without blocking, if goroutines
// wait on I/O and no M is blocked in netpoll; then stealing: up to 4
// passes over all Ps in a random order, taking half of a victim's queue,
// and on the last pass its runnext and its due timers too. Failing all
// that, the M gives up its P. If goroutines wait on I/O or timers are
// pending, one such M (sched.lastpoll says which) blocks in netpoll until
// an fd is ready or the earliest timer falls due; any other sleeps on its
// park note (stopm) until startm hands it a P. netpoll is the one place an
// idle M sleeps for something other than a P: a timer armed earlier, or
// main's exit, breaks it out (netpoll_break). What a poll readies goes to
// the poller's own P, or with no P to the global queue (injectglist, below).
//
// Gs readied by the network (not Go's). Go's injectglist hands one G per
// idle P to the global queue and starts an M for each. A server whose
// handlers are short (read a request, write the answer) then pays a
// thread wakeup, on another core, for every poll that readies a few
// connections, and keeps every core busy for work one core would finish
// sooner than the wakeup takes. gort puts them all on the poller's P and
// marks the P (p.wake_deferred): if Gs are still waiting on its queue
// wake_defer_ns (1 ms) later, seen when the P takes its next G or by
// sysmon, it wakes another P (wakep), whose M steals half and wakes the
// next, as for any work. So a burst of long handlers spreads over the Ps
// after 1 ms, and short ones never leave the core that polled them.
//
// Time slices. A G readied through runnext inherits its readier's slice
// (schedtick does not move), so a pair that readies each other would keep
// the P; sysmon ends any slice older than 10 ms (sysmon.cpp), and the next
// runtime entry then yields (entry_guard, on p.preempt; runnable_now sends
// an inheriting G to the tail). blocking() leaves its P in Psyscall
// (entersyscall) for sysmon to hand off if the call lasts; exitsyscallfast
// takes it back. A G that holds its P 20 ms without any runtime entry is
// put in the same state by a signal, and handed off the same way
// (preempt.cpp): every public entry opens with an entry_guard for that.
//
// Worker thread parking/unparking (Go's essay, unchanged). We need to balance
// between keeping enough running worker threads to use the available
// hardware parallelism and parking excessive running threads to conserve CPU
// and power. This is not simple: the scheduler state is distributed (per-P
// queues), and we cannot know the future. Go's approach: an M is "spinning"
// when it has a P, has found no work in its queue, and is looking in the
// global queue and others' queues. We unpark an additional M when (1) there
// is an idle P and there are no spinning Ms, and (2) we make a G runnable:
// newproc, goready. A spinning M that finds work stops spinning and calls
// wakep so that another M spins in its place (resetspinning). A spinning M
// that finds nothing first gives up its P, then decrements nmspinning, then
// checks every queue again (the "delicate dance" in find_runnable). The
// submitter does the mirror: puts the work on a queue, then checks
// nmspinning (wakep). Both sides use seq_cst operations, so one of them sees
// the other and no work is stranded (a local queue's put is weaker: see
// "Orders" below). needspinning covers the case where the
// dancer finds work but no idle P: the next M about to drop its P spins.
// gort adds a second look: a dancer that goes to sleep while some P runs
// leaves the time in second_look_since, and sysmon, 1 ms later
// (second_look_ns), looks at every run queue once more and wakes an M
// (wakep) if a running P has Gs queued while a P idles and no M spins.
// That is what finds a G whose readier's put the dance missed (below)
// when the readier's goroutine goes on computing without entering the
// runtime: otherwise it would wait for sysmon to take that P, 20 ms later
// (or forever, with asyncpreemptoff=1). The dancer itself sleeps without
// a time limit: a timed futex sleep costs every idle spell a timer, and
// here, a VM, a timer is dear (docs/PERFORMANCE.md).
//
// The thief's back-off (gort). A thief that finds a running P with nothing
// in its queue but runnext waits before it takes that G: the owner has most
// likely just readied it and is about to block and run it itself (two
// goroutines handing a value back and forth), and taking it would bounce
// both between threads (Go: runqgrab's usleep(3)). Go means to wait 3 us,
// but Linux lets a sleep run up to the thread's timer slack (50 us by
// default) past what it asked, so Go's thief sleeps many times its 3 us,
// and a G that its readier will not run soon waits that long. gort's thief
// sets its slack to 1 us around this one sleep (PR_SET_TIMERSLACK; the
// M's own slack, which user code on it may have set, is put back), and asks
// for 20 us rather than 3 (steal_backoff_ns): taking the G costs a wakeup
// on another CPU, dear in a VM, so a steal gains only where the G would
// otherwise wait longer than that. After the sleep it steals if the owner
// has not switched meanwhile (p.context_switches), or runs no G any more
// (a system call: it will not run its runnext soon); a G in runnext after
// a switch is the next one of a ping-pong. A thief that finds the owner
// switched stays a spinner, asleep, 40 us more (steal_linger_ns) before it
// gives up: the pair's readies call wakep at every turn, and while an M
// spins they wake none; had it stopped at once, the pair's next turn would
// wake it again, and each wake costs the pair a futex call. Both lengths
// come from runs of Go's WakeupParallel* and the ping-pong with others
// (docs/PERFORMANCE.md, "Figures behind the comments").
//
// Leaving the waker's CPU (gort). startm wakes an M so that it runs beside
// its waker, on another CPU. Linux puts a woken thread on an idle CPU only
// where it can see that CPU share a cache with the waker's (its last-level
// cache domain); a VM whose vCPUs show no cache topology has none, and
// there the woken M lands on the CPU it last ran on, or its waker's. So
// once an M has run on its waker's CPU it is woken there every time: it
// competes with the very goroutine that readied work, while the other CPU
// idles. So the waker notes its CPU and its P in the M (m.waker_cpu, read
// through rseq: no system call; m.waker_p), and the woken M that finds
// itself on that CPU, once it has found work or is about to sleep again,
// moves if the waker's P is still running: it narrows its own affinity to
// the CPUs it may use but that one, which makes the kernel migrate it there
// and then, and widens it back (leave_wakers_cpu). After that the kernel
// wakes it on its new CPU while that one idles; one busy at a wakeup may
// send it back beside its waker, and it moves again. Where the kernel
// places wakeups well this never fires. A thread the user pinned to one
// CPU is left there, and its mask is always put back as it was. The M looks
// for work before it decides, since a move is dear: the M runs again only
// once the kernel's stopper has migrated it and the other CPU has woken,
// which takes longer the longer that CPU idled (a deep sleep state; a vCPU
// its hypervisor descheduled). A waker that has blocked meanwhile (a system
// call; the thief's back-off sleeps through it) frees its CPU, and there
// staying costs nothing (docs/PERFORMANCE.md, "Figures behind the
// comments"). Go has no counterpart; GODEBUG=mspreadoff=1 turns it off.
//
// Switching (gort). Go leaves a goroutine through mcall: onto g0's stack,
// then schedule(). gort goes from the leaving G straight to the next one
// whenever the next one is at hand (runnext, the local queue, the global
// queue: runnable_now), and through g0 only when the M must look further
// (steal, sleep) or must stop. That saves a switch per yield and per park;
// yield, for one, costs little more than the register switch itself. The
// catch is what Go does on g0 after leaving a G: for gopark, the unlockf
// that releases the channel lock; for yield, putting the G on a run queue;
// for exit, freeing its stack. None of that may happen while the thread is
// still on the G's stack: another M could take the G and run it on the same
// stack. So the leaving side records it in mp->afterswitch, and the side that
// resumes, on its own stack, runs it first (switch.cpp, resumed). Every
// resume point does: g0's schedule loop, a parked or yielding G, and a new G
// in gort_goentry.
//
// Stopping. When main returns (goexit1 on goroutine 1), run() is over: the
// stop flag tells every M, at its next entry into the scheduler, to go to g0
// and leave schedule(); idle Ms are woken for it. run() on m0 joins the other
// threads and frees everything; goroutines still alive are abandoned, never
// resumed, as in Go.
//
// Scheduling latency (Go's /sched/latencies:seconds). One runqput in
// latency_sample on each P stamps the G it queues (-cputicks() in
// g.waitsince, free while the G is runnable); execute, finding a stamp,
// counts the wait in its P's histogram and clears it. Go samples one G
// transition in 8 the same way (gTrackingPeriod), with nanotime; gort
// samples fewer, with the cycle counter (which stats scales to ns): two
// clock reads are a large part of a yield (docs/PERFORMANCE.md, "Figures
// behind the comments"). Not sampled: Gs put on the global queue by a
// thread without a P (the spill of a full local queue keeps its stamps).
// What it costs the switch path: a counter and a branch in runqput, and in
// execute a load from a line of the G that the switch touches anyway.
//
// Thread-local state. The runtime's only thread_local is this thread's M
// (tls_m). It is read through getm, which is never inlined and has a
// compiler barrier: a goroutine that switches may resume on another thread,
// and a compiler may keep the address of a thread_local (from
// __tls_get_addr) in a register across a call it cannot see into. After a
// switch, code reaches its M through gp->m, which the resuming M sets.
//
// Locks. sched.lock guards the idle lists, the global run queue, the M and P
// counts (except the atomics) and the stop-the-world state. allglock
// serializes malg's appends to allgs (readers take no lock: proc.hpp,
// gregion). Lock order (lockrank.hpp, checked in GORT_CHECKED builds):
// extram_lock < hchan < sched.lock < gfreelock < allglock < timers.mu;
// stackpool.lock and pollcache.lock are leaves.
//
// Orders. Each atomic below weaker than seq_cst falls in one of these
// families, or says on its line what it pairs with.
//   - The delicate dance is seq_cst, as Go's atomics: nmspinning,
//     needspinning, npidle's updates, wakep's loads, the dancer's re-check
//     of runqsize, and the global queue's put (globrunqput), so one side
//     sees the other. A G put on a local queue is published with release
//     only (runq.hpp: a full fence there, as Go's runnext CAS is, slows
//     every channel hand-off; docs/PERFORMANCE.md), so its submitter's
//     wakep may miss the dancer while the dancer misses the G: the store
//     can still sit in the submitter's store buffer, waiting for the line
//     a thief just read. Nothing is lost: the G waits on a running P,
//     which reaches it at its next schedule, or sysmon's second look
//     (above) sees the store, long since visible, and wakes an M to steal
//     it.
//   - p.status: the release stores (acquirep, pidleput, gcstopm, procresize,
//     stop_the_world) pair with the acquire loads of steal_work,
//     steal_backoff, check_runqs_nop and retake: the reader sees the P as
//     its holder left it (leave_wakers_cpu's relaxed load is a hint).
//     Those loads only choose where to look; what is taken is checked again
//     (the run queue's CAS, a CAS of the status). Psyscall is entered by
//     entersyscall's seq_cst store and left only by CAS: stop_the_world's
//     (seq_cst: the StoreLoad pair with entersyscall's load of stop), and
//     the acq_rel ones of retake and exitsyscallfast, whose acquire sees
//     what the M did before its call.
//   - p.m: acquirep's release pairs with sysmon's acquire loads (take_held_p,
//     stallreport), so a new M (an extra M from needm) is seen whole.
//     releasep clears it relaxed: take_p checks the M against the P again.
//   - sched.stop: changed by seq_cst RMWs. exiting()'s acquire pairs with
//     main_exit's fetch_or. stopping() is a relaxed hint: a stop is obeyed
//     under sched.lock (gcstopm, handoffp) or after find_runnable's acquire.
//   - Atomics that sched.lock guards (runqsize, npidle): relaxed under the
//     lock, which orders them; relaxed outside it only as hints that a
//     locked path checks again (runnable_now, globrunqget_one, handoffp's
//     first test).
//   - gomaxprocs changes only with the world stopped: an M holding a P has
//     synchronized with the last procresize (sched.lock, or the note it was
//     woken by) and loads it relaxed. Readers without a P or the lock use
//     allp_len (runtime2.hpp).
//   - Counters and heuristics (steals, context_switches, latency, gfreecnt,
//     allglen, schedtick, preempt, wake_deferred, m.blocked): relaxed. Each
//     is written by its P's or M's owner (preempt: set by sysmon, cleared by
//     the owner) and read by the owner, stats, schedtrace, sysmon's guesses
//     or a thief's back-off (context_switches); no other memory is reached
//     through them.
//   - schedinit's relaxed stores precede every other M (thread creation
//     orders them); teardown's loads follow the join of every M.
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <numeric>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "gort/runtime.hpp"
#include "gort/sync.hpp"
#include "runtime/chan.hpp"
#include "runtime/export_test.hpp"
#include "runtime/netpoll.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/sema.hpp"
#include "runtime/signal_unix.hpp"
#include "runtime/stack.hpp"
#include "runtime/switch.hpp"
#include "runtime/time.hpp"
#include "runtime/trace.hpp"
#include "runtime/traceback.hpp"

namespace gort::rt {

void checkdead() GORT_REQUIRES(sched.lock);

schedt sched;
p* allp[max_gomaxprocs];
m* allm;
std::atomic<gregion*> allgregions{nullptr};
dbgvars debug;
std::int64_t runtime_init_time;
g* main_g = nullptr;

namespace {

thread_local m* tls_m = nullptr;

// process_threads: the process's thread count (the entries of
// /proc/self/task), or 0 if it cannot be read. Not /proc/self/stat's
// num_threads: qemu-user fakes that field as 0, and /proc/self/task is its
// host process's, which counts the guest's threads (and qemu's own, before
// run() as after). getdents64 into a buffer here, as checkdead calls it
// under sched.lock: opendir would allocate.
std::int32_t process_threads() {
  const int fd = ::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  alignas(dirent64) char buf[4096];
  std::int32_t n = 0;
  for (ssize_t len; (len = ::getdents64(fd, buf, sizeof buf)) > 0;) {
    for (ssize_t off = 0; off < len;) {
      const auto* e = reinterpret_cast<const dirent64*>(buf + off);
      if (e->d_name[0] != '.') ++n;
      off += e->d_reclen;
    }
  }
  ::close(fd);
  return n;
}

mutex extram_lock{lock_rank::extram};  // see "Extra Ms"
bool extram_active GORT_GUARDED_BY(extram_lock) = false;  // between schedinit and teardown
// The census's counts (export_test.hpp): extra Ms allocated and not yet
// deleted (relaxed: a count, changed where an extra M is made or deleted),
// and what the last teardown reclaimed (written by teardown alone).
std::atomic<std::int64_t> extra_ms_live{0};
TeardownStats last_teardown_stats;

// fatal_in_signal_handler: what (when the caller knows it; else the
// report's stack of the running goroutine shows the call) was called from
// a signal handler.
[[noreturn, gnu::cold, gnu::noinline]] void fatal_in_signal_handler(const char* what) {
  if (what != nullptr) printerr("runtime: %s called from a signal handler\n", what);
  printerr(
      "runtime: no gort function is async-signal-safe: a handler may write() to a pipe or eventfd that a "
      "goroutine waits on\n");
  fatal("gort called from a signal handler");
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_outside_goroutine(const char* what) {
  throw std::logic_error(std::string("gort: ") + what +
                         " called outside a goroutine: call it from inside gort::run(), "
                         "not from main() or a thread the runtime did not start");
}

// Fork. The child of a fork() has one thread, the forking M's, and the
// runtime's other Ms, sysmon included, are gone; its epoll instance and
// eventfd are shared with the parent, and a runtime lock another thread
// held at the fork stays held. As in Go, whose only fork is ForkExec, the
// child may call async-signal-safe functions, then exec or _exit. A child
// that calls into the runtime anyway stops there with a fatal error rather
// than hang or run copies of the parent's goroutines: the atfork handler
// takes the forking M's P away, so the entry check sends the next runtime
// call to exitsyscall, whose first step is check_forked_child (as are
// entersyscall's, for blocking(), and goexit1's, for a goroutine that
// returns). The fast path pays nothing.
bool forked_child = false;  // set in the child only

void forked_child_init() {
  forked_child = true;
  if (m* mp = tls_m; mp != nullptr && mp->p != nullptr) {
    mp->oldp = mp->p;
    mp->p = nullptr;
  }
}

void check_forked_child() {
  if (forked_child) [[unlikely]]
    fatal("gort used in a child process after fork() (the child may only exec or _exit)");
}

mutex allglock{lock_rank::allg};
gregion* lastgregion GORT_GUARDED_BY(allglock) = nullptr;  // the region malg carves from

constexpr std::int32_t gfree_local_keep = 32;  // gfput: a full list (p::gfree_max) keeps 32; gfget refills to 32
constexpr std::uint64_t goid_cache_batch = 16;
constexpr int steal_tries = 4;
constexpr long steal_backoff_ns = 20'000;  // "The thief's back-off"
constexpr long steal_linger_ns = 40'000;
constexpr std::uint32_t latency_sample = 64;  // one runqput in 64 ("Scheduling latency")

// stopping: a relaxed hint ("Orders", sched.stop). exiting: acquire, pairs
// with main_exit's fetch_or.
bool stopping() { return sched.stop.load(std::memory_order_relaxed) != 0; }
bool exiting() { return (sched.stop.load(std::memory_order_acquire) & stop_exiting) != 0; }

// ---- Ps and Ms on the idle lists ----

// pidleput puts pp on the idle list. pp's queue is empty.
void pidleput(p* pp) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  set_pstatus(pp, pstatus::Pidle, std::memory_order_release);  // "Orders": p.status
  pp->link = sched.pidle;
  sched.pidle = pp;
  sched.npidle.fetch_add(1, std::memory_order_seq_cst);
}

// pidleget takes an idle P, or nullptr. A P leaving the idle list wakes
// sysmon if it sleeps deeply, which it does only while every P is idle:
// the G about to run there may need preempting (sysmon.cpp).
p* pidleget() GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  p* pp = sched.pidle;
  if (pp) {
    sched.pidle = pp->link;
    pp->link = nullptr;
    sched.npidle.fetch_sub(1, std::memory_order_seq_cst);
    sysmon_wake_locked(false);
  }
  return pp;
}

// pidleget_spinning is pidleget for a caller about to spin; with no idle P
// it sets needspinning (the dance's other half).
p* pidleget_spinning() GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  p* pp = pidleget();
  if (!pp) sched.needspinning.store(1, std::memory_order_seq_cst);
  return pp;
}

void mput(m* mp) GORT_REQUIRES(sched.lock);
// mget takes an idle M, or nullptr.
m* mget() GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  m* mp = sched.midle;
  if (mp) {
    sched.midle = mp->schedlink;
    mp->schedlink = nullptr;
    --sched.nmidle;
  }
  return mp;
}

void acquirep(m* mp, p* pp) {
  mp->p = pp;
  pp->m.store(mp, std::memory_order_release);  // sysmon's take_held_p then sees the M whole
  set_pstatus(pp, pstatus::Prunning, std::memory_order_release);  // "Orders": p.status
  if (trace_on()) [[unlikely]]
    trace_proc_start(mp, pp);
}

p* releasep(m* mp) {
  p* pp = mp->p;
  if (trace_on()) [[unlikely]]
    trace_proc_stop(mp, pp);
  pp->m.store(nullptr, std::memory_order_relaxed);  // take_p checks mp->p against pp
  mp->p = nullptr;
  return pp;
}

// ---- G allocation: malg, gfput, gfget ----

}  // namespace

// malg allocates a new G. Gs are carved from regions of 64Ki (12 MiB of
// address space, one mmap; the kernel backs a page as it is first touched),
// never freed until run() ends (Go never frees a G either): no allocator
// call per G, and Gs made together sit together. Not from malloc: its heap
// grows by brk, which takes the kernel's mmap lock for writing and so waits
// for any stack populate (stack.cpp) the other P has under way, and every
// later populate queues behind it (docs/PERFORMANCE.md, "Figures behind
// the comments"). The regions are also allgs (proc.hpp, gregion): a G is
// published, Gdead, once it is whole.
g* malg() {
  constexpr std::size_t region_gs = 64 * 1024;
  allglock.lock();
  gregion* r = lastgregion;
  // ngs is written only here, under allglock: its own loads are relaxed.
  if (r == nullptr || r->ngs.load(std::memory_order_relaxed) == region_gs) {
    const std::size_t len = gregion::header + region_gs * sizeof(g);
    void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) fatal("runtime: cannot allocate memory for goroutines (mmap failed)");
    r = new (mem) gregion;
    r->len = len;
    // Release: a reader that finds the region finds its header.
    (lastgregion ? lastgregion->next : allgregions).store(r, std::memory_order_release);
    lastgregion = r;
  }
  const std::size_t i = r->ngs.load(std::memory_order_relaxed);
  g* gp = new (&r->gs()[i]) g;
  gp->atomicstatus.store(gstatus::Gdead, std::memory_order_relaxed);  // ngs's release publishes it
  r->ngs.store(i + 1, std::memory_order_release);  // pairs with for_each_g's acquire
  allglock.unlock();
  sched.allglen.fetch_add(1, std::memory_order_relaxed);  // a count for num_goroutine
  return gp;
}

// gfput puts a dead G on pp's free list; when it holds 64, 32 move to the
// global list. gort: free Gs hold no stack (stack.cpp). gfreecnt is the
// owner's; num_goroutine reads it as a count: relaxed (gfget too).
void gfput(p* pp, g* gp) {
  std::int32_t n = pp->gfreecnt.load(std::memory_order_relaxed);
  if (n == p::gfree_max) {
    const std::int32_t keep = gfree_local_keep;
    sched.gfreelock.lock();
    sched.gfree.insert(sched.gfree.end(), pp->gfree + keep, pp->gfree + n);
    sched.gfreelock.unlock();
    n = keep;
  }
  pp->gfree[n++] = gp;
  pp->gfreecnt.store(n, std::memory_order_relaxed);
}

// gfget takes a free G for pp, refilling up to 32 from the global list.
g* gfget(p* pp) {
  std::int32_t n = pp->gfreecnt.load(std::memory_order_relaxed);
  if (n == 0) {
    sched.gfreelock.lock();
    const std::size_t take = std::min<std::size_t>(gfree_local_keep, sched.gfree.size());
    std::copy(sched.gfree.end() - take, sched.gfree.end(), pp->gfree);
    sched.gfree.resize(sched.gfree.size() - take);
    sched.gfreelock.unlock();
    n = static_cast<std::int32_t>(take);
    if (n == 0) return nullptr;
  }
  --n;
  pp->gfreecnt.store(n, std::memory_order_relaxed);
  return pp->gfree[n];
}

namespace {

// ---- the global run queue ----

// globrunqput puts gp at the tail of the global queue. The increment is
// seq_cst: callers with no P (injectg,
// exitsyscall0_commit) then wakep, and this store and wakep's seq_cst
// loads of npidle and nmspinning are the submit half of the delicate
// dance, whose other half (find_runnable) decrements nmspinning and then
// reads runqsize without the lock. The unlock between them is only a
// release, and a relaxed increment is outside the total order.
void globrunqput(g* gp) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  sched.runq.push_back(gp);
  sched.runqsize.fetch_add(1, std::memory_order_seq_cst);
}

// globrunqget takes a batch for pp: min(runqsize, runqsize/gomaxprocs + 1),
// at most max if max > 0, at most half a local queue. Returns the first and
// puts the rest on pp's local queue. sched.lock orders runqsize and
// gomaxprocs: relaxed.
g* globrunqget(p* pp, std::int32_t max) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  std::int32_t size = sched.runqsize.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  std::int32_t n = std::min(size, size / sched.gomaxprocs.load(std::memory_order_relaxed) + 1);
  if (max > 0) n = std::min(n, max);
  n = std::min<std::int32_t>(n, local_runq_size / 2);
  sched.runqsize.fetch_sub(n, std::memory_order_relaxed);
  g* gp = sched.runq.front();
  sched.runq.pop_front();
  for (--n; n > 0; --n) {
    runqput(pp, sched.runq.front(), false);
    sched.runq.pop_front();
  }
  return gp;
}

// runqputslow moves half of pp's full local queue, and gp, to the global
// queue in one batch; if a thief emptied some of the queue meanwhile, gp
// goes to the room it made. Never inlined: runqput, on every goready, then
// needs no stack frame of its own.
[[gnu::noinline]] void runqputslow(p* pp, g* gp) {
  g* batch[local_runq_size / 2 + 1];
  std::uint32_t n;
  while ((n = pp->runq.take_half(batch)) == 0)
    if (pp->runq.put(gp)) return;
  batch[n++] = gp;
  sched.lock.lock();
  sched.runq.insert(sched.runq.end(), batch, batch + n);
  // Relaxed, unlike globrunqput's: pp is running and reaches these itself.
  sched.runqsize.fetch_add(static_cast<std::int32_t>(n), std::memory_order_relaxed);
  sched.lock.unlock();
}

// globrunqget_one takes one G off the global queue for pp, if there is one.
g* globrunqget_one(p* pp) {
  // A hint: globrunqget reads it again under the lock.
  if (sched.runqsize.load(std::memory_order_relaxed) == 0) return nullptr;
  sched.lock.lock();
  g* gp = globrunqget(pp, 1);
  sched.lock.unlock();
  return gp;
}

// runnable_now is the part of find_runnable that needs neither stealing nor
// sleeping, so that a G leaving its M can hand it straight to the next
// (see "Switching"): the 1-in-61 fairness check of the global queue, then
// runnext and the local queue, then a batch of the global queue. Owner P.
// All relaxed: wake_deferred and schedtick are the owner's, gomaxprocs is
// read holding a P, preempt is sysmon's request (one missed is asked
// again), and runqsize a hint checked again under the lock ("Orders").
[[gnu::always_inline]] inline g* runnable_now(p* pp, bool& inherit_time) {
  inherit_time = false;
  if (const std::int64_t since = pp->wake_deferred.load(std::memory_order_relaxed)) [[unlikely]]
    deferred_wakep(pp, since);
  if (pp->schedtick.load(std::memory_order_relaxed) % 61 == 0)
    if (g* gp = globrunqget_one(pp)) return gp;
  // With one P nobody steals: the local queue needs no CAS (runq::get).
  const bool no_thieves = sched.gomaxprocs.load(std::memory_order_relaxed) == 1;
  if (g* gp = pp->runq.get(inherit_time, no_thieves)) {
    // A G readied through runnext inherits the time slice, so two Gs that
    // ready each other could keep the P forever. Go's sysmon ends a slice
    // older than 10 ms (preemptone); then gp waits its turn at the tail,
    // and the global queue and the local queue's head go first.
    if (!inherit_time || !pp->preempt.load(std::memory_order_relaxed)) return gp;
    runqput(pp, gp, false);
    if (g* first = globrunqget_one(pp)) return first;
    return pp->runq.get(inherit_time, no_thieves);
  }
  if (sched.runqsize.load(std::memory_order_relaxed) != 0) {
    sched.lock.lock();
    g* gp = globrunqget(pp, 0);
    sched.lock.unlock();
    if (gp) return gp;
  }
  return nullptr;
}

// ---- Ms: creation, parking, waking ----

void mstart1(m* mp);
void mexit(m* mp);

// newm creates an M that starts by acquiring pp (if any), spinning or not.
// The caller releases sched.lock after.
void newm(p* pp, bool spinning) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  m* mp = new m;
  mcommoninit(mp);
  mp->nextp = pp;
  mp->spinning = spinning;
  mp->thread = newosproc([mp] { mstart(mp); });
}

// mput puts mp on the idle list and checks for deadlock.
void mput(m* mp) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  mp->schedlink = sched.midle;
  sched.midle = mp;
  ++sched.nmidle;
  checkdead();
}

// leave_wakers_cpu: mp, woken by startm, has found work or is about to
// sleep again; if it runs on its waker's CPU and the waker's P still runs,
// move it to another CPU the thread may run on ("Leaving the waker's CPU"
// above). waker_p is a hint: Ps live until teardown.
void leave_wakers_cpu(m* mp) {
  const int waker = std::exchange(mp->waker_cpu, -1);
  p* const wp = std::exchange(mp->waker_p, nullptr);
  if (wp == nullptr || wp->status.load(std::memory_order_relaxed) != pstatus::Prunning) return;
  if (sched_getcpu() != waker) return;
  cpu_set_t allowed;  // fails (EINVAL) beyond CPU_SETSIZE CPUs: then stay
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  cpu_set_t others = allowed;
  CPU_CLR(waker, &others);
  // The kernel migrates the thread before the first call returns.
  if (CPU_COUNT(&others) != 0 && sched_setaffinity(0, sizeof others, &others) == 0)
    sched_setaffinity(0, sizeof allowed, &allowed);
}

// stopm parks mp until startm gives it a P (or run() ends: returns without
// a P). Go: stopm.
void stopm(m* mp) {
  if (mp->p) gothrow("stopm holding p");
  if (mp->spinning) gothrow("stopm spinning");
  if (mp->waker_cpu >= 0) leave_wakers_cpu(mp);
  sched.lock.lock();
  if (exiting()) {
    sched.lock.unlock();
    return;
  }
  mput(mp);
  sched.lock.unlock();
  mp->blocked.store(true, std::memory_order_relaxed);  // for schedtrace only
  mp->park.sleep();
  mp->park.clear();
  mp->blocked.store(false, std::memory_order_relaxed);
  if (mp->nextp) {
    acquirep(mp, mp->nextp);
    mp->nextp = nullptr;
  }
}

// startm schedules some M to run pp (an idle P if pp is nullptr), creating
// one if none is idle. If spinning, the caller has already counted the M in
// nmspinning, and the M starts out spinning. Go: startm.
void startm(p* pp, bool spinning) {
  sched.lock.lock();
  if (exiting()) {  // run() is ending: no new M may start (teardown joins allm)
    sched.lock.unlock();
    return;
  }
  if (pp == nullptr) {
    pp = pidleget();
    if (pp == nullptr) {
      sched.lock.unlock();
      if (spinning && sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst) - 1 < 0)
        gothrow("startm: negative nmspinning");
      return;
    }
  }
  m* nmp = mget();
  if (nmp == nullptr) {
    newm(pp, spinning);
    sched.lock.unlock();
    return;
  }
  nmp->spinning = spinning;
  nmp->nextp = pp;
  if (!debug.mspreadoff) {  // the note orders both for nmp
    m* self = getm();
    nmp->waker_cpu = sched_getcpu();
    nmp->waker_p = self ? self->p : nullptr;
  }
  sched.lock.unlock();
  nmp->park.wakeup();
}

// start_idle starts an M on each of up to n idle Ps, for Gs just put on the
// global queue. Go: injectglist's startIdle.
void start_idle(int n) {
  for (int i = 0; i < n; ++i) {
    sched.lock.lock();
    p* pp = pidleget_spinning();
    sched.lock.unlock();
    if (pp == nullptr) return;
    startm(pp, false);
  }
}

void become_spinning(m* mp) {
  mp->spinning = true;
  sched.nmspinning.fetch_add(1, std::memory_order_seq_cst);
  sched.needspinning.store(0, std::memory_order_seq_cst);
}

// resetspinning: this spinning M found work; another M must spin in its
// place, or work submitted meanwhile could go unnoticed.
void resetspinning(m* mp) {
  mp->spinning = false;
  if (sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst) - 1 < 0) gothrow("findrunnable: negative nmspinning");
  wakep();
}

}  // namespace

// handoffp: pp's M is going away (blocking() retaken by sysmon, a locked M
// parking). Start an M for pp if there is anything it could do, else put it
// on the idle list. Go: handoffp.
void handoffp(p* pp) {
  // runqsize: a hint here, read again under the lock below.
  if (!pp->runq.empty() || sched.runqsize.load(std::memory_order_relaxed) != 0) {
    startm(pp, false);
    return;
  }
  // No local work: if nobody is spinning or idle, someone must look at
  // the other Ps' queues.
  std::int32_t zero = 0;
  if (sched.nmspinning.load(std::memory_order_seq_cst) + sched.npidle.load(std::memory_order_seq_cst) == 0 &&
      sched.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst)) {
    sched.needspinning.store(0, std::memory_order_seq_cst);
    startm(pp, true);
    return;
  }
  sched.lock.lock();
  // stop_gcwaiting is set and cleared under sched.lock: relaxed.
  if (sched.stop.load(std::memory_order_relaxed) & stop_gcwaiting) {
    set_pstatus(pp, pstatus::Pgcstop, std::memory_order_release);
    if (--sched.stopwait == 0) sched.stopnote.wakeup();
    sched.lock.unlock();
    return;
  }
  if (sched.runqsize.load(std::memory_order_relaxed) != 0) {
    sched.lock.unlock();
    startm(pp, false);
    return;
  }
  // The last running P, and nobody polls the network: some M must, or
  // goroutines waiting on I/O wait for sysmon. npidle and gomaxprocs are
  // ordered by the lock; lastpoll is a hint (sysmon polls a stale one).
  if (sched.npidle.load(std::memory_order_relaxed) == sched.gomaxprocs.load(std::memory_order_relaxed) - 1 &&
      sched.lastpoll.load(std::memory_order_relaxed) != 0) {
    sched.lock.unlock();
    startm(pp, false);
    return;
  }
  // Its timers must not wait for the next M that happens to look. Relaxed:
  // whoever moves min_when earlier wakes the netpoller itself (update_min).
  const std::int64_t when = pp->timers.min_when.load(std::memory_order_relaxed);
  pidleput(pp);
  sched.lock.unlock();
  if (when != 0) wake_netpoller(when);
}

// incidlelocked counts Ms asleep for their locked G (checkdead does not
// count them as running).
void incidlelocked(std::int32_t v) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  sched.nmidlelocked += v;
  if (v > 0) checkdead();
}

namespace {

// stoplockedm: mp's locked G is not running; give the P away and sleep until
// someone finds the G runnable and hands mp a P for it (startlockedm).
// False if run() ended meanwhile. Go: stoplockedm.
bool stoplockedm(m* mp) {
  if (mp->p) handoffp(releasep(mp));
  sched.lock.lock();
  if (exiting()) {
    sched.lock.unlock();
    return false;
  }
  if (mp->nextp == nullptr) {  // startlockedm may have handed us a P already
    mp->parkedlocked = true;
    if (!mp->extram) incidlelocked(1);  // an extra M counts as running ("Extra Ms")
  }
  sched.lock.unlock();
  mp->blocked.store(true, std::memory_order_relaxed);  // for schedtrace only
  mp->park.sleep();
  mp->park.clear();
  mp->blocked.store(false, std::memory_order_relaxed);
  if (!mp->nextp) return false;  // woken by main_exit
  acquirep(mp, mp->nextp);
  mp->nextp = nullptr;
  return true;
}

// startlockedm: gp, which we took off a queue, is locked to another M. Give
// that M our P to run it, and stop. Once the run is exiting, an lm that is
// not parked has been woken by main_exit, or will see the exit before it
// sleeps: it takes no P and no second wakeup (which would be left pending
// on its note for an extra M's next run). Go: startlockedm.
void startlockedm(m* mp, g* gp) {
  m* lm = gp->lockedm;
  p* pp = releasep(mp);
  sched.lock.lock();
  if (lm->parkedlocked) {  // else lm has not gone to sleep yet; it will see nextp
    lm->parkedlocked = false;
    if (!lm->extram) --sched.nmidlelocked;
  } else if (exiting()) {
    pidleput(pp);
    sched.lock.unlock();
    return stopm(mp);
  }
  lm->nextp = pp;
  sched.lock.unlock();
  lm->park.wakeup();
  stopm(mp);
}

// ---- finding work ----

// random_order enumerates 0..n-1 starting at a random point with a stride
// coprime with n, so that every P is visited once (Go's randomOrder).
struct random_order {
  std::uint32_t count = 0;
  std::vector<std::uint32_t> coprimes;
  void reset(std::uint32_t n) {
    count = n;
    coprimes.clear();
    for (std::uint32_t i = 1; i <= n; ++i)
      if (std::gcd(i, n) == 1) coprimes.push_back(i);
  }
};
random_order steal_order;

// sleep_exact sleeps ns with the thread's timer slack at 1 us, and then puts
// the slack back ("The thief's back-off" above).
void sleep_exact(long ns) {
  const int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0);
  timespec ts{0, ns};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  if (slack > 0) prctl(PR_SET_TIMERSLACK, slack, 0, 0, 0);
}

// steal_backoff: a thief found only runnext on victim, which is running a
// G. Wait for the victim to run it itself; true: take it now ("The thief's
// back-off" above). Go: runqgrab's usleep(3).
bool steal_backoff(p* victim) {
  const std::uint64_t switches = victim->context_switches.load(std::memory_order_relaxed);
  sleep_exact(steal_backoff_ns);
  if (victim->status.load(std::memory_order_acquire) != pstatus::Prunning ||
      victim->context_switches.load(std::memory_order_relaxed) == switches)
    return true;
  sleep_exact(steal_linger_ns);
  return false;
}

// steal_work tries stealing from every other P, `tries` passes in random
// order (Go: 4); runnext and timers only on the last of 4. Go: stealWork.
g* steal_work(m* mp, p* pp, int tries) {
  const std::uint32_t n = steal_order.count;
  for (int i = 0; i < tries; ++i) {
    const bool last = i == steal_tries - 1;
    std::uint32_t r = cheaprand(mp);
    std::uint32_t pos = r % n;
    std::uint32_t inc = steal_order.coprimes[(r / n) % steal_order.coprimes.size()];
    for (std::uint32_t k = 0; k < n; ++k, pos = (pos + inc) % n) {
      if (stopping()) return nullptr;
      p* p2 = allp[pos];
      if (p2 == pp) continue;
      // On the last pass, run p2's due timers (idle or busy, p2 may not get
      // to them soon); what they ready lands in our queue. min_when is a
      // hint: check_timers loads it again, acquire, and takes the lock.
      if (last && p2->timers.min_when.load(std::memory_order_relaxed) != 0) {
        check_timers(p2, 0);
        bool inherit = false;
        if (g* gp = pp->runq.get(inherit)) return gp;
      }
      pstatus st = p2->status.load(std::memory_order_acquire);  // "Orders": p.status
      if (st == pstatus::Pidle) continue;
      std::uint32_t stolen = 0;
      g* gp = pp->runq.steal(p2->runq, last, st == pstatus::Prunning, [p2] { return steal_backoff(p2); }, stolen);
      if (gp) {
        pp->steals.fetch_add(stolen, std::memory_order_relaxed);  // stats
        if (trace_on()) [[unlikely]]
          trace_steal(p2, stolen);
        return gp;
      }
    }
  }
  return nullptr;
}

// queued_work: whether some P that is not idle has Gs in its local queue,
// for a reader that holds no P and no lock (a former spinner, sysmon): a
// gomaxprocs() may grow allp meanwhile, and allp_len's acquire, not a
// relaxed load, makes the new Ps visible whole.
bool queued_work() {
  const std::int32_t n = allp_len();
  for (std::int32_t i = 0; i < n; ++i) {
    p* p2 = allp[i];
    // "Orders": p.status; and runq.hpp for what empty() may miss.
    if (p2->status.load(std::memory_order_acquire) != pstatus::Pidle && !p2->runq.empty()) return true;
  }
  return false;
}

// check_runqs_nop: after dropping its P, a former spinner looks at every
// P's queue once more; if one has work it takes an idle P. Go: checkRunqsNoP.
p* check_runqs_nop() {
  if (!queued_work()) return nullptr;
  sched.lock.lock();
  p* pp = pidleget_spinning();
  sched.lock.unlock();
  return pp;
}

// ask_second_look: a former spinner found nothing and goes to sleep while
// some P runs: ask sysmon for a second look at the run queues (see "Worker
// thread parking/unparking"). The first asker's time stands until the look.
void ask_second_look() {
  if (sched.npidle.load(std::memory_order_relaxed) >= sched.gomaxprocs.load(std::memory_order_relaxed)) return;
  if (second_look_since.load(std::memory_order_relaxed) == 0)
    second_look_since.store(nanotime(), std::memory_order_relaxed);
}

void gcstopm(m* mp);
void run_all_timers();

// take_polled runs the first G a netpoll readied (Gwaiting) and hands the
// others out, counting them off netpoll_waiters last (inject_polled). Go:
// findRunnable's list.pop(), injectglist, netpollAdjustWaiters.
g* take_polled(p* pp, glist& list) {
  g* gp = list.gs[0];
  injectglist(pp, list.gs + 1, list.n - 1);
  casgstatus(gp, gstatus::Gwaiting, gstatus::Grunnable);
  if (trace_on()) [[unlikely]]
    trace_go_unpark(getm(), gp);
  netpoll_adjust_waiters(list.delta);
  return gp;
}

// find_runnable blocks until it finds a G for mp, in Go's order (see the top
// of this file). Returns nullptr only when run() is ending. Runs on g0.
g* find_runnable(m* mp, bool& inherit_time) {
  for (;;) {
    if (exiting()) return nullptr;
    // Acquire: pairs with stop_the_world's fetch_or (gcstopm then locks).
    if (sched.stop.load(std::memory_order_acquire) & stop_gcwaiting) {
      gcstopm(mp);
      continue;
    }
    p* pp = mp->p;
    check_timers(pp, 0);
    if (g* gp = runnable_now(pp, inherit_time)) return gp;

    // Goroutines wait on I/O and no M is blocked in netpoll: poll, without
    // blocking, before taking work from other Ps. lastpoll is a hint: a
    // poll racing the blocking one is harmless (netpollunblock's CAS
    // readies each G once).
    inherit_time = false;
    if (netpoll_anywaiters() && sched.lastpoll.load(std::memory_order_relaxed) != 0) {
      glist list;
      netpoll(0, list);
      if (!list.empty()) return take_polled(pp, list);
    }

    // Spin (steal) only while the spinning Ms are fewer than half the busy
    // Ps: more would burn CPU for nothing. A throttle, so relaxed loads:
    // become_spinning's seq_cst increment is what the dance counts.
    const std::int32_t procs = sched.gomaxprocs.load(std::memory_order_relaxed);
    if (mp->spinning ||
        2 * sched.nmspinning.load(std::memory_order_relaxed) < procs - sched.npidle.load(std::memory_order_relaxed)) {
      if (!mp->spinning) become_spinning(mp);
      if (g* gp = steal_work(mp, pp, steal_tries)) return gp;
      if (stopping()) continue;
    }

    // Give up the P. Re-check the global queue under the lock: after
    // releasing the P nothing else will look at it for us.
    sched.lock.lock();
    if (stopping()) {
      sched.lock.unlock();
      continue;
    }
    if (sched.runqsize.load(std::memory_order_relaxed) != 0) {  // under the lock
      g* gp = globrunqget(pp, 0);
      sched.lock.unlock();
      return gp;
    }
    if (!mp->spinning && sched.needspinning.load(std::memory_order_seq_cst) == 1) {
      become_spinning(mp);  // the dance found work but had no P: spin for it
      sched.lock.unlock();
      continue;
    }
    releasep(mp);
    pidleput(pp);
    sched.lock.unlock();

    // Delicate dance: we were spinning, so a submitter may have skipped
    // waking anyone, counting on us. Stop spinning (the seq_cst decrement is
    // the StoreLoad barrier), then look at every queue again.
    const bool was_spinning = mp->spinning;
    if (was_spinning) {
      mp->spinning = false;
      if (sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst) - 1 < 0)
        gothrow("findrunnable: negative nmspinning");
      if (sched.runqsize.load(std::memory_order_seq_cst) != 0) {
        sched.lock.lock();
        p* p2 = pidleget_spinning();
        if (p2) {
          acquirep(mp, p2);
          become_spinning(mp);
          g* gp = globrunqget(p2, 0);
          sched.lock.unlock();
          if (gp) return gp;
          continue;
        }
        sched.lock.unlock();
      }
      if (p* p2 = check_runqs_nop()) {
        acquirep(mp, p2);
        become_spinning(mp);
        continue;
      }
    }
    // Block in netpoll, if goroutines wait on I/O or timers are pending
    // and no other M does already (the exchange makes sure of it): until
    // an fd is ready or the earliest timer of any P falls due. Then take
    // an idle P, run every P's due timers, and run what the poll readied.
    const std::int64_t poll_until = time_sleep_until();
    if ((netpoll_anywaiters() || poll_until != 0) && sched.lastpoll.exchange(0, std::memory_order_seq_cst) != 0) {
      // The run may have ended since the check at the top, and main_exit's
      // netpoll_break been taken by the M that was polling before us (it
      // drained the eventfd and left): with nobody to wake us, we would
      // block until poll_until, and the run's teardown wait for us. Once
      // we hold the poll (lastpoll 0), a break after this check stays in
      // the eventfd for us.
      if (exiting()) {
        sched.lastpoll.store(nanotime(), std::memory_order_seq_cst);
        return nullptr;
      }
      sched.poll_until.store(poll_until, std::memory_order_seq_cst);
      const std::int64_t delay = poll_until == 0 ? -1 : std::max<std::int64_t>(0, poll_until - nanotime());
      glist list;
      netpoll(delay, list);
      sched.poll_until.store(0, std::memory_order_seq_cst);
      sched.lastpoll.store(nanotime(), std::memory_order_seq_cst);
      if (exiting()) return nullptr;
      sched.lock.lock();
      p* p2 = pidleget();
      sched.lock.unlock();
      if (p2 == nullptr) {
        inject_polled(nullptr, list);
      } else {
        acquirep(mp, p2);
        run_all_timers();
        if (!list.empty()) return take_polled(p2, list);
        if (was_spinning) become_spinning(mp);
        continue;
      }
    } else if (poll_until != 0) {
      // Another M polls: make sure it wakes in time for our timer.
      const std::int64_t until = sched.poll_until.load(std::memory_order_seq_cst);
      if (until == 0 || until > poll_until) netpoll_break();
    }
    if (was_spinning) ask_second_look();
    stopm(mp);
  }
}

// run_all_timers runs the due timers of every P, into the caller's P. The
// caller took that P under sched.lock, which orders gomaxprocs: relaxed.
void run_all_timers() {
  const std::int64_t now = nanotime();
  const std::int32_t n = sched.gomaxprocs.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < n; ++i) check_timers(allp[i], now);
}

// gcstopm stops mp's P for a stop-the-world and parks mp. Go: gcstopm.
void gcstopm(m* mp) {
  if (mp->spinning) {
    mp->spinning = false;
    if (sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst) - 1 < 0) gothrow("gcstopm: negative nmspinning");
  }
  p* pp = releasep(mp);
  sched.lock.lock();
  set_pstatus(pp, pstatus::Pgcstop, std::memory_order_release);  // "Orders": p.status
  if (--sched.stopwait == 0) sched.stopnote.wakeup();
  sched.lock.unlock();
  stopm(mp);
}

// ---- running a G ----

// prefetch_next starts fetching what the switch after this one will touch
// first, while the G about to run works. On the stack of the G next in
// pp's queue: the lines from a little below its saved sp, where the
// afterswitch puts its frames, up through the frames it returns into
// (at most up_max bytes), and the stack's descriptor, which the switch
// away from it reads. And the G after that, whose sched line the next
// prefetch_next reads. A G woken after a while has a cold stack: its first
// load (a TLB miss and a cache miss), its first stores and its descriptor
// are a large part of a wakeup's cost (docs/PERFORMANCE.md, "Figures
// behind the comments"). The Gs are only peeked at: a thief may take them
// meanwhile, and a stale address costs nothing (a prefetch never faults).
// sched.sp and stk are read atomically for that reason, and relaxed: what
// they give is only an address to prefetch.
[[gnu::always_inline]] inline void prefetch_next(p* pp) {
  constexpr std::uintptr_t line = 64, below = 320, up_max = 1024;
  std::uint32_t i = 0;
  g* next = pp->runq.peek_runnext();
  if (next == nullptr && (next = pp->runq.peek(i++)) == nullptr) return;
  const auto sp =
      reinterpret_cast<std::uintptr_t>(std::atomic_ref<void*>(next->sched.sp).load(std::memory_order_relaxed));
  const auto top = reinterpret_cast<std::uintptr_t>(
      std::atomic_ref<stack*>(next->stk).load(std::memory_order_relaxed));  // the descriptor
  if (sp != 0 && top > sp) {
    for (std::uintptr_t a = (sp - below) & ~(line - 1); a < top && a < sp + up_max; a += line)
      __builtin_prefetch(reinterpret_cast<void*>(a), 1);
    __builtin_prefetch(reinterpret_cast<void*>(top));
  }
  if (g* after = pp->runq.peek(i)) __builtin_prefetch(&after->sched, 1);
}

// latency_record counts gp's sampled wait, runnable to running, in pp's
// histogram: bucket i holds waits under 2^i cputicks (see "Scheduling
// latency"). Relaxed: the stamp came with gp through the run queue, whose
// orders carry it; the histogram is the owner's, read by stats.
[[gnu::noinline, gnu::cold]] void latency_record(p* pp, g* gp) {
  const std::int64_t wait = std::max<std::int64_t>(1, cputicks() + gp->waitsince.load(std::memory_order_relaxed));
  gp->waitsince.store(0, std::memory_order_relaxed);
  const int i = std::min(latency_buckets - 1, static_cast<int>(std::bit_width(static_cast<std::uint64_t>(wait))));
  pp->latency[i].store(pp->latency[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// execute switches mp from `from` to gp (Grunnable), giving gp a stack if
// it has never run. Unless inherit_time, a new time slice: schedtick++.
// execute_prepare is its bookkeeping, without the switch: also what an extra
// M does for its G, which never leaves the thread (extram_wait).
GORT_HOT_INLINE p* execute_prepare(m* mp, g* gp, bool inherit_time) {
  p* pp = mp->p;
  mp->curg = gp;
  gp->m = mp;  // before Grunning, as Go's: a trace that sees it running sees its M
  casgstatus(gp, gstatus::Grunnable, gstatus::Grunning);
  // Relaxed: runqput's stamp came with gp through the run queue.
  if (gp->waitsince.load(std::memory_order_relaxed) < 0) [[unlikely]]
    latency_record(pp, gp);
  // schedtick, preempt, context_switches: "Orders", counters.
  if (!inherit_time) {  // a new time slice
    pp->schedtick.store(pp->schedtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (pp->preempt.load(std::memory_order_relaxed)) pp->preempt.store(false, std::memory_order_relaxed);
  }
  pp->context_switches.store(pp->context_switches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return pp;
}

GORT_HOT_INLINE void execute(m* mp, g* from, g* gp, bool inherit_time, bool from_exits) {
  p* pp = execute_prepare(mp, gp, inherit_time);
  if (gp->sched.sp == nullptr) stack_prepare(pp, gp);
  prefetch_next(pp);
  if (trace_on()) [[unlikely]]
    trace_go_start(from, gp);
  gogo(mp, from, gp, from_exits);
}

// schedule is g0's loop: find a G, run it, and when something switches back
// to g0, look again. Returns when run() is over. Go: schedule.
void schedule(m* mp) {
  for (;;) {
    if (exiting()) return;
    if (mp->lockedg) {  // this M runs its locked G and nothing else
      if (!stoplockedm(mp)) return;
      execute(mp, &mp->g0, mp->lockedg, false, false);
      continue;
    }
    if (g* lg = mp->handofflocked) {  // a fast path found another M's locked G
      mp->handofflocked = nullptr;
      startlockedm(mp, lg);
      continue;
    }
    if (mp->p == nullptr) {  // back from blocking() without a P
      stopm(mp);
      continue;
    }
    bool inherit_time;
    g* gp = find_runnable(mp, inherit_time);
    if (gp == nullptr) return;
    if (mp->waker_cpu >= 0) leave_wakers_cpu(mp);
    if (mp->spinning) resetspinning(mp);
    if (gp->lockedm && gp->lockedm != mp) {
      startlockedm(mp, gp);
      continue;
    }
    execute(mp, &mp->g0, gp, inherit_time, false);
  }
}

// ---- bootstrap and teardown ----

}  // namespace

// mstart is every M's thread body, m0's included (run() calls it once
// goroutine 1 exists, as Go's rt0_go does): mstart1, then mexit when the run
// is over. Go: mstart/mstart0.
void mstart(m* mp) {
  mstart1(mp);
  mexit(mp);
}

namespace {

// minit sets up the calling thread as mp: the thread-local M, the values a
// switch swaps (switch.cpp), the signal stack and the thread id sysmon
// needs. Go: minit.
void minit(m* mp) {
  tls_m = mp;
  minit_switch(mp);
  minit_signals(mp);
  minit_preempt(mp);
}

// mstart1 acquires the P the M was started for (m0 has P0 from schedinit)
// and enters the scheduler, which returns only when the run is over. Go:
// mstart1.
void mstart1(m* mp) {
  minit(mp);
  if (mp->nextp) {
    acquirep(mp, mp->nextp);
    mp->nextp = nullptr;
  }
  schedule(mp);
}

// mexit: the run is over and this M leaves. Go: mexit (unminit).
void mexit(m* mp) {
  if (mp->p) releasep(mp);
  munmap_signals(mp);
  tls_m = nullptr;
}

// procresize changes the number of Ps to nprocs. The world is stopped.
// Returns the Ps that have local work; the caller starts Ms
// for them. Go: procresize. The stop and the lock order what it reads and
// writes: the relaxed orders need no more; the releases are p.status's
// ("Orders") and gomaxprocs', which publishes allp to allp_len's readers.
std::vector<p*> procresize(m* mp, std::int32_t nprocs) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  const std::int32_t old = sched.gomaxprocs.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < nprocs; ++i) {
    if (allp[i] == nullptr) {
      allp[i] = new p;
      allp[i]->id = i;
    }
  }
  // Ps beyond nprocs: their queued Gs go to the head of the global queue,
  // their free Gs and stacks to the global pools.
  for (std::int32_t i = nprocs; i < old; ++i) {
    p* pp = allp[i];
    std::vector<g*> q;
    pp->runq.drain([&](g* gp) { q.push_back(gp); });
    sched.runq.insert(sched.runq.begin(), q.begin(), q.end());
    sched.runqsize.fetch_add(static_cast<std::int32_t>(q.size()), std::memory_order_relaxed);
    sched.gfreelock.lock();
    sched.gfree.insert(sched.gfree.end(), pp->gfree, pp->gfree + pp->gfreecnt.load());
    sched.gfreelock.unlock();
    pp->gfreecnt.store(0, std::memory_order_relaxed);
    stackcache_flush(pp);
    move_timers(allp[0], pp);
    set_pstatus(pp, pstatus::Pdead, std::memory_order_release);
  }
  // The current M keeps its P if it survives, else takes P0.
  if (mp->p && mp->p->id < nprocs) {
    set_pstatus(mp->p, pstatus::Prunning, std::memory_order_release);
  } else {
    if (mp->p) releasep(mp);
    acquirep(mp, allp[0]);
  }
  // Every other P is idle, or runnable if it has work.
  sched.pidle = nullptr;
  sched.npidle.store(0, std::memory_order_relaxed);
  std::vector<p*> runnable;
  for (std::int32_t i = nprocs - 1; i >= 0; --i) {
    p* pp = allp[i];
    if (pp == mp->p) continue;
    pp->m.store(nullptr, std::memory_order_relaxed);
    if (pp->runq.empty()) {
      pidleput(pp);
    } else {
      set_pstatus(pp, pstatus::Pidle, std::memory_order_release);
      runnable.push_back(pp);
    }
  }
  steal_order.reset(static_cast<std::uint32_t>(nprocs));
  sched.gomaxprocs.store(nprocs, std::memory_order_release);  // publishes new Ps to allp_len's readers
  return runnable;
}

}  // namespace

// stop_the_world stops every P but the caller's. Runs on a user G, which
// keeps its P (status Pgcstop) and blocks its M until the others stop at
// their next scheduling point. Go: stopTheWorldWithSema.
void stop_the_world(m* mp) {
  sched.lock.lock();
  // gomaxprocs changes only under sched.lock, held here: relaxed.
  sched.stopwait = sched.gomaxprocs.load(std::memory_order_relaxed);
  sched.stop.fetch_or(stop_gcwaiting, std::memory_order_seq_cst);
  sched.stopnote.clear();
  set_pstatus(mp->p, pstatus::Pgcstop, std::memory_order_release);  // "Orders": p.status
  --sched.stopwait;
  while (p* pp = pidleget()) {
    set_pstatus(pp, pstatus::Pgcstop, std::memory_order_release);
    --sched.stopwait;
  }
  // Ps whose M is inside blocking(): take them (entersyscall's CAS, if it
  // comes second, finds them gone). seq_cst, not acq_rel: with the fetch_or
  // above it is our half of a StoreLoad pair with entersyscall (its seq_cst
  // store of Psyscall, then its seq_cst load of stop); an acq_rel CAS is
  // outside the single total order and could miss a Psyscall whose M
  // missed the stop, leaving the P to sysmon's retake.
  for (std::int32_t i = 0; i < sched.gomaxprocs.load(std::memory_order_relaxed); ++i) {
    pstatus expected = pstatus::Psyscall;
    if (allp[i]->status.compare_exchange_strong(expected, pstatus::Pgcstop, std::memory_order_seq_cst))
      --sched.stopwait;
  }
  const bool wait = sched.stopwait > 0;
  sched.lock.unlock();
  if (wait) sched.stopnote.sleep();
}

// start_the_world resizes to nprocs and restarts the Ps that have work.
void start_the_world(m* mp, std::int32_t nprocs) {
  sched.lock.lock();
  std::vector<p*> runnable = procresize(mp, nprocs);
  sched.stop.fetch_and(~stop_gcwaiting, std::memory_order_seq_cst);
  sysmon_wake_locked(true);
  sched.lock.unlock();
  for (p* pp : runnable) startm(pp, false);
  wakep();
}

// schedinit readies the runtime on m0, the thread that called run(), before
// any goroutine exists: the debug settings, stacks, signals, the scheduler's
// state, the netpoller, m0 itself, and GOMAXPROCS Ps, of which m0 takes P0.
// Go: schedinit. Not analyzed: it resets sched's fields without the lock,
// as no other M exists yet.
void schedinit(m* m0, const Config& cfg) GORT_NO_THREAD_SAFETY_ANALYSIS {
  static const int atfork = pthread_atfork(nullptr, nullptr, &forked_child_init);
  (void)atfork;
  parsedebugvars();
  stackinit(cfg.stack_size);
  signals_init();
  preempt_init();
  // runq.hpp, "runnext without a CAS": thieves fence for the owners.
  local_runq::set_heavy_barrier(debug.runnextcas == 0 && membarrier_available() ? membarrier_all : nullptr);
  // Relaxed: no other M exists yet; creating its thread orders these for it.
  sched.stop.store(0, std::memory_order_relaxed);
  sched.goidgen.store(0, std::memory_order_relaxed);
  sched.mnext = 0;
  sched.nmfreed = 0;
  sched.nmidle = sched.nmidlelocked = sched.nmsys = 0;
  sched.maxmcount = 10000;
  sched.midle = nullptr;
  sched.runq.clear();
  sched.runqsize.store(0, std::memory_order_relaxed);
  sched.gfree.clear();
  sched.nmspinning.store(0, std::memory_order_relaxed);
  sched.needspinning.store(0, std::memory_order_relaxed);
  sched.gomaxprocs.store(0, std::memory_order_relaxed);
  sched.allglen.store(0, std::memory_order_relaxed);
  sched.main_started.store(false, std::memory_order_relaxed);
  netpollinit();
  sched.lastpoll.store(nanotime(), std::memory_order_relaxed);
  sched.poll_until.store(0, std::memory_order_relaxed);

  const int ncpu = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int procs = cfg.maxprocs > 0 ? cfg.maxprocs : gomaxprocs_from_env(ncpu);
  procs = limit_procs(std::max(procs, 1));
  sched.lock.lock();
  mcommoninit(m0);
  procresize(m0, procs);
  sched.threads_before_run = process_threads() - 1;  // all but m0
  sched.lock.unlock();
  detail::run_active.store(true, std::memory_order_relaxed);  // a hint (gort/runtime.hpp)
  sched.ticks0 = cputicks();
  sched.ns0 = nanotime();
  extram_lock.lock();
  extram_active = true;  // threads may call in from now on ("Extra Ms")
  extram_lock.unlock();
}

// runtime_main is goroutine 1's start, before the program's function: from
// now on go() wakes idle Ps; runtime_init_time is set and sysmon started,
// whose first round prints schedtrace's "SCHED 0ms" with G1 running. After
// m0's minit, so that sysmon sees m0 whole. Go: runtime.main.
void runtime_main() {
  entry_guard e(getg());
  // Relaxed: a hint for newproc's wakep; a go() that misses it leaves its G
  // on a running P, which runs it.
  sched.main_started.store(true, std::memory_order_relaxed);
  runtime_init_time = nanotime();
  sysmon_start();
}

namespace {

// main_exit: goroutine 1 has returned. Every M must stop at its next entry
// into the scheduler; idle ones are woken for it.
void main_exit() {
  sched.stop.fetch_or(stop_exiting, std::memory_order_seq_cst);
  sysmon_stop();
  netpoll_break();
  sched.lock.lock();
  while (m* mp = mget()) mp->park.wakeup();
  for (m* mp = allm; mp; mp = mp->alllink) {
    if (mp->parkedlocked) {
      mp->parkedlocked = false;
      mp->park.wakeup();
    }
  }
  sched.lock.unlock();
}

}  // namespace

// Not analyzed: once every M is joined it frees allm and the Gs' regions
// without their locks, which nobody else can take.
void teardown(m* m0) GORT_NO_THREAD_SAFETY_ANALYSIS {
  detail::run_active.store(false, std::memory_order_relaxed);  // a hint, as in schedinit
  last_teardown_stats = {};
  // Every M but m0 leaves schedule() at its next runtime entry; join them.
  // allm is final: startm creates no M once the run is exiting.
  sched.lock.lock();
  std::vector<m*> ms;
  for (m* mp = allm; mp; mp = mp->alllink)
    if (mp != m0) ms.push_back(mp);
  sched.lock.unlock();
  for (m* mp : ms)
    if (mp->thread.joinable()) mp->thread.join();
  // Then the extra Ms: sysmon, joined, no longer looks at them.
  extram_teardown();
  // A channel or Cond may outlive the run: unlink the abandoned Gs' sudogs
  // (g::waiting) from it before their stacks go, or its next user would
  // walk into them. Before the closures go too: the last handle to a
  // channel may be one's. Not the sudog a waker has dequeued (gp->param
  // names it, and gp, readied, never ran to clear g::waiting): its channel
  // or Cond may be gone since; nor one whose channel was freed with it
  // queued (freechan clears its c).
  for_each_g([](g* gp) {
    for (sudog* s = gp->waiting; s != nullptr; s = s->waitlink) {
      if (s == gp->param) continue;
      if (s->c != nullptr)
        last_teardown_stats.chan_waiters += chan_drop_waiters(s->c);
      else if (s->elem != nullptr)  // a Cond's (sema.cpp, notify_list_wait)
        last_teardown_stats.cond_waiters +=
            detail::notify_list_drop_waiters(static_cast<detail::notify_list*>(s->elem));
    }
    select_free_abandoned(std::exchange(gp->waiting, nullptr));  // the sudogs may be in it
  });
  // Before the closures go: one may hold a Conn whose close would
  // otherwise ready the abandoned goroutine parked on it.
  netpoll_teardown();
  for_each_g([](g* gp) {
    const gstatus st = gp->status();
    if (st == gstatus::Gwaiting || st == gstatus::Grunnable) ++last_teardown_stats.abandoned_gs;
    if (gp->fnops) gp->fnops->destroy(gp->fn);  // abandoned: its closure still lives
    if (gp->fn && gp->fn != gp->fnbuf) std::free(gp->fn);
    std::free(gp->panic_trace);
  });
  static_assert(std::is_trivially_destructible_v<g>);  // so a region is simply unmapped
  // Every M is joined: the joins order the walk. The acquire, pairing with
  // malg's release, is more than they need.
  for (gregion* r = allgregions.exchange(nullptr, std::memory_order_acq_rel); r != nullptr;) {
    gregion* next = r->next.load(std::memory_order_relaxed);
    munmap(r, r->len);
    r = next;
  }
  lastgregion = nullptr;
  main_g = nullptr;
  for (m* mp = allm; mp;) {
    m* next = mp->alllink;
    if (mp->extram) extra_ms_live.fetch_sub(1, std::memory_order_relaxed);  // its thread is gone
    if (mp != m0) delete mp;
    mp = next;
  }
  allm = nullptr;
  sema_teardown();
  for (p*& pp : allp) {
    if (pp) clear_timers(pp);
    delete pp;
    pp = nullptr;
  }
  stackteardown();
}

// ---- Extra Ms: threads the runtime did not start ----
//
// While run() is active, any thread may call into the runtime, as C threads
// call into Go through cgo callbacks (Go's needm/dropm and extra Ms). Its
// first call binds it to an extra M (needm) with a G locked to it, which
// stands for the thread's own code: it runs on the thread's own stack, has a
// goroutine id, and is in syscall state between calls, like a goroutine
// inside blocking(). A call is then an entry from blocking(): entry_guard's
// reacquire gets a P (exitsyscall) and its destructor gives it back
// (extram_leave), at once and not after sysmon's delay as Go's cgocallback
// does, since the thread may not call again for a long time and what the
// call queued on the P (a go(), a readied goroutine) must run meanwhile.
//
// Waiting. The G never leaves the thread's stack. Where another M switches
// to g0 (leave, exitsyscall's slow path), an extra M does g0's part in place
// (extram_wait): it runs the afterswitch (a park's unlockf: from then on the
// G may be readied), then sleeps as a locked M does (stoplockedm) until an M
// that finds the G runnable hands it a P (startlockedm). No other M may run
// the G, so nothing else needs its stack.
//
// checkdead counts an extra M as running, in a call or not, as Go counts its
// extra Ms: the thread may make any goroutine runnable at any time. Its
// thread's exit (dropm, a thread_local's destructor) takes it off the count.
//
// The end of a run. teardown frees what a call touches, so every call is
// marked (incall, set under extram_lock while the run is active) and
// teardown waits for the marked ones. The stores that end a call are
// release, paired with teardown's acquire load: what the call touched is
// done before teardown frees it. A call waiting when the run ends is
// woken (main_exit wakes locked Ms) and throws std::logic_error from where it
// waited; what it waited on is left as goroutines the run abandons leave
// theirs. From then on the unwinding touches only the thread's own M. Then
// teardown detaches the M: the thread keeps it, so its tls_m stays valid,
// its next call throws "outside a goroutine", and a call in a later run
// binds it afresh.
//
// Locks: extram_lock < sched.lock < allglock. extram_lock guards
// extram_active, every extra M's attached and thread_gone, and whether the
// thread or teardown is to delete it.

namespace {

void dropm(m* mp) noexcept;

// extram_binding: the calling thread's extra M. The thread owns it, except
// that teardown deletes one whose thread has exited during the run.
struct extram_binding {
  m* mp = nullptr;
  ~extram_binding() {
    if (mp) dropm(mp);
  }
};
thread_local extram_binding extram_tls;

// extram_bind gives the calling thread a new extra M and its G, dropping
// one left from an earlier run. Go: oneNewExtraM.
m* extram_bind(m* old) GORT_REQUIRES(extram_lock) {
  assert_lock_held(&extram_lock);
  if (old != nullptr) {
    delete old;  // detached at the end of its run: the thread's own
    extra_ms_live.fetch_sub(1, std::memory_order_relaxed);
  }
  auto* mp = new m;
  extra_ms_live.fetch_add(1, std::memory_order_relaxed);
  mp->extram = true;
  mp->attached = true;
  // The M is counted and its G made under one hold of sched.lock: checkdead
  // must never see the G (in syscall) without the M that runs it.
  sched.lock.lock();
  mcommoninit(mp);
  g* gp = malg();
  gp->goid = sched.goidgen.fetch_add(1, std::memory_order_relaxed) + 1;  // the RMW alone: unique
  gp->m = mp;
  gp->lockedm = mp;
  gp->stk = &mp->g0stack;  // the thread's own stack, which minit_switch records
  gp->atomicstatus.store(gstatus::Gsyscall, std::memory_order_release);  // as casgstatus's
  mp->lockedg = gp;
  sched.lock.unlock();
  tls_m = extram_tls.mp = mp;
  minit_switch(mp);
  minit_preempt(mp);  // its thread id, for sysmon's signals
  return mp;
}

// dropm: the thread of an extra M exits. Go: dropm.
void dropm(m* mp) noexcept {
  extram_lock.lock();
  if (mp->attached) {  // the run keeps it in allm: teardown deletes it
    sched.lock.lock();
    ++sched.nmfreed;
    mp->thread_gone = true;
    mp->lockedg->atomicstatus.store(gstatus::Gdead, std::memory_order_release);  // as casgstatus's
    sched.allglen.fetch_sub(1, std::memory_order_relaxed);  // a count
    sched.lock.unlock();
    mp = nullptr;
  }
  extram_lock.unlock();
  if (mp != nullptr) {
    delete mp;
    extra_ms_live.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace

g* extram_call(m* mp) {
  extram_lock.lock();
  if (!extram_active || exiting()) {
    extram_lock.unlock();
    return nullptr;
  }
  if (mp == nullptr || !mp->attached) mp = extram_bind(mp);
  mp->curg = mp->lockedg;
  mp->incall.store(true, std::memory_order_relaxed);  // teardown reads it under extram_lock
  extram_lock.unlock();
  return mp->curg;
}

g* needm(m* mp, const char* what) {
  if (mp != nullptr && !mp->extram) {  // a runtime M off its G: in the scheduler, or not running one
    if (in_signal_handler()) fatal_in_signal_handler(what);
    throw_outside_goroutine(what);
  }
  if (g* gp = extram_call(mp)) return gp;
  throw_outside_goroutine(what);
}

waker_guard::waker_guard() noexcept : gp(tls_m ? tls_m->curg : nullptr) {
  g* entering = gp;
  if (m* mp = tls_m; gp == nullptr && (mp == nullptr || mp->extram)) {
    entering = extram_call(mp);
    if (entering == nullptr) return;  // run() is ending: its waiters stay asleep
  }
  try {
    e_.emplace(entering);
  } catch (const std::logic_error&) {  // run() ended while the call waited for a P
    return;
  }
  active_ = true;
}

void entry_nested() {
  if (in_signal_handler()) fatal_in_signal_handler(nullptr);
}

void needm_check(const char* what) {
  m* mp = needm(tls_m, what)->m;  // throws outside a run
  mp->curg = nullptr;              // and no call is made
  mp->incall.store(false, std::memory_order_release);
}

void extram_wait(m* mp, g* gp) {
  afterswitch_in_place(mp);
  if (!stoplockedm(mp)) {  // run() is over
    mp->aborted = true;
    gp->waiting = nullptr;  // the park unwinds and unlinks its own sudogs (chan.cpp, block_on)
    mp->incall.store(false, std::memory_order_release);  // teardown may go on
    throw std::logic_error("gort: run() ended while a thread the runtime did not start waited in a gort call");
  }
  execute_prepare(mp, gp, false);
  if (trace_on()) [[unlikely]]
    trace_go_start(&mp->g0, gp);
}

// extram_leave: the end of a call from a thread calling in; its P goes at
// once (handoffp). Reads the thread's M, not gp: after an abort the Gs may
// be gone.
bool extram_leave(g* gp) noexcept {
  m* mp = tls_m;
  if (!mp->extram) return false;
  if (std::exchange(mp->aborted, false)) return true;
  casgstatus(gp, gstatus::Grunning, gstatus::Gsyscall);
  handoffp(releasep(mp));
  mp->curg = nullptr;
  mp->incall.store(false, std::memory_order_release);
  return true;
}

void extram_teardown() {
  extram_lock.lock();
  extram_active = false;
  sched.lock.lock();
  m** link = &allm;
  while (m* mp = *link) {
    if (!mp->extram) {
      link = &mp->alllink;
      continue;
    }
    // Acquire: pairs with the release stores that end a call ("The end of a run").
    while (mp->incall.load(std::memory_order_acquire)) {  // a call ends soon, or has been woken
      sched.lock.unlock();
      osyield();
      sched.lock.lock();
    }
    if (mp->thread_gone) {  // teardown deletes it with the other Ms
      link = &mp->alllink;
      continue;
    }
    *link = mp->alllink;  // the thread keeps it
    mp->attached = false;
    mp->lockedg = nullptr;  // curg is already nullptr between calls, and the thread reads it
    mp->p = mp->oldp = mp->nextp = nullptr;
  }
  sched.lock.unlock();
  extram_lock.unlock();
}

// ---- exported to the rest of the runtime ----

// mcommoninit: see proc.hpp. Go: mcommoninit + checkmcount.
void mcommoninit(m* mp) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  mp->id = sched.mnext++;
  if (mcount() > sched.maxmcount) {
    printerr("runtime: program exceeds %d-thread limit\n", sched.maxmcount);
    fatal("thread exhaustion");
  }
  mp->cheaprand =
      0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(mp->id + 1) ^ static_cast<std::uint64_t>(nanotime());
  mp->g0.is_g0 = true;
  mp->g0.m = mp;
  mp->alllink = allm;
  allm = mp;
}

m* getm() {
  m* mp = tls_m;
  asm volatile("" : "+r"(mp) : : "memory");
  return mp;
}

// acquireg reads tls_m itself rather than through getm (one call less on
// every channel operation): it is never inlined and never parks, so no
// stale thread-local address can outlive it. The throw is out of line, so
// the check costs a handful of instructions.
[[gnu::noinline]] g* acquireg(const char* what) {
  m* mp = tls_m;
  g* gp = mp ? mp->curg : nullptr;
  if (gp == nullptr) [[unlikely]]
    gp = needm(mp, what);
  return gp;
}

std::thread newosproc(std::function<void()> fn) {
  try {
    return std::thread(std::move(fn));
  } catch (const std::system_error& e) {
    printerr("runtime: failed to create new OS thread (have %d already; errno=%d)\n", mcount(), e.code().value());
    if (e.code().value() == EAGAIN) printerr("runtime: may need to increase max user processes (ulimit -u)\n");
    fatal("newosproc");
  }
}

int limit_procs(int n) {
  if (n <= max_gomaxprocs) return n;
  static std::atomic<bool> said{false};
  if (!said.exchange(true))
    printerr("gort: GOMAXPROCS=%d is over the limit of %d Ps; using %d\n", n, max_gomaxprocs, max_gomaxprocs);
  return max_gomaxprocs;
}

// Not analyzed: exact under sched.lock (checkdead, mcommoninit), a racy
// snapshot without it (stats, schedtrace).
std::int32_t mcount() GORT_NO_THREAD_SAFETY_ANALYSIS { return static_cast<std::int32_t>(sched.mnext - sched.nmfreed); }

// waitsince is relaxed: a stamp for tracebacks, nothing read through it
// (runtime2.hpp, g::waitsince).
void markwaitsince(std::int64_t now) {
  for_each_g([now](g* gp) {
    const gstatus s = gp->status();
    if ((s == gstatus::Gwaiting || s == gstatus::Gsyscall) && gp->waitsince.load(std::memory_order_relaxed) == 0)
      gp->waitsince.store(now, std::memory_order_relaxed);
  });
}

void badcasgstatus(g* gp, gstatus oldval, gstatus newval) {
  printerr("runtime: casgstatus: goroutine %llu: status %u, expected %u, want %u\n",
           static_cast<unsigned long long>(gp->goid), static_cast<unsigned>(gp->status()),
           static_cast<unsigned>(oldval), static_cast<unsigned>(newval));
  gothrow("casgstatus: bad incoming values");
}

void badgstatusedge(g* gp, gstatus oldval, gstatus newval) {
  printerr("runtime: casgstatus: goroutine %llu: %s -> %s is not a G's transition\n",
           static_cast<unsigned long long>(gp->goid), gstatus_strings[static_cast<unsigned>(oldval)],
           gstatus_strings[static_cast<unsigned>(newval)]);
  gothrow("casgstatus: bad transition");
}

void badpstatus(p* pp, pstatus oldval, pstatus newval) {
  printerr("runtime: p %d: status %u -> %u is not a P's transition\n", pp->id, static_cast<unsigned>(oldval),
           static_cast<unsigned>(newval));
  gothrow("bad P status transition");
}

void runqput(p* pp, g* gp, bool next) {
  // Relaxed: the queue's release publishes the stamp to the M that runs gp.
  if (++pp->latency_tick % latency_sample == 0) [[unlikely]]
    gp->waitsince.store(-cputicks(), std::memory_order_relaxed);
  if (next) {
    gp = pp->runq.put_next(gp);
    if (gp == nullptr) return;  // the old runnext, if any, goes to the tail
  }
  if (!pp->runq.put(gp)) [[unlikely]]
    runqputslow(pp, gp);
}

void injectg(g* gp) {
  sched.lock.lock();
  globrunqput(gp);
  sched.lock.unlock();
  wakep();
}

void injectglist(p* pp, g* const* gs, int n) {
  if (n <= 0) return;
  for (int i = 0; i < n; ++i) {
    casgstatus(gs[i], gstatus::Gwaiting, gstatus::Grunnable);
    if (trace_on()) [[unlikely]]
      trace_go_unpark(getm(), gs[i]);
  }
  if (pp == nullptr) {
    sched.lock.lock();
    for (int i = 0; i < n; ++i) globrunqput(gs[i]);
    sched.lock.unlock();
    start_idle(n);
    return;
  }
  for (int i = 0; i < n; ++i) runqput(pp, gs[i], false);
  // wake_deferred: the owner's heuristic, which sysmon also reads ("Orders").
  if (pp->wake_deferred.load(std::memory_order_relaxed) == 0)
    pp->wake_deferred.store(nanotime(), std::memory_order_relaxed);
}

void inject_polled(p* pp, glist& list) {
  injectglist(pp, list.gs, list.n);
  netpoll_adjust_waiters(list.delta);
}

void deferred_wakep(p* pp, std::int64_t since) {
  if (pp->runq.empty()) {
    pp->wake_deferred.store(0, std::memory_order_relaxed);
  } else if (nanotime() - since >= wake_defer_ns) {
    pp->wake_deferred.store(0, std::memory_order_relaxed);
    wakep();
  }
}

void deferred_wakep_sysmon(p* pp, std::int64_t now) {
  const std::int64_t since = pp->wake_deferred.load(std::memory_order_relaxed);
  if (since != 0 && now - since >= wake_defer_ns && !pp->runq.empty()) wakep();
}

void wakep_slow() {
  std::int32_t zero = 0;
  if (sched.nmspinning.load(std::memory_order_seq_cst) != 0 ||
      !sched.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_seq_cst))
    return;
  sched.lock.lock();
  p* pp = pidleget_spinning();
  sched.lock.unlock();
  if (pp == nullptr) {
    if (sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst) - 1 < 0) gothrow("wakep: negative nmspinning");
    return;
  }
  startm(pp, true);
}

alignas(64) std::atomic<std::int64_t> second_look_since{0};

void second_look(std::int64_t now) {
  const std::int64_t since = second_look_since.load(std::memory_order_relaxed);
  if (since == 0 || now - since < second_look_ns) return;
  second_look_since.store(0, std::memory_order_relaxed);
  if (sched.npidle.load(std::memory_order_relaxed) != 0 && sched.nmspinning.load(std::memory_order_relaxed) == 0 &&
      queued_work())
    wakep();
}

namespace {

// leave switches mp from gp to next, or to g0 if next is nullptr or locked
// to another M (g0 then hands it over: startlockedm).
void leave(m* mp, g* gp, g* next, bool inherit_time, bool gp_exits) {
  if (next && next->lockedm && next->lockedm != mp) {
    mp->handofflocked = next;
    next = nullptr;
  }
  if (next) {
    execute(mp, gp, next, inherit_time, gp_exits);
    return;
  }
  if (trace_on()) [[unlikely]]
    trace_go_stop(gp);
  mp->curg = nullptr;
  if (mp->extram) return extram_wait(mp, gp);
  gogo(mp, gp, &mp->g0, gp_exits);
}

// commit_then_timers is the afterswitch of a leave to the next G while the
// P has timers pending: gp's own commit (park_commit's unlockf, goexit0),
// then the due timers, on the next G's stack. Not on gp's, where it may
// still hold the lock of the very channel a timer is about to send on.
// What they ready goes to the tail of the queue, after next. Going through
// g0 for them instead cost a switch and a second clock read, with timers
// falling due every few switches.
void commit_then_timers(m* mp, g* gp, void* arg) {
  std::exchange(mp->leave_commit, nullptr)(mp, gp, arg);
  check_timers(mp->p, std::exchange(mp->now_hint, 0));
}

}  // namespace

// schedule_from leaves gp (no longer Grunning; mp->afterswitch says what
// to do with it) for the next G at hand, or for g0 when the M must look
// further or stop. See "Switching".
void schedule_from(m* mp, g* gp, bool gp_exits) {
  bool inherit_time = false;
  g* next = stopping() || mp->lockedg ? nullptr : runnable_now(mp->p, inherit_time);
  // On g0, find_runnable runs the timers. A hint: the timer check loads
  // min_when again, acquire, under its lock.
  if (next && mp->p->timers.min_when.load(std::memory_order_relaxed) != 0)
    mp->leave_commit = std::exchange(mp->afterswitch.fn, &commit_then_timers);
  else
    mp->now_hint = 0;
  leave(mp, gp, next, inherit_time, gp_exits);
}

namespace {

// gosched_commit runs after the switch away from a yielding G: now it may
// go on a run queue. gort: the local queue's tail, not the global queue as
// Go's Gosched: no lock, and an idle P can still steal it.
void gosched_commit(m* mp, g* gp, void*) {
  runqput(mp->p, gp, false);
  wakep();
}

// goexit0 runs after the switch away from an exited G: its stack and the G
// go back to the free lists. Go: goexit0/gdestroy.
void goexit0(m* mp, g* gp, void*) {
  stackfree(mp->p, gp);
  gp->saved_errno = 0;  // a new goroutine starts with a clean slate
  gp->eh_globals[0] = gp->eh_globals[1] = nullptr;
  gfput(mp->p, gp);
}

}  // namespace

void gosched(g* gp) {
  m* mp = gp->m;
  bool inherit_time = false;
  g* next = nullptr;
  if (!stopping() && mp->lockedg == nullptr) {
    // A yielding G holds no lock a timer could need. Timers after the take:
    // the queue then has room for what they ready (time.cpp, "room").
    next = runnable_now(mp->p, inherit_time);
    check_timers(mp->p, 0);
    if (next == nullptr) next = runnable_now(mp->p, inherit_time);
    // Nothing here: look once at the other Ps' queues, so that yielding
    // goroutines spread over the Ps as Go's, whose Gosched goes through the
    // global queue. Else there is nobody to yield to: keep running. The
    // loads are a hint whether stealing can find anything: relaxed.
    if (next == nullptr &&
        sched.npidle.load(std::memory_order_relaxed) + 1 < sched.gomaxprocs.load(std::memory_order_relaxed))
      next = steal_work(mp, mp->p, 1);
    if (next == nullptr) {  // nobody to yield to: keep running, in a new slice
      p* pp = mp->p;
      pp->schedtick.store(pp->schedtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      pp->preempt.store(false, std::memory_order_relaxed);
      return;
    }
  }
  casgstatus(gp, gstatus::Grunning, gstatus::Grunnable);
  mp->afterswitch.set(&gosched_commit, gp, nullptr);
  leave(mp, gp, next, inherit_time, false);
}

void goexit1(g* gp) {
  check_forked_child();
  if (gp->fnops) {
    gp->fnops->destroy(gp->fn);
    gp->fnops = nullptr;
  }
  if (gp->fn != gp->fnbuf) std::free(gp->fn);
  gp->fn = nullptr;
  stack_check_canary(gp);
  m* mp = gp->m;
  if (mp->lockedg == gp) {  // gort: exiting unlocks; the thread lives on
    mp->lockedg = nullptr;
    mp->locked = 0;
    gp->lockedm = nullptr;
  }
  gp->waitreason = wait_reason::zero;  // a dead G reports no reason (Go: gdestroy)
  casgstatus(gp, gstatus::Grunning, gstatus::Gdead);
  if (gp == main_g) main_exit();
  mp->afterswitch.set(&goexit0, gp, nullptr);
  schedule_from(mp, gp, true);
  gothrow("goexit1: dead goroutine resumed");
}

namespace {

// exitsyscall0_commit: gp came back from blocking() to find no P; now that
// its M is off its stack it may wait on the global queue. Go: exitsyscall0.
void exitsyscall0_commit(m*, g* gp, void*) {
  sched.lock.lock();
  globrunqput(gp);
  sched.lock.unlock();
  wakep();
}

}  // namespace

// entersyscall: gp is about to block its thread in blocking(). As Go, the P
// stays with the M in status Psyscall, for a cheap return; sysmon hands it
// to another M if the call lasts (retake). A stop-the-world in progress
// takes it at once.
void entersyscall(g* gp) {
  check_forked_child();
  m* mp = gp->m;
  gp->waitsince.store(0, std::memory_order_relaxed);  // sysmon stamps it (markwaitsince)
  // seq_cst store: the StoreLoad pair with stop_the_world (its fetch_or of
  // stop, then its CAS of status), against our load of stop below.
  casgstatus(gp, gstatus::Grunning, gstatus::Gsyscall);
  if (trace_on()) [[unlikely]]
    trace_go_sys_call(gp, mp, mp->p);
  p* pp = releasep(mp);
  mp->oldp = pp;
  set_pstatus(pp, pstatus::Psyscall, std::memory_order_seq_cst);  // pairs with stop_the_world
  // A hint that only rushes sysmon: it sleeps deeply only while every P is
  // idle or the world stops, and pidleget and start_the_world wake it.
  if (sched.sysmonwait.load(std::memory_order_relaxed)) {
    sched.lock.lock();
    sysmon_wake_locked(true);
    sched.lock.unlock();
  }
  if (sched.stop.load(std::memory_order_seq_cst) & stop_gcwaiting) {
    pstatus expected = pstatus::Psyscall;
    // One of this CAS and stop_the_world's wins (one RMW order); neither
    // side reads data through it.
    if (pp->status.compare_exchange_strong(expected, pstatus::Pgcstop, std::memory_order_acq_rel)) {
      sched.lock.lock();
      if (--sched.stopwait == 0) sched.stopnote.wakeup();
      sched.lock.unlock();
    }
  }
}

// exitsyscallfast: take back the P we had if sysmon left it to us, else
// any idle P. Go: exitsyscallfast.
bool exitsyscallfast(m* mp, p* oldp) {
  if (stopping()) return false;
  pstatus expected = pstatus::Psyscall;
  // Acquire: pairs with the store of Psyscall, so we see the P as the M
  // that entered the call left it (this one, or one after a retake). A
  // retake or a stop that got there first fails the CAS.
  if (oldp && oldp->status.compare_exchange_strong(expected, pstatus::Prunning, std::memory_order_acq_rel)) {
    acquirep(mp, oldp);
    oldp->syscalltick.fetch_add(1, std::memory_order_relaxed);  // sysmon's heuristic
    return true;
  }
  sched.lock.lock();
  p* pp = pidleget();
  if (pp) sysmon_wake_locked(true);
  sched.lock.unlock();
  if (pp == nullptr) return false;
  acquirep(mp, pp);
  return true;
}

// exitsyscall: back from the blocking call, with a P from exitsyscallfast;
// else gp goes on the global queue and its M sleeps (exitsyscall0). If
// run() has ended meanwhile, gp is abandoned.
void exitsyscall(g* gp) {
  check_forked_child();
  m* mp = gp->m;
  p* oldp = mp->oldp;
  mp->oldp = nullptr;
  if (exitsyscallfast(mp, oldp)) {
    casgstatus(gp, gstatus::Gsyscall, gstatus::Grunning);
    if (trace_on()) [[unlikely]]
      trace_go_sys_exit(gp, mp, mp->p);
    return;
  }
  casgstatus(gp, gstatus::Gsyscall, gstatus::Grunnable);
  if (trace_on()) [[unlikely]]
    trace_go_sys_exit(gp, mp, nullptr);
  mp->curg = nullptr;
  if (!exiting()) mp->afterswitch.set(&exitsyscall0_commit, gp, nullptr);
  if (mp->extram) return extram_wait(mp, gp);
  gogo(mp, gp, &mp->g0, false);
}

// checkdead: if no M is running and every goroutine is blocked with nothing
// that could wake it, the program is deadlocked. Called when an M goes idle
// (mput). Go: checkdead.
void checkdead() GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  if (exiting()) return;
  const std::int32_t run = mcount() - sched.nmidle - sched.nmidlelocked - sched.nmsys;
  if (run > 0) return;
  if (run < 0) {
    printerr("runtime: checkdead: nmidle=%d nmidlelocked=%d mcount=%d nmsys=%d\n", sched.nmidle, sched.nmidlelocked,
             mcount(), sched.nmsys);
    gothrow("checkdead: inconsistent counts");
  }
  int grunning = 0;
  g* runnable = nullptr;  // reported after allglock is released: gothrow lists all Gs
  for_each_g([&](g* gp) {
    switch (gp->status()) {
      case gstatus::Gwaiting:
        ++grunning;
        break;
      case gstatus::Grunnable:
      case gstatus::Grunning:
      case gstatus::Gsyscall:
        if (!runnable) runnable = gp;
        break;
      default:
        break;
    }
  });
  if (runnable) {
    printerr("runtime: checkdead: find g %llu in status %u\n", static_cast<unsigned long long>(runnable->goid),
             static_cast<unsigned>(runnable->status()));
    sched.lock.unlock();
    gothrow("checkdead: runnable g");
  }
  if (grunning == 0) return;  // every goroutine has exited; main's exit stops the run
  // A pending timer will wake someone (Go checks the same). Relaxed: an M
  // that set a min_when took sched.lock since, to go idle (mput).
  for (std::int32_t i = 0; i < sched.gomaxprocs.load(std::memory_order_relaxed); ++i)
    if (allp[i]->timers.min_when.load(std::memory_order_relaxed) != 0) return;
  // gort: so may a thread started since run() began that is not one of its
  // Ms, and has not called in yet ("Extra Ms"). A thread that was there
  // before run() is not counted: the sanitizers' own are among them.
  if (process_threads() > sched.threads_before_run + mcount()) return;
  sched.lock.unlock();  // fatal prints every goroutine; let other Ms be
  fatal("all goroutines are asleep - deadlock!");
}

}  // namespace gort::rt

namespace gort::rt {

[[gnu::noinline]] void newproc_system(std::function<void()> fn) {
  using C = detail::closure<std::function<void()>>;
  p* pp = getm()->p;
  detail::newproc_slot slot = detail::reserve_on(pp, sizeof(C), alignof(C));
  ::new (slot.storage) C{std::move(fn), {}};
  rt::newproc(pp, static_cast<g*>(slot.gp), &C::ops, 0, reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)));
}

}  // namespace gort::rt

// ---- newproc: the half of go() that the scheduler does ----

namespace gort {
using namespace gort::rt;

namespace detail {

// reserve_on allocates the G and the room for its closure on pp: the half
// of Go's newproc1 that go() needs before it builds the closure. Shared by
// go() and the runtime's own goroutines (newproc_system).
newproc_slot reserve_on(rt::p* pp, std::size_t size, std::size_t align) {
  g* newg = gfget(pp);
  if (newg == nullptr) newg = malg();
  void* storage = newg->fnbuf;
  if (size > g::fnbuf_size || align > alignof(std::max_align_t)) {
    align = std::max(align, alignof(std::max_align_t));
    storage = std::aligned_alloc(align, (size + align - 1) / align * align);
    if (storage == nullptr) {
      gfput(pp, newg);
      throw std::bad_alloc();
    }
  }
  newg->fn = storage;
  return {newg, storage};
}

}  // namespace detail
}  // namespace gort

namespace gort::rt {

// newproc1 makes newg a runnable goroutine running the closure ops
// describes: its goid (from the P's cache of IDs), its parent, its status.
// Go's newproc1 also allocates the G; gort does that first (reserve_on), as
// go() builds the closure into the G between the two. Go: newproc1.
std::uint64_t newproc1(p* pp, g* newg, const detail::funcval_ops* ops, std::uint64_t parent_goid,
                       std::uintptr_t gopc) noexcept {
  newg->fnops = ops;
  if (pp->goidcache == pp->goidcacheend) {
    pp->goidcache = sched.goidgen.fetch_add(goid_cache_batch, std::memory_order_relaxed) + 1;
    pp->goidcacheend = pp->goidcache + goid_cache_batch;
  }
  const std::uint64_t goid = pp->goidcache++;
  newg->goid = goid;
  newg->parent_goid = parent_goid;
  newg->gopc = gopc;
  newg->waitreason = wait_reason::zero;
  // Not casgstatus: its check would load a line that another core has
  // likely written last (the G came off the free list); we own newg. The
  // release is casgstatus's; the run queue publishes newg to its runner.
  newg->atomicstatus.store(gstatus::Grunnable, std::memory_order_release);
  return goid;
}

// newproc starts newg: it takes runnext on pp, and an idle P is woken to
// take over what pp has queued. Go: newproc.
std::uint64_t newproc(p* pp, g* newg, const detail::funcval_ops* ops, std::uint64_t parent_goid,
                      std::uintptr_t gopc) noexcept {
  const std::uint64_t goid = newproc1(pp, newg, ops, parent_goid, gopc);
  if (trace_on()) [[unlikely]]
    trace_go_create(newg);
  // From here newg is not ours: a thief may run it, and it may exit and be
  // reused by another go() before this returns.
  runqput(pp, newg, true);
  if (sched.main_started.load(std::memory_order_relaxed)) wakep();  // a hint: runtime_main
  return goid;
}

}  // namespace gort::rt

// ---- the entries that read tls_m (runtime.cpp has the rest of the API) ----

namespace gort {
using namespace gort::rt;

// The sync types' entry check: reads the thread's M directly (no park can
// come between the read and its use), so it costs no call to getm.
std::atomic<bool> detail::run_active{false};

void detail::require_goroutine(const char* what) {
  if (tls_m == nullptr || tls_m->curg == nullptr) [[unlikely]]
    needm_check(what);
}

// blocking() is an entry whose inside is user code run without a P. A G
// already without one (inside another blocking(), or its P taken by the
// takeaway of preempt.cpp) stays as it is: the next entry gets it a P.
detail::syscall_scope::syscall_scope() {
  // A thread calling in is in syscall state between its calls already:
  // blocking() has nothing to do for it.
  if (m* mp = tls_m; mp == nullptr || (mp->extram && mp->curg == nullptr)) {
    entry_guard e("gort::blocking");  // binds it (needm), or throws after run()
    foreign_ = true;
    return;
  }
  g* gp = acquireg("gort::blocking");
  user_ = runtime_enter(gp->m);
  entered_ = gp->status() != gstatus::Gsyscall;
  if (entered_) entersyscall(gp);
}

detail::syscall_scope::~syscall_scope() noexcept(false) {
  if (foreign_) return;
  g* gp = getg();
  if (entered_) exitsyscall(gp);
  runtime_leave(gp, user_);
}

}  // namespace gort

// ---- for tests (export_test.hpp) ----

namespace gort::rt {

void census_proc(Census& c) {
  for (gregion* r = allgregions.load(std::memory_order_acquire); r != nullptr;
       r = r->next.load(std::memory_order_acquire)) {
    ++c.g_regions;
    c.gs += r->ngs.load(std::memory_order_acquire);
  }
  sched.lock.lock();
  for (m* mp = allm; mp; mp = mp->alllink) ++c.ms;
  for (p* pp : allp) c.ps += pp != nullptr;
  sched.lock.unlock();
  c.extra_ms = static_cast<std::size_t>(extra_ms_live.load(std::memory_order_relaxed));
}

std::size_t GCount() {
  std::size_t n = 0;
  for_each_g([&n](g* gp) { n += gp->status() != gstatus::Gdead; });
  return n;
}

TeardownStats last_teardown() { return last_teardown_stats; }

}  // namespace gort::rt
