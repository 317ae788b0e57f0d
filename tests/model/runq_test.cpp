// runq_test.cpp: the local run queue (src/runtime/runq.hpp). Go counterpart:
// RunSchedLocalQueueTest, RunSchedLocalQueueStealTest and
// RunSchedLocalQueueEmptyTest in proc_test.go / export_test.go, which drive
// runqput, runqget and runqsteal on bare Ps.
//
// Two parts.
//   Unit tests on runq<G, 256>, the production size: FIFO order across many
//   wrap-arounds of the ring, runnext, steal taking ceil(half), a full ring
//   (put refused, take_half giving runqputslow the oldest half), empty(),
//   size(), drain().
//   Model tests on runq<G, 4>, shrunk as tokio's loom setup shrinks its local
//   queue (tests/loom_multi_thread/queue.rs): an owner thread does random
//   runqput (runnext or tail, spilling half to a "global queue" when full) and
//   runqget, while one or two thief threads steal from it into their own
//   runq<G, 4> and drain that after each steal. Every round checks that each
//   G came out exactly once. Run under TSan too (label model).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/runq.hpp"

namespace {

using gort::rt::runq;

struct G {
  std::uint32_t id = 0;
};

#if defined(GORT_TSAN) || defined(GORT_ASAN)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// runqput as proc.go has it: next puts gp in runnext and kicks the old
// runnext to the tail; a full ring moves its older half plus gp to the global
// queue (runqputslow). Owner only.
template <std::uint32_t N, std::uint32_t S>
void runqput(runq<G, N, S>& q, G* gp, bool next, std::vector<G*>& global) {
  if (next) {
    gp = q.put_next(gp);
    if (gp == nullptr) return;
  }
  for (;;) {
    if (q.put(gp)) return;
    G* batch[N / 2];
    std::uint32_t n = q.take_half(batch);
    if (n != 0) {
      ASSERT_EQ(n, N / 2);
      global.insert(global.end(), batch, batch + n);
      global.push_back(gp);
      return;
    }
    // A thief moved head between put and take_half: the ring has room now.
  }
}

// no_backoff counts the back-offs and answers take (steal after it, or not).
struct no_backoff {
  int* calls;
  bool take = true;
  bool operator()() const {
    ++*calls;
    return take;
  }
};

using runq256 = runq<G, 256>;

// spin_until waits for pred, spinning briefly and then yielding the CPU: the
// tests must make progress when there are fewer cores than threads.
template <class Pred>
void spin_until(Pred pred) {
  for (int i = 0; !pred(); ++i)
    if (i >= 64) std::this_thread::yield();
}

// A model test runs rounds until it has done its number or spent its time
// budget (CI machines may be slow and shared), but at least kMinRounds.
constexpr auto kModelBudget = std::chrono::seconds(20);
constexpr int kMinRounds = 200;

std::vector<G> make_gs(std::size_t n) {
  std::vector<G> gs(n);
  for (std::size_t i = 0; i < n; ++i) gs[i].id = static_cast<std::uint32_t>(i);
  return gs;
}

// Go's TestSchedLocalQueue: put i Gs, get them back in order, for every i up
// to the capacity. head and tail wrap around the ring many times on the way.
TEST(RunqTest, SchedLocalQueue) {
  auto q = std::make_unique<runq256>();
  auto gs = make_gs(runq256::capacity);
  for (std::uint32_t i = 0; i <= runq256::capacity; ++i) {
    for (std::uint32_t j = 0; j < i; ++j) ASSERT_TRUE(q->put(&gs[j])) << "i=" << i << " j=" << j;
    ASSERT_EQ(q->size(), i);
    for (std::uint32_t j = 0; j < i; ++j) {
      bool inherit = true;
      G* gp = q->get(inherit);
      ASSERT_EQ(gp, &gs[j]) << "i=" << i << " j=" << j;
      EXPECT_FALSE(inherit) << "a G from the ring starts a new time slice";
    }
    bool inherit = false;
    ASSERT_EQ(q->get(inherit), nullptr);
    ASSERT_TRUE(q->empty());
  }
}

// FIFO across many more items than slots, with the fill level wandering
// between empty and full so that every slot index is reused at every level.
TEST(RunqTest, WrapAround) {
  auto q = std::make_unique<runq256>();
  constexpr std::uint32_t kItems = 100 * runq256::capacity;
  auto gs = make_gs(kItems);
  std::mt19937 rng(1);
  std::uint32_t next_put = 0, next_get = 0;
  while (next_get < kItems) {
    std::uint32_t room = runq256::capacity - (next_put - next_get);
    std::uint32_t puts = std::min<std::uint32_t>(rng() % (room + 1), kItems - next_put);
    for (std::uint32_t k = 0; k < puts; ++k) ASSERT_TRUE(q->put(&gs[next_put++]));
    ASSERT_EQ(q->size(), next_put - next_get);
    if (next_put - next_get == runq256::capacity) {
      G* extra = &gs[0];
      ASSERT_FALSE(q->put(extra)) << "a full ring must refuse put";
      ASSERT_EQ(q->size(), runq256::capacity) << "a refused put must change nothing";
    }
    std::uint32_t gets = rng() % (next_put - next_get + 1);
    for (std::uint32_t k = 0; k < gets; ++k) {
      bool inherit = true;
      G* gp = q->get(inherit);
      ASSERT_NE(gp, nullptr);
      ASSERT_EQ(gp->id, next_get) << "FIFO order broken";
      ++next_get;
    }
    if (next_put == kItems) {
      bool inherit;
      while (G* gp = q->get(inherit)) ASSERT_EQ(gp->id, next_get++);
    }
  }
  bool inherit;
  EXPECT_EQ(q->get(inherit), nullptr);
  EXPECT_TRUE(q->empty());
  EXPECT_EQ(q->size(), 0u);
}

// runnext: put_next evicts the previous runnext (which runqput appends to the
// tail), and get returns runnext before the ring, with inherit_time set.
TEST(RunqTest, Runnext) {
  auto q = std::make_unique<runq256>();
  auto gs = make_gs(8);
  std::vector<G*> global;

  EXPECT_EQ(q->put_next(&gs[0]), nullptr);
  EXPECT_EQ(q->peek_runnext(), &gs[0]);
  EXPECT_EQ(q->size(), 0u) << "runnext is not counted in size()";
  EXPECT_FALSE(q->empty());
  EXPECT_EQ(q->put_next(&gs[1]), &gs[0]);
  ASSERT_TRUE(q->put(&gs[0]));

  bool inherit = false;
  EXPECT_EQ(q->get(inherit), &gs[1]);
  EXPECT_TRUE(inherit) << "the runnext G inherits the time slice";
  EXPECT_EQ(q->get(inherit), &gs[0]);
  EXPECT_FALSE(inherit);
  EXPECT_EQ(q->get(inherit), nullptr);

  // go B; go C; go D from one G: runnext = D, ring = [B, C] (the
  // GOMAXPROCS=1 scheduling order that proc_test's RunnextOrder checks).
  runqput(*q, &gs[2], true, global);
  runqput(*q, &gs[3], true, global);
  runqput(*q, &gs[4], true, global);
  // A G made ready without next goes behind them.
  runqput(*q, &gs[5], false, global);
  EXPECT_TRUE(global.empty());
  EXPECT_EQ(q->size(), 3u);
  std::vector<std::uint32_t> order;
  while (G* gp = q->get(inherit)) order.push_back(gp->id);
  EXPECT_EQ(order, (std::vector<std::uint32_t>{4, 2, 3, 5}));
}

// Go's TestSchedLocalQueueSteal, with exact expectations: the thief takes
// ceil(half) of the victim's ring from its head, returns the last G it took
// to run now and keeps the others, in order, in its own ring; the victim
// keeps the rest, in order.
TEST(RunqTest, SchedLocalQueueSteal) {
  auto victim = std::make_unique<runq256>();
  auto thief = std::make_unique<runq256>();
  auto gs = make_gs(runq256::capacity);
  for (std::uint32_t i = 0; i <= runq256::capacity; ++i) {
    for (std::uint32_t j = 0; j < i; ++j) ASSERT_TRUE(victim->put(&gs[j]));
    int backoffs = 0;
    std::uint32_t stolen = 12345;
    G* gp = thief->steal(*victim, true, false, no_backoff{&backoffs}, stolen);
    std::uint32_t want = i - i / 2;  // ceil(i/2)
    ASSERT_EQ(stolen, want) << "i=" << i;
    EXPECT_EQ(backoffs, 0);
    if (want == 0) {
      ASSERT_EQ(gp, nullptr);
    } else {
      ASSERT_NE(gp, nullptr);
      EXPECT_EQ(gp->id, want - 1) << "steal returns the last G of the batch";
    }
    ASSERT_EQ(thief->size(), want == 0 ? 0 : want - 1) << "i=" << i;
    ASSERT_EQ(victim->size(), i - want) << "i=" << i;
    bool inherit;
    for (std::uint32_t j = 0; j + 1 < want; ++j) {
      G* t = thief->get(inherit);
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(t->id, j) << "i=" << i;
    }
    ASSERT_EQ(thief->get(inherit), nullptr);
    for (std::uint32_t j = want; j < i; ++j) {
      G* v = victim->get(inherit);
      ASSERT_NE(v, nullptr);
      EXPECT_EQ(v->id, j) << "i=" << i;
    }
    ASSERT_EQ(victim->get(inherit), nullptr);
  }
}

// With an empty ring, steal takes runnext only when asked to; if the victim
// is running it backs off first (Go's usleep(3) in runqgrab).
TEST(RunqTest, StealRunnext) {
  auto victim = std::make_unique<runq256>();
  auto thief = std::make_unique<runq256>();
  G a{7};
  int backoffs = 0;
  std::uint32_t stolen = 99;

  ASSERT_EQ(victim->put_next(&a), nullptr);
  EXPECT_EQ(thief->steal(*victim, false, false, no_backoff{&backoffs}, stolen), nullptr);
  EXPECT_EQ(stolen, 0u);
  EXPECT_EQ(victim->peek_runnext(), &a) << "runnext must stay when steal_runnext is false";

  EXPECT_EQ(thief->steal(*victim, true, false, no_backoff{&backoffs}, stolen), &a);
  EXPECT_EQ(stolen, 1u);
  EXPECT_EQ(backoffs, 0);
  EXPECT_EQ(victim->peek_runnext(), nullptr);
  EXPECT_TRUE(victim->empty());
  EXPECT_TRUE(thief->empty()) << "the stolen G is returned, not queued";

  ASSERT_EQ(victim->put_next(&a), nullptr);
  EXPECT_EQ(thief->steal(*victim, true, true, no_backoff{&backoffs, false}, stolen), nullptr);
  EXPECT_EQ(backoffs, 1);
  EXPECT_EQ(stolen, 0u);
  EXPECT_EQ(victim->peek_runnext(), &a) << "a back-off that says no leaves runnext to its owner";
  EXPECT_TRUE(thief->empty());

  EXPECT_EQ(thief->steal(*victim, true, true, no_backoff{&backoffs}, stolen), &a);
  EXPECT_EQ(backoffs, 2) << "a running victim gets one back-off before its runnext is taken";
  EXPECT_TRUE(victim->empty());

  // A non-empty ring is stolen from and runnext is left alone.
  G b{8}, c{9};
  ASSERT_EQ(victim->put_next(&a), nullptr);
  ASSERT_TRUE(victim->put(&b));
  ASSERT_TRUE(victim->put(&c));
  EXPECT_EQ(thief->steal(*victim, true, true, no_backoff{&backoffs}, stolen), &b);
  EXPECT_EQ(stolen, 1u);
  EXPECT_EQ(victim->peek_runnext(), &a);
}

// A full ring refuses put, changing nothing; take_half then hands the oldest
// N/2 Gs, in order, to runqputslow, and the ring keeps the newer half.
TEST(RunqTest, FullRingPutSlow) {
  auto q = std::make_unique<runq256>();
  constexpr std::uint32_t N = runq256::capacity;
  auto gs = make_gs(N + 1);
  for (std::uint32_t j = 0; j < N; ++j) ASSERT_TRUE(q->put(&gs[j]));
  EXPECT_FALSE(q->put(&gs[N]));
  EXPECT_EQ(q->size(), N);

  G* batch[N / 2] = {};
  ASSERT_EQ(q->take_half(batch), N / 2);
  for (std::uint32_t j = 0; j < N / 2; ++j) EXPECT_EQ(batch[j], &gs[j]) << j;
  EXPECT_EQ(q->size(), N / 2);
  bool inherit;
  for (std::uint32_t j = N / 2; j < N; ++j) {
    G* gp = q->get(inherit);
    ASSERT_NE(gp, nullptr);
    EXPECT_EQ(gp->id, j);
  }
  EXPECT_EQ(q->get(inherit), nullptr);

  // Through runqput: the (N+1)th put sends the oldest half and itself to the
  // global queue, in that order (Go's runqputslow).
  std::vector<G*> global;
  for (std::uint32_t j = 0; j <= N; ++j) runqput(*q, &gs[j], false, global);
  ASSERT_EQ(global.size(), N / 2 + 1);
  for (std::uint32_t j = 0; j < N / 2; ++j) EXPECT_EQ(global[j], &gs[j]);
  EXPECT_EQ(global.back(), &gs[N]);
  EXPECT_EQ(q->size(), N / 2);
  for (std::uint32_t j = N / 2; j < N; ++j) EXPECT_EQ(q->get(inherit), &gs[j]);
  EXPECT_TRUE(q->empty());
}

// take_half reports 0 when a thief emptied part of the ring after put failed:
// the caller then retries put, which now succeeds.
TEST(RunqTest, TakeHalfAfterSteal) {
  auto q = std::make_unique<runq256>();
  auto thief = std::make_unique<runq256>();
  constexpr std::uint32_t N = runq256::capacity;
  auto gs = make_gs(N + 1);
  for (std::uint32_t j = 0; j < N; ++j) ASSERT_TRUE(q->put(&gs[j]));
  ASSERT_FALSE(q->put(&gs[N]));
  int backoffs = 0;
  std::uint32_t stolen = 0;
  ASSERT_NE(thief->steal(*q, false, false, no_backoff{&backoffs}, stolen), nullptr);
  ASSERT_EQ(stolen, N / 2);
  G* batch[N / 2] = {};
  EXPECT_EQ(q->take_half(batch), 0u);
  EXPECT_EQ(q->size(), N / 2) << "a failed take_half must change nothing";
  EXPECT_TRUE(q->put(&gs[N]));
}

TEST(RunqTest, EmptySizeDrain) {
  auto q = std::make_unique<runq256>();
  auto gs = make_gs(300);
  std::vector<std::uint32_t> out;
  auto collect = [&out](G* gp) { out.push_back(gp->id); };

  EXPECT_TRUE(q->empty());
  EXPECT_EQ(q->size(), 0u);
  q->drain(collect);
  EXPECT_TRUE(out.empty());

  ASSERT_EQ(q->put_next(&gs[0]), nullptr);
  EXPECT_FALSE(q->empty()) << "runnext alone makes the queue non-empty";
  EXPECT_EQ(q->size(), 0u);
  for (std::uint32_t j = 1; j <= 10; ++j) ASSERT_TRUE(q->put(&gs[j]));
  EXPECT_EQ(q->size(), 10u);
  q->drain(collect);
  std::vector<std::uint32_t> want{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(out, want) << "drain gives runnext first, then the ring in order";
  EXPECT_TRUE(q->empty());
  EXPECT_EQ(q->size(), 0u);
  EXPECT_EQ(q->peek_runnext(), nullptr);

  // Still usable, and drain works across the ring's end.
  out.clear();
  for (std::uint32_t round = 0; round < 3; ++round) {
    for (std::uint32_t j = 0; j < 200; ++j) ASSERT_TRUE(q->put(&gs[j]));
    bool inherit;
    for (std::uint32_t j = 0; j < 150; ++j) ASSERT_EQ(q->get(inherit), &gs[j]);
    out.clear();
    q->drain(collect);
    ASSERT_EQ(out.size(), 50u);
    for (std::uint32_t j = 0; j < 50; ++j) EXPECT_EQ(out[j], 150 + j);
    EXPECT_TRUE(q->empty());
  }
}

// Go's TestSchedLocalQueueEmptyState: empty() must never report an empty
// queue while a G moves between runnext and the ring under the owner, or an
// idle P could sleep beside runnable work.
TEST(RunqTest, SchedLocalQueueEmptyState) {
  const int iters = kSanitized ? 5000 : 50000;
  const auto deadline = std::chrono::steady_clock::now() + kModelBudget;
  auto q = std::make_unique<runq256>();
  G gs[2] = {{0}, {1}};
  std::vector<G*> global;
  std::atomic<int> iter{0}, ready{0}, done{0}, spurious{0};

  std::thread checker([&] {
    for (int i = 0;; ++i) {
      spin_until([&] {
        int it = iter.load(std::memory_order_acquire);
        return it >= i + 1 || it < 0;
      });
      if (iter.load(std::memory_order_acquire) < 0) return;  // the owner stopped
      ready.fetch_add(1, std::memory_order_acq_rel);
      spin_until([&] { return ready.load(std::memory_order_acquire) >= 2 * (i + 1); });
      if (q->empty()) spurious.fetch_add(1, std::memory_order_relaxed);
      done.store(i + 1, std::memory_order_release);
    }
  });
  int i = 0;
  bool ok = true;
  for (; ok && i < iters && (i < kMinRounds || std::chrono::steady_clock::now() < deadline); ++i) {
    bool next0 = (i & 1) == 0, next1 = (i & 2) == 0;
    runqput(*q, &gs[0], next0, global);
    iter.store(i + 1, std::memory_order_release);
    ready.fetch_add(1, std::memory_order_acq_rel);
    spin_until([&] { return ready.load(std::memory_order_acquire) >= 2 * (i + 1); });
    runqput(*q, &gs[1], next1, global);
    bool inherit;
    ok = q->get(inherit) != nullptr;
    spin_until([&] { return done.load(std::memory_order_acquire) >= i + 1; });
    ok = ok && q->get(inherit) != nullptr && q->get(inherit) == nullptr;
  }
  iter.store(-1, std::memory_order_release);  // stop the checker
  checker.join();
  EXPECT_TRUE(ok) << "iteration " << i - 1 << ": get did not return the two Gs put";
  std::printf("%d iterations\n", i);
  EXPECT_TRUE(global.empty());
  EXPECT_EQ(spurious.load(), 0) << "empty() reported an empty queue holding a G";
}

// ---- Model tests on runq<G, 4> ----------------------------------------------

// A CAS spell of 3 owner ops (runq.hpp, "A CAS spell"), so that in
// asymmetric mode spells begin and end many times a round.
using runq4 = runq<G, 4, 3>;

// spin_barrier: a sense-reversing barrier that spins a little, yielding,
// before it sleeps (std::barrier sleeps at once, which makes short rounds
// slow; pure spinning starves the other threads on a loaded machine).
class spin_barrier {
 public:
  explicit spin_barrier(int n) : n_(n) {}
  void arrive_and_wait() {
    int phase = phase_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      arrived_.store(0, std::memory_order_relaxed);
      phase_.store(phase + 1, std::memory_order_release);  // pairs with the acquires below
      phase_.notify_all();
      return;
    }
    for (int i = 0; i < 100; ++i) {
      if (phase_.load(std::memory_order_acquire) != phase) return;
      std::this_thread::yield();
    }
    while (phase_.load(std::memory_order_acquire) == phase) phase_.wait(phase, std::memory_order_acquire);
  }

 private:
  const int n_;
  std::atomic<int> arrived_{0};
  std::atomic<int> phase_{0};
};

struct model_result {
  std::uint64_t owner_got = 0, global = 0, stolen = 0, steals = 0;
};

// model runs `rounds` rounds of one owner against `thieves` thief threads on
// runq<G, 4>, with `items` fresh Gs per round, and checks after each round
// that every G came out exactly once.
model_result model(int thieves, int rounds, std::uint32_t items, std::uint32_t seed) {
  constexpr std::uint32_t N = runq4::capacity;
  model_result res;
  auto gs = make_gs(items);
  auto seen = std::make_unique<std::atomic<std::uint32_t>[]>(items);
  for (std::uint32_t i = 0; i < items; ++i) seen[i].store(0);
  auto victim = std::make_unique<runq4>();
  std::atomic<bool> round_over{false};
  std::atomic<bool> quit{false};
  std::atomic<std::uint64_t> stolen{0}, steals{0}, oversteal{0};
  spin_barrier sync(thieves + 1);

  auto consume = [&seen](G* gp) { seen[gp->id].fetch_add(1, std::memory_order_relaxed); };

  std::vector<std::thread> ts;
  for (int t = 0; t < thieves; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(seed * 31 + static_cast<std::uint32_t>(t) + 1);
      auto mine = std::make_unique<runq4>();
      int backoffs = 0;
      auto backoff = [&backoffs] {  // declines one in 3, as a thief that saw the owner switch
        ++backoffs;
        std::this_thread::yield();
        return backoffs % 3 != 0;
      };
      for (;;) {
        sync.arrive_and_wait();  // round start
        if (quit.load(std::memory_order_acquire)) return;
        for (;;) {
          // Read round_over before the steal: a steal that starts after the
          // owner has emptied its queue finds nothing, so all is accounted.
          bool last = round_over.load(std::memory_order_acquire);
          std::uint32_t n = 0;
          G* gp = mine->steal(*victim, rng() % 2 == 0, rng() % 4 == 0, backoff, n);
          if (gp != nullptr) {
            consume(gp);
            steals.fetch_add(1, std::memory_order_relaxed);
            stolen.fetch_add(n, std::memory_order_relaxed);
            if (n > N / 2) oversteal.fetch_add(1, std::memory_order_relaxed);
          }
          if (rng() % 2 == 0) {
            mine->drain(consume);
          } else {
            bool inherit;
            while (G* g = mine->get(inherit)) consume(g);
          }
          if (last) break;
        }
        sync.arrive_and_wait();  // round end
      }
    });
  }

  std::mt19937 rng(seed);
  std::vector<G*> global;
  const auto deadline = std::chrono::steady_clock::now() + kModelBudget;
  int r = 0;
  for (; r < rounds && (r < kMinRounds || std::chrono::steady_clock::now() < deadline); ++r) {
    for (std::uint32_t i = 0; i < items; ++i) seen[i].store(0, std::memory_order_relaxed);
    global.clear();
    round_over.store(false, std::memory_order_relaxed);
    sync.arrive_and_wait();  // round start

    std::uint32_t made = 0;
    while (made < items) {
      switch (rng() % 5) {
        case 0:
          runqput(*victim, &gs[made++], true, global);
          break;
        case 1:
        case 2:
          runqput(*victim, &gs[made++], false, global);
          break;
        case 3: {
          bool inherit;
          if (G* gp = victim->get(inherit)) {
            consume(gp);
            ++res.owner_got;
          }
          break;
        }
        default:
          if (rng() % 8 == 0) std::this_thread::yield();
          break;
      }
    }
    bool inherit;
    while (G* gp = victim->get(inherit)) {
      consume(gp);
      ++res.owner_got;
    }
    round_over.store(true, std::memory_order_release);
    sync.arrive_and_wait();  // round end: every thief has drained its own runq

    // Nothing may be left behind, and nothing may have come out twice.
    if (!victim->empty()) {
      ADD_FAILURE() << "round " << r << ": victim not empty after the round";
      victim->drain(consume);
    }
    for (G* gp : global) consume(gp);
    res.global += global.size();
    for (std::uint32_t i = 0; i < items; ++i) {
      std::uint32_t n = seen[i].load(std::memory_order_relaxed);
      if (n != 1) {
        ADD_FAILURE() << "round " << r << ": G " << i << " came out " << n << " times";
        r = rounds;  // stop after the first bad round
        break;
      }
    }
  }
  quit.store(true, std::memory_order_release);
  sync.arrive_and_wait();
  for (auto& t : ts) t.join();
  EXPECT_EQ(oversteal.load(), 0u) << "a steal took more than N/2 Gs";
  std::printf("%d rounds\n", r);
  res.stolen = stolen.load();
  res.steals = steals.load();
  return res;
}

