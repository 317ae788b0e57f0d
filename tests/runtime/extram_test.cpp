// extram_test.cpp: threads the runtime did not start, calling in while run()
// is active (proc.cpp, "Extra Ms"; Go's needm and extra Ms, as for cgo
// callbacks).
//
//   EveryCallWorks          from a std::thread: yield, go, goid, gomaxprocs,
//                           num_goroutine, stats, lock/unlock_os_thread,
//                           blocking, channels, select, Mutex, WaitGroup,
//                           sleep and Timer all work; after run() has
//                           returned the same thread's calls throw
//                           std::logic_error again.
//   CallbackThreadFeedsChannel an asio-style callback thread sends into a
//                           small buffered channel that goroutines drain:
//                           every value arrives once.
//   PingPongThreadsAndGoroutines 8 foreign threads and 8 goroutines in pairs,
//                           each side waiting on the other in turn.
//   WaitingWhenRunEnds      a thread waiting in recv, select, sleep, a
//                           Mutex or a WaitGroup when main returns gets
//                           std::logic_error, and run() returns.
//   CallsRacingRunsEnd      threads calling in a loop while main returns:
//                           every thread ends with std::logic_error.
//   WakeRacingRunsEnd       a thread that wakes a goroutine without a call
//                           of its own (Mutex::unlock, WaitGroup::done,
//                           Cond::signal) while main returns: run()'s end
//                           waits for the wake, or the wake finds the run
//                           over (done() throws std::logic_error once it
//                           is); nothing crashes or leaks.
//   NoDeadlockWhileAThreadMayCallIn  main waits on a channel that only a
//                           foreign thread sends on, later, whether it has
//                           called in before or not: no deadlock report.
// Each runs at GOMAXPROCS 1, 2 and 4 where the scheduler matters. The
// foreign threads are joined inside blocking(), so that the goroutine
// waiting for them gives up its P at once.
#include "chan_test_util.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace gort_test;
using namespace std::chrono_literals;

class ExtramTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, ExtramTest, ::testing::Values(1, 2, 4), procs_name);

// what_thrown: "" if f returned, else the kind of exception it threw.
template <class F>
std::string what_thrown(F&& f) {
  try {
    std::forward<F>(f)();
    return "";
  } catch (const std::logic_error& e) {
    return std::string("logic_error: ") + e.what();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
}

void join_blocking(std::thread& t) {
  gort::blocking([&] { t.join(); });
}

TEST_P(ExtramTest, EveryCallWorks) {
  struct seen {
    std::uint64_t id = 0, id_again = 0;
    int procs = 0, blocking_result = 0, received = 0, selected = -1;
    std::size_t goroutines = 0, threads = 0;
    bool go_ran = false, try_sent = false, locked = false, timer_fired = false, sent_to_main = false;
  } s;
  std::vector<std::string> errors;  // of the calls that must work
  std::vector<std::string> after;   // of the calls after run() returned
  std::atomic<bool> run_over{false};
  std::thread t;
  int rc = run_procs(GetParam(), [&] {
    auto to_thread = gort::make_chan<int>();
    auto to_main = gort::make_chan<int>();
    gort::Mutex mu;
    t = std::thread([&, to_thread, to_main] {
      auto must = [&](const char* what, auto&& f) {
        if (std::string e = what_thrown(f); !e.empty()) errors.push_back(std::string(what) + ": " + e);
      };
      must("goid", [&] { s.id = gort::goid(); });
      must("yield", [] { gort::yield(); });
      must("go", [&] {
        auto done = gort::make_chan<bool>(1);
        gort::go([done] { done.send(true); });
        s.go_ran = *done.recv();
      });
      must("gomaxprocs", [&] { s.procs = gort::gomaxprocs(); });
      must("num_goroutine", [&] { s.goroutines = gort::num_goroutine(); });
      must("stats", [&] { s.threads = gort::stats().threads; });
      must("lock_os_thread", [] {
        gort::lock_os_thread();
        gort::unlock_os_thread();
      });
      must("blocking", [&] { s.blocking_result = gort::blocking([] { return 42; }); });
      must("recv", [&] { s.received = to_thread.recv().value_or(-1); });
      must("send", [&] { to_main.send(7); });
      must("select", [&] {
        s.selected = gort::select(gort::case_recv(to_thread, [](std::optional<int>) {}), gort::case_send(to_main, 8));
      });
      must("try_send", [&] {
        auto c = gort::make_chan<int>(1);
        s.try_sent = c.try_send(1) && !c.try_send(2) && *c.try_recv().value == 1;
      });
      must("Mutex", [&] {
        mu.lock();  // main holds it until it has seen our send
        s.locked = true;
        mu.unlock();
      });
      must("WaitGroup", [] {
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&wg] { wg.done(); });
        wg.wait();
      });
      must("sleep", [] { gort::sleep(1ms); });
      must("Timer", [&] {
        gort::Timer tm(1ms);
        s.timer_fired = tm.c().recv().has_value();
      });
      must("goid again", [&] { s.id_again = gort::goid(); });
      must("close", [&] { to_main.close(); });
      while (!run_over.load()) std::this_thread::sleep_for(1ms);
      after.push_back(what_thrown([] { gort::yield(); }));
      after.push_back(what_thrown([&] { (void)to_thread.try_recv(); }));
      after.push_back(what_thrown([] { gort::sleep(1ms); }));
    });
    mu.lock();
    to_thread.send(5);
    s.sent_to_main = to_main.recv() == 7;
    gort::select(gort::case_send(to_thread, 6), gort::case_recv(to_main, [](std::optional<int>) {}));
    mu.unlock();
    EXPECT_EQ(to_main.recv(), std::nullopt);  // the thread's close: it is done
  });
  run_over.store(true);
  t.join();
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  EXPECT_NE(s.id, 0u);
  EXPECT_NE(s.id, 1u);  // not main's
  EXPECT_EQ(s.id_again, s.id) << "the thread keeps its goroutine id";
  EXPECT_TRUE(s.go_ran);
  EXPECT_EQ(s.procs, GetParam());
  EXPECT_GE(s.goroutines, 2u);
  EXPECT_GE(s.threads, 2u);
  EXPECT_EQ(s.blocking_result, 42);
  EXPECT_EQ(s.received, 5);
  EXPECT_TRUE(s.sent_to_main);
  EXPECT_TRUE(s.selected == 0 || s.selected == 1);
  EXPECT_TRUE(s.try_sent);
  EXPECT_TRUE(s.locked);
  EXPECT_TRUE(s.timer_fired);
  ASSERT_EQ(after.size(), 3u);
  for (const std::string& e : after) EXPECT_NE(e.find("logic_error: gort:"), std::string::npos) << e;
}

