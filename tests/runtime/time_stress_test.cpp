// time_stress_test.cpp: timers with big N and racing stop/reset (label
// stress, part of gort_stress_tests). Under GORT_TSAN / GORT_ASAN the sizes
// scale down by 10.
//
//   ManySleepers         100,000 goroutines, 3 sleeps of 1..30 ms each: none
//                        early, all wake.
//   OwnedTimerOps        64 goroutines, each driving its own Timer through
//                        random reset / stop / recv / non-blocking recv: a
//                        value never comes before its deadline nor after a
//                        stop; stop/reset of a pending timer return true.
//   SharedAfterFuncRaces 8 goroutines stop and reset 32 shared after_funcs at
//                        random: every arm either runs once or is cancelled
//                        by exactly one stop/reset returning true.
//   SharedTimerRaces     the same for channel timers, with receivers racing:
//                        every arm's value is received or discarded, never
//                        lost, never doubled, never early.
//   TickerRaces          tickers reset and stopped from several goroutines
//                        while others read; once stopped, silent.
//   GomaxprocsChurn      sleeps, timers and tickers while main changes
//                        GOMAXPROCS every few ms: none early, none lost.
// All at GOMAXPROCS 1, 2 and 4.
#include "chan_test_util.hpp"

#include <gort/time.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace gort_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using tp = steady::time_point;

class TimeStressTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, TimeStressTest, ::testing::Values(1, 2, 4), procs_name);

std::chrono::microseconds us(int n) { return std::chrono::microseconds(n); }

