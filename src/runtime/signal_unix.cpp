// signal_unix.cpp: the signals the runtime handles, and how it lives beside
// a program that handles signals too. Go counterpart: signal_unix.go
// (initsig, sighandler, sigfwdgo, minitSignalStack, dieFromSignal) and
// freezetheworld (proc.go).
//
// Every handler the runtime installs is installed here (sig_install), and
// each signal is dispatched from here: what another file does with one is
// a plain function it exports (do_sig_preempt, preempt.cpp).
//
// The runtime's signals. SIGSEGV and SIGBUS, for every run: they run on an
// alternate signal stack (each M has one), since the goroutine's own stack
// may be exhausted. A fault in the guard page below the running
// goroutine's stack, or with the stack pointer below the stack, is a stack
// overflow ("fatal error: stack overflow"); a fault on a goroutine at an
// address in the first page is Go's sigpanic, "panic: runtime error:
// invalid memory address or nil pointer dereference". SIGURG (sigpreempt),
// only where sysmon takes Ps by signal or GODEBUG=stallreport samples a
// stalled M's stack (preempt.cpp), and at a fatal error, to freeze the
// other Ms. SIGABRT, at the end of a GOTRACEBACK=crash report: its default
// action, for a core dump (die_from_signal).
//
// The program's handlers, as Go treats handlers installed before it in a
// c-archive: run() saves the action each signal had before it installs
// its own (sig_install), and its end restores them, unless the program has
// replaced gort's handler meanwhile (then the program's stays). A signal
// that is not the runtime's goes to the saved handler (sigfwd):
//   - a fault on a thread the runtime does not run, or on g0;
//   - a fault on a goroutine that is neither a stack overflow nor a nil
//     dereference, when the program has a handler: a program that maps
//     memory PROT_NONE on purpose (a garbage collector's barrier, a
//     sandbox's guard) and fixes it up in its handler works inside
//     goroutines too. Without one, gort reports it as Go does;
//   - a SIGURG that sysmon did not send (preempt.cpp).
// A saved SIG_DFL means the default action (the handler restores it and
// returns, and the fault happens again); SIG_IGN ignores SIGURG.
//
// SIGQUIT, as Go's: "SIGQUIT: quit", the goroutines (traceback.cpp), exit
// status 2 (or SIGABRT under GOTRACEBACK=crash). Installed for every run,
// unless the program had a handler of its own for it before run() (it
// keeps it, as sigfwd's rule; an inherited SIG_IGN, which a shell gives a
// background job, is replaced, as Go replaces it). The report is made on
// sysmon's thread: a SIGQUIT that lands on another thread is sent on to it
// (tgkill) and the handler returns. sysmon never takes a stdio lock itself,
// so it may flush stdout before the report ("Flushing", panic.cpp), which
// the thread the kernel picked might have been in the middle of; and the
// dump's other needs (a signal stack, no lock) are met on any thread.
// Without sysmon (GODEBUG=sysmonoff=1) the report is made where the signal
// lands, with nothing flushed.
//
// Freezing. A fatal report must be the last thing the program says, so the
// reporting thread first stops every other M where it stands
// (freezetheworld): it makes SIGURG's handler one that never returns and
// sends it to each. Go freezes its Ms at their next preemption point; C++
// code has none, so the signal does it. A frozen M may hold a lock the
// report needs (the dynamic loader's, which an unwinding exception takes);
// a watchdog (alarm) ends the process if the report has not finished in
// report_timeout_s, rather than let it hang.
#include "runtime/signal_unix.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <execinfo.h>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "runtime/export_test.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/stack.hpp"
#include "runtime/traceback.hpp"

