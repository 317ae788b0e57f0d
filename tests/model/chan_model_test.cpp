// chan_model_test.cpp: a randomized model-based test of channels, select and
// close (label model, so CI runs it under TSan and ASan too).
//
// Each seed makes a random program: 2..4 channels of random capacity 0..3
// and 2..4 goroutines, each running a fixed random sequence of operations:
// send, receive, select (1..3 cases, sends and receives on random channels,
// now and then a nil channel's case, sometimes a default; run through the
// run-time-sized gort::select), and rarely close. Sends and receives balance
// per channel, so most programs get far before they block. Every value is unique:
// (sender, channel, sequence number), and carries a heap box holding its id,
// so that a value lost, duplicated or torn shows under ASan and in the checks.
//
// Termination: main watches the goroutines' progress; when they are all done,
// or nothing has moved for a while (they are blocked on each other), or at a
// random point chosen by the seed, it closes every channel. A close wakes
// every parked sender (which panics) and receiver (nullopt), and after it
// every operation completes at once, so each goroutine finishes its sequence.
// main then drains what is still buffered.
//
// Checked, per seed:
//   - no value lost or duplicated: the values whose send completed (plain
//     send returned, or the select chose that send case) are exactly the
//     values received, by the goroutines or the final drain, each once; a
//     send that panicked or a send case not chosen delivered nothing;
//   - FIFO per (sender, channel): each receiver sees increasing sequence
//     numbers, and whatever the drain finds comes after everything received
//     before it;
//   - close: a receive yields nullopt only after a close has begun, and once
//     one has, nothing is left for the drain; a send that began after a
//     close had returned panics "send on closed channel"; a panicking send
//     only happens once a close has begun; each channel is closed exactly
//     once, the other closes panic "close of closed channel";
//   - every element is destroyed once the channels are gone.
// Seeds run at GOMAXPROCS 1, 2 and 4; fewer under sanitizers.
#include <gtest/gtest.h>

#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/select.hpp>
#include <gort/sync.hpp>

#include "../runtime/chan_test_util.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

// Fewer programs where each is slow: under the sanitizers, and under
// qemu-user, whose own heap grows by some 25 MB a run() (qemu 7.2; the
// test's own memory natively is 5 MB for all 500 runs): 500 runs at each of
// two GOMAXPROCS side by side took 25 GB, and the OOM killer stopped one.
#if defined(GORT_TSAN) || defined(GORT_ASAN) || defined(GORT_EMULATED)
constexpr int kSeeds = 80;
#else
constexpr int kSeeds = 500;
#endif

using gort_test::rng;

// ---- the element ------------------------------------------------------------------

struct mval {
  static inline std::atomic<long> live{0};
  std::uint64_t id;
  std::unique_ptr<std::uint64_t> box;
  explicit mval(std::uint64_t i) : id(i), box(std::make_unique<std::uint64_t>(i)) {
    live.fetch_add(1, std::memory_order_relaxed);
  }
  mval(mval&& o) noexcept : id(o.id), box(std::move(o.box)) { live.fetch_add(1, std::memory_order_relaxed); }
  mval& operator=(mval&& o) noexcept {
    id = o.id;
    box = std::move(o.box);
    return *this;
  }
  ~mval() { live.fetch_sub(1, std::memory_order_relaxed); }
  bool intact() const { return box && *box == id; }
};

constexpr std::uint64_t make_id(int g, int ch, std::uint32_t seq) {
  return static_cast<std::uint64_t>(g) << 40 | static_cast<std::uint64_t>(ch) << 32 | seq;
}
constexpr int id_g(std::uint64_t id) { return static_cast<int>(id >> 40); }
constexpr int id_ch(std::uint64_t id) { return static_cast<int>((id >> 32) & 0xff); }
constexpr std::uint32_t id_seq(std::uint64_t id) { return static_cast<std::uint32_t>(id); }

// ---- programs ---------------------------------------------------------------------

struct case_spec {
  bool is_send;
  int ch;  // -1: the nil channel
};

struct op {
  enum kind { send, recv, select, close } k;
  int ch = 0;                   // send, recv, close
  std::vector<case_spec> cases; // select
  bool has_default = false;     // select
};

struct program {
  std::vector<int> caps;
  std::vector<std::vector<op>> g;
  long close_at = -1;  // main closes everything once progress reaches this; -1: when done or stalled
};

