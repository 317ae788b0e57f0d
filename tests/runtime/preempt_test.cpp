// preempt_test.cpp: a goroutine that keeps its P without entering the
// runtime (a tight loop, a plain blocking call not wrapped in blocking())
// does not stall the others: sysmon takes its P after about 20 ms and hands
// it to another (preempt.cpp). Go cannot do this for code outside its
// compiler, so these have no Go counterpart; the cases are the ones the
// issues name, each at GOMAXPROCS=1 (where a stall would be total) and 2,
// and each both ways sysmon can take a P: the membarrier handshake (skipped
// where the kernel lacks membarrier) and the signal (GODEBUG=preemptsignal=1).
// Only the handshake leaves the interrupted calls alone:
// UnwrappedCallsSeeNoEINTR.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "gort/gort.hpp"
#include "runtime/export_test.hpp"
#include "thread_state.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Every hog ends by itself after this, so that a broken hand-off fails the
// test instead of hanging it. Each test releases its hogs as soon as the
// others have progressed, so a passing test never waits this long; it
// bounds only how late a hand-off may come on a loaded machine.
constexpr auto give_up = std::chrono::seconds(20);

// expect_others_progress checks, from main, that the scheduler still runs
// goroutines while hogs hold every P: a timer wakes main, and a new
// goroutine and main hand 100 values back and forth. The outcome that
// proves the hand-off is that all this happened while no hog had yet ended
// (`ended` counts those that did): without it, main would run only after the
// hogs gave up. No wall-clock bound: the hand-off's latency is a benchmark's
// business, and on a loaded machine it is whatever the load makes it.
void expect_others_progress(const char* what, const std::atomic<int>& ended) {
  gort::sleep(milliseconds(5));
  auto c = gort::make_chan<int>();
  gort::go([c] {
    for (int i = 0; i < 100; ++i) c.send(i);
  });
  for (int i = 0; i < 100; ++i) EXPECT_EQ(c.recv(), i) << what;
  EXPECT_EQ(ended.load(), 0) << what << ": main ran only after a hog ended by itself";
}

bool membarrier_available() {
  const long cmds = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  return cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED);
}

// The parameter: GOMAXPROCS, and whether sysmon takes a P by signal.
struct preempt_mode {
  int procs;
  bool signal;
};
void PrintTo(const preempt_mode& m, std::ostream* os) {
  *os << "GOMAXPROCS=" << m.procs << (m.signal ? ", by signal" : ", by handshake");
}

class PreemptTest : public ::testing::TestWithParam<preempt_mode> {
 protected:
  void SetUp() override {
    if (GetParam().signal)
      ::setenv("GODEBUG", "preemptsignal=1", 1);
    else if (!membarrier_available())
      GTEST_SKIP() << "no membarrier(PRIVATE_EXPEDITED) here: the runtime uses the signal";
  }
  void TearDown() override {
    if (GetParam().signal) ::unsetenv("GODEBUG");
  }
  static int procs() { return GetParam().procs; }
};

// A tight loop on every P: no runtime entry at all.
TEST_P(PreemptTest, TightLoopDoesNotStall) {
  gort::run(gort::Config{.maxprocs = procs()}, [] {
    std::atomic<bool> stop{false};
    std::atomic<long> spins{0};
    std::atomic<int> ended{0};
    gort::WaitGroup wg;
    wg.add(procs());
    const auto deadline = clock_type::now() + give_up;
    for (int i = 0; i < procs(); ++i)
      gort::go([&] {
        long n = 0;
        while (!stop.load(std::memory_order_relaxed) && (n % 1024 != 0 || clock_type::now() < deadline)) ++n;
        if (!stop.load()) ended.fetch_add(1);
        spins.fetch_add(n);
        wg.done();  // back in the runtime: it gets a P again
      });
    expect_others_progress("tight loop", ended);
    stop.store(true);
    wg.wait();
    EXPECT_GT(spins.load(), 0);
  });
}

