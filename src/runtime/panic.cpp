// panic.cpp: fatal errors and unrecovered panics. Go counterpart: panic.go
// (throw, fatal, fatalpanic, printpanics, startpanic_m).
//
// An exception that no frame of a goroutine catches is an unrecovered Go
// panic: "panic: <what()>", "goroutine N [running]:", the stack where it was
// thrown, exit status 2. To print that stack, the frames of the throw must
// still exist when the report is made; a catch(...) at the bottom of the
// goroutine would come too late, after unwinding. So the bottom frame
// (gort_goentry_trampoline, asm_*.S) names gort_goroutine_personality as its
// personality routine. The unwinder's search phase, which walks up from the
// throw without changing anything, reaches that frame only if nothing caught
// the exception; there the personality records the backtrace, then claims
// the exception. In the cleanup phase destructors run (Go's deferred calls)
// and control lands in gort_goentry_landing, which calls gort_gopanic. A
// program that catches its exceptions pays nothing for any of this.
//
// Dying. The first thread to report a fatal error wins (start_dying); it
// freezes the other Ms first (signal_unix.cpp, freezetheworld), so that the
// report is the last thing the program says. The signals that become fatal
// reports (a fault on a goroutine, SIGQUIT) are in signal_unix.cpp, with
// every other handler of the runtime and the SIGABRT of GOTRACEBACK=crash
// (die_from_signal). What a report prints (which goroutines, which frames)
// is GOTRACEBACK's to say (traceback.cpp); it is printed on g0's stack
// (systemstack), as Go's fatalthrow does, since the goroutine's may be
// nearly used up.
//
// Flushing. Go's os.Stdout is unbuffered; C's stdout is not, when it is a
// pipe or a file, nor is std::cout when not synced with stdio, nor
// std::clog. What the program printed before it died must not be lost, so
// before the report, and before the other Ms are frozen (one may hold
// stdout's lock for a moment), start_dying flushes them: stdout (and
// std::cout, std::clog) if stdout's lock can be had within 100 ms
// (ftrylockfile: a lock held longer belongs to a thread that is stuck, and
// waiting would hang the report). Other FILE streams are not flushed:
// fflush(NULL) takes every stream's lock, including that of a stdin a
// goroutine is blocked reading from. A thread inside stdio must not flush
// (glibc's stream locks are recursive, so it would get the lock and write
// out a buffer it is halfway through changing), so where the report runs
// matters:
//   - a panic, a deadlock, a runtime error: in the runtime, never inside
//     stdio: it flushes itself;
//   - SIGQUIT: on sysmon's thread, which never takes a stdio lock
//     (signal_unix.cpp);
//   - a stack overflow or a nil dereference: in the fault handler on the
//     thread that faulted, which may have been inside printf when it did:
//     it asks sysmon to flush instead (flush_on_sysmon), and waits up to a
//     second. What the faulting thread was writing when it faulted (under
//     the lock) cannot be flushed; nor can anything without sysmon
//     (GODEBUG=sysmonoff=1). The program's own unbuffered writes (write(2),
//     std::cerr) need none of this.
#include "runtime/panic.hpp"

#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/signal_unix.hpp"
#include "runtime/stack.hpp"
#include "runtime/switch.hpp"
#include "runtime/traceback.hpp"

namespace gort::rt {
namespace {

std::atomic<bool> dying_flag{false};
constexpr int max_panic_frames = 128;  // the throw's own frames, then what a traceback shows

struct panic_trace {
  int n;
  void* frames[max_panic_frames];
};

// dying_tid: the thread making the report. A fault in the report itself
// (the runtime's state may be what broke) ends the process at once.
std::atomic<pid_t> dying_tid{0};

}  // namespace

void start_dying(flush_how how) {
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  if (dying_flag.exchange(true)) {
    if (dying_tid.load() == self) _exit(2);
    for (;;) pause();  // the first report exits the process
  }
  dying_tid.store(self);
  // The report is the runtime's: sysmon must not take this M's P halfway
  // through it (preempt.cpp).
  if (m* mp = getm()) runtime_enter(mp);
  if (how == flush_how::here)
    flush_std_streams();
  else if (how == flush_how::by_sysmon)
    flush_on_sysmon();
  symbolizer_init();
  freezetheworld();
}

void flush_std_streams() {
  const timespec ms{0, 1'000'000};
  for (int tries = 0; ftrylockfile(stdout) != 0; ++tries) {
    if (tries == 100) return;
    nanosleep(&ms, nullptr);
  }
  try {
    std::cout.flush();  // synced with stdio (the default), into stdout's buffer
    std::clog.flush();
  } catch (...) {  // a stream with exceptions() set: the report goes on
  }
  std::fflush(stdout);
  funlockfile(stdout);
}

void exit2(bool crash) {
  if (crash) die_from_signal(SIGABRT);  // Go: crash, for a core dump
  _exit(2);
}

namespace {

// report: a fatal report's parts, for printing on the system stack.
struct report {
  const char* head;   // "fatal error: ", "panic: "
  const char* msg;
  traceback_mode mode;
  g* gp;              // the goroutine that failed, nullptr on g0
  m* mp;
  pcbuf cur;          // its stack, or g0's
};

// print_report prints r: the message, then, as GOTRACEBACK says, the
// failing goroutine (or g0's stack, "runtime stack:", at level 2) and the
// others. Go: dopanic_m.
void print_report(void* arg) {
  auto* r = static_cast<report*>(arg);
  printer pr(2, stack_lo_of(r->mp));
  pr.str(r->head).str(r->msg).str("\n");
  const int level = r->mode.level;
  if (level <= 0) return;
  if (r->gp != nullptr) {
    pr.str("\n");
    const gsnap s = snapshot(r->gp);
    goroutineheader(pr, s, 0, true);
    traceback(pr, r->cur, level);
    printcreatedby(pr, s, level);
  } else if (level >= 2) {
    pr.str("\nruntime stack:\n");
    traceback(pr, r->cur, level);
  }
  if (r->mode.all) tracebackothers(pr, r->gp, level);
}

// print_report_on_g0 prints r on g0's stack if it is a goroutine's.
void print_report_on_g0(report& r) {
  if (r.gp != nullptr && r.mp != nullptr)
    systemstack(r.mp, &print_report, &r);
  else
    print_report(&r);
}

// die reports a fatal error, from the frame whose return address is pc.
[[noreturn]] void die(const char* msg, throw_type t, const void* pc) {
  start_dying(flush_how::here);
  report r{"fatal error: ", msg, gotraceback(t), getg(), getm(), {}};
  callers(r.cur, reinterpret_cast<std::uintptr_t>(pc));
  print_report_on_g0(r);
  exit2(r.mode.crash);
}

}  // namespace

void printerr(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  std::size_t len = std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1);
  for (std::size_t off = 0; off < len;) {
    ssize_t w = write(2, buf + off, len - off);
    if (w <= 0) return;
    off += static_cast<std::size_t>(w);
  }
}

