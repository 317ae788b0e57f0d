// go_chan: the 22 Benchmark functions of Go's runtime/chan_test.go (Go 1.19),
// ported line for line to gort: the same channels (element type, capacity),
// goroutines, loops and work, under the same names. testing.B is
// bench/gobench.hpp (b.N ramp, RunParallel, b.Run); the RESULT lines and the
// flags (-bench=RE, -benchtime, -cpu) are described there. Go's side:
//
//   go test -c -o runtime.test runtime
//   ./runtime.test -test.run=NONE -test.bench='^BenchmarkChanSync$' -test.cpu=2
//
// and bench/gobench.sh runs both, interleaved. All 22 are here:
// MakeChan (6 sub-benchmarks), ChanNonblocking, SelectUncontended,
// SelectSyncContended, SelectAsyncContended, SelectNonblock, ChanUncontended,
// ChanContended, ChanSync, ChanSyncWork, ChanProdCons0/10/100,
// ChanProdConsWork0/10/100, SelectProdCons, ReceiveDataFromClosedChan,
// ChanCreation, ChanSem, ChanPopular, ChanClosed. (BenchmarkChanNonblocking
// was bench/chan_nonblocking.cpp, folded in here.)
//
// How Go maps to gort here: make(chan T, n) is gort::make_chan<T>(n); `c <- v`
// is c.send(v), `<-c` is c.recv(); a select statement is gort::select with
// a case per Go case (one case and a default lowers to the non-blocking
// send/receive, as Go's compiler lowers it to selectnbsend/selectnbrecv);
// `go f()` is gort::go. Go's closures capture variables by reference: a
// goroutine's lambda captures a chan handle by value (a reference to the
// same channel, as in Go) and the rest by reference.
//
// Differences, all gort's:
//  - chan struct{}: a C++ empty struct has size 1, so such a channel's buffer
//    takes a byte per slot where Go's takes none (ChanSem,
//    ReceiveDataFromClosedChan, MakeChan/Struct/0).
//  - MakeChan: `x = make(...)` drops the last handle of the previous channel,
//    which gort frees then and there; Go's garbage collector frees it later.
//  - The `foo *= 2; foo /= 2` and localWork loops are kept as Go's compiler
//    keeps them (gobench::spin_foo, local_work).
//  - Checks Go lacks, outside the timed loops' hot paths or free on them:
//    ChanNonblocking fails if its receive is ever chosen; ChanProdCons*,
//    SelectProdCons and ReceiveDataFromClosedChan count what they receive.
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/select.hpp>
#include <gort/sync.hpp>
#include <gort/time.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "gobench.hpp"

