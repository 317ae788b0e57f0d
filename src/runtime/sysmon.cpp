// sysmon.cpp: the system monitor, an M with no P that watches the
// scheduler. Go counterpart: sysmon, retake and preemptone in proc.go.
//
// Loop (Go's): sleep 20 us while there is something to do; after 50 idle
// rounds (about 1 ms) double the sleep each round, up to 10 ms. When every P
// is idle (and no schedtrace is wanted) sleep deeply: until the earliest
// timer, at most 60 s, or until entersyscall/exitsyscall/start_the_world
// wake it (sysmonwait); a P leaving the idle list wakes it too, without
// resetting its sleep to 20 us (not Go's, see below). Each round:
//   retake   for every P, as Go:
//     - a P whose schedtick has not moved for 10 ms (forcePreemptNS) has run
//       one G, or a chain of Gs inheriting one time slice through runnext,
//       for that long: ask it to end the slice (preemptone: p.preempt,
//       honoured at its next runtime entry; see runnable_now and
//       maybe_yield in runtime.cpp);
//     - a P whose schedtick has not moved for 20 ms belongs to a goroutine
//       that does not enter the runtime (a tight loop, a plain blocking
//       system call): ask its M (preemptm: a membarrier handshake, or a
//       signal where membarrier is missing) to put the P in Psyscall as
//       blocking() would, so that the next rule hands it off (preempt.cpp);
//     - a P in Psyscall (its M is inside blocking()) that sysmon has seen in
//       the same call for a round is handed to another M (handoffp), unless
//       it has no local work, some M is spinning or idle to pick up new
//       work, and the call is younger than 10 ms. The returning M then
//       finds its P gone and takes another, or queues its G (exitsyscall);
//     - a P whose queue holds Gs a poll readied 1 ms ago or more without
//       waking another P (proc.cpp, "Gs readied by the network"): wakep.
//   second_look  1 ms after an M that searched in vain went to sleep while
//     some P ran: wakep if a running P has Gs queued while a P idles and
//     no M spins (proc.cpp, "Worker thread parking/unparking"). Until
//     then, sysmon sleeps at most 1 ms a round.
//   scavenge every second, and before a deep sleep of as long: give back
//     the deep pages of goroutine stacks that have sat unused in the
//     global pool since the last time (stack.cpp, "Scavenging"; Go's
//     background scavenger). Not more often: a shorter period cost the
//     sleepers benchmark user time, for reasons not found
//     (docs/PERFORMANCE.md, "Figures behind the comments");
//   schedtrace when GODEBUG=schedtrace asks: at the first round, then
//     once a period.
//   netpoll  when goroutines wait on I/O and nobody has polled for 10 ms:
//     every M is busy and none blocks in netpoll, so without this a
//     readied connection would wait for some P to run out of work.
//   waitsince  every 10 s, at a round or before a deep sleep: stamp the
//     waiting goroutines that have no stamp yet with the time
//     (markwaitsince), for the minutes a traceback shows ("[chan receive,
//     3 minutes]"). Go's GC stamps them as it scans their stacks. A stamp
//     is late by up to a period, or by a deep sleep (a minute at most) for
//     a goroutine that parked just before one; the minutes hide that. The
//     walk over every G is paid once a period, however often sysmon sleeps.
//   stallreport  with GODEBUG=stallreport=<ms> (gort, beyond Go): a P
//     whose schedtick has not moved for that long is reported once, before
//     retake acts on it: how long the P has been held (at least: sysmon
//     saw the tick move up to a round later than it did), and the stack of
//     the goroutine that holds it, sampled by a signal to its thread
//     (preempt.cpp, sample_stack), so that a user finds the tight loop or
//     the unwrapped blocking call that kept the others waiting. The P is
//     taken after 20 ms whatever the setting (preempt.cpp), which ends the
//     stall for the others: a longer setting reports only holds that
//     survive it (asyncpreemptoff=1). Off, it costs one load a round.
// sysmon's thread is also where SIGQUIT is answered (signal_unix.cpp): it
// has an M's signal stack and thread id (sysmon_running) for that.
// sysmon counts as a system M (sched.nmsys): checkdead does not take it for
// a thread at work. Its deep sleep ends when a P leaves the idle list
// (pidleget): a G that I/O readied may need preempting as any other, and
// no timer bounds that sleep. Such a wakeup keeps the sleep sysmon had
// reached, up to 10 ms, which is enough to end a 10 ms time slice: a
// server whose Ps go idle between requests would otherwise restart the
// 20 us rounds each time, and sysmon take thousands of wakeups a second
// from the cores that serve. gort: no GC duties.
//
// Orders. retake's status load is acquire, pairing with the p.status
// release stores and with entersyscall's seq_cst store (proc.cpp, "Orders"):
// a P seen in Psyscall shows what its M did before the call; its CAS out of
// Psyscall is acq_rel for the same reason, and one CAS wins against
// exitsyscallfast's and stop_the_world's. p.m is loaded acquire, pairing
// with acquirep's release (a new extra M seen whole). schedtick,
// syscalltick, nmspinning and npidle are read relaxed: they only time and
// gate sysmon's guesses, and a stale one costs a round. p.preempt and the
// preemption counts are relaxed: a request (proc.cpp) and stats. The sleep:
// sysmonwait is written under sched.lock, and its readers under the lock
// need no order (entersyscall's unlocked one is a hint, proc.cpp); the
// unlocked npidle test before deep_sleep is checked again under the lock.
// stop's acquire loads pair with main_exit's fetch_or. sysmon_started and
// sysmon_live are published with release and read with acquire
// (sysmon_running): a signal handler that finds sysmon's M finds its
// procid and signal stack.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <ctime>

