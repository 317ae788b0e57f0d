// syscall_test.cpp: lock_os_thread and blocking(), as Go's proc_test.go
// (TestLockOSThread*) and the syscall tests exercise LockOSThread and
// entersyscall/exitsyscall.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "gort/gort.hpp"
#include "runtime/export_test.hpp"
#include "thread_state.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

class SyscallTest : public ::testing::TestWithParam<int> {};

// move_control runs locked(mv, more), a goroutine's body that steps
// through mv (yields and hops, mover::step) while more(i) says so, beside
// four controls: goroutines that are not locked, stepping as well, which
// must change threads, or the steps prove nothing about the lock (from
// two Ps; with one, threads change too seldom to ask). more(i): i < 300,
// or the controls have not moved yet and i < 6000; they step as long.
void move_control(int procs, const std::function<void(mover&, const std::function<bool(int)>&)>& locked) {
  constexpr int controls = 4;
  mover mv;
  mv.start();
  std::atomic<long> moves{0};
  const auto more = [&](int i) { return i < 300 || (i < 6000 && moves.load() == 0); };
  gort::WaitGroup done;
  done.add(1 + controls);
  gort::go([&] {
    locked(mv, more);
    done.done();
  });
  for (int c = 0; c < controls; ++c)
    gort::go([&] {
      for (int i = 0; more(i); ++i) mv.step(i, moves);
      done.done();
    });
  done.wait();
  mv.stop();
  if (procs > 1) {
    EXPECT_GT(moves.load(), 0) << "the steps moved no goroutine that was not locked";
  }
}

// A locked goroutine stays on its thread across parks and yields, and the
// other goroutines keep running meanwhile (on other threads).
TEST_P(SyscallTest, LockOSThread) {
  gort::run(gort::Config{.maxprocs = GetParam()}, [] {
    std::atomic<long> others{0};
    std::atomic<bool> stop{false};
    gort::WaitGroup workers;
    workers.add(4);
    for (int i = 0; i < 4; ++i)
      gort::go([&] {
        while (!stop.load()) {
          others.fetch_add(1);
          gort::yield();
        }
        workers.done();
      });

    move_control(GetParam(), [](mover& mv, const auto& more) {
      gort::lock_os_thread();
      const auto tid = opaque_thread_id();
      std::atomic<long> moves{0};
      for (int i = 0; more(i); ++i) mv.step(i, moves);  // yields, and parks woken from other threads
      EXPECT_EQ(opaque_thread_id(), tid);
      EXPECT_EQ(moves.load(), 0) << "the locked goroutine changed threads";
      gort::unlock_os_thread();
    });
    stop.store(true);
    workers.wait();
    EXPECT_GT(others.load(), 0);
  });
}

// A locked goroutine that parks must hand its P over (stoplockedm): it
// starts its waker on that P, and nothing else could run it. At more than
// one P, goroutines spinning in their own code hold the others, and sysmon
// takes none of them (asyncpreemptoff=1), so a waker that ran before they
// gave up (a hang guard) ran on the P the park handed over.
TEST_P(SyscallTest, LockOSThreadParkedHandsOffP) {
  const int hogs = GetParam() - 1;
  const auto give_up = clock_type::now() + std::chrono::seconds(20);
  std::atomic<int> spinning{0}, gave_up{0};
  std::atomic<bool> woken{false};
  ::setenv("GODEBUG", "asyncpreemptoff=1", 1);
  gort::run(gort::Config{.maxprocs = GetParam()}, [&] {
    gort::WaitGroup done;
    done.add(hogs + 1);
    for (int i = 0; i < hogs; ++i)
      gort::go([&] {
        spinning.fetch_add(1);
        while (!woken.load())
          if (clock_type::now() > give_up) {
            gave_up.fetch_add(1);
            break;
          }
        done.done();
      });
    // Spinning, not parked: main keeps its P until every hog has one.
    while (spinning.load() < hogs && clock_type::now() < give_up) {
    }
    gort::go([&] {
      gort::lock_os_thread();
      const auto tid = opaque_thread_id();
      gort::WaitGroup wake;
      wake.add(1);
      gort::go([&] { wake.done(); });  // on this goroutine's P
      wake.wait();
      EXPECT_EQ(opaque_thread_id(), tid);
      woken.store(true);
      gort::unlock_os_thread();
      done.done();
    });
    done.wait();
  });
  ::unsetenv("GODEBUG");
  EXPECT_EQ(spinning.load(), hogs);
  EXPECT_EQ(gave_up.load(), 0) << "the waker ran only once the goroutines holding the other Ps gave up";
}

