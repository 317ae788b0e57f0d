// switch.cpp: goroutine switches. Go counterpart: gogo and mcall
// (asm_amd64.s) plus the state Go keeps per G that C++ keeps per thread.
//
// A switch is gort_gogo_switch (asm_*.S: callee-saved registers, stack
// pointer, FP control words) wrapped in what the C++ runtime and the
// sanitizers must be told:
//
//   errno      Per thread in glibc, but a goroutine's errno must follow the
//              goroutine: a G that fails a call, parks, and resumes on another
//              thread still reads its own errno. Saved into the G when it
//              leaves a thread and written back when it resumes.
//   __cxa_eh_globals
//              libstdc++/libc++abi keep the stack of caught exceptions and the
//              uncaught count per thread. A G may yield inside a catch block
//              and `throw;` on another thread, and std::uncaught_exceptions()
//              in one G must not count another's unwinding. The two words move
//              with the G exactly like errno. Their address is constant for a
//              thread, so each M looks it up once (minit_switch).
//   ASan       __sanitizer_start_switch_fiber before, finish after, so ASan
//              knows which stack is live (and drops an exiting G's fake stack).
//   TSan       __tsan_switch_to_fiber before: each stack carries a TSan fiber
//              (stack.cpp), and a switch is a synchronisation point (flag 0).
//
// After the switch, the resumed side runs its M's afterswitch (proc.cpp,
// "Switching") before anything else: that finishes leaving the previous G now
// that nobody is on its stack. A new G's first resume is gort_goentry.
#include "runtime/switch.hpp"

#include <pthread.h>

#include <cxxabi.h>
#include <cerrno>
#include <cstring>
#include <utility>

#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/stack.hpp"

#if defined(GORT_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(GORT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace gort::rt {
namespace {

constexpr std::size_t eh_words = 2;  // caughtExceptions, uncaughtExceptions

inline void save_thread_state(m* mp, g* gp) {
  gp->saved_errno = *mp->errno_loc;
  std::memcpy(gp->eh_globals, mp->eh_globals_loc, sizeof(void*) * eh_words);
}

inline void load_thread_state(m* mp, g* gp) {
  std::memcpy(mp->eh_globals_loc, gp->eh_globals, sizeof(void*) * eh_words);
  *mp->errno_loc = gp->saved_errno;
}

// In place, cleared as it runs: nothing in it switches.
inline void run_afterswitch(m* mp) {
  after_switch& as = mp->afterswitch;
  if (as.fn) std::exchange(as.fn, nullptr)(mp, as.gp, as.arg);
}

// resumed is the common tail of every resume: gp is running again on gp->m.
inline void resumed(g* gp, [[maybe_unused]] void* fake_stack) {
  m* mp = gp->m;
#if defined(GORT_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  run_afterswitch(mp);
  load_thread_state(mp, gp);
}

}  // namespace

void gogo(m* mp, g* from, g* to, bool from_exits) {
  save_thread_state(mp, from);
  stack_check_canary(from);
#if defined(GORT_ASAN)
  __sanitizer_start_switch_fiber(from_exits ? nullptr : &from->asan_fake_stack, reinterpret_cast<void*>(to->stk->lo),
                                 to->stk->hi - to->stk->lo);
#else
  (void)from_exits;
#endif
#if defined(GORT_TSAN)
  __tsan_switch_to_fiber(to->stk->tsan_fiber, 0);
#endif
  gort_gogo_switch(&from->sched, &to->sched);
#if defined(GORT_ASAN)
  resumed(from, from->asan_fake_stack);
#else
  resumed(from, nullptr);
#endif
}

void afterswitch_in_place(m* mp) { run_afterswitch(mp); }

namespace {

#if defined(GORT_ASAN)
// on_g0 brackets fn with the fiber annotations of a switch to g0's stack
// and back (the switch itself, gort_systemstack, says nothing to ASan).
struct on_g0 {
  void (*fn)(void*);
  void* arg;
  const void* from_bottom;  // the goroutine's stack, to switch back to
  std::size_t from_size;
};

void on_g0_run(void* p) {
  auto* a = static_cast<on_g0*>(p);
  __sanitizer_finish_switch_fiber(nullptr, &a->from_bottom, &a->from_size);
  a->fn(a->arg);
  __sanitizer_start_switch_fiber(nullptr, a->from_bottom, a->from_size);
}
#endif

}  // namespace

void systemstack(m* mp, void (*fn)(void*), void* arg) {
  const auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  const stack& s = mp->g0stack;
  if (sp >= s.lo && sp < s.hi) return fn(arg);
  // g0 is parked: its saved context is the bottom of its live frames. A
  // margin below it, for the red zone of x86-64's System V ABI and more.
  const std::uintptr_t top = reinterpret_cast<std::uintptr_t>(mp->g0.sched.sp) - 256;
#if defined(GORT_ASAN)
  void* fake_stack = nullptr;
  on_g0 a{fn, arg, nullptr, 0};
  __sanitizer_start_switch_fiber(&fake_stack, reinterpret_cast<void*>(s.lo), top - s.lo);
  gort_systemstack(&on_g0_run, &a, reinterpret_cast<void*>(top));
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#else
  gort_systemstack(fn, arg, reinterpret_cast<void*>(top));
#endif
}

void minit_switch(m* mp) {
  mp->errno_loc = &errno;
  mp->eh_globals_loc = reinterpret_cast<void**>(abi::__cxa_get_globals());
  // g0 runs on the thread's own stack; record its bounds for ASan and the
  // stack-overflow check.
  pthread_attr_t attr;
  void* addr = nullptr;
  std::size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
  }
  mp->g0stack.lo = reinterpret_cast<std::uintptr_t>(addr);
  mp->g0stack.hi = mp->g0stack.lo + size;
  mp->g0stack.guarded = true;  // the thread's own guard; never canary-checked
  mp->g0.stk = &mp->g0stack;
#if defined(GORT_TSAN)
  mp->g0stack.tsan_fiber = __tsan_get_current_fiber();
#endif
}

}  // namespace gort::rt

// gort_goentry is where a new G first runs, called by gort_goentry_trampoline
// (asm_*.S) at the bottom of its stack: finish the switch, run the function,
// destroy the closure (on the goroutine, since its destructors may use the
// runtime), and exit (goexit1). The function is the goroutine's own code,
// where its P may be taken (user_enter/user_exit, preempt.hpp).
extern "C" [[noreturn]] void gort_goentry(gort::rt::g* gp) {
  using namespace gort::rt;
  resumed(gp, nullptr);
  user_enter(gp);
  gp->fnops->call(gp->fn);
  user_exit(gp);
  goexit1(gp);
}
