// netpoll_test.cpp: the netpoller's hooks (src/runtime/netpoll.hpp) driven
// directly on pipes, below the net library, as internal/poll drives Go's:
// a parked reader is woken by data, by a deadline (set before or while it
// waits, moved, cleared), by poll_unblock; readiness that arrives before
// the park is not lost; the scheduler's poll runs goroutines readied from
// outside the runtime; a program waiting only on I/O is no deadlock, nor
// one whose readied I/O sysmon's poll holds for a moment; a
// spinning goroutine at GOMAXPROCS=1 does not keep I/O from progressing;
// a burst of long readers spreads over the Ps. Each case runs at GOMAXPROCS
// 1 and 2, but sysmon's poll (1 only) and the last (2 only).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "gort/gort.hpp"
#include "runtime/export_test.hpp"
#include "runtime/lock_futex.hpp"
#include "runtime/netpoll.hpp"
#include "runtime/preempt.hpp"

namespace {

using namespace gort::rt;
using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

// Bounds that only catch a wake-up that never comes: a loaded CI machine
// under TSan may be slow, never this slow.
constexpr auto hang = std::chrono::seconds(10);

std::int64_t ns_from_now(std::chrono::nanoseconds d) { return nanotime() + d.count(); }

// The hooks are the runtime's inside: called, as the fd layer calls them,
// within an entry_guard, so that sysmon cannot take the P
// in the middle of a park (preempt.hpp).
template <class F>
auto in_runtime(F f) {
  entry_guard e(getg());
  return f();
}
void set_deadline(poll_desc* pd, std::int64_t d, int mode) {
  in_runtime([=] { poll_set_deadline(pd, d, mode); });
}
int reset(poll_desc* pd, int mode) {
  return in_runtime([=] { return poll_reset(pd, mode); });
}

// A non-blocking pipe registered with the poller (its read end).
struct polled_pipe {
  int r = -1, w = -1;
  poll_desc* pd = nullptr;
  polled_pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
    pd = poll_open(r);
    EXPECT_NE(pd, nullptr) << "errno " << errno;
  }
  ~polled_pipe() {
    if (pd)
      in_runtime([this] {
        poll_unblock(pd);
        poll_close(pd);
      });
    close(r);
    close(w);
  }
  void put(char c) const { EXPECT_EQ(write(w, &c, 1), 1); }
  // read_one: internal/poll's read loop: reset, read, park on EAGAIN.
  // Returns the byte, or -1 - the poll error.
  int read_one() const {
    entry_guard guard(getg());
    if (int e = poll_reset(pd, 'r')) return -1 - e;
    for (;;) {
      char c;
      if (read(r, &c, 1) == 1) return static_cast<unsigned char>(c);
      EXPECT_EQ(errno, EAGAIN);
      if (int e = poll_wait(pd, 'r')) return -1 - e;
    }
  }
};
constexpr int timed_out = -1 - poll_err_timeout;
constexpr int closed = -1 - poll_err_closing;

class NetpollTest : public ::testing::TestWithParam<int> {
 protected:
  void run(std::function<void()> f) { gort::run(gort::Config{.maxprocs = GetParam()}, std::move(f)); }
};

TEST_P(NetpollTest, DataWakesParkedReader) {
  run([] {
    polled_pipe p;
    auto got = gort::make_chan<int>(1);
    for (int round = 0; round < 100; ++round) {
      gort::go([&p, got] { got.send(p.read_one()); });
      gort::yield();  // let it park (or not: either way nothing is lost)
      p.put(static_cast<char>('a' + round % 26));
      EXPECT_EQ(got.recv(), 'a' + round % 26);
    }
  });
}

// Readiness that arrives while nobody waits is kept (pd_ready) for the
// next wait, which returns at once: no read in between (read_one's
// poll_reset would forget it, rightly, since its read sees the data
// itself), and a deadline so that a lost readiness ends as a timeout.
TEST_P(NetpollTest, ReadinessBeforeWaitIsNotLost) {
  run([] {
    polled_pipe p;
    EXPECT_EQ(reset(p.pd, 'r'), poll_no_error);
    p.put('x');
    gort::sleep(milliseconds(5));  // an M polls and marks the descriptor ready
    set_deadline(p.pd, ns_from_now(milliseconds(500)), 'r');
    EXPECT_EQ(in_runtime([&] { return poll_wait(p.pd, 'r'); }), poll_no_error);
  });
}

