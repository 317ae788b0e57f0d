// preempt.cpp: taking the P from a goroutine that keeps it without entering
// the runtime. Go counterpart: preemptM and doSigPreempt (signal_unix.go),
// with the hand-off of retake (proc.go).
//
// The problem. A goroutine gives its P back only inside the runtime: when it
// parks, yields, or calls blocking(). sysmon's cooperative request (p.preempt,
// after 10 ms) waits for the next runtime entry too. A goroutine in a tight
// loop, or in a plain blocking system call the program did not wrap in
// blocking() (a read on a pipe, std::this_thread::sleep_for, a std::mutex),
// keeps its P, and with it the run queue, the timers and, at GOMAXPROCS=1,
// the whole program. Go solves it with a signal too, but its handler moves
// the goroutine to a safe point its compiler laid out; C++ code has none.
//
// gort's answer is to treat such a goroutine as if it had called blocking()
// at the moment it is found: its M keeps running it, without a P, and the P
// goes to another M, exactly as retake takes a P from a long system call.
//   1. sysmon (retake) sees a P whose schedtick has not moved for 20 ms
//      (twice Go's forcePreemptNS: the cooperative request came first, at
//      10 ms) and asks its M (preemptm), at most once a millisecond.
//   2. If the M is running its goroutine's own code (m.in_user, below),
//      the P is put in syscall state as entersyscall would (G Grunning ->
//      Gsyscall, P Prunning -> Psyscall, the M keeps it in oldp). If it
//      is in the runtime, nothing happens, and sysmon asks again.
//   3. sysmon's next round finds the P in Psyscall with a stale schedtick
//      and hands it off (handoffp) to a new or idle M, which runs the
//      queued goroutines and the timers.
//   4. The goroutine's next runtime entry (entry_guard) is exitsyscall: it
//      takes the old P back if nobody took it, or an idle one, or waits on
//      the global run queue while its M sleeps.
//
// m.in_user is the boundary. It is true exactly while the M runs its curg's
// own code: set when a goroutine's function starts (user_enter) and when a
// public entry point returns (entry_guard's destructor), cleared when one is
// entered or the function returns. Inside those brackets the runtime may be
// halfway through an update of its P (a run queue push, a timer heap), hold
// runtime locks, or run on g0; outside them it touches no runtime state, so
// step 2 may.
//
// Step 2 is a handshake between two threads, sysmon and the M, as JVMs
// reach safepoints (and as folly's asymmetric barriers and liburcu work):
//   sysmon: handoff = requested; membarrier(PRIVATE_EXPEDITED); read in_user
//   M:      in_user = false;     (compiler barrier only);       read handoff
// This is Dekker's pattern, which needs a full fence on both sides between
// the store and the load; membarrier runs one on every CPU that is running
// a thread of the process, at some point during the call, so the M's
// fast path pays none. Either the M's store came before that point, and
// sysmon sees in_user false and withdraws its request; or the M's load
// comes after it, and the M sees the request. Both may happen; then the
// two race on a CAS of handoff: the M's requested -> none (it refuses, being
// in the runtime) or sysmon's requested -> taking. Having won, sysmon does
// step 2 for the M, which cannot touch its P meanwhile: it is in user code,
// or at the start of an entry, waiting for taking -> taken (handoff_wait).
// in_user = true is a release store and sysmon's read an acquire load, so
// what the M wrote before leaving the runtime is visible to sysmon's
// rewrite; taken is published with release and read with acquire. The
// membarrier is one system call for sysmon, made only when a P has been
// held for 20 ms; the M's side adds one load of a line it already holds to
// an outer runtime entry. Nothing interrupts the M: its system calls (poll,
// nanosleep, epoll_wait, sem_timedwait, futex waits) run undisturbed, and
// third-party code that does not retry on EINTR keeps working.
//
// Where membarrier is missing (Linux before 4.14, a seccomp filter) or
// GODEBUG=preemptsignal=1 asks, step 2 is done by a signal, SIGURG as Go's:
// its handler, on the M, does the same if in_user is set.
// The flag's writer and reader are then one thread, and the compiler
// barriers are all the ordering it needs. SA_RESTART restarts most
// interrupted system calls, but those that never restart (poll,
// epoll_wait, nanosleep, futex waits with a timeout) fail with EINTR. A
// program that installs its own SIGURG handler during run() turns that
// mode off; one installed before gets the SIGURGs sysmon did not send
// (signal_unix.cpp). In the handshake mode gort does not touch SIGURG.
//
// Stall reports (sysmon.cpp) sample the stack of a goroutine that holds its
// P by the same signal, handled only while GODEBUG=stallreport is on: the
// handler, on the M's thread, unwinds the interrupted code into one buffer
// (callers: no allocation, no lock) and sysmon prints it. One sample at a
// time: mp->stallsample says which M's handler may write the buffer, and
// the handler that takes the flag owns it until it publishes done.
//
// Orders, beyond the handshake's own above (in_user's release and acquire,
// taken's release and acquire, the membarrier as the M's fence):
//   - runtime_enter's loads and stores are relaxed: in_user has one writer,
//     the M's thread (its handler included), and the load of handoff is
//     Dekker's, whose fence sysmon's membarrier supplies. A request seen
//     there sends the M to handoff_wait, whose acquire loads order the rest.
//   - handshake: the first CAS (none -> requested) is relaxed, the
//     membarrier after it being what makes it visible in time; the CAS to
//     taking is acquire, more than needed after in_user's acquire; the
//     withdrawals (requested -> none, by sysmon or the M) publish nothing.
//     handoff_wait's relaxed store of none after taken is read only by
//     sysmon's next handshake, ordered by its own membarrier and acquire.
//   - take_p reads the P's status and the tick relaxed: the M is held (in
//     user code or in handoff_wait), and in_user's acquire ordered its
//     writes; on the signal's path writer and reader are one thread.
//   - The stall sample: sample_stack's release store of stallsample pairs
//     with the handler's acquire exchange (done's reset comes before it),
//     and the handler's release store of done with sample_stack's acquire
//     load, which publishes buf and gp. sysmon's withdrawals are relaxed:
//     the exchange picks who owns the buffer, and a loser reads nothing.
//   - The handler's traceseq stores keep this thread's own trace events out
//     (trace.cpp, "Stopping"): the odd one is read only by this thread, the
//     release restoring it pairs with trace_stop's acquire, as an event's.
//   - p.preempt (entry_guard) is sysmon's request, relaxed: one missed is
//     seen at the next entry; preempt_yields and nhandoff_held are counts.
//
// Because step 2 happens only to code that holds no runtime lock, it may
// take sched.lock as entersyscall does. A fatal report marks its M as in the
// runtime first (panic.cpp, start_dying). The cost, which the guarantee pays
// only while it lasts: one more thread per goroutine so treated (the M that
// goes on running it). User code that runs from inside a runtime entry (a
// channel element's move constructor, a closure's destructor when its
// goroutine exits) is not covered; nor is the time before a hold is found
// (20 ms and up to one sysmon round).
#include "runtime/preempt.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "runtime/lock_futex.hpp"
#include "runtime/panic.hpp"
#include "runtime/signal_unix.hpp"

