// gort/sync.hpp: Go's sync package over the runtime's semaphores (sema.cpp).
// The types park goroutines, never OS threads. Like Go's zero values they are
// usable at once and not copyable. Method names follow the C++ standard, so
// std::lock_guard, std::unique_lock and std::shared_lock work.
//
//   gort::WaitGroup wg;
//   gort::Mutex mu;
//   wg.add(n);
//   for (int i = 0; i < n; ++i) gort::go([&] { std::lock_guard l(mu); work(); wg.done(); });
//   wg.wait();
//
// Misuse throws gort::panic_error with Go's messages ("sync: unlock of
// unlocked mutex", ...), where Go's would be a fatal error or a panic.
//
// Mutex and RWMutex are capabilities for Clang's thread-safety analysis
// (-Wthread-safety): a program's fields may be GORT_GUARDED_BY one
// (gort/detail/thread_annotations.hpp), as abseil's by an absl::Mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "gort/detail/thread_annotations.hpp"
#include "gort/runtime.hpp"

namespace gort {

namespace detail {
// Throws std::logic_error naming `what` outside run(); binds a thread the
// runtime did not start to an extra M during one (runtime.hpp).
void require_goroutine(const char* what);
}  // namespace detail

// Mutex: sync.Mutex, with Go's two modes (src/sync/mutex.cpp). In normal
// mode waiters queue FIFO but a woken waiter competes with new arrivals,
// which usually win (they are already running): good throughput. A waiter
// that has waited over 1 ms switches the mutex to starvation mode, where
// unlock hands it straight to the head of the queue: bounded latency.
class GORT_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Acquire, paired with the release in unlock (mutex.cpp: "Orders").
  void lock() GORT_ACQUIRE() {
    std::int32_t old = 0;
    if (!detail::run_active.load(std::memory_order_relaxed) ||
        !state_.compare_exchange_strong(old, locked, std::memory_order_acquire, std::memory_order_relaxed))
      lock_slow();
  }
  bool try_lock() GORT_TRY_ACQUIRE(true);
  void unlock() GORT_RELEASE() {
    const std::int32_t n = state_.fetch_sub(locked, std::memory_order_release) - locked;
    if (n != 0) unlock_slow(n);
  }

 private:
  friend class RWMutex;
  static constexpr std::int32_t locked = 1;  // mutexLocked; the other bits: mutex.cpp
  void lock_slow();
  void unlock_slow(std::int32_t n);
  std::atomic<std::int32_t> state_{0};
  std::atomic<std::uint32_t> sema_{0};
};

// RWMutex: sync.RWMutex (src/sync/rwmutex.cpp). Any number of readers or one
// writer; a writer waiting in lock() stops new readers, so writers are not
// starved. lock_shared/unlock_shared are Go's RLock/RUnlock.
class GORT_CAPABILITY("mutex") RWMutex {
 public:
  RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  void lock() GORT_ACQUIRE();
  bool try_lock() GORT_TRY_ACQUIRE(true);
  void unlock() GORT_RELEASE();
  void lock_shared() GORT_ACQUIRE_SHARED();
  bool try_lock_shared() GORT_TRY_ACQUIRE_SHARED(true);
  void unlock_shared() GORT_RELEASE_SHARED();

  // Go's RWMutex.RLocker: a lockable whose lock() and unlock() are this
  // RWMutex's lock_shared() and unlock_shared(), for a Cond whose waiters
  // hold the read side, or std::lock_guard. A handle: copies lock the same
  // RWMutex, which must outlive them.
  class RLocker {
   public:
    explicit RLocker(RWMutex& rw) noexcept : rw_(&rw) {}
    void lock() GORT_ACQUIRE_SHARED(rw_) { rw_->lock_shared(); }
    bool try_lock() GORT_TRY_ACQUIRE_SHARED(true, rw_) { return rw_->try_lock_shared(); }
    void unlock() GORT_RELEASE_SHARED(rw_) { rw_->unlock_shared(); }

   private:
    friend class Cond;
    RWMutex* rw_;
  };
  RLocker rlocker() noexcept { return RLocker(*this); }

