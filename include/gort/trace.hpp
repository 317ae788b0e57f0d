// gort/trace.hpp: the execution tracer, Go's runtime/trace. How it works:
// the design comment at the top of src/runtime/trace.cpp; how to read a
// trace: docs/DEBUGGING.md, "Execution trace".
//
//   gort::run([] {
//     gort::trace::start("/tmp/app.trace.json");
//     work();
//     gort::trace::stop();  // the file is complete now; open it in ui.perfetto.dev
//   });
//
// GODEBUG=gorttrace=<path> traces a whole run() instead: from before its
// first goroutine to its end.
//
// The trace holds, per P, a slice for every run of a goroutine (why it
// ended: the wait reason, yield, preempted, exit), per M the P it held and
// its system calls (blocking()), arrows from each go() and each wakeup
// to the next run of the goroutine made runnable, and instants for steals,
// preemption requests, P hand-offs, timers and network polls. It is
// written in Chrome's JSON Trace Event Format, which Perfetto opens.
//
// While no trace runs, the runtime pays one load and a branch at each
// place an event would be recorded. While one runs, each event is a record
// in a per-thread buffer; the file is written by trace::stop.
#pragma once

#include <string>

namespace gort::trace {

// start begins a trace that stop (or the end of run()) writes to path.
// Throws std::logic_error if a trace is already running or if called
// outside run(), std::system_error if path cannot be created.
void start(const std::string& path);

// stop ends the trace and writes its file, returning once it is complete;
// the calling goroutine's P goes on running others meanwhile (as in
// blocking()). Without a trace running it does nothing, as Go's StopTrace.
// Throws std::logic_error outside run().
void stop();

}  // namespace gort::trace
