// proc.hpp: the scheduler's internal interface, shared by the runtime's
// files. Go counterpart: the unexported functions of proc.go that chan.go,
// sema.go and friends call (gopark, goready, getg, ...).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "runtime/runtime2.hpp"

// GORT_HOT_INLINE: a hot function of the scheduler that an optimised build
// always inlines, and that a Debug build (-O0) keeps a function of its own,
// for a debugger to stop in under its Go name (execute).
#ifdef __OPTIMIZE__
#define GORT_HOT_INLINE [[gnu::always_inline]] inline
#else
#define GORT_HOT_INLINE inline
#endif

namespace gort {
struct Config;  // gort/runtime.hpp
}  // namespace gort

namespace gort::rt {

// getm returns this thread's M, or nullptr on a thread the runtime did not
// create. It is never inlined, and never cached across a switch: a goroutine
// that parks may resume on another thread, and a compiler may otherwise keep
// the address of a thread_local from before the switch (see "Thread-local
// state" in proc.cpp).
m* getm();

// getg returns the running user goroutine, or nullptr on g0 or off-runtime.
inline g* getg() {
  m* mp = getm();
  return mp ? mp->curg : nullptr;
}

// acquireg returns the running goroutine, or throws std::logic_error naming
// `what` when called outside run() or from a thread the runtime did not
// create (the public API's entry check).
g* acquireg(const char* what);

// entry_nested: the cold path of an entry (entry_guard) whose M is already
// in the runtime with its P. Fatal if a signal handler is running on the
// thread: no gort function is async-signal-safe, and one called from a
// handler that interrupted the runtime would wait for a lock the
// interrupted code holds, or reschedule a goroutine in the middle of its
// switch. It takes no name: keeping the entry's name for it would cost every
// entry an instruction; the fatal report's stack shows the call.
void entry_nested();

// Extra Ms: a thread the runtime did not start, calling in (proc.cpp,
// "Extra Ms"). needm binds the calling thread (mp: its tls_m, nullptr or a
// detached extra M) and returns its G, or throws std::logic_error naming
// what outside a run; extram_wait is where its G waits instead of switching
// to g0; extram_leave ends a call (entry_guard); extram_teardown, at the end
// of a run, waits for the calls in progress and detaches the extra Ms.
g* needm(m* mp, const char* what);
g* extram_call(m* mp);  // needm's call, or nullptr outside a run: never throws logic_error
void needm_check(const char* what);  // needm without a call: checks and binds
void extram_wait(m* mp, g* gp);
bool extram_leave(g* gp) noexcept;  // false: not an extra M
void extram_teardown();

// casgstatus moves gp from oldval to newval; a G in any other status is a
// runtime bug (gothrow). Go changes a G's status only by CAS, because the GC
// may own the stack (the _Gscan bit) concurrently. gort has no GC: a G's
// status has one writer at a time, whoever owns the G (the M running it, the
// waker that dequeued it under a lock, the M that took it off a run queue),
// so a checked release store does; a CAS here would be a large part of a
// yield (docs/PERFORMANCE.md, "Figures behind the comments").
// The check's load is relaxed: the owner wrote the status last, or came to
// own the G through what ordered that write (a queue, a lock, goready). The
// release pairs with g::status()'s acquire in the lock-free walkers
// (checkdead, stats, tracebacks): who sees the status sees, e.g., the
// waitreason written before it. Handing the G over is not its job.
//
// Checked builds also throw on an edge that is not in a G's life (Go's
// runtime2.go, per state, without the GC's Gscan and Gpreempted):
//   Gidle -> Gdead (malg); Gdead -> Grunnable (newproc1), Gsyscall (needm);
//   Grunnable -> Grunning (execute);
//   Grunning -> Grunnable (gosched), Gwaiting (gopark), Gsyscall
//     (entersyscall), Gdead (goexit0);
//   Gsyscall -> Grunning, Grunnable (exitsyscall), Gdead (dropm);
//   Gwaiting -> Grunnable (ready).
[[noreturn]] void badcasgstatus(g* gp, gstatus oldval, gstatus newval);
[[noreturn]] void badgstatusedge(g* gp, gstatus oldval, gstatus newval);
constexpr bool gstatus_edge_ok(gstatus from, gstatus to) {
  using enum gstatus;
  switch (from) {
    case Gidle:
      return to == Gdead;
    case Gdead:
      return to == Grunnable || to == Gsyscall;
    case Grunnable:
      return to == Grunning;
    case Grunning:
      return to == Grunnable || to == Gwaiting || to == Gsyscall || to == Gdead;
    case Gsyscall:
      return to == Grunning || to == Grunnable || to == Gdead;
    case Gwaiting:
      return to == Grunnable;
  }
  return false;
}
inline void casgstatus(g* gp, gstatus oldval, gstatus newval) {
#ifdef GORT_CHECKED
  if (!gstatus_edge_ok(oldval, newval)) [[unlikely]]
    badgstatusedge(gp, oldval, newval);
#endif
  if (gp->atomicstatus.load(std::memory_order_relaxed) != oldval) [[unlikely]]
    badcasgstatus(gp, oldval, newval);
  gp->atomicstatus.store(newval, std::memory_order_release);
}

// set_pstatus stores pp's new status with order mo, where a plain store
// does (the owner, or sched.lock, or a stopped world excludes others).
// Checked builds throw on an edge that is not in a P's life (Go's
// runtime2.go): Pidle -> Prunning, Pgcstop, Pdead; Prunning -> Pidle,
// Psyscall, Pgcstop; Psyscall -> Prunning, Pidle, Pgcstop (entersyscall's
// way back, retake's hand-off, stop-the-world); Pgcstop -> Pidle, Prunning,
// Pdead (start-the-world, procresize); Pdead -> Pgcstop, Pidle, Prunning (a
// P brought back by procresize); and any state to itself (retake's CAS to
// Pidle, then pidleput's store).
[[noreturn]] void badpstatus(p* pp, pstatus oldval, pstatus newval);
constexpr bool pstatus_edge_ok(pstatus from, pstatus to) {
  using enum pstatus;
  if (from == to) return true;
  switch (from) {
    case Pidle:
      return to == Prunning || to == Pgcstop || to == Pdead;
    case Prunning:
      return to == Pidle || to == Psyscall || to == Pgcstop;
    case Psyscall:
      return to == Prunning || to == Pidle || to == Pgcstop;
    case Pgcstop:
      return to == Pidle || to == Prunning || to == Pdead;
    case Pdead:
      return to == Pgcstop || to == Pidle || to == Prunning;
  }
  return false;
}
inline void set_pstatus(p* pp, pstatus newval, std::memory_order mo) {
#ifdef GORT_CHECKED
  if (const pstatus old = pp->status.load(std::memory_order_relaxed); !pstatus_edge_ok(old, newval)) [[unlikely]]
    badpstatus(pp, old, newval);
#endif
  pp->status.store(newval, mo);
}

// gopark parks the running goroutine with reason. unlockf(gp, arg), if set,
// runs after gp is off its stack, on the next context of this M; if it
// returns false the park is cancelled and gp is made runnable again. Returns
// when someone calls goready(gp). Go: gopark / park_m.
using unlockf_t = bool (*)(g* gp, void* arg);
void gopark(unlockf_t unlockf, void* arg, wait_reason reason);

// goparkunlock parks and releases lock once the G is off its stack.
void goparkunlock(mutex* lock, wait_reason reason) GORT_RELEASE(lock);

// goready makes gp (Gwaiting) runnable in the current P's runnext, so it runs
// next and inherits the time slice; wakes an idle P if there is one. Go:
// goready and ready, one function here (Go's goready only moves to the
// system stack). From a thread with no P (a goroutine in blocking(), or
// Cond::signal from a thread the runtime did not start) gp goes to the
// global queue instead. The second form is for a caller that has its M at
// hand (mp: getm(), or nullptr on a thread the runtime did not create).
void goready(g* gp);
void goready(m* mp, g* gp);

// newproc starts newg, allocated by reserve_on and given its closure: runnext
// on pp, then wakep. newproc1 is its first half: newg's function, goid,
// parent, the pc of the go() that made it (g::gopc) and status Grunnable.
// Go: newproc, newproc1 (proc.cpp).
std::uint64_t newproc1(p* pp, g* newg, const detail::funcval_ops* ops, std::uint64_t parent_goid,
                       std::uintptr_t gopc) noexcept;
std::uint64_t newproc(p* pp, g* newg, const detail::funcval_ops* ops, std::uint64_t parent_goid,
                      std::uintptr_t gopc) noexcept;

// newproc_system starts fn as a new goroutine from the runtime itself (a
// timer's after_func), on the current M's P, with no parent goroutine.
void newproc_system(std::function<void()> fn);

// The scheduler's side of the public API (runtime.cpp). run() is Go's
// rt0_go: schedinit on the calling thread, which becomes m0; goroutine 1
// (main_g: a G from malg that first runs runtime_main); mstart(m0), which
// returns when main has returned; then teardown. gomaxprocs(n) stops the
// world and starts it again with n Ps. gfput takes back the G of a go()
// whose closure threw. Go: schedinit, runtime.main, mstart,
// stopTheWorld/startTheWorld, malg, gfput/gfget (proc.go).
void schedinit(m* m0, const Config& cfg);
void runtime_main();
void mstart(m* mp);
void teardown(m* m0);
void stop_the_world(m* mp);
void start_the_world(m* mp, std::int32_t nprocs);
g* malg();
void gfput(p* pp, g* gp);
g* gfget(p* pp);
extern g* main_g;  // goroutine 1: its exit ends the run (goexit1)

// injectg puts gp (Grunnable) on the global queue and wakes a P for it:
// readying from a thread with no P (Go: injectglist with one G).
void injectg(g* gp);

// injectglist makes gs[0..n) (Gwaiting: readied by netpoll) runnable. With
// pp nullptr (no P) all go to the global queue, with an M started for each
// idle P; else all go to pp's local queue, and another P is woken for them
// only if they still wait there wake_defer_ns later (deferred_wakep; not
// Go's: proc.cpp, "Gs readied by the network"). Go: injectglist.
void injectglist(p* pp, g* const* gs, int n);

// inject_polled hands out what a netpoll readied (injectglist), and only
// then counts those Gs off netpoll_waiters. Until they are runnable, an M
// looking for work must still see them waiting on I/O, and block in
// netpoll: one that went idle instead could be the last M counted as
// running (sysmon is not), and checkdead would take Gs that are neither
// waiting on I/O nor yet runnable for a deadlock. Go: injectglist, then
// netpollAdjustWaiters.
struct glist;
void inject_polled(p* pp, glist& list);

// runqput puts gp on pp's local queue (runnext if next), spilling half the
// queue to the global queue when full. Owner P only.
void runqput(p* pp, g* gp, bool next);

// schedule_from leaves gp, which is no longer Grunning and whose
// leftovers mp->afterswitch will handle, for the next G at hand or for g0.
// If gp_exits, gp never runs again. Returns when gp is resumed (never if it
// exits). See "Switching" in proc.cpp.
void schedule_from(m* mp, g* gp, bool gp_exits);

// gosched: runtime.Gosched for gp, the running G.
void gosched(g* gp);

// goexit1: gp's function has returned; destroy its closure and leave it for
// good (goexit0 frees it after the switch). Never returns.
[[noreturn]] void goexit1(g* gp);

// wakep starts an M on an idle P if there is an idle P and no spinning M.
// gort: returns at once when no P is idle, without sched.lock (Go takes it
// and sets needspinning). Nothing is stranded: the caller's own P is running
// and will reach the work; a spinning M giving up its P re-checks all queues.
void wakep_slow();

// deferred_wakep: pp's owner, about to take its next G, wakes another P
// (wakep) if the Gs injectglist queued without waking one have waited
// wake_defer_ns; since is p.wake_deferred. deferred_wakep_sysmon is
// sysmon's same check, for a P whose G runs long.
inline constexpr std::int64_t wake_defer_ns = 1'000'000;
void deferred_wakep(p* pp, std::int64_t since);
void deferred_wakep_sysmon(p* pp, std::int64_t now);
// second_look: sysmon's round, second_look_ns after a former spinner went
// to sleep while some P ran: if a running P has Gs queued while a P idles
// and no M spins, wakep ("Worker thread parking/unparking" in proc.cpp).
// second_look_since: when that spinner went to sleep, if sysmon has not
// looked since; 0: none. Relaxed: a hint, and the look loads again what
// it acts on. A line of its own: idle Ms write it, sysmon reads it.
inline constexpr std::int64_t second_look_ns = 1'000'000;
void second_look(std::int64_t now);
extern std::atomic<std::int64_t> second_look_since;
inline void wakep() {
  if (sched.npidle.load(std::memory_order_seq_cst) != 0) wakep_slow();
}

// cheaprand: per-M pseudo-random numbers, wyrand as Go's cheaprand on
// 64-bit. cheaprandn: one in [0, n), by Lemire's multiply-shift (Go's
// cheaprandn).
inline std::uint32_t cheaprand(m* mp) {
  mp->cheaprand += 0xa0761d6478bd642full;
  const __uint128_t t = static_cast<__uint128_t>(mp->cheaprand) * (mp->cheaprand ^ 0xe7037ed1a0b428dbull);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>(t >> 64) ^ static_cast<std::uint64_t>(t));
}
inline std::uint32_t cheaprandn(m* mp, std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(cheaprand(mp)) * n) >> 32);
}

