// go_proc: the Benchmark functions of Go's runtime/proc_test.go (Go 1.19)
// that have a gort meaning, ported line for line: the same goroutines,
// channels, loops and work, under the same names. testing.B is
// bench/gobench.hpp; Go's side is runtime.test (see bench/go_chan.cpp) and
// bench/gobench.sh runs both, interleaved.
//
// Ported (8 of 11): PingPongHog, CreateGoroutines,
// CreateGoroutinesParallel, CreateGoroutinesCapture,
// CreateGoroutinesSingle, WakeupParallelSpinning (8 sub-benchmarks by
// delay), WakeupParallelSyscall (the same 8), Matmult.
//
// Left out (3), as Go features with no gort counterpart:
//  - StackGrowth, StackGrowthDeep: they measure Go's growable stacks
//    (morestack copying a goroutine's stack to one twice the size). A gort
//    stack is one fixed mapping (256 KiB by default) that never moves, so
//    the port would time plain recursion, and StackGrowthDeep's 1024 frames
//    of 1 KiB would overflow it.
//  - ClosureCall: Go's compiler calling a closure; no runtime involved.
//
// Go to gort: runtime.GOMAXPROCS(n) is gort::gomaxprocs(n) (Go's
// `defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))` is gobench::
// gomaxprocs_guard), a blocking system call made through package syscall
// (entersyscall/exitsyscall) is one made inside gort::blocking, time.Now()
// is std::chrono::steady_clock::now().
//
// gort departures: CreateGoroutinesCapture has no allocation count
// (b.ReportAllocs); Matmult stops its timer before its matrices are freed
// (Go's garbage collector frees them after the timed region).
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/select.hpp>
#include <gort/sync.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "gobench.hpp"

namespace {

using gobench::B;
using namespace std::chrono_literals;
using std::chrono::nanoseconds;

struct empty {};  // Go's struct{}

void BenchmarkPingPongHog(B& b) {
  if (b.N == 0) return;
  gobench::gomaxprocs_guard procs(1);

  // Create a CPU hog
  auto stop = gort::make_chan<bool>(), done = gort::make_chan<bool>();
  gort::go([stop, done] {
    for (;;) {
      bool stopped = false;
      gort::select(gort::case_recv(stop, [&](std::optional<bool>) { stopped = true; }), gort::case_default());
      if (stopped) {
        done.send(true);
        return;
      }
    }
  });

  // Ping-pong b.N times
  auto ping = gort::make_chan<bool>(), pong = gort::make_chan<bool>();
  gort::go([&b, ping, pong, stop, done] {
    for (long long j = 0; j < b.N; ++j) pong.send(*ping.recv());
    stop.close();
    done.send(true);
  });
  gort::go([&b, ping, pong, done] {
    for (long long i = 0; i < b.N; ++i) ping.send(*pong.recv());
    done.send(true);
  });
  b.reset_timer();
  ping.send(true);  // Start ping-pong
  (void)stop.recv();
  b.stop_timer();
  (void)ping.recv();  // Let last ponger exit
  (void)done.recv();  // Make sure goroutines exit
  (void)done.recv();
  (void)done.recv();
}

// f of benchmarkCreateGoroutines, Go's closure: f(n) starts f(n-1) as a new
// goroutine, down to f(0), which signals c.
struct create_f {
  const gort::chan<bool>* c;
  void operator()(long long n) const {
    if (n == 0) {
      c->send(true);
      return;
    }
    gort::go(*this, n - 1);
  }
};

void benchmark_create_goroutines(B& b, int procs) {
  auto c = gort::make_chan<bool>();
  const create_f f{&c};
  for (int i = 0; i < procs; ++i) gort::go(f, b.N / procs);
  for (int i = 0; i < procs; ++i) (void)c.recv();
}

void BenchmarkCreateGoroutines(B& b) { benchmark_create_goroutines(b, 1); }
void BenchmarkCreateGoroutinesParallel(B& b) { benchmark_create_goroutines(b, gort::gomaxprocs(0)); }

void BenchmarkCreateGoroutinesCapture(B& b) {
  for (long long i = 0; i < b.N; ++i) {
    constexpr int N = 4;
    gort::WaitGroup wg;
    wg.add(N);
    for (int i = 0; i < N; ++i) {
      gort::go([&b, &wg, i] {
        if (i >= N) std::fprintf(stderr, "%s: bad\n", b.name().c_str());  // just to capture b
        wg.done();
      });
    }
    wg.wait();
  }
}

void do_work(nanoseconds dur) {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < dur) {
  }
}

