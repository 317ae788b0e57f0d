// errgroup_test.cpp: gort::errgroup
// (include/gort/errgroup.hpp). Go counterpart: golang.org/x/sync/errgroup's
// errgroup_test.go; tests keep its names where one fits.
//
//   ZeroGroup            Go's: the first exception is wait()'s, later ones dropped
//   WithContext          Go's: the context is cancelled at the first error, its
//                        cause that error, or when wait() returns
//   FirstErrorWins       many failing goroutines: exactly one error, the first
//   GoLimit              Go's TestGoLimit: never more than the limit active
//   TryGo                Go's TestTryGo: false at the limit, true after a slot frees
//   SetLimitWhileActive  Go's panic message
//   NoLimit, ZeroLimit   n < 0 lifts the limit; 0 refuses every try_go
//   GroupIsAHandle       copies are the same group
//
// Each runs at GOMAXPROCS 1, 2 and 4; goroutines record, the test asserts
// after run() returns.
#include "context_test_util.hpp"

#include <gort/errgroup.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace gort_test;
using namespace std::chrono_literals;
namespace ctxns = gort::context;

class ErrgroupTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, ErrgroupTest, ::testing::Values(1, 2, 4), procs_name);

// Go's TestZeroGroup: with each set of errors, wait() returns the first.
TEST_P(ErrgroupTest, ZeroGroup) {
  std::vector<std::string> got;
  int rc = run_settled(GetParam(), [&] {
    const std::vector<std::vector<const char*>> cases = {
        {}, {nullptr}, {"err1"}, {"err1", nullptr}, {"err1", nullptr, "err2"}};
    for (const auto& errs : cases) {
      gort::errgroup::Group g;
      std::string first = "nullptr";
      for (const char* e : errs) {
        // One at a time, as Go's test does (each waits on a channel): the
        // first failure is the first goroutine that fails.
        auto ran = gort::make_chan<int>(1);
        g.go([e, ran] {
          ran.send(1);
          if (e) throw std::runtime_error(e);
        });
        (void)ran.recv();
        if (e && first == "nullptr") first = e;
        gort::sleep(1ms);  // lets it finish before the next starts
      }
      const std::string w = what_of(g.wait());
      got.push_back(w == first ? "ok" : "got " + w + ", want " + first);
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got, std::vector<std::string>(5, "ok"));
}

// Go's TestWithContext: the context ends with the first error (canceled,
// cause that error), and a group with no error ends it at wait().
TEST_P(ErrgroupTest, WithContext) {
  std::string werr, cause;
  std::error_code cerr, clean_before, clean_after;
  bool others_saw_cancel = false, done = false;
  int rc = run_settled(GetParam(), [&] {
    {
      auto [g, ctx] = gort::errgroup::with_context(ctxns::background());
      std::atomic<int> saw{0};
      for (int i = 0; i < 3; ++i)
        g.go([ctx = ctx, &saw] {
          bool closed = false;
          gort::select(gort::case_recv(ctx.done(), [&](auto) { closed = true; }), gort::case_recv(gort::after(kLate)));
          saw += closed;
        });
      g.go([] { throw std::runtime_error("fail"); });
      werr = what_of(g.wait());
      cerr = ctx.err();
      cause = what_of(ctx.cause());
      others_saw_cancel = saw.load() == 3;
    }
    {
      auto [g, ctx] = gort::errgroup::with_context(ctxns::background());
      g.go([] {});
      clean_before = ctx.err();  // may still be live: nothing failed
      done = g.wait() == nullptr;
      clean_after = ctx.err();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(werr, "fail");
  EXPECT_EQ(cerr, ctxns::errc::canceled);
  EXPECT_EQ(cause, "fail");
  EXPECT_TRUE(others_saw_cancel);
  EXPECT_FALSE(clean_before);
  EXPECT_TRUE(done);
  EXPECT_EQ(clean_after, ctxns::errc::canceled);
}

// Of many goroutines failing at once, one error is kept, and it is one of
// theirs; every goroutine has finished when wait() returns.
TEST_P(ErrgroupTest, FirstErrorWins) {
  std::string err;
  int finished = 0;
  int rc = run_settled(GetParam(), [&] {
    gort::errgroup::Group g;
    std::atomic<int> fin{0};
    for (int i = 0; i < 100; ++i)
      g.go([i, &fin] {
        gort::yield();
        fin.fetch_add(1);
        if (i % 2 == 0) throw std::runtime_error("err" + std::to_string(i));
      });
    err = what_of(g.wait());
    finished = fin.load();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(finished, 100);
  EXPECT_EQ(err.rfind("err", 0), 0u) << err;
  EXPECT_EQ(std::stoi(err.substr(3)) % 2, 0);
}

// Go's TestGoLimit: with set_limit(limit), no more than limit active at once;
// and, which Go's does not check, more than one: the limit is not 1.
TEST_P(ErrgroupTest, GoLimit) {
  constexpr int limit = 10;
  int max_active = 0;
  std::string err;
  int rc = run_settled(GetParam(), [&] {
    gort::errgroup::Group g;
    g.set_limit(limit);
    std::atomic<int> active{0}, peak{0};
    for (int i = 0; i < 100; ++i)
      g.go([&] {
        const int n = active.fetch_add(1) + 1;
        for (int p = peak.load(); n > p && !peak.compare_exchange_weak(p, n);) {
        }
        gort::sleep(1ms);
        active.fetch_sub(1);
      });
    err = what_of(g.wait());
    max_active = peak.load();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err, "nullptr");
  EXPECT_LE(max_active, limit);
  EXPECT_GT(max_active, 1);
}

// Go's TestTryGo: at the limit try_go refuses (and f does not run); once a
// slot frees it succeeds; the group's error is the one thrown.
TEST_P(ErrgroupTest, TryGo) {
  std::vector<bool> results;
  std::string err;
  int ran = 0;
  int rc = run_settled(GetParam(), [&] {
    gort::errgroup::Group g;
    constexpr int n = 42;
    g.set_limit(n);
    auto release = gort::make_chan<int>();
    std::atomic<int> count{0};
    bool all = true;
    for (int i = 0; i < n; ++i)
      all = g.try_go([&, release] {
        count.fetch_add(1);
        (void)release.recv();
      }) && all;
    results.push_back(all);
    results.push_back(!g.try_go([&] { count.fetch_add(1000); }));  // the limit is reached
    for (int i = 0; i < n; ++i) release.send(1);
    g.wait();
    results.push_back(g.try_go([] { throw std::runtime_error("try"); }));
    err = what_of(g.wait());
    // Limit 1: one active, the next refused until it is done.
    g.set_limit(1);
    results.push_back(g.try_go([release] { (void)release.recv(); }));
    results.push_back(!g.try_go([] {}));
    release.send(1);
    g.wait();
    ran = count.load();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(results, std::vector<bool>(5, true));
  EXPECT_EQ(err, "try");
  EXPECT_EQ(ran, 42);
}

// set_limit while goroutines of a limited group are active: Go's panic.
TEST_P(ErrgroupTest, SetLimitWhileActive) {
  std::string msg;
  bool is_logic_error = false;
  int rc = run_settled(GetParam(), [&] {
    gort::errgroup::Group g;
    g.set_limit(5);
    auto release = gort::make_chan<int>();
    for (int i = 0; i < 3; ++i) g.go([release] { (void)release.recv(); });
    try {
      g.set_limit(10);
    } catch (const std::logic_error& e) {
      is_logic_error = true;
      msg = e.what();
    }
    for (int i = 0; i < 3; ++i) release.send(1);
    g.wait();
    g.set_limit(10);  // fine once they are done
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(is_logic_error);
  EXPECT_EQ(msg, "errgroup: modify limit while 3 goroutines in the group are still active");
}

TEST_P(ErrgroupTest, NoLimitAndZeroLimit) {
  bool zero_refuses = false, unlimited = false;
  int rc = run_settled(GetParam(), [&] {
    gort::errgroup::Group g;
    g.set_limit(0);
    zero_refuses = !g.try_go([] {});
    g.set_limit(-1);
    auto release = gort::make_chan<int>();
    unlimited = true;
    for (int i = 0; i < 1000; ++i) unlimited = g.try_go([release] { (void)release.recv(); }) && unlimited;
    release.close();
    g.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(zero_refuses);
  EXPECT_TRUE(unlimited);
}

// Copies of a Group are one group: wait() on a copy waits for all.
TEST_P(ErrgroupTest, GroupIsAHandle) {
  int finished = 0;
  std::string err;
  int rc = run_settled(GetParam(), [&] {
    gort::errgroup::Group g;
    std::atomic<int> fin{0};
    auto launch = [&fin](gort::errgroup::Group h) {
      h.go([&fin] {
        gort::sleep(2ms);
        fin.fetch_add(1);
        throw std::runtime_error("copy");
      });
    };
    launch(g);
    gort::errgroup::Group copy = g;
    err = what_of(copy.wait());
    finished = fin.load();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(finished, 1);
  EXPECT_EQ(err, "copy");
}

}  // namespace