// A goroutine polling a channel with non-blocking receives that fail:
// those return before the runtime entry (chan.cpp, "without entry"), so it
// keeps its P as a tight loop does, and must not stall the others either.
// Then each poller gets a value sent to it, through the entry it skipped.
TEST_P(PreemptTest, PollingAChannelDoesNotStall) {
  gort::run(gort::Config{.maxprocs = procs()}, [] {
    auto c = gort::make_chan<int>();
    std::atomic<int> got{0}, ended{0};
    gort::WaitGroup wg;
    wg.add(procs());
    const auto deadline = clock_type::now() + give_up;
    for (int i = 0; i < procs(); ++i)
      gort::go([&, c] {
        for (long n = 1;; ++n) {
          const bool ok = n % 2 == 0 ? bool(c.try_recv()) : gort::select(gort::case_recv(c), gort::case_default()) == 0;
          if (ok) {
            got.fetch_add(1);
            break;
          }
          if (n % 1024 == 0 && clock_type::now() > deadline) {
            ended.fetch_add(1);
            break;
          }
        }
        wg.done();
      });
    expect_others_progress("polling a channel", ended);
    for (int i = 0; i < procs(); ++i)
      EXPECT_EQ(gort::select(gort::case_send(c, i), gort::case_recv(gort::after(give_up))), 0)
          << "no poller took value " << i;
    wg.wait();
    EXPECT_EQ(got.load(), procs());
  });
}

// ThreadSanitizer holds a signal back until the interrupted call returns,
// unless it counts the call as blocking (sleeps, poll, condition waits): a
// read or a mutex wait under TSan is not interrupted, so not handed off.
#if defined(GORT_TSAN)
#define SKIP_SIGNAL_UNDER_TSAN() \
  if (GetParam().signal) GTEST_SKIP() << "TSan defers the preemption signal until this call returns"
#else
#define SKIP_SIGNAL_UNDER_TSAN() (void)0
#endif

// Plain blocking calls, not wrapped in blocking(): each blocks its thread
// while holding a P, until the test releases it (after the others have
// progressed) or give_up passes.
struct unwrapped_call {
  const char* name;
  std::function<void()> prepare, block, release;
};

void expect_unwrapped_call_does_not_stall(int procs, unwrapped_call call) {
  gort::run(gort::Config{.maxprocs = procs}, [&] {
    if (call.prepare) call.prepare();
    std::atomic<int> ended{0};
    std::atomic<bool> released{false};
    gort::WaitGroup wg;
    wg.add(procs);
    for (int i = 0; i < procs; ++i)
      gort::go([&] {
        call.block();
        if (!released.load()) ended.fetch_add(1);
        wg.done();
      });
    expect_others_progress(call.name, ended);
    released.store(true);
    if (call.release) call.release();
    wg.wait();
  });
}

// Sleeps of 10 ms, one after another, until told or give_up: a thread in
// nanosleep nearly all the time, never in the runtime.
TEST_P(PreemptTest, UnwrappedSleepDoesNotStall) {
  std::atomic<bool> release{false};
  const auto deadline = clock_type::now() + give_up;
  expect_unwrapped_call_does_not_stall(procs(), {"std::this_thread::sleep_for", nullptr,
                                                 [&] {
                                                   while (!release.load() && clock_type::now() < deadline)
                                                     std::this_thread::sleep_for(milliseconds(10));
                                                 },
                                                 [&] { release.store(true); }});
}

TEST_P(PreemptTest, UnwrappedPipeReadDoesNotStall) {
  SKIP_SIGNAL_UNDER_TSAN();
  int fd[2];
  ASSERT_EQ(::pipe(fd), 0);
  std::atomic<bool> release{false};
  std::thread writer([&] {  // writes when told, or after give_up
    const auto deadline = clock_type::now() + give_up;
    while (!release.load() && clock_type::now() < deadline) std::this_thread::sleep_for(milliseconds(1));
    for (int i = 0; i < procs(); ++i) EXPECT_EQ(::write(fd[1], "x", 1), 1);
  });
  expect_unwrapped_call_does_not_stall(procs(), {"read on a pipe", nullptr,
                                                 [&] {
                                                   char b = 0;
                                                   EXPECT_EQ(::read(fd[0], &b, 1), 1);  // SA_RESTART: no EINTR
                                                   EXPECT_EQ(b, 'x');
                                                 },
                                                 [&] { release.store(true); }});
  writer.join();
  ::close(fd[0]);
  ::close(fd[1]);
}

TEST_P(PreemptTest, UnwrappedStdMutexDoesNotStall) {
  SKIP_SIGNAL_UNDER_TSAN();
  std::mutex mu;
  std::thread holder;
  std::atomic<bool> held{false}, release{false};
  expect_unwrapped_call_does_not_stall(procs(),
                                       {"std::mutex held by another thread",
                                        [&] {
                                          holder = std::thread([&] {  // holds mu until told, or give_up
                                            std::lock_guard<std::mutex> l(mu);
                                            held.store(true);
                                            const auto deadline = clock_type::now() + give_up;
                                            while (!release.load() && clock_type::now() < deadline)
                                              std::this_thread::sleep_for(milliseconds(1));
                                          });
                                          while (!held.load()) std::this_thread::yield();
                                        },
                                        [&] { std::lock_guard<std::mutex> l(mu); }, [&] { release.store(true); }});
  holder.join();
}