#include "runtime/export_test.hpp"
#include "runtime/netpoll.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/signal_unix.hpp"
#include "runtime/stack.hpp"
#include "runtime/time.hpp"
#include "runtime/trace.hpp"

namespace gort::rt {
namespace {

constexpr std::int64_t force_preempt_ns = 10'000'000;  // Go's forcePreemptNS
constexpr std::int64_t force_handoff_ns = 20'000'000;  // then take the P (gort)
constexpr std::int64_t reask_ns = 1'000'000;           // one request per P per ms at most
constexpr std::int64_t syscall_keep_ns = 10'000'000;   // retake's 10 ms for a syscall
constexpr std::int64_t max_deep_sleep_ns = 60'000'000'000;  // Go: forcegcperiod / 2
constexpr std::int64_t scavenge_period_ns = 1'000'000'000;
constexpr std::int64_t netpoll_stale_ns = 10'000'000;  // Go: sysmon polls after 10 ms
constexpr std::int64_t waitsince_period_ns = 10'000'000'000;
constexpr std::int64_t stall_sample_wait_ns = 100'000'000;  // a stall report's wait for its stack

note sysmonnote;      // woken by sysmon_stop and sysmon_wake
m* sysmon_m = nullptr;
// sysmon_running's: sysmon's M from sysmon_start until its thread exits,
// and the same once the thread has its id and signal stack.
std::atomic<m*> sysmon_started{nullptr};
std::atomic<m*> sysmon_live{nullptr};
std::atomic<std::uint64_t> netpolls_found{0};  // sysmon_netpolls (export_test.hpp)

// stampwaitsince: markwaitsince, if a period has passed since the last.
void stampwaitsince(std::int64_t now, std::int64_t& next) {
  if (now < next) return;
  markwaitsince(now);
  next = now + waitsince_period_ns;
}

// sysmontick: what sysmon saw of a P last round (Go: p.sysmontick).
struct sysmontick {
  std::uint32_t schedtick = 0;
  std::int64_t schedwhen = 0;
  std::uint32_t syscalltick = 0;
  std::int64_t syscallwhen = 0;
  std::int64_t askwhen = 0;     // the last preemptm for it
  bool reported = false;        // this schedtick's hold has had its stall report
  // The P was running or in a system call at the last round. A P that goes
  // idle and comes back may keep its schedtick (exitsyscall takes it back
  // without a new slice, and the next G may inherit that one), so its hold
  // is timed from the round that first sees it busy again (gort; Go times
  // it from the tick's last change, and at worst asks too soon).
  bool busy = false;
};
sysmontick ticks[max_gomaxprocs];

// preemptone asks pp's running G to yield at its next runtime entry. Go
// also signals its M at once (async preemption); gort acts later, to take
// the P rather than the G (take_held_p).
void preemptone(p* pp) {
  if (!pp->preempt.load(std::memory_order_relaxed)) sched.npreempt.fetch_add(1, std::memory_order_relaxed);
  pp->preempt.store(true, std::memory_order_relaxed);
  if (trace_on()) [[unlikely]]
    trace_preempt(pp);
}

// take_held_p: pp has run one time slice for 20 ms without a runtime
// entry: ask its M to give the P up (preempt.cpp). True if asked.
bool take_held_p(p* pp, sysmontick& pd, std::int64_t now) {
  if (pd.schedwhen + force_handoff_ns > now || pd.askwhen + reask_ns > now) return false;
  m* mp = pp->m.load(std::memory_order_acquire);  // an extra M may be new (needm): see acquirep
  if (mp == nullptr) return false;
  pd.askwhen = now;
  const bool took = preemptm(mp, pp, pd.schedtick);
  if (trace_on() && took) [[unlikely]]
    trace_handoff(pp, true);
  return true;
}

// stallreport prints pp's stall (see the top of the file): how long it has
// been held, then the goroutine's header, its stack and its creator, as a
// traceback shows a running goroutine.
void stallreport(p* pp, std::int64_t held_ns, std::int64_t now) {
  m* mp = pp->m.load(std::memory_order_acquire);
  if (mp == nullptr) return;
  const int level = gotraceback(throw_type::user).level;
  pcbuf buf;
  g* gp = nullptr;
  const bool sampled = level > 0 && sample_stack(mp, buf, &gp, stall_sample_wait_ns);
  printer pr(2, stack_lo_of(sysmon_m));
  pr.str("gort: stall: P ")
      .dec(static_cast<std::int64_t>(pp->id))
      .str(" held for ")
      .dec(held_ns / 1'000'000)
      .str(" ms without a switch\n");
  if (level == 0) return;
  if (!sampled || gp == nullptr) {
    pr.str("(no stack: its thread did not answer the signal in time, or ran no goroutine)\n\n");
    return;
  }
  const gsnap s = snapshot(gp);
  goroutineheader(pr, s, now, true);
  traceback(pr, buf, level);
  printcreatedby(pr, s, level);
  pr.str("\n");
}

int retake(std::int64_t now) {
  int n = 0;
  const std::int32_t procs = allp_len();
  for (std::int32_t i = 0; i < procs; ++i) {
    p* pp = allp[i];
    sysmontick& pd = ticks[i];
    const pstatus s = pp->status.load(std::memory_order_acquire);
    bool sysretake = false;
    if (s == pstatus::Prunning || s == pstatus::Psyscall) {
      deferred_wakep_sysmon(pp, now);
      const std::uint32_t t = pp->schedtick.load(std::memory_order_relaxed);
      if (pd.schedtick != t || !pd.busy) {
        pd.schedtick = t;
        pd.schedwhen = now;
        pd.reported = false;
        pd.busy = true;
      } else if (debug.stallreport > 0 && !pd.reported && s == pstatus::Prunning &&
                 now - pd.schedwhen >= std::int64_t{debug.stallreport} * 1'000'000) {
        pd.reported = true;
        stallreport(pp, now - pd.schedwhen, now);
      }
      if (pd.schedtick == t && pd.schedwhen + force_preempt_ns <= now) {
        preemptone(pp);
        sysretake = true;  // a syscall this long need not wait another round
        if (s == pstatus::Prunning && !debug.asyncpreemptoff && take_held_p(pp, pd, now)) ++n;  // look again soon
      }
    } else {
      pd.busy = false;
    }
    if (s != pstatus::Psyscall) continue;
    const std::uint32_t t = pp->syscalltick.load(std::memory_order_relaxed);
    if (!sysretake && pd.syscalltick != t) {
      pd.syscalltick = t;
      pd.syscallwhen = now;
      continue;
    }
    if (pp->runq.empty() &&
        sched.nmspinning.load(std::memory_order_relaxed) + sched.npidle.load(std::memory_order_relaxed) > 0 &&
        pd.syscallwhen + syscall_keep_ns > now)
      continue;
    // Count sysmon as running while the P is between its M and the next
    // (Go's incidlelocked(-1) here): otherwise the M we take it from can
    // return from its call, find no P, go idle and, the last M counted as
    // running, report a deadlock with its G still runnable.
    sched.lock.lock();
    incidlelocked(-1);
    sched.lock.unlock();
    pstatus expected = pstatus::Psyscall;
    if (pp->status.compare_exchange_strong(expected, pstatus::Pidle, std::memory_order_acq_rel)) {
      pp->syscalltick.fetch_add(1, std::memory_order_relaxed);
      ++n;
      sched.nhandoff_syscall.fetch_add(1, std::memory_order_relaxed);
      if (trace_on()) [[unlikely]]
        trace_handoff(pp, false);
      handoffp(pp);
    }
    sched.lock.lock();
    incidlelocked(1);
    sched.lock.unlock();
  }
  return n;
}

// sysmon_netpoll: goroutines wait on I/O and nobody has polled for 10 ms
// (every M is busy, none blocks in netpoll): poll without blocking and
// hand out what is ready. Go: sysmon's netpoll.
void sysmon_netpoll(std::int64_t now) {
  std::int64_t last = sched.lastpoll.load(std::memory_order_relaxed);
  if (last == 0 || last + netpoll_stale_ns >= now || !netpoll_anywaiters()) return;
  sched.lastpoll.compare_exchange_strong(last, now, std::memory_order_seq_cst);  // the load: a hint
  glist list;
  netpoll(0, list);
  if (list.empty()) return;
  netpolls_found.fetch_add(1, std::memory_order_relaxed);
#ifdef GORT_CHECKED
  // Hold open the gap in which the Gs are in sysmon's hands alone, so that
  // NetpollTest.SysmonPollIsNoDeadlock parks its last running G inside it.
  const timespec gap{0, 20'000'000};
  nanosleep(&gap, nullptr);
#endif
  // Count sysmon as running while the Gs are between the poll and the
  // Ms that injectglist starts (as retake does).
  sched.lock.lock();
  incidlelocked(-1);
  sched.lock.unlock();
  inject_polled(nullptr, list);
  sched.lock.lock();
  incidlelocked(1);
  sched.lock.unlock();
}

// deep_sleep: every P is idle; sleep until the earliest timer (at most 60 s)
// or a wakeup. True if woken for a system call or a start of the world
// (then the caller restarts its short delays); a P that left the idle list
// only needs watching for its time slice, which the delays sysmon had
// reached still do. next_waitsince: sysmon's (stampwaitsince).
bool deep_sleep(std::int64_t now, std::int64_t& next_waitsince) {
  sched.lock.lock();
  // All three change only under sched.lock, held: relaxed.
  const bool idle = (sched.stop.load(std::memory_order_relaxed) & stop_gcwaiting) ||
                    sched.npidle.load(std::memory_order_relaxed) == sched.gomaxprocs.load(std::memory_order_relaxed);
  if (!idle) {
    sched.lock.unlock();
    return false;
  }
  sched.sysmonwait.store(true, std::memory_order_seq_cst);
  sched.sysmon_rush = false;
  sched.lock.unlock();
  std::int64_t sleep = max_deep_sleep_ns;
  if (const std::int64_t next = time_sleep_until(); next != 0)
    sleep = std::min(sleep, std::max<std::int64_t>(0, next - now));
  if (sleep >= scavenge_period_ns) stack_scavenge(true);
  stampwaitsince(now, next_waitsince);  // nobody parks while every P is idle
  sysmonnote.tsleep(sleep);
  sched.lock.lock();
  sched.sysmonwait.store(false, std::memory_order_seq_cst);
  // Relaxed: main_exit sets stop_exiting before sysmon_stop's wakeup under
  // this lock, so a wakeup this clear could erase has its exit bit seen.
  if (!(sched.stop.load(std::memory_order_relaxed) & stop_exiting)) sysmonnote.clear();
  const bool rush = sched.sysmon_rush;
  sched.lock.unlock();
  return rush;
}

void sysmon() {
  const std::int64_t trace_every = std::int64_t(debug.schedtrace) * 1000000;
  std::int64_t next_trace = runtime_init_time;  // the first line at the first round: "SCHED 0ms", as Go's
  std::int64_t next_scavenge = nanotime() + scavenge_period_ns;
  std::int64_t next_waitsince = nanotime() + waitsince_period_ns;
  std::int64_t delay = 0;  // ns
  int idle = 0;            // rounds that found nothing to do
  for (;;) {
    if (idle == 0)
      delay = 20'000;
    else if (idle > 50)
      delay = std::min<std::int64_t>(delay * 2, 10'000'000);
    if (second_look_since.load(std::memory_order_relaxed) != 0)
      delay = std::min(delay, second_look_ns);  // on time for it
    if (sysmonnote.tsleep(delay) || sched.stop.load(std::memory_order_acquire) & stop_exiting) return;
    std::int64_t now = nanotime();
    if (debug.schedtrace <= 0 &&
        sched.npidle.load(std::memory_order_relaxed) == sched.gomaxprocs.load(std::memory_order_relaxed)) {
      if (deep_sleep(now, next_waitsince)) {
        idle = 0;
        delay = 20'000;
      }
      if (sched.stop.load(std::memory_order_acquire) & stop_exiting) return;
      now = nanotime();
    }
    sysmon_netpoll(now);
    idle = retake(now) != 0 ? 0 : idle + 1;
    second_look(now);
    if (now >= next_scavenge) {
      stack_scavenge(false);
      next_scavenge = now + scavenge_period_ns;
    }
    stampwaitsince(now, next_waitsince);
    if (trace_every > 0 && now >= next_trace) {
      schedtrace(debug.scheddetail > 0);
      next_trace += trace_every;
    }
  }
}

// sysmon_mstart is sysmon's thread (its mstart): a signal stack and a
// thread id, as minit gives an M, then the loop. It starts with every
// signal blocked (a SIGQUIT that found it before it is known as sysmon's
// would wait for itself: sysmon_running) and unblocks sigmask, its
// creator's, once it is.
void sysmon_mstart(m* mp, sigset_t sigmask) {
  minit_signals(mp);
  minit_preempt(mp);
  sysmon_live.store(mp, std::memory_order_release);
  pthread_sigmask(SIG_SETMASK, &sigmask, nullptr);
  sysmon();
  sysmon_live.store(nullptr, std::memory_order_release);
  sysmon_started.store(nullptr, std::memory_order_release);
  mp->procid = 0;  // freezetheworld signals no thread that has gone
  munmap_signals(mp);
}

}  // namespace

m* sysmon_running() {
  // A signal may come while sysmon's thread starts (run() has just begun):
  // wait for it, 1 s at most.
  const timespec ms{0, 1'000'000};
  for (int i = 0; i < 1000 && sysmon_live.load(std::memory_order_acquire) == nullptr &&
                  sysmon_started.load(std::memory_order_acquire) != nullptr;
       ++i)
    nanosleep(&ms, nullptr);
  return sysmon_live.load(std::memory_order_acquire);
}

void sysmon_start() {
  if (debug.sysmonoff) return;
  sysmonnote.clear();
  // As if sysmon had looked at every P just now: a P whose schedtick is
  // still 0 has not run for 10 ms yet.
  const std::int64_t now = nanotime();
  std::fill(std::begin(ticks), std::end(ticks), sysmontick{0, now, 0, now, 0});
  sched.lock.lock();
  m* mp = new m;
  mcommoninit(mp);
  ++sched.nmsys;
  sysmon_m = mp;
  sysmon_started.store(mp, std::memory_order_release);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  mp->thread = newosproc([mp, old] { sysmon_mstart(mp, old); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  sched.lock.unlock();
}

void sysmon_stop() {
  if (sysmon_m == nullptr) return;
  sysmon_m = nullptr;
  sched.lock.lock();
  if (!sysmonnote.is_set()) sysmonnote.wakeup();
  sched.lock.unlock();
}

void sysmon_wake_locked(bool rush) GORT_REQUIRES(sched.lock) {
  assert_lock_held(&sched.lock);
  if (rush) sched.sysmon_rush = true;
  if (!sched.sysmonwait.load(std::memory_order_relaxed)) return;
  sched.sysmonwait.store(false, std::memory_order_relaxed);
  if (!sysmonnote.is_set()) sysmonnote.wakeup();
}

std::uint64_t sysmon_netpolls() { return netpolls_found.load(std::memory_order_relaxed); }

}  // namespace gort::rt
