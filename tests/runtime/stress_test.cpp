// stress_test.cpp: many goroutines (label stress). CI runs these under
// ThreadSanitizer and AddressSanitizer on 2 cores, so N scales down when
// GORT_TSAN or GORT_ASAN is defined.
//
//   Spawn          the anchor workload "spawn" (bench/spawn.cpp):
//                  wg.add(N); N times go { wg.done() }; wg.wait(); then
//                  NumGoroutine back to 1. N = 10^6 (10^5 under sanitizers).
//   SpawnFromMany  the same N, spawned by 8 goroutines at once, so that
//                  local queues overflow into the global queue and get stolen.
//   SpawnTree      random trees: each goroutine spawns a random number of
//                  children, to a random depth, and waits for them with a
//                  WaitGroup; each returns its subtree's size, checked against
//                  the same trees counted sequentially.
//   RunnextPingPong  pairs of goroutines that hand a count back and forth
//                  over unbuffered channels, readying each other through
//                  runnext, while the idle Ps' Ms steal it (some rounds
//                  wait until one has): every hand-off arrives once and in
//                  order. In both of runnext's
//                  modes (runq.hpp, "runnext without a CAS"): the owner's
//                  plain op against the thieves' membarrier, and the CAS
//                  (GODEBUG=runnextcas=1).
// All at GOMAXPROCS 1, 2 and 4, each run followed by the leak check
// (leak_check.hpp), as every run of the stress tests that share
// chan_test_util.hpp's run_procs.
#include <gtest/gtest.h>

#include <gort/gort.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "leak_check.hpp"

namespace {

#if defined(GORT_TSAN) || defined(GORT_ASAN)
constexpr long kSpawnN = 100000;
constexpr int kTreeRoots = 16;
constexpr int kTreeMaxDepth = 8;
#else
constexpr long kSpawnN = 1000000;
constexpr int kTreeRoots = 64;
constexpr int kTreeMaxDepth = 10;
#endif
constexpr int kTreeMaxChildren = 5;

// run_procs: run() at GOMAXPROCS procs, then the leak check.
int run_procs(int procs, std::function<void()> fn) {
  const int rc = gort::run(gort::Config{.maxprocs = procs}, std::move(fn));
  gort_test::expect_no_leaks();
  return rc;
}

// settle waits, yielding, until only main is left (a goroutine that has
// called done() may not have exited yet). Go's spawn anchor allows 10 s.
std::size_t settle() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (gort::num_goroutine() != 1 && std::chrono::steady_clock::now() < deadline) gort::yield();
  return gort::num_goroutine();
}

class StressTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, StressTest, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) { return "P" + std::to_string(info.param); });

