// idle_wake: what this machine charges to wake a sleeping thread on a CPU
// that has idled for a while, against waking it beside its waker. No gort
// in it: a probe of the machine behind startm's move of a woken M off its
// waker's CPU (src/runtime/proc.cpp, "Leaving the waker's CPU") and what
// that move costs where the other CPU idles long (docs/PERFORMANCE.md,
// "2026-12-07").
//
// The sleeper is pinned to one CPU and sleeps on a futex; the waker, pinned
// to CPU 0, keeps busy until idle_us after the sleeper set out to sleep
// (so the sleeper's CPU has idled about that long: entering the futex
// takes a microsecond or two), then wakes it, and the sleeper notes when
// it runs. A CPU that idles long may enter a deeper sleep state,
// or in a VM stop being polled by the hypervisor and be descheduled, and a
// wakeup then costs the time it takes to come back.
//
// usage: probe_idle_wake [ROUNDS]; a table over idle_us = 10 .. 1000, the
// sleeper on CPU 1 (other) and on CPU 0 (beside its waker, which the
// wakeup preempts). One RESULT line per row (impl=machine): the median and
// 90th percentile of ROUNDS wakeups (default 300), in microseconds.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

void spin_until(std::int64_t t) {
  while (now_ns() < t) {
  }
}

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// One sleeper thread, woken once per round. word: 0 asleep or about to
// be, 1 woken; sleeps: how many times the sleeper has set out to sleep,
// the last at slept_at; ran: when it ran after the last wake (0: not yet).
struct sleeper {
  std::atomic<std::uint32_t> word{0};
  std::atomic<std::int64_t> slept_at{0};
  std::atomic<int> sleeps{0};
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> ran{0};

  void loop() {
    while (!stop.load()) {
      slept_at.store(now_ns());
      sleeps.fetch_add(1);
      while (word.load() == 0) syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
      ran.store(now_ns());
      word.store(0);
    }
  }
  // await_sleep waits for the sleeper's n-th sleep, yielding the CPU (it
  // may be the sleeper's), then until idle_ns after it set out.
  void await_sleep(int n, std::int64_t idle_ns) {
    while (sleeps.load() < n) sched_yield();
    spin_until(slept_at.load() + idle_ns);
  }
  // wake: the latency of one wakeup, ns.
  std::int64_t wake() {
    ran.store(0);
    const std::int64_t t = now_ns();
    word.store(1);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    while (ran.load() == 0) {
    }
    return ran.load() - t;
  }
};

void row(int cpu, long idle_us, int rounds) {
  sleeper s;
  bool pinned = false;
  std::thread t([&] {
    pinned = pin(cpu);
    s.loop();
  });
  std::vector<std::int64_t> lat;
  for (int r = 1; r <= rounds; ++r) {
    s.await_sleep(r, idle_us * 1000);
    lat.push_back(s.wake());
  }
  s.await_sleep(rounds + 1, 20'000);
  s.stop.store(true);
  s.wake();
  t.join();
  std::sort(lat.begin(), lat.end());
  std::printf(
      "RESULT name=idle_wake impl=machine sleeper_cpu=%d pinned=%d idle_us=%ld rounds=%d median_us=%.1f p90_us=%.1f\n",
      cpu, pinned ? 1 : 0, idle_us, rounds, lat[lat.size() / 2] / 1000.0, lat[lat.size() * 9 / 10] / 1000.0);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 300;
  if (std::thread::hardware_concurrency() < 2 || !pin(0)) {
    std::fprintf(stderr, "probe_idle_wake: needs CPUs 0 and 1\n");
    return 1;
  }
  for (int cpu : {1, 0})
    for (long idle_us : {10, 50, 100, 150, 200, 500, 1000}) row(cpu, idle_us, rounds);
  return 0;
}
