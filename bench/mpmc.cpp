// mpmc: one channel of capacity 1024, 4 producers and 4 consumers, N ints in
// all (default 10,000,000). Producer p sends p*(N/4) .. p*(N/4)+N/4-1; main
// closes the channel once every producer is done; consumers sum until it is
// closed and drained. Expected sum N*(N-1)/2.
//
// Mirrors the anchors' mpmc (go/mpmc/main.go, boostfiber/mpmc.cpp) exactly:
// argv[1] is N (a multiple of 4); procs are GOMAXPROCS (default: all hardware
// threads); ch is a chan<long long> (Go's int) of capacity 1024 made before
// the timed region, which runs from just before pwg.add/cwg.add and the first
// go to just after cwg.wait() returns. Main starts the 4 producers, then the 4
// consumers (for v in ch: s += v, k++; then sums[c], counts[c] = s, k), waits
// on the producers' WaitGroup, closes ch, waits on the consumers'. Each
// goroutine calls done() last (Go: defer). The check (untimed) is Σk == N and
// Σs == N(N-1)/2. ops = N: ns_per_op per item; items_per_s = N / wall.
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include "common.hpp"

int main(int argc, char** argv) {
  constexpr int producers = 4, consumers = 4;
  constexpr std::size_t capacity = 1024;
  const long long n = bench::arg_n(argc, argv, 10'000'000);
  if (n % producers != 0) bench::fail("N=%lld not a multiple of %d", n, producers);
  const long long per = n / producers;

  return gort::run([n, per] {
    auto ch = gort::make_chan<long long>(capacity);
    gort::WaitGroup pwg, cwg;
    long long sums[consumers] = {}, counts[consumers] = {};
    bench::Region region;

    region.start();
    pwg.add(producers);
    cwg.add(consumers);
    for (int p = 0; p < producers; ++p)
      gort::go(
          [&, per](long long base) {
            for (long long i = 0; i < per; ++i) ch.send(base + i);
            pwg.done();
          },
          p * per);
    for (int c = 0; c < consumers; ++c)
      gort::go(
          [&](int c) {
            long long s = 0, k = 0;
            for (long long v : ch) {
              s += v;
              ++k;
            }
            sums[c] = s;
            counts[c] = k;
            cwg.done();
          },
          c);
    pwg.wait();
    ch.close();
    cwg.wait();
    region.stop();

    long long sum = 0, count = 0;
    for (int c = 0; c < consumers; ++c) {
      sum += sums[c];
      count += counts[c];
    }
    if (count != n || sum != n * (n - 1) / 2)
      bench::fail("received %lld items summing to %lld, want %lld summing to %lld", count, sum, n, n * (n - 1) / 2);
    const double wall_s = region.wall_ns() / 1e9;
    bench::print_result("mpmc", "n=%lld wall_ms=%.2f ns_per_op=%.2f items_per_s=%.2f cpu_ms=%.2f minflt=%ld", n,
                        region.wall_ms(), region.wall_ns() / double(n), double(n) / wall_s, region.cpu_ms(),
                        region.minflt());
  });
}