// mcommoninit gives a new M its id and puts it on allm (fatal "thread
// exhaustion" over the limit).
void mcommoninit(m* mp) GORT_REQUIRES(sched.lock);

// Accessors for schedtrace and stats (racy snapshots).
std::int32_t mcount();

// limit_procs: n Ps, or max_gomaxprocs (Go's limit before 1.10) if n is
// over it, saying so on stderr the first time in the process.
int limit_procs(int n);

// newosproc starts the thread of a new M running fn. If the OS refuses
// (EAGAIN: a limit on threads or on address space), a fatal error with
// the number of Ms and the errno, as Go's, never an exception: it may run
// under sched.lock, or on sysmon. Go: newosproc.
std::thread newosproc(std::function<void()> fn);

// allgs: every G made in this run, walked without a lock (Go's allgs and
// allglen, read by forEachGRace). malg carves Gs from regions that live
// until run() ends, each region opening with a gregion header; the regions
// form a list from allgregions. malg appends under allglock and publishes
// with release stores: a G is counted in its region's ngs only once it is
// constructed, a region linked only once its header is. So a reader that
// acquires them sees whole Gs only, and takes no lock a thread it
// interrupted (a signal handler's traceback) or froze might hold; it may
// miss a G made while it walks.
struct gregion {
  std::atomic<gregion*> next{nullptr};  // the region made after this one
  std::atomic<std::size_t> ngs{0};      // Gs constructed in it so far
  std::size_t len = 0;                  // bytes mapped
  static constexpr std::size_t header = 64;  // the Gs follow, aligned as g
  g* gs() { return reinterpret_cast<g*>(reinterpret_cast<char*>(this) + header); }
};
static_assert(sizeof(gregion) <= gregion::header && gregion::header % alignof(g) == 0);
extern std::atomic<gregion*> allgregions;  // the first region; nullptr between runs

