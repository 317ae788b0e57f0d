// lockrank.hpp: the order of the runtime's locks, and the checks of checked
// builds. Go counterpart: lockrank.go (generated from mklockrank.go's DAG),
// lockrank_on.go (the checks, GOEXPERIMENT=staticlockranking) and
// lockrank_off.go (the same functions, empty).
//
// The order. Every runtime lock (rt::mutex) gets a rank where it is
// constructed; a thread may take a lock only if its rank is above that of
// every lock it holds. Two locks of one rank may be held together only where
// the table says so (same_rank_ok), and then only in increasing address
// order: select's sellock takes its channels' locks that way, as Go allows
// lockRankHchan under itself. Go's table is a DAG with a partial order of
// which ranks may be held under each; gort's locks are few, and the DAG
// linearized into one list says the same thing. From first taken to last
// (docs/ARCHITECTURE.md, "Locks", has it as a table):
//
//   trace_ctl    trace.cpp's start/stop lock (a std::mutex, ranked through
//                its ranked_guard): trace_stop takes sched.lock under it.
//   extram       proc.cpp's extram_lock: needm/dropm bind a thread, then
//                take sched.lock and allglock for its M and G.
//   fd_registry  net/fd_wait.cpp's registry of foreign descriptors: held
//                across poll_open/poll_close (a poll_desc, the poll cache).
//   notify_list  a Cond's list (sema.cpp, the word in gort/sync.hpp): held
//                to queue or unlink sudogs, nothing readied under it; a
//                waiter holds it across its park until gopark's unlockf,
//                and the M may take the next G's stack (stackpool) first.
//                So too hchan and sema_root.
//   poll_desc    a descriptor's lock: setting a deadline modifies its timer
//                (timer.mu, timers.mu) and may wake a P (sched.lock).
//   timer        a timer's own mu (time.hpp): stop and reset take the heap's
//                lock under it, and a firing sends on its channel under it
//                (Go's sendLock).
//   hchan        a channel; several at once in select, in address order.
//                Nothing is readied under it (chan.hpp), but goready's slow
//                paths (the global queue, wakep) take sched.lock.
//   sema_root    a semaphore root (sema.cpp): the treap; readies after the
//                unlock, but its handoff path takes sched.lock.
//   sched        sched.lock: idle Ms and Ps, the global run queue; under it
//                gfreelock, allglock, the stack pool, and (procresize, the
//                world stopped) a dying P's timers.
//   gfree        sched.gfreelock: the global free Gs (gfget/gfput).
//   allg         allglock: malg's appends to allgs.
//   timers       a P's heap (timers.mu): above sched.lock as in Go, since
//                procresize moves timers under it; due sleeps are readied,
//                and timers run, after its unlock.
//   stackpool    stack.cpp's pool of stacks: a leaf.
//   pollcache    netpoll.cpp's free descriptors: a leaf.
//   trace_g, trace_q  trace.cpp's goroutine buffer, then its writer's queue:
//                trace hooks run under any runtime lock.
//
// The check (GORT_CHECKED builds only). Each thread keeps the locks it holds
// on a small stack (a thread_local array: a runtime lock is taken and
// released by one thread, since it blocks the M, never just the G, and a
// goroutine parks with gopark's unlockf releasing on the same M's g0).
// lock_acquire compares the new lock with the top of the stack only: every
// push is checked against the top, releases may come in any order, and
// removing from a sorted list keeps it sorted, so the top is the maximum.
// A lock taken by try_lock cannot deadlock: it is pushed unchecked (Go does
// the same). A violation prints the held locks with "runtime:" lines and
// dies with "fatal error: lock ordering problem"; taking a lock this thread
// holds is one (same rank, same address). assert_lock_held dies with Go's
// "not holding required lock!". In normal builds every function here is an
// empty inline and rt::mutex carries no rank: the lock and unlock paths
// compile to the same code.
#pragma once

#include <cstdint>

namespace gort::rt {

enum class lock_rank : std::uint8_t {
  trace_ctl = 1,
  extram,
  fd_registry,
  notify_list,
  poll_desc,
  timer,
  hchan,
  sema_root,
  sched,
  gfree,
  allg,
  timers,
  stackpool,
  pollcache,
  trace_g,
  trace_q,
};

// lock_rank_name: the rank's name in fatal reports ("sched", "hchan").
const char* lock_rank_name(lock_rank r);

// same_rank_ok: two locks of rank r may be held together, taken in
// increasing address order. Go: lockPartialOrder listing a rank under itself.
constexpr bool same_rank_ok(lock_rank r) { return r == lock_rank::hchan; }

#ifdef GORT_CHECKED
// lock_acquire checks that the calling thread may take lock l of rank r now
// and records it; lock_acquired records a lock got by try_lock. Both before
// or after the real lock: they touch only this thread's stack.
void lock_acquire(const void* l, lock_rank r);
void lock_acquired(const void* l, lock_rank r);
// lock_release forgets l; a lock this thread does not hold is fatal.
void lock_release(const void* l);
// lock_held_check: Go's assertLockHeld. Fatal unless this thread holds l.
void lock_held_check(const void* l);
// locks_held: how many locks this thread holds (for gopark's check and tests).
int locks_held();
#else
inline void lock_acquire(const void*, lock_rank) {}
inline void lock_acquired(const void*, lock_rank) {}
inline void lock_release(const void*) {}
inline void lock_held_check(const void*) {}
#endif

}  // namespace gort::rt
