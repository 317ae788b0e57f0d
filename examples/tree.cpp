// tree: a tree of goroutines, to watch the scheduler at work. Run it as
//   GODEBUG=schedtrace=100 ./tree
// to see Go's SCHED lines: Ps, Ms, spinning threads and run queue lengths.
#include <gort/gort.hpp>

#include <atomic>
#include <cstdio>

namespace {

std::atomic<long> leaves{0};

// tree spawns fanout children down to depth, each yielding a little, and
// waits for them: work for every P, and stealing to balance it.
void tree(int depth, int fanout) {
  if (depth == 0) {
    for (int i = 0; i < 100; ++i) gort::yield();
    leaves.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  gort::WaitGroup wg;
  wg.add(fanout);
  for (int i = 0; i < fanout; ++i)
    gort::go([&wg, depth, fanout] {
      tree(depth - 1, fanout);
      wg.done();
    });
  wg.wait();
}

}  // namespace

int main() {
  return gort::run([] {
    std::printf("Hello from goroutine %llu on %d Ps\n", static_cast<unsigned long long>(gort::goid()),
                gort::gomaxprocs());
    for (int round = 0; round < 5; ++round) {
      tree(6, 8);  // 8^6 = 262,144 leaves
      gort::Stats s = gort::stats();
      std::printf("round %d: %ld leaves, threads=%zu steals=%llu switches=%llu\n", round, leaves.load(), s.threads,
                  static_cast<unsigned long long>(s.steals), static_cast<unsigned long long>(s.context_switches));
    }
  });
}