// for_each_g calls f(gp) for every G made in this run so far (Go:
// forEachGRace; gort needs no locked variant). The Gs' own fields change
// under f's feet: f reads what it needs as a snapshot. The acquire loads
// pair with malg's release stores of allgregions, next and ngs.
template <class F>
void for_each_g(F&& f) {
  for (gregion* r = allgregions.load(std::memory_order_acquire); r != nullptr;
       r = r->next.load(std::memory_order_acquire)) {
    const std::size_t n = r->ngs.load(std::memory_order_acquire);
    g* gs = r->gs();
    for (std::size_t i = 0; i < n; ++i) f(&gs[i]);
  }
}

// markwaitsince stamps now into the waitsince of every waiting G that has
// no stamp yet (runtime2.hpp, g::waitsince). sysmon calls it every few
// seconds with its clock; a test may pass an earlier now.
void markwaitsince(std::int64_t now);

// Debug settings from GODEBUG, GOMAXPROCS (runtime1.cpp).
struct dbgvars {
  std::int32_t schedtrace = 0;   // ms between SCHED lines; 0: off
  std::int32_t scheddetail = 0;  // 1: add P, M and G lines
  // 1: sysmon never takes the P of a goroutine that does not enter the
  // runtime (preempt.cpp). Go's: it turns off its async preemption.
  std::int32_t asyncpreemptoff = 0;
  // gort: 1 takes such a P by signal even where membarrier works, to test
  // the fallback anywhere (preempt.cpp).
  std::int32_t preemptsignal = 0;
  // gort: 1 has the owner of a run queue take runnext by CAS, as Go's,
  // even where membarrier works (runq.hpp, "runnext without a CAS").
  std::int32_t runnextcas = 0;
  // gort: 1 leaves an M that startm woke on its waker's CPU, where the
  // kernel put it (proc.cpp, "Leaving the waker's CPU").
  std::int32_t mspreadoff = 0;
  // gort: 1 runs no sysmon at all, to measure what it costs: no preemption,
  // no hand-off of blocking calls, no schedtrace, no stack scavenging.
  std::int32_t sysmonoff = 0;
  // gort: ms a goroutine may hold its P without a switch before sysmon
  // reports it, with its stack (sysmon.cpp, "Stall reports"); 0: off.
  std::int32_t stallreport = 0;
  // gort: stackguard=mprotect|canary forces the guard-page fallbacks of
  // kernels without MADV_GUARD_INSTALL (stack.cpp), to test them anywhere.
  enum class stackguard_mode { best, mprotect, canary } stackguard = stackguard_mode::best;
  // gort: gorttrace=<path> runs an execution trace over the whole run()
  // into path (trace.cpp); empty: none.
  std::string gorttrace;
};
extern dbgvars debug;
void parsedebugvars();
int gomaxprocs_from_env(int ncpu);  // $GOMAXPROCS if a positive integer, else ncpu

