// context_test.cpp: gort::context through the public API
// (include/gort/context.hpp). Go counterpart:
// src/context/context_test.go (Go 1.21); tests keep Go's names where one
// fits.
//
//   Background, TODO                     nil done channel, no err, no deadline
//   ErrorMessages                        Go's texts, error conditions
//   WithCancel                           Go's: children cancelled with the parent
//   ParentFinishesChild, ChildFinishesFirst  Go's, with the children list checked
//   CancelReachesGrandchildren           through a value context and a deadline one
//   WithCancelCanceledParent             born cancelled
//   CancelIdempotent                     a second CancelFunc call changes nothing
//   CancelRemoves                        Go's: the parent's list and the timer go
//   Deadline, Timeout, CanceledTimeout   Go's
//   DeadlineOrdering                     a later child deadline is the parent's
//   DeadlinePassed                       cancelled at once with deadline_exceeded
//   Values                               Go's TestValues: lookup through a chain
//   ValueWrongType                       nullptr, and the search stops there
//   SimultaneousCancels, InterlockedCancels, LayersCancel, LayersTimeout  Go's
//   Cause, CauseFromParent               context.Cause
//   AfterFunc...                         Go's TestAfterFunc* and stop()'s result
//   DoneInSelect                         background's done blocks in select
//   ContextOutlivesRun                   handles destroyed after run() returns
//
// Time bounds follow from what is checked, generously (kLate): a loaded
// machine and sanitizers are slow. Goroutines record, the test asserts after
// run() returns. Each runs at GOMAXPROCS 1, 2 and 4.
#include "context_test_util.hpp"

#include <gort/context.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "context/export_test.hpp"

namespace {

using namespace gort_test;
using namespace std::chrono_literals;
namespace ctxns = gort::context;
using ctxns::Context;
using steady = std::chrono::steady_clock;

class ContextTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, ContextTest, ::testing::Values(1, 2, 4), procs_name);

// is_done: done() is closed now.
bool is_done(const Context& c) {
  auto d = c.done();
  if (!d) return false;
  bool closed = false;
  gort::select(gort::case_recv(d, [&](std::optional<std::monostate> v) { closed = !v; }), gort::case_default());
  return closed;
}

// wait_done: done() closes within d.
bool wait_done(const Context& c, std::chrono::nanoseconds d) {
  bool closed = false;
  gort::select(gort::case_recv(c.done(), [&](auto) { closed = true; }), gort::case_recv(gort::after(d)));
  return closed;
}

