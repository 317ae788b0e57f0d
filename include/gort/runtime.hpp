// gort/runtime.hpp: goroutines and the scheduler, the public face of Go's
// runtime package (proc.go). How it works: the design comment at the top of
// src/runtime/proc.cpp; these functions are src/runtime/runtime.cpp's.
//
//   int main() {
//     return gort::run([] {
//       gort::WaitGroup wg;
//       wg.add(2);
//       for (int i = 0; i < 2; ++i) gort::go([&wg, i] { std::printf("hi %d\n", i); wg.done(); });
//       wg.wait();
//     });
//   }
//
// Every function here except run() must be called while run() is active,
// from a goroutine or from any other thread (which the runtime then binds to
// an extra M, as Go does for a cgo callback: src/runtime/proc.cpp, "Extra
// Ms"); outside run() it throws std::logic_error saying so, and so does a
// call that waits in another thread when run() ends.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gort/detail/funcval.hpp"

namespace gort {

namespace detail {
// run_active: run() is between its set-up and its teardown. A hint, read
// relaxed by the inline fast paths that touch nothing of the runtime's:
// Mutex::lock takes an unlocked mutex, and a non-blocking channel operation
// fails (chan.hpp, selectnbrecv), without a runtime entry while it is set;
// when it is not, they enter, and the entry refuses the call outside a run.
// A stale true after a run lets such a lock or failure go unrefused;
// nothing of the runtime is touched either way.
extern std::atomic<bool> run_active;
}  // namespace detail

struct Config {
  int maxprocs = 0;            // number of Ps; 0: $GOMAXPROCS, else hardware threads; at most 1024
                               // (more: 1024, and a line on stderr once)
  std::size_t stack_size = 0;  // bytes of each goroutine's stack; 0: the default (256 KiB)
};

// Bootstrap, the analogue of rt0_go -> schedinit -> newproc(main) -> mstart:
// makes m0/g0 and the Ps, runs main_fn as goroutine 1 on the scheduler, and
// returns 0 when main_fn returns. Goroutines still alive then are abandoned, as
// when a Go program's main returns. A channel or Cond that outlives run()
// with an abandoned goroutine waiting on it must not be used by a later
// run(): the waiter's record went with its stack. run() may be called again,
// one call after another, each with a fresh scheduler; calling it from a
// goroutine throws std::logic_error. An exception escaping main_fn is an unrecovered panic.
int run(std::function<void()> main_fn);
int run(const Config& cfg, std::function<void()> main_fn);

// newproc: start f(args...) as a new goroutine. Arguments are decay-copied or
// moved, like std::thread. Returns the new goroutine's id. The new goroutine
// runs next on this P (Go's runnext); the caller goes on running.
//
// go is always inlined, so that an address read here lies in the caller's
// code: a traceback names the caller in the goroutine's "created by" line,
// as Go records the pc of the go statement (newproc's getcallerpc).
template <class F, class... Args>
[[gnu::always_inline]] inline std::uint64_t go(F&& f, Args&&... args) {
  std::uintptr_t gopc;
#if defined(__x86_64__)
  asm volatile("1: leaq 1b(%%rip), %0" : "=r"(gopc));  // this instruction's own address
#elif defined(__aarch64__)
  asm volatile("adr %0, ." : "=r"(gopc));                // this instruction's own address
#endif
  return detail::newproc(gopc, std::forward<F>(f), std::forward<Args>(args)...);
}

void yield();                // runtime.Gosched
// maybe_yield: a cheap preemption point for long loops that do not otherwise
// enter the runtime. sysmon ends a goroutine's time slice after 10 ms; every
// runtime entry (channel operations, select, go, sleep, ...) then yields,
// and so does this. Otherwise it costs a few loads and stores. A
// non-blocking send or receive (try_send, try_recv, a select with a
// default) that finds nothing ready returns without a runtime entry, so a
// loop that only polls a channel is no preemption point either.
void maybe_yield();
std::uint64_t goid();        // current goroutine's id; main is 1; never reused within a run
int gomaxprocs(int n = 0);   // runtime.GOMAXPROCS: n > 0 sets (at most 1024, as Config); returns the previous value
std::size_t num_goroutine(); // runtime.NumGoroutine (live goroutines, main included)
void lock_os_thread();       // runtime.LockOSThread: wire this goroutine to its thread
void unlock_os_thread();     // runtime.UnlockOSThread

// last_errno: errno, read through a call the compiler cannot see into. A
// goroutine's errno goes with it from thread to thread, but glibc declares
// __errno_location() const, so in one function a compiler may compute
// errno's address once and read through it again after a call that parked
// the goroutine and resumed it on another thread: the old thread's errno.
// Code that reads errno after something that may park, in a function that
// read it before (a loop around a read() that waits on EAGAIN), reads it
// with this. Works on any thread.
int last_errno();

// debug.SetMaxThreads: the limit on OS threads (Ms), 10000 by default; over it
// the program stops with "fatal error: thread exhaustion". Returns the old limit.
int set_max_threads(int n);

// entersyscall/exitsyscall around a call that may block its OS thread (file
// I/O, a blocking library call): the P is handed to another thread so other
// goroutines keep running. Returns f's result; rethrows f's exception.
// Runtime calls made inside f work (each borrows a P for its duration).
//
// Without blocking(), nothing stalls for long either: a goroutine that holds
// its P for 20 ms without entering the runtime (a plain read(), a
// std::mutex, std::this_thread::sleep_for, a loop that calls nothing) has
// its P taken by sysmon, as a long blocking() call would, at any
// GOMAXPROCS. Its thread goes on running it without a P, and gets one back
// at its next runtime call. The cost, only while it lasts: the other
// goroutines wait up to 20 ms plus a sysmon round, and one more OS thread
// runs. No signal is involved (sysmon uses a membarrier handshake), so the
// goroutine's system calls are not interrupted and never fail with EINTR
// because of gort; only on a kernel without membarrier does gort fall back
// to a signal (SIGURG, as Go), which can make a call that is not restartable
// (poll, nanosleep, ...) return EINTR. blocking() is still the better
// choice for calls known to block: the P moves at once, not after 20 ms.
// Go cannot do this for code outside its compiler; see
// src/runtime/preempt.cpp.
template <class F>
auto blocking(F&& f) -> std::invoke_result_t<F> {
  detail::syscall_scope scope;
  return std::forward<F>(f)();
}

// dump_goroutines writes every goroutine to os as Go's runtime.Stack(buf,
// true) does, and as a SIGQUIT or a fatal error prints them on stderr: the
// caller first (its goroutine, or the G of a thread calling in), from the
// function that called dump_goroutines, then the others, each as
//
//   goroutine 7 [chan receive, 3 minutes]:
//   parked_in_recv_here(gort::chan<int>)
//           /src/app.cpp:12 +0x2b
//   created by main::{lambda()#1}::operator()() const in goroutine 1
//           /src/app.cpp:30 +0x61
//
// (the wait's minutes only from one on). A parked or runnable goroutine's
// stack is read where it lies; one running on another thread shows none.
// The runtime's own frames are left out unless GOTRACEBACK=system. Unlike
// Go's, it does not stop the world: the other goroutines run on, and one
// that changes while it is read may be shown with a wrong stack, never
// worse. Function names come from the symbol table, files and lines from
// the debug information (-g); see docs/DEBUGGING.md. os is written after
// the dump is taken, outside the runtime, so it may be any stream.
void dump_goroutines(std::ostream& os);

// stats: the scheduler's counts, Go's runtime/metrics counterparts, as one
// snapshot whose counts agree: goroutines is the sum of the four states,
// stacks_in_use at most goroutines, idle_procs at most maxprocs,
// spinning_threads at most threads, and no cumulative count is below the
// previous call's. Each group is read at once, none stops the world: the
// goroutines' states (and their stacks) in one pass over them, the timers
// one P at a time, the rest under the scheduler's lock, where the Ps'
// counters also are read; a goroutine changing state meanwhile is counted
// once, in its old or its new state, as in Go's /sched/goroutines metrics.
// Cumulative counts are since run() began.
struct Stats {                    // fields may be added; each starts at zero
  std::size_t goroutines = 0;          // live goroutines (/sched/goroutines:goroutines): the four states' sum
  std::size_t threads = 0;             // Ms created and alive
  int maxprocs = 0;                    // Ps (/sched/gomaxprocs:threads)
  int idle_procs = 0;                  // Ps with no M
  int spinning_threads = 0;            // Ms looking for work
  std::size_t global_runq = 0;         // length of the global run queue
  std::uint64_t steals = 0;            // goroutines taken by work stealing, cumulative
  std::uint64_t context_switches = 0;  // goroutine switches, cumulative

