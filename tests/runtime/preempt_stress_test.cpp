// preempt_stress_test.cpp: sysmon taking Ps against runtime entries
// (label stress, part of gort_stress_tests). See preempt.cpp.
//
//   TakeawaysAgainstEntries  goroutines ("hogs") that never reach a
//                          preemption point: they loop on blocking() calls,
//                          which do not end a time slice, and user code, so
//                          their schedtick goes stale and sysmon asks their
//                          Ms for the P every millisecond. The request
//                          lands in entersyscall/exitsyscall (where it must
//                          do nothing) and in user code (where it takes the
//                          P). Each hog also arms and stops a timer now and
//                          then, which gets it a P back. Meanwhile a pair of
//                          goroutines hands values over a channel: none
//                          lost, none doubled. Every other timer, a hog
//                          spins in its own code until its P is taken; the
//                          values go on until sysmon has taken 2 Ps per hog
//                          (stats' handoffs_held), so that the takes race
//                          the transfer as well as the hogs' entries.
// At GOMAXPROCS 1, 2 and 4, by the membarrier handshake (where the kernel
// has it) and by the signal (GODEBUG=preemptsignal=1).
#include "chan_test_util.hpp"
#include "runtime/export_test.hpp"

#include <gort/time.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <tuple>

namespace {

using namespace gort_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// The parameter: GOMAXPROCS, and whether sysmon takes a P by signal.
class PreemptStressTest : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  void SetUp() override {
    if (by_signal()) ::setenv("GODEBUG", "preemptsignal=1", 1);
  }
  void TearDown() override {
    if (by_signal()) ::unsetenv("GODEBUG");
  }
  static int procs() { return std::get<0>(GetParam()); }
  static bool by_signal() { return std::get<1>(GetParam()); }
};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, PreemptStressTest,
                         ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()), [](const auto& info) {
                           return "P" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_signal" : "");
                         });

TEST_P(PreemptStressTest, TakeawaysAgainstEntries) {
  const int hogs = procs() + 1;
  const long values = scaled(20000);  // at least
  const std::uint64_t want_takes = static_cast<std::uint64_t>(2 * hogs);
  std::atomic<long> ops{0}, bad_stops{0}, received{0}, sum{0}, sent{0};
  std::uint64_t takes = 0;  // during the transfer
  int rc = run_procs(procs(), [&] {
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(hogs + 1);
    for (int h = 0; h < hogs; ++h)
      gort::go([&] {
        {
          gort::Timer t(1h);
          std::uint64_t x = 1;
          auto next_entry = steady::now() + 25ms;
          unsigned entries = 0;
          for (unsigned n = 1; !stop.load(std::memory_order_relaxed); ++n) {
            x = gort::blocking([x] { return x * 6364136223846793005ull + 1; });
            x ^= x >> 7;  // a little user code: most of the time goes to blocking()
            // Past the 20 ms after which sysmon asks: a P again, if the
            // handshake or the signal took it.
            if (n % 256 == 0 && steady::now() >= next_entry) {
              if (!t.stop() || t.reset(1h)) bad_stops.fetch_add(1);  // pending, then not
              // Every other time, user code only until sysmon takes the
              // P: at GOMAXPROCS 1 retake mostly hands the P off from
              // blocking() at 10 ms, before a take's 20 ms.
              if (++entries % 2 == 0) {
                const auto give_up = steady::now() + 20s;
                while (!gort::rt::held_p_taken() && !stop.load(std::memory_order_relaxed) && steady::now() < give_up)
                  x = x * 5 + 1;
              }
              next_entry = steady::now() + 25ms;
            }
            ops.fetch_add(1, std::memory_order_relaxed);
          }
          if (x == 0) ops.fetch_add(1);  // keep x alive
        }  // t gone before done(): main may return from run() at once, which abandons this goroutine
        wg.done();
      });
    auto c = gort::make_chan<long>(4);
    gort::go([&, c] {
      const std::uint64_t took0 = gort::stats().handoffs_held;
      const auto give_up = steady::now() + 20s;
      long i = 1;
      for (;; ++i) {
        c.send(i);
        if (i >= values && i % 256 == 0 &&
            (gort::stats().handoffs_held - took0 >= want_takes || steady::now() > give_up))
          break;
      }
      takes = gort::stats().handoffs_held - took0;
      sent.store(i);
      c.close();
      wg.done();
    });
    for (long v : c) {
      received.fetch_add(1);
      sum.fetch_add(v);
    }
    stop.store(true);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad_stops.load(), 0);
  EXPECT_GT(ops.load(), 0);
  EXPECT_GE(takes, want_takes) << "sysmon took too few Ps in the 20 s the values went over";
  EXPECT_EQ(received.load(), sent.load());
  EXPECT_EQ(sum.load(), sent.load() * (sent.load() + 1) / 2);
}

}  // namespace
