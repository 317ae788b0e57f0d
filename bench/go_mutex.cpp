// go_mutex: the 9 Benchmark functions of Go's sync/mutex_test.go (Go 1.19),
// ported line for line: UncontendedSemaphore, ContendedSemaphore,
// MutexUncontended, Mutex, MutexSlack, MutexWork, MutexWorkSlack,
// MutexNoSpin, MutexSpin. testing.B is bench/gobench.hpp; Go's side is
//
//   go test -c -o sync.test sync
//   ./sync.test -test.run=NONE -test.bench='^BenchmarkMutex$' -test.cpu=2
//
// and bench/gobench.sh runs both, interleaved.
//
// The two semaphore benchmarks call the runtime's semaphore directly, as
// Go's do through sync's export_test.go (Runtime_Semacquire is
// runtime.sync_runtime_Semacquire: semacquire1(addr, lifo=false),
// Runtime_Semrelease(s, false, 0) is semrelease1(addr, handoff=false)). gort
// has no public semaphore either, so this program includes the runtime's
// own header (src/runtime/sema.hpp), as gort's tests do.
//
// Go to gort: sync.Mutex is gort::Mutex (Lock/Unlock/TryLock are lock/
// unlock/try_lock); a goroutine's local array (MutexNoSpin's and MutexSpin's
// data) stays on its stack as in Go, and gobench::escape keeps its stores,
// which Go's compiler keeps and g++ would drop (nothing reads them).
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include <atomic>
#include <cstdint>

#include "gobench.hpp"
#include "runtime/sema.hpp"

namespace {

using gobench::B;
using gobench::PB;

void HammerSemaphore(std::atomic<std::uint32_t>* s, long long loops, gort::chan<bool> cdone) {
  for (long long i = 0; i < loops; ++i) {
    gort::rt::semacquire(s, false, gort::rt::wait_reason::semacquire);  // Runtime_Semacquire(s)
    gort::rt::semrelease(s, 1, false);                                   // Runtime_Semrelease(s, false, 0)
  }
  cdone.send(true);
}

void BenchmarkUncontendedSemaphore(B& b) {
  std::atomic<std::uint32_t> s{1};
  HammerSemaphore(&s, b.N, gort::make_chan<bool>(2));
}

void BenchmarkContendedSemaphore(B& b) {
  b.stop_timer();
  std::atomic<std::uint32_t> s{1};
  auto c = gort::make_chan<bool>();
  gobench::gomaxprocs_guard procs(2);
  b.start_timer();

  gort::go(HammerSemaphore, &s, b.N / 2, c);
  gort::go(HammerSemaphore, &s, b.N / 2, c);
  (void)c.recv();
  (void)c.recv();
}

void BenchmarkMutexUncontended(B& b) {
  struct PaddedMutex {
    gort::Mutex mu;
    std::uint8_t pad[128];
  };
  b.run_parallel([](PB& pb) {
    PaddedMutex mu;
    while (pb.next()) {
      mu.mu.lock();
      mu.mu.unlock();
    }
  });
}

// benchmarkMutex's work: foo is never used (Go's `_ = foo`), so Go's
// compiler drops `foo *= 2; foo /= 2` and keeps the loop around it, empty:
// 100 rounds of INCQ, CMPQ $0x64, JL (go tool objdump -s
// 'sync_test.benchmarkMutex.func1' sync.test). g++ drops foo's arithmetic
// too and would drop the empty loop as well; opaque(i) keeps it, so both do
// the same 100 empty rounds.
// mu: Go's escapes to the heap (the closures take its address), where no
// data the loop reads shares its cache line: the closure, which the loop
// reads mu's address from, is an allocation of another size class. Here
// the lambda, on this stack, would sit beside mu, and each lock's CAS
// would first miss on the load of mu's address from it: so mu has a cache
// line to itself (docs/PERFORMANCE.md, "a mutex beside the lambda").
void benchmark_mutex(B& b, bool slack, bool work) {
  struct alignas(64) {
    gort::Mutex mu;
  } line;
  gort::Mutex& mu = line.mu;
  if (slack) b.set_parallelism(10);
  b.run_parallel([&](PB& pb) {
    long foo = 0;
    while (pb.next()) {
      mu.lock();
      mu.unlock();
      if (work) {
        for (int i = 0; i < 100; ++i) {
          foo *= 2;
          foo /= 2;
          gobench::opaque(i);
        }
      }
    }
    (void)foo;
  });
}

void BenchmarkMutex(B& b) { benchmark_mutex(b, false, false); }
void BenchmarkMutexSlack(B& b) { benchmark_mutex(b, true, false); }
void BenchmarkMutexWork(B& b) { benchmark_mutex(b, false, true); }
void BenchmarkMutexWorkSlack(B& b) { benchmark_mutex(b, true, true); }

void BenchmarkMutexNoSpin(B& b) {
  // This benchmark models a situation where spinning in the mutex should be
  // non-profitable and allows to confirm that spinning does not do harm.
  // To achieve this we create excess of goroutines most of which do local work.
  // These goroutines yield during local work, so that switching from
  // a blocked goroutine to other goroutines is profitable.
  // As a matter of fact, this benchmark still triggers some spinning in the mutex.
  gort::Mutex m;
  std::uint64_t acc0 = 0, acc1 = 0;
  b.set_parallelism(4);
  b.run_parallel([&](PB& pb) {
    auto c = gort::make_chan<bool>();
    std::uint64_t data[4 << 10] = {};
    for (long i = 0; pb.next(); ++i) {
      if (i % 4 == 0) {
        m.lock();
        acc0 -= 100;
        acc1 += 100;
        m.unlock();
      } else {
        for (int i = 0; i < (4 << 10); i += 4) data[i]++;
        gobench::escape(data);
        // Elaborate way to say runtime.Gosched
        // that does not put the goroutine onto global runq.
        gort::go([c] { c.send(true); });
        (void)c.recv();
      }
    }
  });
}

void BenchmarkMutexSpin(B& b) {
  // This benchmark models a situation where spinning in the mutex should be
  // profitable. To achieve this we create a goroutine per-proc.
  // These goroutines access considerable amount of local data so that
  // unnecessary rescheduling is penalized by cache misses.
  gort::Mutex m;
  std::uint64_t acc0 = 0, acc1 = 0;
  b.run_parallel([&](PB& pb) {
    std::uint64_t data[16 << 10] = {};  // 128 KiB of the goroutine's 256 KiB stack
    for (long i = 0; pb.next(); ++i) {
      m.lock();
      acc0 -= 100;
      acc1 += 100;
      m.unlock();
      for (int i = 0; i < (16 << 10); i += 4) data[i]++;
      gobench::escape(data);
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  return gobench::main(argc, argv,
                       {
                           {"BenchmarkUncontendedSemaphore", BenchmarkUncontendedSemaphore},
                           {"BenchmarkContendedSemaphore", BenchmarkContendedSemaphore},
                           {"BenchmarkMutexUncontended", BenchmarkMutexUncontended},
                           {"BenchmarkMutex", BenchmarkMutex},
                           {"BenchmarkMutexSlack", BenchmarkMutexSlack},
                           {"BenchmarkMutexWork", BenchmarkMutexWork},
                           {"BenchmarkMutexWorkSlack", BenchmarkMutexWorkSlack},
                           {"BenchmarkMutexNoSpin", BenchmarkMutexNoSpin},
                           {"BenchmarkMutexSpin", BenchmarkMutexSpin},
                       });
}