  // Goroutines by state, from one pass over them.
  std::size_t goroutines_running = 0;  // on a thread, with a P
  std::size_t goroutines_runnable = 0; // in a run queue
  std::size_t goroutines_waiting = 0;  // parked: a channel, a lock, a sleep, I/O
  std::size_t goroutines_syscall = 0;  // in blocking(), or running without the P sysmon took

  // Preemption, cumulative, by kind (docs/differences.md):
  std::uint64_t preempt_requests = 0;  // time slices sysmon ended (10 ms without a switch)
  std::uint64_t preempt_yields = 0;    // cooperative: a goroutine yielded at a runtime entry for one
  std::uint64_t handoffs_held = 0;     // Ps sysmon took from a goroutine that kept one 20 ms
                                    // without a runtime entry (membarrier handshake or signal)
  std::uint64_t handoffs_syscall = 0;  // Ps sysmon took from a long blocking() call

  std::size_t timers_pending = 0;  // timers and sleeps not yet fired, on all Ps
  std::size_t stacks_in_use = 0;  // goroutine stacks held by goroutines
  std::size_t stacks_pooled = 0;  // free stacks kept for reuse (per-P caches, global pool)

  // sched_latency: how long goroutines waited runnable before they ran
  // (Go's /sched/latencies:seconds), for a sample: one in 64 of the
  // goroutines put on a P's run queue. sched_latency[i] counts waits under
  // sched_latency_le_ns[i] (and not under the bound before); the bounds
  // double from one tick of the CPU's cycle counter, the last is infinite.
  static constexpr int latency_buckets = 32;
  std::uint64_t sched_latency[latency_buckets] = {};
  double sched_latency_le_ns[latency_buckets] = {};
};
Stats stats();

// Go's panic. Thrown by the runtime on misuse, with Go's messages. Catching it
// is recover(). An exception that escapes a goroutine's function stops the
// process like an unrecovered Go panic: "panic: <what()>", the goroutine's id
// and the stack where it was thrown on stderr, exit status 2.
class panic_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace gort