// spin_until_taken spins, never entering the runtime, until sysmon has
// taken its P and `ticks` has moved on by two (someone else ran meanwhile,
// twice), or give_up passes; it says which. At GOMAXPROCS=1 the others run
// only on the P taken; at 2 they have a P of their own, and it is the
// spinning, 20 ms without a runtime entry, that gets this one taken.
bool spin_until_taken(const std::atomic<int>& ticks) {
  const int from = ticks.load();
  const auto deadline = clock_type::now() + give_up;
  while (ticks.load(std::memory_order_relaxed) < from + 2 || !gort::rt::held_p_taken())
    if (clock_type::now() > deadline) return false;
  return true;
}

// The goroutine whose P was taken goes on with the runtime afterwards, many
// times over: a spinner that loops until its P is taken and a sleeper has
// ticked, then sends, which must get it a P back, against a receiver that
// checks every value arrives once and in order.
TEST_P(PreemptTest, HandedOffGoroutineComesBack) {
  gort::run(gort::Config{.maxprocs = procs()}, [] {
    constexpr int rounds = 8;
    auto c = gort::make_chan<int>(1);
    std::atomic<bool> done{false};
    std::atomic<int> ticks{0};
    gort::WaitGroup sleeper;
    sleeper.add(1);
    gort::go([&] {
      while (!done.load()) {
        gort::sleep(milliseconds(1));
        ticks.fetch_add(1);
      }
      sleeper.done();
    });
    gort::go([&, c] {
      for (int r = 0; r < rounds; ++r) {
        if (!spin_until_taken(ticks)) {
          ADD_FAILURE() << "round " << r << ": this spun " << give_up.count()
                        << " s without its P taken and the sleeper run: taken " << gort::rt::held_p_taken();
          break;
        }
        c.send(r);
        EXPECT_FALSE(gort::rt::held_p_taken()) << "round " << r << ": still without a P after a runtime entry";
      }
      c.close();
    });
    int want = 0;
    for (int v : c) EXPECT_EQ(v, want++);
    EXPECT_EQ(want, rounds);
    done.store(true);
    sleeper.wait();
  });
}

// A goroutine wired to its thread (lock_os_thread) whose P is taken stays
// on that thread when it gets a P back: it then parks, and main, on the
// other P at GOMAXPROCS=2, wakes it, which a goroutine not wired would
// mostly answer on main's thread.
TEST_P(PreemptTest, LockedGoroutineKeepsItsThread) {
  gort::run(gort::Config{.maxprocs = procs()}, [] {
    constexpr int rounds = 4;
    std::atomic<bool> stop{false};
    std::atomic<int> ticks{0};
    auto wake = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&, wake] {
      gort::lock_os_thread();
      const auto tid = opaque_thread_id();
      for (int r = 0; r < rounds; ++r) {
        if (!spin_until_taken(ticks)) {
          ADD_FAILURE() << "round " << r << ": this spun " << give_up.count()
                        << " s without its P taken and main run: taken " << gort::rt::held_p_taken();
          break;
        }
        EXPECT_EQ(opaque_thread_id(), tid) << "round " << r;
        EXPECT_EQ(wake.recv(), r);  // back in the runtime: a P again, on the same thread
        EXPECT_EQ(opaque_thread_id(), tid) << "round " << r;
      }
      gort::unlock_os_thread();
      stop.store(true);
      wg.done();
    });
    for (int r = 0; !stop.load();) {
      gort::sleep(milliseconds(1));
      ticks.fetch_add(1);
      if (r < rounds && gort::select(gort::case_send(wake, r), gort::case_default()) == 0) ++r;
    }
    wg.wait();
  });
}

// Inside blocking(), the goroutine has no P; a runtime call made there
// borrows one for the call.
TEST_P(PreemptTest, RuntimeCallInsideBlocking) {
  gort::run(gort::Config{.maxprocs = procs()}, [] {
    auto c = gort::make_chan<int>();
    gort::go([c] {
      gort::blocking([c] {
        for (int i = 0; i < 100; ++i) c.send(i);
        gort::blocking([] { ::usleep(1000); });  // nested: still one call
        gort::yield();
      });
      c.close();
    });
    int want = 0;
    for (int v : c) EXPECT_EQ(v, want++);
    EXPECT_EQ(want, 100);
  });
}

