// testprog: gort's crash scenarios, one program run as `testprog <Name>`.
// Go counterpart: src/runtime/testdata/testprog (deadlock.go, crash.go,
// stackoverflow.go, ...), which crash_test.go builds and runs. Here
// tests/runtime/crash_test.cpp runs it and checks the exit status and stderr.
//
// Each scenario returns what run() returned; a scenario that is meant to
// crash and returns instead says so on stderr, so the crash test shows it.
// testprog is linked with -rdynamic (gort::gort adds it), so the runtime's
// dladdr symbolization can name the functions below that are extern.
#include <functional>
#include <gort/gort.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../runtime/thread_state.hpp"  // opaque_pthread_self
#include "runtime/export_test.hpp"     // backdate_waits
#include "scenario.hpp"

// The functions a stack trace must name are extern "C" and never inlined, so
// their symbols are in the dynamic symbol table under these exact names.
extern "C" {

// Spins until *stop without entering the runtime: a stall. No call in the
// loop, so a sample of its stack lands in this frame, not in a PLT stub
// (arm64's have no unwind entry) or the vDSO.
__attribute__((noinline)) void testprog_stalling_function(const std::atomic<bool>* stop) {
  while (!stop->load(std::memory_order_relaxed)) __asm__ volatile("");
}

// Spins until *stop without entering the runtime, in a frame whose unwind
// entry gives as its return address a word that is no code: 8, in page
// zero. An unwinder that steps past it finds no entry for that pc, and
// libgcc's fallback then reads the instructions there (is it the signal
// trampoline?), which faults (crash_test.cpp, StallReportBadUnwind).
void testprog_spin_bad_unwind(const std::atomic<bool>* stop);
#if defined(__x86_64__)
__asm__(R"(
    .text
    .globl  testprog_spin_bad_unwind
    .type   testprog_spin_bad_unwind, @function
testprog_spin_bad_unwind:
    .cfi_startproc
    pushq   $8
    .cfi_adjust_cfa_offset 8
    .cfi_offset %rip, -16
1:  pause
    cmpb    $0, (%rdi)
    je      1b
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rip
    ret
    .cfi_endproc
    .size   testprog_spin_bad_unwind, .-testprog_spin_bad_unwind
)");
#elif defined(__aarch64__)
__asm__(R"(
    .text
    .globl  testprog_spin_bad_unwind
    .type   testprog_spin_bad_unwind, %function
testprog_spin_bad_unwind:
    .cfi_startproc
    mov     x9, #8
    stp     x9, x30, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x30, -16
1:  yield
    ldrb    w10, [x0]
    cbz     w10, 1b
    ldp     x9, x30, [sp], #16
    .cfi_restore x30
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc
    .size   testprog_spin_bad_unwind, .-testprog_spin_bad_unwind
)");
#endif

__attribute__((noinline)) void testprog_panicking_function(int depth) {
  if (depth > 0) {
    testprog_panicking_function(depth - 1);
    __asm__ volatile("");  // not a tail call: keep this frame
    return;
  }
  throw gort::panic_error("bad thing");
}

__attribute__((noinline)) void testprog_throw_int() { throw 42; }

volatile int testprog_recursion_limit = -1;  // never reached; keeps the recursion formally finite

__attribute__((noinline)) int testprog_recurse(int n) {
  volatile char frame[256];
  frame[0] = static_cast<char>(n);
  frame[sizeof frame - 1] = static_cast<char>(n);
  if (n == testprog_recursion_limit) return frame[0];
  return testprog_recurse(n + 1) + frame[sizeof frame - 1];  // not a tail call
}

}  // extern "C"

namespace {

void park_one();  // a goroutine parked by name ("Goroutine dumps", below)

int returned(const char* name, int rc) {
  std::fprintf(stderr, "testprog: %s: run() returned %d, expected the process to die\n", name, rc);
  return 0;
}

// main waits on a WaitGroup nobody will release.
int SimpleDeadlock() {
  int rc = gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    wg.wait();
  });
  return returned("SimpleDeadlock", rc);
}

