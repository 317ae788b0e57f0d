// signal_test.cpp: the program's own signal handlers beside the runtime's
// (signal_unix.cpp). Go counterpart: the c-archive tests of
// misc/cgo/testcarchive (handlers installed before Go's keep getting the
// signals that are not Go's) and os/signal's restore tests.
//
// Each case runs both ways sysmon may take a P (the membarrier handshake,
// and the signal, GODEBUG=preemptsignal=1), since only the signal mode
// installs a SIGURG handler.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "gort/gort.hpp"

namespace {

using namespace std::chrono_literals;

std::atomic<int> segv_fixed{0};
std::atomic<int> sigurg_seen{0};
long page_size() { return ::sysconf(_SC_PAGESIZE); }

// fix_fault is a program's SIGSEGV handler of the kind garbage collectors
// and sandboxes install: it makes the faulting page writable and returns,
// so the faulting store runs again and succeeds.
void fix_fault(int, siginfo_t* info, void*) {
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr) & ~static_cast<std::uintptr_t>(page_size() - 1);
  ::mprotect(reinterpret_cast<void*>(addr), page_size(), PROT_READ | PROT_WRITE);
  segv_fixed.fetch_add(1);
}

void count_sigurg(int) { sigurg_seen.fetch_add(1); }

struct saved_actions {
  struct sigaction segv, bus, urg;
  saved_actions() {
    sigaction(SIGSEGV, nullptr, &segv);
    sigaction(SIGBUS, nullptr, &bus);
    sigaction(SIGURG, nullptr, &urg);
  }
  ~saved_actions() {
    sigaction(SIGSEGV, &segv, nullptr);
    sigaction(SIGBUS, &bus, nullptr);
    sigaction(SIGURG, &urg, nullptr);
  }
};

void install_program_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &fix_fault;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, nullptr);
  sigaction(SIGBUS, &sa, nullptr);
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = &count_sigurg;
  sigaction(SIGURG, &sa, nullptr);
}

class SignalTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) ::setenv("GODEBUG", "preemptsignal=1", 1);
    segv_fixed = 0;
    sigurg_seen = 0;
  }
  void TearDown() override {
    if (GetParam()) ::unsetenv("GODEBUG");
  }
  saved_actions restore_after_;
};

// A fault that is neither a stack overflow nor a nil dereference goes to
// the program's handler, on a goroutine and on a thread of its own alike;
// the faulting store then completes.
TEST_P(SignalTest, ProgramFaultHandlerRunsInGoroutines) {
  install_program_handlers();
  const long ps = page_size();
  void* mem = ::mmap(nullptr, 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* pages = static_cast<volatile char*>(mem);
  int rc = gort::run(gort::Config{.maxprocs = 2}, [&] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      pages[0] = 'g';  // faults once; the handler makes the page writable
      wg.done();
    });
    wg.wait();
    std::thread t([&] { pages[ps] = 't'; });
    t.join();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(pages[0], 'g');
  EXPECT_EQ(pages[ps], 't');
  EXPECT_EQ(segv_fixed.load(), 2);
  ::munmap(mem, 2 * ps);
}

// A SIGURG the program receives (here one it sends itself, as a peer's
// out-of-band data would be) reaches its handler while run() lasts.
TEST_P(SignalTest, ProgramSigurgHandlerGetsItsSignals) {
  install_program_handlers();
  int rc = gort::run(gort::Config{.maxprocs = 2}, [] {
    ::kill(::getpid(), SIGURG);
    // Delivery is asynchronous: wait for it, with a bound that only a
    // lost signal reaches.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (sigurg_seen.load() == 0 && std::chrono::steady_clock::now() < deadline) gort::sleep(1ms);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(sigurg_seen.load(), 1);
}

// run() puts back the handlers it found.
TEST_P(SignalTest, HandlersRestoredAfterRun) {
  install_program_handlers();
  int rc = gort::run(gort::Config{.maxprocs = 2}, [] {
    struct sigaction cur;
    sigaction(SIGSEGV, nullptr, &cur);
    EXPECT_NE(cur.sa_sigaction, &fix_fault) << "gort's fault handler is not installed";
  });
  EXPECT_EQ(rc, 0);
  struct sigaction cur;
  sigaction(SIGSEGV, nullptr, &cur);
  EXPECT_EQ(cur.sa_sigaction, &fix_fault);
  sigaction(SIGBUS, nullptr, &cur);
  EXPECT_EQ(cur.sa_sigaction, &fix_fault);
  sigaction(SIGURG, nullptr, &cur);
  EXPECT_EQ(cur.sa_handler, &count_sigurg);
}

// A handler the program installs during run() replaces gort's, and stays.
TEST_P(SignalTest, HandlerInstalledDuringRunStays) {
  int rc = gort::run(gort::Config{.maxprocs = 1}, [] { install_program_handlers(); });
  EXPECT_EQ(rc, 0);
  struct sigaction cur;
  sigaction(SIGSEGV, nullptr, &cur);
  EXPECT_EQ(cur.sa_sigaction, &fix_fault);
}

INSTANTIATE_TEST_SUITE_P(Preempt, SignalTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "BySignal" : "ByHandshake"; });

}  // namespace
