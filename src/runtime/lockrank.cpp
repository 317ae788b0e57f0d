// lockrank.cpp: the lock-rank checks of GORT_CHECKED builds; see
// lockrank.hpp for the order and the argument. Go counterpart:
// lockrank_on.go (lockWithRank, checkRanks, unlockWithRank,
// assertLockHeld). Empty in normal builds.
#include "runtime/lockrank.hpp"

#ifdef GORT_CHECKED

#include <cstdint>

#include "runtime/panic.hpp"

namespace gort::rt {
namespace {

// held_lock: one entry of a thread's stack. Go: heldLockInfo.
struct held_lock {
  const void* l;
  lock_rank rank;
};

// Enough for a select over this many distinct channels, plus the locks
// around it; more is a fatal error (Go's is 10 deep, and it throws too).
constexpr int max_held = 512;

// The calling thread's stack, [0, nheld). thread_local is safe here, unlike
// in the rest of the runtime (proc.cpp, "Thread-local state"): it is read
// only inside these out-of-line functions, which a goroutine never switches
// in the middle of, so no address of it outlives a switch.
thread_local held_lock held[max_held];
thread_local int nheld;

void print_held() {
  for (int i = 0; i < nheld; ++i) printerr("runtime: %d : %s %p\n", i, lock_rank_name(held[i].rank), held[i].l);
}

// die_held: print what this thread holds, forget it (the report that
// follows takes locks of its own) and throw.
[[noreturn, gnu::cold]] void die_held(const char* msg) {
  print_held();
  nheld = 0;
  gothrow(msg);
}

void push(const void* l, lock_rank r) {
  if (nheld == max_held) [[unlikely]]
    die_held("too many locks held concurrently for rank checking");
  held[nheld++] = {l, r};
}

}  // namespace

const char* lock_rank_name(lock_rank r) {
  switch (r) {
    case lock_rank::extram:
      return "extram";
    case lock_rank::fd_registry:
      return "fd_registry";
    case lock_rank::notify_list:
      return "notify_list";
    case lock_rank::poll_desc:
      return "poll_desc";
    case lock_rank::timer:
      return "timer";
    case lock_rank::timers:
      return "timers";
    case lock_rank::hchan:
      return "hchan";
    case lock_rank::sema_root:
      return "sema_root";
    case lock_rank::sched:
      return "sched";
    case lock_rank::gfree:
      return "gfree";
    case lock_rank::allg:
      return "allg";
    case lock_rank::stackpool:
      return "stackpool";
    case lock_rank::pollcache:
      return "pollcache";
    case lock_rank::trace_ctl:
      return "trace_ctl";
    case lock_rank::trace_q:
      return "trace_q";
    case lock_rank::trace_g:
      return "trace_g";
  }
  return "bad rank";
}

// lock_acquire: Go's lockWithRank and checkRanks. The top of the stack is
// the greatest held (lockrank.hpp, "The check").
void lock_acquire(const void* l, lock_rank r) {
  if (nheld > 0) {
    const held_lock& top = held[nheld - 1];
    // Addresses as integers: < on unrelated pointers is unspecified.
    const bool ok = r > top.rank || (r == top.rank && same_rank_ok(r) &&
                                     reinterpret_cast<std::uintptr_t>(l) > reinterpret_cast<std::uintptr_t>(top.l));
    if (!ok) [[unlikely]] {
      if (l == top.l)
        printerr("runtime: lock %s %p taken again by the thread that holds it\n", lock_rank_name(r), l);
      else
        printerr("runtime: lock %s %p taken while holding %s %p\n", lock_rank_name(r), l, lock_rank_name(top.rank),
                 top.l);
      die_held("lock ordering problem");
    }
  }
  push(l, r);
}

void lock_acquired(const void* l, lock_rank r) { push(l, r); }

// lock_release: Go's unlockWithRank; any order, latest first.
void lock_release(const void* l) {
  for (int i = nheld - 1; i >= 0; --i) {
    if (held[i].l != l) continue;
    for (int j = i; j + 1 < nheld; ++j) held[j] = held[j + 1];
    --nheld;
    return;
  }
  printerr("runtime: unlock of %p, not held by this thread\n", l);
  die_held("lock release without matching lock acquire");
}

void lock_held_check(const void* l) {
  for (int i = nheld - 1; i >= 0; --i)
    if (held[i].l == l) return;
  printerr("runtime: lock %p is not held by this thread\n", l);
  die_held("not holding required lock!");
}

int locks_held() { return nheld; }

}  // namespace gort::rt

#endif  // GORT_CHECKED
