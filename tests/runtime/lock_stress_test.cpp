// lock_stress_test.cpp: the runtime's own mutex (src/runtime/lock_futex.hpp)
// under oversubscription (label stress).
//
//   SleepersAreWoken  more OS threads than CPUs take one rt::mutex in turn,
//                     each holding it for a while, so that waiters spin out
//                     and sleep on the futex, often while the holder is off
//                     its CPU. Every increment made under the lock is
//                     counted once (mutual exclusion), some waiters really
//                     slept (the threads' voluntary context switches), and
//                     no waiter is left asleep while the lock is free: the
//                     unlock's plain store against a sleeper's count and
//                     membarrier (lock_futex.hpp, the handshake). A lost
//                     wakeup stops the count for good; the test fails when
//                     it has not moved for 30 s, which even a TSan build
//                     beside busy loops beats by orders of magnitude.
//   SeveralKeys       the same on four mutexes at once, two threads each:
//                     each count is the sum of its own key's increments,
//                     and no sleeper is lost where the keys' sleepers share
//                     the table of counts.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "chan_test_util.hpp"
#include "runtime/lock_futex.hpp"

namespace {

constexpr int kRounds = static_cast<int>(gort_test::scaled(20000));  // a tenth under the sanitizers
constexpr int kThreads = 8;

using gort::rt::lock_rank;
using gort::rt::mutex;

struct guarded {
  mutex mu{lock_rank::sched};
  long count = 0;  // under mu
};

long voluntary_switches() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nvcsw;
}

// hammer runs kThreads threads, each taking locks[t % n] kRounds times and
// holding it for `hold` spin-wait hints, and watches the total: it fails
// (returning false) if the total stops for 30 s. slept: the threads'
// voluntary context switches while they ran.
bool hammer(std::vector<std::unique_ptr<guarded>>& locks, int hold, long& slept) {
  std::atomic<long> progress{0}, switches{0};
  std::atomic<int> running{kThreads};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      guarded& g = *locks[static_cast<std::size_t>(t) % locks.size()];
      const long before = voluntary_switches();
      for (int r = 0; r < kRounds; ++r) {
        g.mu.lock();
        ++g.count;
        gort::rt::procyield(hold);
        g.mu.unlock();
        progress.fetch_add(1, std::memory_order_relaxed);
      }
      switches.fetch_add(voluntary_switches() - before, std::memory_order_relaxed);
      running.fetch_sub(1, std::memory_order_release);
    });
  bool stuck = false;
  long last = -1;
  auto since = std::chrono::steady_clock::now();
  while (running.load(std::memory_order_acquire) > 0 && !stuck) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const long now = progress.load(std::memory_order_relaxed);
    if (now != last) {
      last = now;
      since = std::chrono::steady_clock::now();
    } else {
      stuck = std::chrono::steady_clock::now() - since > std::chrono::seconds(30);
    }
  }
  if (stuck) {
    ADD_FAILURE() << "no lock taken for 30 s with " << running.load() << " threads left: a lost wakeup";
    for (auto& th : threads) th.detach();  // asleep for good: cannot be joined
    return false;
  }
  for (auto& th : threads) th.join();
  slept = switches.load();
  return true;
}

TEST(LockStressTest, SleepersAreWoken) {
  std::vector<std::unique_ptr<guarded>> locks;
  locks.push_back(std::make_unique<guarded>());
  long slept = 0;
  ASSERT_TRUE(hammer(locks, 200, slept));
  EXPECT_EQ(locks[0]->count, long{kThreads} * kRounds) << "increments lost: two threads held the lock at once";
  EXPECT_GT(slept, 0) << "no waiter slept: the test did not reach the futex";
}

TEST(LockStressTest, SeveralKeys) {
  std::vector<std::unique_ptr<guarded>> locks;
  for (int i = 0; i < kThreads / 2; ++i) locks.push_back(std::make_unique<guarded>());
  long slept = 0;
  ASSERT_TRUE(hammer(locks, 200, slept));
  for (auto& g : locks) EXPECT_EQ(g->count, long{kThreads / static_cast<long>(locks.size())} * kRounds);
}

}  // namespace