// generate makes a program whose sends and receives balance per channel
// (for each send somewhere, a receive on the same channel somewhere), dealt
// out in random order to the goroutines, so that most programs run a good
// way before they finish or block; about a third of the operations become
// selects with extra random cases.
program generate(std::uint64_t seed) {
  rng r(seed * 0x2545F4914F6CDD1Dull + 1);
  program p;
  const int nch = 2 + r.below(3);
  for (int c = 0; c < nch; ++c) p.caps.push_back(r.below(4));
  const int ng = 2 + r.below(3);
  p.g.resize(ng);
  const int pairs = ng * (3 + r.below(12));
  auto random_case = [&] { return case_spec{r.chance(50), r.chance(10) ? -1 : r.below(nch)}; };
  std::vector<op> all;
  for (int i = 0; i < pairs; ++i) {
    const int c = r.below(nch);
    for (bool is_send : {true, false}) {
      op o{};
      o.ch = c;
      if (!is_send && r.chance(50)) {
        // Receive from any channel: ready whenever something is buffered or
        // a sender waits anywhere, which keeps most programs going.
        o.k = op::select;
        for (int k = 0; k < nch; ++k)
          o.cases.insert(o.cases.begin() + r.below(static_cast<int>(o.cases.size()) + 1), case_spec{false, k});
        if (r.chance(25)) o.cases.insert(o.cases.begin() + r.below(nch + 1), random_case());
        o.has_default = r.chance(10);
      } else if (r.chance(30)) {
        o.k = op::select;
        o.cases.push_back(case_spec{is_send, c});
        for (int extra = r.below(3); extra > 0; --extra)
          o.cases.insert(o.cases.begin() + r.below(static_cast<int>(o.cases.size()) + 1), random_case());
        o.has_default = r.chance(25);
      } else {
        o.k = is_send ? op::send : op::recv;
      }
      all.push_back(std::move(o));
    }
  }
  // Closes: none, one or two.
  const int closes = r.chance(50) ? 0 : (r.chance(70) ? 1 : 2);
  for (int k = 0; k < closes; ++k) {
    op o{};
    o.k = op::close;
    o.ch = r.below(nch);
    all.insert(all.begin() + r.below(static_cast<int>(all.size()) + 1), std::move(o));
  }
  for (std::size_t i = all.size(); i > 1; --i)
    std::swap(all[i - 1], all[static_cast<std::size_t>(r.below(static_cast<int>(i)))]);
  for (op& o : all) p.g[r.below(ng)].push_back(std::move(o));
  if (r.chance(30)) p.close_at = r.below(static_cast<int>(all.size()));
  return p;
}

// ---- running one program ------------------------------------------------------------

enum class outcome : unsigned char { delivered, panicked, not_chosen };

// What one goroutine saw; touched only by it until the WaitGroup publishes it.
struct record {
  std::vector<std::pair<std::uint64_t, outcome>> sends;  // every value it made
  std::vector<std::uint64_t> received;                   // in order
  std::vector<int> nullopt_on;                           // channels it got nullopt from
  std::vector<int> closed_ok;                            // channels it closed
  std::vector<std::string> errors;
};

struct shared_state {
  explicit shared_state(int nch) : close_started(nch), close_done(nch) {}
  std::vector<std::atomic<bool>> close_started;  // set before a close begins
  std::vector<std::atomic<bool>> close_done;     // set after a close returned
  std::atomic<long> progress{0};
  std::atomic<int> finished{0};
};

struct result {
  std::vector<record> recs;            // per goroutine, then main's helping and closes, then the drain
  std::vector<int> closes_ok;          // per channel
  std::vector<std::size_t> len_after;  // per channel, after the drain
  long live_at_end = -1;
  bool stalled = false;
  long helps = 0;
};

// actor: one goroutine's side of the program (a worker's, or main's when it
// helps a stalled program along); step(o) performs one operation and checks
// what can be checked at once.
struct actor {
  int gi;
  const std::vector<gort::chan<mval>>& chans;
  shared_state& st;
  record& rec;
  const gort::chan<mval> nil{};
  std::vector<std::uint32_t> seq = std::vector<std::uint32_t>(chans.size(), 0);

  const gort::chan<mval>& chan_of(int c) const { return c < 0 ? nil : chans[c]; }
  void got_value(int c, std::optional<mval>& v) {
    if (!v) {
      rec.nullopt_on.push_back(c);
      if (!st.close_started[c].load())
        rec.errors.push_back("nullopt from channel " + std::to_string(c) + " before any close");
      return;
    }
    if (!v->intact()) rec.errors.push_back("a torn value");
    if (id_ch(v->id) != c) rec.errors.push_back("a value sent on another channel");
    rec.received.push_back(v->id);
  }

