// chan_test.cpp: channels through the public API (include/gort/chan.hpp).
// Go counterpart: src/runtime/chan_test.go; tests keep Go's names where one
// fits (Chan, MultiConsumer, NonblockRecvRace).
//
//   Chan                Go's TestChan for capacities 0..19: receive from an
//                       empty channel and send to a full one block, a
//                       non-blocking select does not; buffered values come
//                       out of a closed channel before nullopt; close wakes a
//                       receiver; FIFO; len/cap.
//   SendersReceivers    the capacity x senders x receivers matrix: caps 0, 1,
//                       10, 100, 1..4 senders and receivers; every value is
//                       received exactly once (sum and count), FIFO per sender
//                       as each receiver sees it.
//   UnbufferedRendezvous an unbuffered send completes only once a receiver
//                       has taken the value.
//   Close*              Go's close semantics and its panic messages, also for
//                       a sender parked when the close happens, and under load
//                       (a sender whose send panicked delivered nothing, every
//                       other value arrives exactly once).
//   TryForms            try_send/try_recv: sent or taken only when ready, the
//                       value moved from only when sent, "closed" told from
//                       "nothing ready", the nil channel never ready.
//   Nonblocking*        the lock-free "nothing ready" paths, through select
//                       with a default and through try_send/try_recv alike.
//   MoveOnly, NonDefaultConstructible, RangeUntilClosed, LenCap,
//   HandleCopiesShare, EqualityAndBool, NilChannelBlocks, StorageFreed:
//                       the C++ side of the contract.
// Each runs at GOMAXPROCS 1, 2 and 4 where the scheduler matters.
#include "chan_test_util.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using namespace gort_test;
using namespace std::chrono_literals;

class ChanTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, ChanTest, ::testing::Values(1, 2, 4), procs_name);

// ---- Go's TestChan ------------------------------------------------------------

TEST_P(ChanTest, Chan) {
  constexpr int N = 20;  // Go: 200, 20 with -short
  std::vector<std::string> errors;
  auto fail = [&errors](int cap, const std::string& what) {
    errors.push_back("chan[" + std::to_string(cap) + "]: " + what);
  };
  int rc = run_procs(GetParam(), [&] {
    for (int cap = 0; cap < N; ++cap) {
      {
        // Receive from an empty channel blocks.
        auto c = gort::make_chan<int>(cap);
        std::atomic<bool> recv1{false}, recv2{false};
        gort::WaitGroup wg;
        wg.add(2);
        gort::go([&, c] {
          (void)c.recv();
          recv1.store(true);
          wg.done();
        });
        gort::go([&, c] {
          (void)c.recv();
          recv2.store(true);
          wg.done();
        });
        sleep_for(1ms);
        if (recv1.load() || recv2.load()) fail(cap, "receive from empty chan");
        // A non-blocking receive does not block.
        bool got = false, dflt = false;
        gort::select(gort::case_recv(c, [&](std::optional<int>) { got = true; }),
                     gort::case_default([&] { dflt = true; }));
        if (got || !dflt) fail(cap, "non-blocking receive from empty chan");
        c.send(0);
        c.send(0);
        wg.wait();
        if (!recv1.load() || !recv2.load()) fail(cap, "receivers did not wake");
      }
      {
        // Send to a full channel blocks.
        auto c = gort::make_chan<int>(cap);
        for (int i = 0; i < cap; ++i) c.send(i);
        std::atomic<bool> sent{false};
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&, c] {
          c.send(0);
          sent.store(true);
          wg.done();
        });
        sleep_for(1ms);
        if (sent.load()) fail(cap, "send to full chan");
        bool chose_send = false;
        gort::select(gort::case_send(c, 0, [&] { chose_send = true; }), gort::case_default());
        if (chose_send) fail(cap, "non-blocking send to full chan");
        (void)c.recv();
        wg.wait();
        if (!sent.load()) fail(cap, "sender did not wake");
      }
      {
        // Buffered values come out of a closed channel, then nullopt.
        auto c = gort::make_chan<int>(cap);
        for (int i = 0; i < cap; ++i) c.send(i);
        c.close();
        for (int i = 0; i < cap; ++i) {
          auto v = c.recv();
          if (!v || *v != i)
            fail(cap, "received " + (v ? std::to_string(*v) : "nullopt") + ", want " + std::to_string(i));
        }
        if (c.recv()) fail(cap, "value from closed, drained chan");
        if (c.recv()) fail(cap, "value from closed, drained chan (second receive)");
      }
      {
        // close unblocks a receive.
        auto c = gort::make_chan<int>(cap);
        std::atomic<int> result{-1};  // 1: nullopt, 0: a value
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&, c] {
          result.store(c.recv() ? 0 : 1);
          wg.done();
        });
        sleep_for(1ms);
        c.close();
        wg.wait();
        if (result.load() != 1) fail(cap, "received non-nullopt from closed chan");
      }
      {
        // 100 integers, FIFO.
        auto c = gort::make_chan<int>(cap);
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&, c] {
          for (int i = 0; i < 100; ++i) c.send(i);
          wg.done();
        });
        for (int i = 0; i < 100; ++i) {
          auto v = c.recv();
          if (!v || *v != i) {
            fail(cap, "FIFO: received " + (v ? std::to_string(*v) : "nullopt") + ", want " + std::to_string(i));
            break;
          }
        }
        wg.wait();
      }
      {
        // len/cap.
        auto c = gort::make_chan<int>(cap);
        if (c.len() != 0 || c.cap() != static_cast<std::size_t>(cap)) fail(cap, "bad len/cap on a new chan");
        for (int i = 0; i < cap; ++i) c.send(i);
        if (c.len() != static_cast<std::size_t>(cap) || c.cap() != static_cast<std::size_t>(cap))
          fail(cap, "bad len/cap on a full chan");
      }
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errors.empty()) << errors.size() << " failures, first: " << errors.front();
}

