// spawn: start N goroutines (default 1,000,000) that each call wg.done();
// main waits for all. Reports wall time per goroutine (create + run + exit),
// CPU time, page faults and peak RSS.
//
// Mirrors the anchors' spawn (go/spawn/main.go, boostfiber/spawn.cpp)
// exactly: argv[1] is N; procs are GOMAXPROCS (default: all hardware
// threads); the timed region runs from just before wg.add(N) and the first
// go to just after wg.wait() returns, goroutine creation included; the check
// (untimed) is Go's: after wait(), every spawned goroutine has also exited,
// that is num_goroutine() is back to 1 within 10 s (main yields meanwhile).
// ops = N: ns_per_op = ns per goroutine.
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include <chrono>
#include <climits>

#include "common.hpp"

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 1'000'000);
  if (n > INT_MAX) bench::fail("N = %lld is too large (at most %d)", n, INT_MAX);

  return gort::run([n] {
    gort::WaitGroup wg;
    bench::Region region;

    region.start();
    wg.add(static_cast<int>(n));
    for (long long i = 0; i < n; ++i) gort::go([&wg] { wg.done(); });
    wg.wait();
    region.stop();

    // Verify (untimed): wait() returned, so N done() calls happened; now every
    // spawned goroutine must also have exited.
    const auto deadline = bench::clock::now() + std::chrono::seconds(10);
    while (gort::num_goroutine() > 1) {
      if (bench::clock::now() > deadline)
        bench::fail("%zu goroutines still alive after Wait", gort::num_goroutine() - 1);
      gort::yield();
    }
    bench::print_result("spawn", "n=%lld wall_ms=%.2f ns_per_op=%.2f cpu_ms=%.2f minflt=%ld", n, region.wall_ms(),
                        region.wall_ns() / double(n), region.cpu_ms(), region.minflt());
  });
}
