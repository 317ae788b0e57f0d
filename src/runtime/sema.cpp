// sema.cpp: semaphores for goroutines, sync.Mutex's spinning and sync.Cond's
// notify list. Go counterpart: sema.go (Go 1.23), and sync_runtime_canSpin /
// doSpin from proc.go.
//
// What it is: a sleep and wakeup keyed by an address, with a counter at that
// address so that a wakeup that comes before the sleep is not lost. Don't
// think of it as a semaphore: every sleep is paired with one wakeup, even if
// the wakeup comes first.
//
// The table. Waiters hang off one of 251 roots (a prime, so as not to
// correlate with user patterns; root = (addr >> 3) % 251), each with its own
// lock and on its own cache line, so unrelated semaphores rarely contend. A
// root holds a treap of sudogs with distinct addresses (elem): a binary search
// tree on the address, kept balanced on average by a min-heap on a random
// priority (ticket = cheaprand | 1; the low bit is set because a ticket of 0
// means "not a treap node"). Each treap node heads a FIFO list (waitlink, and
// waittail on the head only) of the further waiters on the same address. So
// finding an address is O(log addresses in the root) and every operation on
// its list is O(1) (Go's issue 17953: one list per root was quadratic when
// many addresses collide).
//   queue    appends to the address's list, or with lifo puts the new waiter
//            at its head: it takes the old head's place in the treap (and its
//            priority), and the old head becomes the list's second. A new
//            address is a new leaf, rotated up while its priority is below
//            its parent's.
//   dequeue  removes the address's first waiter: the list's second takes its
//            place in the treap, or if there is none the node is rotated down
//            (towards its child of lower priority) to a leaf and cut off.
//
// Protocol (the "nwait" check, as Go): semacquire increments root.nwait
// before its last look at *addr; semrelease increments *addr before it loads
// nwait. Both are seq_cst, so either the acquirer sees the new count, or the
// releaser sees the waiter and takes the lock to wake it. A woken waiter
// takes a count like anyone else (cansemacquire) and may lose it to a
// newcomer, in which case it queues again: at the tail, or at the head for
// sync.Mutex's lifo re-queue.
//
// Handoff (sync.Mutex in starvation mode): the releaser takes the count it
// has just added back for the waiter it dequeued (s.ticket = 1: "you own it"),
// readies it into runnext and yields, so the waiter runs at once on this P
// and inherits its time slice, and no newcomer can take the count between.
//
// Lifetime of the semaphore word. semrelease touches *addr only to add n,
// except that with handoff it also takes one count back, and only after
// dequeuing a waiter that has not been readied: one that cannot have
// returned, so the word is still alive. Then it touches only the root and the
// sudogs, which are the waiters' and stay put until the waiters are readied.
// So the object holding *addr may go as soon as a woken waiter returns
// (WaitGroup's guarantee).
//
// notifyList (sync.Cond): a ticket-based list of waiters. notify_list_add
// takes a ticket (wait++, no lock); notify_list_wait parks unless its ticket
// was notified meanwhile (ticket < notify); notify_one wakes the waiter with
// ticket notify (notify++), notify_all everyone (notify = wait). Tickets wrap
// around; they are compared as int32 differences, valid while fewer than 2^31
// goroutines wait on one Cond. The list is not in ticket order (a waiter
// queues after it takes its ticket, and may lose that race), so notify_one
// searches it; the waiter it wants is almost always near the front.
//
// gort departures: a waiter's sudog lives on its own stack (gort stacks
// never move), so there is no sudog cache; a sudog may be read only until
// its G is readied, since the G may then return and reuse the memory (the
// releaser records a handoff in a local, where Go re-reads s.ticket).
// semrelease takes n and wakes up to n waiters in one call under one lock
// (WaitGroup wakes all its waiters with one call, where Go loops on
// semrelease), readying them in the order dequeued, as Go's loop would. No
// block or mutex profiling, so no acquiretime/releasetime/waiters.
#include "runtime/sema.hpp"

#include <cstddef>
#include <new>
#include <thread>
#include <type_traits>

#include "gort/sync.hpp"
#include "runtime/export_test.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {
namespace {

// sema_root: Go's semaRoot. lock guards treap and every field of the sudogs
// in it and in their lists; nwait is read without it (the "nwait" check).
struct alignas(64) sema_root {
  mutex lock{lock_rank::sema_root};
  sudog* treap GORT_GUARDED_BY(lock) = nullptr;  // root of the tree of distinct addresses
  std::atomic<std::uint32_t> nwait{0};  // waiters here, on any address

