// traceback.hpp: goroutine headers and stacks, for fatal reports, SIGQUIT
// and gort::dump_goroutines. Go counterpart: traceback.go (goroutineheader,
// traceback, tracebackothers, printcreatedby) and gotraceback/setTraceback
// (runtime1.go). The design is at the top of traceback.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/runtime2.hpp"

namespace gort::rt {

// GOTRACEBACK, kept as Go keeps it (traceback_cache): settraceback parses
// the variable (runtime1.cpp, at each run's start: none, single, all,
// system, crash, or a number: 0, 1, 2 are none, all, system), and
// gotraceback says how much a report of a kind prints: level 0 no
// goroutines, 1 their stacks without the runtime's frames, 2 with them; all:
// every goroutine, not only the failing one; crash: end with SIGABRT (a core
// dump) instead of exit status 2. The kinds are Go's throwType: none for a
// panic (GOTRACEBACK alone decides: single by default), user for a fatal
// error the program caused and for SIGQUIT (all goroutines whatever
// GOTRACEBACK says, at its level), runtime for a runtime bug (gothrow: all
// goroutines, runtime frames included).
enum class throw_type { none, user, runtime };
struct traceback_mode {
  int level;
  bool all;
  bool crash;
};
void settraceback(const char* env);
traceback_mode gotraceback(throw_type t);

// printer is a report's output: formatted without allocating into a fixed
// buffer, which goes out when full and at flush() either to a file
// descriptor, by write(2) (async-signal-safe), or appended to a string
// (dump_goroutines, never in a signal handler). stack_lo is the low end of
// the stack the report runs on (0: unknown), which bounds what the
// demangler may take (traceback.cpp, "Names").
class printer {
 public:
  printer(int fd, std::uintptr_t stack_lo) : fd_(fd), stack_lo_(stack_lo) {}
  printer(std::string* out, std::uintptr_t stack_lo) : out_(out), stack_lo_(stack_lo) {}
  ~printer() { flush(); }
  printer(const printer&) = delete;
  printer& operator=(const printer&) = delete;

  printer& str(const char* s);
  printer& strn(const char* s, std::size_t n);
  printer& dec(std::uint64_t v);
  printer& dec(std::int64_t v);
  printer& hex(std::uint64_t v);  // 0x...
  void flush();
  std::uintptr_t stack_lo() const { return stack_lo_; }

 private:
  char buf_[1024];
  std::size_t n_ = 0;
  int fd_ = -1;
  std::string* out_ = nullptr;
  std::uintptr_t stack_lo_;
};

// stack_lo_of returns the low end of whichever of mp's stacks (its signal
// stack, g0's, its goroutine's) holds the caller's frame; 0 if none does.
std::uintptr_t stack_lo_of(const m* mp);

// gsnap: what a traceback reads of a G, read once. Its owner may change the
// G meanwhile; the snapshot may be torn, and every use of it copes.
struct gsnap {
  std::uint64_t goid = 0;
  std::uint64_t parent_goid = 0;
  gstatus status = gstatus::Gdead;
  wait_reason waitreason = wait_reason::zero;
  bool in_user = false;  // Gsyscall only: its P was taken while it runs its own code (preempt.cpp)
  bool locked = false;   // lock_os_thread
  std::int64_t waitsince = 0;
  std::uintptr_t gopc = 0;
  const void* sp = nullptr;  // its saved context, if it has one
  std::uintptr_t stack_lo = 0, stack_hi = 0;  // its stack, if it has one
};
gsnap snapshot(const g* gp);

// goroutineheader prints "goroutine 7 [chan receive, 3 minutes]:" as Go's:
// the status, or the wait reason of a waiting G; ", N minutes" when a
// waiting G (or one in a system call) has waited a minute or more by now
// (a nanotime()); ", locked to thread". running: the G making the report,
// whatever its status says.
void goroutineheader(printer& pr, const gsnap& s, std::int64_t now, bool running = false);

// pcbuf: a stack to print, return addresses innermost first. exact0: pc[0]
// is the address of an interrupted instruction (a signal's), not a return
// address.
struct pcbuf {
  static constexpr int max = 101;  // Go prints 100 frames, then says it elided more
  std::uintptr_t pc[max];
  int n = 0;
  bool exact0 = false;
};

// callers fills buf with the running thread's stack from the frame whose
// pc (a return address, or the interrupted instruction of a signal when
// exact) is from; from the innermost frame if no frame has it.
void callers(pcbuf& buf, std::uintptr_t from, bool exact = false);

// in_signal_handler: whether a signal handler is running on this thread's
// stack (a frame of it is a signal frame, the one the kernel built to
// deliver a signal), within its innermost 64 frames. Only for the cold
// path of a runtime entry that finds the M already inside the runtime.
bool in_signal_handler() noexcept;

// traceback prints buf's frames as Go's traceback does (two lines each: the
// function, then its file:line and offset), the runtime's frames hidden
// below level 2.
void traceback(printer& pr, const pcbuf& buf, int level);

// printcreatedby prints "created by F in goroutine K" and where, unless s is
// goroutine 1 or F is the runtime's and level < 2.
void printcreatedby(printer& pr, const gsnap& s, int level);

// tracebackothers prints every goroutine but me (which may be nullptr): a
// blank line, its header, its stack (a parked or runnable G's, unwound from
// its saved context; one running on another thread has none to show), its
// creator. Takes no lock: callable from a signal handler and while other
// threads run (traceback.cpp).
void tracebackothers(printer& pr, const g* me, int level);

// symbolizer_init makes the symbolizer ready (it reads the program's
// symbol tables and debug information once): a fatal report calls it
// before it stops the other threads, one of which might hold the dynamic
// loader's lock that this first use takes.
void symbolizer_init();

// probe_fault: called first by the fault handler (signal_unix.cpp). If the
// faulting thread was reading a stack that changed under it, it goes back
// to where the read began (siglongjmp) and does not return.
void probe_fault();

}  // namespace gort::rt
