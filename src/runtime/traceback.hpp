// traceback.hpp: goroutine headers and stacks for fatal errors and panics.
// Go counterpart: traceback.go (goroutineheader, traceback, tracebackothers).
#pragma once

#include <cstdint>

namespace gort::rt {

struct g;

// print_frames prints a captured stack, innermost first, one frame per two
// lines as Go does ("function()\n\t<module> +0xoffset"), symbolized through
// the dynamic symbol table and demangled.
void print_frames(void* const* frames, int n);

// goroutineheader prints "goroutine <id> [<state>]:". current: gp is the
// goroutine making a fatal report, running whatever its status says (it
// may be inside blocking(), or its P taken by sysmon's signal), as Go
// prints the panicking goroutine.
void goroutineheader(const g* gp, bool current = false);

// traceback_current prints the running goroutine (or thread) and its stack,
// skipping the innermost skip frames (the reporting code itself).
void traceback_current(int skip);

// tracebackothers prints every other live goroutine's header and its
// creator. Takes no lock (proc.hpp, allgs).
void tracebackothers(const g* me);

}  // namespace gort::rt