TEST_P(ExtramTest, CallbackThreadFeedsChannel) {
  const int n = static_cast<int>(scaled(20000));
  constexpr int kDrainers = 4;
  std::atomic<long> sum{0}, count{0};
  std::string error;
  int rc = run_procs(GetParam(), [&] {
    auto c = gort::make_chan<int>(4);
    gort::WaitGroup wg;
    wg.add(kDrainers);
    for (int i = 0; i < kDrainers; ++i)
      gort::go([&, c] {
        for (int v : c) {
          sum.fetch_add(v);
          count.fetch_add(1);
        }
        wg.done();
      });
    std::thread loop([&, c] {  // an event loop's thread: each callback sends one value
      error = what_thrown([&] {
        for (int i = 1; i <= n; ++i) c.send(i);
        c.close();
      });
    });
    wg.wait();
    join_blocking(loop);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(error, "");
  EXPECT_EQ(count.load(), n);
  EXPECT_EQ(sum.load(), static_cast<long>(n) * (n + 1) / 2);
}

TEST_P(ExtramTest, PingPongThreadsAndGoroutines) {
  constexpr int kPairs = 8;
  const int rounds = static_cast<int>(scaled(2000));
  std::atomic<long> thread_sum{0}, goroutine_sum{0};
  std::vector<std::string> errors(kPairs);
  int rc = run_procs(GetParam(), [&] {
    std::vector<std::thread> threads;
    gort::WaitGroup wg;
    wg.add(kPairs);
    for (int i = 0; i < kPairs; ++i) {
      auto ping = gort::make_chan<int>(), pong = gort::make_chan<int>();
      gort::go([&, ping, pong] {
        for (std::optional<int> v; (v = ping.recv());) {
          goroutine_sum.fetch_add(*v);
          pong.send(*v + 1);
        }
        wg.done();
      });
      threads.emplace_back([&, i, ping, pong] {
        errors[i] = what_thrown([&] {
          for (int r = 0; r < rounds; ++r) {
            ping.send(r);
            thread_sum.fetch_add(*pong.recv());
          }
          ping.close();
        });
      });
    }
    wg.wait();
    gort::blocking([&] {
      for (std::thread& t : threads) t.join();
    });
  });
  EXPECT_EQ(rc, 0);
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  const long per_pair = static_cast<long>(rounds) * (rounds - 1) / 2;
  EXPECT_EQ(goroutine_sum.load(), kPairs * per_pair);
  EXPECT_EQ(thread_sum.load(), kPairs * (per_pair + rounds));
}

// Each waits on something nothing will ever finish; main returns once all
// have called in (the last step before their waits).
TEST(ExtramEndTest, WaitingWhenRunEnds) {
  std::vector<std::string> errors(5);
  std::vector<std::thread> threads;
  std::atomic<int> bound{0};
  int rc = run_procs(2, [&] {
    auto never = gort::make_chan<int>();
    auto held = std::make_shared<gort::Mutex>();
    auto wg = std::make_shared<gort::WaitGroup>();
    held->lock();
    wg->add(1);
    std::function<void()> waits[] = {
        [never] { (void)never.recv(); },
        [never] { gort::select(gort::case_recv(never, [](std::optional<int>) {})); },
        [] { gort::sleep(1h); },
        [held] { held->lock(); },
        [wg] { wg->wait(); },
    };
    for (int i = 0; i < 5; ++i)
      threads.emplace_back([&, i, w = waits[i]] {
        (void)gort::goid();  // bound
        bound.fetch_add(1);
        errors[i] = what_thrown(w);
      });
    while (bound.load() < 5) gort::sleep(1ms);
    gort::sleep(20ms);  // most likely parked by now; either way they must end
  });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(rc, 0);
  for (const std::string& e : errors)
    EXPECT_NE(e.find("logic_error: gort: run() ended while a thread"), std::string::npos) << e;
}

// Threads calling in a loop while main returns: each call either completes
// or throws std::logic_error (also one that starts while run() ends, and
// waits for a P); none hangs or terminates, and every thread sees the end.
TEST(ExtramEndTest, CallsRacingRunsEnd) {
  constexpr int kThreads = 4;
  for (int round = 0; round < static_cast<int>(scaled(20, 4)); ++round) {
    std::vector<std::string> last(kThreads);
    std::vector<std::thread> threads;
    std::atomic<int> calling{0};
    int rc = run_procs(1 + round % 2, [&] {
      auto c = gort::make_chan<int>(1);
      for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i, c] {
          bool counted = false;
          for (;;) {
            std::string e = what_thrown([&] {
              gort::yield();
              if (!c.try_send(i)) (void)c.try_recv();
            });
            if (!counted) calling.fetch_add(1), counted = true;
            if (!e.empty()) {
              last[i] = e;
              return;
            }
          }
        });
      while (calling.load() < kThreads) gort::yield();
    });
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(rc, 0);
    for (const std::string& e : last) EXPECT_NE(e.find("logic_error: gort:"), std::string::npos) << e;
  }
}

