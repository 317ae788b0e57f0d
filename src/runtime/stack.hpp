// stack.hpp: goroutine stacks. Go counterpart: stack.go (stackalloc,
// stackfree, the per-P stack cache). See stack.cpp for the design.
#pragma once

#include <cstddef>

#include "runtime/runtime2.hpp"

namespace gort::rt {

// stackinit sets the stack size for this run (Config::stack_size, 0: the
// default) and reads the kernel's guard-page support. stackteardown unmaps
// every stack (run() is over).
void stackinit(std::size_t size);
void stackteardown();

// stack_prepare gives gp (never run) a stack and builds the frame its first
// switch pops, so that it starts in gort_goentry_trampoline. Requires a P.
void stack_prepare(p* pp, g* gp);

// stackfree returns gp's stack to pp's cache; gp must be off it for good.
void stackfree(p* pp, g* gp);

// stackcache_flush moves all of pp's cached stacks to the global pool
// (procresize destroying pp).
void stackcache_flush(p* pp);

// stack_scavenge gives the deep pages of the pool's aged stacks back to the
// OS, and ages the dirty ones; with all, it releases both (see stack.cpp,
// "Scavenging"). sysmon calls it.
void stack_scavenge(bool all);

// stack_check_canary: for a stack without a guard page (see stack.cpp), a
// fatal "stack overflow" if the canary at its low end was overwritten.
void stack_canary_slow(const g* gp);
inline void stack_check_canary(const g* gp) {
  const stack* s = gp->stk;
  if (s != nullptr && !s->guarded) [[unlikely]]
    stack_canary_slow(gp);
}

// stacks_pooled: free stacks kept for reuse, in the Ps' caches and the
// global pool (stats; racy against the caches' owners).
std::size_t stacks_pooled();

// stack_gcore readies the stacks for a core file written by a debugger
// from the live process (gort-gdb.py's gort gcore), with prepare, and puts
// them back as they were without. gdb's gcore writes each mapping whole,
// untouched pages as zeros, and stops at the first page it cannot read: so
// prepare marks the part of the current region no chunk was carved from yet
// MADV_DONTDUMP (gigabytes of address space), and lifts the MADV_GUARD_INSTALL
// guards, which are such pages inside the mapping (an mprotect guard is a
// mapping of its own, which gcore skips). The debugger calls it with every
// other thread stopped, so nothing can run into a lifted guard meanwhile.
// -1 if the pool's lock is held (by a stopped thread: let the program run a
// moment and try again), -2 if the kernel refused some madvise, else 0.
int stack_gcore(bool prepare);

// stack_guard_hit reports whether addr lies in the guard zone under gp's stack.
bool stack_guard_hit(const g* gp, const void* addr);

}  // namespace gort::rt
