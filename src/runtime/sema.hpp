// sema.hpp: semaphores for goroutines, keyed by address. Go counterpart:
// sema.go (semacquire1, semrelease1). The sync package is built on them.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/runtime2.hpp"

namespace gort::rt {

// semacquire waits until *addr > 0 and then decrements it, parking the
// goroutine (reason says why, for tracebacks). lifo queues this waiter
// ahead of the others on addr (sync.Mutex's re-queued waiters).
void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, wait_reason reason);

// semrelease adds n to *addr and wakes up to n waiters on addr. After the
// increment it touches *addr again only for a handoff, before readying the
// waiter, so the object holding it may be destroyed as soon as a woken
// waiter returns (WaitGroup's guarantee).
// handoff (n == 1 only; sync.Mutex in starvation mode): the count goes
// straight to the woken waiter, which then runs at once on this P while the
// caller yields to the back of the local queue (Go's semrelease1 + goyield).
void semrelease(std::atomic<std::uint32_t>* addr, std::uint32_t n, bool handoff = false);

// sync_runtime_canSpin: may sync.Mutex spin (iteration i) rather than park?
// Only on multicore, a few times, while other Ps are running (the holder may
// be one of them) and this P has nothing else to run.
bool sync_runtime_can_spin(int i);
void sync_runtime_do_spin();

// sema_teardown: run() is over and its abandoned goroutines' stacks go, with
// the waiting records (sudogs) on them: empty every root of the table, or
// the next run would walk into freed stacks.
void sema_teardown();

#ifdef GORT_CHECKED
// check_treap: the shape of a semaphore root's treap (sema.cpp): a binary
// search tree on elem (prev below, next above), a min-heap on ticket, each
// node's parent the node that points to it, and parent the root's (nullptr
// at the top); fatal if broken. Checked builds walk the whole treap after
// every queue and dequeue (under the root's lock): a root holds the
// addresses that hash to it, a handful.
void check_treap(const sudog* root);
#endif

}  // namespace gort::rt

namespace gort::detail {

// A ticket-based list of waiters, Go's notifyList (sema.go), for sync.Cond
// (src/sync/cond.cpp keeps one in each Cond's opaque storage): wait is the
// next ticket to hand out, notify the next ticket to wake, so a signal wakes
// the longest waiter and never one that arrived after it. Only sema.cpp
// touches the fields: wait is incremented without the lock, notify is read
// without it but written under it; lock is a runtime mutex (its only
// member, 0 = unlocked, as sema.cpp checks) guarding head and tail, the list
// of parked waiters.
struct notify_list {
  std::atomic<std::uint32_t> wait{0};
  std::atomic<std::uint32_t> notify{0};
  std::atomic<std::uint32_t> lock{0};
  void* head = nullptr;
  void* tail = nullptr;
};
std::uint32_t notify_list_add(notify_list* l) noexcept;
void notify_list_wait(notify_list* l, std::uint32_t ticket);
void notify_list_notify_one(notify_list* l) noexcept;
void notify_list_notify_all(notify_list* l) noexcept;
// notify_list_drop_waiters empties l's list of parked waiters and returns
// how many there were: the end of a run, as rt::chan_drop_waiters (chan.hpp).
// Their tickets stay taken and unnotified: a later notify_one finds no
// waiter for the next one and moves past it, as for a waiter yet to park.
std::size_t notify_list_drop_waiters(notify_list* l);

}  // namespace gort::detail
