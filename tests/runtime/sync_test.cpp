// sync_test.cpp: the sync package through the public API (include/gort/sync.hpp).
// Go counterparts: src/sync/mutex_test.go (Mutex, MutexFairness, the misuse
// tests), rwmutex_test.go (ParallelReaders, RWMutex, RLockRecursive's writer
// preference), once_test.go (Once, OncePanic), cond_test.go (CondSignal,
// CondSignalGenerations, CondBroadcast, CondSignalStealing; and beyond Go's:
// Cond over an RWMutex's write side and over rlocker(), wait(pred), and
// broadcast to many waiters through each) and
// waitgroup_test.go (WaitGroup reuse, WaitGroupMisuse).
//
// These tests synchronise with atomics and yield loops rather than channels,
// so that a sync failure is not confused with a channel one. Each runs at
// GOMAXPROCS 1, 2 and 4.
#include "chan_test_util.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace gort_test;
using namespace std::chrono_literals;

class SyncTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, SyncTest, ::testing::Values(1, 2, 4), procs_name);

// ---- Mutex ----------------------------------------------------------------------

// Go's TestMutex: goroutines hammer one Mutex; a plain counter under it comes
// out exact, and no two holders overlap.
void hammer_mutex(int procs, int goroutines, int loops, int yield_every) {
  long counter = 0;
  std::atomic<int> inside{0}, overlaps{0};
  int rc = run_procs(procs, [&] {
    gort::Mutex m;
    gort::WaitGroup wg;
    wg.add(goroutines);
    for (int g = 0; g < goroutines; ++g)
      gort::go([&, g] {
        for (int i = 0; i < loops; ++i) {
          m.lock();
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          ++counter;
          if (yield_every && (i + g) % yield_every == 0) gort::yield();  // hold it across a reschedule
          inside.fetch_sub(1);
          m.unlock();
        }
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(counter, static_cast<long>(goroutines) * loops);
  EXPECT_EQ(overlaps.load(), 0) << "two goroutines held the mutex at once";
}

TEST_P(SyncTest, Mutex) { hammer_mutex(GetParam(), 10, static_cast<int>(scaled(1000)), 0); }

// Heavy contention, with holders that yield while holding the lock so that
// waiters wait well over 1 ms and the mutex goes into starvation mode (which
// cannot be observed directly; correctness under it can).
TEST_P(SyncTest, MutexHeavyContention) { hammer_mutex(GetParam(), 16, static_cast<int>(scaled(5000)), 7); }

TEST_P(SyncTest, MutexBasic) {
  bool try_free = false, try_held = true, try_held_other = true, try_after = false;
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    m.lock();
    m.unlock();
    try_free = m.try_lock();
    try_held = m.try_lock();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      try_held_other = m.try_lock();
      wg.done();
    });
    wg.wait();
    m.unlock();
    try_after = m.try_lock();
    m.unlock();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(try_free);
  EXPECT_FALSE(try_held);
  EXPECT_FALSE(try_held_other);
  EXPECT_TRUE(try_after);
}

// A goroutine blocked in lock() proceeds when the holder unlocks, not before.
TEST_P(SyncTest, MutexBlocks) {
  int acquired_early = -1;
  std::atomic<int> acquired{0};
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    m.lock();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      m.lock();
      acquired.store(1);
      m.unlock();
      wg.done();
    });
    sleep_for(5ms);
    acquired_early = acquired.load();
    m.unlock();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(acquired_early, 0);
  EXPECT_EQ(acquired.load(), 1);
}

