// bench/gobench.hpp: Go's testing.B for gort, so that the Benchmark*
// functions of Go's own test files (runtime/chan_test.go, proc_test.go,
// sync/mutex_test.go) can be ported line for line: bench/go_chan.cpp,
// go_proc.cpp, go_mutex.cpp. Go counterpart: src/testing/benchmark.go (Go
// 1.19); B, PB, run1, launch, runN, RunParallel and Next keep Go's names and
// shape.
//
// What a program does. main() lists its benchmarks, {Go's name, function},
// and calls gobench::main(argc, argv, list). Inside gort::run, each
// benchmark whose name matches -bench runs as go test runs it:
//
//   run1    one goroutine runs b.N = 1 (runN(1)). A benchmark that called
//           b.run(sub, f) there is a parent: its sub-benchmarks ran (each by
//           this same procedure, named parent/sub) and it reports nothing.
//   launch  else another goroutine ramps b.N up as Go's launch does until one
//           run lasts -benchtime (default 1s): predict n = goal * prevN /
//           prevDuration, + 20 %, at most 100x the last, at least last + 1, at
//           most 1e9. With -benchtime=Nx, exactly one more run, of N.
//   report  the last run's b.N and timed duration give the figure:
//
//   RESULT name=<Go's name> impl=gort procs=<P> n=<b.N> ns_op=<ns/op> wall_ms=<timed>
//          cpu_ms=<user+sys in the timed region> minflt=<page faults in it> rss_kb=<process peak>
//
// ns_op is Go's ns/op (timed duration / b.N). cpu_ms and minflt are read at
// every StartTimer/StopTimer (getrusage) and summed over the timed spans of
// the last run, like its duration. Names are Go's (BenchmarkMakeChan/Struct/0),
// without go test's "-<procs>" suffix: procs has its own field.
//
// RunParallel is Go's: parallelism * GOMAXPROCS goroutines share b.N
// iterations through one atomic counter, taking `grain` at a time, grain
// being the iterations of ~100 us by the previous run (1 to 10,000).
//
// Flags, spelled as go test's (a leading -test. is accepted too):
//   -bench=RE       which to run (default "." : all); a bare argument is taken
//                   as RE too. As Go's matcher: RE is split at '/' outside
//                   [] and (), and level k of a name must contain a match of
//                   part k (ECMAScript regex, which agrees with RE2 on the
//                   usual ^Name$ forms)
//   -benchtime=D    1s (default), 500ms, 2.5s, or Nx (b.N = N)
//   -cpu=P          runtime.GOMAXPROCS(P) before each benchmark, as go test
//                   -cpu=P (default: as run() set it, $GOMAXPROCS or all CPUs)
//   -list           print the top-level names and exit
//
// gort departures: no runtime.GC() before each runN (gort has no garbage
// collector) and no allocation counts (b.ReportAllocs: gort has no
// allocator of its own to count). b.Skip is b.skip(msg) followed by return.
// A failure (b.Fatal, b.Error, a failed check) prints "FAIL <prog>: <name>:
// <why>" and exits 1 (bench::fail), where go test would carry on to the
// next benchmark.
//
// Also here: the pieces of Go's test files that every port needs, done so
// that the C++ compiler keeps the work Go's compiler keeps (opaque, spin_foo,
// local_work), and a scoped runtime.GOMAXPROCS (gomaxprocs_guard).
#pragma once

#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/sync.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "common.hpp"

