// export_test.cpp: the census (export_test.hpp). Each count is taken by the
// file that owns what it counts (census_proc, census_stack, ...), under
// that file's own lock; this file only adds them up and names the nonzero
// ones, so that a leak check's failure says what leaked and how many.
// Also backdate_waits, a clock behind for sysmon's waitsince stamp, and
// two reads of scheduler state (syscall_keeps, held_p_taken).
#include "runtime/export_test.hpp"

#include <string>

#include "runtime/lock_futex.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {

Census census() {
  Census c;
  census_proc(c);
  census_stack(c);
  census_time(c);
  census_sema(c);
  census_netpoll(c);
  census_select(c);
  census_signal(c);
  census_trace(c);
  return c;
}

std::string census_leaks(const Census& c) {
  std::string s;
  const auto add = [&s](const char* name, std::size_t n) {
    if (n == 0) return;
    if (!s.empty()) s += ' ';
    s += name;
    s += '=';
    s += std::to_string(n);
  };
  add("gs", c.gs);
  add("g_regions", c.g_regions);
  add("stacks", c.stacks);
  add("stack_regions", c.stack_regions);
  add("ms", c.ms);
  add("ps", c.ps);
  add("timer_entries", c.timer_entries);
  add("sema_roots", c.sema_roots);
  add("sema_waiters", c.sema_waiters);
  add("sigstacks", c.sigstacks);
  add("trace_bufs", c.trace_bufs);
  add("func_timers", c.func_timers);
  add("poll_descs", c.poll_descs);
  add("select_scratch", c.select_scratch);
  add("extra_ms", c.extra_ms);
  return s;
}

void backdate_waits(std::int64_t ago_ns) { markwaitsince(nanotime() - ago_ns); }

std::uint64_t syscall_keeps() {
  // The retakes first: each adds to a tick before it counts itself.
  const std::uint64_t retakes = sched.nhandoff_syscall.load(std::memory_order_relaxed);
  std::uint64_t ticks = 0;
  for (std::int32_t i = 0, n = allp_len(); i < n; ++i) ticks += allp[i]->syscalltick.load(std::memory_order_relaxed);
  return ticks > retakes ? ticks - retakes : 0;
}

bool held_p_taken() {
  const g* gp = getg();
  return gp != nullptr && gp->atomicstatus.load(std::memory_order_acquire) == gstatus::Gsyscall;
}

}  // namespace gort::rt