// ---- the capacity x senders x receivers matrix ---------------------------------

struct matrix_outcome {
  long received = 0;
  long long sum = 0;
  long not_once = 0;         // values received other than exactly once
  long fifo_violations = 0;  // a receiver saw a sender's values out of order
  std::size_t len_after = 1;
};

matrix_outcome run_matrix(int procs, int cap, int senders, int receivers, int per_sender) {
  matrix_outcome out;
  const int total = senders * per_sender;
  std::vector<std::atomic<int>> seen(total);
  std::vector<long> count(receivers, 0), fifo_bad(receivers, 0);
  std::vector<long long> sum(receivers, 0);
  int rc = run_procs(procs, [&] {
    auto ch = gort::make_chan<int>(cap);
    gort::WaitGroup sent, done;
    sent.add(senders);
    done.add(receivers);
    for (int s = 0; s < senders; ++s) {
      gort::go([&, ch, s] {
        for (int k = 0; k < per_sender; ++k) ch.send(s * per_sender + k);
        sent.done();
      });
    }
    for (int r = 0; r < receivers; ++r) {
      gort::go([&, ch, r] {
        {
          std::vector<int> last(senders, -1);
          for (int v : ch) {
            if (v < 0 || v >= total) {
              ++fifo_bad[r];
              continue;
            }
            seen[v].fetch_add(1, std::memory_order_relaxed);
            ++count[r];
            sum[r] += v;
            int s = v / per_sender;
            if (v <= last[s]) ++fifo_bad[r];
            last[s] = v;
          }
        }  // last gone before done(): main may return from run() at once, which abandons this goroutine
        done.done();
      });
    }
    sent.wait();
    ch.close();
    done.wait();
    out.len_after = ch.len();
  });
  EXPECT_EQ(rc, 0);
  for (int r = 0; r < receivers; ++r) {
    out.received += count[r];
    out.sum += sum[r];
    out.fifo_violations += fifo_bad[r];
  }
  for (int v = 0; v < total; ++v) out.not_once += seen[v].load() != 1;
  return out;
}

