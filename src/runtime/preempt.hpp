// preempt.hpp: the boundary between a goroutine's own code and the runtime,
// and how sysmon takes the P of a goroutine that never crosses it. See the
// design comment in preempt.cpp.
#pragma once

#include <atomic>
#include <optional>

#include "runtime/proc.hpp"
#include "runtime/traceback.hpp"

namespace gort::rt {

// entersyscall / exitsyscall (proc.cpp): also the hand-off's two halves.
void entersyscall(g* gp);
void exitsyscall(g* gp);

// handoff_state: mp->handoff, sysmon's side of the handshake that takes the
// P of an M running user code (preempt.cpp). sysmon moves it none ->
// requested -> taking -> taken (or back to none); the M, entering the
// runtime, moves requested -> none (refused: it is in the runtime now) and
// taken -> none (it has seen its P go).
enum handoff_state : std::uint32_t { handoff_none, handoff_requested, handoff_taking, handoff_taken };

// handoff_wait: the entry's slow path, when sysmon has a handshake under way
// with this M.
void handoff_wait(m* mp) noexcept;

// runtime_enter: the M leaves its goroutine's own code for the runtime's.
// True if it was in user code (the caller is the outermost entry). The
// store and the load after it are the M's half of the handshake: plain
// instructions with only the compiler kept from reordering them; sysmon's
// membarrier supplies the fence between them when it matters (preempt.cpp).
// Relaxed: in_user has no writer but this thread (preempt.cpp, "Orders").
inline bool runtime_enter(m* mp) {
  const bool user = mp->in_user.load(std::memory_order_relaxed);
  if (user) {
    mp->in_user.store(false, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (mp->handoff.load(std::memory_order_relaxed) != handoff_none) [[unlikely]]
      handoff_wait(mp);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  return user;
}

// runtime_leave: back to the goroutine's own code, if user (gp->m: the G
// may have moved to another M meanwhile). Release: sysmon, seeing the flag,
// may rewrite the M's P and the G's status.
inline void runtime_leave(g* gp, bool user) {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (user) gp->m->in_user.store(true, std::memory_order_release);
}

// entry_guard opens every public entry point of the runtime that may touch
// its P or its scheduling state, before anything else, and lives to its
// end. On construction it marks the M as in the runtime (sysmon then leaves
// its P alone) and, if sysmon took the P while the goroutine ran its own
// code, gets a P back (exitsyscall; the goroutine may
// have to wait for one). Else, coming from user code, it is a cooperative
// preemption point (p.preempt, set by sysmon): Go honours sysmon's request in every
// function prologue, gort at every entry. From inside blocking() it borrows
// a P for the call, and gives it back on destruction. On destruction it marks the M as
// running user code again, if it was when the guard was made: nested entry
// points (Once's lock, a timer's channel) leave the mark to the outermost.
//
// An entry that finds its M already in the runtime, holding its P, is
// nested: a runtime function calling another's entry, or a signal handler
// calling into gort after interrupting the runtime, which entry_nested
// refuses.
//
// The constructor with a name throws std::logic_error off a goroutine (as
// acquireg); the one with a G tolerates nullptr (g0, or a thread the runtime
// did not start, where there is no P to protect). Either throws if the G is
// an extra M's whose wait for a P run()'s end cut short (enter, below).
class entry_guard {
 public:
  explicit entry_guard(const char* what) : gp(acquireg(what)) { enter(); }
  explicit entry_guard(g* gp) : gp(gp) {
    if (gp != nullptr) enter();
  }
  ~entry_guard() {
    if (gp == nullptr) return;
    if (resyscall_) [[unlikely]] {
      if (extram_leave(gp)) return;  // the end of a call from a thread calling in
      entersyscall(gp);
    }
    runtime_leave(gp, outer_);
  }
  entry_guard(const entry_guard&) = delete;
  entry_guard& operator=(const entry_guard&) = delete;

  g* const gp;

 private:
  // A goroutine's M has no P only in syscall state: inside blocking(), or
  // its P taken by sysmon.
  // Not noexcept: on an extra M, run()'s end while it waits for a P throws
  // (proc.cpp, "Extra Ms"); nothing else here throws.
  void enter() {
    m* mp = gp->m;
    outer_ = runtime_enter(mp);
    p* pp = mp->p;
    if (pp == nullptr) [[unlikely]]
      reacquire();
    else if (!outer_) [[unlikely]]
      entry_nested();
    else if (pp->preempt.load(std::memory_order_relaxed)) [[unlikely]]  // sysmon's hint
      preempted(pp);
  }
  void preempted(p* pp) {  // preempt_yields: the owner's count, for stats
    pp->preempt_yields.store(pp->preempt_yields.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    gp->preempted = true;  // the trace's label (runtime2.hpp, g::preempted)
    gosched(gp);
    gp->preempted = false;
  }
  void reacquire() {
    resyscall_ = !outer_;  // inside blocking(): give the P back at the end
    exitsyscall(gp);
  }
  bool outer_ = false;
  bool resyscall_ = false;
};

// waker_guard is the entry of the wakers that any thread may call, with or
// without a goroutine of its own: Mutex::unlock, WaitGroup's last done,
// Cond::signal and broadcast (semrelease and the notify list), which are
// noexcept or unlock paths. On a goroutine it is entry_guard. On a thread
// the runtime did not start it makes the wake a call of the thread's extra
// M (extram_call), as any other entry from such a thread: run()'s end waits
// for the call before it frees the goroutines being woken (proc.cpp, "The
// end of a run"). When the run is ending, or ends while the call waits for
// a P, there is no call: active() is false, and the waiters, the run's
// abandoned goroutines, are left asleep. On g0 (the scheduler's own
// wakes) there is nothing to guard.
class waker_guard {
 public:
  waker_guard() noexcept;
  waker_guard(const waker_guard&) = delete;
  waker_guard& operator=(const waker_guard&) = delete;
  bool active() const { return active_; }

  g* const gp;  // the calling goroutine; nullptr on g0 or a thread not the runtime's

 private:
  std::optional<entry_guard> e_;
  bool active_ = false;
};

// user_enter / user_exit bracket a goroutine's function (gort_goentry): the
// code between them is the goroutine's own. user_exit gets a P back if the
// signal took it.
inline void user_enter(g* gp) { runtime_leave(gp, true); }
// The status is relaxed: a take by sysmon was ordered by handoff_wait's
// acquire in runtime_enter, and the handler's runs on this thread.
inline void user_exit(g* gp) {
  runtime_enter(gp->m);
  if (gp->atomicstatus.load(std::memory_order_relaxed) == gstatus::Gsyscall) [[unlikely]]
    exitsyscall(gp);
}

// preempt_init chooses how sysmon takes a P (the membarrier handshake, or
// the signal where membarrier is missing or GODEBUG=preemptsignal=1 asks)
// and, for the signal, has its handler installed (SIGURG, as Go:
// signal_unix.cpp). minit_preempt records the calling thread's id in
// mp->procid.
void preempt_init();

// do_sig_preempt is what SIGURG's handler (signal_unix.cpp) does with a
// SIGURG that sysmon sent: the stall sample, if sysmon asked this M for
// one (sample_stack); step 2, if the signal is how sysmon takes Ps and it
// landed in user code. Go: doSigPreempt.
void do_sig_preempt(void* uctx);

void minit_preempt(m* mp);
bool preempt_uses_signal();

// preemptm takes pp from mp if mp is running user code with it and pp's
// schedtick is still tick: at once by the handshake (true if it took it),
// or later by the signal's handler (false). Go: preemptM. Harmless if mp
// has meanwhile entered the runtime. Called by sysmon only.
bool preemptm(m* mp, p* pp, std::uint32_t tick);

// sample_stack: the stack of whatever mp runs now, for a stall report
// (sysmon.cpp): SIGURG to its thread, whose handler fills buf and names the
// G it interrupted (*gp), waiting at most wait_ns for it. False if no
// sample came (the signal was not handled in time). Called by sysmon only,
// with GODEBUG=stallreport on (preempt_init then installs the handler).
bool sample_stack(m* mp, pcbuf& buf, g** gp, std::int64_t wait_ns);

}  // namespace gort::rt