// main and three goroutines all wait on WaitGroups nobody will release.
int GoroutineDeadlock() {
  int rc = gort::run(gort::Config{.maxprocs = 2}, [] {
    gort::WaitGroup a, b;
    a.add(1);
    b.add(1);
    for (int i = 0; i < 3; ++i) gort::go([&b] { b.wait(); });
    a.wait();
  });
  return returned("GoroutineDeadlock", rc);
}

// Every way to wait on channels, select and sync at once, with nothing left
// to wake anyone: one goroutine waits in each of waits[] (crash_test.cpp
// checks each reason; the ids in the comments are the usual ones, not
// guaranteed), main in a receive.
int WaitReasonsDeadlock() {
  int rc = gort::run(gort::Config{.maxprocs = 2}, [] {
    static gort::Mutex mu, cond_mu;
    static gort::RWMutex wlocked, rlocked;
    static gort::Cond cond(cond_mu);
    static gort::WaitGroup wg;
    auto unbuffered = gort::make_chan<int>();
    mu.lock();
    wlocked.lock();
    rlocked.lock_shared();
    wg.add(1);
    std::function<void()> waits[] = {
        [] { mu.lock(); },                 // 2 sync.Mutex.Lock
        [] { wlocked.lock_shared(); },     // 3 sync.RWMutex.RLock
        [] { rlocked.lock(); },            // 4 sync.RWMutex.Lock
        [] { wg.wait(); },                 // 5 sync.WaitGroup.Wait
        [] {                               // 6 sync.Cond.Wait
          std::lock_guard l(cond_mu);
          cond.wait();
        },
        [=] { unbuffered.send(1); },       // 7 chan send
        [] { gort::chan<int>().recv(); },  // 8 chan receive (nil chan)
        [] { gort::chan<int>().send(1); }, // 9 chan send (nil chan)
        [] { gort::select(); },            // 10 select (no cases)
        [] {                               // 11 select
          auto a = gort::make_chan<int>(), b = gort::make_chan<int>();
          gort::select(gort::case_recv(a), gort::case_send(b, 1));
        },
    };
    for (auto& w : waits) gort::go(w);
    gort::make_chan<int>().recv();         // 1 chan receive
  });
  return returned("WaitReasonsDeadlock", rc);
}

int PanicSendOnClosed() {
  int rc = gort::run([] {
    auto ch = gort::make_chan<int>();
    ch.close();
    ch.send(1);
  });
  return returned("PanicSendOnClosed", rc);
}

int PanicMain() {
  int rc = gort::run([] { throw std::runtime_error("boom"); });
  return returned("PanicMain", rc);
}

// in_goroutine runs fn in a goroutine other than main (on 2 Ps) and waits
// for it: the scenarios below fail in that goroutine, not in main. With
// park, a goroutine parks by name first (park_one).
int in_goroutine(const char* name, void (*fn)(), bool park = false) {
  int rc = gort::run(gort::Config{.maxprocs = 2}, [fn, park] {
    if (park) park_one();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&wg, fn] {
      fn();
      wg.done();
    });
    wg.wait();
  });
  return returned(name, rc);
}

int PanicGoroutine() {
  return in_goroutine("PanicGoroutine", [] { testprog_panicking_function(3); });
}

// A tight loop long enough for sysmon to take the P (preempt.cpp), then the
// panic.
int PanicAfterHandoff() {
  return in_goroutine("PanicAfterHandoff", [] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(60);
    while (std::chrono::steady_clock::now() < until) {
    }
    testprog_panicking_function(3);
  });
}

int PanicNonStd() {
  return in_goroutine("PanicNonStd", [] { testprog_throw_int(); });
}

// A goroutine overflows its stack, with a goroutine parked by name for
// the report's dump.
int StackOverflow() {
  return in_goroutine("StackOverflow", [] { testprog_recurse(0); }, true);
}