// Nested locks: the goroutine stays wired until the last unlock (Go's
// LockOSThread nesting since 1.10).
TEST_P(SyscallTest, LockOSThreadNesting) {
  gort::run(gort::Config{.maxprocs = GetParam()}, [] {
    move_control(GetParam(), [](mover& mv, const auto& more) {
      gort::lock_os_thread();
      gort::lock_os_thread();
      const auto tid = opaque_thread_id();
      gort::unlock_os_thread();
      std::atomic<long> moves{0};
      for (int i = 0; more(i); ++i) mv.step(i, moves);
      EXPECT_EQ(opaque_thread_id(), tid);
      EXPECT_EQ(moves.load(), 0) << "the goroutine, still locked once, changed threads";
      gort::unlock_os_thread();
      gort::unlock_os_thread();  // one too many: ignored, as in Go
    });
  });
}

// blocking(): with one P, a goroutine blocked in a system call does not stop
// another from running.
TEST_P(SyscallTest, BlockingDoesNotStall) {
  gort::run(gort::Config{.maxprocs = GetParam()}, [] {
    std::atomic<bool> blocked_done{false};
    std::atomic<long> progress{0};
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {
      int r = gort::blocking([] {
        usleep(300 * 1000);
        return 7;
      });
      EXPECT_EQ(r, 7);
      blocked_done.store(true);
      wg.done();
    });
    gort::go([&] {
      while (!blocked_done.load()) {
        progress.fetch_add(1);
        gort::yield();
      }
      wg.done();
    });
    wg.wait();
    EXPECT_GT(progress.load(), 100) << "the other goroutine was stalled by the blocking call";
  });
}

// blocking() returns f's result, rethrows f's exception, and keeps errno.
TEST_P(SyscallTest, BlockingResultExceptionErrno) {
  gort::run(gort::Config{.maxprocs = GetParam()}, [] {
    EXPECT_EQ(gort::blocking([] { return std::string("ok"); }), "ok");
    EXPECT_THROW(gort::blocking([]() -> int { throw std::runtime_error("io"); }), std::runtime_error);
    int rc = gort::blocking([] { return ::close(-1); });
    EXPECT_EQ(rc, -1);
    EXPECT_EQ(gort::last_errno(), EBADF);
    gort::blocking([] {});  // void
  });
}

// Many goroutines in blocking() at once run on their own threads: all n
// calls are inside f at the same time. Each f waits (blocking its thread)
// until all n have arrived; calls run one after another would never get
// there, and the first would give up after 30 s, a hang guard only. (This
// test once bounded the batch's time at half the calls' sum: under TSan,
// where each new M's thread costs a TSan thread context, beside two busy
// loops it took 832-981 ms of the 800 allowed at P1 and P2.)
TEST_P(SyscallTest, BlockingInParallel) {
  constexpr int n = 32;
  int most = 0;  // the most calls inside f at once
  gort::run(gort::Config{.maxprocs = GetParam()}, [&] {
    std::mutex mu;
    std::condition_variable cv;
    int inside = 0;
    gort::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i)
      gort::go([&] {
        gort::blocking([&] {
          std::unique_lock l(mu);
          most = std::max(most, ++inside);
          cv.notify_all();
          cv.wait_for(l, std::chrono::seconds(30), [&] { return most == n; });
          --inside;
        });
        wg.done();
      });
    wg.wait();
    EXPECT_GT(gort::stats().threads, 2u);
  });
  EXPECT_EQ(most, n) << "blocking calls ran one after another: at most " << most << " of " << n << " at once";
}