TEST_P(ContextTest, Background) {
  bool nil_done = false, no_err = false, no_deadline = false, no_cause = false, todo_same = false;
  int rc = run_settled(GetParam(), [&] {
    Context c = ctxns::background();
    nil_done = !c.done();
    no_err = !c.err();
    no_deadline = !c.deadline();
    no_cause = c.cause() == nullptr;
    Context t = ctxns::todo();
    todo_same = !t.done() && !t.err() && !t.deadline();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(nil_done);
  EXPECT_TRUE(no_err);
  EXPECT_TRUE(no_deadline);
  EXPECT_TRUE(no_cause);
  EXPECT_TRUE(todo_same);
}

TEST(ContextTest, ErrorMessages) {
  const std::error_code c = ctxns::errc::canceled, d = ctxns::errc::deadline_exceeded;
  EXPECT_EQ(c.message(), "context canceled");
  EXPECT_EQ(d.message(), "context deadline exceeded");
  EXPECT_STREQ(c.category().name(), "context");
  EXPECT_EQ(&c.category(), &ctxns::category());
  // Go's DeadlineExceeded is a timeout (TestDeadlineExceededSupportsTimeout).
  EXPECT_TRUE(d == std::errc::timed_out);
  EXPECT_TRUE(c == std::errc::operation_canceled);
  EXPECT_TRUE(c == ctxns::errc::canceled);
  EXPECT_FALSE(c == ctxns::errc::deadline_exceeded);
  EXPECT_STREQ(std::system_error(c).what(), "context canceled");
}

// Go's TestWithCancel: cancelling the parent closes every child's done.
TEST_P(ContextTest, WithCancel) {
  std::vector<bool> before, after;
  std::error_code errs[3];
  int rc = run_settled(GetParam(), [&] {
    auto [c1, cancel] = ctxns::with_cancel(ctxns::background());
    Context o[3];
    o[0] = c1;
    o[1] = ctxns::with_cancel(c1).first;
    o[2] = ctxns::with_cancel(o[1]).first;  // the CancelFunc goes: only the parent's cancel ends it
    for (auto& c : o) before.push_back(is_done(c));
    cancel();
    for (auto& c : o) after.push_back(wait_done(c, kLate));
    for (int i = 0; i < 3; ++i) errs[i] = o[i].err();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(before, std::vector<bool>(3, false));
  EXPECT_EQ(after, std::vector<bool>(3, true));
  for (auto& e : errs) EXPECT_EQ(e, ctxns::errc::canceled);
}

// Go's TestParentFinishesChild: a parent cancelled cancels its children and
// forgets them.
TEST_P(ContextTest, ParentFinishesChild) {
  std::size_t children_before = 0, children_after = 1;
  bool all_done = false, parent_done_first = false;
  std::error_code errs[4];
  int rc = run_settled(GetParam(), [&] {
    auto [parent, cancel] = ctxns::with_cancel(ctxns::background());
    auto [cancel_child, stop1] = ctxns::with_cancel(parent);
    Context value_child = ctxns::with_value(parent, &children_before, 1);
    auto [timer_child, stop2] = ctxns::with_timeout(value_child, 1h);
    auto [grand, stop3] = ctxns::with_cancel(timer_child);
    children_before = ctxns::detail::test_num_children(parent);  // cancel_child and timer_child
    parent_done_first = !is_done(parent);
    cancel();
    all_done = wait_done(parent, kLate) && wait_done(cancel_child, kLate) && wait_done(value_child, kLate) &&
               wait_done(timer_child, kLate) && wait_done(grand, kLate);
    children_after = ctxns::detail::test_num_children(parent);
    errs[0] = parent.err();
    errs[1] = cancel_child.err();
    errs[2] = timer_child.err();
    errs[3] = grand.err();
    stop1();
    stop2();
    stop3();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(children_before, 2u);
  EXPECT_TRUE(parent_done_first);
  EXPECT_TRUE(all_done);
  EXPECT_EQ(children_after, 0u);
  for (auto& e : errs) EXPECT_EQ(e, ctxns::errc::canceled);
}

// Go's TestChildFinishesFirst: a child's CancelFunc leaves the parent live and
// takes the child off its list.
TEST_P(ContextTest, ChildFinishesFirst) {
  std::size_t before = 0, after = 1;
  bool child_done = false, parent_live = false;
  int rc = run_settled(GetParam(), [&] {
    auto [parent, cancel_parent] = ctxns::with_cancel(ctxns::background());
    auto [child, cancel_child] = ctxns::with_cancel(parent);
    before = ctxns::detail::test_num_children(parent);
    cancel_child();
    after = ctxns::detail::test_num_children(parent);
    child_done = is_done(child) && child.err() == ctxns::errc::canceled;
    parent_live = !is_done(parent) && !parent.err();
    cancel_parent();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(before, 1u);
  EXPECT_EQ(after, 0u);
  EXPECT_TRUE(child_done);
  EXPECT_TRUE(parent_live);
}

// Cancellation reaches grandchildren through value and deadline contexts,
// including ones whose done() was asked for before, and ones never asked.
TEST_P(ContextTest, CancelReachesGrandchildren) {
  int depth_done = 0;
  constexpr int depth = 50;
  int rc = run_settled(GetParam(), [&] {
    static const int key = 0;
    auto [root, cancel] = ctxns::with_cancel(ctxns::background());
    std::vector<Context> chain{root};
    std::vector<ctxns::CancelFunc> cancels;
    for (int i = 1; i < depth; ++i) {
      const Context& p = chain.back();
      if (i % 3 == 0) {
        chain.push_back(ctxns::with_value(p, &key, i));
      } else if (i % 3 == 1) {
        auto [c, f] = ctxns::with_timeout(p, 1h);
        chain.push_back(c);
        cancels.push_back(f);
      } else {
        auto [c, f] = ctxns::with_cancel(p);
        chain.push_back(c);
        cancels.push_back(f);
      }
      if (i % 2 == 0) (void)chain.back().done();
    }
    cancel();
    for (auto& c : chain) depth_done += (c.err() == ctxns::errc::canceled) && wait_done(c, kLate);
    for (auto& f : cancels) f();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(depth_done, depth);
}

// Go's TestWithCancelCanceledParent: a child of a cancelled parent is born
// cancelled, with the parent's error and cause.
TEST_P(ContextTest, WithCancelCanceledParent) {
  bool born_done = false;
  std::error_code err, terr;
  std::string cause;
  int rc = run_settled(GetParam(), [&] {
    auto [parent, cancel] = ctxns::with_cancel_cause(ctxns::background());
    cancel(std::make_exception_ptr(std::runtime_error("boom")));
    auto [c, f] = ctxns::with_cancel(parent);
    auto [t, g] = ctxns::with_timeout(parent, 1h);
    born_done = is_done(c) && is_done(t) && !ctxns::detail::test_has_timer(t);
    err = c.err();
    terr = t.err();
    cause = what_of(c.cause());
    f();
    g();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(born_done);
  EXPECT_EQ(err, ctxns::errc::canceled);
  EXPECT_EQ(terr, ctxns::errc::canceled);
  EXPECT_EQ(cause, "boom");
}

TEST_P(ContextTest, CancelIdempotent) {
  std::error_code err;
  int calls_ok = 0;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_timeout(ctxns::background(), 20ms);
    cancel();
    cancel();
    gort::sleep(60ms);  // the timer, stopped, must not turn canceled into deadline_exceeded
    cancel();
    err = c.err();
    auto copy = cancel;
    copy();
    calls_ok = is_done(c);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err, ctxns::errc::canceled);
  EXPECT_EQ(calls_ok, 1);
}

// Go's TestCancelRemoves: a CancelFunc unlinks the child (with_cancel and
// with_timeout) and stops the timer.
TEST_P(ContextTest, CancelRemoves) {
  std::vector<std::size_t> counts;
  bool timer_before = false, timer_after = true;
  int rc = run_settled(GetParam(), [&] {
    auto [root, cancel_root] = ctxns::with_cancel(ctxns::background());
    counts.push_back(ctxns::detail::test_num_children(root));
    auto [c1, cancel1] = ctxns::with_cancel(root);
    counts.push_back(ctxns::detail::test_num_children(root));
    cancel1();
    counts.push_back(ctxns::detail::test_num_children(root));
    auto [c2, cancel2] = ctxns::with_timeout(root, 1h);
    timer_before = ctxns::detail::test_has_timer(c2);
    counts.push_back(ctxns::detail::test_num_children(root));
    cancel2();
    counts.push_back(ctxns::detail::test_num_children(root));
    timer_after = ctxns::detail::test_has_timer(c2);
    // Many children made and cancelled leave nothing behind.
    for (int i = 0; i < 1000; ++i) ctxns::with_cancel(root).second();
    for (int i = 0; i < 100; ++i) ctxns::with_timeout(root, 1h).second();
    counts.push_back(ctxns::detail::test_num_children(root));
    cancel_root();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(counts, (std::vector<std::size_t>{0, 1, 0, 1, 0, 0}));
  EXPECT_TRUE(timer_before);
  EXPECT_FALSE(timer_after);
}

// Go's TestDeadline: a deadline passes and cancels with deadline_exceeded,
// never early; a later child deadline keeps the parent's.
TEST_P(ContextTest, Deadline) {
  std::error_code errs[3];
  bool early = true, done_in_time[3] = {};
  std::optional<steady::time_point> dl_child, dl_parent;
  int rc = run_settled(GetParam(), [&] {
    const auto start = steady::now();
    auto [c, cancel] = ctxns::with_deadline(ctxns::background(), start + 50ms);
    auto [c2, cancel2] = ctxns::with_deadline(c, start + 1h);  // the parent's deadline wins
    auto [o, ocancel] = ctxns::with_cancel(c);
    dl_parent = c.deadline();
    dl_child = c2.deadline();
    done_in_time[0] = wait_done(c, 50ms + kLate);
    early = steady::now() < start + 50ms;
    done_in_time[1] = wait_done(c2, kLate);
    done_in_time[2] = wait_done(o, kLate);
    errs[0] = c.err();
    errs[1] = c2.err();
    errs[2] = o.err();
    cancel();
    cancel2();
    ocancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(early);
  for (bool d : done_in_time) EXPECT_TRUE(d);
  for (auto& e : errs) EXPECT_EQ(e, ctxns::errc::deadline_exceeded);
  ASSERT_TRUE(dl_parent && dl_child);
  EXPECT_EQ(*dl_child, *dl_parent);
}

// Go's TestTimeout, and a child with an earlier deadline than its parent's.
TEST_P(ContextTest, Timeout) {
  std::error_code parent_err, child_err;
  bool child_done = false, parent_live = false, ordered = false;
  int rc = run_settled(GetParam(), [&] {
    auto [p, pcancel] = ctxns::with_timeout(ctxns::background(), 1h);
    auto [c, ccancel] = ctxns::with_timeout(p, 30ms);
    ordered = c.deadline() && p.deadline() && *c.deadline() < *p.deadline();
    child_done = wait_done(c, 30ms + kLate);
    child_err = c.err();
    parent_live = !is_done(p);
    parent_err = p.err();
    ccancel();
    pcancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(ordered);
  EXPECT_TRUE(child_done);
  EXPECT_EQ(child_err, ctxns::errc::deadline_exceeded);
  EXPECT_TRUE(parent_live);
  EXPECT_FALSE(parent_err);
}

// Go's TestCanceledTimeout: cancelled before its deadline: canceled.
TEST_P(ContextTest, CanceledTimeout) {
  std::error_code err;
  bool done = false, timer = true;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_timeout(ctxns::background(), 1s);
    auto [o, ocancel] = ctxns::with_cancel(c);
    ocancel();
    cancel();
    done = wait_done(c, kLate);
    err = c.err();
    timer = ctxns::detail::test_has_timer(c);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(done);
  EXPECT_EQ(err, ctxns::errc::canceled);
  EXPECT_FALSE(timer);
}

// A deadline already past (or now, or a timeout <= 0): cancelled at once.
TEST_P(ContextTest, DeadlinePassed) {
  std::vector<std::error_code> errs;
  std::vector<bool> dones;
  int rc = run_settled(GetParam(), [&] {
    auto [p, pcancel] = ctxns::with_cancel(ctxns::background());
    for (auto d : {-1s, 0s}) {
      auto [c, cancel] = ctxns::with_timeout(p, d);
      errs.push_back(c.err());
      dones.push_back(is_done(c));
      cancel();
    }
    auto [c, cancel] = ctxns::with_deadline(p, steady::time_point{});
    errs.push_back(c.err());
    dones.push_back(is_done(c));
    errs.push_back(p.err());  // the parent is untouched
    dones.push_back(ctxns::detail::test_num_children(p) == 0);
    cancel();
    pcancel();
  });
  EXPECT_EQ(rc, 0);
  ASSERT_EQ(errs.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(errs[i], ctxns::errc::deadline_exceeded) << i;
  EXPECT_FALSE(errs[3]);
  EXPECT_EQ(dones, std::vector<bool>(4, true));
}

// Extreme timeouts saturate rather than overflow.
TEST_P(ContextTest, HugeTimeout) {
  bool live = false, has = false;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_timeout(ctxns::background(), std::chrono::nanoseconds::max());
    live = !c.err() && !is_done(c);
    has = c.deadline().has_value();
    cancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(live);
  EXPECT_TRUE(has);
}

// Go's TestValues: each key found at the nearest context holding it.
TEST_P(ContextTest, Values) {
  static const char k1 = 0, k2 = 0, k3 = 0;
  std::vector<std::string> got;
  int rc = run_settled(GetParam(), [&] {
    auto show = [&](const Context& c) {
      std::string s;
      for (const void* k : {&k1, &k2, &k3}) {
        const std::string* v = c.value<std::string>(k);
        s += v ? *v : "-";
        s += ' ';
      }
      got.push_back(s);
    };
    Context c0 = ctxns::background();
    show(c0);
    Context c1 = ctxns::with_value(c0, &k1, std::string("c1k1"));
    show(c1);
    Context c2 = ctxns::with_value(c1, &k2, std::string("c2k2"));
    show(c2);
    Context c3 = ctxns::with_value(c2, &k3, std::string("c3k3"));
    show(c3);
    Context c4 = ctxns::with_value(c3, &k1, std::string("c4k1"));
    show(c4);
    auto [o0, f0] = ctxns::with_cancel(ctxns::background());
    show(o0);
    Context o1 = ctxns::with_value(ctxns::with_cancel(c1).first, &k2, std::string("c2k2"));
    auto [o2, f2] = ctxns::with_timeout(o1, 1h);
    show(o2);
    Context o3 = ctxns::with_value(ctxns::with_cancel(c4).first, &k2, std::string("o3k2"));
    show(o3);
    f0();
    f2();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got, (std::vector<std::string>{"- - - ", "c1k1 - - ", "c1k1 c2k2 - ", "c1k1 c2k2 c3k3 ", "c4k1 c2k2 c3k3 ",
                                           "- - - ", "c1k1 c2k2 - ", "c4k1 o3k2 c3k3 "}));
}

// tracked counts its live objects: with_value's copy goes with its context.
struct tracked {
  static inline std::atomic<int> live{0};
  int v;
  explicit tracked(int x) : v(x) { ++live; }
  tracked(const tracked& o) : v(o.v) { ++live; }
  tracked(tracked&& o) noexcept : v(o.v) { ++live; }
  ~tracked() { --live; }
};

// value<T> with another T: nullptr, and the search does not go on upwards
// (Go's ctx.Value(k).(T) asserts on the nearest value).
TEST_P(ContextTest, ValueWrongType) {
  static const char k = 0;
  const long* as_long = reinterpret_cast<const long*>(1);
  const int* inner = nullptr;
  int outer = 0;
  int live_inside = 0;
  int rc = run_settled(GetParam(), [&] {
    Context c = ctxns::with_value(ctxns::background(), &k, 7);
    Context d = ctxns::with_value(c, &k, std::string("x"));
    as_long = d.value<long>(&k);
    inner = d.value<int>(&k);
    outer = *c.value<int>(&k);
    Context e = ctxns::with_value(d, &outer, tracked(3));
    live_inside = tracked::live.load() == 1 && e.value<tracked>(&outer)->v == 3;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(as_long, nullptr);
  EXPECT_EQ(inner, nullptr);
  EXPECT_EQ(outer, 7);
  EXPECT_TRUE(live_inside);
  EXPECT_EQ(tracked::live.load(), 0);  // freed with the last handle
}

// Go's TestSimultaneousCancels: a tree of contexts cancelled from its root
// while goroutines wait on every node.
TEST_P(ContextTest, SimultaneousCancels) {
  std::atomic<int> woke{0};
  int n = 0;
  int rc = run_settled(GetParam(), [&] {
    auto [root, cancel] = ctxns::with_cancel(ctxns::background());
    std::vector<Context> all{root};
    std::vector<ctxns::CancelFunc> cancels;
    for (std::size_t i = 0; all.size() < 100; ++i) {
      for (int k = 0; k < 3; ++k) {
        auto [c, f] = ctxns::with_cancel(all[i]);
        all.push_back(c);
        cancels.push_back(f);
      }
    }
    n = static_cast<int>(all.size());
    gort::WaitGroup wg;
    wg.add(n);
    for (auto& c : all)
      gort::go([&, c] {
        (void)c.done().recv();
        woke.fetch_add(1);
        wg.done();
      });
    gort::sleep(1ms);
    // Cancel everything at once, from many goroutines, the root among them.
    gort::WaitGroup cw;
    cw.add(static_cast<int>(cancels.size()) + 1);
    gort::go([&] {
      cancel();
      cw.done();
    });
    for (auto& f : cancels)
      gort::go([&cw, f] {
        f();
        cw.done();
      });
    cw.wait();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(woke.load(), n);
}

// Go's TestInterlockedCancels: a child's cancel, through an after_func on the
// parent, while the parent is being cancelled.
TEST_P(ContextTest, InterlockedCancels) {
  bool child_done = false;
  int rc = run_settled(GetParam(), [&] {
    auto [parent, cancel_parent] = ctxns::with_cancel(ctxns::background());
    auto [child, cancel_child] = ctxns::with_cancel(parent);
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&wg, parent = parent, f = cancel_child] {
      (void)parent.done().recv();
      f();
      wg.done();
    });
    cancel_parent();
    child_done = wait_done(child, kLate);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(child_done);
}

// Go's TestLayersCancel / TestLayersTimeout: random layers of value, cancel
// and timeout contexts; cancelling (or the deadline) ends them all, and each
// sees every value above it.
void test_layers(int procs, std::uint64_t seed, bool with_timeout) {
  errors errs;
  int rc = run_settled(procs, [&] {
    static const char keys[2] = {};
    rng r(seed);
    Context ctx = ctxns::background();
    std::vector<ctxns::CancelFunc> cancels;
    std::vector<Context> layers;
    std::vector<int> vals;
    if (with_timeout) {
      auto [c, f] = ctxns::with_timeout(ctx, 30ms);
      ctx = c;
      cancels.push_back(f);
    }
    for (int i = 0; i < 100; ++i) {
      switch (r.below(3)) {
        case 0:
          ctx = ctxns::with_value(ctx, &keys[i % 2], i);
          vals.push_back(i);
          break;
        case 1: {
          auto [c, f] = ctxns::with_cancel(ctx);
          ctx = c;
          cancels.push_back(f);
          break;
        }
        case 2: {
          auto [c, f] = ctxns::with_timeout(ctx, 1h);
          ctx = c;
          cancels.push_back(f);
          break;
        }
      }
      layers.push_back(ctx);
    }
    for (auto& c : layers)
      if (is_done(c)) errs.add("done before cancel");
    const int* v0 = ctx.value<int>(&keys[0]);
    const int* v1 = ctx.value<int>(&keys[1]);
    int last[2] = {-1, -1};
    for (int v : vals) last[v % 2] = v;
    if ((v0 ? *v0 : -1) != last[0] || (v1 ? *v1 : -1) != last[1]) errs.add("wrong values");
    if (!with_timeout && !cancels.empty()) cancels[r.below(static_cast<int>(cancels.size()))]();
    // Only the layers below the cancelled one must end; for the timeout, all.
    bool any = false;
    for (auto& c : layers) {
      if (!any && !with_timeout && !c.err()) continue;
      any = true;
      if (!wait_done(c, (with_timeout ? 30ms : 0ms) + kLate))
        errs.add("layer not done");
      else if (c.err() != (with_timeout ? ctxns::errc::deadline_exceeded : ctxns::errc::canceled))
        errs.add("layer err " + c.err().message());
    }
    if (!cancels.empty() && !any) errs.add("nothing cancelled");
    for (auto& f : cancels) f();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
}

TEST_P(ContextTest, LayersCancel) {
  for (std::uint64_t s = 1; s <= 5; ++s) test_layers(GetParam(), s, false);
}

TEST_P(ContextTest, LayersTimeout) {
  for (std::uint64_t s = 1; s <= 3; ++s) test_layers(GetParam(), s, true);
}

// Go's TestCause: the cause given, else err() as an exception; a child's
// cause is its parent's when the parent cancelled it; nullptr while live.
TEST_P(ContextTest, Cause) {
  std::vector<std::string> got;
  int rc = run_settled(GetParam(), [&] {
    got.push_back(what_of(ctxns::background().cause()));
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    got.push_back(what_of(c.cause()));
    cancel();
    got.push_back(what_of(c.cause()));
    auto [p, pcancel] = ctxns::with_cancel_cause(ctxns::background());
    auto [ch, chcancel] = ctxns::with_cancel(p);
    auto [t, tcancel] = ctxns::with_timeout(ch, 1h);
    Context v = ctxns::with_value(t, &got, 1);
    pcancel(std::make_exception_ptr(std::runtime_error("first")));
    pcancel(std::make_exception_ptr(std::runtime_error("second")));  // too late
    got.push_back(what_of(p.cause()));
    got.push_back(what_of(v.cause()));
    got.push_back(v.err().message());
    auto [n, ncancel] = ctxns::with_cancel_cause(ctxns::background());
    ncancel(nullptr);
    got.push_back(what_of(n.cause()));
    auto [d, dcancel] = ctxns::with_timeout(ctxns::background(), -1ns);
    got.push_back(what_of(d.cause()));
    chcancel();
    tcancel();
    dcancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got, (std::vector<std::string>{"nullptr", "nullptr", "context canceled", "first", "first",
                                           "context canceled", "context canceled", "context deadline exceeded"}));
}

// Go's TestAfterFuncCalledAfterCancel: f runs once the context is cancelled,
// in a goroutine of its own; stop() then returns false.
TEST_P(ContextTest, AfterFuncCalledAfterCancel) {
  bool ran = false, other_goroutine = false, stop_result = true, not_before = false;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    auto ran_ch = gort::make_chan<std::uint64_t>(1);
    auto stop = ctxns::after_func(c, [ran_ch] { ran_ch.send(gort::goid()); });
    not_before = !ran_ch.try_recv();
    cancel();
    std::optional<std::uint64_t> id;
    gort::select(gort::case_recv(ran_ch, [&](std::optional<std::uint64_t> v) { id = v; }),
                 gort::case_recv(gort::after(kLate)));
    ran = id.has_value();
    other_goroutine = id && *id != gort::goid();
    stop_result = stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(not_before);
  EXPECT_TRUE(ran);
  EXPECT_TRUE(other_goroutine);
  EXPECT_FALSE(stop_result);
}

// Go's TestAfterFuncCalledAfterTimeout.
TEST_P(ContextTest, AfterFuncCalledAfterTimeout) {
  bool ran = false;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_timeout(ctxns::background(), 5ms);
    auto ran_ch = gort::make_chan<int>(1);
    auto stop = ctxns::after_func(c, [ran_ch] { ran_ch.send(1); });
    gort::select(gort::case_recv(ran_ch, [&](auto v) { ran = v.has_value(); }),
                 gort::case_recv(gort::after(5ms + kLate)));
    cancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(ran);
}

// Go's TestAfterFuncCalledImmediately: ctx already done.
TEST_P(ContextTest, AfterFuncCalledImmediately) {
  bool ran = false, stop_result = true;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    cancel();
    auto ran_ch = gort::make_chan<int>(1);
    auto stop = ctxns::after_func(c, [ran_ch] { ran_ch.send(1); });
    gort::select(gort::case_recv(ran_ch, [&](auto v) { ran = v.has_value(); }), gort::case_recv(gort::after(kLate)));
    stop_result = stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(stop_result);
}

// Go's TestAfterFuncNotCalledAfterStop: stop() first: true once, false
// after; f never runs, and the parent's list no longer holds it.
TEST_P(ContextTest, AfterFuncNotCalledAfterStop) {
  bool first = false, second = true, ran = true;
  std::size_t children_after = 1;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    auto ran_ch = gort::make_chan<int>(1);
    auto stop = ctxns::after_func(c, [ran_ch] { ran_ch.send(1); });
    first = stop();
    second = stop();
    children_after = ctxns::detail::test_num_children(c);
    cancel();
    gort::sleep(10ms);
    ran = bool(ran_ch.try_recv());
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  EXPECT_FALSE(ran);
  EXPECT_EQ(children_after, 0u);
}

// after_func on background: f never runs; stop() still reports true once.
TEST_P(ContextTest, AfterFuncBackground) {
  bool first = false, second = true;
  int rc = run_settled(GetParam(), [&] {
    auto stop = ctxns::after_func(ctxns::background(), [] { std::abort(); });
    first = stop();
    second = stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
}

// Go's TestAfterFuncCalledAsynchronously: f may block (here, until the
// cancelling goroutine lets it go) without holding up cancel().
TEST_P(ContextTest, AfterFuncCalledAsynchronously) {
  bool finished = false;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    auto release = gort::make_chan<int>();
    auto fin = gort::make_chan<int>(1);
    auto stop = ctxns::after_func(c, [release, fin] {
      (void)release.recv();
      fin.send(1);
    });
    cancel();  // returns although f is blocked
    release.send(1);
    finished = fin.recv().has_value();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(finished);
}

// background()'s done channel is nil: a select on it with a timeout takes
// the timeout, as Go's <-ctx.Done() on context.Background().
TEST_P(ContextTest, DoneInSelect) {
  int chosen = -1;
  bool same_chan = false;
  int rc = run_settled(GetParam(), [&] {
    chosen = gort::select(gort::case_recv(ctxns::background().done()), gort::case_recv(gort::after(5ms)));
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    Context v = ctxns::with_value(c, &chosen, 1);
    same_chan = c.done() == c.done() && v.done() == c.done();
    cancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(chosen, 1);
  EXPECT_TRUE(same_chan);
}

// A done() asked for only after cancellation is closed at once.
TEST_P(ContextTest, DoneAfterCancel) {
  bool closed = false;
  int rc = run_settled(GetParam(), [&] {
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    cancel();
    closed = is_done(c) && is_done(c);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(closed);
}

// Handles may outlive run(): copying and destroying need no goroutine.
TEST(ContextTest, ContextOutlivesRun) {
  Context kept;
  ctxns::CancelFunc kept_cancel;
  int rc = run_settled(2, [&] {
    auto [c, cancel] = ctxns::with_cancel(ctxns::background());
    auto [child, ccancel] = ctxns::with_cancel(c);
    (void)child.done();
    kept = child;
    kept_cancel = cancel;
    cancel();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(kept.err(), ctxns::errc::canceled);
  Context copy = kept;
  kept = {};
  copy = {};
  kept_cancel = nullptr;
}

}  // namespace