// Two goroutines print "noise" lines to stderr without pause while a third
// overflows its stack: the fatal report must be the last thing said
// (freezetheworld, signal_unix.cpp). Also a program's own SIGSEGV handler,
// installed before run(), must not get a goroutine's stack overflow.
int FatalFreezesOthers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = [](int) {
    static const char msg[] = "testprog: the program's SIGSEGV handler ran\n";
    ssize_t w = ::write(2, msg, sizeof msg - 1);
    (void)w;
    ::_exit(3);
  };
  sigaction(SIGSEGV, &sa, nullptr);
  int rc = gort::run(gort::Config{.maxprocs = 4}, [] {
    std::atomic<int> printing{0};
    for (int i = 0; i < 2; ++i)
      gort::go([&printing] {
        printing.fetch_add(1);
        static const char line[] = "noise\n";
        for (;;) {
          ssize_t w = ::write(2, line, sizeof line - 1);
          (void)w;
        }
      });
    while (printing.load() < 2) gort::sleep(std::chrono::milliseconds(1));
    gort::sleep(std::chrono::milliseconds(5));
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&wg] {
      testprog_recurse(0);
      wg.done();
    });
    wg.wait();
  });
  return returned("FatalFreezesOthers", rc);
}

// Go's debug.SetMaxThreads test: a limit of the threads there are (Go's
// test: 2), and four goroutines that never give up their thread, on four
// Ps: an M for one of them exceeds it. First a goroutine parks by name, for
// the report's goroutine dump (crash_test.cpp, "Goroutine dumps"), while
// there is one P, so that no M is started for it. Then at four Ps there
// are at most three Ms, sysmon's among them: fewer than the four need.
int ThreadExhaustion() {
  int rc = gort::run(gort::Config{.maxprocs = 1}, [] {
    park_one();
    gort::gomaxprocs(4);
    gort::set_max_threads(static_cast<int>(gort::stats().threads));
    gort::WaitGroup wg;
    wg.add(4);
    for (int i = 0; i < 4; ++i) {
      gort::go([&wg] {
        // Busy for 5 s (bounded, so a runtime that never enforces the limit
        // ends and the test reports exit 0 rather than hanging).
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
        }
        wg.done();
      });
    }
    wg.wait();
  });
  return returned("ThreadExhaustion", rc);
}

// The OS refuses a new thread: an address-space limit just above what the
// process maps leaves no room for a thread's stack. Eight goroutines get
// their stacks first (they park on a channel), then all enter blocking(),
// so that the Ps are handed off to new Ms. Go: "runtime: failed to create
// new OS thread", "fatal error: newosproc".
int NewosprocFails() {
  int rc = gort::run(gort::Config{.maxprocs = 2}, [] {
    auto go_on = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(8);
    for (int i = 0; i < 8; ++i)
      gort::go([&wg, go_on] {
        go_on.recv();
        gort::blocking([] { usleep(300 * 1000); });
        wg.done();
      });
    gort::sleep(std::chrono::milliseconds(20));
    long vm_kb = 0;
    if (FILE* f = std::fopen("/proc/self/status", "r")) {
      char line[256];
      while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmSize: %ld kB", &vm_kb) == 1) break;
      std::fclose(f);
    }
    const rlim_t limit = static_cast<rlim_t>(vm_kb + 2048) * 1024;  // 2 MiB of room; a thread stack takes 8
    const rlimit rl{limit, limit};
    if (vm_kb == 0 || setrlimit(RLIMIT_AS, &rl) != 0) {
      std::fprintf(stderr, "testprog: cannot limit the address space\n");
      return;
    }
    // qemu-user takes the limit and leaves its own address space, where
    // the guest's threads live, unlimited: then a thread cannot fail.
    if (void* probe = mmap(nullptr, 64 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        probe != MAP_FAILED) {
      munmap(probe, 64 << 20);
      std::fprintf(stderr, "testprog: the address-space limit does not hold here\n");
      return;
    }
    go_on.close();
    wg.wait();
  });
  return returned("NewosprocFails", rc);
}

// GOMAXPROCS over gort's limit of 1024 Ps, from Config and then from
// gomaxprocs(n): each is capped, and stderr says so once. Prints the
// procs seen on stdout.
int GomaxprocsOverLimit() {
  return gort::run(gort::Config{.maxprocs = 5000}, [] {
    std::printf("%d\n", gort::gomaxprocs());
    gort::gomaxprocs(2);
    gort::gomaxprocs(3000);
    std::printf("%d\n", gort::gomaxprocs());
  });
}

// About 500 ms of goroutines yielding on two Ps, for GODEBUG=schedtrace.
int SchedTrace() {
  return gort::run(gort::Config{.maxprocs = 2}, [] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    gort::WaitGroup wg;
    wg.add(4);
    for (int i = 0; i < 4; ++i) {
      gort::go([&wg, deadline] {
        while (std::chrono::steady_clock::now() < deadline) gort::yield();
        wg.done();
      });
    }
    wg.wait();
  });
}