namespace gort::rt {
namespace {

constexpr std::uintptr_t nil_page = 0x1000;  // Go: a fault below is a nil dereference
constexpr int freeze_signal = sigpreempt;  // its handler is replaced: the run is over
constexpr unsigned report_timeout_s = 30;

// sigsaved: the action a run replaced, per signal. Written before any M
// runs and after they have all stopped; read by the handlers.
struct sigsaved {
  bool installed = false;
  struct sigaction old;
  void (*handler)(int, siginfo_t*, void*) = nullptr;
};
sigsaved saved[NSIG];

// fault_sp and fault_pc are the stack pointer and the pc of the
// interrupted code.
std::uintptr_t fault_sp(void* uctx) {
  auto* uc = static_cast<ucontext_t*>(uctx);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
#endif
}

}  // namespace

std::uintptr_t fault_pc(void* uctx) {
  auto* uc = static_cast<ucontext_t*>(uctx);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#endif
}

namespace {

std::int32_t gettid() { return static_cast<std::int32_t>(syscall(SYS_gettid)); }

// report_running prints gp (the G this thread runs, nullptr for none) with
// the stack interrupted at uctx, then the other goroutines if mode says
// so: the goroutines of a report made in a signal handler.
void report_running(printer& pr, g* gp, void* uctx, traceback_mode mode) {
  if (mode.level <= 0) return;
  pcbuf cur;
  callers(cur, fault_pc(uctx), true);
  if (gp != nullptr) {
    const gsnap s = snapshot(gp);
    pr.str("\n");
    goroutineheader(pr, s, 0, true);
    traceback(pr, cur, mode.level);
    printcreatedby(pr, s, mode.level);
  } else if (mode.level >= 2) {
    pr.str("\ngoroutine 0 [idle]:\n");  // Go's name for an M's own stack
    traceback(pr, cur, mode.level);
  }
  if (mode.all) tracebackothers(pr, gp, mode.level);
}

bool stack_overflow(const g* gp, siginfo_t* info, void* uctx) {
  return stack_guard_hit(gp, info->si_addr) || (gp->stk && fault_sp(uctx) < gp->stk->lo);
}

// sighandler: SIGSEGV and SIGBUS. Go: sighandler's sigpanic path. The
// report runs here, on the faulting thread, which may have been inside
// stdio: sysmon flushes stdout for it (start_dying).
void sighandler(int sig, siginfo_t* info, void* uctx) {
  probe_fault();  // a traceback that read a stack as it changed: back to its start
  m* mp = getm();
  g* gp = mp ? mp->curg : nullptr;
  const bool overflow = gp && stack_overflow(gp, info, uctx);
  const bool nil = gp && reinterpret_cast<std::uintptr_t>(info->si_addr) < nil_page;
  if (!overflow && !nil && sigfwd(sig, info, uctx)) return;
  if (gp == nullptr) {
    // Not a goroutine (a thread of the program's own, or g0): the default
    // action, by faulting again once the handler returns.
    signal(sig, SIG_DFL);
    return;
  }
  start_dying(flush_how::by_sysmon);
  // A stack overflow is a fatal error (all goroutines); a nil dereference
  // is Go's panic (GOTRACEBACK says).
  const traceback_mode mode = gotraceback(overflow ? throw_type::user : throw_type::none);
  printer pr(2, stack_lo_of(mp));
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  if (overflow) {
    const stack* stk = gp->stk;
    pr.str("runtime: goroutine stack exceeds ").dec(static_cast<std::uint64_t>(stk->hi - stk->lo)).str("-byte limit\n");
    pr.str("runtime: sp=").hex(fault_sp(uctx)).str(" fault=").hex(addr);
    pr.str(" stack=[").hex(stk->lo).str(", ").hex(stk->hi).str("]\n");
    pr.str("fatal error: stack overflow\n");
  } else {
    pr.str("panic: runtime error: invalid memory address or nil pointer dereference\n");
    pr.str(sig == SIGSEGV ? "[signal SIGSEGV: segmentation violation" : "[signal SIGBUS: bus error")
        .str(" code=")
        .hex(static_cast<std::uint32_t>(info->si_code))
        .str(" addr=")
        .hex(addr)
        .str(" pc=")
        .hex(fault_pc(uctx))
        .str("]\n");
  }
  report_running(pr, gp, uctx, mode);
  pr.flush();
  exit2(mode.crash);
}

// SIGQUIT (see "SIGQUIT" above). quit_code: the si_code of the SIGQUIT
// that was sent on to sysmon, for its report. flush_asked, flush_done: a
// fault's report asking sysmon to flush stdout (flush_on_sysmon).
// quit_code is relaxed: the value is the whole message, stored before the
// tgkill that delivers it, and a stale one would only misprint sigcode.
// flush_asked's release store pairs with sysmon's acquire exchange, so the
// stdio buffers the asker filled are what sysmon flushes; flush_done's
// release pairs with the asker's acquire load (the exchange's release half
// is not needed). The asker's relaxed reset of flush_done is ordered before
// sysmon's store of true by the flush_asked pair.
std::atomic<int> quit_code{0};
std::atomic<bool> flush_asked{false}, flush_done{false};
bool sigquit_ours = false;  // run() installed sigquit; written before any M runs

void sigquit(int, siginfo_t* info, void* uctx) {
  const std::int32_t self = gettid();
  m* smp = sysmon_running();
  const std::int32_t sysmon_tid = smp != nullptr ? smp->procid : 0;
  if (sysmon_tid != 0 && sysmon_tid != self) {
    quit_code.store(info->si_code, std::memory_order_relaxed);
    if (syscall(SYS_tgkill, getpid(), sysmon_tid, SIGQUIT) == 0) return;
  }
  const bool on_sysmon = sysmon_tid == self;
  if (on_sysmon && flush_asked.exchange(false, std::memory_order_acq_rel)) {
    flush_std_streams();
    flush_done.store(true, std::memory_order_release);
    return;
  }
  start_dying(on_sysmon ? flush_how::here : flush_how::none);
  m* mp = on_sysmon ? smp : getm();
  printer pr(2, stack_lo_of(mp));
  const int code = on_sysmon ? quit_code.exchange(0, std::memory_order_relaxed) : info->si_code;
  pr.str("SIGQUIT: quit\nPC=")
      .hex(fault_pc(uctx))
      .str(" m=")
      .dec(static_cast<std::int64_t>(mp ? mp->id : -1))
      .str(" sigcode=")
      .dec(static_cast<std::int64_t>(code))
      .str("\n");
  // gort: Go treats SIGQUIT as a runtime error (runtime frames, whatever
  // GOTRACEBACK says); gort as a fatal error, which GOTRACEBACK governs.
  const traceback_mode mode = gotraceback(throw_type::user);
  report_running(pr, on_sysmon || mp == nullptr ? nullptr : mp->curg, uctx, mode);
  pr.flush();
  exit2(mode.crash);
}

// sigurg: sigpreempt, while preempt_init has it installed. One sysmon
// sent (tgkill, from this process) is do_sig_preempt's; any other SIGURG
// (out-of-band data, or one the program sends) is the program's. Go:
// sighandler's sigPreempt case.
void sigurg(int sig, siginfo_t* info, void* uctx) {
  if (info->si_code != SI_TKILL || info->si_pid != getpid()) {
    sigfwd(sig, info, uctx);
    return;
  }
  const int saved_errno = errno;
  do_sig_preempt(uctx);
  errno = saved_errno;
}

std::atomic<int> frozen{0};

void sigfreeze(int, siginfo_t*, void*) {
  frozen.fetch_add(1);
  for (;;) pause();
}

void report_timeout(int) {
  printerr("\nruntime: the fatal error report did not finish in %u s\n", report_timeout_s);
  _exit(2);
}

// sig_install installs handler for sig (SA_SIGINFO|SA_ONSTACK|flags, every
// signal blocked while it runs), saving the action it replaces for sigfwd
// and signals_restore. Before any M runs.
void sig_install(int sig, void (*handler)(int, siginfo_t*, void*), int flags) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | flags;
  sigfillset(&sa.sa_mask);  // nothing else runs on top of it
  sigsaved& s = saved[sig];
  sigaction(sig, &sa, s.installed ? nullptr : &s.old);
  s.installed = true;
  s.handler = handler;
}

}  // namespace