// schedtrace prints one SCHED report (schedtrace.cpp). sysmon: the monitor
// thread's loop (sysmon.cpp); sysmon_stop wakes it to exit.
void schedtrace(bool detailed);
void sysmon_start();
void sysmon_stop();
// sysmon_running: sysmon's M while its thread runs, else nullptr; its
// procid is the thread's id. If sysmon has been started and its thread has
// not got that far yet, waits for it (1 s at most). Async-signal-safe.
m* sysmon_running();
// sysmon_wake_locked wakes sysmon if it sleeps deeply (sysmonwait).
// rush: for a system call or a start of the world, after which sysmon
// goes back to its shortest sleep, as Go's does after any wakeup; a P
// leaving the idle list (pidleget) does not rush it.
// Go: the sysmonwait checks in entersyscall, exitsyscall and startTheWorld.
void sysmon_wake_locked(bool rush) GORT_REQUIRES(sched.lock);

// handoffp: pp has no M; start one for it if it has work, else idle it.
void handoffp(p* pp);

// incidlelocked adjusts the count of Ms checkdead does not count as running
// (v > 0 runs checkdead).
void incidlelocked(std::int32_t v) GORT_REQUIRES(sched.lock);

// Process start time for schedtrace's "SCHED <ms>ms".
extern std::int64_t runtime_init_time;

}  // namespace gort::rt

namespace gort::detail {
// reserve_on allocates a G and the room for its closure on pp (proc.cpp):
// go()'s first entry, and the runtime's own goroutines (newproc_system).
newproc_slot reserve_on(rt::p* pp, std::size_t size, std::size_t align);
}  // namespace gort::detail
