// chan_test_util.hpp: helpers shared by the channel, select and sync tests
// (chan_test.cpp, select_test.cpp, sync_test.cpp, chan_stress_test.cpp and
// ../model/chan_model_test.cpp).
//
// Conventions, as proc_test.cpp: the body runs inside gort::run at a given
// GOMAXPROCS; goroutines record what they saw (atomics, or plain variables a
// WaitGroup or the end of run() publishes) and the test asserts after run()
// returns, on its own thread. Every goroutine a test starts is joined before
// the frame it points into goes away.
//
// Also shared with the timer tests (time_test.cpp, time_stress_test.cpp):
// errors.
#pragma once

#include <gtest/gtest.h>

#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/select.hpp>
#include <gort/sync.hpp>
#include <gort/time.hpp>

#include "leak_check.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gort_test {

#if defined(GORT_TSAN) || defined(GORT_ASAN)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// scaled: n normally, n / div under a sanitizer (at least 1).
constexpr long scaled(long n, long div = 10) { return kSanitized ? (n / div > 0 ? n / div : 1) : n; }

// run_procs: run() at GOMAXPROCS procs, then the leak check
// (leak_check.hpp): whatever the test left behind, run()'s end has freed.
inline int run_procs(int procs, std::function<void()> fn) {
  const int rc = gort::run(gort::Config{.maxprocs = procs}, std::move(fn));
  expect_no_leaks();
  return rc;
}

inline std::string procs_name(const ::testing::TestParamInfo<int>& info) { return "P" + std::to_string(info.param); }

// sleep_for: Go's time.Sleep.
inline void sleep_for(std::chrono::microseconds d) { gort::sleep(d); }

// await_round: wait until flag reaches r, for the racing tests whose two
// goroutines hand each other rounds and must run at once for their race to
// happen. It spins with gort::yield while the other side runs. If the other
// side has not come after a few thousand yields, its thread is off the CPU
// (a loaded machine: ctest -j2, a sanitizer, other programs), and spinning
// on would hold this one for the rest of the kernel's time slice every
// round, tens of seconds over a test's rounds: it then sleeps between looks.
inline void await_round(const std::atomic<int>& flag, int r) {
  constexpr int spins = 4096;
  for (int i = 0; flag.load(std::memory_order_acquire) < r; ++i) {
    if (i < spins)
      gort::yield();
    else
      sleep_for(std::chrono::microseconds(20));
  }
}

// spin_until: yields until pred() holds or timeout passes; returns pred().
template <class Pred>
bool spin_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    gort::yield();
  }
  return true;
}

// panic_message: what() of the gort::panic_error f throws, "no panic" if f
// returns, "other exception: ..." for anything else.
template <class F>
std::string panic_message(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const gort::panic_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("other exception: ") + e.what();
  } catch (...) {
    return "other exception";
  }
  return "no panic";
}

// counted: a move-only, non-trivially-copyable element that counts the live
// objects of its type, to see that a channel or a select destroys what it
// holds. Each test resets live first (tests in one process run in sequence).
struct counted {
  static inline std::atomic<long> live{0};
  int v;
  explicit counted(int x) noexcept : v(x) { live.fetch_add(1, std::memory_order_relaxed); }
  counted(counted&& o) noexcept : v(o.v) { live.fetch_add(1, std::memory_order_relaxed); }
  counted(const counted&) = delete;
  // Move-assignable: chan<T>::iterator (range-for) assigns its std::optional<T>.
  counted& operator=(counted&& o) noexcept {
    v = o.v;
    return *this;
  }
  ~counted() { live.fetch_sub(1, std::memory_order_relaxed); }
};

// splitmix64, for seeded pseudo-random choices.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct rng {
  std::uint64_t s;
  explicit rng(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() { return s = mix(s); }
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
  bool chance(int percent) { return below(100) < percent; }
};

// errors: what goroutines saw go wrong, asserted after run() returns.
struct errors {
  std::mutex mu;
  std::vector<std::string> list;
  void add(std::string s) {
    std::lock_guard l(mu);
    list.push_back(std::move(s));
  }
  std::string str() {
    std::lock_guard l(mu);
    std::string s;
    for (std::size_t i = 0; i < list.size() && i < 20; ++i) s += list[i] + "\n";
    if (list.size() > 20) s += "... " + std::to_string(list.size() - 20) + " more\n";
    return s;
  }
  bool empty() {
    std::lock_guard l(mu);
    return list.empty();
  }
};

