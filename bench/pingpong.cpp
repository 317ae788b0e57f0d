// pingpong: two goroutines pass a counter back and forth over two unbuffered
// channels, N round trips (default 1,000,000). The name carries the procs:
// pingpong_p1 (GOMAXPROCS=1), pingpong_p2 (GOMAXPROCS=2).
//
// Mirrors the anchors' pingpong (go/pingpong/main.go, boostfiber/pingpong.cpp)
// exactly: argv[1] is N; procs are GOMAXPROCS (default: all hardware threads;
// compare.sh sets 1 and 2); ping and pong are unbuffered chan<long long> (Go's
// int) made before the timed region, which runs from just before wg.add(2) and
// the first go to just after wg.wait() returns. Main starts the ponger (N
// times: x = <-ping; pong <- x+1), then the pinger (v = 0; N times: ping <- v;
// v = <-pong; then final = v); each calls done() last (Go: defer wg.Done()).
// The check (untimed) is final == N. ops = N: ns_per_op = ns per round trip
// (two channel handoffs).
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include <string>

#include "common.hpp"

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 1'000'000);

  return gort::run([n] {
    auto ping = gort::make_chan<long long>();
    auto pong = gort::make_chan<long long>();
    gort::WaitGroup wg;
    long long final_v = -1;
    bench::Region region;

    region.start();
    wg.add(2);
    gort::go([&] {  // ponger: receive x, send x+1
      for (long long i = 0; i < n; ++i) {
        const std::optional<long long> x = ping.recv();
        if (!x) bench::fail("ping closed");
        pong.send(*x + 1);
      }
      wg.done();
    });
    gort::go([&] {  // pinger: send v, receive v+1
      long long v = 0;
      for (long long i = 0; i < n; ++i) {
        ping.send(v);
        const std::optional<long long> r = pong.recv();
        if (!r) bench::fail("pong closed");
        v = *r;
      }
      final_v = v;
      wg.done();
    });
    wg.wait();
    region.stop();

    if (final_v != n) bench::fail("counter %lld, want %lld", final_v, n);
    const std::string name = "pingpong_p" + std::to_string(gort::gomaxprocs(0));
    bench::print_result(name.c_str(), "n=%lld wall_ms=%.2f ns_per_op=%.2f cpu_ms=%.2f minflt=%ld", n, region.wall_ms(),
                        region.wall_ns() / double(n), region.cpu_ms(), region.minflt());
  });
}