// One P; goroutine 2 sleeps 400 ms in blocking(), goroutine 3 as long in a
// plain sleep_for: sysmon hands the P off from each (retake; the signal of
// preempt.cpp), and GODEBUG=schedtrace=50,scheddetail=1 must show each in
// syscall (status=3) on an M with no P.
int SchedTraceSyscall() {
  return gort::run(gort::Config{.maxprocs = 1}, [] {
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&wg] {
      gort::blocking([] { std::this_thread::sleep_for(std::chrono::milliseconds(400)); });
      wg.done();
    });
    gort::go([&wg] {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      wg.done();
    });
    wg.wait();
  });
}

// Blocked only on I/O, which is not a deadlock: main parks about 1 s in
// wait_readable on a pipe that a plain std::thread, started before run(),
// writes; goroutine 2 parks as long reading a TCP Conn that main writes
// once woken. Nothing but the network can wake either. Exits 0 with nothing
// on stderr; under GODEBUG=schedtrace=50,scheddetail=1 the G lines show both
// in "IO wait" (crash_test.cpp).
int IOWait() {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    std::perror("testprog: IOWait: pipe2");
    return 1;
  }
  std::thread writer([w = fds[1]] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    char c = 'x';
    if (::write(w, &c, 1) != 1) std::perror("testprog: IOWait: write");
  });
  int rc = gort::run(gort::Config{.maxprocs = 2}, [&] {
    gort::net::Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
    gort::net::Conn c = gort::net::dial(ln.addr());
    gort::net::Conn s = ln.accept();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      char b[1];
      if (s.read(std::span(b)) != 1 || b[0] != 'y') std::fprintf(stderr, "testprog: IOWait: goroutine read wrong\n");
      wg.done();
    });
    if (!gort::net::wait_readable(fds[0])) std::fprintf(stderr, "testprog: IOWait: wait_readable returned false\n");
    char b = 0;
    if (::read(fds[0], &b, 1) != 1 || b != 'x') std::fprintf(stderr, "testprog: IOWait: pipe read wrong\n");
    c.write("y");
    wg.wait();
  });
  writer.join();
  ::close(fds[0]);
  ::close(fds[1]);
  return rc;
}

// The control: goroutines that all finish; exits 0 with nothing on stderr.
int NoDeadlock() {
  return gort::run(gort::Config{.maxprocs = 2}, [] {
    std::atomic<int> n{0};
    gort::WaitGroup wg;
    wg.add(10);
    for (int i = 0; i < 10; ++i)
      gort::go([&] {
        gort::yield();
        n.fetch_add(1);
        wg.done();
      });
    wg.wait();
    if (n.load() != 10) std::fprintf(stderr, "testprog: NoDeadlock: %d goroutines ran, want 10\n", n.load());
  });
}

// ---- Goroutine dumps (crash_test.cpp, "Goroutine dumps") ----

// parked_in_recv_here waits on c, and a dump must show it by name. In an
// anonymous namespace (a local symbol, only in the symbol table, not the
// dynamic one), not inlined, and not a tail call (it uses the value).
[[gnu::noinline]] int parked_in_recv_here(gort::chan<int> c) {
  const std::optional<int> v = c.recv();
  return v.value_or(0) + 1;
}

// wait_dumped yields until a dump of the goroutines holds text: a
// goroutine is where a test wants it. Goroutines on one P run at the yield
// until they park; one whose time slice ends at a runtime entry (under
// qemu, say) yields there instead, and a later yield gets it further.
void wait_dumped(const char* text) {
  for (;;) {
    gort::yield();
    std::ostringstream os;
    gort::dump_goroutines(os);
    if (os.str().find(text) != std::string::npos) return;
  }
}