constexpr int kModelRounds = kSanitized ? 2000 : 20000;

// check_model runs the model with `thieves` thieves; the checks are in
// model(). Exactly-once holds trivially for a thief that never steals or
// an owner that never overflows, so both must have happened for the run to
// have raced anything.
void check_model(int thieves, std::uint32_t seed) {
  model_result r = model(thieves, kModelRounds, 64, seed);
  std::printf("owner got %llu, global %llu, stolen %llu in %llu steals\n", (unsigned long long)r.owner_got,
              (unsigned long long)r.global, (unsigned long long)r.stolen, (unsigned long long)r.steals);
  EXPECT_GT(r.global, 0u) << "the model never overflowed the ring";
  EXPECT_GT(r.stolen, 0u) << "the thieves never stole: the model raced nothing";
}

TEST(RunqModelTest, OneThief) { check_model(1, 1); }

TEST(RunqModelTest, TwoThieves) { check_model(2, 2); }

// ---- runnext without a CAS (runq.hpp) ----------------------------------------

// The thieves' fence in asymmetric mode, as the runtime's (preempt.cpp).
bool register_membarrier() {
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return false;
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}
void membarrier_fence() {
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) std::abort();
}

// asymmetric_mode puts runq4 in asymmetric mode for a test's span (the
// runtime's mode where membarrier works), or skips the test without it.
class RunqAsymmetricTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!register_membarrier()) GTEST_SKIP() << "no private expedited membarrier here";
    runq4::set_heavy_barrier(membarrier_fence);
  }
  void TearDown() override { runq4::set_heavy_barrier(nullptr); }
};