TEST_P(TimeStressTest, ManySleepers) {
  const long n = scaled(100000);
  std::atomic<long> early{0}, woke{0};
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup wg;
    wg.add(static_cast<int>(n));
    for (long i = 0; i < n; ++i)
      gort::go([&, i] {
        rng r(static_cast<std::uint64_t>(i) + 1);
        for (int k = 0; k < 3; ++k) {
          const auto d = us(1000 + r.below(29000));
          const auto s = steady::now();
          gort::sleep(d);
          if (steady::now() - s < d) early.fetch_add(1, std::memory_order_relaxed);
          woke.fetch_add(1, std::memory_order_relaxed);
        }
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(woke.load(), 3 * n);
}

// Each goroutine owns its timer, so it knows whether the timer is armed
// (pending, or fired with its value unreceived). Strict: a value received is
// no earlier than the deadline of the current arm, and none arrives while
// unarmed; stop/reset of an armed timer return true. Not strict: stop/reset
// of an unarmed timer may return true when a firing of an earlier arm is
// still between popping the timer and taking its lock (Go's isSending
// behaves the same); those are counted, not failed.
TEST_P(TimeStressTest, OwnedTimerOps) {
  constexpr int kG = 64;
  const int rounds = static_cast<int>(scaled(5000));
  errors errs;
  std::atomic<long> ops{0}, received{0}, spurious_true{0};
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup wg;
    wg.add(kG);
    for (int g = 0; g < kG; ++g)
      gort::go([&, g] {
        {
          rng r(0x5eed0000u + static_cast<std::uint64_t>(g));
          gort::Timer t(1h);
          if (!t.stop()) errs.add("stop of a new timer returned false");
          bool armed = false;
          tp deadline{};
          for (int i = 0; i < rounds; ++i) {
            switch (r.below(6)) {
              case 0:
              case 1: {  // reset
                const auto d = us(r.below(1500));
                const auto now = steady::now();
                const bool was = t.reset(d);
                if (armed && !was) errs.add("reset of an armed timer returned false");
                if (!armed && was) spurious_true.fetch_add(1);
                armed = true;
                deadline = now + d;
                break;
              }
              case 2: {  // stop
                const bool was = t.stop();
                if (armed && !was) errs.add("stop of an armed timer returned false");
                if (!armed && was) spurious_true.fetch_add(1);
                armed = false;
                if (t.c().try_recv()) errs.add("a value right after stop");
                break;
              }
              case 3: {  // blocking receive, if armed
                if (!armed) break;
                std::optional<tp> v = t.c().recv();
                if (!v)
                  errs.add("timer channel closed");
                else if (*v < deadline)
                  errs.add("value before its deadline (stale or early)");
                received.fetch_add(1, std::memory_order_relaxed);
                armed = false;
                break;
              }
              case 4: {  // non-blocking receive
                if (std::optional<tp> v = t.c().try_recv().value) {
                  if (!armed)
                    errs.add("a value while not armed (stale)");
                  else if (*v < deadline)
                    errs.add("value before its deadline (stale or early)");
                  received.fetch_add(1, std::memory_order_relaxed);
                  armed = false;
                }
                break;
              }
              default:
                if (r.below(2))
                  gort::sleep(us(r.below(800)));
                else
                  gort::yield();
            }
            ops.fetch_add(1, std::memory_order_relaxed);
          }
          t.stop();
        }  // t gone before done(): main may return from run() at once, which abandons this goroutine
        wg.done();
      });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(ops.load(), static_cast<long>(kG) * rounds);
  EXPECT_GT(received.load(), 0);
  std::printf("OwnedTimerOps: %ld ops, %ld received, %ld stop/reset true while unarmed (stale firing in flight)\n",
              ops.load(), received.load(), spurious_true.load());
}

// after_func timers have no channel: pending means "in a heap", so the
// accounting is exact: runs == arms - cancels.
TEST_P(TimeStressTest, SharedAfterFuncRaces) {
  constexpr int kT = 32, kK = 8;
  const int per = static_cast<int>(scaled(20000));
  std::vector<std::atomic<long>> runs(kT), arms(kT), cancels(kT);
  long final_runs = -1, final_expected = -2, later_runs = -3;
  int rc = run_procs(GetParam(), [&] {
    std::vector<gort::Timer> ts;
    ts.reserve(kT);
    for (int j = 0; j < kT; ++j) {
      arms[j].fetch_add(1);
      ts.push_back(gort::after_func(us(j * 50), [&runs, j] { runs[j].fetch_add(1); }));
    }
    gort::WaitGroup wg;
    wg.add(kK);
    for (int k = 0; k < kK; ++k)
      gort::go([&, k] {
        rng r(0xaf000u + static_cast<std::uint64_t>(k));
        for (int i = 0; i < per; ++i) {
          const int j = r.below(kT);
          switch (r.below(5)) {
            case 0:
            case 1:
              // Count the arm before it can run, so runs <= arms holds at
              // every moment.
              arms[j].fetch_add(1);
              if (ts[j].reset(us(r.below(1000)))) cancels[j].fetch_add(1);
              break;
            case 2:
              if (ts[j].stop()) cancels[j].fetch_add(1);
              break;
            case 3:
              gort::yield();
              break;
            default:
              if (r.below(8) == 0) gort::sleep(us(r.below(500)));
          }
        }
        wg.done();
      });
    wg.wait();
    auto total = [&](auto& v) {
      long s = 0;
      for (auto& x : v) s += x.load();
      return s;
    };
    const long expected = total(arms) - total(cancels);
    spin_until([&] { return total(runs) >= expected; }, 20s);
    final_runs = total(runs);
    final_expected = expected;
    gort::sleep(20ms);  // nothing more may run
    later_runs = total(runs);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(final_runs, final_expected) << "runs != arms - cancels";
  EXPECT_EQ(later_runs, final_runs) << "an after_func ran after every arm was accounted for";
  for (int j = 0; j < kT; ++j) EXPECT_EQ(runs[j].load(), arms[j].load() - cancels[j].load()) << "timer " << j;
}

// timer_log: what SharedTimerRaces saw of one timer, in steady_clock times
// taken around each call. An arm (the constructor or a reset) has a
// deadline no earlier than its call's start plus its duration; a stop or
// reset that started after an arm's call returned ends that arm, and once
// it has returned no value of that arm can be received (disarm's drain and
// seq). So a receive that began at b got the value of an arm that no such
// op ended before b, and that value, the time it was sent, is no earlier
// than the least deadline among those arms. early() counts values earlier.
struct timer_log {
  struct span {
    tp s, e;  // the call's start and return
    tp lb;    // an arm's deadline's lower bound; a receive's value
  };
  std::vector<span> arms, kills, recvs;

  long early() {
    auto by_end = [](const span& a, const span& b) { return a.e < b.e; };
    std::sort(arms.begin(), arms.end(), by_end);
    std::sort(kills.begin(), kills.end(), by_end);
    std::vector<tp> latest_start(kills.size());  // over kills[0..i]
    for (std::size_t i = 0; i < kills.size(); ++i)
      latest_start[i] = i == 0 ? kills[i].s : std::max(latest_start[i - 1], kills[i].s);
    long n = 0;
    for (const span& r : recvs) {
      // The latest start of an op that returned before r began: the arms
      // that returned before it are over.
      const auto k = std::lower_bound(kills.begin(), kills.end(), span{r.s, r.s, r.s}, by_end) - kills.begin();
      const tp over = k == 0 ? tp::min() : latest_start[k - 1];
      tp least = tp::max();
      for (auto a = std::lower_bound(arms.begin(), arms.end(), span{over, over, over}, by_end); a != arms.end(); ++a)
        if (a->s <= r.e) least = std::min(least, a->lb);
      if (r.lb < least) ++n;
    }
    return n;
  }
};

// Channel timers shared by goroutines that reset, stop and receive at random.
// Each arm ends as a received value or a discard reported by a stop/reset
// returning true. Exact but for the in-flight window OwnedTimerOps describes,
// which can only add a true: so received + cancels >= arms (nothing lost),
// received <= arms (nothing doubled). And no value is earlier than the
// deadline of an arm it can be of (timer_log), a bound from the calls'
// own times.
TEST_P(TimeStressTest, SharedTimerRaces) {
  constexpr int kT = 16, kK = 6;
  const int per = static_cast<int>(scaled(20000));
  std::atomic<long> arms{0}, cancels{0}, received{0};
  long excess = 0;
  // logs[k][j]: goroutine k's calls on timer j; logs[kK]: main's.
  std::vector<std::vector<timer_log>> logs(kK + 1, std::vector<timer_log>(kT));
  int rc = run_procs(GetParam(), [&] {
    std::vector<gort::Timer> ts;
    ts.reserve(kT);
    for (int j = 0; j < kT; ++j) {
      arms.fetch_add(1);
      const tp s = steady::now();
      ts.emplace_back(us(j * 40));
      logs[kK][j].arms.push_back({s, steady::now(), s + us(j * 40)});
    }
    // recv_all: what is left in ts[j], received by main.
    auto recv_all = [&](int j) {
      for (;;) {
        const tp b = steady::now();
        std::optional<tp> v = ts[j].c().try_recv().value;
        if (!v) return;
        received.fetch_add(1);
        logs[kK][j].recvs.push_back({b, steady::now(), *v});
      }
    };
    gort::WaitGroup wg;
    wg.add(kK);
    for (int k = 0; k < kK; ++k)
      gort::go([&, k] {
        rng r(0xc4a0u + static_cast<std::uint64_t>(k));
        std::vector<timer_log>& log = logs[k];
        for (int i = 0; i < per; ++i) {
          const int j = r.below(kT);
          const tp s = steady::now();
          switch (r.below(8)) {
            case 0: {
              const auto d = us(r.below(800));
              arms.fetch_add(1);
              if (ts[j].reset(d)) cancels.fetch_add(1);
              const tp e = steady::now();
              log[j].arms.push_back({s, e, s + d});
              log[j].kills.push_back({s, e, s});
              break;
            }
            case 1:
              if (ts[j].stop()) cancels.fetch_add(1);
              log[j].kills.push_back({s, steady::now(), s});
              break;
            case 2:
            case 3:
            case 4:
              if (std::optional<tp> v = ts[j].c().try_recv().value) {
                received.fetch_add(1);
                log[j].recvs.push_back({s, steady::now(), *v});
              }
              break;
            case 5:
            case 6:
              gort::sleep(us(r.below(300)));
              break;
            default:
              gort::yield();
          }
        }
        wg.done();
      });
    wg.wait();
    // Every arm is due within 1 ms; collect what is left.
    spin_until(
        [&] {
          for (int j = 0; j < kT; ++j) recv_all(j);
          return received.load() + cancels.load() >= arms.load();
        },
        20s);
    gort::sleep(10ms);
    for (int j = 0; j < kT; ++j) recv_all(j);
    excess = received.load() + cancels.load() - arms.load();
  });
  long early = 0;
  for (int j = 0; j < kT; ++j) {
    timer_log all;
    for (auto& per_k : logs) {
      const timer_log& l = per_k[j];
      all.arms.insert(all.arms.end(), l.arms.begin(), l.arms.end());
      all.kills.insert(all.kills.end(), l.kills.begin(), l.kills.end());
      all.recvs.insert(all.recvs.end(), l.recvs.begin(), l.recvs.end());
    }
    early += all.early();
  }
  EXPECT_EQ(rc, 0);
  EXPECT_GE(excess, 0) << "an arm's value was lost: arms " << arms.load() << ", received " << received.load()
                       << ", cancelled " << cancels.load();
  EXPECT_LE(received.load(), arms.load()) << "more values than arms";
  EXPECT_EQ(early, 0) << "values sent before the deadline of every arm they can be of";
  std::printf("SharedTimerRaces: %ld arms, %ld received, %ld cancelled, excess %ld\n", arms.load(), received.load(),
              cancels.load(), excess);
}

TEST_P(TimeStressTest, TickerRaces) {
  constexpr int kT = 8, kK = 6;
  const int per = static_cast<int>(scaled(10000));
  std::atomic<long> ticks{0};
  int after_stop = -1;
  int rc = run_procs(GetParam(), [&] {
    std::vector<gort::Ticker> ts;
    for (int j = 0; j < kT; ++j) ts.emplace_back(us(200 + 100 * j));
    gort::WaitGroup wg;
    wg.add(kK);
    for (int k = 0; k < kK; ++k)
      gort::go([&, k] {
        rng r(0x71c0u + static_cast<std::uint64_t>(k));
        for (int i = 0; i < per; ++i) {
          const int j = r.below(kT);
          switch (r.below(6)) {
            case 0:
              ts[j].reset(us(100 + r.below(2000)));
              break;
            case 1:
              ts[j].stop();
              break;
            case 2:
            case 3:
              if (ts[j].c().try_recv()) ticks.fetch_add(1);
              break;
            default:
              if (r.below(4) == 0)
                gort::sleep(us(r.below(300)));
              else
                gort::yield();
          }
        }
        wg.done();
      });
    wg.wait();
    for (auto& t : ts) t.stop();
    gort::sleep(10ms);
    after_stop = 0;
    for (auto& t : ts)
      while (t.c().try_recv()) ++after_stop;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_GT(ticks.load(), 0);
  EXPECT_EQ(after_stop, 0) << "ticks after every ticker was stopped";
}

// Sleeps, timers and tickers while main moves GOMAXPROCS around (each change
// stops the world and moves the timers of removed Ps).
TEST_P(TimeStressTest, GomaxprocsChurn) {
  constexpr int kG = 100;
  std::atomic<long> early{0}, sleeps{0}, timer_values{0}, ticks{0};
  std::atomic<long> funcs_run{0}, funcs_armed{0}, funcs_cancelled{0};
  long funcs_final = -1, funcs_expected = -2;
  int rc = run_procs(GetParam(), [&] {
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(kG);
    for (int g = 0; g < kG; ++g)
      gort::go([&, g] {
        rng r(0x90u + static_cast<std::uint64_t>(g));
        while (!stop.load(std::memory_order_relaxed)) {
          const auto d = us(r.below(3000));
          const auto s = steady::now();
          switch (g % 4) {
            case 0:
              gort::sleep(d);
              if (steady::now() - s < d) early.fetch_add(1);
              sleeps.fetch_add(1, std::memory_order_relaxed);
              break;
            case 1: {
              gort::Timer t(d);
              std::optional<tp> v = t.c().recv();
              if (!v || *v < s + d) early.fetch_add(1);
              timer_values.fetch_add(1, std::memory_order_relaxed);
              break;
            }
            case 2: {
              gort::Ticker tk(us(200 + r.below(1000)));
              for (int i = 0; i < 3; ++i)
                if (tk.c().recv()) ticks.fetch_add(1, std::memory_order_relaxed);
              break;
            }
            default: {
              funcs_armed.fetch_add(1);
              gort::Timer t = gort::after_func(d, [&] { funcs_run.fetch_add(1); });
              gort::sleep(us(r.below(3000)));
              if (t.stop()) funcs_cancelled.fetch_add(1);
            }
          }
        }
        wg.done();
      });
    const auto end = steady::now() + (kSanitized ? 600ms : 400ms);
    rng r(7);
    while (steady::now() < end) {
      gort::gomaxprocs(1 + r.below(4));
      gort::sleep(us(500 + r.below(3000)));
    }
    gort::gomaxprocs(GetParam());
    stop = true;
    wg.wait();
    funcs_expected = funcs_armed.load() - funcs_cancelled.load();
    spin_until([&] { return funcs_run.load() >= funcs_expected; }, 20s);
    gort::sleep(10ms);
    funcs_final = funcs_run.load();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(early.load(), 0);
  EXPECT_GT(sleeps.load(), 0);
  EXPECT_GT(timer_values.load(), 0);
  EXPECT_GT(ticks.load(), 0);
  EXPECT_EQ(funcs_final, funcs_expected) << "after_func runs != arms - cancels";
}

}  // namespace
