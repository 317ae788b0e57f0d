// mutex: 4 goroutines each do N (default 1,000,000) lock / counter++ / unlock
// on one gort::Mutex (sync.Mutex). Reports ns per lock = wall / (4*N).
//
// Mirrors the anchors' mutex (go/mutex/main.go, boostfiber/mutex.cpp)
// exactly: argv[1] is N; procs are GOMAXPROCS (default: all hardware
// threads); the timed region runs from just before wg.add(4) and the first go
// to just after wg.wait() returns; each goroutine calls done() last (Go:
// defer wg.Done()). counter is a plain long long (Go's int) guarded by the
// mutex. The check (untimed) is counter == 4N. ops = 4N: ns_per_op per lock.
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include "common.hpp"

int main(int argc, char** argv) {
  constexpr int workers = 4;
  const long long n = bench::arg_n(argc, argv, 1'000'000);

  return gort::run([n] {
    gort::Mutex mu;
    long long counter = 0;
    gort::WaitGroup wg;
    bench::Region region;

    region.start();
    wg.add(workers);
    for (int w = 0; w < workers; ++w)
      gort::go([&] {
        for (long long i = 0; i < n; ++i) {
          mu.lock();
          ++counter;
          mu.unlock();
        }
        wg.done();
      });
    wg.wait();
    region.stop();

    if (counter != workers * n) bench::fail("counter %lld, want %lld", counter, workers * n);
    const long long locks = workers * n;
    bench::print_result("mutex", "n=%lld wall_ms=%.2f ns_per_op=%.2f cpu_ms=%.2f minflt=%ld", locks, region.wall_ms(),
                        region.wall_ns() / double(locks), region.cpu_ms(), region.minflt());
  });
}