TEST_F(RunqAsymmetricTest, OneThief) { check_model(1, 3); }

TEST_F(RunqAsymmetricTest, TwoThieves) { check_model(2, 4); }

// runnext_race: the owner puts Gs in runnext and takes them back, as two
// goroutines that ready each other on one P do, while a thief keeps taking
// runnext from it. The owner runs a G that put_next evicts instead of
// queueing it, so the ring stays empty and every steal is of runnext.
// Every G comes out exactly once; returns how many the thief took.
std::uint64_t runnext_race(std::uint32_t items, std::uint32_t seed) {
  auto gs = make_gs(items);
  auto seen = std::make_unique<std::atomic<std::uint32_t>[]>(items);
  for (std::uint32_t i = 0; i < items; ++i) seen[i].store(0, std::memory_order_relaxed);
  auto consume = [&seen](G* gp) { seen[gp->id].fetch_add(1, std::memory_order_relaxed); };
  auto victim = std::make_unique<runq4>();
  std::atomic<bool> over{false};
  std::uint64_t taken = 0;
  std::thread thief([&] {
    std::mt19937 rng(seed + 1);
    auto mine = std::make_unique<runq4>();
    auto backoff = [] {
      std::this_thread::yield();
      return true;
    };
    for (;;) {
      const bool last = over.load(std::memory_order_acquire);
      std::uint32_t n = 0;
      if (G* gp = mine->steal(*victim, true, rng() % 4 == 0, backoff, n)) {
        consume(gp);
        ++taken;
      }
      if (last) return;
    }
  });
  std::mt19937 rng(seed);
  bool inherit;
  for (std::uint32_t i = 0; i < items; ++i) {
    if (G* evicted = victim->put_next(&gs[i])) consume(evicted);
    if (rng() % 4 != 0)
      if (G* gp = victim->get(inherit)) consume(gp);
  }
  while (G* gp = victim->get(inherit)) consume(gp);
  over.store(true, std::memory_order_release);
  thief.join();
  for (std::uint32_t i = 0; i < items; ++i) {
    const std::uint32_t n = seen[i].load(std::memory_order_relaxed);
    if (n != 1) {
      ADD_FAILURE() << "G " << i << " came out " << n << " times";
      break;
    }
  }
  return taken;
}