namespace gort::rt {
namespace {

bool use_signal = true;             // written by preempt_init before any M runs

// take_p is step 2, on the M's behalf (sysmon, having won the handshake) or
// on its own thread (the signal's handler): entersyscall for a goroutine
// found running its own code with pp.
bool take_p(m* mp, p* pp) {
  g* gp = mp->curg;
  if (gp == nullptr || mp->p != pp || gp->status() != gstatus::Grunning ||
      pp->status.load(std::memory_order_relaxed) != pstatus::Prunning)
    return false;
  entersyscall(gp);
  sched.nhandoff_held.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// The stall sample (sample_stack): the buffer, the G it shows, and done,
// which publishes both to sysmon.
struct stall_sample {
  pcbuf buf;
  g* gp = nullptr;
  std::atomic<bool> done{false};
};
stall_sample stall;

}  // namespace

// do_sig_preempt: a stall sample if sysmon asked this M for one; step 2 if
// the signal is how sysmon takes Ps and it landed in user code.
void do_sig_preempt(void* uctx) {
  m* mp = getm();
  if (mp != nullptr && mp->stallsample.exchange(false, std::memory_order_acquire)) {
    stall.gp = mp->curg;
    callers(stall.buf, fault_pc(uctx), true);
    stall.done.store(true, std::memory_order_release);
  }
  if (use_signal && mp != nullptr && mp->in_user.load(std::memory_order_relaxed) && mp->p != nullptr) {
    // The handler records no trace events: it may have interrupted one,
    // and a full buffer's flush allocates (trace.cpp, "Stopping").
    const std::uint32_t seq = mp->traceseq.load(std::memory_order_relaxed);
    mp->traceseq.store(seq | 1, std::memory_order_relaxed);
    take_p(mp, mp->p);
    mp->traceseq.store(seq, std::memory_order_release);
  }
}

namespace {

// handshake is sysmon's half: true if it took pp from mp.
bool handshake(m* mp, p* pp, std::uint32_t tick) {
  std::uint32_t s = handoff_none;
  // Not none: the M has not yet seen an earlier take (it is still in user
  // code, and the P no longer its own).
  if (!mp->handoff.compare_exchange_strong(s, handoff_requested, std::memory_order_relaxed)) return false;
  membarrier_all();
  s = handoff_requested;
  if (!mp->in_user.load(std::memory_order_acquire) ||
      !mp->handoff.compare_exchange_strong(s, handoff_taking, std::memory_order_acquire)) {
    s = handoff_requested;
    mp->handoff.compare_exchange_strong(s, handoff_none, std::memory_order_relaxed);
    return false;
  }
  const bool took = pp->schedtick.load(std::memory_order_relaxed) == tick && take_p(mp, pp);
  mp->handoff.store(took ? handoff_taken : handoff_none, std::memory_order_release);
  return took;
}

}  // namespace

void handoff_wait(m* mp) noexcept {
  for (int spins = 0;; ++spins) {
    std::uint32_t s = mp->handoff.load(std::memory_order_acquire);
    switch (s) {
      case handoff_none:
        return;
      case handoff_requested:
        if (mp->handoff.compare_exchange_strong(s, handoff_none, std::memory_order_relaxed)) return;
        break;
      case handoff_taken:
        mp->handoff.store(handoff_none, std::memory_order_relaxed);
        return;
      default:  // taking: sysmon is putting the P in syscall state, a few stores
        if (spins < 64)
          procyield(1);
        else
          osyield();
    }
  }
}

void preempt_init() {
  use_signal = debug.preemptsignal != 0 || !membarrier_available();
  if (use_signal || debug.stallreport > 0) signals_init_preempt();
}

bool preempt_uses_signal() { return use_signal; }

void minit_preempt(m* mp) { mp->procid = static_cast<std::int32_t>(syscall(SYS_gettid)); }

bool sample_stack(m* mp, pcbuf& buf, g** gp, std::int64_t wait_ns) {
  stall.done.store(false, std::memory_order_relaxed);
  mp->stallsample.store(true, std::memory_order_release);
  if (syscall(SYS_tgkill, getpid(), mp->procid, sigpreempt) != 0) {
    mp->stallsample.store(false, std::memory_order_relaxed);
    return false;
  }
  const std::int64_t deadline = nanotime() + wait_ns;
  while (!stall.done.load(std::memory_order_acquire)) {
    // Not taken yet: withdraw. Taken: the handler is unwinding; wait for it.
    if (nanotime() >= deadline && mp->stallsample.exchange(false, std::memory_order_relaxed)) return false;
    osyield();
  }
  buf = stall.buf;
  *gp = stall.gp;
  return true;
}

bool preemptm(m* mp, p* pp, std::uint32_t tick) {
  if (!use_signal) return handshake(mp, pp, tick);
  // tgkill, not pthread_kill: an M never exits while run() lasts, and the
  // thread id stays valid to signal even if the M were gone.
  syscall(SYS_tgkill, getpid(), mp->procid, sigpreempt);
  return false;
}

}  // namespace gort::rt