  void step(const op& o) {
    switch (o.k) {
      case op::send: {
        const std::uint64_t id = make_id(gi, o.ch, seq[o.ch]++);
        const bool closed_before = st.close_done[o.ch].load();
        try {
          chans[o.ch].send(mval(id));
          rec.sends.emplace_back(id, outcome::delivered);
          if (closed_before) rec.errors.push_back("a send began after close returned and did not panic");
        } catch (const gort::panic_error& e) {
          rec.sends.emplace_back(id, outcome::panicked);
          if (std::string(e.what()) != "send on closed channel")
            rec.errors.push_back(std::string("send panicked: ") + e.what());
          if (!st.close_started[o.ch].load()) rec.errors.push_back("a send panicked with no close begun");
        }
        break;
      }
      case op::recv: {
        std::optional<mval> v = chans[o.ch].recv();
        got_value(o.ch, v);
        break;
      }
      case op::close: {
        st.close_started[o.ch].store(true);
        try {
          chans[o.ch].close();
          st.close_done[o.ch].store(true);
          rec.closed_ok.push_back(o.ch);
        } catch (const gort::panic_error& e) {
          if (std::string(e.what()) != "close of closed channel")
            rec.errors.push_back(std::string("close panicked: ") + e.what());
        }
        break;
      }
      case op::select: {
        std::vector<gort::select_case> cases;
        std::vector<std::uint64_t> ids(o.cases.size(), 0);
        std::vector<bool> closed_before(o.cases.size(), false);
        int callback_ran = -1;
        std::optional<mval> got;
        for (std::size_t i = 0; i < o.cases.size(); ++i) {
          const case_spec& cs = o.cases[i];
          if (cs.ch >= 0) closed_before[i] = st.close_done[cs.ch].load();
          if (cs.is_send) {
            // The nil channel's sends take ids from a sequence of their own (channel 0xff).
            ids[i] = cs.ch >= 0 ? make_id(gi, cs.ch, seq[cs.ch]++) : make_id(gi, 0xff, 0);
            cases.emplace_back(gort::case_send(chan_of(cs.ch), mval(ids[i]),
                                               [&callback_ran, i] { callback_ran = static_cast<int>(i); }));
          } else {
            cases.emplace_back(gort::case_recv(chan_of(cs.ch), [&callback_ran, &got, i](std::optional<mval> v) {
              callback_ran = static_cast<int>(i);
              got = std::move(v);
            }));
          }
        }
        if (o.has_default)
          cases.emplace_back(
              gort::case_default([&callback_ran, n = o.cases.size()] { callback_ran = static_cast<int>(n); }));
        try {
          const int k = gort::select(std::span<gort::select_case>(cases));
          if (k != callback_ran) rec.errors.push_back("select returned a case whose callback did not run");
          for (std::size_t i = 0; i < o.cases.size(); ++i) {
            if (!o.cases[i].is_send) continue;
            const bool chosen = static_cast<int>(i) == k;
            if (o.cases[i].ch >= 0) rec.sends.emplace_back(ids[i], chosen ? outcome::delivered : outcome::not_chosen);
            if (chosen && o.cases[i].ch < 0) rec.errors.push_back("a nil channel's send case was chosen");
            if (chosen && closed_before[i]) rec.errors.push_back("a select sent on a channel closed before it began");
          }
          if (k >= 0 && k < static_cast<int>(o.cases.size()) && !o.cases[k].is_send) {
            if (o.cases[k].ch < 0)
              rec.errors.push_back("a nil channel's receive case was chosen");
            else
              got_value(o.cases[k].ch, got);
          }
        } catch (const gort::panic_error& e) {
          if (std::string(e.what()) != "send on closed channel")
            rec.errors.push_back(std::string("select panicked: ") + e.what());
          bool any_closing = false;
          for (std::size_t i = 0; i < o.cases.size(); ++i) {
            if (!o.cases[i].is_send || o.cases[i].ch < 0) continue;
            rec.sends.emplace_back(ids[i], outcome::panicked);
            any_closing |= st.close_started[o.cases[i].ch].load();
          }
          if (!any_closing) rec.errors.push_back("a select panicked with no close begun on its send channels");
          if (callback_ran != -1) rec.errors.push_back("a callback ran in a select that panicked");
        }
        break;
      }
    }
    st.progress.fetch_add(1);
  }
};

