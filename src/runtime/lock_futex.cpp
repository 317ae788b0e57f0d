// lock_futex.cpp: see lock_futex.hpp. Go counterpart: lock_futex.go.
#include "runtime/lock_futex.hpp"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <thread>

#include "runtime/panic.hpp"

namespace gort::rt {
namespace {

// Go's lock2 constants: active_spin, active_spin_cnt, passive_spin, but
// with 2 rounds of 480 pauses where Go has 4 of 30. What costs a contended
// lock is its cache line: every look at the key takes the line from the
// holder, whose next lock then waits to take it back. So the longer a
// waiter stays off the key, the more operations its holder does in a row
// at the speed of one core; the waiter's own work waits anyway. Looking
// soon and then seldom loses most of the gain: the first look is the one
// that takes the line. The rounds bound the spin before the futex sleep,
// which a third and fourth round did not improve (figures for each count:
// docs/PERFORMANCE.md, "Figures behind the comments"). A pause is not a
// fixed time: it differs tenfold between CPUs, and YIELD on arm64 is
// shorter still.
constexpr int active_spin = 2;
constexpr int active_spin_cnt = 480;
constexpr int passive_spin = 1;

const bool multicore = std::thread::hardware_concurrency() > 1;

bool membarrier_register() {
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

}  // namespace

// Before main, while the process has one thread: a mutex whose sides
// changed between a sleeper's fence and an unlock could lose a wakeup.
const bool membarrier_registered = membarrier_register();

void membarrier_all() {
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
    fatal("membarrier failed after it registered");
}

alignas(64) std::atomic<std::uint32_t> mutex::lock_sleepers[mutex::sleeper_buckets];

void futexsleep(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t ns) {
  timespec ts;
  timespec* tsp = nullptr;
  if (ns >= 0) {
    ts.tv_sec = ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    tsp = &ts;
  }
  int saved = errno;  // the caller may be a goroutine's runtime entry: keep its errno
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, tsp, nullptr, 0);
  errno = saved;
}

void futexwakeup(std::atomic<std::uint32_t>* addr, int cnt) {
  int saved = errno;
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAKE_PRIVATE, cnt, nullptr, nullptr, 0);
  errno = saved;
}

void procyield(int n) {
  for (int i = 0; i < n; ++i) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }
}

void osyield() { sched_yield(); }

std::int64_t nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// lock_slow is lock2 after the fast path failed: spin, then sleep counted
// in the key's bucket. The count goes up before the fence and the last
// look, and down only after the sleep (lock_futex.hpp: the handshake).
void mutex::lock_slow(std::atomic<std::uint32_t>& key) {
  const int spin = multicore ? active_spin : 0;
  // try_take: while the key reads unlocked, try to take it.
  auto try_take = [&key] {
    while (key.load(std::memory_order_relaxed) == unlocked) {
      std::uint32_t expected = unlocked;
      if (key.compare_exchange_weak(expected, locked, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    }
    return false;
  };
  std::atomic<std::uint32_t>& sleepers = sleepers_of(key);
  for (;;) {
    for (int i = 0; i < spin; ++i) {
      if (try_take()) return;
      procyield(active_spin_cnt);
    }
    for (int i = 0; i < passive_spin; ++i) {
      if (try_take()) return;
      osyield();
    }
    sleepers.fetch_add(1, std::memory_order_relaxed);
    if (membarrier_available())
      membarrier_all();
    else
      std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool took = try_take();
    if (!took) futexsleep(&key, locked, -1);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    if (took) return;
  }
}

void mutex::wake(std::atomic<std::uint32_t>& key) { futexwakeup(&key, 1); }

void note::wakeup() {
  if (key_.exchange(1, std::memory_order_release) != 0) gothrow("notewakeup - double wakeup");
  futexwakeup(&key_, 1);
}

void note::sleep() {
  while (key_.load(std::memory_order_acquire) == 0) futexsleep(&key_, 0, -1);
}

bool note::tsleep(std::int64_t ns) {
  if (ns < 0) {
    sleep();
    return true;
  }
  const std::int64_t deadline = nanotime() + ns;
  while (key_.load(std::memory_order_acquire) == 0) {
    std::int64_t left = deadline - nanotime();
    if (left <= 0) return false;
    futexsleep(&key_, 0, left);
  }
  return true;
}

}  // namespace gort::rt

#ifdef GORT_CHECKED
void gort::detail::race_window() noexcept { gort::rt::procyield(100); }
#endif