namespace gobench {

// opaque: the compiler must take x as read and changed here. Emits no
// instruction. Go's compiler does not fold `foo *= 2; foo /= 2` or
// `foo /= (foo + 1)` away; g++ would (the first is x with signed overflow
// undefined, the second stays 0), so every such step is followed by opaque
// to keep the same work.
template <class T>
inline void opaque(T& x) {
  asm volatile("" : "+r"(x));
}

// escape: the compiler must take everything p points to as read here. For a
// goroutine's local array that Go writes and never reads (MutexSpin's data):
// Go keeps the stores, g++ would drop them as dead.
inline void escape(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

// spin_foo: `for i := 0; i < n; i++ { foo *= 2; foo /= 2 }`, the "local work"
// loop of SelectProdCons and ChanProdConsWork (foo is Go's int), where foo
// is used afterwards (`c <- foo == 42`), so Go's compiler keeps SHLQ, SHRQ,
// ADDQ, SARQ per round, as this does. (MutexWork's foo is never used: see
// go_mutex.cpp.)
inline void spin_foo(long& foo, int n) {
  for (int i = 0; i < n; ++i) {
    foo *= 2;
    opaque(foo);
    foo /= 2;
    opaque(foo);
  }
}

// runtime/chan_test.go's alwaysFalse and workSink, and localWork(w): w
// dependent divisions.
inline bool always_false = false;
inline long work_sink = 0;
inline void local_work(int w) {
  long foo = 0;
  for (int i = 0; i < w; ++i) {
    foo /= (foo + 1);
    opaque(foo);
  }
  if (always_false) work_sink += foo;
}

// gomaxprocs_guard: Go's `defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))`.
class gomaxprocs_guard {
 public:
  explicit gomaxprocs_guard(int n) : old_(gort::gomaxprocs(n)) {}
  ~gomaxprocs_guard() { gort::gomaxprocs(old_); }
  gomaxprocs_guard(const gomaxprocs_guard&) = delete;
  gomaxprocs_guard& operator=(const gomaxprocs_guard&) = delete;

 private:
  int old_;
};

// in_goroutine runs f on a new goroutine and waits for it to return, as
// testing runs run1 and launch (go ...; <-b.signal).
template <class F>
void in_goroutine(F&& f) {
  auto signal = gort::make_chan<bool>();
  gort::go([&f, signal] {
    f();
    signal.send(true);
  });
  (void)signal.recv();
}

struct options {
  std::vector<std::regex> bench;  // -bench, split at '/': one regex per level
  double benchtime_ns = 1e9;      // -benchtime=D
  long long benchtime_n = 0;      // -benchtime=Nx (> 0: fixed b.N)
  int cpu = 0;                    // -cpu=P (0: leave GOMAXPROCS as it is)
};

inline options& opts() {
  static options o;
  return o;
}

// PB: Go's testing.PB. Each RunParallel goroutine has its own (here on its
// stack); they share global_n.
class PB {
 public:
  PB(std::atomic<std::uint64_t>* global_n, std::uint64_t grain, std::uint64_t bn) noexcept
      : global_n_(global_n), grain_(grain), bn_(bn) {}

  // next reports whether there are more iterations to execute (Go's Next).
  bool next() noexcept {
    if (cache_ == 0) {
      // atomic.AddUint64: Go's atomics are sequentially consistent.
      const std::uint64_t n = global_n_->fetch_add(grain_, std::memory_order_seq_cst) + grain_;
      if (n <= bn_)
        cache_ = grain_;
      else if (n < bn_ + grain_)
        cache_ = bn_ + grain_ - n;
      else
        return false;
    }
    --cache_;
    return true;
  }

 private:
  std::atomic<std::uint64_t>* global_n_;  // shared between all worker goroutines
  std::uint64_t grain_;                   // acquire that many iterations from global_n at once
  std::uint64_t cache_ = 0;               // local cache of acquired iterations
  std::uint64_t bn_;                      // total number of iterations to execute (b.N)
};

class B;
using bench_func = std::function<void(B&)>;

// B: Go's testing.B, the part these benchmarks use.
class B {
 public:
  long long N = 0;

  B(std::string name, bench_func fn, int level) : name_(std::move(name)), fn_(std::move(fn)), level_(level) {}

  const std::string& name() const { return name_; }

  // StartTimer, StopTimer, ResetTimer: Go's. Only the timed spans count.
  void start_timer() {
    if (timer_on_) return;
    const rusage ru = bench::self_rusage();
    cpu0_ = bench::cpu_ms(ru);
    flt0_ = ru.ru_minflt;
    start_ = bench::clock::now();
    timer_on_ = true;
  }
  void stop_timer() {
    if (!timer_on_) return;
    duration_ns_ += bench::ns_between(start_, bench::clock::now());
    const rusage ru = bench::self_rusage();
    cpu_ms_ += bench::cpu_ms(ru) - cpu0_;
    minflt_ += ru.ru_minflt - flt0_;
    timer_on_ = false;
  }
  void reset_timer() {
    if (timer_on_) {
      const rusage ru = bench::self_rusage();
      cpu0_ = bench::cpu_ms(ru);
      flt0_ = ru.ru_minflt;
      start_ = bench::clock::now();
    }
    duration_ns_ = 0;
    cpu_ms_ = 0;
    minflt_ = 0;
  }

  // SetParallelism: RunParallel uses p * GOMAXPROCS goroutines (p >= 1).
  void set_parallelism(int p) {
    if (p >= 1) parallelism_ = p;
  }

  // RunParallel (Go's, line for line): parallelism * GOMAXPROCS goroutines
  // each run body(pb) and share b.N iterations through pb.next().
  template <class F>
  void run_parallel(F&& body) {
    if (N == 0) return;  // nothing to do when probing
    // Calculate grain size as number of iterations that take ~100us.
    std::uint64_t grain = 0;
    if (previous_n_ > 0 && previous_duration_ns_ > 0)
      grain = std::uint64_t(100000) * std::uint64_t(previous_n_) / std::uint64_t(previous_duration_ns_);
    if (grain < 1) grain = 1;
    // We expect the inner loop and function call to take at least 10ns,
    // so do not do more than 100us/10ns=1e4 iterations.
    if (grain > 10000) grain = 10000;

    // gort: a cache line of its own, as Go's heap-allocated counter has in
    // practice (its 8-byte size class), so that the WaitGroup beside it on
    // this stack shares no line with it.
    alignas(64) std::atomic<std::uint64_t> n{0};
    const int num_procs = parallelism_ * gort::gomaxprocs(0);
    gort::WaitGroup wg;
    wg.add(num_procs);
    for (int p = 0; p < num_procs; ++p)
      gort::go([&] {
        PB pb(&n, grain, std::uint64_t(N));
        // gort: each worker calls its own copy of the closure, on its own
        // stack. Go's compiled closure loads its captured pointers once, at
        // entry, into registers and its own frame; g++ reloads them from the
        // closure object after every call it cannot see into (Mutex::lock's
        // slow path), and that object sits on the caller's stack, on a line
        // the benchmark's shared variables may share and every worker writes.
        auto local = body;
        local(pb);
        wg.done();  // Go: defer wg.Done()
      });
    wg.wait();
    if (n.load(std::memory_order_relaxed) <= std::uint64_t(N))
      fatal("RunParallel: body exited without pb.Next() == false");
  }

  // Run: a sub-benchmark named name()/sub, run as go test runs it (run1, then
  // launch unless it has sub-benchmarks of its own), if the -bench part for
  // its level matches.
  void run(const std::string& sub, bench_func f) {
    has_sub_ = true;
    if (!matches(sub, level_ + 1)) return;
    B b(name_ + "/" + sub, std::move(f), level_ + 1);
    b.run_benchmark();
  }

  // Skip: the caller returns at once after it.
  void skip(const char* why) {
    skipped_ = true;
    std::printf("--- SKIP: %s\n    %s\n", name_.c_str(), why);
    std::fflush(stdout);
  }

  // Fatal, Error: the benchmark failed; here the program stops (exit 1).
  template <class... A>
  [[noreturn]] void fatal(const char* fmt, A... args) const {
    char why[512];
    if constexpr (sizeof...(A) == 0)
      std::snprintf(why, sizeof why, "%s", fmt);
    else
      std::snprintf(why, sizeof why, fmt, args...);
    bench::fail("%s: %s", name_.c_str(), why);
  }

  // matches: does the -bench part for level match name (a level with no part
  // matches everything)?
  static bool matches(const std::string& name, int level) {
    const auto& re = opts().bench;
    if (std::size_t(level) >= re.size()) return true;
    return std::regex_search(name, re[std::size_t(level)]);
  }

  // run_benchmark: run1, then launch unless this is a parent; then report.
  void run_benchmark() {
    in_goroutine([this] { run_n(1); });
    if (has_sub_ || skipped_) return;  // a parent reports nothing (Go: hasSub)
    in_goroutine([this] { launch(); });
    if (skipped_) return;
    bench::print_result(name_.c_str(), "n=%lld ns_op=%.2f wall_ms=%.2f cpu_ms=%.2f minflt=%ld", N,
                        duration_ns_ / double(N), duration_ns_ / 1e6, cpu_ms_, minflt_);
  }

 private:
  // runN: Go's, minus runtime.GC().
  void run_n(long long n) {
    N = n;
    parallelism_ = 1;
    reset_timer();
    start_timer();
    fn_(*this);
    stop_timer();
    previous_n_ = n;
    previous_duration_ns_ = duration_ns_;
  }

  // launch: Go's ramp of b.N (see the top of this file).
  void launch() {
    const options& o = opts();
    if (o.benchtime_n > 0) {
      if (o.benchtime_n > 1) run_n(o.benchtime_n);
      return;
    }
    const double d = o.benchtime_ns;
    for (long long n = 1; !skipped_ && duration_ns_ < d && n < 1'000'000'000;) {
      const long long last = n;
      const long long goalns = static_cast<long long>(d);
      const long long prev_iters = N;
      long long prevns = static_cast<long long>(duration_ns_);
      if (prevns <= 0) prevns = 1;  // round up, to avoid div by zero
      // Multiply first, then divide (Go's order; 128-bit, as int64 suffices
      // in Go only because goal and iterations stay small).
      n = static_cast<long long>(static_cast<__int128>(goalns) * prev_iters / prevns);
      n += n / 5;                                    // run more iterations than we think we'll need (1.2x)
      n = std::min(n, 100 * last);                   // don't grow too fast
      n = std::max(n, last + 1);                     // at least one more than last time
      n = std::min(n, 1'000'000'000LL);              // at most 1e9
      run_n(n);
    }
  }

  std::string name_;
  bench_func fn_;
  int level_;  // 0: a top-level benchmark
  int parallelism_ = 1;
  bool has_sub_ = false;
  bool skipped_ = false;
  bool timer_on_ = false;
  bench::clock::time_point start_{};
  double duration_ns_ = 0;  // timed span of the current run
  double cpu_ms_ = 0;
  long minflt_ = 0;
  double cpu0_ = 0;
  long flt0_ = 0;
  long long previous_n_ = 0;         // number of iterations in the previous run
  double previous_duration_ns_ = 0;  // total duration of the previous run
};

struct benchmark {
  const char* name;  // Go's: "BenchmarkChanSync"
  bench_func fn;
};

// split_regexp: Go's splitRegexp (testing/match.go), '/' outside [] and ().
inline std::vector<std::string> split_regexp(const std::string& s) {
  std::vector<std::string> parts;
  int cs = 0, cp = 0;
  std::string cur;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '[')
      ++cs;
    else if (c == ']' && cs > 0)
      --cs;
    else if (c == '(' && cs == 0)
      ++cp;
    else if (c == ')' && cs == 0 && cp > 0)
      --cp;
    else if (c == '\\') {
      cur += c;
      if (++i < s.size()) cur += s[i];
      continue;
    } else if (c == '/' && cs == 0 && cp == 0) {
      parts.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  parts.push_back(cur);
  return parts;
}

inline const char* flag_value(const char* arg, const char* name) {
  for (const char* prefix : {"-test.", "--test.", "-", "--"}) {
    const std::size_t pl = std::strlen(prefix), nl = std::strlen(name);
    if (std::strncmp(arg, prefix, pl) == 0 && std::strncmp(arg + pl, name, nl) == 0 && arg[pl + nl] == '=')
      return arg + pl + nl + 1;
  }
  return nullptr;
}

inline void parse_benchtime(const char* v) {
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  const std::string unit = end ? end : "";
  options& o = opts();
  if (unit == "x" && x >= 1 && x == double(static_cast<long long>(x))) {
    o.benchtime_n = static_cast<long long>(x);
    return;
  }
  double scale = 0;
  if (unit == "s")
    scale = 1e9;
  else if (unit == "ms")
    scale = 1e6;
  else if (unit == "us" || unit == "\u00b5s")
    scale = 1e3;
  else if (unit == "ns")
    scale = 1;
  else if (unit == "m")
    scale = 60e9;
  if (end == v || scale == 0 || x <= 0) bench::fail("invalid -benchtime \"%s\" (want e.g. 1s, 500ms, 100x)", v);
  o.benchtime_ns = x * scale;
}

// main: parse the flags, then run the matching benchmarks in one gort::run,
// each as go test does (B::run_benchmark). Returns run()'s status.
inline int main(int argc, char** argv, std::vector<benchmark> list) {
  std::string pattern = ".";
  bool list_only = false;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (const char* v = flag_value(a, "bench"))
      pattern = v;
    else if (const char* v = flag_value(a, "benchtime"))
      parse_benchtime(v);
    else if (const char* v = flag_value(a, "cpu")) {
      char* end = nullptr;
      const long p = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || p < 1) bench::fail("invalid -cpu \"%s\" (want one positive integer)", v);
      opts().cpu = static_cast<int>(p);
    } else if (std::strcmp(a, "-list") == 0 || std::strcmp(a, "-test.list") == 0)
      list_only = true;
    else if (a[0] != '-')
      pattern = a;
    else
      bench::fail("unknown flag %s (want -bench=RE, -benchtime=D|Nx, -cpu=P, -list)", a);
  }
  if (list_only) {
    for (const auto& b : list) std::printf("%s\n", b.name);
    return 0;
  }
  for (const std::string& part : split_regexp(pattern)) {
    try {
      opts().bench.emplace_back(part, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      bench::fail("invalid -bench \"%s\": %s", pattern.c_str(), e.what());
    }
  }
  return gort::run([&list] {
    int ran = 0;
    for (auto& bm : list) {
      if (!B::matches(bm.name, 0)) continue;
      if (opts().cpu > 0) gort::gomaxprocs(opts().cpu);
      B b(bm.name, bm.fn, 0);
      b.run_benchmark();
      ++ran;
    }
    if (ran == 0) std::fprintf(stderr, "%s: no benchmark matches -bench\n", bench::prog_name());
  });
}

}  // namespace gobench
