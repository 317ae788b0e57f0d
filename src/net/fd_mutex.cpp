// fd_mutex.cpp: Go's fdMutex. See fd_mutex.hpp for the state word.
//
// Ordering. Every CAS on state is acq_rel: a successful rwlock or incref
// acquires what the previous holder released in rwunlock or decref, and
// whoever sees the last reference of a closed fd (decref/rwunlock returning
// true) sees every other operation's effects before destroying it. The
// semaphores are the runtime's (sema.cpp), which order their own release
// and acquire. The plain loads of state, and a failed CAS, are relaxed:
// they only seed the next CAS, which re-reads the word.
#include "net/fd_mutex.hpp"

#include "gort/runtime.hpp"
#include "runtime/panic.hpp"
#include "runtime/sema.hpp"

namespace gort::net::detail {

namespace {

constexpr std::uint64_t mutex_closed = 1ull << 0;
constexpr std::uint64_t mutex_rlock = 1ull << 1;
constexpr std::uint64_t mutex_wlock = 1ull << 2;
constexpr std::uint64_t mutex_ref = 1ull << 3;
constexpr std::uint64_t mutex_ref_mask = ((1ull << 20) - 1) << 3;
constexpr std::uint64_t mutex_rwait = 1ull << 23;
constexpr std::uint64_t mutex_rmask = ((1ull << 20) - 1) << 23;
constexpr std::uint64_t mutex_wwait = 1ull << 43;
constexpr std::uint64_t mutex_wmask = ((1ull << 20) - 1) << 43;

// Go panics with this: a million goroutines on one fd is misuse.
constexpr const char* overflow_msg = "too many concurrent operations on a single file or socket (max 1048575)";

struct lock_kind {
  std::uint64_t bit, wait, mask;
};
constexpr lock_kind kind_of(bool read) {
  return read ? lock_kind{mutex_rlock, mutex_rwait, mutex_rmask} : lock_kind{mutex_wlock, mutex_wwait, mutex_wmask};
}

}  // namespace

bool fd_mutex::incref() {
  std::uint64_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (old & mutex_closed) return false;
    const std::uint64_t nw = old + mutex_ref;
    if ((nw & mutex_ref_mask) == 0) throw panic_error(overflow_msg);
    if (state_.compare_exchange_weak(old, nw, std::memory_order_acq_rel, std::memory_order_relaxed)) return true;
  }
}

bool fd_mutex::incref_and_close() {
  std::uint64_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (old & mutex_closed) return false;
    std::uint64_t nw = (old | mutex_closed) + mutex_ref;
    if ((nw & mutex_ref_mask) == 0) throw panic_error(overflow_msg);
    nw &= ~(mutex_rmask | mutex_wmask);  // the waiters are woken below, and fail
    if (state_.compare_exchange_weak(old, nw, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      if (const std::uint64_t r = (old & mutex_rmask) / mutex_rwait)
        rt::semrelease(&rsema_, static_cast<std::uint32_t>(r));
      if (const std::uint64_t w = (old & mutex_wmask) / mutex_wwait)
        rt::semrelease(&wsema_, static_cast<std::uint32_t>(w));
      return true;
    }
  }
}

bool fd_mutex::decref() {
  std::uint64_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((old & mutex_ref_mask) == 0) rt::gothrow("inconsistent poll.fdMutex");
    const std::uint64_t nw = old - mutex_ref;
    if (state_.compare_exchange_weak(old, nw, std::memory_order_acq_rel, std::memory_order_relaxed))
      return (nw & (mutex_closed | mutex_ref_mask)) == mutex_closed;
  }
}

fd_mutex::lock_result fd_mutex::rwlock(bool read) {
  const lock_kind k = kind_of(read);
  std::atomic<std::uint32_t>* sema = read ? &rsema_ : &wsema_;
  std::uint64_t old = state_.load(std::memory_order_relaxed);
  bool waited = false;  // this goroutine holds a waiter's reference (F2)
  for (;;) {
    if (old & mutex_closed) {
      if (waited && decref()) return lock_result::closed_last;
      return lock_result::closed;
    }
    std::uint64_t nw;
    if ((old & k.bit) == 0) {
      // The lock's reference is the waiter's, if it has one (F1, F2).
      nw = (old | k.bit) + (waited ? 0 : mutex_ref);
      if ((nw & mutex_ref_mask) == 0) throw panic_error(overflow_msg);
    } else {
      nw = old + k.wait + (waited ? 0 : mutex_ref);
      if ((nw & k.mask) == 0 || (nw & mutex_ref_mask) == 0) throw panic_error(overflow_msg);
    }
    if (state_.compare_exchange_weak(old, nw, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      if ((old & k.bit) == 0) return lock_result::locked;
      waited = true;
      rt::semacquire(sema, false, rt::wait_reason::semacquire);
      old = state_.load(std::memory_order_relaxed);
    }
  }
}

bool fd_mutex::rwunlock(bool read) {
  const lock_kind k = kind_of(read);
  std::uint64_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((old & k.bit) == 0 || (old & mutex_ref_mask) == 0) rt::gothrow("inconsistent poll.fdMutex");
    // Drop the lock and its reference; hand a waiter its turn to retry.
    std::uint64_t nw = (old & ~k.bit) - mutex_ref;
    if (old & k.mask) nw -= k.wait;
    if (state_.compare_exchange_weak(old, nw, std::memory_order_acq_rel, std::memory_order_relaxed)) {
      // The woken waiter holds a reference (F2): this fd outlives the
      // semrelease even if the caller's was the last but one.
      if (old & k.mask) rt::semrelease(read ? &rsema_ : &wsema_, 1);
      return (nw & (mutex_closed | mutex_ref_mask)) == mutex_closed;
    }
  }
}

}  // namespace gort::net::detail