namespace {

using gobench::B;
using gobench::PB;

struct struct0 {};
struct struct32 {
  std::int64_t a, b, c, d;
};
struct struct40 {
  std::int64_t a, b, c, d, e;
};

template <class T>
void make_chan_n(B& b) {
  gort::chan<T> x;
  for (long long i = 0; i < b.N; ++i) x = gort::make_chan<T>(8);
  x.close();
}

void BenchmarkMakeChan(B& b) {
  b.run("Byte", make_chan_n<unsigned char>);
  b.run("Int", make_chan_n<long>);
  b.run("Ptr", make_chan_n<unsigned char*>);
  b.run("Struct", [](B& b) {
    b.run("0", make_chan_n<struct0>);
    b.run("32", make_chan_n<struct32>);
    b.run("40", make_chan_n<struct40>);
  });
}

void BenchmarkChanNonblocking(B& b) {
  auto myc = gort::make_chan<int>();
  b.run_parallel([&](PB& pb) {
    while (pb.next())
      gort::select(
          gort::case_recv(myc, [&](std::optional<int>) { b.fatal("received from a channel nobody sends on"); }),
          gort::case_default());
  });
}

void BenchmarkSelectUncontended(B& b) {
  b.run_parallel([](PB& pb) {
    auto myc1 = gort::make_chan<int>(1);
    auto myc2 = gort::make_chan<int>(1);
    myc1.send(0);
    while (pb.next())
      gort::select(gort::case_recv(myc1, [&](std::optional<int>) { myc2.send(0); }),
                   gort::case_recv(myc2, [&](std::optional<int>) { myc1.send(0); }));
  });
}

void BenchmarkSelectSyncContended(B& b) {
  auto myc1 = gort::make_chan<int>();
  auto myc2 = gort::make_chan<int>();
  auto myc3 = gort::make_chan<int>();
  auto done = gort::make_chan<int>();
  b.run_parallel([&](PB& pb) {
    gort::go([myc1, myc2, myc3, done] {
      for (bool stop = false; !stop;)
        gort::select(gort::case_send(myc1, 0), gort::case_send(myc2, 0), gort::case_send(myc3, 0),
                     gort::case_recv(done, [&](std::optional<int>) { stop = true; }));
    });
    while (pb.next()) gort::select(gort::case_recv(myc1), gort::case_recv(myc2), gort::case_recv(myc3));
  });
  done.close();
}

void BenchmarkSelectAsyncContended(B& b) {
  const int procs = gort::gomaxprocs(0);
  auto myc1 = gort::make_chan<int>(procs);
  auto myc2 = gort::make_chan<int>(procs);
  b.run_parallel([&](PB& pb) {
    myc1.send(0);
    while (pb.next())
      gort::select(gort::case_recv(myc1, [&](std::optional<int>) { myc2.send(0); }),
                   gort::case_recv(myc2, [&](std::optional<int>) { myc1.send(0); }));
  });
}

void BenchmarkSelectNonblock(B& b) {
  auto myc1 = gort::make_chan<int>();
  auto myc2 = gort::make_chan<int>();
  auto myc3 = gort::make_chan<int>(1);
  auto myc4 = gort::make_chan<int>(1);
  b.run_parallel([&](PB& pb) {
    while (pb.next()) {
      gort::select(gort::case_recv(myc1), gort::case_default());
      gort::select(gort::case_send(myc2, 0), gort::case_default());
      gort::select(gort::case_recv(myc3), gort::case_default());
      gort::select(gort::case_send(myc4, 0), gort::case_default());
    }
  });
}

void BenchmarkChanUncontended(B& b) {
  constexpr int C = 100;
  b.run_parallel([](PB& pb) {
    auto myc = gort::make_chan<int>(C);
    while (pb.next()) {
      for (int i = 0; i < C; ++i) myc.send(0);
      for (int i = 0; i < C; ++i) (void)myc.recv();
    }
  });
}

void BenchmarkChanContended(B& b) {
  constexpr int C = 100;
  auto myc = gort::make_chan<int>(C * gort::gomaxprocs(0));
  b.run_parallel([&](PB& pb) {
    while (pb.next()) {
      for (int i = 0; i < C; ++i) myc.send(0);
      for (int i = 0; i < C; ++i) (void)myc.recv();
    }
  });
}

void benchmark_chan_sync(B& b, int work) {
  constexpr int CallsPerSched = 1000;
  constexpr int procs = 2;
  std::atomic<std::int32_t> N{static_cast<std::int32_t>(b.N / CallsPerSched / procs * procs)};
  auto c = gort::make_chan<bool>(procs);
  auto myc = gort::make_chan<int>();
  for (int p = 0; p < procs; ++p)
    gort::go([&N, c, myc, work] {
      for (;;) {
        const std::int32_t i = N.fetch_sub(1, std::memory_order_seq_cst) - 1;
        if (i < 0) break;
        for (int g = 0; g < CallsPerSched; ++g) {
          if (i % 2 == 0) {
            (void)myc.recv();
            gobench::local_work(work);
            myc.send(0);
            gobench::local_work(work);
          } else {
            myc.send(0);
            gobench::local_work(work);
            (void)myc.recv();
            gobench::local_work(work);
          }
        }
      }
      c.send(true);
    });
  for (int p = 0; p < procs; ++p) (void)c.recv();
}

void BenchmarkChanSync(B& b) { benchmark_chan_sync(b, 0); }
void BenchmarkChanSyncWork(B& b) { benchmark_chan_sync(b, 1000); }

void benchmark_chan_prod_cons(B& b, int chan_size, int local_work) {
  constexpr int CallsPerSched = 1000;
  const int procs = gort::gomaxprocs(0);  // Go: runtime.GOMAXPROCS(-1)
  std::atomic<std::int32_t> N{static_cast<std::int32_t>(b.N / CallsPerSched)};
  const long long sends = b.N / CallsPerSched * CallsPerSched;
  std::atomic<long long> received{0}, zeros{0};  // gort's check
  auto c = gort::make_chan<bool>(2 * procs);
  auto myc = gort::make_chan<int>(chan_size);
  for (int p = 0; p < procs; ++p) {
    gort::go([&N, c, myc, local_work] {
      long foo = 0;
      while (N.fetch_sub(1, std::memory_order_seq_cst) - 1 >= 0) {
        for (int g = 0; g < CallsPerSched; ++g) {
          gobench::spin_foo(foo, local_work);
          myc.send(1);
        }
      }
      myc.send(0);
      c.send(foo == 42);
    });
    gort::go([&received, &zeros, c, myc, local_work] {
      long foo = 0;
      long long got = 0;
      for (;;) {
        const int v = *myc.recv();
        if (v == 0) break;
        ++got;
        gobench::spin_foo(foo, local_work);
      }
      received.fetch_add(got, std::memory_order_relaxed);
      zeros.fetch_add(1, std::memory_order_relaxed);
      c.send(foo == 42);
    });
  }
  for (int p = 0; p < procs; ++p) {
    (void)c.recv();
    (void)c.recv();
  }
  if (received.load() != sends || zeros.load() != procs)
    b.fatal("consumers received %lld values and %lld zeros, want %lld and %d", received.load(), zeros.load(), sends,
            procs);
}

void BenchmarkChanProdCons0(B& b) { benchmark_chan_prod_cons(b, 0, 0); }
void BenchmarkChanProdCons10(B& b) { benchmark_chan_prod_cons(b, 10, 0); }
void BenchmarkChanProdCons100(B& b) { benchmark_chan_prod_cons(b, 100, 0); }
void BenchmarkChanProdConsWork0(B& b) { benchmark_chan_prod_cons(b, 0, 100); }
void BenchmarkChanProdConsWork10(B& b) { benchmark_chan_prod_cons(b, 10, 100); }
void BenchmarkChanProdConsWork100(B& b) { benchmark_chan_prod_cons(b, 100, 100); }

void BenchmarkSelectProdCons(B& b) {
  constexpr int CallsPerSched = 1000;
  const int procs = gort::gomaxprocs(0);  // Go: runtime.GOMAXPROCS(-1)
  std::atomic<std::int32_t> N{static_cast<std::int32_t>(b.N / CallsPerSched)};
  const long long sends = b.N / CallsPerSched * CallsPerSched;
  std::atomic<long long> received{0};  // gort's check
  auto c = gort::make_chan<bool>(2 * procs);
  auto myc = gort::make_chan<int>(128);
  auto myclose = gort::make_chan<bool>();
  for (int p = 0; p < procs; ++p) {
    gort::go([&N, c, myc, myclose] {
      // Producer: sends to myc.
      long foo = 0;
      // Intended to not fire during benchmarking.
      auto mytimer = gort::after(std::chrono::hours(1));
      while (N.fetch_sub(1, std::memory_order_seq_cst) - 1 >= 0) {
        for (int g = 0; g < CallsPerSched; ++g) {
          // Model some local work.
          gobench::spin_foo(foo, 100);
          gort::select(gort::case_send(myc, 1), gort::case_recv(mytimer), gort::case_recv(myclose));
        }
      }
      myc.send(0);
      c.send(foo == 42);
    });
    gort::go([&received, c, myc, myclose] {
      // Consumer: receives from myc.
      long foo = 0;
      long long got = 0;
      // Intended to not fire during benchmarking.
      auto mytimer = gort::after(std::chrono::hours(1));
      for (bool stop = false;;) {
        gort::select(gort::case_recv(myc,
                                     [&](std::optional<int> v) {
                                       if (*v == 0)
                                         stop = true;  // Go: break loop
                                       else
                                         ++got;
                                     }),
                     gort::case_recv(mytimer), gort::case_recv(myclose));
        if (stop) break;
        // Model some local work.
        gobench::spin_foo(foo, 100);
      }
      received.fetch_add(got, std::memory_order_relaxed);
      c.send(foo == 42);
    });
  }
  for (int p = 0; p < procs; ++p) {
    (void)c.recv();
    (void)c.recv();
  }
  if (received.load() != sends) b.fatal("consumers received %lld values, want %lld", received.load(), sends);
}

void BenchmarkReceiveDataFromClosedChan(B& b) {
  const long long count = b.N;
  auto ch = gort::make_chan<struct0>(count);
  for (long long i = 0; i < count; ++i) ch.send(struct0{});
  ch.close();

  b.reset_timer();
  long long got = 0;  // gort's check
  for (struct0 v : ch) {
    (void)v;
    ++got;
  }
  if (got != count) b.fatal("received %lld values, want %lld", got, count);
}

void BenchmarkChanCreation(B& b) {
  b.run_parallel([](PB& pb) {
    while (pb.next()) {
      auto myc = gort::make_chan<int>(1);
      myc.send(0);
      (void)myc.recv();
    }
  });
}

void BenchmarkChanSem(B& b) {
  struct Empty {};
  auto myc = gort::make_chan<Empty>(gort::gomaxprocs(0));
  b.run_parallel([&](PB& pb) {
    while (pb.next()) {
      myc.send(Empty{});
      (void)myc.recv();
    }
  });
}

void BenchmarkChanPopular(B& b) {
  constexpr int n = 1000;
  auto c = gort::make_chan<bool>();
  std::vector<gort::chan<bool>> a;
  gort::WaitGroup wg;
  wg.add(n);
  for (int j = 0; j < n; ++j) {
    auto d = gort::make_chan<bool>();
    a.push_back(d);
    gort::go([&b, &wg, c, d] {
      for (long long i = 0; i < b.N; ++i) gort::select(gort::case_recv(c), gort::case_recv(d));
      wg.done();
    });
  }
  for (long long i = 0; i < b.N; ++i)
    for (const auto& d : a) d.send(true);
  wg.wait();
}

void BenchmarkChanClosed(B& b) {
  auto c = gort::make_chan<struct0>();
  c.close();
  b.run_parallel([&](PB& pb) {
    while (pb.next()) gort::select(gort::case_recv(c), gort::case_default([&] { b.fatal("Unreachable"); }));
  });
}

}  // namespace