[[gnu::noinline]] void gothrow(const char* msg) { die(msg, throw_type::runtime, __builtin_return_address(0)); }
[[gnu::noinline]] void fatal(const char* msg) { die(msg, throw_type::user, __builtin_return_address(0)); }

namespace {

// panic_value describes the exception being handled, as Go prints a panic
// value: what() for a std::exception, the value of a string or integer, else
// its type.
std::string panic_value() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (const char* s) {
    return s;
  } catch (const std::string& s) {
    return s;
  } catch (int v) {
    return std::to_string(v);
  } catch (long v) {
    return std::to_string(v);
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    if (!t) return "(foreign exception)";
    int status = 0;
    char* name = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
    std::string s = std::string("(") + (status == 0 && name ? name : t->name()) + ") exception";
    std::free(name);
    return s;
  }
}

// skip_throw_frames returns the index of the first frame above the throw
// (past __cxa_throw and the unwinder's own frames).
int skip_throw_frames(void* const* frames, int n) {
  int first = 0;
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (dladdr(frames[i], &info) && info.dli_sname &&
        (std::strncmp(info.dli_sname, "__cxa_", 6) == 0 || std::strncmp(info.dli_sname, "_Unwind_", 8) == 0))
      first = i + 1;
  }
  return first;
}

}  // namespace
}  // namespace gort::rt

using namespace gort::rt;

// gort_goroutine_personality: see the top of this file. The search phase has
// reached the goroutine's bottom frame, so nothing catches the exception.
extern "C" _Unwind_Reason_Code gort_goroutine_personality(int version, _Unwind_Action actions,
                                                          std::uint64_t /*exception_class*/, _Unwind_Exception* ue,
                                                          _Unwind_Context* ctx) {
  if (version != 1 || (actions & _UA_FORCE_UNWIND)) return _URC_CONTINUE_UNWIND;
  if (actions & _UA_SEARCH_PHASE) {
    if (g* gp = getg()) {
      auto* t = static_cast<panic_trace*>(std::malloc(sizeof(panic_trace)));
      if (t) {
        t->n = backtrace(t->frames, max_panic_frames);
        std::free(gp->panic_trace);
        gp->panic_trace = t;
      }
    }
    return _URC_HANDLER_FOUND;
  }
  if (actions & _UA_HANDLER_FRAME) {
    _Unwind_SetGR(ctx, __builtin_eh_return_data_regno(0), reinterpret_cast<_Unwind_Word>(ue));
    _Unwind_SetIP(ctx, reinterpret_cast<_Unwind_Ptr>(&gort_goentry_landing));
    return _URC_INSTALL_CONTEXT;
  }
  return _URC_CONTINUE_UNWIND;
}

// gort_gopanic reports an unrecovered panic and exits with status 2. The
// goroutine's destructors have run; its stack at the throw was recorded.
extern "C" [[noreturn]] void gort_gopanic(_Unwind_Exception* ue) {
  abi::__cxa_begin_catch(ue);
  std::string value = panic_value();
  start_dying(flush_how::here);
  report r{"panic: ", value.c_str(), gotraceback(throw_type::none), getg(), getm(), {}};
  if (auto* t = static_cast<panic_trace*>(r.gp->panic_trace)) {
    for (int i = skip_throw_frames(t->frames, t->n); i < t->n && r.cur.n < pcbuf::max; ++i)
      r.cur.pc[r.cur.n++] = reinterpret_cast<std::uintptr_t>(t->frames[i]);
  }
  print_report_on_g0(r);
  exit2(r.mode.crash);
}