result run_program(int procs, const program& p) {
  const int nch = static_cast<int>(p.caps.size());
  const int ng = static_cast<int>(p.g.size());
  result res;
  res.recs.resize(ng + 2);
  res.closes_ok.assign(nch, 0);
  res.len_after.assign(nch, 0);
  mval::live.store(0);
  int rc = gort::run(gort::Config{.maxprocs = procs}, [&] {
    shared_state st(nch);
    {
      std::vector<gort::chan<mval>> chans;
      for (int c : p.caps) chans.push_back(gort::make_chan<mval>(static_cast<std::size_t>(c)));
      gort::WaitGroup wg;
      wg.add(ng);
      for (int gi = 0; gi < ng; ++gi)
        gort::go([&, gi] {
          {
            actor a{gi, chans, st, res.recs[gi]};
            for (const op& o : p.g[gi]) a.step(o);
          }  // a (its seq) gone before done(): main may return from run() at once, which abandons this goroutine
          st.finished.fetch_add(1);
          wg.done();
        });
      // Wait for done or the program's close point. When nothing has moved
      // for a while (the goroutines block each other), main helps: one
      // select over every channel, a send of its own fresh value and a
      // receive on each, with a default; a bounded number of times, then it
      // gives up and closes.
      actor helper{ng, chans, st, res.recs[ng]};
      op help{};
      help.k = op::select;
      help.has_default = true;
      for (int c = 0; c < nch; ++c) {
        help.cases.push_back(case_spec{true, c});
        help.cases.push_back(case_spec{false, c});
      }
      long total_ops = 0;
      for (const auto& ops : p.g) total_ops += static_cast<long>(ops.size());
      long last = -1;
      auto last_change = std::chrono::steady_clock::now();
      const auto stall = std::chrono::milliseconds(1);
      while (st.finished.load() < ng) {
        const long now_progress = st.progress.load();
        if (p.close_at >= 0 && now_progress >= p.close_at) break;
        const auto now = std::chrono::steady_clock::now();
        if (now_progress != last) {
          last = now_progress;
          last_change = now;
        } else if (now - last_change > stall) {
          if (res.helps >= total_ops) {
            res.stalled = true;
            break;
          }
          ++res.helps;
          helper.step(help);
          last_change = now;
        }
        gort::yield();
      }
      record& closer = res.recs[ng];
      record& mine = res.recs[ng + 1];
      for (int c = 0; c < nch; ++c) {
        st.close_started[c].store(true);
        try {
          chans[c].close();
          st.close_done[c].store(true);
          closer.closed_ok.push_back(c);
        } catch (const gort::panic_error& e) {
          if (std::string(e.what()) != "close of closed channel")
            closer.errors.push_back(std::string("close panicked: ") + e.what());
        }
      }
      wg.wait();
      // Drain: what is still buffered, then nullopt (at once: closed).
      std::vector<std::uint64_t> drained;
      for (int c = 0; c < nch; ++c) {
        for (;;) {
          std::optional<mval> v = chans[c].recv();
          if (!v) break;
          if (!v->intact()) mine.errors.push_back("a torn value in the drain");
          if (id_ch(v->id) != c) mine.errors.push_back("a value drained from another channel");
          drained.push_back(v->id);
        }
        res.len_after[c] = chans[c].len();
      }
      mine.received = std::move(drained);
      for (auto& r : res.recs)
        for (int c : r.closed_ok) ++res.closes_ok[c];
    }  // the channels go here
    res.live_at_end = mval::live.load();
  });
  EXPECT_EQ(rc, 0);
  return res;
}

