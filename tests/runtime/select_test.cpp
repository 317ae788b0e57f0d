// select_test.cpp: select through the public API (include/gort/select.hpp). Go
// counterparts: the select tests of src/runtime/chan_test.go (SelectFairness,
// SelfSelect, SelectStress, SelectDuplicateChannel, NonblockSelectRace,
// NonblockSelectRace2, PseudoRandomSend), plus the C++ side: a send case's
// value that is not chosen is destroyed, and the run-time-sized select over
// std::vector<gort::select_case>.
// Each runs at GOMAXPROCS 1, 2 and 4 where the scheduler matters.
#include "chan_test_util.hpp"

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace gort_test;
using namespace std::chrono_literals;

class SelectTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, SelectTest, ::testing::Values(1, 2, 4), procs_name);

// Go's TestSelectFairness: two always-ready cases among two never-ready ones;
// each is chosen about half the time (here: 40-60% of 10,000).
TEST_P(SelectTest, SelectFairness) {
  constexpr int trials = 10000;
  int cnt1 = 0, cnt2 = 0, other = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c1 = gort::make_chan<unsigned char>(trials + 1);
    auto c2 = gort::make_chan<unsigned char>(trials + 1);
    for (int i = 0; i < trials + 1; ++i) {
      c1.send(1);
      c2.send(2);
    }
    auto c3 = gort::make_chan<unsigned char>();
    auto c4 = gort::make_chan<unsigned char>();
    auto out = gort::make_chan<unsigned char>();
    auto done = gort::make_chan<unsigned char>();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&, c1, c2, c3, c4, out, done] {
      for (;;) {
        unsigned char b = 0;
        auto take = [&](std::optional<unsigned char> v) { b = v.value_or(0); };
        gort::select(gort::case_recv(c3, take), gort::case_recv(c4, take), gort::case_recv(c1, take),
                     gort::case_recv(c2, take));
        bool stop = false;
        gort::select(gort::case_send(out, b),
                     gort::case_recv(done, [&](std::optional<unsigned char>) { stop = true; }));
        if (stop) break;
      }
      wg.done();
    });
    for (int i = 0; i < trials; ++i) {
      switch (out.recv().value_or(0)) {
        case 1:
          ++cnt1;
          break;
        case 2:
          ++cnt2;
          break;
        default:
          ++other;
      }
    }
    done.close();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(cnt1 + cnt2, trials);
  EXPECT_GE(cnt1, trials * 4 / 10) << "unfair select: " << cnt1 << ", " << cnt2;
  EXPECT_LE(cnt1, trials * 6 / 10) << "unfair select: " << cnt1 << ", " << cnt2;
}

