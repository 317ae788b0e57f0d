// export_test.cpp: the census (export_test.hpp). Each count is taken by the
// file that owns what it counts (census_proc, census_stack, ...), under
// that file's own lock; this file only adds them up and names the nonzero
// ones, so that a leak check's failure says what leaked and how many.
// Also backdate_waits, a clock behind for sysmon's waitsince stamp.
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

}  // namespace gort::rt
