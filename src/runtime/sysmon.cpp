// sysmon.cpp: the system monitor, a thread with no P that watches the
// scheduler. Go counterpart: sysmon in proc.go.
//
// In Go, sysmon retakes Ps from long system calls, preempts goroutines that
// run too long, polls the network when nobody has, and prints schedtrace.
// gort's sysmon so far does the last: it is started only when
// GODEBUG=schedtrace is set, and sleeps on a note between reports so that
// run()'s end (sysmon_stop) wakes it at once. It counts as a system M
// (sched.nmsys), so checkdead does not take it for a thread at work.
#include <algorithm>

#include "runtime/proc.hpp"

namespace gort::rt {
namespace {

note sysmonnote;      // woken by sysmon_stop
m* sysmon_m = nullptr;

void sysmon() {
  std::int64_t next = runtime_init_time + std::int64_t(debug.schedtrace) * 1000000;
  for (;;) {
    if (sysmonnote.tsleep(std::max<std::int64_t>(0, next - nanotime()))) return;
    schedtrace(debug.scheddetail > 0);
    next += std::int64_t(debug.schedtrace) * 1000000;
  }
}

}  // namespace

void sysmon_start() {
  sysmonnote.clear();
  sched.lock.lock();
  m* mp = new m;
  mp->is_sysmon = true;
  mcommoninit(mp);
  ++sched.nmsys;
  sysmon_m = mp;
  mp->thread = std::thread(sysmon);
  sched.lock.unlock();
}

void sysmon_stop() {
  if (sysmon_m == nullptr) return;
  sysmon_m = nullptr;
  sysmonnote.wakeup();
}

}  // namespace gort::rt
