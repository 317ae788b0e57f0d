// waitgroup.cpp: sync.WaitGroup. Go counterpart: sync/waitgroup.go.
//
// state: counter in the high 32 bits, number of waiters in the low 32.
// add() that brings the counter to 0 with waiters resets state to 0 and
// releases the semaphore once per waiter, in one semrelease, after which it
// touches the WaitGroup no more (so a woken waiter may destroy it).
//
// Orders. add's acq_rel RMWs chain every done() to the last one; wait()
// sees them by its acquire load of a zero counter, or by the semaphore when
// it parked. The misuse re-check in add is relaxed: it compares values only.
// wait's CAS and its re-check after waking need no order of their own (the
// semaphore orders the wakeup): their acq_rel and acquire are more than needed.
#include "gort/sync.hpp"

#include "gort/runtime.hpp"
#include "runtime/proc.hpp"
#include "runtime/sema.hpp"

namespace gort {

void WaitGroup::add(int delta) {
  detail::require_goroutine("gort::WaitGroup::add");
  const std::uint64_t state =
      state_.fetch_add(static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32, std::memory_order_acq_rel) +
      (static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32);
  const auto v = static_cast<std::int32_t>(state >> 32);
  const auto w = static_cast<std::uint32_t>(state);
  if (v < 0) throw panic_error("sync: negative WaitGroup counter");
  if (w != 0 && delta > 0 && v == delta) throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  if (v > 0 || w == 0) return;
  // Counter is 0 and there are waiters: nobody may add or wait now.
  if (state_.load(std::memory_order_relaxed) != state)
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  // Release, paired with wait()'s acquire load: a wait() that comes now reads
  // this 0, a plain store that ends add's release sequence, and returns at
  // once; it must still see every done() (Go's Store is seq_cst).
  state_.store(0, std::memory_order_release);
  rt::semrelease(&sema_, w);
}

void WaitGroup::wait() {
  detail::require_goroutine("gort::WaitGroup::wait");
  std::uint64_t state = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((state >> 32) == 0) return;
    if (state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) {
      rt::semacquire(&sema_, false, rt::wait_reason::sync_waitgroup_wait);
      if (state_.load(std::memory_order_acquire) != 0)
        throw panic_error("sync: WaitGroup is reused before previous Wait has returned");
      return;
    }
  }
}

}  // namespace gort
