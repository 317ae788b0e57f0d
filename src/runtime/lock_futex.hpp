// lock_futex.hpp: the runtime's own lock and one-shot event, on Linux futexes.
// Go counterpart: lock_futex.go (lock2, unlock2, notesleep, notewakeup).
//
// mutex blocks the OS thread, never just the goroutine: it guards scheduler
// and channel state for a few instructions at a time. The key is unlocked
// (0) or locked (1). lock takes it with a CAS, or spins a little (2 rounds
// of 480 pause instructions on multicore, then one sched_yield) before
// sleeping on the futex. Go's lock_futex marks the key "locked with
// sleepers" (2), so that unlock, an exchange, sees whether to wake; here
// sleepers are counted apart, in a table of counts by the key's address
// (lock_sleepers), and unlock is a plain store followed by a load of its
// key's count: one atomic read-modify-write per lock and unlock instead of
// two, the larger part of an uncontended channel operation's cost
// (docs/PERFORMANCE.md, "Figures behind the comments").
// The store and the load are one side of an asymmetric Dekker handshake,
// as sysmon's (preempt.cpp): a thread about to sleep counts itself, then
// membarrier puts a full fence in every running thread of the process,
// then it looks at the key once more and sleeps only if it is still
// locked. Every unlock after that fence sees the count and wakes; one
// before it has its store seen by that last look. Where there is no
// membarrier, both sides fence.
//
// note is a one-shot event: notesleep blocks the thread until notewakeup; a
// wakeup before the sleep is not lost. noteclear re-arms it; only the owner
// of the note (the one thread that sleeps on it) may clear it.
//
// Orders. Every RMW that takes a mutex (lock's and try_lock's CAS, the
// CAS in lock_slow) is acquire, paired with the release store in unlock;
// the loads that only poll the key before a CAS are relaxed. The count's
// increment and unlock's load of it are relaxed: the handshake's fences
// order them, and a lost wakeup is otherwise the futex's business (it
// re-checks the key in the kernel). A note's wakeup is a release exchange,
// paired with the acquire loads in sleep, tsleep and is_set: the sleeper
// sees what the waker wrote before it.
//
// Checked builds. A mutex carries its rank (lockrank.hpp) and lock, unlock
// and try_lock tell the thread's held-lock stack; without GORT_CHECKED
// those calls are empty inlines and the code is that of the bare protocol.
//
// Static checks. mutex is a capability for Clang's thread-safety analysis
// (gort/detail/thread_annotations.hpp, GORT_THREAD_SAFETY): the fields it
// guards are GORT_GUARDED_BY it, the functions that run with it held are
// GORT_REQUIRES it, and Clang checks each function's locking on its own.
// A lock a parked goroutine's context releases after the switch (gopark's
// unlockf) is out of its sight: goparkunlock releases it, for the analysis.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/detail/race_window.hpp"
#include "gort/detail/thread_annotations.hpp"
#include "runtime/lockrank.hpp"

namespace gort::rt {

// membarrier_available: the process registered, before main, for
// membarrier_all; false where the kernel has no private expedited
// membarrier (before Linux 4.14, or a seccomp filter), and when read
// before that registration. membarrier_all: every thread of the process
// that is running passes a full memory barrier before it returns: the
// fence of an asymmetric Dekker handshake (mutex below, preempt.cpp's
// hand-off, trace.cpp's seqlock, runq's runnext).
extern const bool membarrier_registered;
inline bool membarrier_available() { return membarrier_registered; }
void membarrier_all();

class GORT_CAPABILITY("mutex") mutex {
 public:
  // rank: the lock's place in lockrank.hpp's order, checked in GORT_CHECKED
  // builds; a normal build keeps only the key.
  explicit constexpr mutex(lock_rank rank) noexcept
#ifdef GORT_CHECKED
      : rank_(rank) {
  }
#else
  {
    (void)rank;
  }
#endif

  void lock() GORT_ACQUIRE() {
    lock_acquire(this, rank());
    lock_key(key_);
  }
  void unlock() GORT_RELEASE() {
    lock_release(this);
    unlock_key(key_);
  }
  bool try_lock() GORT_TRY_ACQUIRE(true) {
    if (!try_lock_key(key_)) return false;
    lock_acquired(this, rank());
    return true;
  }

