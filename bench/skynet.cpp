// skynet (https://github.com/atemerev/skynet): a 10-ary tree of goroutines.
// Each leaf sends its number on its parent's unbuffered channel; each inner
// node sums its 10 children and sends the sum up. N leaves (a power of 10,
// default 1,000,000 = 6 levels below the root); expected sum N*(N-1)/2.
//
// Mirrors the anchors' skynet (go/skynet/main.go, boostfiber/skynet.cpp)
// exactly: argv[1] is N (a power of 10); procs are GOMAXPROCS (default: all
// hardware threads); every channel is an unbuffered chan<long long> (Go's
// int), passed to each goroutine by value as Go's go skynet(rc, ...) does (a
// chan is a reference, so the child shares its parent's channel). The timed
// region runs from just before main makes c and starts the root to just after
// main receives the sum; the check (untimed) is sum == N(N-1)/2. ops = the
// goroutines in the tree (1,111,111 for N = 1,000,000): ns_per_op = ns per
// goroutine; wall_ms is the headline figure.
#include <gort/chan.hpp>
#include <gort/runtime.hpp>

#include "common.hpp"

static void skynet(gort::chan<long long> c, long long num, long long size, long long div) {
  if (size == 1) {
    c.send(num);
    return;
  }
  auto rc = gort::make_chan<long long>();
  for (long long i = 0; i < div; ++i) {
    const long long sub_num = num + i * (size / div);
    gort::go(skynet, rc, sub_num, size / div, div);
  }
  long long sum = 0;
  for (long long i = 0; i < div; ++i) {
    const std::optional<long long> v = rc.recv();
    if (!v) bench::fail("child channel closed");
    sum += *v;
  }
  c.send(sum);
}

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 1'000'000);
  long long goroutines = 0;
  for (long long s = n;; s /= 10) {
    goroutines += n / s;
    if (s == 1) break;
    if (s % 10 != 0) bench::fail("leaf count %lld is not a power of 10", n);
  }

  return gort::run([n, goroutines] {
    bench::Region region;

    region.start();
    auto c = gort::make_chan<long long>();
    gort::go(skynet, c, 0LL, n, 10LL);
    const std::optional<long long> r = c.recv();
    region.stop();

    if (!r) bench::fail("root channel closed");
    const long long sum = *r;
    if (const long long want = n * (n - 1) / 2; sum != want) bench::fail("sum %lld, want %lld", sum, want);
    bench::print_result("skynet", "n=%lld goroutines=%lld sum=%lld wall_ms=%.2f ns_per_op=%.2f cpu_ms=%.2f minflt=%ld",
                        n, goroutines, sum, region.wall_ms(), region.wall_ns() / double(goroutines), region.cpu_ms(),
                        region.minflt());
  });
}