  void queue(void* addr, sudog* s, bool lifo) GORT_REQUIRES(lock);
  sudog* dequeue(void* addr) GORT_REQUIRES(lock);
  void rotate_left(sudog* x) GORT_REQUIRES(lock);
  void rotate_right(sudog* y) GORT_REQUIRES(lock);

  // The link that points to x: its parent's child pointer, or treap.
  sudog*& link_to(sudog* x) GORT_REQUIRES(lock) {
    sudog* p = x->parent;
    if (p == nullptr) return treap;
    if (p->prev == x) return p->prev;
    if (p->next != x) gothrow("semaRoot: treap node not its parent's child");
    return p->next;
  }
};

constexpr std::size_t sem_tab_size = 251;  // prime
sema_root semtable[sem_tab_size];

sema_root* semroot(const void* addr) { return &semtable[(reinterpret_cast<std::uintptr_t>(addr) >> 3) % sem_tab_size]; }

bool addr_less(const void* a, const void* b) {
  return reinterpret_cast<std::uintptr_t>(a) < reinterpret_cast<std::uintptr_t>(b);
}

// seq_cst, not acquire: after semacquire's nwait increment this load is the
// other half of the store-load pairing with semrelease (add to *addr, then
// load nwait). With acquire, a load-acquire-RCpc (aarch64 LDAPR) could read
// *addr before the nwait increment is visible, and both sides would miss
// each other: a lost wakeup.
bool cansemacquire(std::atomic<std::uint32_t>* addr) {
  std::uint32_t v = addr->load(std::memory_order_seq_cst);
  while (v != 0)
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_seq_cst)) return true;
  return false;
}

// queue adds s, waiting on addr, to the root.
void sema_root::queue(void* addr, sudog* s, bool lifo) {
  assert_lock_held(&lock);
  s->elem = addr;
  s->next = s->prev = s->parent = nullptr;
  s->waitlink = s->waittail = nullptr;

  sudog* last = nullptr;
  sudog** pt = &treap;
  for (sudog* t = *pt; t != nullptr; t = *pt) {
    if (t->elem == addr) {
      if (lifo) {
        // s takes t's place in the treap, with its priority and children,
        // and t becomes the first of s's list.
        *pt = s;
        s->ticket = t->ticket;
        s->parent = t->parent;
        s->prev = t->prev;
        s->next = t->next;
        if (s->prev) s->prev->parent = s;
        if (s->next) s->next->parent = s;
        s->waitlink = t;
        s->waittail = t->waittail ? t->waittail : t;
        t->parent = t->prev = t->next = nullptr;
        t->waittail = nullptr;
      } else {
        // s goes at the end of t's list.
        (t->waittail ? t->waittail->waitlink : t->waitlink) = s;
        t->waittail = s;
      }
      return;
    }
    last = t;
    pt = addr_less(addr, t->elem) ? &t->prev : &t->next;
  }

  // A new address: a new leaf, then rotated up to restore the heap order on
  // ticket (s->ticket <= its children's).
  s->ticket = cheaprand(getm()) | 1;
  s->parent = last;
  *pt = s;
  while (s->parent != nullptr && s->parent->ticket > s->ticket) {
    if (s->parent->prev == s) {
      rotate_right(s->parent);
    } else {
      if (s->parent->next != s) gothrow("semaRoot queue");
      rotate_left(s->parent);
    }
  }
#ifdef GORT_CHECKED
  check_treap(treap);
#endif
}

// dequeue removes and returns the first waiter on addr, or nullptr if there
// is none. The sudog returned is off every structure, with ticket 0.
sudog* sema_root::dequeue(void* addr) {
  assert_lock_held(&lock);
  sudog** ps = &treap;
  sudog* s = *ps;
  for (; s != nullptr; s = *ps) {
    if (s->elem == addr) break;
    ps = addr_less(addr, s->elem) ? &s->prev : &s->next;
  }
  if (s == nullptr) return nullptr;

  if (sudog* t = s->waitlink) {
    // t, next on addr, takes s's place in the treap.
    *ps = t;
    t->ticket = s->ticket;
    t->parent = s->parent;
    t->prev = s->prev;
    if (t->prev) t->prev->parent = t;
    t->next = s->next;
    if (t->next) t->next->parent = t;
    t->waittail = t->waitlink ? s->waittail : nullptr;
    s->waitlink = s->waittail = nullptr;
  } else {
    // Rotate s down to a leaf, lifting the child of lower priority, and cut
    // it off.
    while (s->next != nullptr || s->prev != nullptr) {
      if (s->next == nullptr || (s->prev != nullptr && s->prev->ticket < s->next->ticket))
        rotate_right(s);
      else
        rotate_left(s);
    }
    link_to(s) = nullptr;
  }
  s->parent = s->next = s->prev = nullptr;
  s->elem = nullptr;
  s->ticket = 0;
#ifdef GORT_CHECKED
  check_treap(treap);
#endif
  return s;
}

