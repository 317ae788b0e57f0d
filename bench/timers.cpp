// timers: the resident memory one pending timer costs, and the time to
// create one, for the requirement "memory per pending timer stays below
// Go's". Go's side is bench/go/timers/main.go (this repo, not the anchors),
// which does the same thing line for line.
//
// N = 1,000,000 (argv[1]). Three phases, each in a process of its own: the
// program runs itself as "bench_timers N PHASE" for PHASE = timer,
// afterfunc, sleep, reads the numbers each prints, and prints the one RESULT
// line. A fresh process per phase, because a runtime keeps the room its
// timer heaps have grown to (gort's per-P vector, Go's per-P []*timer): a
// phase run after another would find room for its heap entries already there
// and not count it.
//
// Each phase first warms the runtime up: main creates and stops 1,000
// Timers and 1,000 after_func timers and sleeps 1 ms. Every RSS reading
// (VmRSS, bench::rss_kb, as parked) first gives free memory back to the OS:
// malloc_trim(0) here, debug.FreeOSMemory (a full GC, then every free page
// released) in Go. So a figure is what the live timers hold, not free memory
// an allocator keeps nor garbage awaiting Go's GC; Go's GC headroom (GOGC=100
// lets its heap reach twice the live heap) is not counted.
//
//  1. timer: before = RSS; the timed region starts; a vector<gort::Timer> is
//     reserved for N, and N times emplace_back(1h); the region stops; after =
//     RSS. timer_bytes = (after - before) * 1024 / N - sizeof(gort::Timer):
//     the vector is the benchmark's, not the timers', so its 16 bytes per
//     element (channel handle and timer reference) are taken off (Go takes
//     off its slice's 8 bytes per *time.Timer; a program holding N timers
//     pays those too). create_ns: the region's wall ns / N; minflt: its page faults.
//     Check: all N stop() calls return true.
//  2. afterfunc: the same with gort::after_func(1h, fired) (fired, a plain
//     function, counts its calls): afterfunc_bytes. Check: all N stop()
//     calls return true and fired never ran.
//  3. sleep: N goroutines each blocked receiving from the nil channel, then N
//     more each blocked in gort::sleep(1h); each calls ready.done() just
//     before it blocks, and main reads RSS once ready.wait() returns.
//     recv_g_bytes and sleep_g_bytes are each set's RSS increase * 1024 / N;
//     sleep_bytes = sleep_g_bytes - recv_g_bytes is what the pending sleep
//     adds to a blocked goroutine (stack and G cancel out). The baseline is
//     the nil channel because in Go a receive on a real one holds a 96-byte
//     sudog (gort's is on the goroutine's stack) that a sleeping goroutine
//     does not hold: subtracting it would credit Go's sleep with the sudog.
//     Both sets stay blocked until run() returns. Check: RSS grew for both
//     sets; gort::num_goroutine() == 2N + 1.
//
// RESULT name=timers impl=gort procs= n= timer_bytes= create_ns=
// afterfunc_bytes= recv_g_bytes= sleep_g_bytes= sleep_bytes= minflt=
// rss_kb=, the line bench::print_result would print except that rss_kb is
// the largest peak RSS of the three phase processes (getrusage
// RUSAGE_CHILDREN), not this one's.
#include <gort/chan.hpp>
#include <gort/runtime.hpp>
#include <gort/sync.hpp>
#include <gort/time.hpp>

#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int warm_up = 1000;

struct empty {};  // Go's struct{}

// settled_rss_kb: VmRSS once free memory has gone back to the OS.
long settled_rss_kb() {
  malloc_trim(0);
  return bench::rss_kb();
}

double per_item(long before_kb, long after_kb, long long n) { return double(after_kb - before_kb) * 1024 / double(n); }

std::atomic<long long> fired_count{0};

void fired() { fired_count.fetch_add(1, std::memory_order_relaxed); }

long long stop_all(std::vector<gort::Timer>& ts) {
  long long stopped = 0;
  for (auto& t : ts) stopped += t.stop();
  return stopped;
}

void warm() {
  std::vector<gort::Timer> ts;
  for (int i = 0; i < warm_up; ++i) ts.emplace_back(1h);
  stop_all(ts);
  ts.clear();
  for (int i = 0; i < warm_up; ++i) ts.push_back(gort::after_func(1h, fired));
  stop_all(ts);
  gort::sleep(1ms);
}

struct timers_result {
  double bytes, ns;
  long minflt;
};

// phase_timers is phases 1 (after_func false) and 2.
timers_result phase_timers(long long n, bool after_func) {
  bench::Region region;
  const long before = settled_rss_kb();
  region.start();
  std::vector<gort::Timer> ts;
  ts.reserve(static_cast<std::size_t>(n));
  for (long long i = 0; i < n; ++i) {
    if (after_func)
      ts.push_back(gort::after_func(1h, fired));
    else
      ts.emplace_back(1h);
  }
  region.stop();
  const long after = settled_rss_kb();
  if (const long long stopped = stop_all(ts); stopped != n || fired_count.load() != 0)
    bench::fail("stop() returned true for %lld of %lld timers; %lld after_func calls ran", stopped, n,
                fired_count.load());
  return {per_item(before, after, n) - double(sizeof(gort::Timer)), region.wall_ns() / double(n), region.minflt()};
}

