// context: the time to create and cancel a tree of contexts, for the
// requirement "creating and cancelling a tree of 100,000 contexts takes at
// most Go's time". No anchor: Go's side is bench/go/context/main.go (this
// repo), which does the same thing line for line.
//
// N = 100,000 leaves (argv[1]). The tree: a root with_cancel(background()),
// then levels of with_cancel children, each level 10 times the one above
// until the last, which has N nodes (its parents in turn, round robin): for
// N = 100,000 the levels are 1, 10, 100, 1,000, 10,000, 100,000, 111,111
// contexts in all (n=). All are created from one goroutine (main), level by
// level, keeping every Context and CancelFunc in a vector; each leaf's
// done() channel is asked for as it is made (a caller that will wait on it
// does), and kept. The vectors are made once, with room for the whole
// tree, and emptied at the end of every round.
//
// One round, timed as a whole (a bench::Region):
//   1. create the tree (create_ns: that part's wall ns / n);
//   2. cancel the root, then receive from every leaf's done channel, which
//      must report closed (nullopt), and check every leaf's err() is
//      errc::canceled (cancel_ns: this part's ns / n);
//   3. call every CancelFunc (Go's defer cancel(); all are no-ops now) and
//      empty the vectors, which frees the tree (Go leaves that to its GC,
//      whose work falls in later rounds).
// ns_per_ctx = the round's wall ns / n. One warm-up round, then 9 timed
// rounds; each figure is the median over the timed rounds (the round's
// minflt too).
//
// RESULT name=context impl=gort procs= n= leaves= rounds= ns_per_ctx=
// create_ns= cancel_ns= minflt= rss_kb=
#include <gort/chan.hpp>
#include <gort/context.hpp>
#include <gort/runtime.hpp>

#include <algorithm>
#include <variant>
#include <vector>

#include "common.hpp"

namespace {

namespace ctxns = gort::context;

constexpr int fan_out = 10;
constexpr int timed_rounds = 9;

struct round_result {
  double ns_per_ctx, create_ns, cancel_ns;
  long minflt;
};

long long tree_size(long long leaves) {
  long long total = 1;
  for (long long level = 1; level < leaves;) {
    level = std::min(level * fan_out, leaves);
    total += level;
  }
  return total;
}

// The vectors, made once with room for the whole tree and emptied by every
// round: their pages are not the contexts' cost.
struct tree {
  std::vector<ctxns::Context> ctxs;
  std::vector<ctxns::CancelFunc> cancels;
  std::vector<gort::chan<std::monostate>> dones;
};

round_result one_round(long long leaves, tree& t) {
  const long long n = tree_size(leaves);
  auto& [ctxs, cancels, dones] = t;

  bench::Region region;
  region.start();
  {
    auto [root, cancel] = ctxns::with_cancel(ctxns::background());
    ctxs.push_back(std::move(root));
    cancels.push_back(std::move(cancel));
  }
  std::size_t level_begin = 0, level_size = 1;
  while (static_cast<long long>(level_size) < leaves) {
    const std::size_t next =
        static_cast<std::size_t>(std::min<long long>(static_cast<long long>(level_size) * fan_out, leaves));
    const bool last = static_cast<long long>(next) == leaves;
    for (std::size_t i = 0; i < next; ++i) {
      auto [c, cancel] = ctxns::with_cancel(ctxs[level_begin + i % level_size]);
      if (last) dones.push_back(c.done());
      ctxs.push_back(std::move(c));
      cancels.push_back(std::move(cancel));
    }
    level_begin += level_size;
    level_size = next;
  }
  const auto created = bench::clock::now();
  cancels[0]();
  long long closed = 0;
  for (auto& d : dones) closed += !d.recv().has_value();
  for (std::size_t i = level_begin; i < ctxs.size(); ++i)
    if (ctxs[i].err() != ctxns::errc::canceled)
      bench::fail("leaf %zu: err() is \"%s\"", i, ctxs[i].err().message().c_str());
  const auto cancelled = bench::clock::now();
  for (auto& f : cancels) f();
  cancels.clear();
  dones.clear();
  ctxs.clear();
  region.stop();

  if (closed != leaves) bench::fail("%lld of %lld leaves' done channels closed", closed, leaves);
  if (static_cast<long long>(level_begin + level_size) != n)
    bench::fail("made %zu contexts, want %lld", level_begin + level_size, n);
  const double dn = double(n);
  return {region.wall_ns() / dn, bench::ns_between(region.start_time(), created) / dn,
          bench::ns_between(created, cancelled) / dn, region.minflt()};
}

template <class T>
T median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const long long leaves = bench::arg_n(argc, argv, 100'000);
  return gort::run([&] {
    tree t;
    t.ctxs.reserve(static_cast<std::size_t>(tree_size(leaves)));
    t.cancels.reserve(static_cast<std::size_t>(tree_size(leaves)));
    t.dones.reserve(static_cast<std::size_t>(leaves));
    one_round(leaves, t);  // warm-up
    std::vector<double> total, create, cancel;
    std::vector<long> flt;
    for (int r = 0; r < timed_rounds; ++r) {
      const round_result x = one_round(leaves, t);
      total.push_back(x.ns_per_ctx);
      create.push_back(x.create_ns);
      cancel.push_back(x.cancel_ns);
      flt.push_back(x.minflt);
    }
    bench::print_result(
        "context", "n=%lld leaves=%lld rounds=%d ns_per_ctx=%.2f create_ns=%.2f cancel_ns=%.2f minflt=%ld",
        tree_size(leaves), leaves, timed_rounds, median(total), median(create), median(cancel), median(flt));
  });
}
