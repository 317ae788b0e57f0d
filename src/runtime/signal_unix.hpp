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

// signals_init installs the fault handlers (SIGSEGV, SIGBUS) at the start
// of a run, saving the program's; signals_restore puts back every action a
// run replaced. minit_signals gives the calling M its alternate signal
// stack, munmap_signals frees it.
void signals_init();
void signals_restore();
void minit_signals(m* mp);
void munmap_signals(m* mp);

// sig_install installs handler for sig (SA_SIGINFO|SA_ONSTACK|flags, every
// signal blocked while it runs), saving the action it replaces for sigfwd
// and signals_restore. Before any M runs.
void sig_install(int sig, void (*handler)(int, siginfo_t*, void*), int flags);

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

// freezetheworld stops every other M where it stands, for a fatal report
// (start_dying): a signal whose handler never returns. Waits a bounded
// time for them. Async-signal-safe. Go: freezetheworld.
void freezetheworld();

}  // namespace gort::rt
