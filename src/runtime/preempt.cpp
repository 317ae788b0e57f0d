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
//      10 ms) and sends SIGURG to its M (preemptm), at most once a
//      millisecond.
//   2. The handler, on that M, acts only if the M is running its
//      goroutine's own code (m.in_user, below): then it does what
//      entersyscall does (G Grunning -> Gsyscall, P Prunning -> Psyscall,
//      the M keeps it in oldp). Elsewhere, it does nothing, and sysmon
//      tries again.
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
// the handler may. The flag is written by the M and read by its own signal
// handler, on the same thread: a relaxed atomic with signal fences (compiler
// barriers) is all the ordering it needs; with the P check and the
// cooperative preemption check it shares a load with, an entry_guard costs
// about 18 instructions per channel operation (docs/PERFORMANCE.md).
// Because the handler interrupts only code that holds no runtime lock, it
// may take sched.lock as entersyscall does. A fatal report marks its M as
// in the runtime first (panic.cpp, start_dying).
//
// The cost, which the guarantee pays only while it lasts: one more thread
// per goroutine so treated (the M that goes on running it), and a signal.
// SA_RESTART restarts most interrupted system calls; those that never
// restart (poll, epoll_wait, nanosleep, futex waits with a timeout) return
// EINTR, as they do for any signal, and std::this_thread::sleep_for and
// well-written loops retry. A program that installs its own SIGURG handler
// turns this off. User code that runs from inside a runtime entry (a
// channel element's move constructor, a closure's destructor when its
// goroutine exits) is not covered; nor is the time before a hold is found
// (20 ms and up to one sysmon round).
#include "runtime/preempt.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gort::rt {
namespace {

constexpr int sigpreempt = SIGURG;  // Go's choice: rarely used, ignored by default

// sig_preempt is the handler: entersyscall for a goroutine found running
// its own code with a P. Go: doSigPreempt.
void sig_preempt(int, siginfo_t*, void*) {
  const int saved_errno = errno;
  m* mp = getm();
  if (mp != nullptr && mp->in_user.load(std::memory_order_relaxed)) {
    g* gp = mp->curg;
    p* pp = mp->p;
    if (gp != nullptr && pp != nullptr && gp->status() == gstatus::Grunning &&
        pp->status.load(std::memory_order_relaxed) == pstatus::Prunning)
      entersyscall(gp);
  }
  errno = saved_errno;
}

}  // namespace

void preempt_init() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &sig_preempt;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigfillset(&sa.sa_mask);  // nothing else runs on top of it
  sigaction(sigpreempt, &sa, nullptr);
}

void minit_preempt(m* mp) { mp->procid = static_cast<std::int32_t>(syscall(SYS_gettid)); }

void preemptm(m* mp) {
  // tgkill, not pthread_kill: an M never exits while run() lasts, and the
  // thread id stays valid to signal even if the M were gone.
  syscall(SYS_tgkill, getpid(), mp->procid, sigpreempt);
}

}  // namespace gort::rt