  // The protocol on a bare key, for a lock whose word lives where the
  // runtime's headers cannot be included (notify_list, gort/sync.hpp): its
  // owner does the rank bookkeeping itself (sema.cpp).
  static void lock_key(std::atomic<std::uint32_t>& key) {
    std::uint32_t expected = unlocked;
    if (key.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed)) return;
    lock_slow(key);
  }
  static void unlock_key(std::atomic<std::uint32_t>& key) {
    key.store(unlocked, std::memory_order_release);
    if (membarrier_available()) [[likely]]
      std::atomic_signal_fence(std::memory_order_seq_cst);  // the CPU's fence: a sleeper's membarrier
    else
      std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_of(key).load(std::memory_order_relaxed) != 0) [[unlikely]]
      wake(key);
  }
  static bool try_lock_key(std::atomic<std::uint32_t>& key) {
    std::uint32_t expected = unlocked;
    return key.compare_exchange_strong(expected, locked, std::memory_order_acquire, std::memory_order_relaxed);
  }

 private:
  static constexpr std::uint32_t unlocked = 0, locked = 1;
  // lock_sleepers: how many threads sleep, or are about to, on the keys of
  // each bucket; a key's bucket is a hash of its address. Unlock reads its
  // key's count, which is 0 but while some lock of the bucket has a sleeper.
  static constexpr int sleeper_buckets = 64;
  alignas(64) static std::atomic<std::uint32_t> lock_sleepers[sleeper_buckets];
  static std::atomic<std::uint32_t>& sleepers_of(const std::atomic<std::uint32_t>& key) {
    const auto a = reinterpret_cast<std::uintptr_t>(&key) >> 2;
    static_assert(sleeper_buckets == 64 && sizeof(a) == 8);
    return lock_sleepers[(a * 0x9E3779B97F4A7C15ull) >> (64 - 6)];  // Fibonacci hashing
  }
  static void lock_slow(std::atomic<std::uint32_t>& key);
  static void wake(std::atomic<std::uint32_t>& key);
  std::atomic<std::uint32_t> key_{unlocked};
#ifdef GORT_CHECKED
  lock_rank rank_;
  lock_rank rank() const { return rank_; }
#else
  static constexpr lock_rank rank() { return lock_rank{}; }
#endif
};

// assert_lock_held: a function's GORT_REQUIRES(l), at run time (Go's
// assertLockHeld): fatal in GORT_CHECKED builds unless this thread holds l;
// nothing otherwise. It requires l itself, so the analysis also checks that
// the function says so.
inline void assert_lock_held([[maybe_unused]] const mutex* l) GORT_REQUIRES(l) { lock_held_check(l); }

class note {
 public:
  // clear: relaxed. The owner clears before it tells a waker where it sleeps
  // (mput, under sched.lock, for an M's park), and that hand-off orders it.
  void clear() { key_.store(0, std::memory_order_relaxed); }
  void wakeup();  // gothrows on a second wakeup without a clear (Go's "notewakeup - double wakeup")
  void sleep();
  // tsleep: sleeps at most ns nanoseconds (ns < 0: no limit). True if woken.
  bool tsleep(std::int64_t ns);
  bool is_set() const { return key_.load(std::memory_order_acquire) != 0; }

 private:
  std::atomic<std::uint32_t> key_{0};
};

// futexsleep sleeps while *addr == val, at most ns nanoseconds (ns < 0: no
// limit); it may wake spuriously. futexwakeup wakes up to cnt sleepers.
void futexsleep(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t ns);
void futexwakeup(std::atomic<std::uint32_t>* addr, int cnt);

// Monotonic clock in nanoseconds (Go's nanotime).
std::int64_t nanotime();

// cputicks: the CPU's cycle counter (rdtsc; arm64's virtual counter), for
// the trace's timestamps and the scheduling-latency sample: cheaper than
// nanotime, in units the caller scales to ns itself. Go's cputicks.
inline std::int64_t cputicks() {
#if defined(__x86_64__)
  return static_cast<std::int64_t>(__builtin_ia32_rdtsc());
#elif defined(__aarch64__)
  std::int64_t t;
  asm volatile("mrs %0, cntvct_el0" : "=r"(t));
  return t;
#else
  return nanotime();
#endif
}

// procyield: n spin-wait hints (PAUSE / YIELD). osyield: sched_yield.
void procyield(int n);
// race_window: gort/detail/race_window.hpp.
using detail::race_window;
void osyield();

}  // namespace gort::rt
