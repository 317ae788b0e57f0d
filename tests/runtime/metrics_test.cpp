// metrics_test.cpp: stats()'s runtime/metrics counterparts move as a known
// program dictates: goroutines by state, preemptions by kind, timers,
// stacks, the scheduling-latency sample. No bound depends on the machine's
// speed: each test waits for the state it checks, however long it takes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <vector>

#include "gort/gort.hpp"

namespace {

using namespace std::chrono_literals;

std::uint64_t latency_samples(const gort::Stats& s) {
  return std::accumulate(std::begin(s.sched_latency), std::end(s.sched_latency), std::uint64_t{0});
}

// Parked, runnable, running and in blocking(): each counted where it is.
TEST(MetricsTest, GoroutinesByState) {
  gort::run(gort::Config{.maxprocs = 1}, [] {
    constexpr int parked = 5, queued = 3;
    auto never = gort::make_chan<int>();
    for (int i = 0; i < parked; ++i) gort::go([never] { never.recv(); });
    while (gort::stats().goroutines_waiting < parked) gort::yield();

    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      char c;
      gort::blocking([&] { return ::read(fds[0], &c, 1); });
      wg.done();
    });
    while (gort::stats().goroutines_syscall < 1) gort::yield();

    // Started but not yet run: one P, and this goroutine does not yield.
    for (int i = 0; i < queued; ++i) gort::go([] {});
    const gort::Stats s = gort::stats();
    EXPECT_EQ(s.goroutines_waiting, static_cast<std::size_t>(parked));
    EXPECT_EQ(s.goroutines_syscall, 1u);
    EXPECT_EQ(s.goroutines_runnable, static_cast<std::size_t>(queued));
    EXPECT_EQ(s.goroutines_running, 1u);
    EXPECT_GE(s.stacks_in_use, static_cast<std::size_t>(parked + 2));  // the queued have none yet

    ASSERT_EQ(::write(fds[1], "x", 1), 1);
    wg.wait();
    ::close(fds[0]);
    ::close(fds[1]);
  });
}

// A goroutine that keeps calling maybe_yield is asked to yield when its
// slice is over, and does (cooperative); one that never enters the runtime
// has its P taken; a long blocking() call has its P handed off.
TEST(MetricsTest, PreemptionsByKind) {
  gort::run(gort::Config{.maxprocs = 1}, [] {
    const gort::Stats before = gort::stats();
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(2);
    for (int i = 0; i < 2; ++i)
      gort::go([&] {
        while (!stop.load()) gort::maybe_yield();
        wg.done();
      });
    while (gort::stats().preempt_yields == before.preempt_yields) gort::yield();
    stop = true;
    wg.wait();
    const gort::Stats coop = gort::stats();
    EXPECT_GT(coop.preempt_requests, before.preempt_requests);

    // This spinner holds the only P until sysmon takes it; main runs only then.
    std::atomic<bool> released{false};
    wg.add(1);
    gort::go([&] {
      while (!released.load()) {
      }
      wg.done();
    });
    gort::yield();
    const gort::Stats held = gort::stats();
    EXPECT_GT(held.handoffs_held, coop.handoffs_held);
    released = true;
    wg.wait();

    // A blocking() call that lasts, with a goroutine waiting for the P.
    std::atomic<bool> ran{false};
    gort::go([&] { ran = true; });
    while (gort::stats().handoffs_syscall == held.handoffs_syscall) gort::blocking([] { ::usleep(2000); });
    while (!ran.load()) gort::yield();
  });
}

TEST(MetricsTest, TimersPending) {
  gort::run([] {
    const std::size_t base = gort::stats().timers_pending;
    std::vector<gort::Timer> timers;
    for (int i = 0; i < 4; ++i) timers.emplace_back(1h);
    EXPECT_EQ(gort::stats().timers_pending, base + 4);
    for (gort::Timer& t : timers) t.stop();
    EXPECT_EQ(gort::stats().timers_pending, base);
  });
}

// Goroutines that have run hold stacks; once they exit, the stacks are pooled.
TEST(MetricsTest, Stacks) {
  gort::run([] {
    constexpr int n = 20;
    auto release = gort::make_chan<int>();
    for (int i = 0; i < n; ++i) gort::go([release] { release.recv(); });
    while (gort::stats().goroutines_waiting < n) gort::yield();
    const gort::Stats held = gort::stats();
    EXPECT_GE(held.stacks_in_use, static_cast<std::size_t>(n + 1));
    release.close();
    while (gort::num_goroutine() > 1) gort::yield();
    const gort::Stats freed = gort::stats();
    EXPECT_LE(freed.stacks_in_use + n, held.stacks_in_use);
    EXPECT_GE(freed.stacks_pooled, held.stacks_pooled + n);
  });
}