class ChanMatrixTest : public ::testing::TestWithParam<std::tuple<int, int>> {};
INSTANTIATE_TEST_SUITE_P(CapProcs, ChanMatrixTest,
                         ::testing::Combine(::testing::Values(0, 1, 10, 100), ::testing::Values(1, 2, 4)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
                           return "Cap" + std::to_string(std::get<0>(info.param)) + "_P" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST_P(ChanMatrixTest, SendersReceivers) {
  const auto [cap, procs] = GetParam();
  const int per = static_cast<int>(scaled(1000, 4));
  for (int senders = 1; senders <= 4; ++senders) {
    for (int receivers = 1; receivers <= 4; ++receivers) {
      SCOPED_TRACE("cap " + std::to_string(cap) + ", " + std::to_string(senders) + " senders, " +
                   std::to_string(receivers) + " receivers");
      matrix_outcome o = run_matrix(procs, cap, senders, receivers, per);
      const long total = static_cast<long>(senders) * per;
      EXPECT_EQ(o.received, total);
      EXPECT_EQ(o.sum, static_cast<long long>(total) * (total - 1) / 2);
      EXPECT_EQ(o.not_once, 0) << "values not received exactly once";
      EXPECT_EQ(o.fifo_violations, 0) << "a sender's values out of order";
      EXPECT_EQ(o.len_after, 0u);
    }
  }
}

// ---- rendezvous and FIFO -------------------------------------------------------

// An unbuffered send returns only after a receiver has taken the value: the
// receiver sets receiver_in before it calls recv, so a sender that returns
// must see it set.
TEST_P(ChanTest, UnbufferedRendezvous) {
  constexpr int kIters = 2000;
  int early = 0, wrong = 0, len_nonzero = 0;
  int rc = run_procs(GetParam(), [&] {
    auto ch = gort::make_chan<int>();
    for (int i = 0; i < kIters; ++i) {
      std::atomic<bool> receiver_in{false};
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&, ch, i] {
        ch.send(i);
        if (!receiver_in.load()) ++early;
        wg.done();
      });
      for (int y = i % 4; y > 0; --y) gort::yield();  // sometimes the sender parks first
      if (ch.len() != 0) ++len_nonzero;
      receiver_in.store(true);
      auto v = ch.recv();
      if (!v || *v != i) ++wrong;
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(early, 0) << "an unbuffered send completed before any receiver came";
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(len_nonzero, 0) << "an unbuffered channel has len 0 even with a parked sender";
}

// A parked unbuffered sender stays parked while no receiver comes.
TEST_P(ChanTest, UnbufferedSendBlocks) {
  std::atomic<int> sent{0};
  int seen_early = -1;
  std::optional<int> got;
  int rc = run_procs(GetParam(), [&] {
    auto ch = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&, ch] {
      ch.send(7);
      sent.store(1);
      wg.done();
    });
    sleep_for(5ms);
    seen_early = sent.load();
    got = ch.recv();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(seen_early, 0) << "unbuffered send completed with no receiver";
  EXPECT_EQ(got, 7);
  EXPECT_EQ(sent.load(), 1);
}

// FIFO per sender, three senders on a buffered channel, one receiver.
TEST_P(ChanTest, FIFOPerSender) {
  constexpr int kSenders = 3;
  const int per = static_cast<int>(scaled(10000));
  long out_of_order = 0, received = 0;
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, 1, 10}) {
      auto ch = gort::make_chan<std::pair<int, int>>(cap);
      gort::WaitGroup wg;
      wg.add(kSenders);
      for (int s = 0; s < kSenders; ++s)
        gort::go([&, ch, s] {
          for (int k = 0; k < per; ++k) ch.send({s, k});
          wg.done();
        });
      gort::WaitGroup closer;
      closer.add(1);
      gort::go([&, ch] {
        wg.wait();
        ch.close();
        closer.done();
      });
      int next[kSenders] = {};
      for (auto [s, k] : ch) {
        if (k != next[s]) ++out_of_order;
        next[s] = k + 1;
        ++received;
      }
      closer.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(received, 3L * kSenders * per);
}

// A goroutine that yields is not starved by two others that hand a value
// back and forth on unbuffered channels (each readies the other into runnext,
// which inherits the time slice). Go bounds this with sysmon's preemption of
// a time slice older than 10 ms (forcePreemptNS), after which the global
// queue, where a yield puts its G, gets its turn. With one P the ping-pong
// pair gives up after 5 s, so a failure does not hang.
TEST(ChanTest, PingPongDoesNotStarveYielder) {
  std::atomic<bool> stop{false};
  std::atomic<long> rounds{0};
  bool gave_up = false;
  long long main_waited_ms = -1;
  int rc = run_procs(1, [&] {
    auto ping = gort::make_chan<int>();
    auto pong = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(2);
    const auto start = std::chrono::steady_clock::now();
    gort::go([&, ping, pong] {
      while (!stop.load()) {
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(5)) {
          gave_up = true;
          break;
        }
        ping.send(1);
        (void)pong.recv();
        rounds.fetch_add(1, std::memory_order_relaxed);
      }
      ping.close();
      wg.done();
    });
    gort::go([&, ping, pong] {
      for (int v : ping) pong.send(v);
      wg.done();
    });
    gort::yield();  // to the local queue's tail, behind the pair: the pair runs
    main_waited_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    stop.store(true);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_GT(rounds.load(), 0) << "the pair never ran";
  EXPECT_FALSE(gave_up) << "main, having yielded, did not run again for 5 s while two goroutines ping-ponged ("
                        << rounds.load() << " rounds)";
  EXPECT_LT(main_waited_ms, 1000);
}

// Go's TestMultiConsumer (multi_consumer in chan_test_util.hpp), at a
// tenth of Go's size; chan_stress_test.cpp runs Go's.
TEST_P(ChanTest, MultiConsumer) { multi_consumer(GetParam(), static_cast<int>(scaled(27183))); }

// Go's TestNonblockRecvRace: a buffered value is there for a non-blocking
// receive even while the channel is being closed.
TEST_P(ChanTest, NonblockRecvRace) {
  const int n = static_cast<int>(scaled(10000));
  std::atomic<int> not_ready{0};
  int rc = run_procs(GetParam(), [&] {
    for (int i = 0; i < n; ++i) {
      auto c = gort::make_chan<int>(1);
      c.send(1);
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&, c] {
        gort::select(gort::case_recv(c), gort::case_default([&] { not_ready.fetch_add(1); }));
        wg.done();
      });
      c.close();
      (void)c.recv();
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(not_ready.load(), 0) << "chan is not ready";
}

// ---- close --------------------------------------------------------------------

TEST_P(ChanTest, CloseDrainsBufferFirst) {
  std::vector<std::optional<int>> got;
  std::vector<std::size_t> lens;
  int rc = run_procs(GetParam(), [&] {
    auto ch = gort::make_chan<int>(5);
    for (int i = 1; i <= 3; ++i) ch.send(i);
    ch.close();
    lens.push_back(ch.len());
    for (int i = 0; i < 5; ++i) {
      got.push_back(ch.recv());
      lens.push_back(ch.len());
    }
  });
  EXPECT_EQ(rc, 0);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[1], 2);
  EXPECT_EQ(got[2], 3);
  EXPECT_EQ(got[3], std::nullopt);
  EXPECT_EQ(got[4], std::nullopt);
  EXPECT_EQ(lens, (std::vector<std::size_t>{3, 2, 1, 0, 0, 0}));
}

TEST_P(ChanTest, ClosePanics) {
  std::string send_closed, send_closed_unbuf, close_closed, close_nil, send_closed_again;
  std::optional<int> after;
  int rc = run_procs(GetParam(), [&] {
    auto ch = gort::make_chan<int>(2);
    ch.send(1);
    ch.close();
    send_closed = panic_message([&] { ch.send(2); });
    send_closed_again = panic_message([&] { ch.send(3); });
    close_closed = panic_message([&] { ch.close(); });
    after = ch.recv();  // the value sent before close survives all that
    auto unbuf = gort::make_chan<int>();
    unbuf.close();
    send_closed_unbuf = panic_message([&] { unbuf.send(1); });
    gort::chan<int> nil;
    close_nil = panic_message([&] { nil.close(); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(send_closed, "send on closed channel");
  EXPECT_EQ(send_closed_again, "send on closed channel");
  EXPECT_EQ(send_closed_unbuf, "send on closed channel");
  EXPECT_EQ(close_closed, "close of closed channel");
  EXPECT_EQ(close_nil, "close of nil channel");
  EXPECT_EQ(after, 1);
}

// A sender parked when the channel is closed throws "send on closed channel";
// its value is not delivered. Unbuffered and full buffered channels; several
// parked senders at once.
TEST_P(ChanTest, CloseWakesParkedSenders) {
  constexpr int kSenders = 3;
  std::vector<std::string> msgs;
  std::vector<std::vector<std::optional<int>>> drained;
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, 1, 4}) {
      auto ch = gort::make_chan<int>(cap);
      for (int i = 0; i < cap; ++i) ch.send(100 + i);  // full
      gort::Mutex mu;
      gort::WaitGroup wg;
      wg.add(kSenders);
      for (int s = 0; s < kSenders; ++s)
        gort::go([&, ch, s] {
          {
            std::string m = panic_message([&] { ch.send(s); });
            std::lock_guard l(mu);
            msgs.push_back(m);
          }  // m gone before done(): main may return from run() at once, which abandons this goroutine
          wg.done();
        });
      sleep_for(5ms);  // let them park
      ch.close();
      wg.wait();
      std::vector<std::optional<int>> d;
      for (int i = 0; i <= cap; ++i) d.push_back(ch.recv());
      drained.push_back(d);
    }
  });
  EXPECT_EQ(rc, 0);
  ASSERT_EQ(msgs.size(), 3u * kSenders);
  for (const auto& m : msgs) EXPECT_EQ(m, "send on closed channel");
  ASSERT_EQ(drained.size(), 3u);
  const int caps[] = {0, 1, 4};
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < caps[k]; ++i) EXPECT_EQ(drained[k][i], 100 + i) << "cap " << caps[k];
    EXPECT_EQ(drained[k][caps[k]], std::nullopt) << "cap " << caps[k] << ": a parked sender's value was delivered";
  }
}

// close wakes every parked receiver, with nullopt.
TEST_P(ChanTest, CloseWakesParkedReceivers) {
  constexpr int kReceivers = 8;
  std::atomic<int> nullopts{0}, values{0};
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, 3}) {
      auto ch = gort::make_chan<int>(cap);
      gort::WaitGroup wg;
      wg.add(kReceivers);
      for (int r = 0; r < kReceivers; ++r)
        gort::go([&, ch] {
          (ch.recv() ? values : nullopts).fetch_add(1);
          wg.done();
        });
      sleep_for(2ms);
      ch.close();
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(nullopts.load(), 2 * kReceivers);
  EXPECT_EQ(values.load(), 0);
}

