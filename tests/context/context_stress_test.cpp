// context_stress_test.cpp: gort::context under concurrency (label stress,
// gort_context_stress_tests). Under GORT_TSAN / GORT_ASAN the sizes scale
// down by 10. Nothing may leak: the ASan build's LeakSanitizer checks that
// every node, channel and timer is freed.
//
//   CancelWhileCreating   goroutines keep creating children (cancel, timeout,
//                         value, after_func) under a root, and under each
//                         other's, while another cancels the root: every
//                         child ends cancelled, every after_func runs or was
//                         stopped, exactly once
//   SharedParentChurn     goroutines create and cancel children of one
//                         long-lived parent: its list ends empty
//   TimeoutsRaceCancels   short deadlines against CancelFuncs: each ends with
//                         one error, and the error matches who won
//   ManyWaiters           goroutines blocked on done() of a tree's leaves wake
//                         at the root's cancel
#include "context_test_util.hpp"

#include <gort/context.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "context/export_test.hpp"

namespace {

using namespace gort_test;
using namespace std::chrono_literals;
namespace ctxns = gort::context;
using ctxns::Context;

class ContextStressTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, ContextStressTest, ::testing::Values(1, 2, 4), procs_name);

bool is_done(const Context& c) {
  auto d = c.done();
  bool closed = false;
  gort::select(gort::case_recv(d, [&](std::optional<std::monostate> v) { closed = !v; }), gort::case_default());
  return closed;
}