// warmup_scheduler ensures the scheduler has at least target_thread_count
// threads in its thread pool.
void warmup_scheduler(int target_thread_count) {
  gort::WaitGroup wg;
  std::atomic<std::int32_t> count{0};
  for (int i = 0; i < target_thread_count; ++i) {
    wg.add(1);
    gort::go([&] {
      count.fetch_add(1, std::memory_order_seq_cst);
      while (count.load(std::memory_order_seq_cst) < target_thread_count) {
        // spin until all threads started
      }
      // spin a bit more to ensure they are all running on separate CPUs.
      do_work(1ms);
      wg.done();
    });
  }
  wg.wait();
}

// BenchmarkCreateGoroutinesSingle creates many goroutines, all from a single
// producer (the main benchmark goroutine), so that the other Ps must steal
// them from its P.
void BenchmarkCreateGoroutinesSingle(B& b) {
  // Since we are interested in stealing behavior, warm the scheduler to
  // get all the Ps running first.
  warmup_scheduler(gort::gomaxprocs(0));
  b.reset_timer();

  gort::WaitGroup wg;
  wg.add(static_cast<int>(b.N));
  for (long long i = 0; i < b.N; ++i) gort::go([&wg] { wg.done(); });
  wg.wait();
}

// Go's time.Duration.String for these delays.
std::string duration_string(nanoseconds d) {
  if (d == 0ns) return "0s";
  return std::to_string(d.count() / 1000) + "\u00b5s";
}

// benchmarkWakeupParallel: two goroutines alternate as sender and receiver
// on unbuffered channels, each spinning `delay` (the sender delay +
// wakeDelay) before its operation, so that the receiver is usually already
// parked when the send comes: it measures how fast a goroutine parked on
// one P is woken and run on another. Go's comment in proc_test.go gives the
// arithmetic (time per iteration 2 * (overhead + delay + wakeDelay) when they
// run in parallel, 4 * delay + ... when serialized).
template <class Spin>
void benchmark_wakeup_parallel(B& b, Spin spin) {
  if (gort::gomaxprocs(0) == 1) return b.skip("skipping: GOMAXPROCS=1");

  const nanoseconds wake_delay = 5us;
  for (nanoseconds delay : {0us, 1us, 2us, 5us, 10us, 20us, 50us, 100us}) {
    b.run(duration_string(delay), [=](B& b) {
      if (b.N == 0) return;
      auto ping = gort::make_chan<empty>(), pong = gort::make_chan<empty>();
      auto start = gort::make_chan<empty>();
      auto done = gort::make_chan<empty>();
      gort::go([&b, spin, delay, wake_delay, ping, pong, start, done] {
        (void)start.recv();
        for (long long i = 0; i < b.N; ++i) {
          // sender
          spin(delay + wake_delay);
          ping.send(empty{});
          // receiver
          spin(delay);
          (void)pong.recv();
        }
        done.send(empty{});
      });
      gort::go([&b, spin, delay, wake_delay, ping, pong, done] {
        for (long long i = 0; i < b.N; ++i) {
          // receiver
          spin(delay);
          (void)ping.recv();
          // sender
          spin(delay + wake_delay);
          pong.send(empty{});
        }
        done.send(empty{});
      });
      b.reset_timer();
      start.send(empty{});
      (void)done.recv();
      (void)done.recv();
    });
  }
}

void BenchmarkWakeupParallelSpinning(B& b) {
  benchmark_wakeup_parallel(b, [](nanoseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      // do nothing
    }
  });
}