// park_one starts a goroutine that parks in parked_in_recv_here on a
// channel nobody sends on, and returns once it has parked.
[[gnu::noinline]] void park_one() {
  static gort::chan<int> never = gort::make_chan<int>();
  gort::go([] { parked_in_recv_here(never); });
  wait_dumped(" [chan receive]:\n");
}

// say_ready tells the test (on stdout, unbuffered) that the goroutines are
// where it wants them: it may send its signal now.
void say_ready() {
  static const char ready[] = "ready\n";
  ssize_t w = ::write(1, ready, sizeof ready - 1);
  (void)w;
}

// A goroutine parked by name, a line in stdout's buffer, main asleep, then
// the test's SIGQUIT: the dump, stdout flushed, exit status 2.
int SigquitParked() {
  int rc = gort::run(gort::Config{.maxprocs = 1}, [] {
    park_one();
    std::printf("printed before SIGQUIT\n");  // stdout is a pipe: buffered
    gort::go([] {
      wait_dumped("goroutine 1 [sleep]:\n");
      say_ready();
    });
    gort::sleep(std::chrono::hours(1));
  });
  return returned("SigquitParked", rc);
}

// A deadlock whose parked goroutine has waited three minutes by its
// stamp: the stamp sysmon would make (markwaitsince, every 10 s) backdated
// by export_test.hpp's hook instead of waited for; the test turns sysmon
// off (GODEBUG=sysmonoff=1), so that it is the only stamp. Main parks
// after it, unstamped: no minutes. Go: "[chan receive, 3 minutes]".
int DeadlockWaitMinutes() {
  int rc = gort::run(gort::Config{.maxprocs = 1}, [] {
    park_one();
    gort::rt::backdate_waits((3 * 60 + 1) * std::int64_t{1'000'000'000});
    gort::WaitGroup wg;
    wg.add(1);
    wg.wait();
  });
  return returned("DeadlockWaitMinutes", rc);
}

// A deadlock with a goroutine parked by name, after a line left in
// stdout's buffer.
int DeadlockParked() {
  int rc = gort::run(gort::Config{.maxprocs = 1}, [] {
    std::printf("printed before the deadlock\n");
    park_one();
    gort::WaitGroup wg;
    wg.add(1);
    wg.wait();
  });
  return returned("DeadlockParked", rc);
}

[[gnu::noinline]] void panics_here() { throw std::runtime_error("boom"); }

// An unrecovered panic in main, with a goroutine parked by name and lines
// left in stdout's buffer by printf and by std::cout.
int PanicParked() {
  int rc = gort::run(gort::Config{.maxprocs = 1}, [] {
    std::printf("printed before the panic\n");
    std::cout << "cout before the panic\n";
    park_one();
    panics_here();
  });
  return returned("PanicParked", rc);
}

// A stack overflow after a line left in stdout's buffer: the fault
// handler's thread may be inside stdio, so sysmon flushes it.
int StackOverflowAfterPrintf() {
  std::printf("printed before the overflow\n");
  return in_goroutine("StackOverflowAfterPrintf", [] { testprog_recurse(0); });
}

// dump_goroutines from code: goroutine 1 and a goroutine parked by name,
// printed on stdout (the test reads it), then a normal exit.
int DumpFromCode() {
  return gort::run(gort::Config{.maxprocs = 1}, [] {
    park_one();
    std::ostringstream os;
    gort::dump_goroutines(os);
    std::fputs(os.str().c_str(), stdout);
  });
}

// stall: a goroutine that holds the only P in spin, with no runtime entry,
// until main, which sysmon's hand-off lets run, has slept 300 ms: under
// GODEBUG=stallreport=<ms> sysmon reports it once, with its stack
// (crash_test.cpp, StallReport). Its hold starts with a yield, in a time
// slice of its own: started from runnext it would go on in main's
// (proc.cpp, "Time slices"), which a loaded machine may already have had
// reported, once, while main was descheduled. Exits 0.
int stall(void (*spin)(const std::atomic<bool>*)) {
  return gort::run(gort::Config{.maxprocs = 1}, [spin] {
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      gort::yield();
      spin(&stop);
      wg.done();
    });
    gort::sleep(std::chrono::milliseconds(300));  // the spinner takes the P; sysmon hands it back
    stop.store(true);
    wg.wait();
    std::puts("done");
  });
}

