// panic.hpp: the two kinds of failure, as Go's HACKING.md separates them.
// Go counterpart: panic.go (throw, fatal, fatalpanic).
//
// gothrow: the runtime found itself broken (a bug in gort): "fatal error:
// <msg>", every goroutine, exit status 2. fatal: the program did something the
// runtime cannot survive (deadlock, stack overflow, too many threads): same
// output. Neither unwinds or runs destructors. Misuse that a program can
// recover from is a gort::panic_error exception instead.
#pragma once

#include <cstdarg>

namespace gort::rt {

[[noreturn]] void gothrow(const char* msg);
[[noreturn]] void fatal(const char* msg);

// printerr: printf to stderr with one write(2), usable where stdio is not
// (signal handlers, a crashing runtime). Lines longer than 1 KiB are cut.
void printerr(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Signals (panic.cpp): a SIGSEGV/SIGBUS on a goroutine reports a stack
// overflow or Go's nil-dereference panic. signals_init installs the
// handlers (once per run); minit_signals gives the calling M its alternate
// signal stack, and munmap_signals frees it.
struct m;
void signals_init();
void minit_signals(m* mp);
void munmap_signals(m* mp);

}  // namespace gort::rt