// Close under load: 8 senders, 4 receivers, one closer that closes once half
// the values have arrived. Each value is either delivered (send returned) and
// received exactly once, or its send panicked and it was never received; once
// a sender's send has panicked, all its later sends panic too.
class ChanCloseLoadTest : public ::testing::TestWithParam<std::tuple<int, int>> {};
INSTANTIATE_TEST_SUITE_P(CapProcs, ChanCloseLoadTest,
                         ::testing::Combine(::testing::Values(0, 1, 16), ::testing::Values(1, 2, 4)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
                           return "Cap" + std::to_string(std::get<0>(info.param)) + "_P" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST_P(ChanCloseLoadTest, CloseUnderLoad) {
  const auto [cap, procs] = GetParam();
  close_under_load(procs, cap, 8, 4, static_cast<int>(scaled(2000)));
}

// ---- element types ------------------------------------------------------------

TEST_P(ChanTest, MoveOnly) {
  std::vector<int> got;
  int null_received = 0;
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, 2}) {
      auto ch = gort::make_chan<std::unique_ptr<int>>(cap);
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&, ch] {
        for (int i = 0; i < 5; ++i) ch.send(std::make_unique<int>(i));
        gort::select(gort::case_send(ch, std::make_unique<int>(5)));
        ch.close();
        wg.done();
      });
      auto first = ch.recv();
      if (!first || !*first)
        ++null_received;
      else
        got.push_back(**first);
      for (std::unique_ptr<int> p : ch) {  // range-for moves each value out
        if (!p)
          ++null_received;
        else
          got.push_back(*p);
      }
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(null_received, 0);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}));
}