// rotate_left turns the subtree (x a (y b c)) into (y (x a b) c).
void sema_root::rotate_left(sudog* x) {
  sudog*& link = link_to(x);
  sudog* y = x->next;
  sudog* b = y->prev;
  y->prev = x;
  y->parent = x->parent;
  x->parent = y;
  x->next = b;
  if (b) b->parent = x;
  link = y;
}

// rotate_right turns the subtree (y (x a b) c) into (x a (y b c)).
void sema_root::rotate_right(sudog* y) {
  sudog*& link = link_to(y);
  sudog* x = y->prev;
  sudog* b = x->next;
  x->next = y;
  x->parent = y->parent;
  y->parent = x;
  y->prev = b;
  if (b) b->parent = y;
  link = x;
}

}  // namespace

#ifdef GORT_CHECKED
namespace {
// check_subtree: check_treap below t, whose addresses lie in (lo, hi)
// (nullptr: unbounded) and whose parent is parent.
const char* check_subtree(const sudog* t, const sudog* parent, const void* lo, const void* hi) {
  if (t == nullptr) return nullptr;
  if (t->parent != parent) return "a node's parent does not point to it";
  if ((lo != nullptr && !addr_less(lo, t->elem)) || (hi != nullptr && !addr_less(t->elem, hi)))
    return "addresses out of search order";
  if (parent != nullptr && parent->ticket > t->ticket) return "tickets out of heap order";
  if (const char* what = check_subtree(t->prev, t, lo, t->elem)) return what;
  return check_subtree(t->next, t, t->elem, hi);
}
}  // namespace

void check_treap(const sudog* root) {
  if (const char* what = check_subtree(root, nullptr, nullptr, nullptr)) [[unlikely]] {
    printerr("runtime: semaphore treap %p: %s\n", static_cast<const void*>(root), what);
    gothrow("semaRoot: bad treap");
  }
}
#endif

namespace {

// The slow halves of semacquire and semrelease, out of line: their frames
// (a sudog, the entry's guard, six saved registers) would otherwise be set
// up before the easy case is tested, and an uncontended semaphore is a CAS
// and an add.

[[gnu::noinline]] void semacquire_slow(std::atomic<std::uint32_t>* addr, bool lifo, wait_reason reason) {
  entry_guard e("gort::sync");  // the sync types' way in; they have checked for a goroutine
  sema_root* root = semroot(addr);
  sudog s;
  s.gp = e.gp;
  for (;;) {
    root->lock.lock();
    root->nwait.fetch_add(1, std::memory_order_seq_cst);  // pairs with the load in semrelease
    if (cansemacquire(addr)) {
      root->nwait.fetch_sub(1, std::memory_order_seq_cst);
      root->lock.unlock();
      return;
    }
    // Any semrelease from here on sees nwait != 0: sleep.
    root->queue(addr, &s, lifo);
    goparkunlock(&root->lock, reason);
    // dequeue left ticket 0; 1 means the releaser handed us its count.
    if (s.ticket != 0 || cansemacquire(addr)) return;
  }
}

[[gnu::noinline]] void semrelease_slow(std::atomic<std::uint32_t>* addr, sema_root* root, std::uint32_t n,
                                       bool handoff) {
  waker_guard e;
  if (!e.active()) return;

  sudog* head = nullptr;  // the waiters to wake, in dequeue order, linked by next
  sudog* tail = nullptr;
  root->lock.lock();
  // nwait == 0 here: the counts were taken by goroutines that never slept.
  // Relaxed: nwait changes only under root->lock, which we hold.
  for (; n > 0 && root->nwait.load(std::memory_order_relaxed) > 0; --n) {
    sudog* s = root->dequeue(addr);
    if (s == nullptr) break;
    root->nwait.fetch_sub(1, std::memory_order_seq_cst);
    (tail ? tail->next : head) = s;
    tail = s;
  }
  root->lock.unlock();
  if (head == nullptr) return;

  // The dequeued waiters are ours until readied. Readying may be slow (it
  // may wake a P), hence outside the lock.
  bool handed_off = false;
  if (handoff && head->next == nullptr) {
    if (head->ticket != 0) gothrow("corrupted semaphore ticket");
    // *addr is alive: the waiter we hold has not returned from its Lock.
    if (cansemacquire(addr)) {
      head->ticket = 1;
      handed_off = true;
    }
  }
  while (head != nullptr) {
    sudog* s = head;
    head = s->next;  // read before goready: then s's G may run and return
    s->next = nullptr;
    goready(s->gp);
  }
  if (handed_off) {
    // Direct G handoff: the waiter is in this P's runnext; yield so it runs
    // now on our time slice, while we go to the back of the local queue
    // (Go's goyield). Only in starvation mode: otherwise a third goroutine
    // could take the count while we reschedule, and the switch is wasted.
    if (e.gp) gosched(e.gp);
  }
}

}  // namespace