// A goroutine waits on a Mutex the thread holds, on a WaitGroup it will
// finish, or on a Cond it will signal; main returns while the thread wakes
// it, after a delay that varies by round so that the wake lands before,
// in and after run()'s end. Before the wake was a call of the thread's
// extra M, teardown could free the waiter's stack and G while the thread
// read its sudog there and readied it. Each round's leak check (run_procs)
// also finds the woken goroutine gone.
TEST(ExtramEndTest, WakeRacingRunsEnd) {
  enum kind { mutex, waitgroup, cond };
  const int rounds = static_cast<int>(scaled(300, 10));
  for (int round = 0; round < rounds; ++round) {
    const kind k = static_cast<kind>(round % 3);
    auto mu = std::make_shared<gort::Mutex>();
    auto wg = std::make_shared<gort::WaitGroup>();
    auto cv = std::make_shared<gort::Cond>(*mu);
    std::atomic<int> step{0};
    std::thread t;
    int rc = run_procs(1, [&] {
      if (k == mutex) mu->lock();  // a goroutine's, held for the thread: Go's Mutex has no owner
      if (k == waitgroup) wg->add(1);
      gort::go([&, k] {
        if (k == mutex) mu->lock();
        if (k == waitgroup) wg->wait();
        if (k == cond) {
          mu->lock();
          cv->wait();
        }
        mu->unlock();
      });
      gort::yield();  // at GOMAXPROCS 1 the goroutine runs until it parks
      t = std::thread([&, k, delay = std::chrono::microseconds(round / 3 % 100)] {
        while (step.load() < 2) {
        }
        for (auto until = std::chrono::steady_clock::now() + delay; std::chrono::steady_clock::now() < until;) {
        }
        if (k == mutex) mu->unlock();  // noexcept, as Cond::signal: a no-op once the run is over
        if (k == cond) cv->signal();
        if (k == waitgroup) {
          try {
            wg->done();
          } catch (const std::logic_error&) {  // after run(), as any call that needs one
            return;
          }
        }
      });
      step.store(2);
    });
    t.join();
    ASSERT_EQ(rc, 0) << "round " << round;
  }
}

// Whether the thread has called in before (bound) or not yet: a thread
// started during the run that is not one of the runtime's may still call in.
TEST(ExtramEndTest, NoDeadlockWhileAThreadMayCallIn) {
  for (bool bind_first : {true, false}) {
    std::optional<int> got;
    std::thread t;
    int rc = run_procs(1, [&] {
      auto c = gort::make_chan<int>();
      std::atomic<bool> ready{false};
      t = std::thread([&, c] {
        if (bind_first) (void)gort::goid();
        ready.store(true);
        std::this_thread::sleep_for(50ms);  // main and every goroutine are blocked meanwhile
        c.send(9);
      });
      while (!ready.load()) gort::yield();
      got = c.recv();
    });
    t.join();
    EXPECT_EQ(rc, 0) << "bind_first=" << bind_first;
    EXPECT_EQ(got, 9) << "bind_first=" << bind_first;
  }
}

}  // namespace