struct no_default {
  explicit no_default(int x, std::string s) : x(x), s(std::move(s)) {}
  no_default() = delete;
  int x;
  std::string s;  // not trivially copyable either
};

TEST_P(ChanTest, NonDefaultConstructible) {
  std::vector<std::string> got;
  int rc = run_procs(GetParam(), [&] {
    for (int cap : {0, 3}) {
      auto ch = gort::make_chan<no_default>(cap);
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&, ch] {
        for (int i = 0; i < 4; ++i) ch.send(no_default(i, std::string(40, static_cast<char>('a' + i))));
        ch.close();
        wg.done();
      });
      for (no_default v : ch) got.push_back(std::to_string(v.x) + v.s.substr(0, 2));
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got, (std::vector<std::string>{"0aa", "1bb", "2cc", "3dd", "0aa", "1bb", "2cc", "3dd"}));
}

TEST_P(ChanTest, RangeUntilClosed) {
  std::vector<int> got;
  bool loop_ended = false;
  int rc = run_procs(GetParam(), [&] {
    auto ch = gort::make_chan<int>(4);
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&wg, ch] {
      for (int i = 0; i < 10; ++i) ch.send(i);
      ch.close();
      wg.done();
    });
    for (int v : ch) got.push_back(v);
    loop_ended = true;
    // A range over an already closed and drained channel does nothing.
    for (int v : ch) got.push_back(1000 + v);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(loop_ended);
  std::vector<int> want(10);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(got, want);
}

