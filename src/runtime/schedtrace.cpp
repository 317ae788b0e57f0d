// schedtrace.cpp: GODEBUG=schedtrace=X[,scheddetail=1] reports, in Go's exact
// format. Go counterpart: schedtrace in proc.go. Printed by sysmon every X
// ms (sysmon.cpp). Like Go's, it reads other threads' fields without their
// owners' cooperation: a snapshot, consistent only where sched.lock makes it.
// Hence its relaxed loads: it prints and orders nothing. gomaxprocs is written
// under sched.lock, which the second read holds. The first, for the timer
// counts, is outside it: allp_len's acquire sees the Ps a procresize made.
//
//   SCHED 1004ms: gomaxprocs=2 idleprocs=2 threads=5 spinningthreads=0 needspinning=0 idlethreads=3 runqueue=0 [0 0]
//
// With scheddetail=1 the line continues with gcwaiting, nmidlelocked,
// stopwait and sysmonwait, and per-P, per-M and per-G lines follow.
#include <string>

#include "runtime/panic.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {
namespace {

// idstr formats an optional id as Go prints it: the number, or nil.
std::string idstr(bool present, long long id) { return present ? std::to_string(id) : "nil"; }

const char* boolstr(bool b) { return b ? "true" : "false"; }

}  // namespace

void schedtrace(bool detailed) {
  const long long now_ms = (nanotime() - runtime_init_time) / 1000000;
  // Timer counts first: a heap's lock is never taken under sched.lock.
  std::size_t timerslen[max_gomaxprocs] = {};
  for (std::int32_t i = 0; detailed && i < allp_len(); ++i) {
    timers& ts = allp[i]->timers;
    ts.mu.lock();
    timerslen[i] = ts.heap.size() + (ts.run.size() - ts.run_head);
    ts.mu.unlock();
  }
  sched.lock.lock();
  const std::int32_t procs = sched.gomaxprocs.load(std::memory_order_relaxed);
  std::string line = "SCHED " + std::to_string(now_ms) + "ms: gomaxprocs=" + std::to_string(procs) +
                     " idleprocs=" + std::to_string(sched.npidle.load()) + " threads=" + std::to_string(mcount()) +
                     " spinningthreads=" + std::to_string(sched.nmspinning.load()) +
                     " needspinning=" + std::to_string(sched.needspinning.load()) +
                     " idlethreads=" + std::to_string(sched.nmidle) +
                     " runqueue=" + std::to_string(sched.runqsize.load());
  if (detailed) {
    line += std::string(" gcwaiting=") + boolstr(sched.stop.load() & stop_gcwaiting) +
            " nmidlelocked=" + std::to_string(sched.nmidlelocked) + " stopwait=" + std::to_string(sched.stopwait) +
            " sysmonwait=" + boolstr(sched.sysmonwait.load()) + "\n";
  }
  for (std::int32_t i = 0; i < procs; ++i) {
    p* pp = allp[i];
    if (detailed) {
      m* mp = pp->m.load(std::memory_order_relaxed);
      line += "  P" + std::to_string(i) + ": status=" + std::to_string(static_cast<unsigned>(pp->status.load())) +
              " schedtick=" + std::to_string(pp->schedtick.load()) +
              " syscalltick=" + std::to_string(pp->syscalltick.load()) + " m=" + idstr(mp != nullptr, mp ? mp->id : 0) +
              " runqsize=" + std::to_string(pp->runq.size()) + " gfreecnt=" + std::to_string(pp->gfreecnt.load()) +
              " timerslen=" + std::to_string(timerslen[i]) + "\n";
    } else {
      line += (i == 0 ? " [" : " ") + std::to_string(pp->runq.size());
      if (i == procs - 1) line += "]\n";
    }
  }
  if (!detailed) {
    sched.lock.unlock();
    printerr("%s", line.c_str());
    return;
  }
  for (m* mp = allm; mp; mp = mp->alllink) {
    p* pp = mp->p;
    g* gp = mp->curg;
    g* lg = mp->lockedg;
    line += "  M" + std::to_string(mp->id) + ": p=" + idstr(pp != nullptr, pp ? pp->id : 0) +
            " curg=" + idstr(gp != nullptr, gp ? static_cast<long long>(gp->goid) : 0) +
            " mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning=" + boolstr(mp->spinning) +
            " blocked=" + boolstr(mp->blocked.load()) +
            " lockedg=" + idstr(lg != nullptr, lg ? static_cast<long long>(lg->goid) : 0) + "\n";
  }
  sched.lock.unlock();
  for_each_g([&line](g* gp) {
    m* mp = gp->status() == gstatus::Grunning || gp->status() == gstatus::Gsyscall ? gp->m : nullptr;
    line += "  G" + std::to_string(gp->goid) + ": status=" + std::to_string(static_cast<unsigned>(gp->status())) + "(" +
            wait_reason_string(gp->waitreason) + ") m=" + idstr(mp != nullptr, mp ? mp->id : 0) +
            " lockedm=" + idstr(gp->lockedm != nullptr, gp->lockedm ? gp->lockedm->id : 0) + "\n";
  });
  // One write per line: printerr cuts at 1 KiB.
  std::size_t start = 0;
  while (start < line.size()) {
    std::size_t end = line.find('\n', start);
    if (end == std::string::npos) end = line.size() - 1;
    printerr("%.*s", static_cast<int>(end + 1 - start), line.data() + start);
    start = end + 1;
  }
}

}  // namespace gort::rt