void recv_blocked(gort::WaitGroup* ready) {
  ready->done();
  (void)gort::chan<empty>().recv();
}

void sleeper(gort::WaitGroup* ready) {
  ready->done();
  gort::sleep(1h);
}

// blocked_set starts n goroutines running f and returns the RSS increase per
// goroutine once all of them have called ready.done().
double blocked_set(long long n, void (*f)(gort::WaitGroup*), gort::WaitGroup& ready) {
  const long before = settled_rss_kb();
  ready.add(static_cast<int>(n));
  for (long long i = 0; i < n; ++i) gort::go(f, &ready);
  ready.wait();
  const long after = settled_rss_kb();
  if (after <= before) bench::fail("RSS did not grow: before %ld KiB, after %ld KiB", before, after);
  return per_item(before, after, n);
}

void run_phase(const std::string& phase, long long n) {
  warm();
  if (phase == "timer") {
    const timers_result r = phase_timers(n, false);
    std::printf("%.2f %.2f %ld\n", r.bytes, r.ns, r.minflt);
  } else if (phase == "afterfunc") {
    std::printf("%.2f\n", phase_timers(n, true).bytes);
  } else {
    gort::WaitGroup ready;
    const double recv = blocked_set(n, recv_blocked, ready);
    const double sleep = blocked_set(n, sleeper, ready);
    if (const std::size_t g = gort::num_goroutine(); g != std::size_t(2 * n + 1))
      bench::fail("%zu goroutines, want %lld", g, 2 * n + 1);
    std::printf("%.2f %.2f\n", recv, sleep);
  }
  std::fflush(stdout);
}

// phase_values runs this program as "exe n phase" and returns the want
// numbers it prints. A phase that fails has said why on stderr.
std::vector<double> phase_values(long long n, const char* phase, std::size_t want) {
  int fds[2];
  if (pipe(fds) != 0) bench::fail("pipe: %s", std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  const std::string n_arg = std::to_string(n);
  char* argv[] = {const_cast<char*>(bench::prog_name()), const_cast<char*>(n_arg.c_str()), const_cast<char*>(phase),
                  nullptr};
  pid_t pid;
  const int err = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (err != 0) bench::fail("phase %s: posix_spawn: %s", phase, std::strerror(err));
  std::string out;
  char buf[256];
  for (ssize_t k; (k = read(fds[0], buf, sizeof buf)) != 0;) {
    if (k < 0 && errno != EINTR) bench::fail("phase %s: read: %s", phase, std::strerror(errno));
    if (k > 0) out.append(buf, static_cast<std::size_t>(k));
  }
  close(fds[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) bench::fail("phase %s: waitpid: %s", phase, std::strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    bench::fail("phase %s: %s %d", phase, WIFEXITED(status) ? "exit" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  std::vector<double> vs;
  const char* s = out.c_str();
  for (char* end;; s = end) {
    const double v = std::strtod(s, &end);
    if (end == s) break;
    vs.push_back(v);
  }
  if (vs.size() != want || *s != '\n' || s[1] != '\0')
    bench::fail("phase %s printed \"%s\", want %zu numbers", phase, out.c_str(), want);
  return vs;
}

}  // namespace

int main(int argc, char** argv) {
  const long long n = bench::arg_n(argc, argv, 1'000'000);
  if (n > INT_MAX / 2) bench::fail("N = %lld is too large (at most %d)", n, INT_MAX / 2);
  if (argc >= 3) {
    const std::string phase = argv[2];
    if (phase != "timer" && phase != "afterfunc" && phase != "sleep")
      bench::fail("unknown phase \"%s\" (want timer, afterfunc or sleep)", argv[2]);
    return gort::run([&] { run_phase(phase, n); });
  }

  const std::vector<double> timer = phase_values(n, "timer", 3);
  const std::vector<double> after_func = phase_values(n, "afterfunc", 1);
  const std::vector<double> sleep = phase_values(n, "sleep", 2);
  rusage ru{};
  if (getrusage(RUSAGE_CHILDREN, &ru) != 0) bench::fail("getrusage: %s", std::strerror(errno));
  return gort::run([&] {
    std::printf(
        "RESULT name=timers impl=gort procs=%d n=%lld timer_bytes=%.2f create_ns=%.2f "
        "afterfunc_bytes=%.2f recv_g_bytes=%.2f sleep_g_bytes=%.2f sleep_bytes=%.2f "
        "minflt=%ld rss_kb=%ld\n",
        gort::gomaxprocs(0), n, timer[0], timer[1], after_func[0], sleep[0], sleep[1], sleep[1] - sleep[0],
        long(timer[2]), ru.ru_maxrss);
    std::fflush(stdout);
  });
}