// No false deadlock: main waits on a channel that only a goroutine stuck in
// an unwrapped sleep will send on.
TEST_P(PreemptTest, NoDeadlockReportDuringUnwrappedCall) {
  gort::run(gort::Config{.maxprocs = procs()}, [] {
    auto c = gort::make_chan<int>();
    gort::go([c] {
      std::this_thread::sleep_for(milliseconds(100));
      c.send(42);
    });
    EXPECT_EQ(c.recv(), 42);
  });
}

// The handshake interrupts nothing: unwrapped calls that never restart
// after a signal (poll, nanosleep, sem_timedwait, epoll_wait), 500 ms each,
// all four at once, run to their timeouts while a ping-pong beside them
// keeps going. Each holds a P when it starts, so each P is taken from it.
// (With the signal, each would fail with EINTR after about 20 ms.)
TEST_P(PreemptTest, UnwrappedCallsSeeNoEINTR) {
  if (GetParam().signal) GTEST_SKIP() << "the signal interrupts these calls: that is the fallback's cost";
  constexpr int timeout_ms = 500;
  const timespec rel{0, timeout_ms * 1'000'000L};
  struct call {
    const char* name;
    std::function<int()> run;  // -1 and errno on failure, as the call
  };
  sem_t sem;
  ASSERT_EQ(::sem_init(&sem, 0, 0), 0);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  const call calls[] = {
      {"poll", [] { return ::poll(nullptr, 0, timeout_ms); }},
      {"nanosleep", [&] { return ::nanosleep(&rel, nullptr); }},
      {"sem_timedwait",
       [&] {
         timespec abs;
         ::clock_gettime(CLOCK_REALTIME, &abs);
         abs.tv_nsec += rel.tv_nsec;
         abs.tv_sec += abs.tv_nsec / 1'000'000'000L;
         abs.tv_nsec %= 1'000'000'000L;
         const int rc = ::sem_timedwait(&sem, &abs);
         return rc == -1 && errno == ETIMEDOUT ? 0 : rc;  // timing out is its success here
       }},
      {"epoll_wait",
       [&] {
         epoll_event ev;
         return ::epoll_wait(ep, &ev, 1, timeout_ms);
       }},
  };
  gort::run(gort::Config{.maxprocs = procs()}, [&] {
    std::atomic<long> round_trips{0};
    std::atomic<bool> stop{false};
    gort::WaitGroup pingpong;
    pingpong.add(1);
    auto ping = gort::make_chan<int>(), pong = gort::make_chan<int>();
    gort::go([ping, pong] {
      for (int v : ping) pong.send(v);
    });
    gort::go([&, ping, pong] {
      for (int i = 0; !stop.load(); ++i) {
        ping.send(i);
        EXPECT_EQ(pong.recv(), i);
        round_trips.fetch_add(1, std::memory_order_relaxed);
      }
      ping.close();
      pingpong.done();
    });
    gort::WaitGroup wg;
    wg.add(std::size(calls));
    std::atomic<long> trips_at_first_return{-1};
    const long trips_before = round_trips.load();
    for (const call& c : calls)
      gort::go([&] {
        const auto t0 = clock_type::now();
        opaque_set_errno(0);
        const int rc = c.run();
        const int err = gort::last_errno();
        const auto took = std::chrono::duration_cast<milliseconds>(clock_type::now() - t0).count();
        long expected = -1;
        trips_at_first_return.compare_exchange_strong(expected, round_trips.load());
        EXPECT_EQ(rc, 0) << c.name << " failed after " << took << " ms: " << std::strerror(err);
        EXPECT_GE(took, timeout_ms - 1) << c.name << " returned early";
        wg.done();
      });
    wg.wait();
    stop.store(true);
    pingpong.wait();
    // The four calls overlapped for most of their 500 ms, each on a thread
    // of its own, the P long since handed on: the ping-pong ran meanwhile. A
    // round trip is microseconds; a hundred is a lenient floor even under a
    // sanitizer, and a stall would leave it near zero.
    EXPECT_GE(trips_at_first_return.load() - trips_before, 100) << "the ping-pong stalled while the calls blocked";
  });
  ::close(ep);
  ::sem_destroy(&sem);
}

INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, PreemptTest,
                         ::testing::Values(preempt_mode{1, false}, preempt_mode{2, false}, preempt_mode{1, true},
                                           preempt_mode{2, true}),
                         [](const auto& info) {
                           return "P" + std::to_string(info.param.procs) + (info.param.signal ? "_signal" : "");
                         });

}  // namespace
