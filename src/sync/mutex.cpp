// mutex.cpp: sync.Mutex. Go counterpart: sync/mutex.go (Go 1.23).
//
// state packs four things, as Go's:
//   bit 0  locked    the mutex is held
//   bit 1  woken     a goroutine is awake and trying to lock: unlock need
//                    not wake another
//   bit 2  starving  starvation mode (below)
//   3..    the number of goroutines parked on sema
//
// Normal mode: waiters queue FIFO on the semaphore, but a woken waiter does
// not own the mutex; it competes with newly arriving goroutines, which
// usually win (they are already on a CPU), and if it loses it is queued at
// the front again. Before parking, a goroutine spins a little
// (sync_runtime_can_spin) when the holder is likely running on another P.
// Starvation mode: a waiter that fails to get the mutex for over 1 ms
// switches the mutex to it. Then unlock hands the mutex straight to the
// waiter at the head of the queue (semrelease with handoff, which also
// yields the P to it), and new arrivals neither spin nor try to take it:
// they queue at the tail. The last waiter, or one that waited under 1 ms,
// switches back to normal mode. Normal mode has much better throughput; the
// other bounds tail latency.
//
// Orders. Whoever takes the mutex does so with an acquire RMW on state (the
// CAS in lock, try_lock and lock_slow, or the handed-off waiter's fetch_add),
// which pairs with the release fetch_sub in Mutex::unlock: every RMW on state
// since then continues its release sequence, so the one that takes it sees
// the last holder's writes. Plain loads of state are relaxed: they seed a CAS
// that re-checks, fail a try_lock (which then reads nothing), or read what
// the semaphore's wakeup already ordered.
// The other RMWs (woken bit, waiter count, the misuse undo) move no data.
#include <cstdint>

#include "gort/runtime.hpp"
#include "gort/sync.hpp"
#include "runtime/lock_futex.hpp"
#include "runtime/panic.hpp"
#include "runtime/proc.hpp"
#include "runtime/sema.hpp"

namespace gort {
namespace {

constexpr std::int32_t mutex_locked = 1;  // Mutex::locked, which the inline fast paths use
constexpr std::int32_t mutex_woken = 2;
constexpr std::int32_t mutex_starving = 4;
constexpr int mutex_waiter_shift = 3;
constexpr std::int64_t starvation_threshold_ns = 1'000'000;

}  // namespace

bool Mutex::try_lock() {
  detail::require_goroutine("gort::Mutex::try_lock");
  std::int32_t old = state_.load(std::memory_order_relaxed);
  if (old & (mutex_locked | mutex_starving)) return false;
  // A woken waiter may be competing for the mutex; try_lock competes too.
  return state_.compare_exchange_strong(old, old | mutex_locked, std::memory_order_acquire, std::memory_order_relaxed);
}

// lock_slow is also where a lock outside a run, or from a thread not yet
// bound to an M, makes its runtime entry (runtime.hpp, run_active).
void Mutex::lock_slow() {
  detail::require_goroutine("gort::Mutex::lock");
  std::int64_t wait_start = 0;
  bool starving = false;
  bool awoke = false;
  int iter = 0;
  std::int32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Spin only in normal mode: in starvation mode the mutex goes to a
    // waiter, so spinning cannot win it.
    if ((old & (mutex_locked | mutex_starving)) == mutex_locked && rt::sync_runtime_can_spin(iter)) {
      // Set woken, so that unlock does not wake another waiter while we
      // are about to take the mutex.
      if (!awoke && (old & mutex_woken) == 0 && (old >> mutex_waiter_shift) != 0 &&
          state_.compare_exchange_strong(old, old | mutex_woken, std::memory_order_relaxed))
        awoke = true;
      rt::sync_runtime_do_spin();
      ++iter;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    std::int32_t next = old;
    if ((old & mutex_starving) == 0) next |= mutex_locked;  // new arrivals queue in starvation mode
    if (old & (mutex_locked | mutex_starving)) next += 1 << mutex_waiter_shift;
    // Switch to starvation mode, if the mutex is still held (else unlock
    // would expect waiters that are not there).
    if (starving && (old & mutex_locked)) next |= mutex_starving;
    if (awoke) {
      if ((next & mutex_woken) == 0) rt::gothrow("sync: inconsistent mutex state");
      next &= ~mutex_woken;
    }
    if (!state_.compare_exchange_strong(old, next, std::memory_order_acquire, std::memory_order_relaxed))
      continue;  // old has been reloaded
    if ((old & (mutex_locked | mutex_starving)) == 0) return;  // locked it with the CAS
    // A goroutine that waited before goes to the front of the queue.
    const bool queue_lifo = wait_start != 0;
    if (wait_start == 0) wait_start = rt::nanotime();
    rt::semacquire(&sema_, queue_lifo, rt::wait_reason::sync_mutex_lock);
    starving = starving || rt::nanotime() - wait_start > starvation_threshold_ns;
    old = state_.load(std::memory_order_relaxed);
    if (old & mutex_starving) {
      // The mutex was handed to us, but its state is not yet updated:
      // locked is clear and we still count as a waiter.
      if ((old & (mutex_locked | mutex_woken)) || (old >> mutex_waiter_shift) == 0)
        rt::gothrow("sync: inconsistent mutex state");
      std::int32_t delta = mutex_locked - (1 << mutex_waiter_shift);
      // Leave starvation mode when this waiter did not starve or was the
      // last: staying in it with one waiter left would make two goroutines
      // alternate in lockstep forever.
      if (!starving || (old >> mutex_waiter_shift) == 1) delta -= mutex_starving;
      state_.fetch_add(delta, std::memory_order_acquire);
      return;
    }
    awoke = true;
    iter = 0;
  }
}

void Mutex::unlock_slow(std::int32_t n) {
  if (((n + mutex_locked) & mutex_locked) == 0) {
    state_.fetch_add(mutex_locked, std::memory_order_relaxed);  // undo, so a recovering caller sees it unlocked
    throw panic_error("sync: unlock of unlocked mutex");
  }
  if (n & mutex_starving) {
    // Hand the mutex to the first waiter, and our time slice with it. locked
    // stays clear: the waiter sets it. New arrivals see starving and queue.
    rt::semrelease(&sema_, 1, true);
    return;
  }
  std::int32_t old = n;
  for (;;) {
    // Nobody to wake, or someone already woken or holding the mutex: done.
    if ((old >> mutex_waiter_shift) == 0 || (old & (mutex_locked | mutex_woken | mutex_starving))) return;
    // Take a waiter off the count and mark it woken.
    const std::int32_t next = (old - (1 << mutex_waiter_shift)) | mutex_woken;
    // Release is more than needed: unlock's fetch_sub already published.
    if (state_.compare_exchange_weak(old, next, std::memory_order_release, std::memory_order_relaxed)) {
      rt::semrelease(&sema_, 1, false);
      return;
    }
  }
}

}  // namespace gort
