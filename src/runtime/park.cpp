// park.cpp: parking and readying goroutines, the one blocking primitive of
// the runtime. Go counterpart: gopark, goparkunlock, park_m, goready and ready
// in proc.go. Channels, semaphores, timers and the netpoller all block
// through gopark and wake through goready.
//
// gopark marks the running G Gwaiting and leaves it (schedule_from). What Go's
// park_m does on g0 after the switch, calling unlockf, gort does in the
// afterswitch of the context that runs next (park_commit): only then is the
// G off its stack, so only then may unlockf release the lock that lets a
// waker find it. Until unlockf returns nobody can ready the G; once it has,
// the G may be readied, and run on another M, at any moment.
//
// goready puts the G in the readier's runnext: it runs as soon as the
// readier blocks or yields, inheriting its time slice, so a pair of
// goroutines that hand values back and forth stays on one P and one cache.
#include "runtime/panic.hpp"
#include "runtime/proc.hpp"
#include "runtime/trace.hpp"

namespace gort::rt {
namespace {

void park_commit(m* mp, g* gp, void*) {
  unlockf_t unlockf = mp->waitunlockf;
  void* arg = mp->waitlock;
  mp->waitunlockf = nullptr;
  mp->waitlock = nullptr;
  if (unlockf && !unlockf(gp, arg)) {
    // The park was cancelled; Go runs gp again at once, gort next.
    casgstatus(gp, gstatus::Gwaiting, gstatus::Grunnable);
    runqput(mp->p, gp, true);
  }
}

// Not analyzed: it releases the lock goparkunlock's caller took, in another
// context (after the switch), through an untyped argument.
bool parkunlock_c(g*, void* lock) GORT_NO_THREAD_SAFETY_ANALYSIS {
  static_cast<mutex*>(lock)->unlock();
  return true;
}

}  // namespace

void gopark(unlockf_t unlockf, void* arg, wait_reason reason) {
  g* gp = getg();
  m* mp = gp->m;
  gp->waitreason = reason;
  // Relaxed: a stamp only tracebacks read (runtime2.hpp, g::waitsince).
  gp->waitsince.store(0, std::memory_order_relaxed);  // sysmon stamps it (markwaitsince)
  mp->waitunlockf = unlockf;
  mp->waitlock = arg;
  casgstatus(gp, gstatus::Grunning, gstatus::Gwaiting);
  mp->afterswitch.set(&park_commit, gp, nullptr);
  schedule_from(mp, gp, false);
}

// Not analyzed: parkunlock_c releases lock, after the switch.
void goparkunlock(mutex* lock, wait_reason reason) GORT_NO_THREAD_SAFETY_ANALYSIS {
  gopark(&parkunlock_c, lock, reason);
}

void goready(g* gp) { goready(getm(), gp); }

void goready(m* mp, g* gp) {
  casgstatus(gp, gstatus::Gwaiting, gstatus::Grunnable);
  if (trace_on()) [[unlikely]]
    trace_go_unpark(mp, gp);
  if (mp == nullptr || mp->p == nullptr) [[unlikely]]
    return injectg(gp);
  runqput(mp->p, gp, true);
  wakep();
}

// Indexed by wait_reason, in the enum's order. Unsized: a count that differs
// from num_wait_reasons conflicts with the declaration, a compile error.
const char* const wait_reason_strings[] = {
    "",                         // zero
    "chan receive (nil chan)",  // chan_receive_nil_chan
    "chan send (nil chan)",     // chan_send_nil_chan
    "select",                   // select
    "select (no cases)",        // select_no_cases
    "chan receive",             // chan_receive
    "chan send",                // chan_send
    "semacquire",               // semacquire
    "sleep",                    // sleep
    "sync.Cond.Wait",           // sync_cond_wait
    "sync.Mutex.Lock",          // sync_mutex_lock
    "sync.RWMutex.RLock",       // sync_rwmutex_rlock
    "sync.RWMutex.Lock",        // sync_rwmutex_lock
    "sync.WaitGroup.Wait",      // sync_waitgroup_wait
    "IO wait",                  // io_wait
};

const char* wait_reason_string(wait_reason r) {
  const auto i = static_cast<std::size_t>(r);
  return i < num_wait_reasons ? wait_reason_strings[i] : "?";
}

}  // namespace gort::rt
