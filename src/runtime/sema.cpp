// sema.cpp: semaphores for goroutines. Go counterpart: sema.go (Go 1.23).
//
// What it is: a sleep and wakeup keyed by an address, with a counter at that
// address so that a wakeup that comes before the sleep is not lost. Waiters
// hang off one of 251 roots (a prime; root = (addr >> 3) % 251), each with its
// own lock, so unrelated semaphores rarely contend.
//
// Protocol (the "nwait" check, as Go): semacquire increments root.nwait
// before its last look at *addr; semrelease increments *addr before it loads
// nwait. Both are seq_cst, so either the acquirer sees the new count, or the
// releaser sees the waiter and takes the lock to wake it.
//
// gort departures: a waiter's sudog lives on its own stack (gort stacks
// never move), so there is no sudog cache. Each root keeps one FIFO list of
// waiters, searched for the address, where Go keeps a treap of addresses,
// each with its own list: the same order per address, O(waiters in the
// root) instead of O(log addresses) per operation.
#include "runtime/sema.hpp"

#include "runtime/proc.hpp"

namespace gort::rt {
namespace {

struct sudog {
  g* gp = nullptr;
  sudog* next = nullptr;
  sudog* prev = nullptr;
  const void* elem = nullptr;  // the semaphore's address
};

struct alignas(64) sema_root {
  mutex lock;
  std::atomic<std::uint32_t> nwait{0};  // waiters here, on any address
  sudog* head = nullptr;                // lock
  sudog* tail = nullptr;                // lock

  // queue adds s for addr: at the tail, or ahead of every other waiter on
  // the same address if lifo.
  void queue(sudog* s, bool lifo) {
    sudog* at = nullptr;  // insert before this one (nullptr: at the tail)
    if (lifo)
      for (at = head; at && at->elem != s->elem; at = at->next) {}
    s->next = at;
    s->prev = at ? at->prev : tail;
    (s->prev ? s->prev->next : head) = s;
    (at ? at->prev : tail) = s;
  }

  sudog* dequeue(const void* addr) {
    sudog* s = head;
    while (s && s->elem != addr) s = s->next;
    if (s) {
      (s->prev ? s->prev->next : head) = s->next;
      (s->next ? s->next->prev : tail) = s->prev;
      s->next = s->prev = nullptr;
    }
    return s;
  }
};

constexpr std::size_t sem_tab_size = 251;
sema_root semtable[sem_tab_size];

sema_root* semroot(const void* addr) {
  return &semtable[(reinterpret_cast<std::uintptr_t>(addr) >> 3) % sem_tab_size];
}

bool cansemacquire(std::atomic<std::uint32_t>* addr) {
  std::uint32_t v = addr->load(std::memory_order_acquire);
  while (v != 0)
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
  return false;
}

}  // namespace

void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, wait_reason reason) {
  if (cansemacquire(addr)) return;
  sema_root* root = semroot(addr);
  sudog s;
  s.gp = getg();
  s.elem = addr;
  for (;;) {
    root->lock.lock();
    root->nwait.fetch_add(1, std::memory_order_seq_cst);  // pairs with the load in semrelease
    if (cansemacquire(addr)) {
      root->nwait.fetch_sub(1, std::memory_order_seq_cst);
      root->lock.unlock();
      return;
    }
    root->queue(&s, lifo);
    goparkunlock(&root->lock, reason);
    if (cansemacquire(addr)) return;
  }
}

void semrelease(std::atomic<std::uint32_t>* addr, std::uint32_t n) {
  sema_root* root = semroot(addr);
  addr->fetch_add(n, std::memory_order_seq_cst);
  // From here on *addr is not touched: only the root, and the sudogs on the
  // waiters' stacks, which stay put until the waiters are readied.
  if (root->nwait.load(std::memory_order_seq_cst) == 0) return;
  sudog* woken = nullptr;
  root->lock.lock();
  for (; n > 0 && root->nwait.load(std::memory_order_relaxed) > 0; --n) {
    sudog* s = root->dequeue(addr);
    if (!s) break;
    root->nwait.fetch_sub(1, std::memory_order_seq_cst);
    s->next = woken;
    woken = s;
  }
  root->lock.unlock();
  while (woken) {
    sudog* s = woken;
    woken = s->next;  // read before goready: then s's stack may run
    goready(s->gp);
  }
}

}  // namespace gort::rt