TEST_P(StressTest, Spawn) {
  std::atomic<long> ran{0};
  std::size_t left = 0;
  auto start = std::chrono::steady_clock::now();
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup wg;
    wg.add(static_cast<int>(kSpawnN));
    for (long i = 0; i < kSpawnN; ++i) {
      gort::go([&] {
        ran.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    left = settle();
  });
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::printf("%ld goroutines at GOMAXPROCS=%d: %lld ms\n", kSpawnN, GetParam(), static_cast<long long>(ms));
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(ran.load(), kSpawnN);
  EXPECT_EQ(left, 1u) << "goroutines still alive 10 s after the last done()";
}

TEST_P(StressTest, SpawnFromMany) {
  constexpr int kSpawners = 8;
  constexpr long kEach = kSpawnN / kSpawners;
  std::atomic<long> ran{0};
  std::size_t left = 0;
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup spawners, all;
    spawners.add(kSpawners);
    all.add(static_cast<int>(kSpawners * kEach));
    for (int s = 0; s < kSpawners; ++s) {
      gort::go([&] {
        for (long i = 0; i < kEach; ++i) {
          gort::go([&] {
            ran.fetch_add(1, std::memory_order_relaxed);
            all.done();
          });
        }
        spawners.done();
      });
    }
    spawners.wait();
    all.wait();
    left = settle();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(ran.load(), kSpawners * kEach);
  EXPECT_EQ(left, 1u);
}

// splitmix64: the trees are a pure function of their seeds, so the count can
// be computed sequentially and compared.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
std::uint64_t child_seed(std::uint64_t seed, int c) {
  return mix(seed ^ (static_cast<std::uint64_t>(c + 1) * 0x100000001B3ull));
}
int children(std::uint64_t seed, int depth, int max_depth) {
  return depth == max_depth ? 0 : static_cast<int>(mix(seed) % (kTreeMaxChildren + 1));
}

std::uint64_t count_tree(std::uint64_t seed, int depth, int max_depth) {
  std::uint64_t n = 1;
  for (int c = 0, k = children(seed, depth, max_depth); c < k; ++c)
    n += count_tree(child_seed(seed, c), depth + 1, max_depth);
  return n;
}

// grow is one goroutine of the tree: it spawns its children, waits for them,
// and returns the size of its subtree as they report it.
std::uint64_t grow(std::uint64_t seed, int depth, int max_depth, std::atomic<std::uint64_t>& total) {
  total.fetch_add(1, std::memory_order_relaxed);
  int k = children(seed, depth, max_depth);
  if (k == 0) return 1;
  auto sizes = std::make_unique<std::uint64_t[]>(k);
  gort::WaitGroup wg;
  wg.add(k);
  for (int c = 0; c < k; ++c) {
    gort::go([&, c] {
      sizes[c] = grow(child_seed(seed, c), depth + 1, max_depth, total);
      wg.done();
    });
  }
  wg.wait();
  std::uint64_t n = 1;
  for (int c = 0; c < k; ++c) n += sizes[c];
  return n;
}

TEST_P(StressTest, SpawnTree) {
  std::vector<std::uint64_t> seeds(kTreeRoots), want(kTreeRoots), got(kTreeRoots, 0);
  std::vector<int> depth(kTreeRoots);
  std::uint64_t want_total = 0;
  for (int r = 0; r < kTreeRoots; ++r) {
    seeds[r] = mix(static_cast<std::uint64_t>(r) * 7919 + 17 + 1000003ull * GetParam());
    depth[r] = 1 + static_cast<int>(mix(seeds[r] ^ 0xabc) % kTreeMaxDepth);
    want[r] = count_tree(seeds[r], 0, depth[r]);
    want_total += want[r];
  }
  std::atomic<std::uint64_t> total{0};
  std::size_t left = 0;
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup wg;
    wg.add(kTreeRoots);
    for (int r = 0; r < kTreeRoots; ++r) {
      gort::go([&, r] {
        got[r] = grow(seeds[r], 0, depth[r], total);
        wg.done();
      });
    }
    wg.wait();
    left = settle();
  });
  std::printf("%d trees, %llu goroutines\n", kTreeRoots, static_cast<unsigned long long>(want_total));
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(total.load(), want_total);
  for (int r = 0; r < kTreeRoots; ++r) EXPECT_EQ(got[r], want[r]) << "tree " << r;
  EXPECT_EQ(left, 1u);
}

