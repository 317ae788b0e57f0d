// chan_nonblocking: Go's BenchmarkChanNonblocking (runtime/chan_test.go):
//
//   myc := make(chan int)
//   b.RunParallel(func(pb *testing.PB) {
//       for pb.Next() {
//           select {
//           case <-myc:
//           default:
//           }
//       }
//   })
//
// RunParallel runs GOMAXPROCS goroutines that share b.N iterations; ns/op is
// wall time / b.N. Here each of the GOMAXPROCS goroutines does N / GOMAXPROCS
// iterations (N: argv[1], default 100,000,000; GOMAXPROCS from the
// environment, else every CPU, as go test). Nothing is ever sent, so every
// select takes its default: it measures the lock-free "nothing ready" path
// of a non-blocking receive on an unbuffered channel shared by every P. Its
// Go side is `go test -run=NONE -bench='ChanNonblocking$' -cpu=N runtime`.
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/select.hpp>
#include <gort/sync.hpp>

#include <atomic>

#include "common.hpp"

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 100'000'000);
  return gort::run([n] {
    const int procs = gort::gomaxprocs(0);
    auto myc = gort::make_chan<int>();
    gort::WaitGroup wg;
    std::atomic<long long> received{0};
    bench::Region region;

    region.start();
    wg.add(procs);
    for (int w = 0; w < procs; ++w)
      gort::go([&, w] {
        const long long mine = n / procs + (w < n % procs ? 1 : 0);
        long long got = 0;
        for (long long i = 0; i < mine; ++i)
          gort::select(gort::case_recv(myc, [&](std::optional<int>) { ++got; }), gort::case_default());
        received.fetch_add(got);
        wg.done();
      });
    wg.wait();
    region.stop();

    if (received.load() != 0) bench::fail("received %lld values from a channel nobody sends on", received.load());
    bench::print_result("chan_nonblocking", "n=%lld wall_ms=%.2f ns_per_op=%.2f cpu_ms=%.2f minflt=%ld", n,
                        region.wall_ms(), region.wall_ns() / double(n), region.cpu_ms(), region.minflt());
  });
}