// The same for a select on the same channel twice, and for the index (not
// only the channel): both cases of one ready channel get chosen.
TEST_P(SelectTest, SelectFairnessDuplicateCase) {
  constexpr int trials = 10000;
  int first = 0, second = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>(trials);
    for (int i = 0; i < trials; ++i) c.send(i);
    for (int i = 0; i < trials; ++i) {
      int k = gort::select(gort::case_recv(c), gort::case_recv(c));
      (k == 0 ? first : second)++;
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(first + second, trials);
  EXPECT_GE(first, trials * 4 / 10) << first << " vs " << second;
  EXPECT_LE(first, trials * 6 / 10) << first << " vs " << second;
}

// A default case never blocks: chosen when nothing is ready (empty channel,
// full channel, unbuffered channel with no partner), and its callback runs;
// no other callback runs.
TEST_P(SelectTest, DefaultWhenNothingReady) {
  int defaults = 0, others = 0, idx_bad = 0, alone = -1;
  int rc = run_procs(GetParam(), [&] {
    auto empty = gort::make_chan<int>(1);
    auto full = gort::make_chan<int>(1);
    full.send(0);
    auto unbuf = gort::make_chan<int>();
    auto on_recv = [&](std::optional<int>) { ++others; };
    auto on_send = [&] { ++others; };
    for (int i = 0; i < 1000; ++i) {
      int k = gort::select(gort::case_recv(empty, on_recv), gort::case_send(full, 1, on_send),
                           gort::case_recv(unbuf, on_recv), gort::case_send(unbuf, 2, on_send),
                           gort::case_default([&] { ++defaults; }));
      if (k != 4) ++idx_bad;
    }
    alone = gort::select(gort::case_default());
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(defaults, 1000);
  EXPECT_EQ(others, 0);
  EXPECT_EQ(idx_bad, 0);
  EXPECT_EQ(alone, 0) << "a select with only a default returns at once";
}

// With default present and a case ready, the ready case is taken, never the
// default (Go's TestNonblockRecvRace in miniature, no concurrency).
TEST_P(SelectTest, ReadyCaseBeatsDefault) {
  int got = 0, dflt = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>(1000);
    for (int i = 0; i < 1000; ++i) c.send(i);
    for (int i = 0; i < 1000; ++i)
      gort::select(gort::case_recv(c, [&](std::optional<int> v) { got += v == i; }),
                   gort::case_default([&] { ++dflt; }));
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got, 1000);
  EXPECT_EQ(dflt, 0);
}

// A blocking select wakes on whichever of its channels becomes ready, with
// that case's index and value.
TEST_P(SelectTest, BlockingSelectWakes) {
  constexpr int kRounds = 500;
  int wrong = 0;
  int rc = run_procs(GetParam(), [&] {
    auto a = gort::make_chan<int>();
    auto b = gort::make_chan<int>();
    auto s = gort::make_chan<int>();
    for (int i = 0; i < kRounds; ++i) {
      const int which = i % 3;
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&, a, b, s, which, i] {
        if (i % 2) sleep_for(50us);
        if (which == 0)
          a.send(i);
        else if (which == 1)
          b.send(i);
        else if (s.recv() != -i)
          ++wrong;
        wg.done();
      });
      std::optional<int> got;
      int k = gort::select(gort::case_recv(a, [&](std::optional<int> v) { got = v; }),
                           gort::case_recv(b, [&](std::optional<int> v) { got = v; }), gort::case_send(s, -i));
      if (k != which) ++wrong;
      if (which < 2 && got != i) ++wrong;
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(wrong, 0);
}

// Go's TestSelfSelect: goroutines select to send and receive on the same
// channel; no deadlock, and (unbuffered) never a receive of one's own value.
// Go's exact shape: two goroutines, 1000 selects each, caps 0 and 10.
TEST_P(SelectTest, SelfSelect) {
  std::atomic<int> self_receive{0};
  std::atomic<long> sends{0}, recvs{0};
  long left = 0;
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, 10}) {
      gort::WaitGroup wg;
      wg.add(2);
      auto c = gort::make_chan<int>(cap);
      for (int p = 0; p < 2; ++p) {
        gort::go([&, c, p, cap] {
          auto on_recv = [&](std::optional<int> v) {
            recvs.fetch_add(1);
            if (cap == 0 && v == p) self_receive.fetch_add(1);
          };
          auto on_send = [&] { sends.fetch_add(1); };
          for (int i = 0; i < 1000; ++i) {
            if (p == 0 || i % 2 == 0)
              gort::select(gort::case_send(c, p, on_send), gort::case_recv(c, on_recv));
            else
              gort::select(gort::case_recv(c, on_recv), gort::case_send(c, p, on_send));
          }
          wg.done();
        });
      }
      wg.wait();
      left += static_cast<long>(c.len());
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(self_receive.load(), 0) << "self receive";
  EXPECT_EQ(sends.load() + recvs.load(), 2 * 2 * 1000);
  EXPECT_EQ(sends.load(), recvs.load() + left);
}

// SelfSelect across more goroutines: each selects send-or-receive on one
// channel until the others have done enough; values are tagged, each received
// value was sent, at most once, and none by the receiver itself (unbuffered).
TEST_P(SelectTest, SelfSelectMany) {
  constexpr int kG = 5;
  const long target = scaled(20000);
  std::atomic<long> self_receive{0}, dup{0}, bogus{0}, ops{0};
  long sent_total = 0, recv_total = 0, left = 0;
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, 3}) {
      auto c = gort::make_chan<long>(cap);
      auto quit = gort::make_chan<int>();
      std::vector<std::vector<long>> got(kG);
      std::vector<long> nsent(kG, 0);
      gort::WaitGroup wg;
      wg.add(kG);
      for (int p = 0; p < kG; ++p) {
        gort::go([&, c, quit, p, cap] {
          long seq = 0;
          bool stop = false;
          while (!stop) {
            const long v = static_cast<long>(p) << 40 | seq;
            gort::select(gort::case_send(c, v, [&] { ++seq; }),
                         gort::case_recv(c,
                                         [&](std::optional<long> r) {
                                           if (!r) return;
                                           if (cap == 0 && (*r >> 40) == p) self_receive.fetch_add(1);
                                           got[p].push_back(*r);
                                         }),
                         gort::case_recv(quit, [&](std::optional<int>) { stop = true; }));
            // The goroutine that does the target-th operation ends the run
            // (not main: with one P and no preemption a yielding main could
            // wait behind goroutines that keep readying each other; see
            // ChanTest.PingPongDoesNotStarveYielder).
            if (ops.fetch_add(1, std::memory_order_relaxed) + 1 == target) quit.close();
          }
          nsent[p] = seq;
          wg.done();
        });
      }
      wg.wait();
      ops.store(0);
      std::set<long> seen;
      for (int p = 0; p < kG; ++p) {
        sent_total += nsent[p];
        for (long v : got[p]) {
          ++recv_total;
          if (!seen.insert(v).second) dup.fetch_add(1);
          const long from = v >> 40, seq = v & ((1L << 40) - 1);
          if (from < 0 || from >= kG || seq >= nsent[from]) bogus.fetch_add(1);
        }
      }
      left += static_cast<long>(c.len());
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(self_receive.load(), 0) << "self receive";
  EXPECT_EQ(dup.load(), 0);
  EXPECT_EQ(bogus.load(), 0) << "a received value nobody sent";
  EXPECT_EQ(sent_total, recv_total + left);
  EXPECT_GT(recv_total, 0);
}

TEST_P(SelectTest, SelectStress) { select_stress(GetParam(), scaled(10000)); }

TEST_P(SelectTest, TwoCaseSelectStress) { select2_stress(GetParam(), static_cast<int>(scaled(10000))); }

// Only nil channels and a default: the default, every time.
TEST_P(SelectTest, NilChannelsAndDefault) {
  int dflt = 0, other = 0;
  int rc = run_procs(GetParam(), [&] {
    gort::chan<int> n1;
    gort::chan<std::string> n2;
    for (int i = 0; i < 1000; ++i) {
      int k = gort::select(
          gort::case_recv(n1, [&](std::optional<int>) { ++other; }), gort::case_send(n2, "x", [&] { ++other; }),
          gort::case_recv(n2, [&](std::optional<std::string>) { ++other; }), gort::case_default([&] { ++dflt; }));
      if (k != 3) ++other;
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(dflt, 1000);
  EXPECT_EQ(other, 0);
}

// A nil channel's case is never chosen, even beside a ready one, without a
// default: the ready one always wins.
TEST_P(SelectTest, NilCaseNeverChosen) {
  int ready = 0, nil_chosen = 0;
  int rc = run_procs(GetParam(), [&] {
    gort::chan<int> nil;
    auto c = gort::make_chan<int>(1000);
    for (int i = 0; i < 1000; ++i) c.send(i);
    for (int i = 0; i < 1000; ++i) {
      int k = gort::select(gort::case_recv(nil, [&](std::optional<int>) { ++nil_chosen; }),
                           gort::case_send(nil, 1, [&] { ++nil_chosen; }),
                           gort::case_recv(c, [&](std::optional<int>) { ++ready; }));
      if (k != 2) ++nil_chosen;
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(ready, 1000);
  EXPECT_EQ(nil_chosen, 0);
}

// A receive case on a closed channel is ready: buffered values first, then
// nullopt to its callback. Also a select parked on a channel when it closes.
TEST_P(SelectTest, RecvCaseOnClosed) {
  std::vector<std::optional<int>> got;
  int idx_bad = 0;
  std::atomic<int> parked_woken_nullopt{0};
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>(2);
    c.send(5);
    c.close();
    auto never = gort::make_chan<int>();
    for (int i = 0; i < 3; ++i) {
      int k = gort::select(gort::case_recv(never), gort::case_recv(c, [&](std::optional<int> v) { got.push_back(v); }));
      if (k != 1) ++idx_bad;
    }
    // Parked selects woken by close.
    auto d = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(3);
    for (int g = 0; g < 3; ++g)
      gort::go([&, d, never] {
        gort::select(gort::case_recv(never), gort::case_recv(d, [&](std::optional<int> v) {
                       if (!v) parked_woken_nullopt.fetch_add(1);
                     }));
        wg.done();
      });
    sleep_for(2ms);
    d.close();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(idx_bad, 0);
  EXPECT_EQ(got, (std::vector<std::optional<int>>{5, std::nullopt, std::nullopt}));
  EXPECT_EQ(parked_woken_nullopt.load(), 3);
}

// A send case on a closed channel panics "send on closed channel" when
// chosen: at once if closed before, and for a select parked on it when the
// close happens. Its callback does not run.
TEST_P(SelectTest, SendCaseOnClosed) {
  std::string at_once, with_default, parked;
  int callbacks = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>();
    c.close();
    auto never = gort::make_chan<int>();
    at_once = panic_message([&] { gort::select(gort::case_recv(never), gort::case_send(c, 1, [&] { ++callbacks; })); });
    // Go: a closed channel's send case is ready, so it beats the default.
    with_default =
        panic_message([&] { gort::select(gort::case_send(c, 1, [&] { ++callbacks; }), gort::case_default()); });
    auto d = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&, d, never] {
      parked =
          panic_message([&] { gort::select(gort::case_recv(never), gort::case_send(d, 1, [&] { ++callbacks; })); });
      wg.done();
    });
    sleep_for(2ms);
    d.close();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(at_once, "send on closed channel");
  EXPECT_EQ(with_default, "send on closed channel");
  EXPECT_EQ(parked, "send on closed channel");
  EXPECT_EQ(callbacks, 0);
}

// The value of a send case that is not chosen is destroyed with the case; a
// chosen one moves into the channel and lives there.
TEST_P(SelectTest, UnchosenSendValueDestroyed) {
  counted::live.store(0);
  long after_default = -1, after_recv_chosen = -1, after_send_chosen = -1, after_all = -1;
  int idx1 = -1, idx2 = -1;
  int rc = run_procs(GetParam(), [&] {
    auto full = gort::make_chan<counted>(1);
    full.send(counted(0));  // one live, in the buffer
    gort::chan<counted> nil;
    idx1 = gort::select(gort::case_send(full, counted(1)), gort::case_send(nil, counted(2)), gort::case_default());
    after_default = counted::live.load();  // 1: only the buffered one
    auto ready = gort::make_chan<int>(1);
    ready.send(1);
    idx2 = gort::select(gort::case_send(full, counted(3)), gort::case_recv(ready));
    after_recv_chosen = counted::live.load();  // still 1
    auto room = gort::make_chan<counted>(1);
    gort::select(gort::case_send(room, counted(4)), gort::case_send(full, counted(5)));  // room is the only ready one
    after_send_chosen = counted::live.load();  // 2: full's and room's
    // Runtime-sized select: unchosen cases die with the vector.
    {
      std::vector<gort::select_case> cases;
      cases.emplace_back(gort::case_send(full, counted(6)));
      cases.emplace_back(gort::case_send(nil, counted(7)));
      cases.emplace_back(gort::case_default());
      gort::select(cases);
    }
    (void)full.recv();
    (void)room.recv();
    after_all = counted::live.load();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(idx1, 2);
  EXPECT_EQ(idx2, 1);
  EXPECT_EQ(after_default, 1);
  EXPECT_EQ(after_recv_chosen, 1);
  EXPECT_EQ(after_send_chosen, 2);
  EXPECT_EQ(after_all, 0);
  EXPECT_EQ(counted::live.load(), 0);
}

// The run-time-sized select (reflect.Select): a vector of receive cases over
// N channels, each filled by its own goroutine; every value arrives once,
// with the index of its channel. Then a mixed vector with send cases and a
// default.
TEST_P(SelectTest, RuntimeSized) {
  constexpr int kChans = 16, kEach = 50;
  int wrong_index = 0, received = 0, dup = 0;
  int mixed_idx = -1, dflt_idx = -1;
  std::optional<int> mixed_value;
  int rc = run_procs(GetParam(), [&] {
    std::vector<gort::chan<int>> chans;
    for (int i = 0; i < kChans; ++i) chans.push_back(gort::make_chan<int>(i % 3));
    gort::WaitGroup wg;
    wg.add(kChans);
    for (int i = 0; i < kChans; ++i)
      gort::go([&, i, ch = chans[i]] {
        for (int k = 0; k < kEach; ++k) ch.send(i * 1000 + k);
        wg.done();
      });
    std::vector<int> next(kChans, 0);
    for (int n = 0; n < kChans * kEach; ++n) {
      int got = -1;
      std::vector<gort::select_case> cases;
      for (int i = 0; i < kChans; ++i)
        cases.emplace_back(gort::case_recv(chans[i], [&](std::optional<int> v) { got = v.value_or(-1); }));
      int k = gort::select(cases);
      if (got / 1000 != k) ++wrong_index;
      if (got >= 0 && got / 1000 < kChans) {
        if (got % 1000 != next[got / 1000]) ++dup;
        next[got / 1000] = got % 1000 + 1;
      }
      ++received;
    }
    wg.wait();
    // Mixed: a send to a channel with room, a receive from an empty one, a
    // default; the send is the only ready case.
    auto room = gort::make_chan<int>(1);
    auto empty = gort::make_chan<int>(1);
    {
      std::vector<gort::select_case> cases;
      cases.emplace_back(gort::case_recv(empty));
      cases.emplace_back(gort::case_default());
      cases.emplace_back(gort::case_send(room, 42));
      mixed_idx = gort::select(cases);
    }
    mixed_value = room.recv();
    {
      std::vector<gort::select_case> cases;
      cases.emplace_back(gort::case_recv(empty));
      cases.emplace_back(gort::case_default());
      dflt_idx = gort::select(cases);
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(received, kChans * kEach);
  EXPECT_EQ(wrong_index, 0);
  EXPECT_EQ(dup, 0) << "values out of order or repeated";
  EXPECT_EQ(mixed_idx, 2);
  EXPECT_EQ(mixed_value, 42);
  EXPECT_EQ(dflt_idx, 1);
}

// A run-time select with two defaults is refused with panic_error (the
// compile-time form rejects it with a static_assert).
TEST(SelectMisuseTest, RuntimeSizedTwoDefaults) {
  std::string msg;
  int rc = run_procs(1, [&] {
    std::vector<gort::select_case> cases;
    cases.emplace_back(gort::case_default());
    cases.emplace_back(gort::case_default());
    msg = panic_message([&] { gort::select(cases); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_NE(msg, "no panic");
  EXPECT_EQ(msg.rfind("other exception", 0), std::string::npos) << msg;
}

// Selects over many channels, listed in opposite orders by two goroutines
// and fed by a sender per channel: their locks are taken in address order
// whatever the listing (an insertion sort up to 16 cases, std::sort past
// it), so they never deadlock, and every value arrives once.
TEST_P(SelectTest, LargeSelectsShareChannels) {
  for (const int nchans : {6, 24}) {
    const int each = static_cast<int>(scaled(1000));
    std::atomic<int> received{0}, wrong{0};
    int rc = run_procs(GetParam(), [&] {
      std::vector<gort::chan<int>> chans;
      for (int i = 0; i < nchans; ++i) chans.push_back(gort::make_chan<int>());
      for (int i = 0; i < nchans; ++i)
        gort::go([ch = chans[i], i, each] {
          for (int k = 0; k < each; ++k) ch.send(i);
        });
      gort::WaitGroup wg;
      wg.add(2);
      for (const bool reversed : {false, true})
        gort::go([&, reversed] {
          while (received.load() < nchans * each) {
            std::vector<gort::select_case> cases;
            int got = -1;
            for (int j = 0; j < nchans; ++j) {
              const int i = reversed ? nchans - 1 - j : j;
              cases.emplace_back(gort::case_recv(chans[i], [&](std::optional<int> v) { got = v.value_or(-1); }));
            }
            cases.emplace_back(gort::case_recv(gort::after(1ms)));  // the other selector took the last value
            const int k = gort::select(cases);
            if (k == nchans) continue;
            if (got != (reversed ? nchans - 1 - k : k)) wrong.fetch_add(1);
            received.fetch_add(1);
          }
          wg.done();
        });
      wg.wait();
    });
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(received.load(), nchans * each) << nchans << " channels";
    EXPECT_EQ(wrong.load(), 0) << nchans << " channels";
  }
}

// Go's TestSelectDuplicateChannel: a goroutine queued twice on one channel's
// wait queue by one select dequeues itself cleanly when another case wins;
// a later receiver on that channel must still be the one woken.
TEST_P(SelectTest, SelectDuplicateChannel) {
  std::optional<int> b_got;
  int a_index = -1;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>();
    auto d = gort::make_chan<int>();
    auto e = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&, c, d, e] {  // goroutine A
      a_index = gort::select(gort::case_recv(c), gort::case_recv(c), gort::case_recv(d));
      e.send(9);
      wg.done();
    });
    sleep_for(1ms);  // A queues first on c
    gort::go([&, c] {  // goroutine B
      b_got = c.recv();
      wg.done();
    });
    sleep_for(1ms);  // B queues on c
    d.send(7);  // wakes A, which dequeues itself from c (twice)
    (void)e.recv();  // A is done
    c.send(8);  // must wake B
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(a_index, 2);
  EXPECT_EQ(b_got, 8);
}

// A channel twice in one select, as a send and as a receive case, with
// values flowing: on a buffered channel the select sends when empty and
// receives when full.
TEST_P(SelectTest, SameChannelSendAndRecv) {
  int sends = 0, recvs = 0, mismatch = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>(1);
    int expect_next = 0, next_send = 0;
    for (int i = 0; i < 1000; ++i) {
      int k = gort::select(gort::case_send(c, next_send,
                                           [&] {
                                             ++sends;
                                             ++next_send;
                                           }),
                           gort::case_recv(c, [&](std::optional<int> v) {
                             ++recvs;
                             if (v != expect_next) ++mismatch;
                             ++expect_next;
                           }));
      // Exactly one case is ready each time, alternating.
      if (k != i % 2) ++mismatch;
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(sends, 500);
  EXPECT_EQ(recvs, 500);
  EXPECT_EQ(mismatch, 0);
}

// Go's TestNonblockSelectRace and TestNonblockSelectRace2: from the moment
// the goroutine starts, c1 or c2 is always ready (c2 by a value, or by
// close in the second), so its non-blocking select never takes the default.
void nonblock_select_race(int procs, bool close_c2) {
  const int n = static_cast<int>(scaled(20000));
  std::atomic<int> defaults{0};
  int rc = run_procs(procs, [&] {
    auto done = gort::make_chan<bool>(1);
    for (int i = 0; i < n; ++i) {
      auto c1 = gort::make_chan<int>(1);
      auto c2 = gort::make_chan<int>(close_c2 ? 0 : 1);
      c1.send(1);
      gort::go([c1, c2, done] {
        bool ok = true;
        gort::select(gort::case_recv(c1), gort::case_recv(c2), gort::case_default([&] { ok = false; }));
        done.send(ok);
      });
      if (close_c2)
        c2.close();
      else
        c2.send(1);
      gort::select(gort::case_recv(c1), gort::case_default());
      if (!done.recv().value_or(false)) defaults.fetch_add(1);
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(defaults.load(), 0) << "no chan is ready";
}

TEST_P(SelectTest, NonblockSelectRace) { nonblock_select_race(GetParam(), false); }
TEST_P(SelectTest, NonblockSelectRace2) { nonblock_select_race(GetParam(), true); }

// A select with a default takes it only if, at one instant, no case could
// proceed. Each round, main hands a spinning selector c1 holding a value and
// c2 empty, then at once fills c2 and empties c1: from the hand-over on,
// one of them always holds a value, so the selector's select (two receives
// and a default) must receive, never take the default. A select that looked
// at its cases one at a time, and took the default when each was empty at
// the moment it looked, would see c2 before main fills it and c1 after main
// empties it. Checked builds widen the gap between looking at one case and
// the next (detail::race_window). Nothing is lost either: of the round's two
// values, the selector and main receive one each, or the selector one and
// the other stays in c2.
TEST_P(SelectTest, DefaultOnlyWhenNothingReadyAtOnce) {
  if (GetParam() < 2) GTEST_SKIP() << "the selector and main must run at once";
  const int rounds = static_cast<int>(scaled(20000));
  struct round {
    gort::chan<int> c1 = gort::make_chan<int>(1), c2 = gort::make_chan<int>(1);
    bool selector_got = false;  // written before finished, read after it
  };
  std::atomic<int> handed{-1}, finished{-1};
  long defaults = 0, miscounted = 0;
  int rc = run_procs(GetParam(), [&] {
    std::vector<round> rs(rounds);
    gort::go([&] {
      for (int r = 0; r < rounds; ++r) {
        await_round(handed, r);
        rs[r].selector_got =
            gort::select(gort::case_recv(rs[r].c1), gort::case_recv(rs[r].c2), gort::case_default()) != 2;
        finished.store(r, std::memory_order_release);
      }
    });
    for (int r = 0; r < rounds; ++r) {
      rs[r].c1.send(1);  // buffered: does not block
      handed.store(r, std::memory_order_release);
      rs[r].c2.send(2);
      const bool main_got = gort::select(gort::case_recv(rs[r].c1), gort::case_default()) == 0;
      await_round(finished, r);
      if (!rs[r].selector_got) ++defaults;
      if (rs[r].selector_got + main_got + rs[r].c1.len() + rs[r].c2.len() != 2) ++miscounted;
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(defaults, 0) << "the select took its default while c1 or c2 held a value";
  EXPECT_EQ(miscounted, 0) << "rounds where the two values were not received or left exactly once";
}

// Go's TestPseudoRandomSend: a select of two sends (1 and 0) on one channel
// picks both, more than a tenth of the time each.
TEST_P(SelectTest, PseudoRandomSend) {
  constexpr int n = 100;
  std::vector<std::pair<int, int>> counts;  // per cap: zeros, ones
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, n}) {
      auto c = gort::make_chan<int>(cap);
      std::vector<int> l(n, -1);
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&, c] {
        for (int i = 0; i < n; ++i) {
          gort::yield();
          l[i] = c.recv().value_or(-1);
        }
        wg.done();
      });
      for (int i = 0; i < n; ++i) gort::select(gort::case_send(c, 1), gort::case_send(c, 0));
      wg.wait();
      int n0 = 0, n1 = 0;
      for (int v : l) {
        n0 += v == 0;
        n1 += v == 1;
      }
      counts.emplace_back(n0, n1);
    }
  });
  EXPECT_EQ(rc, 0);
  ASSERT_EQ(counts.size(), 2u);
  for (auto [n0, n1] : counts) {
    EXPECT_EQ(n0 + n1, n);
    EXPECT_GT(n0, n / 10) << "want pseudorandom, got " << n0 << " zeros and " << n1 << " ones";
    EXPECT_GT(n1, n / 10) << "want pseudorandom, got " << n0 << " zeros and " << n1 << " ones";
  }
}

// Go's TestChanSendInterface in spirit: select sends of a move-only type,
// chosen or not, with a default; nothing leaks or double-frees.
TEST_P(SelectTest, MoveOnlyCases) {
  int got = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<std::unique_ptr<int>>(1);
    c.send(std::make_unique<int>(1));
    gort::select(gort::case_send(c, std::make_unique<int>(2)), gort::case_default());  // full: default
    gort::select(gort::case_send(c, std::make_unique<int>(3)), gort::case_send(c, std::make_unique<int>(4)),
                 gort::case_default());
    gort::select(gort::case_recv(c, [&](std::optional<std::unique_ptr<int>> p) {
      if (p && *p) got = **p;
    }));
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got, 1);
}

}  // namespace