// Pairs ready each other through runnext (see the list above). In a plain
// ping-pong the owner switches to its runnext within a thief's back-off,
// so thieves take it only by chance. So, from GOMAXPROCS 2, some rounds
// linger: the pinger readies its partner (a try_send that succeeds only
// into a parked receiver, which goready puts in this P's runnext) and keeps
// the P, without a runtime entry, until the partner has run. It can only
// run elsewhere by a thief taking runnext, or on this P once sysmon hands
// it on (handoffs_held): more lingers than hand-offs means a thief took
// runnext, which is what the test races. Fewer pairs than Ps, so a P is
// always free for a thief.
TEST_P(StressTest, RunnextPingPong) {
  const int procs = GetParam();
  const int pairs = procs == 1 ? 3 : procs - 1;
  const long rounds = kSpawnN / 10;
  const long linger_every = procs == 1 ? 0 : rounds / 16;
  for (const bool cas : {false, true}) {
    if (cas) ::setenv("GODEBUG", "runnextcas=1", 1);
    std::atomic<long> bad{0}, handoffs{0}, lingers{0}, hung{0};
    std::uint64_t held = 0;
    int rc = run_procs(procs, [&] {
      const std::uint64_t held0 = gort::stats().handoffs_held;
      gort::WaitGroup wg;
      wg.add(2 * pairs);
      for (int i = 0; i < pairs; ++i) {
        auto ping = gort::make_chan<long>(), pong = gort::make_chan<long>();
        auto seen = std::make_shared<std::atomic<long>>(-1);  // the partner's last round
        gort::go([&, ping, pong, seen] {
          for (long n = 0; n < rounds; ++n) {
            if (linger_every != 0 && n % linger_every == linger_every - 1) {
              while (!ping.try_send(n)) gort::yield();
              const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
              while (seen->load(std::memory_order_acquire) < n)
                if (std::chrono::steady_clock::now() > end) {  // neither a thief nor sysmon came
                  hung.fetch_add(1);
                  break;
                }
              lingers.fetch_add(1);
            } else {
              ping.send(n);
            }
            if (pong.recv() != n) bad.fetch_add(1);
          }
          wg.done();
        });
        gort::go([&, ping, pong, seen] {
          for (long n = 0; n < rounds; ++n) {
            if (ping.recv() != n) bad.fetch_add(1);
            seen->store(n, std::memory_order_release);
            pong.send(n);
            handoffs.fetch_add(1, std::memory_order_relaxed);
          }
          wg.done();
        });
      }
      wg.wait();
      held = gort::stats().handoffs_held - held0;
    });
    if (cas) ::unsetenv("GODEBUG");
    const char* mode = cas ? "CAS mode" : "without a CAS";
    std::printf("%s: %ld lingers, %llu Ps handed off\n", mode, lingers.load(), static_cast<unsigned long long>(held));
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(bad.load(), 0) << mode << ": a value out of order or twice";
    EXPECT_EQ(handoffs.load(), pairs * rounds) << mode;
    EXPECT_EQ(hung.load(), 0) << mode << ": a lingering pinger's partner never ran";
    if (linger_every != 0) {
      EXPECT_GT(lingers.load(), static_cast<long>(held)) << mode << ": no thief ever took runnext";
    }
  }
}

// A million goroutines parked at once (issue 3: "1,000,000 parked goroutines
// must work on a stock kernel"): each has started, so each holds a stack
// (256 KiB of address space, a guard page, about one resident page). Then
// all are released and exit. Not under sanitizers: TSan keeps a fiber per
// stack (at most 8128) and ASan's shadow of a million stacks is gigabytes.
TEST(StressTest, MillionParked) {
#if defined(GORT_TSAN) || defined(GORT_ASAN) || defined(GORT_EMULATED)
  GTEST_SKIP() << "a million stacks is beyond the sanitizers' limits, and slow under qemu";
#else
  constexpr int n = 1'000'000;
  std::size_t parked = 0, left = 0;
  std::atomic<int> exited{0};
  int rc = run_procs(2, [&] {
    gort::WaitGroup ready, release, done;
    ready.add(n);
    release.add(1);
    done.add(n);
    for (int i = 0; i < n; ++i)
      gort::go([&] {
        ready.done();
        release.wait();
        exited.fetch_add(1, std::memory_order_relaxed);
        done.done();
      });
    ready.wait();
    parked = gort::num_goroutine();
    release.done();
    done.wait();
    left = settle();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(parked, static_cast<std::size_t>(n) + 1);
  EXPECT_EQ(exited.load(), n);
  EXPECT_EQ(left, 1u);
#endif
}

}  // namespace
