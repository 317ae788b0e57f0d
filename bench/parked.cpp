// parked: N goroutines (default 1,000,000), each blocked receiving from its
// own unbuffered channel. Each signals a WaitGroup just before it blocks; once
// all have signalled, main reads VmRSS. Reports (RSS_after - RSS_before) / N
// in bytes: the memory of one parked goroutine, counting its channel and its
// slot in the vector of channels. Then main closes every channel and waits
// until all N goroutines have exited.
//
// Mirrors the anchors' parked (go/parked/main.go, boostfiber/parked.cpp)
// exactly: argv[1] is N; procs are GOMAXPROCS (default: all hardware
// threads). rss_before (VmRSS) is read before the timed region, which starts
// (CPU time, page faults, clock) just before the vector of N channel handles
// (chan<empty>, Go's chan struct{}) is made; ready.add(N), exited.add(N); for
// each i, chans[i] = make_chan and go parked(chans[i], ...), the channel
// passed by value as Go does; ready.wait(). park_ms runs to here; then
// rss_after (VmRSS). release_ms runs from just before main closes every
// channel to just after exited.wait() returns, where the region (cpu_ms,
// minflt: both phases) ends. The check (untimed) is that RSS grew, all N
// exited (exited.wait() returned), and every receive saw the close (recv()
// returned nullopt; a value would be a FAIL from the goroutine itself).
// bytes_per_g = (rss_after - rss_before) * 1024 / N.
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include <climits>
#include <vector>

#include "common.hpp"

namespace {

struct empty {};  // Go's struct{}

void parked(gort::chan<empty> ch, gort::WaitGroup* ready, gort::WaitGroup* exited) {
  ready->done();
  if (ch.recv()) bench::fail("a parked goroutine received a value, want the close");
  exited->done();
}

}  // namespace

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 1'000'000);
  if (n > INT_MAX) bench::fail("N = %lld is too large (at most %d)", n, INT_MAX);

  return gort::run([n] {
    gort::WaitGroup ready, exited;
    bench::Region region;

    const long rss_before = bench::rss_kb();
    region.start();
    std::vector<gort::chan<empty>> chans(static_cast<std::size_t>(n));
    ready.add(static_cast<int>(n));
    exited.add(static_cast<int>(n));
    for (auto& ch : chans) {
      ch = gort::make_chan<empty>();
      gort::go(parked, ch, &ready, &exited);
    }
    ready.wait();
    const double park_ms = bench::ms_between(region.start_time(), bench::clock::now());
    const long rss_after = bench::rss_kb();

    const auto t1 = bench::clock::now();
    for (const auto& ch : chans) ch.close();
    exited.wait();
    region.stop();
    const double release_ms = bench::ms_between(t1, region.stop_time());

    if (rss_after <= rss_before) bench::fail("RSS did not grow: before %ld KiB, after %ld KiB", rss_before, rss_after);
    bench::print_result("parked",
                        "n=%lld rss_before_kb=%ld rss_after_kb=%ld bytes_per_g=%.2f park_ms=%.2f "
                        "release_ms=%.2f cpu_ms=%.2f minflt=%ld",
                        n, rss_before, rss_after, double(rss_after - rss_before) * 1024 / double(n), park_ms,
                        release_ms, region.cpu_ms(), region.minflt());
  });
}