TEST_P(ChanTest, LenCap) {
  std::vector<std::size_t> v;
  int rc = run_procs(GetParam(), [&] {
    auto ch = gort::make_chan<int>(3);
    v.push_back(ch.cap());
    v.push_back(ch.len());
    ch.send(1);
    ch.send(2);
    v.push_back(ch.len());
    (void)ch.recv();
    v.push_back(ch.len());
    auto u = gort::make_chan<int>();
    v.push_back(u.cap());
    v.push_back(u.len());
    gort::chan<int> nil;
    v.push_back(nil.cap());  // Go: len and cap of a nil channel are 0
    v.push_back(nil.len());
    ch.close();
    v.push_back(ch.len());  // closed, one value left
    v.push_back(ch.cap());
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(v, (std::vector<std::size_t>{3, 0, 2, 1, 0, 0, 0, 0, 1, 3}));
}

TEST_P(ChanTest, HandleCopiesShare) {
  std::optional<int> a, b, c;
  bool eq_copy = false, eq_assigned = false, moved_from_nil = false, moved_to_same = false;
  std::size_t len_via_copy = 99;
  int rc = run_procs(GetParam(), [&] {
    auto ch = gort::make_chan<int>(4);
    gort::chan<int> copy = ch;
    eq_copy = copy == ch;
    ch.send(1);
    ch.send(2);
    len_via_copy = copy.len();
    a = copy.recv();
    gort::chan<int> assigned;
    assigned = copy;
    eq_assigned = assigned == ch;
    gort::chan<int> moved = std::move(copy);
    moved_from_nil = !copy;  // NOLINT(bugprone-use-after-move): a moved-from chan is nil
    moved_to_same = moved == ch;
    b = moved.recv();
    assigned.close();
    c = ch.recv();  // closed through another handle
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(eq_copy);
  EXPECT_EQ(len_via_copy, 2u);
  EXPECT_EQ(a, 1);
  EXPECT_TRUE(eq_assigned);
  EXPECT_TRUE(moved_from_nil);
  EXPECT_TRUE(moved_to_same);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(c, std::nullopt);
}

TEST(ChanTest, EqualityAndBool) {
  bool nil_false = true, made_true = false, nils_equal = false, distinct = true, self_equal = false;
  int rc = run_procs(1, [&] {
    gort::chan<int> n1, n2;
    auto a = gort::make_chan<int>();
    auto b = gort::make_chan<int>();
    nil_false = static_cast<bool>(n1);
    made_true = static_cast<bool>(a);
    nils_equal = n1 == n2;
    distinct = a == b || a == n1;
    self_equal = a == a;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(nil_false);
  EXPECT_TRUE(made_true);
  EXPECT_TRUE(nils_equal);
  EXPECT_FALSE(distinct);
  EXPECT_TRUE(self_equal);
}

// A nil channel's cases are never ready: a select with default always takes
// the default, however often it is tried, also while other goroutines run.
TEST_P(ChanTest, TryForms) {
  struct seen {
    bool full_refused, kept, sent_moved, unbuf_refused, to_receiver, nil_send;
    std::vector<std::string> got;
    std::string got_from_sender, closed_panic;
    bool empty_not_closed, drained_closed, nil_not_closed, nil_empty;
  } s{};
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<std::string>(2);
    std::string a = "a", b = "b", x = "x";
    EXPECT_TRUE(c.try_send(std::move(a)));
    EXPECT_TRUE(c.try_send(b));  // the copy overload leaves b alone
    s.full_refused = !c.try_send(std::move(x));
    s.kept = x == "x";  // refused: not moved from
    s.sent_moved = a.empty() && b == "b";
    for (gort::recv_result<std::string> r; (r = c.try_recv());) s.got.push_back(*r.value);
    const gort::recv_result<std::string> none = c.try_recv();
    s.empty_not_closed = !none && !none.closed;

    // Unbuffered: ready only with a peer parked on the other side.
    auto u = gort::make_chan<std::string>();
    s.unbuf_refused = !u.try_send("y");
    auto done = gort::make_chan<bool>(1);
    gort::go([u, done] { done.send(u.recv() == "z"); });
    while (!u.try_send("z")) gort::yield();
    s.to_receiver = *done.recv();
    gort::go([u] { u.send("w"); });
    gort::recv_result<std::string> r;
    while (!(r = u.try_recv())) gort::yield();
    s.got_from_sender = *r.value;

    c.try_send("last");
    c.close();
    s.closed_panic = panic_message([&] { c.try_send("after close"); });
    s.got.push_back(*c.try_recv().value);  // buffered values outlive the close
    const gort::recv_result<std::string> end = c.try_recv();
    s.drained_closed = !end && end.closed;

    gort::chan<std::string> nil;
    s.nil_send = nil.try_send("n");
    const gort::recv_result<std::string> n = nil.try_recv();
    s.nil_empty = !n;
    s.nil_not_closed = !n.closed;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(s.full_refused);
  EXPECT_TRUE(s.kept) << "a refused try_send moved from its value";
  EXPECT_TRUE(s.sent_moved);
  EXPECT_EQ(s.got, (std::vector<std::string>{"a", "b", "last"}));
  EXPECT_TRUE(s.empty_not_closed);
  EXPECT_TRUE(s.unbuf_refused);
  EXPECT_TRUE(s.to_receiver);
  EXPECT_EQ(s.got_from_sender, "w");
  EXPECT_EQ(s.closed_panic, "send on closed channel");
  EXPECT_TRUE(s.drained_closed);
  EXPECT_FALSE(s.nil_send);
  EXPECT_TRUE(s.nil_empty);
  EXPECT_TRUE(s.nil_not_closed);
}

TEST_P(ChanTest, NilChannelBlocks) {
  int defaults = 0, others = 0;
  int rc = run_procs(GetParam(), [&] {
    gort::chan<int> nil;
    for (int i = 0; i < 1000; ++i) {
      int k = gort::select(gort::case_recv(nil, [&](std::optional<int>) { ++others; }),
                           gort::case_send(nil, i, [&] { ++others; }), gort::case_default([&] { ++defaults; }));
      if (k != 2) ++others;
      if (i % 100 == 0) gort::yield();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(defaults, 1000);
  EXPECT_EQ(others, 0);
}

// The values left in a channel are destroyed with its last handle, and no
// element outlives the channel: counted::live returns to 0.
TEST_P(ChanTest, StorageFreed) {
  long live_with_copy = -1, live_after_first = -1, live_after_last = -1, live_after_unbuffered = -1;
  long live_after_moves = -1;
  counted::live.store(0);
  int rc = run_procs(GetParam(), [&] {
    {
      auto ch = gort::make_chan<counted>(10);
      for (int i = 0; i < 5; ++i) ch.send(counted(i));
      auto copy = std::make_unique<gort::chan<counted>>(ch);
      live_with_copy = counted::live.load();
      {
        gort::chan<counted> drop = std::move(ch);
      }  // first handle gone
      live_after_first = counted::live.load();
      copy.reset();  // last handle gone
      live_after_last = counted::live.load();
    }
    {
      // Values that went through a channel and were received are not leaked.
      auto ch = gort::make_chan<counted>(0);
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&, ch] {
        for (int i = 0; i < 100; ++i) ch.send(counted(i));
        ch.close();
        wg.done();
      });
      long sum = 0;
      for (counted c : ch) sum += c.v;
      wg.wait();
      (void)sum;
    }
    live_after_unbuffered = counted::live.load();
    {
      // A closed channel with values left, handles held by parked-then-done goroutines.
      auto ch = gort::make_chan<counted>(3);
      ch.send(counted(1));
      ch.send(counted(2));
      ch.close();
      gort::WaitGroup wg;
      wg.add(2);
      for (int i = 0; i < 2; ++i)
        gort::go([ch, &wg] {
          gort::chan<counted> keep = ch;
          gort::yield();
          wg.done();
        });
      wg.wait();
    }
    // The goroutines' closures (each with a handle) go when they exit, just
    // after done(): give them a moment.
    spin_until([] { return counted::live.load() == 0; }, std::chrono::seconds(5));
    live_after_moves = counted::live.load();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(live_with_copy, 5);
  EXPECT_EQ(live_after_first, 5) << "the channel went with a handle that was not its last";
  EXPECT_EQ(live_after_last, 0) << "buffered values not destroyed with the last handle";
  EXPECT_EQ(live_after_unbuffered, 0);
  EXPECT_EQ(live_after_moves, 0);
}

// The lock-free fail paths of non-blocking operations on unbuffered
// channels (chan.cpp: hchan::empty/full read the wait queues' heads without
// the lock): a non-blocking receive, retried, must find a parked sender, and
// a non-blocking send a parked receiver; each value arrives once. If the
// check wrongly reported "nothing ready" while a peer is parked, a retry
// loop would never end: each gives up after a bound only that reaches.
namespace nb {
constexpr auto give_up = 20s;

// retry runs op (true: it went through) until it does, yielding between tries.
template <class Op>
bool retry(Op op) {
  const auto deadline = std::chrono::steady_clock::now() + give_up;
  while (!op()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    gort::yield();
  }
  return true;
}

// try_recv: a non-blocking receive into got (-1: closed), through the method
// or through a select with a default; false if nothing was ready.
inline bool try_recv(const gort::chan<int>& c, bool method, int& got) {
  if (method) {
    const gort::recv_result<int> r = c.try_recv();
    if (r || r.closed) got = r.value.value_or(-1);
    return r || r.closed;
  }
  return gort::select(gort::case_recv(c, [&](std::optional<int> v) { got = v.value_or(-1); }), gort::case_default()) ==
         0;
}
}  // namespace nb

TEST_P(ChanTest, NonblockingRecvFindsParkedSender) {
  const int n = static_cast<int>(scaled(20000));
  long sum = 0;
  int stuck = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>();
    gort::go([c, n] {
      for (int i = 1; i <= n; ++i) c.send(i);
    });
    for (int i = 1; i <= n && stuck == 0; ++i) {
      int got = 0;
      if (!nb::retry([&] { return nb::try_recv(c, i % 2 == 0, got); })) ++stuck;
      EXPECT_EQ(got, stuck ? 0 : i);
      sum += got;
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(stuck, 0) << "a non-blocking receive never saw the parked sender";
  EXPECT_EQ(sum, static_cast<long>(n) * (n + 1) / 2);
}

TEST_P(ChanTest, NonblockingSendFindsParkedReceiver) {
  const int n = static_cast<int>(scaled(20000));
  std::atomic<long> sum{0};
  int stuck = 0;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&, c] {
      for (std::optional<int> v; (v = c.recv());) sum.fetch_add(*v);
      wg.done();
    });
    for (int i = 1; i <= n && stuck == 0; ++i)
      if (!nb::retry([&] {
            return i % 2 == 0 ? c.try_send(i) : gort::select(gort::case_send(c, i), gort::case_default()) == 0;
          }))
        ++stuck;
    c.close();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(stuck, 0) << "a non-blocking send never saw the parked receiver";
  EXPECT_EQ(sum.load(), static_cast<long>(n) * (n + 1) / 2);
}

// A non-blocking receive racing with close on an unbuffered channel: before
// the close it may find nothing, after it must see "closed"; never a value.
// Odd rounds use try_recv, even ones a select with a default.
TEST_P(ChanTest, NonblockingRecvRacesClose) {
  const int n = static_cast<int>(scaled(5000));
  std::atomic<int> bad{0};
  int rc = run_procs(GetParam(), [&] {
    for (int i = 0; i < n; ++i) {
      auto c = gort::make_chan<int>();
      auto done = gort::make_chan<int>(1);
      gort::go([c, done, &bad, i] {
        for (;;) {
          int got = 0;
          if (!nb::try_recv(c, i % 2 == 1, got)) {
            gort::yield();
            continue;
          }
          if (got != -1) bad.fetch_add(1);
          break;
        }
        done.send(1);
      });
      c.close();
      done.recv();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(bad.load(), 0);
}

// The lock-free "nothing ready" of a non-blocking receive
// (hchan_header::recv_without_lock) against a close racing it. Each round, main
// hands a spinning poller a channel holding a value, then at once closes
// it and receives, while the poller polls it until it gets something. From
// the hand-over on, the channel holds the value until it is closed, so
// every poll must find the value or "closed", never nothing; and the value
// is received once, by the poller or by main. The race lies between a
// poll's loads (empty, then closed, then empty again) and main's close and
// receive, so it needs two Ps. Checked builds widen the gaps between those
// loads (detail::race_window), and there reading closed before empty fails
// this test at once. Other builds have no gap but the CPU's: a poll
// straddles main's close and receive a few times in a million rounds, hence
// the rounds (about 1 s). Odd rounds poll with try_recv, even ones with a
// select.
TEST_P(ChanTest, NonblockRecvRacingCloseFindsValueOrClosed) {
  if (GetParam() < 2) GTEST_SKIP() << "the poller and main must run at once";
  const int rounds = static_cast<int>(scaled(500000));
  std::atomic<int> handed{-1}, finished{-1};
  std::atomic<long> nothing{0}, by_poller{0}, by_main{0};
  int rc = run_procs(GetParam(), [&] {
    // Made in batches too big for the caches: a poll of a channel that is
    // in none straddles main's close and receive several times as often.
    constexpr int kBatch = 1 << 16;
    std::vector<gort::chan<int>> chans(kBatch);
    gort::go([&] {
      for (int r = 0; r < rounds; ++r) {
        await_round(handed, r);
        for (;;) {
          int got = 0;
          if (!nb::try_recv(chans[r % kBatch], r % 2 == 1, got)) {
            nothing.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          if (got == 1) by_poller.fetch_add(1, std::memory_order_relaxed);
          break;
        }
        finished.store(r, std::memory_order_release);
      }
    });
    for (int r = 0; r < rounds; ++r) {
      if (r % kBatch == 0)
        for (auto& c : chans) c = gort::make_chan<int>(1);
      gort::chan<int>& c = chans[r % kBatch];
      c.send(1);  // buffered: does not block
      handed.store(r, std::memory_order_release);
      c.close();
      if (c.recv()) by_main.fetch_add(1, std::memory_order_relaxed);
      await_round(finished, r);
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(nothing.load(), 0) << "polls found nothing in a channel that held a value or was closed";
  EXPECT_EQ(by_poller.load() + by_main.load(), rounds) << "each round's value is received exactly once";
}

}  // namespace
