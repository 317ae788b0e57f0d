// signal_unix.hpp: the signals the runtime handles, beside the program's
// own handlers. See the design comment in signal_unix.cpp.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>

namespace gort::rt {

struct m;

// Each M's alternate signal stack: the fault handler's report and a
// SIGQUIT's run on it, demangling included (traceback.cpp). Address space,
// touched only by a report.
inline constexpr std::size_t sigstack_size = 256 * 1024;

// sigpreempt: the signal by which sysmon takes a P, or samples a stalled
// M's stack (preempt.cpp). Go's choice: rarely used, ignored by default.
inline constexpr int sigpreempt = SIGURG;

// signals_init installs the fault handlers (SIGSEGV, SIGBUS) and SIGQUIT's
// at the start of a run, saving the program's; signals_init_preempt
// installs sigpreempt's, when preempt_init needs it; signals_restore puts
// back every action a run replaced. minit_signals gives the calling M its
// alternate signal stack, munmap_signals frees it.
void signals_init();
void signals_init_preempt();
void signals_restore();
void minit_signals(m* mp);
void munmap_signals(m* mp);

// fault_pc: the pc of the code a signal interrupted (its ucontext).
std::uintptr_t fault_pc(void* uctx);

// sigfwd hands a signal that is not the runtime's to the handler the
// program had installed before run(). False if there was none (the saved
// action is SIG_DFL or SIG_IGN). Go: sigfwdgo.
bool sigfwd(int sig, siginfo_t* info, void* uctx);

// flush_on_sysmon asks sysmon's thread to flush stdout (flush_std_streams)
// and waits a bounded time (1 s) for it: for a report made in a fault
// handler, whose thread may have been inside stdio when it faulted.
// Nothing happens without sysmon or without gort's SIGQUIT handler, by
// which the request reaches it. Async-signal-safe.
void flush_on_sysmon();

// die_from_signal ends the process by sig's default action (its core
// dump): the action reset, the signal unblocked and raised. Returns if
// that did not end it. Go: dieFromSignal.
void die_from_signal(int sig);

// freezetheworld stops every other M where it stands, for a fatal report
// (start_dying): a signal whose handler never returns. Waits a bounded
// time for them. Async-signal-safe. Go: freezetheworld.
void freezetheworld();

}  // namespace gort::rt