// select_stress: Go's TestSelectStress (select_test.cpp, and with a bigger N
// chan_stress_test.cpp): on 4 channels (caps 0, 0, 2, 3), 4 plain senders and
// 4 plain receivers, plus one goroutine sending N on each channel in a single
// select and one receiving N on each in a single select; a case whose count
// is done has its channel set to nil. Every count must come out exact.
inline void select_stress(int procs, long N) {
  std::array<long, 4> sel_sent{}, sel_recv{};
  std::array<std::atomic<long>, 4> plain_recv{};
  int rc = run_procs(procs, [&] {
    std::array<gort::chan<int>, 4> c = {gort::make_chan<int>(), gort::make_chan<int>(), gort::make_chan<int>(2),
                                        gort::make_chan<int>(3)};
    gort::WaitGroup wg;
    wg.add(10);
    for (int k = 0; k < 4; ++k) {
      gort::go([&, k] {
        for (long i = 0; i < N; ++i) c[k].send(0);
        wg.done();
      });
      gort::go([&, k] {
        for (long i = 0; i < N; ++i)
          if (c[k].recv()) plain_recv[k].fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    }
    gort::go([&] {
      auto c1 = c;
      auto& n = sel_sent;
      auto sent = [&](int k) {
        return [&, k] {
          if (++n[k] == N) c1[k] = {};
        };
      };
      for (long i = 0; i < 4 * N; ++i)
        gort::select(gort::case_send(c1[3], 0, sent(3)), gort::case_send(c1[2], 0, sent(2)),
                     gort::case_send(c1[0], 0, sent(0)), gort::case_send(c1[1], 0, sent(1)));
      wg.done();
    });
    gort::go([&] {
      auto c1 = c;
      auto& n = sel_recv;
      auto recv = [&](int k) {
        return [&, k](std::optional<int> v) {
          if (v && ++n[k] == N) c1[k] = {};
        };
      };
      for (long i = 0; i < 4 * N; ++i)
        gort::select(gort::case_recv(c1[0], recv(0)), gort::case_recv(c1[1], recv(1)), gort::case_recv(c1[2], recv(2)),
                     gort::case_recv(c1[3], recv(3)));
      wg.done();
    });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(sel_sent[k], N) << "channel " << k;
    EXPECT_EQ(sel_recv[k], N) << "channel " << k;
    EXPECT_EQ(plain_recv[k].load(), N) << "channel " << k;
  }
}

// select2_stress: two-case selects without a default, whose pass 0 runs
// inline before any runtime entry (select.hpp, select_try), on a channel of
// each kind (unbuffered, capacity 2). Per channel one plain sender of N
// values and one plain receiver; two goroutines sending N values each
// through a select of a send on either channel, and two receiving through a
// select of a receive on either, until both are closed (a closed channel's
// case is set to nil). Once every sender is done, both channels close. Every
// value, tagged with its sender, must be received exactly once: a select
// whose inline try took a value and then went on into selectgo would take
// two, one that parked with a case ready would never wake.
inline void select2_stress(int procs, int N) {
  constexpr int kSenders = 4;  // 2 plain, 2 select
  const int total = kSenders * N;
  std::vector<std::atomic<int>> seen(total);
  std::atomic<long> bad{0};
  int rc = run_procs(procs, [&] {
    std::array<gort::chan<int>, 2> c = {gort::make_chan<int>(), gort::make_chan<int>(2)};
    gort::WaitGroup senders, receivers;
    senders.add(kSenders);
    receivers.add(4);
    auto take = [&](std::optional<int> v) {
      if (v && *v >= 0 && *v < total)
        seen[*v].fetch_add(1, std::memory_order_relaxed);
      else if (v)
        bad.fetch_add(1, std::memory_order_relaxed);
    };
    for (int k = 0; k < 2; ++k) {
      gort::go([&, k] {
        for (int i = 0; i < N; ++i) c[k].send(k * N + i);
        senders.done();
      });
      gort::go([&, k] {
        for (int v : c[k]) take(v);
        receivers.done();
      });
      gort::go([&, k] {
        for (int i = 0; i < N; ++i) {
          const int v = (2 + k) * N + i;
          gort::select(gort::case_send(c[0], v), gort::case_send(c[1], v));
        }
        senders.done();
      });
      gort::go([&] {
        std::array<gort::chan<int>, 2> mine = c;
        while (mine[0] || mine[1]) {
          auto on = [&](int j) {
            return [&, j](std::optional<int> v) {
              if (!v) mine[j] = {};
              take(v);
            };
          };
          gort::select(gort::case_recv(mine[0], on(0)), gort::case_recv(mine[1], on(1)));
        }
        receivers.done();
      });
    }
    senders.wait();
    c[0].close();
    c[1].close();
    receivers.wait();
  });
  EXPECT_EQ(rc, 0);
  long not_once = 0;
  for (int v = 0; v < total; ++v) not_once += seen[v].load() != 1;
  EXPECT_EQ(not_once, 0);
  EXPECT_EQ(bad.load(), 0);
}

// close_under_load: n_senders senders of per values each and n_receivers
// receivers on one channel of capacity cap, and a closer that closes it once
// half the values have arrived. Each value is either delivered (its send
// returned) and received exactly once, or its send panicked "send on closed
// channel" and it was never received; once a sender's send has panicked, all
// its later sends panic too. (chan_test.cpp, and bigger in chan_stress_test.cpp.)
inline void close_under_load(int procs, int cap, int kSenders, int kReceivers, int per) {
  const int total = kSenders * per;
  enum : int { unsent = 0, delivered = 1, panicked = 2 };
  std::vector<std::atomic<int>> status(total), received(total);
  std::atomic<long> nrecv{0}, bad_msg{0}, send_after_panic{0}, out_of_range{0};
  int rc = run_procs(procs, [&] {
    auto ch = gort::make_chan<int>(cap);
    gort::WaitGroup wg;
    wg.add(kSenders + kReceivers + 1);
    for (int s = 0; s < kSenders; ++s)
      gort::go([&, ch, s] {
        bool had_panic = false;
        for (int k = 0; k < per; ++k) {
          const int v = s * per + k;
          try {
            ch.send(v);
            status[v].store(delivered);
            if (had_panic) send_after_panic.fetch_add(1);
          } catch (const gort::panic_error& e) {
            status[v].store(panicked);
            had_panic = true;
            if (std::string(e.what()) != "send on closed channel") bad_msg.fetch_add(1);
          }
          if (k % 64 == 0) gort::yield();
        }
        wg.done();
      });
    for (int r = 0; r < kReceivers; ++r)
      gort::go([&, ch] {
        for (int v : ch) {
          if (v < 0 || v >= total) {
            out_of_range.fetch_add(1);
            continue;
          }
          received[v].fetch_add(1);
          nrecv.fetch_add(1);
        }
        wg.done();
      });
    gort::go([&, ch] {
      spin_until([&] { return nrecv.load() >= total / 2; }, std::chrono::seconds(120));
      ch.close();
      wg.done();
    });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  long n_delivered = 0, n_panicked = 0, lost = 0, ghost = 0, dup = 0, unsent_n = 0;
  for (int v = 0; v < total; ++v) {
    const int st = status[v].load(), r = received[v].load();
    if (st == delivered) {
      ++n_delivered;
      if (r == 0) ++lost;
      if (r > 1) ++dup;
    } else if (st == panicked) {
      ++n_panicked;
      if (r != 0) ++ghost;
    } else {
      ++unsent_n;
    }
  }
  SCOPED_TRACE("cap " + std::to_string(cap) + ", " + std::to_string(n_delivered) + " delivered, " +
               std::to_string(n_panicked) + " panicked");
  EXPECT_EQ(unsent_n, 0);
  EXPECT_EQ(lost, 0) << "values whose send returned but never received";
  EXPECT_EQ(dup, 0) << "values received twice";
  EXPECT_EQ(ghost, 0) << "values whose send panicked but were received";
  EXPECT_EQ(bad_msg.load(), 0);
  EXPECT_EQ(send_after_panic.load(), 0) << "a send succeeded after an earlier send saw the channel closed";
  EXPECT_EQ(out_of_range.load(), 0);
  EXPECT_EQ(nrecv.load(), n_delivered);
  EXPECT_GE(n_delivered, total / 2);
}

// multi_consumer: Go's TestMultiConsumer: 23 workers range over a queue and
// forward each value; the feeder closes the queue, waits for the workers,
// closes the results; every value arrives once (count and sum).
inline void multi_consumer(int procs, int niter) {
  constexpr int nwork = 23;
  const int pn[] = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
  long n = 0, s = 0, expect = 0;
  int rc = run_procs(procs, [&] {
    auto q = gort::make_chan<int>(nwork * 3);
    auto r = gort::make_chan<int>(nwork * 3);
    gort::WaitGroup wg;
    for (int i = 0; i < nwork; ++i) {
      wg.add(1);
      gort::go([&, q, r, i] {
        for (int v : q) {
          if (pn[i % 10] == v) gort::yield();  // mess with the FIFO-ish nature of range
          r.send(v);
        }
        wg.done();
      });
    }
    gort::WaitGroup feeder;
    feeder.add(1);
    gort::go([&, q, r] {
      for (int i = 0; i < niter; ++i) {
        int v = pn[i % 10];
        expect += v;
        q.send(v);
      }
      q.close();
      wg.wait();
      r.close();
      feeder.done();
    });
    for (int v : r) {
      ++n;
      s += v;
    }
    feeder.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(n, niter);
  EXPECT_EQ(s, expect);
}

}  // namespace gort_test