// sysNanosleep (runtime_linux_test.go): a blocking nanosleep system call,
// not time.Sleep, which would deschedule the goroutine. Go makes it through
// syscall.Syscall, so entersyscall/exitsyscall surround it: gort::blocking.
void BenchmarkWakeupParallelSyscall(B& b) {
  benchmark_wakeup_parallel(b, [](nanoseconds d) {
    gort::blocking([d] {
      timespec ts{static_cast<time_t>(d.count() / 1'000'000'000), static_cast<long>(d.count() % 1'000'000'000)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
    });
  });
}

using Matrix = std::vector<std::vector<double>>;

Matrix make_matrix(int n) {
  Matrix m(n);
  for (int i = 0; i < n; ++i) {
    m[i].resize(n);
    for (int j = 0; j < n; ++j) m[i][j] = double(i * n + j);
  }
  return m;
}

// matmult: C += A * B over [i0,i1) x [j0,j1) x [k0,k1), split in two until
// below threshold; the i and j halves run in parallel (one new goroutine
// each), the k halves not (they would race on C). done, if not nil, gets a
// value at the end.
void matmult(gort::chan<empty> done, Matrix& A, Matrix& B, Matrix& C, int i0, int i1, int j0, int j1, int k0, int k1,
             int threshold) {
  const int di = i1 - i0;
  const int dj = j1 - j0;
  const int dk = k1 - k0;
  if (di >= dj && di >= dk && di >= threshold) {
    // divide in two by y axis
    const int mi = i0 + di / 2;
    auto done1 = gort::make_chan<empty>(1);
    gort::go([&, done1, mi] { matmult(done1, A, B, C, i0, mi, j0, j1, k0, k1, threshold); });
    matmult({}, A, B, C, mi, i1, j0, j1, k0, k1, threshold);
    (void)done1.recv();
  } else if (dj >= dk && dj >= threshold) {
    // divide in two by x axis
    const int mj = j0 + dj / 2;
    auto done1 = gort::make_chan<empty>(1);
    gort::go([&, done1, mj] { matmult(done1, A, B, C, i0, i1, j0, mj, k0, k1, threshold); });
    matmult({}, A, B, C, i0, i1, mj, j1, k0, k1, threshold);
    (void)done1.recv();
  } else if (dk >= threshold) {
    // divide in two by "k" axis
    // deliberately not parallel because of data races
    const int mk = k0 + dk / 2;
    matmult({}, A, B, C, i0, i1, j0, j1, k0, mk, threshold);
    matmult({}, A, B, C, i0, i1, j0, j1, mk, k1, threshold);
  } else {
    // the matrices are small enough, compute directly
    for (int i = i0; i < i1; ++i)
      for (int j = j0; j < j1; ++j)
        for (int k = k0; k < k1; ++k) C[i][j] += A[i][k] * B[k][j];
  }
  if (done != gort::chan<empty>()) done.send(empty{});
}

void BenchmarkMatmult(B& b) {
  b.stop_timer();
  // matmult is O(N**3) but testing expects O(b.N),
  // so we need to take cube root of b.N
  const int n = int(std::cbrt(double(b.N))) + 1;
  Matrix A = make_matrix(n);
  Matrix B = make_matrix(n);
  Matrix C = make_matrix(n);
  b.start_timer();
  matmult({}, A, B, C, 0, n, 0, n, 0, n, 8);
  b.stop_timer();  // gort: before the matrices are freed
}

}  // namespace

int main(int argc, char** argv) {
  return gobench::main(argc, argv,
                       {
                           {"BenchmarkPingPongHog", BenchmarkPingPongHog},
                           {"BenchmarkCreateGoroutines", BenchmarkCreateGoroutines},
                           {"BenchmarkCreateGoroutinesParallel", BenchmarkCreateGoroutinesParallel},
                           {"BenchmarkCreateGoroutinesCapture", BenchmarkCreateGoroutinesCapture},
                           {"BenchmarkCreateGoroutinesSingle", BenchmarkCreateGoroutinesSingle},
                           {"BenchmarkWakeupParallelSpinning", BenchmarkWakeupParallelSpinning},
                           {"BenchmarkWakeupParallelSyscall", BenchmarkWakeupParallelSyscall},
                           {"BenchmarkMatmult", BenchmarkMatmult},
                       });
}