// Every 64th runqput on a P is sampled: 2 * rounds readies give a known
// number of samples, and the bounds are increasing.
TEST(MetricsTest, SchedLatencySample) {
  gort::run(gort::Config{.maxprocs = 1}, [] {
    constexpr int rounds = 2000;
    const std::uint64_t before = latency_samples(gort::stats());
    auto ping = gort::make_chan<int>();
    auto pong = gort::make_chan<int>();
    gort::go([ping, pong] {
      for (int i = 0; i < rounds; ++i) pong.send(*ping.recv());
    });
    for (int i = 0; i < rounds; ++i) {
      ping.send(i);
      pong.recv();
    }
    const gort::Stats s = gort::stats();
    // 2 * rounds goroutines readied through runqput, one in 64 of them sampled,
    // give or take the count's phase and the go() and yields around them.
    EXPECT_GE(latency_samples(s) - before, static_cast<std::uint64_t>(2 * rounds / 64 - 2));
    EXPECT_LE(latency_samples(s) - before, static_cast<std::uint64_t>(2 * rounds / 64 + 2));
    for (int i = 1; i < gort::Stats::latency_buckets; ++i)
      EXPECT_GT(s.sched_latency_le_ns[i], s.sched_latency_le_ns[i - 1]);
    EXPECT_TRUE(std::isinf(s.sched_latency_le_ns[gort::Stats::latency_buckets - 1]));
  });
}

// One stats() call is one snapshot: while goroutines are made, park, wake,
// call blocking() and exit on every P, each call's counts agree with each
// other (goroutines is the sum of the four states, stacks in use are at
// most one per goroutine, idle Ps and spinning threads within their
// totals) and the cumulative ones never go back, not even when gomaxprocs
// shrinks. The churn runs until enough snapshots have been taken while it
// was going on.
TEST(MetricsTest, SnapshotConsistentUnderChurn) {
  gort::run(gort::Config{.maxprocs = 2}, [] {
    constexpr int workers = 4, snapshots = 2000;
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(workers);
    for (int w = 0; w < workers; ++w)
      gort::go([&stop, &wg, w] {
        while (!stop.load(std::memory_order_relaxed)) {
          auto c = gort::make_chan<int>();
          gort::WaitGroup inner;
          inner.add(3);
          gort::go([c, &inner] {
            c.recv();
            inner.done();
          });
          gort::go([&inner] { inner.done(); });
          gort::go([&inner, w] {
            if (w == 0) gort::blocking([] { ::usleep(50); });
            inner.done();
          });
          c.send(1);
          inner.wait();
        }
        wg.done();
      });
    gort::Stats prev = gort::stats();
    for (int i = 0; i < snapshots; ++i) {
      const gort::Stats s = gort::stats();
      ASSERT_EQ(s.goroutines,
                s.goroutines_running + s.goroutines_runnable + s.goroutines_waiting + s.goroutines_syscall)
          << "snapshot " << i;
      ASSERT_LE(s.stacks_in_use, s.goroutines) << "snapshot " << i;
      ASSERT_GE(s.goroutines_running, 1u) << "snapshot " << i;  // the caller
      ASSERT_LE(s.idle_procs, s.maxprocs) << "snapshot " << i;
      ASSERT_LE(static_cast<std::size_t>(s.spinning_threads), s.threads) << "snapshot " << i;
      ASSERT_GE(s.context_switches, prev.context_switches) << "snapshot " << i;
      ASSERT_GE(s.steals, prev.steals) << "snapshot " << i;
      ASSERT_GE(s.preempt_yields, prev.preempt_yields) << "snapshot " << i;
      ASSERT_GE(latency_samples(s), latency_samples(prev)) << "snapshot " << i;
      prev = s;
      gort::yield();
    }
    stop.store(true, std::memory_order_relaxed);
    wg.wait();
    // A P that a smaller gomaxprocs leaves idle keeps its counts.
    gort::gomaxprocs(1);
    const gort::Stats one = gort::stats();
    EXPECT_GE(one.context_switches, prev.context_switches);
    EXPECT_GE(one.steals, prev.steals);
    EXPECT_GE(latency_samples(one), latency_samples(prev));
  });
}

}  // namespace
