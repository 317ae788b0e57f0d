// yield: two goroutines each call gort::yield() (runtime.Gosched) N times
// (default 5,000,000) on GOMAXPROCS=1. Reports ns per switch = wall / (2*N).
//
// Mirrors the anchors' yield (go/yield/main.go, boostfiber/yield.cpp)
// exactly: argv[1] is N; one P unless the environment variable GOMAXPROCS is
// set (and non-empty, as Go's os.Getenv test), in which case run() takes the
// Ps from it; the timed region runs from just before wg.add(2) and the first
// go to just after wg.wait() returns; each goroutine counts its yields into
// counts[g] and calls done(); the check (untimed) is both counts == N.
// ops = 2N: ns_per_op = ns per switch.
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include "common.hpp"

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 5'000'000);
  gort::Config cfg;
  if (!bench::env_set("GOMAXPROCS")) cfg.maxprocs = 1;  // Go: runtime.GOMAXPROCS(1)

  return gort::run(cfg, [n] {
    gort::WaitGroup wg;
    long long counts[2] = {0, 0};
    bench::Region region;

    region.start();
    wg.add(2);
    for (int g = 0; g < 2; ++g)
      gort::go(
          [&, n](int g) {
            long long k = 0;
            for (long long i = 0; i < n; ++i) {
              gort::yield();
              ++k;
            }
            counts[g] = k;
            wg.done();  // Go: defer wg.Done(), after the store
          },
          g);
    wg.wait();
    region.stop();

    if (counts[0] != n || counts[1] != n)
      bench::fail("yield counts [%lld %lld], want %lld each", counts[0], counts[1], n);
    const long long switches = 2 * n;
    bench::print_result("yield", "n=%lld wall_ms=%.2f ns_per_op=%.2f cpu_ms=%.2f minflt=%ld", switches,
                        region.wall_ms(), region.wall_ns() / double(switches), region.cpu_ms(), region.minflt());
  });
}