// Short blocking() calls keep their P (Psyscall) and take it back on
// return (Go's entersyscall/exitsyscallfast): no hand-off per call, so no
// new threads for them. sysmon hands the P off only if it sees one call in
// two of its rounds, 20 us apart at least (or in the round that ends a
// 10 ms time slice): a call of a microsecond loses its P only when the OS
// stops its thread inside it, which a loaded machine does about once per
// time slice (a millisecond or so), not every few calls. Calls made after
// sysmon took the P from the loop itself (20 ms without a new time slice:
// blocking() ends none) have no P to keep, and are not counted.
TEST_P(SyscallTest, ShortBlockingKeepsP) {
  constexpr std::uint64_t calls = 20000;
  std::uint64_t keeps = 0, without_p = 0;
  std::size_t threads = 0;
  gort::run(gort::Config{.maxprocs = GetParam()}, [&] {
    const std::uint64_t keeps0 = gort::rt::syscall_keeps();
    for (std::uint64_t i = 0; i < calls; ++i) {
      if (gort::rt::held_p_taken()) ++without_p;
      EXPECT_GT(gort::blocking([] { return ::getpid(); }), 0);
    }
    keeps = gort::rt::syscall_keeps() - keeps0;
    threads = gort::stats().threads;
  });
  const std::uint64_t with_p = calls - without_p, handoffs = with_p - std::min(keeps, with_p);
  EXPECT_LE(handoffs, with_p / 4) << handoffs << " of " << with_p << " calls came back to find their P handed off";
  // m0, sysmon, a few Ms woken for the other Ps, and a few more when the OS
  // descheduled a caller long enough for sysmon to retake its P (a loaded
  // machine): nothing like a thread per call.
  EXPECT_LE(threads, static_cast<std::size_t>(GetParam()) + 8);
}

// sysmon ends a time slice after 10 ms: goroutines looping on maybe_yield()
// on every P still let main, woken by its timer, run and stop them.
TEST_P(SyscallTest, MaybeYieldIsPreempted) {
  std::atomic<bool> stop{false};
  const auto start = clock_type::now();
  bool gave_up = false;
  gort::run(gort::Config{.maxprocs = GetParam()}, [&] {
    gort::WaitGroup wg;
    wg.add(GetParam());
    for (int i = 0; i < GetParam(); ++i)
      gort::go([&] {
        while (!stop.load()) {
          if (clock_type::now() - start > std::chrono::seconds(10)) {
            gave_up = true;
            break;
          }
          gort::maybe_yield();
        }
        wg.done();
      });
    gort::sleep(std::chrono::milliseconds(20));  // the spinners take every P
    stop.store(true);
    wg.wait();
  });
  EXPECT_FALSE(gave_up) << "the spinning goroutines were never preempted";
  EXPECT_LT(clock_type::now() - start, std::chrono::seconds(2));
}

// fork() in a goroutine, while other goroutines keep the other Ps busy.
// wait_child reaps pid from inside blocking(), killing it if it has not
// exited within a bound that only a hang reaches; -1 for a hang.
int wait_child(pid_t pid) {
  return gort::blocking([pid] {
    const auto deadline = clock_type::now() + std::chrono::seconds(20);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (clock_type::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return -1;
      }
      ::usleep(1000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  });
}

template <class Child>
void fork_beside_busy_goroutines(int procs, int rounds, Child child_then_parent) {
  gort::run(gort::Config{.maxprocs = procs}, [&] {
    std::atomic<bool> stop{false};
    gort::WaitGroup busy;
    busy.add(procs);
    for (int i = 0; i < procs; ++i)
      gort::go([&] {
        while (!stop.load()) gort::sleep(std::chrono::microseconds(50));  // timers and parks in flight
        busy.done();
      });
    for (int r = 0; r < rounds; ++r) child_then_parent(r);
    stop.store(true);
    busy.wait();
  });
}

// What Go supports (ForkExec), and a child that only _exits, keep working.
TEST_P(SyscallTest, ForkThenExecOrExit) {
  fork_beside_busy_goroutines(GetParam(), 10, [](int r) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      if (r % 2 == 0) ::execl("/bin/sh", "sh", "-c", "exit 7", static_cast<char*>(nullptr));
      ::_exit(7);
    }
    EXPECT_EQ(wait_child(pid), 7) << "round " << r;
  });
}

// A child that waits in the runtime (here a sleep) stops with a clear fatal
// error instead of hanging (it hung in 4 runs of 45 before).
TEST_P(SyscallTest, ForkedChildUsingRuntimeFails) {
  fork_beside_busy_goroutines(GetParam(), 10, [](int r) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(fds[1], 2);
      gort::sleep(std::chrono::milliseconds(1));
      ::_exit(0);  // not reached
    }
    ::close(fds[1]);
    const int status = wait_child(pid);
    std::string err;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    EXPECT_EQ(status, 2) << "round " << r << (status == -1 ? ": the child hung" : "") << "\n" << err.substr(0, 2000);
    EXPECT_NE(err.find("fatal error: gort used in a child process after fork()"), std::string::npos)
        << "round " << r << "\n"
        << err.substr(0, 2000);
  });
}

INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, SyscallTest, ::testing::Values(1, 2, 4),
                         [](const auto& info) { return "P" + std::to_string(info.param); });

}  // namespace