TEST_P(ContextStressTest, CancelWhileCreating) {
  const long rounds = scaled(100, 4);
  constexpr int creators = 8;
  const long per_creator = scaled(1000, 4);
  errors errs;
  std::atomic<long> made{0}, fn_ran{0}, fn_stopped{0}, fn_total{0};
  int rc = run_settled(GetParam(), [&] {
    static const char key = 0;
    for (long r = 0; r < rounds; ++r) {
      auto [root, cancel_root] = ctxns::with_cancel(ctxns::background());
      gort::WaitGroup wg;
      std::mutex mu;  // guards the lists below (a short critical section, no parking under it)
      std::vector<Context> all;
      std::vector<ctxns::CancelFunc> cancels;
      std::vector<std::function<bool()>> stops;
      wg.add(creators + 1);
      for (int k = 0; k < creators; ++k) {
        gort::go([&, k, root = root] {
          rng rnd(static_cast<std::uint64_t>(r * 131 + k));
          std::vector<Context> mine{root};
          for (long i = 0; i < per_creator; ++i) {
            const Context& p = mine[static_cast<std::size_t>(rnd.below(static_cast<int>(mine.size())))];
            Context c;
            ctxns::CancelFunc f;
            switch (rnd.below(5)) {
              case 0:
                std::tie(c, f) = ctxns::with_cancel(p);
                break;
              case 1:
                std::tie(c, f) = ctxns::with_timeout(p, 1h);
                break;
              case 2:
                c = ctxns::with_value(p, &key, i);
                break;
              case 3: {
                auto [cc, cf] = ctxns::with_cancel_cause(p);
                c = cc;
                f = [cf] { cf(nullptr); };
                break;
              }
              case 4: {
                fn_total.fetch_add(1, std::memory_order_relaxed);
                auto stop = ctxns::after_func(p, [&] { fn_ran.fetch_add(1, std::memory_order_relaxed); });
                if (rnd.chance(30)) {
                  if (stop()) fn_stopped.fetch_add(1, std::memory_order_relaxed);
                } else {
                  std::lock_guard l(mu);
                  stops.push_back(std::move(stop));
                }
                continue;
              }
            }
            if (rnd.chance(30)) (void)c.done();
            if (f && rnd.chance(10)) f();  // some end early, by their own CancelFunc
            mine.push_back(c);
            made.fetch_add(1, std::memory_order_relaxed);
            if (rnd.chance(5)) gort::yield();
            std::lock_guard l(mu);
            all.push_back(c);
            if (f) cancels.push_back(std::move(f));
          }
          wg.done();
        });
      }
      gort::go([&, cancel = cancel_root] {
        for (int i = 0; i < static_cast<int>(r % 7) * 10; ++i) gort::yield();
        cancel();
        wg.done();
      });
      wg.wait();
      long live = 0;
      for (auto& c : all)
        if (!c.err() || !is_done(c)) ++live;
      if (live != 0) errs.add("round " + std::to_string(r) + ": " + std::to_string(live) + " children not cancelled");
      for (auto& f : cancels) f();
      for (auto& s : stops)
        if (s()) fn_stopped.fetch_add(1, std::memory_order_relaxed);
      if (std::size_t n = ctxns::detail::test_num_children(root); n != 0)
        errs.add("round " + std::to_string(r) + ": root keeps " + std::to_string(n) + " children");
    }
    // after_func goroutines may still be starting: wait for them.
    spin_until([&] { return fn_ran.load() + fn_stopped.load() >= fn_total.load(); }, 60s);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_GT(made.load(), 0);
  EXPECT_EQ(fn_ran.load() + fn_stopped.load(), fn_total.load())
      << "ran " << fn_ran.load() << " stopped " << fn_stopped.load();
}

TEST_P(ContextStressTest, SharedParentChurn) {
  constexpr int workers = 16;
  const long per_worker = scaled(5000);
  std::size_t left = 1;
  errors errs;
  int rc = run_settled(GetParam(), [&] {
    auto [parent, cancel] = ctxns::with_cancel(ctxns::background());
    gort::WaitGroup wg;
    wg.add(workers);
    for (int k = 0; k < workers; ++k)
      gort::go([&, k, parent = parent] {
        rng rnd(static_cast<std::uint64_t>(k) + 1);
        std::vector<ctxns::CancelFunc> pending;
        for (long i = 0; i < per_worker; ++i) {
          auto [c, f] = rnd.chance(20) ? ctxns::with_timeout(parent, 1h) : ctxns::with_cancel(parent);
          if (rnd.chance(10)) {
            auto [g, gf] = ctxns::with_cancel(c);  // a grandchild, ended by its parent's CancelFunc
            pending.push_back(gf);
          }
          pending.push_back(std::move(f));
          if (pending.size() > 8 || rnd.chance(50)) {
            const std::size_t j = static_cast<std::size_t>(rnd.below(static_cast<int>(pending.size())));
            pending[j]();
            pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(j));
          }
        }
        for (auto& f : pending) f();
        wg.done();
      });
    wg.wait();
    left = ctxns::detail::test_num_children(parent);
    if (parent.err()) errs.add("parent cancelled");
    cancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(left, 0u);
  EXPECT_TRUE(errs.empty()) << errs.str();
}

TEST_P(ContextStressTest, TimeoutsRaceCancels) {
  const long n = scaled(3000);
  std::atomic<long> timed_out{0}, canceled{0}, bad{0};
  int rc = run_settled(GetParam(), [&] {
    auto [root, cancel_root] = ctxns::with_cancel(ctxns::background());
    gort::WaitGroup wg;
    wg.add(static_cast<int>(n));
    for (long i = 0; i < n; ++i) {
      gort::go([&, i, root = root] {
        auto [c, f] = ctxns::with_timeout(root, std::chrono::microseconds(i % 500));
        auto [child, cf] = ctxns::with_cancel(c);
        if (i % 3 == 0) gort::yield();
        if (i % 2 == 0) f();
        (void)child.done().recv();  // one of the two ends it
        const std::error_code e = c.err();
        if (e == ctxns::errc::deadline_exceeded)
          timed_out.fetch_add(1);
        else if (e == ctxns::errc::canceled && i % 2 == 0)
          canceled.fetch_add(1);
        else
          bad.fetch_add(1);
        if (child.err() != e) bad.fetch_add(1);
        cf();
        f();
        wg.done();
      });
    }
    wg.wait();
    if (ctxns::detail::test_num_children(root) != 0) bad.fetch_add(1);
    cancel_root();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(timed_out.load() + canceled.load(), n);
}

TEST_P(ContextStressTest, ManyWaiters) {
  const long fan = 10, depth = kSanitized ? 3 : 4;  // 1,000 or 10,000 leaves
  std::atomic<long> woke{0};
  long leaves = 0;
  int rc = run_settled(GetParam(), [&] {
    auto [root, cancel] = ctxns::with_cancel(ctxns::background());
    std::vector<Context> level{root};
    std::vector<ctxns::CancelFunc> cancels;
    for (long d = 0; d < depth; ++d) {
      std::vector<Context> next;
      for (auto& p : level)
        for (long i = 0; i < fan; ++i) {
          auto [c, f] = ctxns::with_cancel(p);
          next.push_back(c);
          cancels.push_back(f);
        }
      level = std::move(next);
    }
    leaves = static_cast<long>(level.size());
    gort::WaitGroup wg;
    wg.add(static_cast<int>(leaves));
    for (auto& c : level)
      gort::go([&, c] {
        (void)c.done().recv();
        woke.fetch_add(1);
        wg.done();
      });
    gort::sleep(1ms);
    cancel();
    wg.wait();
    for (auto& f : cancels) f();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(woke.load(), leaves);
}

}  // namespace