// sysmon polls when no M has for 10 ms: here main spins on the only P, so
// no M polls (at GOMAXPROCS 2 an idle M may sit in netpoll and find the
// reader itself), and a P sysmon hands on after 20 ms comes later (and
// sysmon polls first in its round): only sysmon's poll can find the reader.
// What it finds is in its hands until it has made it runnable; an M that
// goes idle meanwhile must still see those Gs waiting on I/O, and block in
// netpoll rather than report a deadlock (checkdead; Go's issue 61454 was
// this). Checked builds hold sysmon's gap open for 20 ms (sysmon.cpp), in
// which main stops spinning and parks, the last G to; other builds have a
// gap of a few instructions, which main's park rarely lands in.
TEST_P(NetpollTest, SysmonPollIsNoDeadlock) {
  if (GetParam() != 1) GTEST_SKIP() << "an idle P's M may poll instead of sysmon";
  run([] {
    polled_pipe p;
    auto got = gort::make_chan<int>();
    gort::go([&p, got] { got.send(p.read_one()); });
    gort::sleep(milliseconds(1));  // the reader parks
    const std::uint64_t polls = sysmon_netpolls();
    p.put('m');
    const auto end = clock_type::now() + hang;
    while (sysmon_netpolls() == polls && clock_type::now() < end) {
    }
    EXPECT_GT(sysmon_netpolls(), polls) << "sysmon's poll never found the reader";
    EXPECT_EQ(got.recv(), 'm');
  });
}

// A thread the runtime did not start makes the fd ready: the scheduler's
// poll (an idle M blocked in epoll_wait) runs the reader. Main waits on
// nothing else, which is no deadlock.
TEST_P(NetpollTest, ForeignWriterNoDeadlock) {
  run([] {
    polled_pipe p;
    std::thread writer([&p] {
      std::this_thread::sleep_for(milliseconds(50));
      p.put('t');
    });
    EXPECT_EQ(p.read_one(), 't');
    writer.join();
  });
}

TEST_P(NetpollTest, DeadlineWakesParkedReader) {
  run([] {
    polled_pipe p;
    const auto t0 = clock_type::now();
    set_deadline(p.pd, ns_from_now(milliseconds(30)), 'r');
    EXPECT_EQ(p.read_one(), timed_out);
    const auto took = clock_type::now() - t0;
    EXPECT_GE(took, milliseconds(30));
    EXPECT_LT(took, hang);
    // Expired, it stays so: the next attempt fails at once.
    EXPECT_EQ(reset(p.pd, 'r'), poll_err_timeout);
    // Cleared, the reader waits for data again.
    set_deadline(p.pd, 0, 'r');
    gort::go([&p] {
      gort::sleep(milliseconds(5));
      p.put('d');
    });
    EXPECT_EQ(p.read_one(), 'd');
  });
}

TEST_P(NetpollTest, DeadlineInThePastFailsAtOnce) {
  run([] {
    polled_pipe p;
    set_deadline(p.pd, nanotime() - 1, 'r');
    EXPECT_EQ(reset(p.pd, 'r'), poll_err_timeout);
    EXPECT_EQ(reset(p.pd, 'w'), poll_no_error);  // the other direction is unaffected
  });
}

// A deadline moved while the reader waits: first far out, then near (it
// fires), and one moved away before it fires does not fire (its timer's
// seq is stale).
TEST_P(NetpollTest, DeadlineMovedWhileWaiting) {
  run([] {
    polled_pipe p;
    auto got = gort::make_chan<int>(1);
    set_deadline(p.pd, ns_from_now(std::chrono::hours(1)), 'r');
    gort::go([&p, got] { got.send(p.read_one()); });
    gort::sleep(milliseconds(5));
    set_deadline(p.pd, ns_from_now(milliseconds(10)), 'r');
    EXPECT_EQ(got.recv(), timed_out);

    set_deadline(p.pd, ns_from_now(milliseconds(20)), 'r');
    gort::go([&p, got] { got.send(p.read_one()); });
    set_deadline(p.pd, ns_from_now(std::chrono::hours(1)), 'r');
    gort::sleep(milliseconds(60));  // past the first deadline: it must not fire
    p.put('m');
    EXPECT_EQ(got.recv(), 'm');
  });
}

