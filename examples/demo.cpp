// demo: the first program of the Go tour's concurrency chapter, to watch the
// scheduler keep sleeping goroutines. Run it as
//   GODEBUG=schedtrace=1000,scheddetail=1 ./demo
// Every second the runtime prints Go's SCHED report: the Ps (idle, since
// both goroutines sleep), the Ms (m0, sysmon, the idle ones), and, with
// scheddetail=1, each goroutine with its status and wait reason:
// "G1: status=4(sleep)" for main, the same for the other until its 5 s
// sleep ends; then it waits to hand main a value ("status=4(chan send)")
// until main wakes at 6 s and takes it, which readies it (goready) to exit.
//
// Read it alongside Go's start-up (docs/ARCHITECTURE.md, "Read it alongside
// Go"): gort::run is rt0_go, schedinit, newproc(main), mstart on m0;
// gort::go is newproc; each sleep and channel wait is gopark; the send's
// wake-up is goready. tests/gdb/startup_test.sh stops in each under gdb.
#include <gort/gort.hpp>

#include <chrono>
#include <cstdio>

int main() {
  using namespace std::chrono_literals;
  return gort::run([] {
    std::puts("Hello, world!");
    std::fflush(stdout);  // keep the order with the trace on stderr
    auto done = gort::make_chan<int>();
    gort::go([done] {
      std::puts("Hello, goroutine world!");
      std::fflush(stdout);
      gort::sleep(5s);
      done.send(5);  // main is still asleep: this waits for it
    });
    gort::sleep(6s);
    std::printf("The goroutine slept %d s.\n", *done.recv());
  });
}