void signals_init() {
  static bool warm = false;
  if (!warm) {
    void* frame[1];
    backtrace(frame, 1);  // loads libgcc's unwinder now, not in a signal handler
    warm = true;
  }
  // Not SA_NODEFER: a fault in the handler itself kills the process (but a
  // traceback's walk of another stack unblocks faults: probe_fault).
  sig_install(SIGSEGV, &sighandler, 0);
  sig_install(SIGBUS, &sighandler, 0);
  struct sigaction cur;
  sigquit_ours = sigaction(SIGQUIT, nullptr, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
                 (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN);
  if (sigquit_ours) sig_install(SIGQUIT, &sigquit, 0);
}

void signals_init_preempt() { sig_install(sigpreempt, &sigurg, SA_RESTART); }

void flush_on_sysmon() {
  m* smp = sysmon_running();
  const std::int32_t tid = smp != nullptr ? smp->procid : 0;
  if (!sigquit_ours || tid == 0 || tid == gettid()) return;
  flush_done.store(false, std::memory_order_relaxed);
  flush_asked.store(true, std::memory_order_release);
  if (syscall(SYS_tgkill, getpid(), tid, SIGQUIT) != 0) return;
  const timespec ms{0, 1'000'000};
  for (int i = 0; i < 1000 && !flush_done.load(std::memory_order_acquire); ++i) nanosleep(&ms, nullptr);
}

void signals_restore() {
  for (int sig = 1; sig < NSIG; ++sig) {
    sigsaved& s = saved[sig];
    if (!s.installed) continue;
    struct sigaction cur;
    if (sigaction(sig, nullptr, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == s.handler)
      sigaction(sig, &s.old, nullptr);
    s = sigsaved{};
  }
}

bool sigfwd(int sig, siginfo_t* info, void* uctx) {
  const sigsaved& s = saved[sig];
  if (!s.installed) return false;
  if (s.old.sa_flags & SA_SIGINFO) {
    // The union's other member: SIG_DFL and SIG_IGN are the same values.
    if (s.old.sa_handler == SIG_DFL || s.old.sa_handler == SIG_IGN) return false;
    s.old.sa_sigaction(sig, info, uctx);
    return true;
  }
  if (s.old.sa_handler == SIG_DFL || s.old.sa_handler == SIG_IGN) return false;
  s.old.sa_handler(sig);
  return true;
}

void die_from_signal(int sig) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigaction(sig, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
}

// Not analyzed: it walks allm without sched.lock (below).
void freezetheworld() GORT_NO_THREAD_SAFETY_ANALYSIS {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = &report_timeout;
  sigaction(SIGALRM, &sa, nullptr);
  alarm(report_timeout_s);
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &sigfreeze;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  sigaction(freeze_signal, &sa, nullptr);
  // allm without sched.lock, as Go's freezetheworld: the reporting thread
  // may hold it, and an M is never freed while a run lasts. An M not yet
  // started has no thread id.
  const pid_t pid = getpid();
  const auto self = static_cast<std::int32_t>(syscall(SYS_gettid));
  int sent = 0;
  for (m* mp = allm; mp != nullptr; mp = mp->alllink)
    if (mp->procid != 0 && mp->procid != self && syscall(SYS_tgkill, pid, mp->procid, freeze_signal) == 0) ++sent;
  // A thread that never takes the signal (it blocks it, or the run is
  // ending and its thread is gone) must not stop the report: 100 ms at most.
  for (int i = 0; i < 1000 && frozen.load() < sent; ++i) usleep(100);
}

// sigstacks_mapped: the Ms' signal stacks mapped and not yet unmapped, for
// the census (export_test.hpp); relaxed, a count, changed once per M.
std::atomic<std::int64_t> sigstacks_mapped{0};

void minit_signals(m* mp) {
  void* mem = mmap(nullptr, sigstack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return;  // no report on overflow: the default action
  stack_t ss;
  ss.ss_sp = mem;
  ss.ss_size = sigstack_size;
  ss.ss_flags = 0;
  sigaltstack(&ss, nullptr);
  mp->sigstack = mem;
  sigstacks_mapped.fetch_add(1, std::memory_order_relaxed);
}

void munmap_signals(m* mp) {
  if (!mp->sigstack) return;
  stack_t ss;
  std::memset(&ss, 0, sizeof ss);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  munmap(mp->sigstack, sigstack_size);
  mp->sigstack = nullptr;
  sigstacks_mapped.fetch_sub(1, std::memory_order_relaxed);
}

void census_signal(Census& c) {
  c.sigstacks += static_cast<std::size_t>(sigstacks_mapped.load(std::memory_order_relaxed));
}

}  // namespace gort::rt
