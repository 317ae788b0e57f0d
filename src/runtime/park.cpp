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

bool parkunlock_c(g*, void* lock) {
  static_cast<mutex*>(lock)->unlock();
  return true;
}

}  // namespace

void gopark(unlockf_t unlockf, void* arg, wait_reason reason) {
  g* gp = getg();
  m* mp = gp->m;
  gp->waitreason = reason;
  gp->waitsince.store(0, std::memory_order_relaxed);  // sysmon stamps it (markwaitsince)
  mp->waitunlockf = unlockf;
  mp->waitlock = arg;
  casgstatus(gp, gstatus::Grunning, gstatus::Gwaiting);
  mp->afterswitch.set(&park_commit, gp, nullptr);
  schedule_from(mp, gp, false);
}

void goparkunlock(mutex* lock, wait_reason reason) { gopark(&parkunlock_c, lock, reason); }

void goready(g* gp) { goready(getm(), gp); }

void goready(m* mp, g* gp) {
  casgstatus(gp, gstatus::Gwaiting, gstatus::Grunnable);
  if (trace_on()) [[unlikely]] trace_go_unpark(gp);
  if (mp == nullptr || mp->p == nullptr) [[unlikely]]
    return injectg(gp);
  runqput(mp->p, gp, true);
  wakep();
}

const char* wait_reason_string(wait_reason r) {
  switch (r) {
    case wait_reason::zero: return "";
    case wait_reason::chan_receive_nil_chan: return "chan receive (nil chan)";
    case wait_reason::chan_send_nil_chan: return "chan send (nil chan)";
    case wait_reason::select: return "select";
    case wait_reason::select_no_cases: return "select (no cases)";
    case wait_reason::chan_receive: return "chan receive";
    case wait_reason::chan_send: return "chan send";
    case wait_reason::semacquire: return "semacquire";
    case wait_reason::sleep: return "sleep";
    case wait_reason::sync_cond_wait: return "sync.Cond.Wait";
    case wait_reason::sync_mutex_lock: return "sync.Mutex.Lock";
    case wait_reason::sync_rwmutex_rlock: return "sync.RWMutex.RLock";
    case wait_reason::sync_rwmutex_lock: return "sync.RWMutex.Lock";
    case wait_reason::sync_waitgroup_wait: return "sync.WaitGroup.Wait";
    case wait_reason::io_wait: return "IO wait";
    case wait_reason::preempted: return "preempted";
    case wait_reason::stopping_the_world: return "stopping the world";
  }
  return "?";
}

}  // namespace gort::rt
