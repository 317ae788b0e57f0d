// sleepers: N goroutines (default 100,000), each does 10 iterations of
// gort::sleep(10ms) (time.Sleep). Reports wall ms (ideal 100) and the CPU
// the process used meanwhile (getrusage user+sys): the cost of timers.
//
// Mirrors the anchors' sleepers (go/sleepers/main.go, boostfiber/sleepers.cpp)
// exactly: argv[1] is N; procs are GOMAXPROCS (default: all hardware
// threads); the timed region runs from just before wg.add(N) and the first go
// to just after wg.wait() returns (CPU time read first, then the clock). Each
// goroutine reads the clock, sleeps 10 x 10 ms, counts itself in `short` if
// under 100 ms passed (a timer fired early), adds 10 to `done` (atomic) and
// calls done() last (Go: defer wg.Done()). The check (untimed): done == 10N,
// short == 0, wall >= 100 ms.
#include <gort/runtime.hpp>
#include <gort/sync.hpp>
#include <gort/time.hpp>

#include <atomic>
#include <chrono>

#include "common.hpp"

namespace {
constexpr int iters = 10;
constexpr std::chrono::milliseconds nap{10};
}  // namespace

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 100'000);

  return gort::run([n] {
    gort::WaitGroup wg;
    std::atomic<long long> done{0};
    std::atomic<long long> short_{0};  // goroutines that finished in under 100 ms: must stay 0
    bench::Region region;

    region.start();
    wg.add(static_cast<int>(n));
    for (long long i = 0; i < n; ++i)
      gort::go([&] {
        const auto t0 = bench::clock::now();
        for (int j = 0; j < iters; ++j) gort::sleep(nap);
        if (bench::clock::now() - t0 < iters * nap) short_.fetch_add(1, std::memory_order_relaxed);
        done.fetch_add(iters, std::memory_order_relaxed);
        wg.done();
      });
    wg.wait();
    region.stop();

    const double wall = region.wall_ms();
    if (done.load() != n * iters || short_.load() != 0 || wall < iters * 10.0)
      bench::fail("sleeps done %lld (want %lld), goroutines done early %lld, wall %.2f ms", done.load(), n * iters,
                  short_.load(), wall);
    bench::print_result("sleepers", "n=%lld wall_ms=%.2f cpu_ms=%.2f minflt=%ld", n, wall, region.cpu_ms(),
                        region.minflt());
  });
}