int main(int argc, char** argv) {
  return gobench::main(argc, argv,
                       {
                           {"BenchmarkMakeChan", BenchmarkMakeChan},
                           {"BenchmarkChanNonblocking", BenchmarkChanNonblocking},
                           {"BenchmarkSelectUncontended", BenchmarkSelectUncontended},
                           {"BenchmarkSelectSyncContended", BenchmarkSelectSyncContended},
                           {"BenchmarkSelectAsyncContended", BenchmarkSelectAsyncContended},
                           {"BenchmarkSelectNonblock", BenchmarkSelectNonblock},
                           {"BenchmarkChanUncontended", BenchmarkChanUncontended},
                           {"BenchmarkChanContended", BenchmarkChanContended},
                           {"BenchmarkChanSync", BenchmarkChanSync},
                           {"BenchmarkChanSyncWork", BenchmarkChanSyncWork},
                           {"BenchmarkChanProdCons0", BenchmarkChanProdCons0},
                           {"BenchmarkChanProdCons10", BenchmarkChanProdCons10},
                           {"BenchmarkChanProdCons100", BenchmarkChanProdCons100},
                           {"BenchmarkChanProdConsWork0", BenchmarkChanProdConsWork0},
                           {"BenchmarkChanProdConsWork10", BenchmarkChanProdConsWork10},
                           {"BenchmarkChanProdConsWork100", BenchmarkChanProdConsWork100},
                           {"BenchmarkSelectProdCons", BenchmarkSelectProdCons},
                           {"BenchmarkReceiveDataFromClosedChan", BenchmarkReceiveDataFromClosedChan},
                           {"BenchmarkChanCreation", BenchmarkChanCreation},
                           {"BenchmarkChanSem", BenchmarkChanSem},
                           {"BenchmarkChanPopular", BenchmarkChanPopular},
                           {"BenchmarkChanClosed", BenchmarkChanClosed},
                       });
}
