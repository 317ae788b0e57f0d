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

// start_dying begins a fatal report: the first caller wins, flushes what
// the program printed to stdout (how: see "Flushing" in panic.cpp), makes
// the symbolizer ready and freezes the other Ms (signal_unix.cpp); a later
// caller waits for the process to end, or ends it if it is the reporting
// thread faulting in its own report.
enum class flush_how {
  here,       // this thread holds no stdio lock: a runtime context, or sysmon's
  by_sysmon,  // a fault handler, whose thread may have been inside stdio
  none,
};
void start_dying(flush_how how);

// flush_std_streams flushes stdout, std::cout and std::clog, if stdout's
// lock can be had within 100 ms. Async-signal-safe only on a thread that
// cannot be inside stdio itself ("Flushing", panic.cpp).
void flush_std_streams();

// exit2 ends a fatal report: exit status 2, or with GOTRACEBACK=crash
// SIGABRT's default action (a core dump). Go: exit(2), crash.
[[noreturn]] void exit2(bool crash);

}  // namespace gort::rt
