// runtime.cpp: the public face of the runtime, include/gort/runtime.hpp:
// run, go, yield, maybe_yield, goid, num_goroutine, gomaxprocs,
// lock_os_thread, set_max_threads, stats. Go counterpart: the exported
// functions of proc.go and debug.go (Gosched, GOMAXPROCS, NumGoroutine,
// LockOSThread, debug.SetMaxThreads), and rt0_go (asm_amd64.s) for run.
//
// Each function is an entry: it opens with an entry_guard (preempt.hpp),
// which checks that it runs inside run() on a goroutine (binding a thread
// the runtime did not start: proc.cpp, "Extra Ms") and is the preemption
// point, then calls into the scheduler (proc.cpp, proc.hpp). The two
// entries that read the thread's M without a call to getm, the sync types'
// check (require_goroutine) and blocking() (syscall_scope), stay in
// proc.cpp beside tls_m.
//
// run() is Go's start-up: schedinit on the calling thread, goroutine 1
// (runtime_main, then the program's function), mstart(m0), which returns
// when main has returned, then teardown. One run() at a time per process.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <new>
#include <stdexcept>
#include <utility>

#include "gort/runtime.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/signal_unix.hpp"
#include "runtime/stack.hpp"
#include "runtime/time.hpp"
#include "runtime/trace.hpp"

namespace gort {
using namespace gort::rt;

namespace {
std::atomic<bool> running{false};  // a run() is in progress in this process
}  // namespace

namespace detail {

// go() is three entries, each guarded: between them the closure is built,
// which is user code (its P may be taken meanwhile: the slot is not tied to
// a P).
newproc_slot newproc_reserve(std::size_t size, std::size_t align) {
  entry_guard e("gort::go");
  return reserve_on(e.gp->m->p, size, align);
}

// The second entries: reserve has checked the thread, and bound it if it
// was not started by the runtime ("Extra Ms").
void newproc_cancel(newproc_slot slot) noexcept {
  entry_guard e("gort::go");
  g* newg = static_cast<g*>(slot.gp);
  if (newg->fn != newg->fnbuf) std::free(newg->fn);
  newg->fn = nullptr;
  gfput(e.gp->m->p, newg);
}

std::uint64_t newproc_commit(newproc_slot slot, const funcval_ops* ops, std::uintptr_t gopc) noexcept {
  entry_guard e("gort::go");
  return rt::newproc(e.gp->m->p, static_cast<g*>(slot.gp), ops, e.gp->goid, gopc);
}

}  // namespace detail

void maybe_yield() {
  entry_guard e("gort::maybe_yield");  // the entry is the preemption point
}

void yield() {
  entry_guard e("gort::yield");
  gosched(e.gp);
}

// Out of line, and the barrier keeps a link-time optimizer from taking it
// for a const function as well.
[[gnu::noinline]] int last_errno() {
  int e = errno;
  asm volatile("" : "+r"(e) : : "memory");
  return e;
}

std::uint64_t goid() {
  entry_guard e("gort::goid");
  return e.gp->goid;
}

std::size_t num_goroutine() {
  entry_guard e("gort::num_goroutine");
  // A snapshot of counts: relaxed; gomaxprocs is read holding a P.
  std::int64_t n = static_cast<std::int64_t>(sched.allglen.load(std::memory_order_relaxed));
  sched.gfreelock.lock();
  n -= static_cast<std::int64_t>(sched.gfree.size());
  sched.gfreelock.unlock();
  const std::int32_t procs = sched.gomaxprocs.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < procs; ++i) n -= allp[i]->gfreecnt.load(std::memory_order_relaxed);
  return n < 1 ? 1 : static_cast<std::size_t>(n);
}

int gomaxprocs(int n) {
  entry_guard e("gort::gomaxprocs");
  const int old = sched.gomaxprocs.load(std::memory_order_relaxed);  // we hold a P
  if (n <= 0) return old;
  n = limit_procs(n);
  if (n == old) return old;
  m* mp = e.gp->m;
  stop_the_world(mp);
  start_the_world(mp, n);
  return old;
}

void lock_os_thread() {
  entry_guard e("gort::lock_os_thread");
  g* gp = e.gp;
  m* mp = gp->m;
  if (++mp->locked == 0) throw std::overflow_error("gort::lock_os_thread: nesting overflow");
  mp->lockedg = gp;
  gp->lockedm = mp;
}

void unlock_os_thread() {
  entry_guard e("gort::unlock_os_thread");
  g* gp = e.gp;
  m* mp = gp->m;
  if (mp->locked == 0 || --mp->locked != 0 || mp->extram) return;  // an extra M stays locked
  mp->lockedg = nullptr;
  gp->lockedm = nullptr;
}

int set_max_threads(int n) {
  entry_guard e("gort::set_max_threads");
  sched.lock.lock();
  const int old = sched.maxmcount;
  if (n > 0) sched.maxmcount = n;
  if (mcount() > sched.maxmcount) {
    printerr("runtime: program exceeds %d-thread limit\n", sched.maxmcount);
    fatal("thread exhaustion");
  }
  sched.lock.unlock();
  return old;
}

