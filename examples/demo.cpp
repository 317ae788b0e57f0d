// demo: the first program of the Go tour's concurrency chapter, to watch the
// scheduler keep sleeping goroutines. Run it as
//   GODEBUG=schedtrace=1000,scheddetail=1 ./demo
// Every second the runtime prints Go's SCHED report: the Ps (idle, since
// both goroutines sleep), the Ms (m0, sysmon, the idle ones), and, with
// scheddetail=1, each goroutine with its status and wait reason:
// "G1: status=4(sleep)" for main, the same for the other until its 5 s end.
#include <gort/gort.hpp>

#include <chrono>
#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  return gort::run([] {
    std::puts("Hello, world!");
    std::fflush(stdout);  // keep the order with the trace on stderr
    gort::go([] {
      std::puts("Hello, goroutine world!");
      std::fflush(stdout);
      gort::sleep(5s);
    });
    gort::sleep(6s);
  });
}
