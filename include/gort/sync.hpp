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
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace gort {

namespace detail {
// Throws std::logic_error naming `what` unless called from a goroutine: sync
// types refuse threads the runtime did not create (they have no goroutine
// to park), even when the operation would not have to wait.
void require_goroutine(const char* what);
}  // namespace detail

// Mutex: sync.Mutex, with Go's two modes (src/sync/mutex.cpp). In normal
// mode waiters queue FIFO but a woken waiter competes with new arrivals,
// which usually win (they are already running): good throughput. A waiter
// that has waited over 1 ms switches the mutex to starvation mode, where
// unlock hands it straight to the head of the queue: bounded latency.
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Acquire, paired with the release in unlock (mutex.cpp: "Orders").
  void lock() {
    detail::require_goroutine("gort::Mutex::lock");
    std::int32_t old = 0;
    if (!state_.compare_exchange_strong(old, locked, std::memory_order_acquire,
                                        std::memory_order_relaxed))
      lock_slow();
  }
  bool try_lock();
  void unlock() {
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
class RWMutex {
 public:
  RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  void lock();
  bool try_lock();
  void unlock();
  void lock_shared();
  bool try_lock_shared();
  void unlock_shared();

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

namespace detail {
// A ticket-based list of waiters, Go's notifyList (sema.go): wait is the
// next ticket to hand out, notify the next ticket to wake, so a signal wakes
// the longest waiter and never one that arrived after it. Only the runtime
// (sema.cpp) touches the fields: wait is incremented without the lock, notify
// is read without it but written under it; lock is a runtime mutex (its only
// member, 0 = unlocked) guarding head and tail, the list of parked waiters.
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
}  // namespace detail

// Cond: sync.Cond over a Mutex. wait() unlocks the mutex, parks until
// signal() or broadcast(), and locks it again before returning; as in Go,
// callers re-check their condition in a loop.
class Cond {
 public:
  explicit Cond(Mutex& m) noexcept : l_(m) {}
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  void wait() {
    const std::uint32_t t = detail::notify_list_add(&notify_);
    l_.unlock();
    detail::notify_list_wait(&notify_, t);
    l_.lock();
  }
  void signal() noexcept { detail::notify_list_notify_one(&notify_); }
  void broadcast() noexcept { detail::notify_list_notify_all(&notify_); }

 private:
  Mutex& l_;
  detail::notify_list notify_;
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