// check returns the problems found, empty if none.
std::vector<std::string> check(const program& p, const result& res) {
  const int nch = static_cast<int>(p.caps.size());
  const int ng = static_cast<int>(p.g.size());
  std::vector<std::string> errs;
  for (const auto& r : res.recs) errs.insert(errs.end(), r.errors.begin(), r.errors.end());

  std::map<std::uint64_t, outcome> sent;
  for (int gi = 0; gi <= ng; ++gi)
    for (auto [id, o] : res.recs[gi].sends)
      if (!sent.emplace(id, o).second) errs.push_back("a value id made twice (test bug)");
  std::map<std::uint64_t, int> received;
  for (const auto& r : res.recs)
    for (std::uint64_t id : r.received) ++received[id];
  long delivered = 0;
  for (auto [id, o] : sent) {
    const auto it = received.find(id);
    const int n = it == received.end() ? 0 : it->second;
    if (o == outcome::delivered) {
      ++delivered;
      if (n == 0) errs.push_back("lost: value " + std::to_string(id) + " was delivered, never received");
      if (n > 1)
        errs.push_back("duplicated: value " + std::to_string(id) + " received " + std::to_string(n) + " times");
    } else if (n != 0) {
      errs.push_back(std::string("value ") + std::to_string(id) +
                     (o == outcome::panicked ? " whose send panicked" : " of an unchosen send case") + " was received");
    }
  }
  for (auto [id, n] : received)
    if (!sent.count(id)) errs.push_back("received value " + std::to_string(id) + " that nobody sent");

  // FIFO per (sender, channel), per receiver; the drain after everything else.
  std::map<std::pair<int, int>, std::uint32_t> max_by_workers;
  for (int r = 0; r <= ng + 1; ++r) {
    std::map<std::pair<int, int>, std::uint32_t> last;
    for (std::uint64_t id : res.recs[r].received) {
      const auto key = std::make_pair(id_g(id), id_ch(id));
      const auto it = last.find(key);
      if (it != last.end() && id_seq(id) <= it->second)
        errs.push_back("FIFO: receiver " + std::to_string(r) + " got (" + std::to_string(key.first) + ", " +
                       std::to_string(key.second) + ") #" + std::to_string(id_seq(id)) + " after #" +
                       std::to_string(it->second));
      last[key] = id_seq(id);
      if (r <= ng) {
        auto& m = max_by_workers[key];
        m = std::max(m, id_seq(id) + 1);
      } else {
        const auto w = max_by_workers.find(key);
        if (w != max_by_workers.end() && id_seq(id) + 1 <= w->second)
          errs.push_back("FIFO: the drain found an older value than one received before it");
      }
    }
  }

  // Close.
  for (int c = 0; c < nch; ++c) {
    if (res.closes_ok[c] != 1)
      errs.push_back("channel " + std::to_string(c) + " closed successfully " + std::to_string(res.closes_ok[c]) +
                     " times");
    if (res.len_after[c] != 0) errs.push_back("len() != 0 after the drain");
  }
  std::set<int> nullopt_seen;
  for (int gi = 0; gi <= ng; ++gi) nullopt_seen.insert(res.recs[gi].nullopt_on.begin(), res.recs[gi].nullopt_on.end());
  for (std::uint64_t id : res.recs[ng + 1].received)
    if (nullopt_seen.count(id_ch(id)))
      errs.push_back("a receive got nullopt from channel " + std::to_string(id_ch(id)) +
                     " while values were still buffered");
  if (res.live_at_end != 0) errs.push_back(std::to_string(res.live_at_end) + " elements alive after the channels went");
  (void)delivered;
  return errs;
}

std::string describe(const program& p) {
  std::string s = "caps";
  for (int c : p.caps) s += " " + std::to_string(c);
  s += "; close_at " + std::to_string(p.close_at);
  for (std::size_t gi = 0; gi < p.g.size(); ++gi) {
    s += "\n  g" + std::to_string(gi) + ":";
    for (const op& o : p.g[gi]) {
      switch (o.k) {
        case op::send:
          s += " s" + std::to_string(o.ch);
          break;
        case op::recv:
          s += " r" + std::to_string(o.ch);
          break;
        case op::close:
          s += " C" + std::to_string(o.ch);
          break;
        case op::select:
          s += " [";
          for (const auto& c : o.cases)
            s += (c.is_send ? "s" : "r") + (c.ch < 0 ? std::string("nil") : std::to_string(c.ch)) + " ";
          if (o.has_default) s += "default";
          s += "]";
      }
    }
  }
  return s;
}

class ChanModelTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, ChanModelTest, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) { return "P" + std::to_string(info.param); });

TEST_P(ChanModelTest, RandomPrograms) {
  const int procs = GetParam();
  int failed = 0, stalled = 0;
  long values = 0, helps = 0;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    const program p = generate(static_cast<std::uint64_t>(seed) * 1000 + static_cast<std::uint64_t>(procs));
    const result res = run_program(procs, p);
    stalled += res.stalled;
    helps += res.helps;
    for (const auto& r : res.recs) values += static_cast<long>(r.received.size());
    const auto errs = check(p, res);
    if (!errs.empty()) {
      ++failed;
      std::string msg;
      for (std::size_t i = 0; i < errs.size() && i < 10; ++i) msg += "\n  " + errs[i];
      ADD_FAILURE() << "seed " << seed << " (GOMAXPROCS " << procs << "): " << errs.size() << " problems:" << msg
                    << "\nprogram: " << describe(p);
      if (failed >= 5) break;
    }
  }
  std::printf("%d programs, %ld values received, %ld helping selects by main, %d given up as stalled\n", kSeeds, values,
              helps, stalled);
  EXPECT_EQ(failed, 0);
  EXPECT_GT(values, 0);
}

}  // namespace