void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, wait_reason reason) {
  if (cansemacquire(addr)) return;  // the easy case
  semacquire_slow(addr, lifo, reason);
}

void semrelease(std::atomic<std::uint32_t>* addr, std::uint32_t n, bool handoff) {
  sema_root* root = semroot(addr);
  addr->fetch_add(n, std::memory_order_seq_cst);
  // Easy case: no waiters. The load must come after the add (see semacquire).
  if (root->nwait.load(std::memory_order_seq_cst) == 0) return;
  semrelease_slow(addr, root, n, handoff);
}

void sema_teardown() {
  for (sema_root& root : semtable) {
    root.lock.lock();
    root.treap = nullptr;
    root.nwait.store(0, std::memory_order_relaxed);  // under root.lock, no G left to race it
    root.lock.unlock();
  }
}

// sync_runtime_canSpin (proc.go). Spinning is worth it only on a multicore
// machine, a few times (active_spin), while another P is running (the holder
// may be it), and while this P has nothing else to run: no goroutine waits
// in its queue, runnext included. The scheduler's counts are read relaxed, as
// Go's plain loads: a stale one only mis-judges whether a spin may pay.
bool sync_runtime_can_spin(int i) {
  constexpr int active_spin = 4;
  static const unsigned ncpu = std::thread::hardware_concurrency();  // read /sys once
  if (i >= active_spin || ncpu <= 1 ||
      sched.gomaxprocs.load(std::memory_order_relaxed) <=
          sched.npidle.load(std::memory_order_relaxed) + sched.nmspinning.load(std::memory_order_relaxed) + 1)
    return false;
  // The M's P is the runtime's to read: a runtime entry, since sysmon may
  // take the P from code that runs as the goroutine's own (preempt.cpp).
  entry_guard e(getg());  // nullptr on a thread the runtime did not start
  if (e.gp == nullptr) return false;
  p* pp = e.gp->m->p;
  return pp != nullptr && pp->runq.empty();
}

// sync_runtime_doSpin: one round of the spin, 30 pause instructions
// (active_spin_cnt).
void sync_runtime_do_spin() {
  constexpr int active_spin_cnt = 30;
  procyield(active_spin_cnt);
}

}  // namespace gort::rt

