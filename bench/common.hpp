// bench/common.hpp: what every gort benchmark program shares, the counterpart
// of the anchors' helpers (go/bench/bench.go and boostfiber/common.hpp under
// $ANCHORS, bench/compare.sh): the optional scale argument, resource readings,
// failing loudly, and the single machine-readable RESULT line
//
//   RESULT name=<workload> impl=gort procs=<P> <fields...> minflt=<n> rss_kb=<peak>
//
// with the anchors' field names and formatting (floats with 2 decimals,
// integers as integers). gort adds one field the anchors do not print:
// minflt, the minor page faults over the timed region (on this VM the first
// touch of a page costs ~10 us, so page faults explain much of a figure). It
// goes last among the workload's fields, just before rss_kb, which stays the
// last field of the line as in the anchors.
//
// A program parses its N before gort::run, measures its timed region with a
// Region, checks its result, and prints the RESULT line from inside run()
// (procs is gort::gomaxprocs(0), as Go prints runtime.GOMAXPROCS(0)).
#pragma once

#include <gort/runtime.hpp>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/resource.h>

namespace bench {

// The program's name, as Go's bench.Fail prints it (argv[0] without its
// directory); glibc keeps it for us.
inline const char* prog_name() { return program_invocation_short_name; }

// Reports a failed self-check (or a usage error) and exits 1: one line
// "FAIL <prog>: <message>" on stderr. Like Go's os.Exit it runs no
// destructors or atexit handlers, so it is safe while other threads of the
// runtime are running.
[[noreturn]] inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] inline void fail(const char* fmt, ...) {
  std::fflush(stdout);
  std::va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "FAIL %s: ", prog_name());
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::fflush(stderr);
  std::_Exit(1);
}

// The workload size: argv[1] if given (a positive integer, used to scale a
// run down), else def. Anything else is a FAIL, as in the anchors.
inline long long arg_n(int argc, char** argv, long long def) {
  if (argc < 2) return def;
  const char* s = argv[1];
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || errno != 0 || n <= 0) fail("bad scale argument \"%s\" (want a positive integer)", s);
  return n;
}

inline rusage self_rusage() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) fail("getrusage: %s", std::strerror(errno));
  return ru;
}

inline double cpu_ms(const rusage& ru) {
  return (double(ru.ru_utime.tv_sec) + double(ru.ru_stime.tv_sec)) * 1e3 +
         (double(ru.ru_utime.tv_usec) + double(ru.ru_stime.tv_usec)) / 1e3;
}

// The process's user+system CPU time so far (all threads), ms.
inline double cpu_ms() { return cpu_ms(self_rusage()); }

// Peak resident set size (getrusage ru_maxrss), KiB.
inline long peak_rss_kb() { return self_rusage().ru_maxrss; }

// Minor page faults so far (getrusage ru_minflt), whole process.
inline long minflt() { return self_rusage().ru_minflt; }

// Current resident set size (VmRSS in /proc/self/status), KiB.
inline long rss_kb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) fail("open /proc/self/status: %s", std::strerror(errno));
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, "VmRSS:", 6) == 0) kb = std::strtol(line + 6, nullptr, 10);
  std::fclose(f);
  if (kb < 0) fail("no VmRSS in /proc/self/status");
  return kb;
}

using clock = std::chrono::steady_clock;

inline double ms_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
inline double ns_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

// Region: one timed region. start() reads CPU time and page faults, then the
// monotonic clock (the anchors read CPU first, then time.Now); stop() reads
// the clock, then CPU time and page faults. Then:
//   wall_ms(), wall_ns(), cpu_ms() (user+sys of the whole process), minflt(),
// and start_time(), stop_time().
class Region {
 public:
  void start() {
    const rusage ru = self_rusage();
    cpu0_ = bench::cpu_ms(ru);
    flt0_ = ru.ru_minflt;
    t0_ = clock::now();
  }
  void stop() {
    t1_ = clock::now();
    const rusage ru = self_rusage();
    cpu1_ = bench::cpu_ms(ru);
    flt1_ = ru.ru_minflt;
  }
  // When start() and stop() read the clock, for a figure over part of the
  // region (parked's park_ms and release_ms).
  clock::time_point start_time() const { return t0_; }
  clock::time_point stop_time() const { return t1_; }
  double wall_ms() const { return ms_between(t0_, t1_); }
  double wall_ns() const { return ns_between(t0_, t1_); }
  double cpu_ms() const { return cpu1_ - cpu0_; }
  long minflt() const { return flt1_ - flt0_; }

 private:
  clock::time_point t0_{}, t1_{};
  double cpu0_ = 0, cpu1_ = 0;
  long flt0_ = 0, flt1_ = 0;
};

// Prints the one RESULT line: name, impl=gort, procs (gort::gomaxprocs(0), so
// call it from inside gort::run), the "key=value ..." text made from fmt
// (floats as %.2f, as the anchors), then peak rss_kb. Put minflt=%ld last in
// fmt. Flushes stdout.
inline void print_result(const char* name, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void print_result(const char* name, const char* fmt, ...) {
  char kv[1024];
  std::va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(kv, sizeof kv, fmt, ap);
  va_end(ap);
  const int procs = gort::gomaxprocs(0);
  std::printf("RESULT name=%s impl=gort procs=%d %s rss_kb=%ld\n", name, procs, kv, peak_rss_kb());
  std::fflush(stdout);
}

// Reads an environment variable as Go's os.Getenv does: unset and empty are
// the same ("").
inline bool env_set(const char* name) {
  const char* s = std::getenv(name);
  return s != nullptr && *s != '\0';
}

}  // namespace bench