// One timer serves both directions when the deadlines are equal; splitting
// them again re-arms each.
TEST_P(NetpollTest, CombinedDeadline) {
  run([] {
    polled_pipe p;
    set_deadline(p.pd, ns_from_now(milliseconds(15)), 'r' + 'w');
    EXPECT_EQ(p.read_one(), timed_out);
    EXPECT_EQ(reset(p.pd, 'w'), poll_err_timeout);
    set_deadline(p.pd, 0, 'r' + 'w');
    set_deadline(p.pd, ns_from_now(milliseconds(10)), 'r');
    EXPECT_EQ(p.read_one(), timed_out);
    EXPECT_EQ(reset(p.pd, 'w'), poll_no_error);
  });
}

TEST_P(NetpollTest, UnblockWakesParkedReader) {
  run([] {
    polled_pipe p;
    auto got = gort::make_chan<int>(1);
    gort::go([&p, got] { got.send(p.read_one()); });
    gort::sleep(milliseconds(5));
    in_runtime([&p] { poll_unblock(p.pd); });
    EXPECT_EQ(got.recv(), closed);
    EXPECT_EQ(reset(p.pd, 'r'), poll_err_closing);
    in_runtime([&p] { poll_close(p.pd); });
    p.pd = nullptr;
  });
}

// Many descriptors at once: each of n readers parks on its own pipe, the
// writers fill them in reverse order, every reader gets its own byte.
TEST_P(NetpollTest, ManyParkedReaders) {
  run([] {
    constexpr int n = 200;
    std::vector<std::unique_ptr<polled_pipe>> pipes;
    for (int i = 0; i < n; ++i) pipes.push_back(std::make_unique<polled_pipe>());
    std::atomic<int> ok{0};
    gort::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i)
      gort::go([&, i] {
        if (pipes[i]->read_one() == i % 200) ok.fetch_add(1);
        wg.done();
      });
    gort::sleep(milliseconds(5));
    for (int i = n - 1; i >= 0; --i) pipes[i]->put(static_cast<char>(i % 200));
    wg.wait();
    EXPECT_EQ(ok.load(), n);
  });
}

// At GOMAXPROCS=1 a goroutine spinning without runtime calls has its P
// taken after about 20 ms (preempt.cpp); I/O readied meanwhile runs.
TEST_P(NetpollTest, SpinnerDoesNotStarveIO) {
  run([] {
    polled_pipe p;
    std::atomic<bool> stop{false};
    gort::WaitGroup spun;  // main's frame, which stop lives in, outlasts the spinner
    spun.add(1);
    gort::go([&stop, &spun] {
      const auto end = clock_type::now() + hang;
      while (!stop.load(std::memory_order_relaxed) && clock_type::now() < end) {
      }
      spun.done();
    });
    gort::yield();  // the spinner takes the P (at P1)
    std::thread writer([&p] {
      std::this_thread::sleep_for(milliseconds(30));
      p.put('s');
    });
    const auto t0 = clock_type::now();
    EXPECT_EQ(p.read_one(), 's');
    EXPECT_LT(clock_type::now() - t0, hang / 2);
    stop.store(true);
    writer.join();
    spun.wait();
  });
}

// Gs a poll readies stay on the poller's P (proc.cpp, "Gs readied by the
// network"), and another P is woken for them only if they still wait 1 ms
// later. A burst of readers that each run 5 ms, shorter than a time slice,
// must still spread over both Ps: they must not all run on one thread.
TEST(NetpollSpreadTest, LongHandlersSpreadOverPs) {
  constexpr int n = 40;
  std::atomic<int> ok{0};
  std::mutex mu;
  std::set<long> threads;
  gort::run(gort::Config{.maxprocs = 2}, [&] {
    std::vector<std::unique_ptr<polled_pipe>> pipes;
    for (int i = 0; i < n; ++i) pipes.push_back(std::make_unique<polled_pipe>());
    gort::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i)
      gort::go([&, i] {
        if (pipes[i]->read_one() == 'x') ok.fetch_add(1);
        const auto end = clock_type::now() + milliseconds(5);
        while (clock_type::now() < end) {
        }
        {
          std::lock_guard l(mu);
          threads.insert(syscall(SYS_gettid));
        }
        wg.done();
      });
    gort::sleep(milliseconds(5));  // let them park
    std::thread writer([&] {
      for (auto& p : pipes) p->put('x');
    });
    wg.wait();
    writer.join();
  });
  EXPECT_EQ(ok.load(), n);
  EXPECT_GE(threads.size(), 2u) << "every reader ran on one thread";
}

INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, NetpollTest, ::testing::Values(1, 2),
                         [](const auto& info) { return "P" + std::to_string(info.param); });

}  // namespace