 private:
  Mutex w_;                               // held by a writer, pending or active
  std::atomic<std::uint32_t> writer_sem_{0};  // a writer waits here for the readers to leave
  std::atomic<std::uint32_t> reader_sem_{0};  // readers wait here for the writer to finish
  std::atomic<std::int32_t> reader_count_{0}; // readers; minus max_readers while a writer is pending
  std::atomic<std::int32_t> reader_wait_{0};  // readers the pending writer still waits for
};

// WaitGroup waits for a collection of goroutines to finish (sync.WaitGroup).
// state packs the counter (high 32 bits) and the number of waiters (low 32),
// as Go's, so add() and wait() agree with one atomic word. Misuse panics with
// Go's messages ("sync: negative WaitGroup counter", ...). A WaitGroup may be
// destroyed as soon as wait() returns: the last done() touches it no more
// after waking the waiters.
class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(int delta);
  void done() { add(-1); }
  void wait();

 private:
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> sema_{0};
};

// Once: sync.Once. call(f) runs f exactly once, however many goroutines call
// it; the others wait until it has returned. If f throws, the exception
// reaches its caller and the Once still counts as done (Go).
class Once {
 public:
  Once() = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;

  template <class F>
  void call(F&& f) {
    // The fast path, one load: acquire, paired with mark_done's release, so
    // f's effects are seen. Under m_ the relaxed load is ordered by the mutex.
    if (done_.load(std::memory_order_acquire)) return;
    std::lock_guard<Mutex> l(m_);
    if (done_.load(std::memory_order_relaxed)) return;
    struct mark_done {
      std::atomic<bool>& d;
      ~mark_done() { d.store(true, std::memory_order_release); }
    } on_exit{done_};
    std::forward<F>(f)();
  }

 private:
  std::atomic<bool> done_{false};
  Mutex m_;
};

// Cond: sync.Cond. wait() unlocks the Cond's lockable, parks until signal()
// or broadcast(), and locks it again before returning; as in Go, callers
// re-check their condition in a loop, or let wait(pred) do it. signal()
// wakes the goroutine that has waited longest; neither needs the lock held.
//
// The lockable is any type with lock() and unlock(), as Go's Locker: a
// Mutex, an RWMutex (its write side), RWMutex::rlocker() (its read side),
// or a user type. It must outlive the Cond. The Cond keeps it type-erased,
// as Go keeps an interface: its address and two functions, so a Cond is one
// type whatever it locks. The list of waiters is the runtime's notifyList
// (src/runtime/sema.cpp), kept in opaque storage here and reached only
// through src/sync/cond.cpp.
class Cond {
 public:
  template <class L>
    requires requires(L& l) {
      l.lock();
      l.unlock();
    }
  // (The type-erased halves are not analyzed: each takes or drops the lock
  // for the other, in wait().)
  explicit Cond(L& l) noexcept
      : l_(std::addressof(l)),
        lock_([](void* p) GORT_NO_THREAD_SAFETY_ANALYSIS { static_cast<L*>(p)->lock(); }),
        unlock_([](void* p) GORT_NO_THREAD_SAFETY_ANALYSIS { static_cast<L*>(p)->unlock(); }) {
    init();
  }
  // rlocker() by value, as Go's NewCond(rw.RLocker()): the Cond locks the
  // RWMutex's read side, and the temporary RLocker need not outlive it.
  explicit Cond(RWMutex::RLocker l) noexcept;
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  void wait();
  template <class Pred>
  void wait(Pred pred) {
    while (!pred()) wait();
  }
  void signal() noexcept;
  void broadcast() noexcept;

 private:
  void init() noexcept;
  void* l_;
  void (*lock_)(void*);
  void (*unlock_)(void*);
  // The notify list: two tickets, a runtime mutex, the head and tail of
  // the parked waiters (cond.cpp checks that they fit).
  alignas(void*) unsigned char list_[4 * sizeof(void*)];
};

// gort::sync::Mutex, ... for code that reads like Go's.
namespace sync {
using gort::Cond;
using gort::Mutex;
using gort::Once;
using gort::RWMutex;
using gort::WaitGroup;
}  // namespace sync

}  // namespace gort