int Stall() { return stall(testprog_stalling_function); }

// Stall, in a frame the unwinder cannot step past: the stall report's walk
// of the spinner's stack faults there, and ends with the frames it has;
// the program goes on (crash_test.cpp, StallReportBadUnwind).
int StallBadUnwind() { return stall(testprog_spin_bad_unwind); }

// A signal handler of the program's that calls into gort, on the thread of
// a goroutine while it is inside the runtime (busy: two goroutines
// ping-pong on an unbuffered channel at GOMAXPROCS=1, so nearly always),
// or on the thread while it waits in the scheduler with no goroutine
// (idle: the only goroutine sleeps), while another thread signals it.
// gort refuses either with a fatal error (crash_test.cpp,
// SignalHandlerCalls); handled, the program would deadlock on a runtime
// lock or corrupt a goroutine's state. Never returns normally, but for
// exit status 3: a signal landed in a goroutine's own code, where no entry
// can tell a handler's call from the goroutine's, and a yield there
// switched away inside the handler, leaving SIGUSR1 blocked on the thread
// (seen under qemu, where a goroutine's own code runs long enough).
void (*handler_call)();
std::atomic<long> handler_entries{0};

int signal_handler_calls(const char* name, void (*call)(), bool busy) {
  handler_call = call;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = [](int) {
    handler_entries.fetch_add(1, std::memory_order_relaxed);
    handler_call();
  };
  sigaction(SIGUSR1, &sa, nullptr);
  return returned(name, gort::run(gort::Config{.maxprocs = 1}, [busy] {
                    auto c = gort::make_chan<int>();
                    if (busy)
                      gort::go([c] {
                        for (;;) c.send(1);
                      });
                    std::atomic<pthread_t> target{opaque_pthread_self()};
                    std::atomic<bool> stop{false};
                    std::thread signaller([&] {
                      long seen = -1;
                      auto since = std::chrono::steady_clock::now();
                      while (!stop.load()) {
                        pthread_kill(target.load(), SIGUSR1);
                        std::this_thread::sleep_for(std::chrono::microseconds(100));
                        const auto now = std::chrono::steady_clock::now();
                        if (const long e = handler_entries.load(std::memory_order_relaxed); e != seen) {
                          seen = e;
                          since = now;
                        } else if (now - since > std::chrono::seconds(2)) {
                          std::fputs("testprog: SIGUSR1 stays blocked: a call landed in a goroutine's own code\n",
                                     stderr);
                          std::_Exit(3);
                        }
                      }
                    });
                    for (int i = 0; i < 100'000'000; ++i) {
                      target.store(opaque_pthread_self());  // main may have moved
                      if (busy)
                        (void)c.recv();
                      else
                        gort::sleep(std::chrono::seconds(1));
                    }
                    stop.store(true);
                    signaller.join();
                  }));
}

int SignalHandlerGo() {
  return signal_handler_calls("SignalHandlerGo", [] { gort::go([] {}); }, true);
}
int SignalHandlerYield() {
  return signal_handler_calls("SignalHandlerYield", [] { gort::yield(); }, true);
}
// The call changes nothing when the signal lands in main's own code
// between its sleeps (where no entry can tell a handler from main, and a
// go() would start a goroutine that a later signal interrupts instead).
int SignalHandlerIdle() {
  return signal_handler_calls("SignalHandlerIdle", [] { (void)gort::num_goroutine(); }, false);
}

// ---- gdb (tests/gdb/goroutines_test.sh) ----

}  // namespace

// Where the goroutines the debugger must find wait: extern "C", so that
// their names are plain; noipa: not inlined, and not folded with a function
// of the same code (parked_in_recv_here) under the other's name.
extern "C" {

[[gnu::noipa]] int testprog_parked_for_gdb(gort::chan<int> c) {
  const std::optional<int> v = c.recv();
  return v.value_or(0) + 1;  // not a tail call
}

[[gnu::noipa]] void testprog_blocking_for_gdb() {
  gort::blocking([] { ::sleep(3600); });
  __asm__ volatile("");  // not a tail call
}

}  // extern "C"