// Go's TestMutexFairness: one goroutine re-locks in a loop, holding the lock
// for 100 us each time; another that wants the lock 10 times must get it,
// each time within 1 s (Go allows 10 s for all ten; starvation mode hands the
// lock over after 1 ms).
TEST_P(SyncTest, MutexFairness) {
  long long worst_us = -1;
  bool finished = false;
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex mu;
    std::atomic<bool> stop{false}, done{false};
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {
      while (!stop.load()) {
        mu.lock();
        sleep_for(100us);
        mu.unlock();
      }
      wg.done();
    });
    gort::go([&] {
      for (int i = 0; i < 10; ++i) {
        sleep_for(100us);
        auto t0 = std::chrono::steady_clock::now();
        mu.lock();
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
        worst_us = std::max<long long>(worst_us, us);
        mu.unlock();
      }
      done.store(true);
      wg.done();
    });
    finished = spin_until([&] { return done.load(); }, std::chrono::seconds(10));
    stop.store(true);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(finished) << "can't acquire Mutex in 10 seconds";
  EXPECT_LT(worst_us, 1000000) << "a waiter starved for " << worst_us << " us";
}

TEST(SyncMisuseTest, MutexUnlockOfUnlocked) {
  std::string msg, msg_after_cycle;
  int rc = run_procs(1, [&] {
    gort::Mutex m;
    msg = panic_message([&] { m.unlock(); });
    gort::Mutex m2;
    m2.lock();
    m2.unlock();
    msg_after_cycle = panic_message([&] { m2.unlock(); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(msg, "sync: unlock of unlocked mutex");
  EXPECT_EQ(msg_after_cycle, "sync: unlock of unlocked mutex");
}

// The standard lock wrappers work: lock_guard, unique_lock (deferred, try),
// scoped_lock over two Mutexes (std::lock's try_lock dance), shared_lock on
// an RWMutex.
TEST_P(SyncTest, StdLockWrappers) {
  long counter = 0;
  bool unique_try_failed = false, unique_owned = false, shared_ok = false;
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex a, b;
    gort::RWMutex rw;
    gort::WaitGroup wg;
    constexpr int kG = 8, kLoops = 500;
    wg.add(kG);
    for (int g = 0; g < kG; ++g)
      gort::go([&, g] {
        for (int i = 0; i < kLoops; ++i) {
          switch ((i + g) % 4) {
            case 0: {
              std::lock_guard l(a);
              std::lock_guard l2(b);
              ++counter;
              break;
            }
            case 1: {
              std::scoped_lock l(b, a);  // the other order: std::lock avoids deadlock
              ++counter;
              break;
            }
            case 2: {
              std::unique_lock l(a, std::defer_lock);
              std::unique_lock l2(b, std::defer_lock);
              std::lock(l, l2);
              ++counter;
              l2.unlock();
              l.unlock();
              break;
            }
            default: {
              std::unique_lock<gort::RWMutex> w(rw);  // rw also serialises nothing else
              std::scoped_lock l(a, b);
              ++counter;
            }
          }
        }
        wg.done();
      });
    wg.wait();
    {
      std::lock_guard l(a);
      gort::WaitGroup w2;
      w2.add(1);
      gort::go([&] {
        std::unique_lock l2(a, std::try_to_lock);
        unique_try_failed = !l2.owns_lock();
        w2.done();
      });
      w2.wait();
    }
    {
      std::unique_lock l(a, std::try_to_lock);
      unique_owned = l.owns_lock();
    }
    {
      std::shared_lock r1(rw);
      std::shared_lock r2(rw, std::try_to_lock);  // a second reader gets in
      shared_ok = r1.owns_lock() && r2.owns_lock();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(counter, 8L * 500);
  EXPECT_TRUE(unique_try_failed);
  EXPECT_TRUE(unique_owned);
  EXPECT_TRUE(shared_ok);
}

// ---- RWMutex ----------------------------------------------------------------------

// Go's TestParallelReaders: n readers hold the read lock at the same time.
TEST_P(SyncTest, ParallelReaders) {
  constexpr int kReaders = 8;
  bool all_in = false;
  int rc = run_procs(GetParam(), [&] {
    gort::RWMutex m;
    std::atomic<int> active{0};
    std::atomic<bool> release{false};
    gort::WaitGroup wg;
    wg.add(kReaders);
    for (int r = 0; r < kReaders; ++r)
      gort::go([&] {
        m.lock_shared();
        active.fetch_add(1);
        spin_until([&] { return release.load(); });
        m.unlock_shared();
        wg.done();
      });
    all_in = spin_until([&] { return active.load() == kReaders; });
    release.store(true);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(all_in) << "readers did not all hold the read lock at once";
}

// Go's TestRWMutex (HammerRWMutex): readers add 1 to activity and see it
// below 10000; writers add 10000 and see exactly 10000.
void hammer_rwmutex(int procs, int writers, int readers, int iterations) {
  std::atomic<int> bad_reader{0}, bad_writer{0};
  int rc = run_procs(procs, [&] {
    gort::RWMutex rw;
    std::atomic<int> activity{0};
    gort::WaitGroup wg;
    wg.add(writers + readers);
    auto reader = [&] {
      for (int i = 0; i < iterations; ++i) {
        rw.lock_shared();
        int n = activity.fetch_add(1) + 1;
        if (n < 1 || n >= 10000) bad_reader.fetch_add(1);
        for (int k = 0; k < 20; ++k) {
        }
        if (i % 16 == 0) gort::yield();
        activity.fetch_sub(1);
        rw.unlock_shared();
      }
      wg.done();
    };
    auto writer = [&] {
      for (int i = 0; i < iterations; ++i) {
        rw.lock();
        int n = activity.fetch_add(10000) + 10000;
        if (n != 10000) bad_writer.fetch_add(1);
        if (i % 16 == 0) gort::yield();
        activity.fetch_sub(10000);
        rw.unlock();
      }
      wg.done();
    };
    // Interleave the starts, as Go's.
    int w = writers, r = readers;
    while (w + r > 0) {
      if (r > 0) {
        gort::go(reader);
        --r;
      }
      if (w > 0) {
        gort::go(writer);
        --w;
      }
    }
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad_reader.load(), 0) << "a reader ran beside a writer";
  EXPECT_EQ(bad_writer.load(), 0) << "a writer ran beside someone";
}

TEST_P(SyncTest, RWMutex) {
  const int n = static_cast<int>(scaled(1000));
  hammer_rwmutex(GetParam(), 1, 1, n);
  hammer_rwmutex(GetParam(), 1, 3, n);
  hammer_rwmutex(GetParam(), 4, 2, n);
  hammer_rwmutex(GetParam(), 2, 10, n);
}

// A writer waiting in lock() stops new readers (Go's writer preference): with
// a reader in, a writer pending, a second reader must wait until the writer
// has had its turn.
TEST_P(SyncTest, RWMutexPendingWriterBlocksReaders) {
  bool writer_pending = false;
  int reader2_early = -1, writer_early = -1;
  int writer_order = -1, reader2_order = -1;
  int rc = run_procs(GetParam(), [&] {
    gort::RWMutex rw;
    std::atomic<int> order{0}, writer_in{0}, reader2_in{0};
    rw.lock_shared();  // reader 1: main
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {
      rw.lock();
      writer_order = order.fetch_add(1);
      writer_in.store(1);
      sleep_for(1ms);
      rw.unlock();
      wg.done();
    });
    // Wait until the writer is pending: new readers are then refused.
    writer_pending = spin_until([&] {
      if (rw.try_lock_shared()) {
        rw.unlock_shared();
        return false;
      }
      return true;
    });
    gort::go([&] {
      rw.lock_shared();
      reader2_order = order.fetch_add(1);
      reader2_in.store(1);
      rw.unlock_shared();
      wg.done();
    });
    sleep_for(5ms);
    reader2_early = reader2_in.load();
    writer_early = writer_in.load();
    rw.unlock_shared();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(writer_pending) << "try_lock_shared kept succeeding with a writer waiting";
  EXPECT_EQ(writer_early, 0) << "the writer got in beside a reader";
  EXPECT_EQ(reader2_early, 0) << "a new reader got in past a pending writer";
  EXPECT_EQ(writer_order, 0);
  EXPECT_EQ(reader2_order, 1);
}

TEST_P(SyncTest, RWMutexTryLock) {
  std::vector<bool> r;
  int rc = run_procs(GetParam(), [&] {
    gort::RWMutex rw;
    r.push_back(rw.try_lock());          // free: true
    r.push_back(rw.try_lock());          // write-held: false
    r.push_back(rw.try_lock_shared());   // write-held: false
    rw.unlock();
    r.push_back(rw.try_lock_shared());   // free: true
    r.push_back(rw.try_lock_shared());   // read-held: true
    r.push_back(rw.try_lock());          // read-held: false
    rw.unlock_shared();
    rw.unlock_shared();
    r.push_back(rw.try_lock());          // free again: true
    rw.unlock();
    // From another goroutine while main holds it for writing.
    rw.lock();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      r.push_back(rw.try_lock_shared());  // false
      r.push_back(rw.try_lock());         // false
      wg.done();
    });
    wg.wait();
    rw.unlock();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(r, (std::vector<bool>{true, false, false, true, true, false, true, false, false}));
}

TEST(SyncMisuseTest, RWMutexUnlockOfUnlocked) {
  std::string unlock_msg, runlock_msg, unlock_after_read;
  int rc = run_procs(1, [&] {
    gort::RWMutex a;
    unlock_msg = panic_message([&] { a.unlock(); });
    gort::RWMutex b;
    runlock_msg = panic_message([&] { b.unlock_shared(); });
    gort::RWMutex c;
    c.lock_shared();
    c.unlock_shared();
    unlock_after_read = panic_message([&] { c.unlock_shared(); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(unlock_msg, "sync: Unlock of unlocked RWMutex");
  EXPECT_EQ(runlock_msg, "sync: RUnlock of unlocked RWMutex");
  EXPECT_EQ(unlock_after_read, "sync: RUnlock of unlocked RWMutex");
}

// ---- Once --------------------------------------------------------------------

// Go's TestOnce, with 100 callers: f runs once, and every caller returns only
// after f has finished.
TEST_P(SyncTest, Once) {
  constexpr int kCallers = 100;
  std::atomic<int> runs{0}, returned_early{0}, returned{0};
  int rc = run_procs(GetParam(), [&] {
    gort::Once once;
    std::atomic<bool> finished{false};
    gort::WaitGroup wg;
    wg.add(kCallers);
    for (int i = 0; i < kCallers; ++i)
      gort::go([&] {
        once.call([&] {
          runs.fetch_add(1);
          for (int y = 0; y < 20; ++y) gort::yield();  // let the others pile up
          sleep_for(1ms);
          finished.store(true);
        });
        if (!finished.load()) returned_early.fetch_add(1);
        returned.fetch_add(1);
        wg.done();
      });
    wg.wait();
    once.call([&] { runs.fetch_add(1); });  // done: never again
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(returned.load(), kCallers);
  EXPECT_EQ(returned_early.load(), 0) << "a caller returned before f finished";
}

// Go's TestOncePanic: f's exception reaches its caller, and the Once counts
// as done: concurrent callers waiting meanwhile return without running f,
// and later calls do nothing.
TEST_P(SyncTest, OncePanic) {
  std::string caught;
  std::atomic<int> runs{0}, others_returned{0}, others_threw{0};
  int later_runs = 0;
  int rc = run_procs(GetParam(), [&] {
    gort::Once once;
    std::atomic<bool> in_f{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      try {
        once.call([&] {
          runs.fetch_add(1);
          in_f.store(true);
          sleep_for(3ms);  // the others arrive and wait
          throw std::runtime_error("once failed");
        });
      } catch (const std::runtime_error& e) {
        caught = e.what();
      }
      wg.done();
    });
    spin_until([&] { return in_f.load(); });
    constexpr int kOthers = 10;
    wg.add(kOthers);
    for (int i = 0; i < kOthers; ++i)
      gort::go([&] {
        try {
          once.call([&] { runs.fetch_add(1); });
          others_returned.fetch_add(1);
        } catch (...) {
          others_threw.fetch_add(1);
        }
        wg.done();
      });
    wg.wait();
    once.call([&] { ++later_runs; });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(caught, "once failed");
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(others_returned.load(), 10);
  EXPECT_EQ(others_threw.load(), 0);
  EXPECT_EQ(later_runs, 0);
}

// ---- Cond --------------------------------------------------------------------

// Go's TestCondSignal: each signal wakes exactly one of the waiters.
TEST_P(SyncTest, CondSignal) {
  constexpr int n = 2;
  std::vector<std::string> errors;
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    gort::Cond c(m);
    std::atomic<int> running{0}, awake{0};
    gort::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i)
      gort::go([&] {
        m.lock();
        running.fetch_add(1);
        c.wait();
        awake.fetch_add(1);
        m.unlock();
        wg.done();
      });
    spin_until([&] { return running.load() == n; });
    for (int k = 0; k < n; ++k) {
      sleep_for(1ms);
      if (awake.load() != k) errors.push_back("goroutine not asleep");
      m.lock();  // every waiter is in wait(): it held m until then
      c.signal();
      m.unlock();
      if (!spin_until([&] { return awake.load() >= k + 1; })) errors.push_back("signal woke nobody");
      sleep_for(2ms);
      if (awake.load() != k + 1) errors.push_back("too many goroutines awake");
    }
    c.signal();  // no waiters: nothing happens
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errors.empty()) << errors.front();
}

// Go's TestCondSignalGenerations: signal wakes the waiter that has waited
// longest.
TEST_P(SyncTest, CondSignalGenerations) {
  constexpr int n = 100;
  std::vector<int> awake_order;
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    gort::Cond c(m);
    std::atomic<int> running{0};
    gort::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      gort::go([&, i] {
        m.lock();
        running.fetch_add(1);
        c.wait();
        awake_order.push_back(i);  // under m
        m.unlock();
        wg.done();
      });
      if (i > 0)
        spin_until([&] {
          std::lock_guard l(m);
          return static_cast<int>(awake_order.size()) >= i;
        });
      spin_until([&] { return running.load() == i + 1; });
      m.lock();  // goroutine i is in wait()
      c.signal();
      m.unlock();
    }
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  ASSERT_EQ(awake_order.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(awake_order[i], i) << "wrong goroutine woke up";
}

// Go's TestCondBroadcast: n goroutines wait; each broadcast wakes all of them,
// each exactly once; the last round lets them exit.
TEST_P(SyncTest, CondBroadcast) {
  const int n = static_cast<int>(scaled(100, 4));
  std::vector<std::string> errors;
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    gort::Cond c(m);
    bool exit = false;           // under m
    int running = 0;             // under m: goroutines that reached wait() this round
    std::vector<int> awake;      // under m: who woke this round
    gort::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i)
      gort::go([&, i] {
        m.lock();
        while (!exit) {
          ++running;
          c.wait();
          awake.push_back(i);
        }
        m.unlock();
        wg.done();
      });
    for (int round = 0; round < n; ++round) {
      if (!spin_until([&] {
            std::lock_guard l(m);
            return running == n;
          }))
        errors.push_back("not all goroutines running in round " + std::to_string(round));
      m.lock();
      running = 0;
      if (!awake.empty()) errors.push_back("goroutine not asleep");
      if (round == n - 1) exit = true;
      c.broadcast();
      m.unlock();
      if (!spin_until([&] {
            std::lock_guard l(m);
            return static_cast<int>(awake.size()) >= n;
          }))
        errors.push_back("broadcast did not wake all in round " + std::to_string(round));
      m.lock();
      std::vector<bool> seen(n, false);
      for (int g : awake) {
        if (seen[g]) errors.push_back("goroutine woke up twice");
        seen[g] = true;
      }
      awake.clear();
      m.unlock();
      if (!errors.empty()) {
        m.lock();
        exit = true;
        c.broadcast();
        m.unlock();
        break;
      }
    }
    wg.wait();
    m.lock();
    if (running != 0) errors.push_back("goroutine did not exit");
    m.unlock();
    c.broadcast();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errors.empty()) << errors.front();
}

// Go's TestCondSignalStealing: a broadcast racing with a new waiter must
// still wake the first waiter (a new waiter cannot steal its wakeup).
TEST_P(SyncTest, CondSignalStealing) {
  const int iters = static_cast<int>(scaled(1000));
  int missed = 0;
  int rc = run_procs(GetParam(), [&] {
    for (int it = 0; it < iters; ++it) {
      gort::Mutex m;
      gort::Cond cond(m);
      std::atomic<bool> ready{false}, woke{false};
      bool done = false;  // under m
      gort::WaitGroup wg;
      wg.add(3);
      gort::go([&] {
        m.lock();
        ready.store(true);
        cond.wait();
        m.unlock();
        woke.store(true);
        wg.done();
      });
      spin_until([&] { return ready.load(); });
      m.lock();  // the waiter is in wait()
      m.unlock();
      gort::go([&] {
        cond.broadcast();
        wg.done();
      });
      gort::go([&] {
        m.lock();
        while (!done) cond.wait();
        m.unlock();
        wg.done();
      });
      if (!spin_until([&] { return woke.load(); }, std::chrono::seconds(2))) ++missed;
      m.lock();
      done = true;
      m.unlock();
      cond.broadcast();
      if (woke.load()) {
        wg.wait();
      } else {
        cond.broadcast();  // release the first waiter too, then stop
        wg.wait();
        break;
      }
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(missed, 0) << "first waiter didn't get the broadcast";
}

// Cond over the write side of an RWMutex: consumers wait(pred) for a queue
// to fill, a producer pushes under the write lock and signals. Every item is
// taken exactly once, and a waiter never returns with the queue empty.
TEST_P(SyncTest, CondRWMutexWriteSide) {
  constexpr int kConsumers = 8;
  const int items = static_cast<int>(scaled(2000));
  std::vector<int> taken(items, 0);
  std::atomic<int> empty_returns{0};
  int rc = run_procs(GetParam(), [&] {
    gort::RWMutex rw;
    gort::Cond c(rw);
    std::vector<int> queue;  // under rw (write side); -1: stop
    gort::WaitGroup wg;
    wg.add(kConsumers);
    for (int i = 0; i < kConsumers; ++i)
      gort::go([&] {
        for (;;) {
          std::unique_lock l(rw);
          c.wait([&] { return !queue.empty(); });
          if (queue.empty()) {
            empty_returns.fetch_add(1);
            continue;
          }
          const int v = queue.back();
          if (v < 0) break;  // leave the -1 for the others
          queue.pop_back();
          ++taken[v];
        }
        wg.done();
      });
    for (int v = 0; v < items; ++v) {
      {
        std::lock_guard l(rw);
        queue.push_back(v);
      }
      c.signal();
      if (v % 16 == 0) gort::yield();
    }
    {
      std::lock_guard l(rw);
      queue.insert(queue.begin(), -1);  // taken last, once the items are gone
    }
    c.broadcast();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(empty_returns.load(), 0) << "wait(pred) returned with pred false";
  EXPECT_EQ(std::count(taken.begin(), taken.end(), 1), items) << "an item taken twice or never";
}

// Cond over RWMutex::rlocker(): waiters hold the read side. While they are
// parked the writer gets the lock (wait released the read side); when they
// wake they hold the read side again (try_lock fails), all at once (it is
// shared: each waits, holding it, until all are in).
TEST_P(SyncTest, CondRLocker) {
  constexpr int kReaders = 16;
  std::atomic<int> parked{0}, inside{0}, saw_flag{0}, held_read{0}, all_in{0};
  bool writer_got_lock = false;
  int rc = run_procs(GetParam(), [&] {
    gort::RWMutex rw;
    gort::Cond c(rw.rlocker());  // a temporary RLocker, as Go's NewCond(rw.RLocker())
    bool flag = false;           // written under the write side, read under the read side
    gort::WaitGroup wg;
    wg.add(kReaders);
    for (int i = 0; i < kReaders; ++i)
      gort::go([&] {
        {
          auto rl = rw.rlocker();
          std::lock_guard l(rl);
          parked.fetch_add(1);
          c.wait([&] { return flag; });
          if (flag) saw_flag.fetch_add(1);
          if (!rw.try_lock())  // our read lock keeps writers out
            held_read.fetch_add(1);
          else
            rw.unlock();
          inside.fetch_add(1);
          if (spin_until([&] { return inside.load() == kReaders; })) all_in.fetch_add(1);
        }  // the read side released before done(): rw is main's, gone once main returns
        wg.done();
      });
    spin_until([&] { return parked.load() == kReaders; });
    rw.lock();  // every reader is parked in wait(), its read side released
    writer_got_lock = true;
    flag = true;
    rw.unlock();
    c.broadcast();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(writer_got_lock);
  EXPECT_EQ(saw_flag.load(), kReaders);
  EXPECT_EQ(held_read.load(), kReaders) << "a woken reader did not hold the read side";
  EXPECT_EQ(all_in.load(), kReaders) << "woken readers did not share the read side";
}

// wait(pred) is free of spurious returns: it returns only once pred() holds,
// re-checking (under the lock) after every wakeup, and does not wait at all
// when pred() already holds.
TEST_P(SyncTest, CondWaitPred) {
  int returned_with = -1, checks = 0;  // under m
  bool immediate = false;
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    gort::Cond c(m);
    int value = 0;  // under m
    std::atomic<bool> returned{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      std::unique_lock l(m);
      c.wait([&] {
        ++checks;
        return value == 3;
      });
      returned_with = value;
      returned.store(true);
      wg.done();
    });
    for (int v = 1; v <= 3; ++v) {
      spin_until([&] {  // the waiter has checked value v - 1 and parked again
        std::lock_guard l(m);
        return checks == v;
      });
      sleep_for(1ms);
      if (returned.load()) break;  // returned early: the expectations below say so
      std::lock_guard l(m);
      value = v;
      c.broadcast();
    }
    wg.wait();
    std::unique_lock l(m);
    c.wait([] { return true; });  // holds already: returns at once, no signal needed
    immediate = true;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(returned_with, 3) << "wait(pred) returned with pred false";
  EXPECT_EQ(checks, 4) << "one check on entry, one per broadcast";
  EXPECT_TRUE(immediate);
}

// Broadcast to many waiters, round after round, through each kind of
// lockable: every waiter wakes exactly once per round and sees that round's
// generation. Runs at GOMAXPROCS 1, 2 and 4 (the suite's parameter).
template <class Lockable, class ReadLock, class WriteLock>
void cond_broadcast_stress(int procs, ReadLock read_lock, WriteLock write_lock) {
  const int waiters = static_cast<int>(scaled(200, 4));
  const int rounds = static_cast<int>(scaled(100));
  std::atomic<int> bad{0}, woke{0};
  int rc = run_procs(procs, [&] {
    gort::RWMutex rw;
    Lockable lockable(rw);
    gort::Cond c(lockable.get());
    std::atomic<int> gen{0};        // written under the write side
    std::atomic<int> waiting{0};    // waiters parked (or about to) in the current round
    gort::WaitGroup wg;
    wg.add(waiters);
    for (int w = 0; w < waiters; ++w)
      gort::go([&] {
        for (int r = 0; r < rounds; ++r) {
          auto l = read_lock(lockable);
          const int my_gen = gen.load();
          waiting.fetch_add(1);
          c.wait([&] { return gen.load() != my_gen; });
          if (gen.load() != my_gen + 1) bad.fetch_add(1);
          woke.fetch_add(1);
        }
        wg.done();
      });
    for (int r = 0; r < rounds; ++r) {
      if (!spin_until([&] { return waiting.load() == waiters; }, std::chrono::seconds(60))) {
        bad.fetch_add(1000);
        break;
      }
      auto l = write_lock(rw);  // every waiter is parked: they released the lock
      waiting.store(0);
      gen.fetch_add(1);
      c.broadcast();
    }
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(woke.load(), waiters * rounds);
}

// The Cond's lockable in cond_broadcast_stress, over its RWMutex.
struct write_side {
  gort::RWMutex& rw;
  explicit write_side(gort::RWMutex& r) : rw(r) {}
  gort::RWMutex& get() { return rw; }
};
struct read_side {
  gort::RWMutex::RLocker rl;
  explicit read_side(gort::RWMutex& r) : rl(r.rlocker()) {}
  gort::RWMutex::RLocker get() { return rl; }
};

TEST_P(SyncTest, CondBroadcastStressWriteSide) {
  cond_broadcast_stress<write_side>(
      GetParam(), [](write_side& l) { return std::unique_lock(l.rw); },
      [](gort::RWMutex& rw) { return std::unique_lock(rw); });
}

TEST_P(SyncTest, CondBroadcastStressRLocker) {
  cond_broadcast_stress<read_side>(
      GetParam(), [](read_side& l) { return std::unique_lock(l.rl); },
      [](gort::RWMutex& rw) { return std::unique_lock(rw); });
}

// ---- WaitGroup ------------------------------------------------------------------

// Go's TestWaitGroup: two WaitGroups as a barrier, reused 8 times; nobody is
// released before the last done(), everybody after it.
TEST_P(SyncTest, WaitGroupReuse) {
  constexpr int n = 16;
  std::vector<std::string> errors;
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup wg1, wg2, all;
    for (int round = 0; round < 8; ++round) {
      std::atomic<int> exited{0};
      wg1.add(n);
      wg2.add(n);
      all.add(n);
      for (int i = 0; i < n; ++i)
        gort::go([&] {
          wg1.done();
          wg2.wait();
          exited.fetch_add(1);
          all.done();
        });
      wg1.wait();
      for (int i = 0; i < n; ++i) {
        if (exited.load() != 0) errors.push_back("WaitGroup released group too soon");
        wg2.done();
      }
      all.wait();
      if (exited.load() != n) errors.push_back("not everybody released");
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errors.empty()) << errors.front();
}

TEST(SyncMisuseTest, WaitGroupNegative) {
  std::string msg;
  int rc = run_procs(1, [&] {
    gort::WaitGroup wg;
    wg.add(1);
    wg.done();
    msg = panic_message([&] { wg.done(); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(msg, "sync: negative WaitGroup counter");
}

// A WaitGroup may be destroyed as soon as wait() returns: a fresh one per
// round, on the waiter's stack, over many rounds.
TEST_P(SyncTest, WaitGroupDestroyAfterWait) {
  const int rounds = static_cast<int>(scaled(2000));
  std::atomic<int> ran{0};
  int rc = run_procs(GetParam(), [&] {
    for (int r = 0; r < rounds; ++r) {
      gort::WaitGroup wg;
      wg.add(2);
      for (int i = 0; i < 2; ++i)
        gort::go([&] {
          ran.fetch_add(1);
          wg.done();
        });
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(ran.load(), 2 * rounds);
}

}  // namespace