namespace {

// The parts of stats, each read at once.
static_assert(Stats::latency_buckets == latency_buckets);

void count_goroutines(Stats& s) {
  for_each_g([&s](g* gp) {
    switch (gp->status()) {
      case gstatus::Grunning:
        ++s.goroutines_running;
        break;
      case gstatus::Grunnable:
        ++s.goroutines_runnable;
        break;
      case gstatus::Gwaiting:
        ++s.goroutines_waiting;
        break;
      case gstatus::Gsyscall:
        ++s.goroutines_syscall;
        break;
      default:
        return;  // dead or never started: no stack to count
    }
    // Relaxed: a snapshot, as prefetch_next's (stack_prepare).
    if (std::atomic_ref<stack*>(gp->stk).load(std::memory_order_relaxed) != nullptr) ++s.stacks_in_use;
  });
}

// count_timers: timers.mu is taken before, never under, sched.lock.
std::size_t count_timers(std::int32_t procs) {
  std::size_t n = 0;
  for (std::int32_t i = 0; i < procs; ++i) {
    timers& ts = allp[i]->timers;
    ts.mu.lock();
    n += ts.heap.size() + (ts.run.size() - ts.run_head);
    ts.mu.unlock();
  }
  return n;
}

// ps_made: how many Ps procresize has made in this run, the first ones of
// allp, which it never frees.
std::int32_t ps_made() GORT_REQUIRES(sched.lock) {
  std::int32_t n = 0;
  while (n < max_gomaxprocs && allp[n] != nullptr) ++n;
  return n;
}

// latency_histogram sums the Ps' histograms and scales their bounds from
// cputicks to ns at the rate the ticks have kept since the run began. The
// counts are read relaxed: a snapshot.
void latency_histogram(Stats& s, std::int32_t procs) {
  const std::int64_t ticks = cputicks() - sched.ticks0, ns = nanotime() - sched.ns0;
  const double ns_per_tick = ticks > 0 && ns > 0 ? double(ns) / double(ticks) : 1.0;
  for (int i = 0; i < latency_buckets; ++i) {
    for (std::int32_t k = 0; k < procs; ++k) s.sched_latency[i] += allp[k]->latency[i].load(std::memory_order_relaxed);
    s.sched_latency_le_ns[i] = std::ldexp(ns_per_tick, i);
  }
  s.sched_latency_le_ns[latency_buckets - 1] = HUGE_VAL;
}

}  // namespace

Stats stats() {
  entry_guard e("gort::stats");
  Stats s{};
  const std::int32_t procs = allp_len();
  s.timers_pending = count_timers(procs);
  s.stacks_pooled = stacks_pooled();
  count_goroutines(s);
  // From the same pass, so that the states add up: num_goroutine's count,
  // read at another instant, need not.
  s.goroutines = s.goroutines_running + s.goroutines_runnable + s.goroutines_waiting + s.goroutines_syscall;
  // Counts, relaxed; sched.lock orders runqsize, npidle and gomaxprocs.
  sched.lock.lock();
  s.threads = static_cast<std::size_t>(mcount());
  s.global_runq = static_cast<std::size_t>(sched.runqsize.load(std::memory_order_relaxed));
  s.maxprocs = sched.gomaxprocs.load(std::memory_order_relaxed);
  s.idle_procs = sched.npidle.load(std::memory_order_relaxed);
  s.spinning_threads = sched.nmspinning.load(std::memory_order_relaxed);
  s.preempt_requests = sched.npreempt.load(std::memory_order_relaxed);
  s.handoffs_held = sched.nhandoff_held.load(std::memory_order_relaxed);
  s.handoffs_syscall = sched.nhandoff_syscall.load(std::memory_order_relaxed);
  // Every P made, those a smaller gomaxprocs left idle too: the cumulative
  // counts never go back.
  const std::int32_t made = ps_made();
  for (std::int32_t i = 0; i < made; ++i) {
    s.steals += allp[i]->steals.load(std::memory_order_relaxed);
    s.context_switches += allp[i]->context_switches.load(std::memory_order_relaxed);
    s.preempt_yields += allp[i]->preempt_yields.load(std::memory_order_relaxed);
  }
  latency_histogram(s, made);
  sched.lock.unlock();
  return s;
}

int run(std::function<void()> main_fn) { return run(Config{}, std::move(main_fn)); }

// run is rt0_go -> schedinit -> newproc(main) -> mstart for m0, the calling
// thread, whose own stack becomes m0's g0.
int run(const Config& cfg, std::function<void()> main_fn) {
  if (m* mp = getm(); mp != nullptr && !mp->extram)
    throw std::logic_error("gort::run called from a goroutine: the runtime is already running");
  bool expected = false;
  if (!running.compare_exchange_strong(expected, true))
    throw std::logic_error("gort::run called while another gort::run is in progress");

  m m0;
  schedinit(&m0, cfg);
  trace_godebug();  // before goroutine 1, whose creation it records

  // newproc(main): goroutine 1, built as gort::go builds any goroutine; it
  // runs runtime_main, then the program's function.
  main_g = malg();
  {
    using C = detail::closure<std::function<void()>>;
    static_assert(sizeof(C) <= g::fnbuf_size);
    main_g->fn = main_g->fnbuf;
    ::new (main_g->fnbuf) C{[fn = std::move(main_fn)] {
                              runtime_main();
                              fn();
                            },
                            {}};
    rt::newproc(m0.p, main_g, &C::ops, 0, 0);  // goroutine 1 has no "created by"
  }

  mstart(&m0);  // returns when main has returned

  trace_stop();  // a trace still running ends with the run
  teardown(&m0);
  signals_restore();
  // Release: the next run()'s CAS (seq_cst) sees this run's teardown done.
  running.store(false, std::memory_order_release);
  return 0;
}

}  // namespace gort