constexpr std::uint32_t kRunnextRaceItems = kSanitized ? 2000000 : 20000000;

TEST(RunqModelTest, RunnextRace) {
  const std::uint64_t taken = runnext_race(kRunnextRaceItems, 7);
  std::printf("thief took %llu\n", (unsigned long long)taken);
  EXPECT_GT(taken, 0u) << "the thief never took runnext: the test raced nothing";
}

TEST_F(RunqAsymmetricTest, RunnextRace) {
  const std::uint64_t taken = runnext_race(kRunnextRaceItems, 8);
  std::printf("thief took %llu\n", (unsigned long long)taken);
  EXPECT_GT(taken, 0u) << "the thief never took runnext: the test raced nothing";
}

// tokio's steal_overflow shape: the owner only puts (runnext and tail), never
// gets, so the ring overflows constantly while thieves steal.
TEST(RunqModelTest, StealOverflow) {
  constexpr std::uint32_t N = runq4::capacity;
  const int rounds = kSanitized ? 1000 : 5000;
  constexpr std::uint32_t items = 32;
  auto gs = make_gs(items);
  std::vector<std::atomic<std::uint32_t>> seen(items);
  const auto deadline = std::chrono::steady_clock::now() + kModelBudget;
  for (int r = 0; r < rounds && (r < kMinRounds || std::chrono::steady_clock::now() < deadline); ++r) {
    for (auto& s : seen) s.store(0, std::memory_order_relaxed);
    auto victim = std::make_unique<runq4>();
    std::atomic<bool> over{false};
    auto consume = [&seen](G* gp) { seen[gp->id].fetch_add(1, std::memory_order_relaxed); };
    std::thread thief([&] {
      auto mine = std::make_unique<runq4>();
      auto backoff = [] {
        std::this_thread::yield();
        return true;
      };
      for (;;) {
        bool last = over.load(std::memory_order_acquire);
        std::uint32_t n = 0;
        if (G* gp = mine->steal(*victim, true, false, backoff, n)) consume(gp);
        bool inherit;
        while (G* g = mine->get(inherit)) consume(g);
        if (last) return;
      }
    });
    std::vector<G*> global;
    for (std::uint32_t i = 0; i < items; ++i) runqput(*victim, &gs[i], i % 3 == 0, global);
    bool inherit;
    while (G* gp = victim->get(inherit)) consume(gp);
    over.store(true, std::memory_order_release);
    thief.join();
    for (G* gp : global) consume(gp);
    EXPECT_EQ(global.size() % (N / 2 + 1), 0u) << "runqputslow moves N/2 + 1 Gs at a time";
    for (std::uint32_t i = 0; i < items; ++i) ASSERT_EQ(seen[i].load(), 1u) << "round " << r << ": G " << i;
  }
}

}  // namespace
