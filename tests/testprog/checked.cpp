// testprog_checked: the rules GORT_CHECKED builds enforce, each broken on
// purpose, one scenario per run: `testprog_checked <Name>`. Built only in
// checked builds; tests/runtime/crash_test.cpp (CheckedTest) runs it and
// checks the "runtime:" line naming what broke and the "fatal error:" line.
// Go counterpart: lockrank_test.go's TestLockRankGenerated and the
// testprog scenarios that throw, as this file reaches into the runtime's
// internals the way export_test.go lets Go's tests.
//
// Locks of a scenario's own (a local rt::mutex with a rank) stand in for
// the runtime's where holding the real one would stall the fatal report
// (sched.lock); the check is the same code.
#include <gort/gort.hpp>

#include <cstdio>
#include <cstring>

#include "runtime/chan.hpp"
#include "runtime/lock_futex.hpp"
#include "runtime/proc.hpp"
#include "runtime/runq.hpp"
#include "runtime/runtime2.hpp"
#include "runtime/sema.hpp"
#include "runtime/time.hpp"
#include "scenario.hpp"

#ifndef GORT_CHECKED
#error "testprog_checked is built only with GORT_CHECKED"
#endif

namespace rt = gort::rt;
using rt::lock_rank;

namespace {

// in_run: f on goroutine 1, so the report has a goroutine to show.
int in_run(void (*f)()) {
  gort::run([f] { f(); });
  std::fprintf(stderr, "testprog_checked: the scenario returned\n");
  return 0;
}

// LockOrder: a channel's lock taken while holding sched.lock's rank.
int LockOrder() {
  return in_run([] {
    static rt::mutex sched_like{lock_rank::sched};
    static rt::mutex hchan_like{lock_rank::hchan};
    sched_like.lock();
    hchan_like.lock();
  });
}

// LockOrderChan: a real channel operation (its hchan lock) under a lock
// ranked above hchan (a semaphore root's rank).
int LockOrderChan() {
  return in_run([] {
    static rt::mutex root_like{lock_rank::sema_root};
    auto c = gort::make_chan<int>(1);
    root_like.lock();
    c.send(1);
  });
}

// LockReentry: a thread takes a lock it holds.
int LockReentry() {
  return in_run([] {
    static rt::mutex m{lock_rank::allg};
    m.lock();
    m.lock();
  });
}

// LockSameRank: two channel locks may be held together in increasing
// address order (select's sellock), not in decreasing order.
int LockSameRank() {
  return in_run([] {
    static rt::mutex pair[2] = {rt::mutex{lock_rank::hchan}, rt::mutex{lock_rank::hchan}};
    pair[0].lock();
    pair[1].lock();
    pair[1].unlock();
    pair[0].unlock();
    std::printf("increasing order ok\n");
    std::fflush(stdout);
    pair[1].lock();
    pair[0].lock();
  });
}

// LockNotHeld: a function that requires sched.lock, called without it.
int LockNotHeld() {
  return in_run([] { rt::sysmon_wake_locked(false); });
}

// UnlockNotHeld: an unlock of a lock this thread does not hold.
int UnlockNotHeld() {
  return in_run([] {
    static rt::mutex m{lock_rank::gfree};
    m.unlock();
  });
}

// BadGStatus: a running goroutine sent back to Gidle.
int BadGStatus() {
  return in_run([] { rt::casgstatus(rt::getg(), rt::gstatus::Grunning, rt::gstatus::Gidle); });
}

// BadPStatus: a running P declared dead.
int BadPStatus() {
  return in_run([] { rt::set_pstatus(rt::getm()->p, rt::pstatus::Pdead, std::memory_order_release); });
}

// RunqOverflow: a steal into a thief whose own ring has too little room
// (the scheduler steals only into an empty ring).
int RunqOverflow() {
  return in_run([] {
    static int gs[7];
    static rt::runq<int, 4> victim, thief;
    for (int i = 0; i < 4; ++i) victim.put(&gs[i]);
    for (int i = 4; i < 7; ++i) thief.put(&gs[i]);
    std::uint32_t stolen = 0;
    thief.steal(victim, false, false, [] { return true; }, stolen);
  });
}

// ChanQcount: a channel whose count exceeds its capacity, found by the
// next operation that takes its lock.
int ChanQcount() {
  return in_run([] {
    gort::detail::hchan* c = gort::detail::makechan(&gort::detail::elem_ops_for<int>, 1);
    c->qcount.store(2, std::memory_order_relaxed);
    int v = 0;
    gort::detail::chanrecv(c, &v, true);
  });
}

// ChanWaitingReceiver: a buffered channel holding a value while a receiver
// waits on it.
int ChanWaitingReceiver() {
  return in_run([] {
    static gort::detail::hchan* c = gort::detail::makechan(&gort::detail::elem_ops_for<int>, 1);
    gort::go([] {
      int v = 0;
      gort::detail::chanrecv(c, &v, true);  // parks on recvq
    });
    while (c->recvq_.head() == nullptr) gort::yield();
    c->qcount.store(1, std::memory_order_relaxed);  // as if a send had buffered past it
    int v = 1;
    gort::detail::chansend(c, &v, true);
  });
}

// TimerHeapOrder: a heap whose entry 1 is earlier than its parent.
int TimerHeapOrder() {
  return in_run([] {
    static rt::timers ts;
    ts.mu.lock();
    ts.heap.push_back({200, rt::tagged(rt::getg(), rt::timer_kind::sleep)});
    ts.heap.push_back({100, rt::tagged(rt::getg(), rt::timer_kind::sleep)});
    rt::check_heap_at(ts, 1);
  });
}

// SemaTreap: a treap whose right child's address is below its root's.
int SemaTreap() {
  return in_run([] {
    static int addrs[2];
    static rt::sudog root, child;
    root.elem = &addrs[1];
    root.ticket = 1;
    child.elem = &addrs[0];
    child.ticket = 3;
    child.parent = &root;
    root.next = &child;  // next holds the greater addresses
    rt::check_treap(&root);
  });
}

constexpr scenario scenarios[] = {
    {"LockOrder", LockOrder},
    {"LockOrderChan", LockOrderChan},
    {"LockReentry", LockReentry},
    {"LockSameRank", LockSameRank},
    {"LockNotHeld", LockNotHeld},
    {"UnlockNotHeld", UnlockNotHeld},
    {"BadGStatus", BadGStatus},
    {"BadPStatus", BadPStatus},
    {"RunqOverflow", RunqOverflow},
    {"ChanQcount", ChanQcount},
    {"ChanWaitingReceiver", ChanWaitingReceiver},
    {"TimerHeapOrder", TimerHeapOrder},
    {"SemaTreap", SemaTreap},
};

}  // namespace

int main(int argc, char** argv) { return run_scenario("testprog_checked", scenarios, argc, argv); }
