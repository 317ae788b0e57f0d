// switch.hpp: the one place that moves a thread from one goroutine's stack to
// another's. Go counterpart: gogo/mcall (asm_amd64.s) and the bookkeeping
// around them; here also what C++ and the sanitizers need at a switch.
#pragma once

#include "runtime/runtime2.hpp"

namespace gort::rt {

// gogo switches mp from `from` (running now) to `to`, which must be ready to
// run: to->sched.sp is a saved or prepared context, to->m is mp (execute
// sets it; a g0's is its own M), mp->curg and the statuses already say what
// runs next. If from_exits, `from` will never run again (its
// stack is about to be reused). Returns when something switches back to
// `from`, possibly on another M; then it has run that M's afterswitch and
// restored from's errno and exception state.
void gogo(m* mp, g* from, g* to, bool from_exits);

// afterswitch_in_place runs mp's afterswitch where gogo's resumed side
// would: for an extra M, whose G waits without leaving its stack.
void afterswitch_in_place(m* mp);

// systemstack runs fn(arg) on mp's g0 stack, below the context g0 saved
// when it switched to the goroutine now running on mp, and returns on the
// goroutine's own stack. For runtime work that needs more stack than a
// goroutine may have left (a traceback: demangling takes tens of KiB), as
// Go's systemstack. Runs fn directly if already on g0's stack, which is
// where an extra M's G runs too (its thread's own: proc.cpp, "Extra Ms").
// Must not park. Go: systemstack.
void systemstack(m* mp, void (*fn)(void*), void* arg);

// minit_switch records the calling thread's errno and exception-globals
// addresses and its g0 (stack bounds, sanitizer fiber) in mp. Run on every M's
// own thread before its first switch.
void minit_switch(m* mp);

}  // namespace gort::rt