namespace gort::detail {
namespace {

// notify_list.lock is an rt::mutex's key. The list lives in a Cond's opaque
// storage, whose size the public header fixes (gort/sync.hpp) whatever the
// build, so it holds the bare word (0 = unlocked) rather than an rt::mutex,
// which checked builds make bigger; the runtime runs the mutex's protocol
// on it (rt::mutex::lock_key) and does the rank bookkeeping of checked
// builds here: its rank is notify_list.
void list_lock(notify_list* l) {
  rt::lock_acquire(&l->lock, rt::lock_rank::notify_list);
  rt::mutex::lock_key(l->lock);
}
void list_unlock(notify_list* l) {
  rt::lock_release(&l->lock);
  rt::mutex::unlock_key(l->lock);
}
// list_unlockf: goparkunlock for the list's lock, once the waiter is off
// its stack.
bool list_unlockf(rt::g*, void* l) {
  list_unlock(static_cast<notify_list*>(l));
  return true;
}

// head and tail hold rt::sudog* (on the waiters' stacks), guarded by lock.
rt::sudog* as_sudog(void* p) { return static_cast<rt::sudog*>(p); }

// ready_waiter readies a dequeued waiter, naming its sudog in gp->param as
// the channels' wakers do: a G readied but never run again (abandoned when
// run() ends) still has it in g::waiting, and run()'s end must leave it
// alone, its Cond possibly gone (proc.cpp, teardown).
void ready_waiter(rt::sudog* s) {
  s->gp->param = s;
  rt::goready(s->gp);
}

// less: a < b for running counts that may wrap around, whose unwrapped
// difference is below 2^31.
bool less(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0; }

}  // namespace

// notifyListAdd: the caller's ticket. No lock: it may be called concurrently
// (sync.Cond.Wait under an RWMutex held for reading).
std::uint32_t notify_list_add(notify_list* l) noexcept { return l->wait.fetch_add(1, std::memory_order_seq_cst); }

// notifyListWait: returns at once if ticket t was notified since
// notify_list_add, else parks until it is.
void notify_list_wait(notify_list* l, std::uint32_t t) {
  rt::entry_guard e("gort::Cond::wait");
  rt::g* gp = e.gp;
  list_lock(l);
  if (less(t, l->notify.load(std::memory_order_relaxed))) {  // notify is written under lock
    list_unlock(l);
    return;
  }
  rt::sudog s;
  s.gp = gp;
  s.ticket = t;
  s.elem = l;  // for the end of the run: notify_list_drop_waiters
  if (l->tail != nullptr)
    as_sudog(l->tail)->next = &s;
  else
    l->head = &s;
  l->tail = &s;
  gp->waiting = &s;
  try {
    rt::gopark(&list_unlockf, l, rt::wait_reason::sync_cond_wait);
  } catch (...) {  // run() ended while a thread the runtime did not start waited (chan.cpp, block_on)
    list_lock(l);
    rt::sudog** link = reinterpret_cast<rt::sudog**>(&l->head);
    rt::sudog* prev = nullptr;
    while (*link != nullptr && *link != &s) {
      prev = *link;
      link = &prev->next;
    }
    if (*link == &s) {
      *link = s.next;
      if (l->tail == &s) l->tail = prev;
    }
    list_unlock(l);
    throw;
  }
  s.gp->waiting = nullptr;
  s.gp->param = nullptr;
}

std::size_t notify_list_drop_waiters(notify_list* l) {
  std::size_t n = 0;
  list_lock(l);
  for (rt::sudog* s = as_sudog(l->head); s != nullptr; s = s->next) ++n;
  l->head = l->tail = nullptr;
  list_unlock(l);
  return n;
}

// notifyListNotifyAll: wakes every waiter, outside the lock.
void notify_list_notify_all(notify_list* l) noexcept {
  // No new waiter since the last notification: nothing to do, no lock.
  if (l->wait.load(std::memory_order_seq_cst) == l->notify.load(std::memory_order_seq_cst)) return;
  rt::waker_guard e;
  if (!e.active()) return;
  list_lock(l);
  rt::sudog* s = as_sudog(l->head);
  l->head = l->tail = nullptr;
  // Every earlier ticket is either on the list we took or will see, under
  // the lock, that it was notified and not park.
  l->notify.store(l->wait.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  list_unlock(l);
  while (s != nullptr) {
    rt::sudog* next = s->next;  // read before goready: then s's G may run and return
    s->next = nullptr;
    ready_waiter(s);
    s = next;
  }
}

// notifyListNotifyOne: wakes the waiter holding ticket notify, if it has
// parked yet; if not, it will see notify has passed it and not park.
void notify_list_notify_one(notify_list* l) noexcept {
  if (l->wait.load(std::memory_order_seq_cst) == l->notify.load(std::memory_order_seq_cst)) return;
  rt::waker_guard e;
  if (!e.active()) return;
  list_lock(l);
  const std::uint32_t t = l->notify.load(std::memory_order_relaxed);  // written under lock
  if (t == l->wait.load(std::memory_order_seq_cst)) {
    list_unlock(l);
    return;
  }
  l->notify.store(t + 1, std::memory_order_seq_cst);
  // The list is nearly in ticket order (a waiter is out of place only as far
  // as it lost the race between taking its ticket and queueing): t is found
  // near the front.
  for (rt::sudog *p = nullptr, *s = as_sudog(l->head); s != nullptr; p = s, s = s->next) {
    if (s->ticket != t) continue;
    rt::sudog* n = s->next;
    if (p != nullptr)
      p->next = n;
    else
      l->head = n;
    if (n == nullptr) l->tail = p;
    list_unlock(l);
    s->next = nullptr;
    ready_waiter(s);
    return;
  }
  list_unlock(l);
}

}  // namespace gort::detail

// ---- for tests (export_test.hpp) ----

namespace gort::rt {

void census_sema(Census& c) {
  for (sema_root& root : semtable) {
    root.lock.lock();
    c.sema_roots += root.treap != nullptr;
    c.sema_waiters += root.nwait.load(std::memory_order_relaxed);
    root.lock.unlock();
  }
}

}  // namespace gort::rt
