// trace.hpp: the execution tracer's hooks, called from the scheduler where
// the events happen. Go counterpart: the traceGo*, traceProc* functions of
// trace.go. Design: the comment at the top of trace.cpp.
//
// Every call site reads as
//
//   if (trace_on()) [[unlikely]] trace_go_unpark(mp, gp);
//
// so that with no trace running a hook costs one load and a branch not
// taken; the hooks themselves are out of line and cold, and find the
// calling thread's M themselves (getm), unless the caller has it at hand:
// an event goes to the buffer of the M that writes it, whichever M it is
// about.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "runtime/runtime2.hpp"

namespace gort::rt {

// trace_enabled: a trace is running. Written by trace_start and trace_stop
// only; read by every hook. trace_on's load is relaxed: a hint, which the
// event's seqlock checks again with acquire (trace.cpp, "Stopping").
extern std::atomic<bool> trace_enabled;
inline bool trace_on() { return trace_enabled.load(std::memory_order_relaxed); }

#define GORT_TRACE_HOOK [[gnu::noinline, gnu::cold]]

// Goroutines. trace_go_create: newg was made runnable by go(). trace_go_start:
// the calling M switches from `from` (its g0, or a G that has just left
// Grunning: the end of its run, for a reason its status and waitreason
// tell) to gp. trace_go_stop: gp has left Grunning for the M's g0.
// trace_go_unpark: gp was made runnable by goready or a poll, on mp, the
// calling thread's M (getm(): nullptr on a thread the runtime did not start).
GORT_TRACE_HOOK void trace_go_create(g* newg);
GORT_TRACE_HOOK void trace_go_start(g* from, g* gp);
GORT_TRACE_HOOK void trace_go_stop(g* gp);
GORT_TRACE_HOOK void trace_go_unpark(m* mp, g* gp);

// System calls. trace_go_sys_call: gp (running on mp, with pp) enters
// syscall state, in blocking() or because sysmon took pp. trace_go_sys_exit:
// gp is back, with pp (nullptr: no P; it waits on the global queue).
GORT_TRACE_HOOK void trace_go_sys_call(g* gp, m* mp, p* pp);
GORT_TRACE_HOOK void trace_go_sys_exit(g* gp, m* mp, p* pp);

// Ps. trace_proc_start / trace_proc_stop: mp acquires or releases pp.
GORT_TRACE_HOOK void trace_proc_start(m* mp, p* pp);
GORT_TRACE_HOOK void trace_proc_stop(m* mp, p* pp);

// Instants. trace_steal: the caller's P took n Gs from victim.
// trace_preempt: sysmon asked pp's G to yield. trace_handoff: sysmon took
// pp from its M (held: a G that did not enter the runtime; else a long
// blocking()). trace_timer: a timer fired. trace_netpoll: a poll readied n Gs.
GORT_TRACE_HOOK void trace_steal(p* victim, std::uint32_t n);
GORT_TRACE_HOOK void trace_preempt(p* pp);
GORT_TRACE_HOOK void trace_handoff(p* pp, bool held);
GORT_TRACE_HOOK void trace_timer(timer_kind kind);
GORT_TRACE_HOOK void trace_netpoll(int n);

#undef GORT_TRACE_HOOK

// trace_start begins a trace into path: std::logic_error if one is running,
// std::system_error if path cannot be written. trace_stop ends it and
// writes the file (nothing if no trace runs). Both may be called from any
// thread while run() is active; trace_stop waits for the file, so a
// goroutine calls it inside blocking(). run() calls trace_stop at its end.
void trace_start(const std::string& path);
void trace_stop();

// trace_godebug starts the trace GODEBUG=gorttrace=<path> asks for, at the
// start of run(); a path that cannot be written is reported on stderr, and
// the run goes on untraced.
void trace_godebug();

}  // namespace gort::rt