namespace {

// occurrences: how many times text appears in s.
std::size_t occurrences(const std::string& s, const char* text) {
  std::size_t n = 0;
  for (std::size_t at = s.find(text); at != std::string::npos; at = s.find(text, at + 1)) ++n;
  return n;
}

// 1,000 goroutines parked in testprog_parked_for_gdb on a channel nobody
// sends on, one in a blocking() call in testprog_blocking_for_gdb (on a
// thread of its own), main asleep. Once a dump shows them all there, a
// last goroutine prints "ready <first parked id> <last parked id>
// <blocking id>" on stdout for the test, which attaches gdb, then kills
// the process.
int gdb_parked(std::size_t stack_size) {
  return gort::run(gort::Config{.maxprocs = 2, .stack_size = stack_size}, [] {
    static gort::chan<int> never = gort::make_chan<int>();
    constexpr std::size_t n = 1000;
    std::uint64_t first = 0, last = 0;
    for (std::size_t i = 0; i < n; ++i) {
      last = gort::go([] { testprog_parked_for_gdb(never); });
      if (i == 0) first = last;
    }
    const std::uint64_t blocked = gort::go([] { testprog_blocking_for_gdb(); });
    gort::go([=] {
      for (;;) {
        std::ostringstream os;
        gort::dump_goroutines(os);
        const std::string dump = os.str();
        if (occurrences(dump, " [chan receive]:\n") >= n && occurrences(dump, " [syscall]:\n") >= 1 &&
            occurrences(dump, "goroutine 1 [sleep]:\n") == 1)
          break;
        gort::sleep(std::chrono::milliseconds(10));
      }
      std::printf("ready %llu %llu %llu\n", static_cast<unsigned long long>(first),
                  static_cast<unsigned long long>(last), static_cast<unsigned long long>(blocked));
      std::fflush(stdout);
    });
    gort::sleep(std::chrono::hours(1));
  });
}

int GdbParked() { return gdb_parked(0); }

// The same with the smallest stacks, for gcore, which writes out every
// byte of the stacks' reservation, touched or not (tests/gdb).
int GdbParkedSmallStacks() { return gdb_parked(16 * 1024); }

constexpr scenario scenarios[] = {
    {"SimpleDeadlock", SimpleDeadlock},
    {"GoroutineDeadlock", GoroutineDeadlock},
    {"WaitReasonsDeadlock", WaitReasonsDeadlock},
    {"PanicSendOnClosed", PanicSendOnClosed},
    {"PanicMain", PanicMain},
    {"PanicGoroutine", PanicGoroutine},
    {"PanicAfterHandoff", PanicAfterHandoff},
    {"PanicNonStd", PanicNonStd},
    {"StackOverflow", StackOverflow},
    {"FatalFreezesOthers", FatalFreezesOthers},
    {"ThreadExhaustion", ThreadExhaustion},
    {"NewosprocFails", NewosprocFails},
    {"GomaxprocsOverLimit", GomaxprocsOverLimit},
    {"SchedTrace", SchedTrace},
    {"SchedTraceSyscall", SchedTraceSyscall},
    {"IOWait", IOWait},
    {"NoDeadlock", NoDeadlock},
    {"SigquitParked", SigquitParked},
    {"DeadlockParked", DeadlockParked},
    {"DeadlockWaitMinutes", DeadlockWaitMinutes},
    {"PanicParked", PanicParked},
    {"StackOverflowAfterPrintf", StackOverflowAfterPrintf},
    {"DumpFromCode", DumpFromCode},
    {"Stall", Stall},
    {"StallBadUnwind", StallBadUnwind},
    {"SignalHandlerGo", SignalHandlerGo},
    {"SignalHandlerYield", SignalHandlerYield},
    {"SignalHandlerIdle", SignalHandlerIdle},
    {"GdbParked", GdbParked},
    {"GdbParkedSmallStacks", GdbParkedSmallStacks},
};

}  // namespace

int main(int argc, char** argv) {
  // GOTRACEBACK=crash ends with SIGABRT: no core file, but where a test asks
  // for the kernel's (tests/gdb).
  if (std::getenv("TESTPROG_CORE") == nullptr) {
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
  }
  return run_scenario("testprog", scenarios, argc, argv);
}
