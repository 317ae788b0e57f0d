// chan_stress_test.cpp: channels, select and sync with big N (label stress,
// part of gort_stress_tests). CI runs these under TSan and ASan on 2 cores,
// so N scales down by 10 when GORT_TSAN or GORT_ASAN is defined.
//
//   ManyToMany        16 senders x 16 receivers per capacity (0, 1, 10, 100):
//                     every value received exactly once, FIFO per sender.
//   SelectStress      Go's TestSelectStress with N = 10^5 (Go's own N).
//   MultiConsumer     Go's TestMultiConsumer with Go's niter = 271828.
//   CloseUnderLoad    64 senders, 16 receivers, a closer midway: a value is
//                     received exactly once iff its send returned.
//   PingPong          1000 goroutine pairs bouncing a counter on unbuffered
//                     channels.
//   MutexHammer, RWMutexHammer, CondBroadcastRounds: the sync types, long.
// All at GOMAXPROCS 1, 2 and 4.
#include "chan_test_util.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace {

using namespace gort_test;

class ChanStressTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, ChanStressTest, ::testing::Values(1, 2, 4), procs_name);

TEST_P(ChanStressTest, ManyToMany) {
  constexpr int kS = 16, kR = 16;
  const int per = static_cast<int>(scaled(20000));
  const long total = static_cast<long>(kS) * per;
  for (int cap : {0, 1, 10, 100}) {
    std::vector<std::atomic<unsigned char>> seen(total);
    std::atomic<long> fifo_bad{0}, count{0};
    int rc = run_procs(GetParam(), [&] {
      auto ch = gort::make_chan<long>(cap);
      gort::WaitGroup sent, done;
      sent.add(kS);
      done.add(kR);
      for (int s = 0; s < kS; ++s)
        gort::go([&, ch, s] {
          for (int k = 0; k < per; ++k) ch.send(static_cast<long>(s) * per + k);
          sent.done();
        });
      for (int r = 0; r < kR; ++r)
        gort::go([&, ch] {
          {
            std::vector<long> last(kS, -1);
            long n = 0;
            for (long v : ch) {
              if (v < 0 || v >= total) {
                fifo_bad.fetch_add(1);
                continue;
              }
              seen[v].fetch_add(1, std::memory_order_relaxed);
              const int s = static_cast<int>(v / per);
              if (v <= last[s]) fifo_bad.fetch_add(1);
              last[s] = v;
              ++n;
            }
            count.fetch_add(n);
          }  // last gone before done(): main may return from run() at once, which abandons this goroutine
          done.done();
        });
      sent.wait();
      ch.close();
      done.wait();
    });
    EXPECT_EQ(rc, 0);
    long not_once = 0;
    for (long v = 0; v < total; ++v) not_once += seen[v].load() != 1;
    EXPECT_EQ(count.load(), total) << "cap " << cap;
    EXPECT_EQ(not_once, 0) << "cap " << cap;
    EXPECT_EQ(fifo_bad.load(), 0) << "cap " << cap;
  }
}

TEST_P(ChanStressTest, SelectStress) { select_stress(GetParam(), scaled(100000)); }

TEST_P(ChanStressTest, TwoCaseSelectStress) { select2_stress(GetParam(), static_cast<int>(scaled(100000))); }

TEST_P(ChanStressTest, MultiConsumer) { multi_consumer(GetParam(), static_cast<int>(scaled(271828))); }

TEST_P(ChanStressTest, CloseUnderLoad) {
  for (int cap : {0, 8}) close_under_load(GetParam(), cap, 64, 16, static_cast<int>(scaled(2000)));
}

TEST_P(ChanStressTest, PingPong) {
  const int pairs = static_cast<int>(scaled(1000));
  constexpr int kRounds = 100;
  std::atomic<int> bad{0};
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup wg;
    wg.add(2 * pairs);
    for (int p = 0; p < pairs; ++p) {
      auto ping = gort::make_chan<int>();
      auto pong = gort::make_chan<int>();
      gort::go([&, ping, pong] {
        for (int i = 0; i < kRounds; ++i) {
          ping.send(2 * i);
          if (pong.recv() != 2 * i + 1) bad.fetch_add(1);
        }
        wg.done();
      });
      gort::go([&, ping, pong] {
        for (int i = 0; i < kRounds; ++i) {
          auto v = ping.recv();
          if (v != 2 * i) bad.fetch_add(1);
          pong.send(v.value_or(-2) + 1);
        }
        wg.done();
      });
    }
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(ChanStressTest, MutexHammer) {
  constexpr int kG = 64;
  const int loops = static_cast<int>(scaled(20000));
  long counter = 0;
  std::atomic<int> inside{0}, overlaps{0};
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    gort::WaitGroup wg;
    wg.add(kG);
    for (int g = 0; g < kG; ++g)
      gort::go([&, g] {
        for (int i = 0; i < loops; ++i) {
          std::lock_guard l(m);
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          ++counter;
          if ((i + g) % 97 == 0) gort::yield();
          inside.fetch_sub(1);
        }
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(counter, static_cast<long>(kG) * loops);
  EXPECT_EQ(overlaps.load(), 0);
}

TEST_P(ChanStressTest, RWMutexHammer) {
  constexpr int kWriters = 8, kReaders = 32;
  const int loops = static_cast<int>(scaled(10000));
  std::atomic<int> bad{0};
  long writes = 0;
  int rc = run_procs(GetParam(), [&] {
    gort::RWMutex rw;
    std::atomic<int> activity{0};
    gort::WaitGroup wg;
    wg.add(kWriters + kReaders);
    for (int w = 0; w < kWriters; ++w)
      gort::go([&] {
        for (int i = 0; i < loops; ++i) {
          std::unique_lock l(rw);
          if (activity.fetch_add(10000) != 0) bad.fetch_add(1);
          ++writes;
          if (i % 31 == 0) gort::yield();
          activity.fetch_sub(10000);
        }
        wg.done();
      });
    for (int r = 0; r < kReaders; ++r)
      gort::go([&] {
        for (int i = 0; i < loops; ++i) {
          std::shared_lock l(rw);
          if (activity.fetch_add(1) >= 10000) bad.fetch_add(1);
          if (i % 17 == 0) gort::yield();
          activity.fetch_sub(1);
        }
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(writes, static_cast<long>(kWriters) * loops);
}

// Many rounds of: every goroutine waits on the Cond, main broadcasts once
// all are in, all wake exactly once.
TEST_P(ChanStressTest, CondBroadcastRounds) {
  constexpr int kG = 64;
  const int rounds = static_cast<int>(scaled(500));
  std::atomic<int> bad{0};
  int rc = run_procs(GetParam(), [&] {
    gort::Mutex m;
    gort::Cond c(m);
    int waiting = 0, gen = 0, woke = 0;  // under m
    gort::WaitGroup wg;
    wg.add(kG);
    for (int g = 0; g < kG; ++g)
      gort::go([&] {
        for (int r = 0; r < rounds; ++r) {
          std::unique_lock l(m);
          const int my_gen = gen;
          ++waiting;
          while (gen == my_gen) c.wait();
          if (gen != my_gen + 1) bad.fetch_add(1);
          ++woke;
        }
        wg.done();
      });
    for (int r = 0; r < rounds; ++r) {
      if (!spin_until(
              [&] {
                std::lock_guard l(m);
                return waiting == kG;
              },
              std::chrono::seconds(60))) {
        bad.fetch_add(1000);
        break;
      }
      std::lock_guard l(m);
      waiting = 0;
      ++gen;
      c.broadcast();
    }
    wg.wait();
    if (woke != kG * rounds) bad.fetch_add(1);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
