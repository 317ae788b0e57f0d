// crash_test.cpp: fatal errors and unrecovered panics, by running testprog
// (tests/testprog) and checking its exit status and stderr. Go counterpart:
// src/runtime/crash_test.go (runTestProg, TestSimpleDeadlock,
// TestStackOverflow, TestThreadExhaustion, ...), which checks the first line
// of the output the same way.
//
// What gort prints is Go's (include/gort/runtime.hpp, docs/DEBUGGING.md): a fatal error is "fatal error: <msg>"
// then every goroutine as "goroutine <id> [<wait reason>]:" and its stack; an
// unrecovered panic is "panic: <what()>", a blank line, then the panicking
// goroutine as "goroutine <id> [running]:" and its stack; exit status 2.
//
// Skipped under sanitizers, which own SIGSEGV (stack overflow) and the exit
// status of a dying process.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#ifndef TESTPROG_PATH
#error "TESTPROG_PATH must name the testprog binary"
#endif
#ifndef TESTPROG_EMULATOR
#define TESTPROG_EMULATOR ""
#endif

namespace {

struct prog_result {
  bool exited = false;  // exited normally (not by a signal)
  int status = -1;      // exit status if exited
  int signal = 0;       // terminating signal otherwise
  bool timed_out = false;
  std::string out, err;

  std::string describe() const {
    std::ostringstream s;
    if (timed_out) s << "timed out; ";
    if (exited)
      s << "exit status " << status;
    else
      s << "killed by signal " << signal << " (" << strsignal(signal) << ")";
    s << "\n--- stderr ---\n" << err << "--- stdout ---\n" << out << "---";
    return s.str();
  }
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> v;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      v.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) v.push_back(cur);
  return v;
}

std::vector<std::string> lines(const std::string& s) { return split(s, '\n'); }

// signal_when: send sig to the program once its stdout holds `ready`.
struct signal_when {
  std::string ready;
  int sig = 0;
};

// run_program runs path (with the emulator, under qemu) and its arguments,
// with GODEBUG, GOMAXPROCS and GOTRACEBACK removed from the environment and
// `extra_env` ("K=V") added; it captures stdout and stderr, sends the
// signal of `when` if there is one, and kills the program after 60 s.
prog_result run_program(const char* path, std::vector<std::string> prog_args, std::vector<std::string> extra_env,
                        signal_when when = {}) {
  prog_result r;
  std::vector<std::string> args = split(TESTPROG_EMULATOR, '|');
  args.push_back(path);
  for (auto& a : prog_args) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "GODEBUG=", 8) == 0 || std::strncmp(*e, "GOMAXPROCS=", 11) == 0 ||
        std::strncmp(*e, "GOTRACEBACK=", 12) == 0)
      continue;
    env.emplace_back(*e);
  }
  for (auto& e : extra_env) env.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  pid_t pid;
  int err = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (err != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(err);
    close(out_pipe[0]);
    close(err_pipe[0]);
    return r;
  }

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
        if (when.sig != 0 && i == 0 && r.out.find(when.ready) != std::string::npos) {
          kill(pid, when.sig);
          when.sig = 0;
        }
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus)) {
    r.exited = true;
    r.status = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    r.signal = WTERMSIG(wstatus);
  }
  return r;
}

// run_testprog runs `testprog <name>` (run_program).
prog_result run_testprog(const std::string& name, std::vector<std::string> extra_env = {}, signal_when when = {}) {
  return run_program(TESTPROG_PATH, {name}, std::move(extra_env), std::move(when));
}

bool has_line(const std::vector<std::string>& ls, const std::string& want) {
  return std::find(ls.begin(), ls.end(), want) != ls.end();
}

// find_line returns the index of the first line matching re, or -1.
int find_line(const std::vector<std::string>& ls, const std::regex& re, std::size_t from = 0) {
  for (std::size_t i = from; i < ls.size(); ++i)
    if (std::regex_match(ls[i], re)) return static_cast<int>(i);
  return -1;
}

const std::regex kRunningHeader(R"(goroutine ([0-9]+) \[running\]:)");

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(GORT_TSAN) || defined(GORT_ASAN)
    GTEST_SKIP() << "crash tests are skipped under sanitizers";
#endif
  }
};

// expect_parked: the goroutine testprog's park_one parked, in a dump
// ("Goroutine dumps", below).
void expect_parked(const std::string& dump, bool debug_info = true, const std::string& state = "chan receive");

void expect_deadlock(const prog_result& r) {
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "fatal error: all goroutines are asleep - deadlock!") << r.describe();
  EXPECT_TRUE(has_line(ls, "goroutine 1 [sync.WaitGroup.Wait]:")) << r.describe();
}

TEST_F(CrashTest, SimpleDeadlock) {
  prog_result r = run_testprog("SimpleDeadlock");
  expect_deadlock(r);
}

// Every goroutine's state is printed: main and its three, all in
// sync.WaitGroup.Wait.
TEST_F(CrashTest, GoroutineDeadlock) {
  prog_result r = run_testprog("GoroutineDeadlock");
  expect_deadlock(r);
  std::regex header(R"(goroutine ([0-9]+) \[sync\.WaitGroup\.Wait\]:)");
  std::vector<std::string> ids;
  for (const auto& l : lines(r.err)) {
    std::smatch m;
    if (std::regex_match(l, m, header)) ids.push_back(m[1]);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end()) << "a goroutine printed twice\n" << r.describe();
  EXPECT_EQ(ids.size(), 4u) << "want main and its three goroutines\n" << r.describe();
}

TEST_F(CrashTest, PanicMain) {
  prog_result r = run_testprog("PanicMain");
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "panic: boom") << r.describe();
  auto it = std::find(ls.begin(), ls.end(), "goroutine 1 [running]:");
  ASSERT_NE(it, ls.end()) << r.describe();
  ASSERT_NE(it + 1, ls.end()) << "no stack frame after the goroutine header\n" << r.describe();
  EXPECT_FALSE((it + 1)->empty()) << "no stack frame after the goroutine header\n" << r.describe();
}

// expect_goroutine_panic: "panic: bad thing", then the panicking goroutine
// (not main) as running, with the stack that names the function that threw.
void expect_goroutine_panic(const prog_result& r) {
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "panic: bad thing") << r.describe();
  int h = find_line(ls, kRunningHeader);
  ASSERT_GE(h, 0) << r.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(ls[h], m, kRunningHeader));
  EXPECT_NE(m[1].str(), "1") << "the panicking goroutine is not main\n" << r.describe();
  ASSERT_LT(h + 1, static_cast<int>(ls.size())) << r.describe();
  EXPECT_FALSE(ls[h + 1].empty()) << "no stack frame after the goroutine header\n" << r.describe();
  std::string stack;
  for (std::size_t i = static_cast<std::size_t>(h) + 1; i < ls.size(); ++i) stack += ls[i] + "\n";
  EXPECT_NE(stack.find("testprog_panicking_function"), std::string::npos)
      << "the stack must name the function that threw\n"
      << r.describe();
}

TEST_F(CrashTest, PanicGoroutine) { expect_goroutine_panic(run_testprog("PanicGoroutine")); }

// The same after sysmon took the goroutine's P (it spun 60 ms first): it is
// still running its own code, and reported so, not as in a syscall.
TEST_F(CrashTest, PanicAfterHandoff) { expect_goroutine_panic(run_testprog("PanicAfterHandoff")); }

TEST_F(CrashTest, PanicNonStd) {
  prog_result r = run_testprog("PanicNonStd");
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0].rfind("panic: ", 0), 0u) << r.describe();
  EXPECT_GE(find_line(ls, kRunningHeader), 0) << r.describe();
}

// Go: "runtime: goroutine stack exceeds 1000000000-byte limit", then
// "fatal error: stack overflow", then the goroutines.
// expect_stack_overflow checks a StackOverflow run's report.
void expect_stack_overflow(const prog_result& r) {
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  EXPECT_TRUE(has_line(ls, "fatal error: stack overflow")) << r.describe();
  EXPECT_GE(find_line(ls, std::regex(R"(runtime: goroutine stack exceeds [0-9]+-byte limit)")), 0) << r.describe();
  int h = find_line(ls, kRunningHeader);
  ASSERT_GE(h, 0) << r.describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(ls[h], m, kRunningHeader));
  EXPECT_NE(m[1].str(), "1") << "the overflowing goroutine is not main\n" << r.describe();
}

// The report dumps every goroutine, the parked one with its frames too.
TEST_F(CrashTest, StackOverflow) {
  prog_result r = run_testprog("StackOverflow");
  expect_stack_overflow(r);
  expect_parked(r.err);
}

// A fatal error freezes the other Ms before it reports: goroutines that
// print without pause say nothing after the report's first line (Go's
// freezetheworld). Without the freeze, their lines run through the report.
TEST_F(CrashTest, FatalFreezesOthers) {
  prog_result r = run_testprog("FatalFreezesOthers");
  expect_stack_overflow(r);
  auto ls = lines(r.err);
  const int first = find_line(ls, std::regex(R"(runtime: goroutine stack exceeds [0-9]+-byte limit)"));
  ASSERT_GE(first, 1) << "no noise before the report: the printers never ran\n" << r.describe().substr(0, 4000);
  EXPECT_EQ(ls[first - 1], "noise");
  int after = 0;
  for (std::size_t i = first; i < ls.size(); ++i) after += ls[i] == "noise";
  EXPECT_EQ(after, 0) << "noise lines inside the fatal report";
}

// A signal handler of the program's calling into gort on a goroutine's
// thread that was inside the runtime, or in the scheduler with no
// goroutine: a fatal error, never a hang on a runtime lock or a goroutine
// rescheduled mid-switch (issue 16 item 2). Each scenario signals its
// thread every 100 us and would run for minutes unrefused. The call is
// named by the entry that found no goroutine on a thread of the runtime's,
// or else as the running goroutine's innermost frame. Either may come in
// each scenario: an idle M's thread mostly has no goroutine, but main's,
// slowed down, may still be inside the runtime on its way to sleep.
TEST_F(CrashTest, SignalHandlerCalls) {
  struct {
    const char* scenario;
    const char* call;
  } cases[] = {{"SignalHandlerGo", "go"}, {"SignalHandlerYield", "yield"}, {"SignalHandlerIdle", "num_goroutine"}};
  for (const auto& c : cases) {
    prog_result r = run_testprog(c.scenario);
    // 3: the signal landed in a goroutine's own code, where the call cannot
    // be told from the goroutine's (testprog.cpp): not what is tested here.
    for (int again = 0; again < 5 && r.exited && r.status == 3; ++again) r = run_testprog(c.scenario);
    auto ls = lines(r.err);
    EXPECT_TRUE(r.exited && r.status == 2) << c.scenario << "\n" << r.describe().substr(0, 4000);
    EXPECT_TRUE(has_line(ls, "fatal error: gort called from a signal handler")) << r.describe().substr(0, 4000);
    EXPECT_TRUE(has_line(ls,
                         "runtime: no gort function is async-signal-safe: a handler may write() to a pipe or "
                         "eventfd that a goroutine waits on"));
    const bool named = has_line(ls, std::string("runtime: gort::") + c.call + " called from a signal handler");
    const int running = find_line(ls, kRunningHeader);
    const bool on_stack = running >= 0 && static_cast<std::size_t>(running) + 1 < ls.size() &&
                          std::regex_match(ls[running + 1], std::regex(std::string("(gort::)?") + c.call + "[<(].*"));
    EXPECT_TRUE(named || on_stack) << c.scenario << "\n" << r.describe().substr(0, 4000);
  }
}

// The fallbacks of kernels without MADV_GUARD_INSTALL: guard pages by
// mprotect, and stacks with no guard page at all (a canary, and the stack
// pointer checked at the fault). gort's GODEBUG=stackguard forces each.
TEST_F(CrashTest, StackOverflowMprotectGuard) {
  expect_stack_overflow(run_testprog("StackOverflow", {"GODEBUG=stackguard=mprotect"}));
}

TEST_F(CrashTest, StackOverflowNoGuard) {
  expect_stack_overflow(run_testprog("StackOverflow", {"GODEBUG=stackguard=canary"}));
}

// Without guard pages, ordinary goroutines run clean: the canary check at
// every switch does not fire on a stack that was not overrun.
TEST_F(CrashTest, NoGuardNoFalseAlarm) {
  prog_result r = run_testprog("NoDeadlock", {"GODEBUG=stackguard=canary"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.err, "") << r.describe();
}

// Each goroutine is listed with what it waits on, in Go's words.
TEST_F(CrashTest, WaitReasonsDeadlock) {
  prog_result r = run_testprog("WaitReasonsDeadlock");
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "fatal error: all goroutines are asleep - deadlock!") << r.describe();
  // Which id each goroutine gets depends on which P ran main when it
  // started it (ids come in per-P batches, as Go's goidcache): a slow first
  // time slice may move main. So the reasons are checked, not the ids.
  EXPECT_TRUE(has_line(ls, "goroutine 1 [chan receive]:")) << r.describe();
  std::multiset<std::string> got;
  const std::regex header(R"(goroutine ([0-9]+) \[(.*)\]:)");
  for (const std::string& l : ls) {
    std::smatch m;
    if (std::regex_match(l, m, header) && m[1].str() != "1") got.insert(m[2].str());
  }
  const std::multiset<std::string> want = {
      "sync.Mutex.Lock", "sync.RWMutex.RLock",      "sync.RWMutex.Lock",    "sync.WaitGroup.Wait", "sync.Cond.Wait",
      "chan send",       "chan receive (nil chan)", "chan send (nil chan)", "select (no cases)",   "select",
  };
  EXPECT_EQ(got, want) << r.describe();
}

// An unrecovered panic_error from the runtime is Go's panic.
TEST_F(CrashTest, PanicSendOnClosed) {
  prog_result r = run_testprog("PanicSendOnClosed");
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "panic: send on closed channel") << r.describe();
}

// Go: "runtime: program exceeds 2-thread limit", "fatal error: thread exhaustion",
// then every goroutine: the parked one with its frames and creator.
TEST_F(CrashTest, ThreadExhaustion) {
  prog_result r = run_testprog("ThreadExhaustion");
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  EXPECT_TRUE(has_line(ls, "fatal error: thread exhaustion")) << r.describe();
  EXPECT_GE(find_line(ls, std::regex(R"(runtime: program exceeds [0-9]+-thread limit)")), 0) << r.describe();
  expect_parked(r.err);
}

// The OS refuses a thread (an address-space limit leaves no room for its
// stack): Go's report, never an uncaught std::system_error (terminate,
// exit 134). Go: "runtime: failed to create new OS thread (have 41 already;
// errno=11)", "runtime: may need to increase max user processes (ulimit
// -u)", "fatal error: newosproc", exit 2.
TEST_F(CrashTest, NewosprocFails) {
  prog_result r = run_testprog("NewosprocFails");
  if (r.err.find("testprog: the address-space limit does not hold here") != std::string::npos)
    GTEST_SKIP() << "RLIMIT_AS does not hold here (qemu-user does not apply it)";
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  const int i =
      find_line(ls, std::regex(R"(runtime: failed to create new OS thread \(have [0-9]+ already; errno=11\))"));
  ASSERT_GE(i, 0) << r.describe();
  ASSERT_LT(i + 2, static_cast<int>(ls.size())) << r.describe();
  EXPECT_EQ(ls[i + 1], "runtime: may need to increase max user processes (ulimit -u)") << r.describe();
  EXPECT_EQ(ls[i + 2], "fatal error: newosproc") << r.describe();
}

// Go takes any GOMAXPROCS; gort keeps Go's old limit of 1024 Ps and says
// so, once per process, instead of capping in silence.
TEST_F(CrashTest, GomaxprocsOverLimit) {
  prog_result r = run_testprog("GomaxprocsOverLimit");
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.out, "1024\n1024\n") << r.describe();
  EXPECT_EQ(r.err, "gort: GOMAXPROCS=5000 is over the limit of 1024 Ps; using 1024\n") << r.describe();
}

const std::regex kSchedLine(R"(SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ )"
                            R"(needspinning=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ \[[0-9]+ [0-9]+\])");
const std::regex kSchedDetailLine(
    R"(SCHED [0-9]+ms: gomaxprocs=2 idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ )"
    R"(needspinning=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ )"
    R"(gcwaiting=(true|false) nmidlelocked=[0-9]+ stopwait=[0-9]+ sysmonwait=(true|false))");
const std::regex kPLine(R"(  P([0-9]+): status=[0-9]+ schedtick=[0-9]+ syscalltick=[0-9]+ m=([0-9]+|nil) )"
                        R"(runqsize=[0-9]+ gfreecnt=[0-9]+ timerslen=[0-9]+)");
const std::regex kMLine(
    R"(  M[0-9]+: p=([0-9]+|nil) curg=([0-9]+|nil) mallocing=0 throwing=0 preemptoff= locks=[0-9]+ )"
    R"(dying=0 spinning=(true|false) blocked=(true|false) lockedg=([0-9]+|nil))");
const std::regex kGLine(R"(  G([0-9]+): status=[0-9]+\(.*\) m=([0-9]+|nil) lockedm=([0-9]+|nil))");

long sched_ms(const std::string& line) { return std::stol(line.substr(6)); }

// GODEBUG=stallreport: one report for the goroutine that held the P, with
// its stack, and the program otherwise unchanged; none without the setting.
// A loaded machine may deschedule the thread of another goroutine long
// enough for a report of its own (CI saw main's puts reported at 125 ms), so
// the test counts the reports that name the stalling function, not all.
TEST_F(CrashTest, StallReport) {
  prog_result r = run_testprog("Stall", {"GODEBUG=stallreport=5"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.out, "done\n") << r.describe();
  auto ls = lines(r.err);
  const std::regex stall_line(R"(gort: stall: P 0 held for ([0-9]+) ms without a switch)");
  int spinner_reports = 0;
  for (int at = find_line(ls, stall_line); at >= 0;) {
    const int next = find_line(ls, stall_line, at + 1);
    const auto end = next < 0 ? ls.end() : ls.begin() + next;
    const bool names_spinner = std::any_of(ls.begin() + at, end, [](const std::string& l) {
      return l.find("testprog_stalling_function") != std::string::npos;
    });
    if (names_spinner) {
      ++spinner_reports;
      std::smatch m;
      std::regex_match(ls[at], m, stall_line);
      EXPECT_GE(std::stol(m[1]), 5) << ls[at];
      ASSERT_GT(ls.size(), std::size_t(at) + 2) << r.describe();
      EXPECT_TRUE(std::regex_match(ls[at + 1], kRunningHeader)) << r.describe();
      EXPECT_TRUE(std::any_of(ls.begin() + at, end, [](const std::string& l) { return l.starts_with("created by"); }))
          << r.describe();
    }
    at = next;
  }
  EXPECT_EQ(spinner_reports, 1) << "one report per stall\n" << r.describe();

  prog_result off = run_testprog("Stall");
  EXPECT_TRUE(off.exited && off.status == 0) << off.describe();
  EXPECT_EQ(off.err, "") << off.describe();
}

// A walk of a stack in a signal handler that the unwinder cannot finish
// (the spinner's frame gives a return address in page zero, whose
// instructions libgcc's fallback reads) ends at that frame: the report
// shows the frames before it and the program goes on. Without the walk's
// probe the fault killed the program with a report of its own.
TEST_F(CrashTest, StallReportBadUnwind) {
  prog_result r = run_testprog("StallBadUnwind", {"GODEBUG=stallreport=5"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.out, "done\n") << r.describe();
  // Main may have a report of its own on a loaded machine (StallReport).
  auto ls = lines(r.err);
  const int at = find_line(ls, std::regex(R"(gort: stall: P 0 held for [0-9]+ ms without a switch)"));
  ASSERT_GE(at, 0) << r.describe();
  EXPECT_TRUE(std::any_of(ls.begin() + at, ls.end(), [](const std::string& l) {
    return l.starts_with("testprog_spin_bad_unwind");
  })) << r.describe();
}

TEST_F(CrashTest, SchedTrace) {
  prog_result r = run_testprog("SchedTrace", {"GODEBUG=schedtrace=50"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  auto ls = lines(r.err);
  int good = 0;
  long last_ms = -1;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (ls[i].rfind("SCHED", 0) != 0) continue;
    // The program may exit in the middle of writing its last line.
    bool last_line = i + 1 == ls.size() && r.err.back() != '\n';
    if (last_line) continue;
    EXPECT_TRUE(std::regex_match(ls[i], kSchedLine)) << "line " << i << ": " << ls[i];
    if (!std::regex_match(ls[i], kSchedLine)) continue;
    ++good;
    long ms = sched_ms(ls[i]);
    EXPECT_GE(ms, last_ms) << "SCHED times must not go backwards: " << ls[i];
    last_ms = ms;
  }
  EXPECT_GE(good, 3) << "~500 ms at schedtrace=50 should print about 10 SCHED lines\n" << r.describe();
  // As Go's: the first line at sysmon's first round ("SCHED 0ms" unless the
  // machine is slow to start the thread), then one a period.
  const int first = find_line(ls, std::regex("SCHED .*"));
  ASSERT_GE(first, 0) << r.describe();
  EXPECT_LT(sched_ms(ls[first]), 50) << "the first line waited a period: " << ls[first];
  EXPECT_GE(good, last_ms / 50) << "a period without its line\n" << r.describe();
}

// scheddetail=1: each SCHED line (with the detail fields instead of the
// per-P queue lengths) is followed by one line per P, P0 first, then the Ms,
// then the Gs.
#ifdef DEMO_PATH
// The sample program (examples/demo.cpp, 6 s) under Go's usual flags: the
// first SCHED line at sysmon's first round, not a period later (a bound of
// half the period tells the two apart on any machine), then one a period,
// each in Go's format, and the program's own output unchanged.
TEST_F(CrashTest, DemoSchedTrace) {
  prog_result r = run_program(DEMO_PATH, {}, {"GODEBUG=schedtrace=1000,scheddetail=1"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.out, "Hello, world!\nHello, goroutine world!\nThe goroutine slept 5 s.\n");
  auto ls = lines(r.err);
  std::vector<long> times;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (i + 1 == ls.size() && r.err.back() != '\n') continue;  // cut off by the exit
    if (ls[i].rfind("SCHED", 0) != 0) {
      EXPECT_TRUE(std::regex_match(ls[i], kPLine) || std::regex_match(ls[i], kMLine) || std::regex_match(ls[i], kGLine))
          << "line " << i << ": " << ls[i];
      continue;
    }
    EXPECT_TRUE(std::regex_match(ls[i], kSchedDetailLine)) << "line " << i << ": " << ls[i];
    times.push_back(sched_ms(ls[i]));
  }
  ASSERT_GE(times.size(), 6u) << "6 s at schedtrace=1000: lines at 0, 1000, ..., 5000 ms\n" << r.describe();
  EXPECT_LT(times[0], 500) << "the first line waited a period";
  // One line a period, on a fixed schedule: the k-th is never early (a
  // late one, on a loaded machine, does not move the next).
  for (std::size_t k = 1; k < times.size(); ++k)
    EXPECT_GE(times[k], 1000 * static_cast<long>(k)) << "two lines in one period: line " << k << " at " << times[k];
  EXPECT_TRUE(has_line(ls, "  G1: status=4(sleep) m=nil lockedm=nil")) << r.describe();
}
#endif

TEST_F(CrashTest, SchedDetail) {
  prog_result r = run_testprog("SchedTrace", {"GODEBUG=schedtrace=50,scheddetail=1"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  auto ls = lines(r.err);
  // Split into blocks, one per SCHED line; the last block may be cut short
  // by the program's exit, so only complete blocks (followed by another
  // SCHED line) are checked.
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < ls.size(); ++i)
    if (ls[i].rfind("SCHED", 0) == 0) starts.push_back(i);
  ASSERT_GE(starts.size(), 4u) << r.describe();
  bool saw_main = false;
  for (std::size_t b = 0; b + 1 < starts.size(); ++b) {
    std::size_t i = starts[b], end = starts[b + 1];
    SCOPED_TRACE("block at line " + std::to_string(i) + ": " + ls[i]);
    EXPECT_TRUE(std::regex_match(ls[i], kSchedDetailLine)) << ls[i];
    std::size_t j = i + 1;
    for (int p = 0; p < 2; ++p, ++j) {
      std::smatch m;
      ASSERT_LT(j, end) << "missing P" << p << " line";
      EXPECT_TRUE(std::regex_match(ls[j], m, kPLine)) << ls[j];
      if (!m.empty()) {
        EXPECT_EQ(m[1].str(), std::to_string(p)) << ls[j];
      }
    }
    int ms = 0, gs = 0;
    for (; j < end && std::regex_match(ls[j], kMLine); ++j) ++ms;
    for (; j < end; ++j) {
      std::smatch m;
      EXPECT_TRUE(std::regex_match(ls[j], m, kGLine)) << "line " << j << ": " << ls[j];
      if (m.empty()) continue;
      ++gs;
      if (m[1].str() == "1") saw_main = true;
    }
    EXPECT_GE(ms, 1) << "no M lines";
    EXPECT_GE(gs, 1) << "no G lines";
  }
  EXPECT_TRUE(saw_main) << "G1 (main) must appear among the G lines\n" << r.describe();
}

// A goroutine in a long blocking() call, and one in a plain blocking call
// whose P sysmon took by signal: the trace shows each as Go shows a
// goroutine in a system call, status 3 on an M that has no P.
TEST_F(CrashTest, SchedDetailSyscall) {
  prog_result r = run_testprog("SchedTraceSyscall", {"GODEBUG=schedtrace=50,scheddetail=1"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  auto ls = lines(r.err);
  const std::regex g_syscall(R"(  G([23]): status=3\(.*\) m=([0-9]+) lockedm=nil)");
  bool seen[4] = {};
  for (std::size_t i = 0; i < ls.size(); ++i) {
    std::smatch g;
    if (!std::regex_match(ls[i], g, g_syscall)) continue;
    // Its M, listed above it in the same block, has no P and runs it.
    const std::string m_line = "  M" + g[2].str() + ": p=nil curg=" + g[1].str() + " ";
    for (std::size_t j = i; j-- > 0 && ls[j].rfind("SCHED", 0) != 0;)
      if (ls[j].rfind(m_line, 0) == 0) seen[std::stoi(g[1].str())] = true;
  }
  EXPECT_TRUE(seen[2]) << "goroutine 2 in blocking() never shown in syscall on an M with no P\n" << r.describe();
  EXPECT_TRUE(seen[3]) << "goroutine 3, its P taken by sysmon, never shown in syscall on an M with no P\n"
                       << r.describe();
}

// A program whose goroutines all wait on I/O (a pipe written by a plain
// std::thread, a TCP read) is not deadlocked: it finishes normally.
TEST_F(CrashTest, IOWaitNotDeadlock) {
  prog_result r = run_testprog("IOWait");
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.err, "") << r.describe();
  EXPECT_EQ(r.out.find("deadlock"), std::string::npos) << r.describe();
}

// scheddetail shows a goroutine parked on I/O as Go does: Gwaiting (4) with
// wait reason "IO wait", on no M: main in wait_readable, another in a read.
TEST_F(CrashTest, SchedDetailIOWait) {
  prog_result r = run_testprog("IOWait", {"GODEBUG=schedtrace=50,scheddetail=1"});
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.err.find("deadlock"), std::string::npos) << r.describe();
  const std::regex io_wait(R"(  G([0-9]+): status=4\(IO wait\) m=nil lockedm=nil)");
  bool main_seen = false, other_seen = false;
  for (const std::string& l : lines(r.err)) {
    std::smatch m;
    if (!std::regex_match(l, m, io_wait)) continue;
    (m[1].str() == "1" ? main_seen : other_seen) = true;
  }
  EXPECT_TRUE(main_seen) << "G1, parked in wait_readable, never shown in IO wait\n" << r.describe();
  EXPECT_TRUE(other_seen) << "the goroutine parked in Conn::read never shown in IO wait\n" << r.describe();
}

TEST_F(CrashTest, NoDeadlock) {
  prog_result r = run_testprog("NoDeadlock");
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.err, "") << r.describe();
}

// ---- Goroutine dumps ----
//
// testprog's dump scenarios (SigquitParked, DeadlockParked, PanicParked,
// StackOverflowAfterPrintf, DumpFromCode) park a goroutine in
// parked_in_recv_here, made by park_one in goroutine 1, and most leave a
// line in stdout's buffer (a pipe here) before they die.

// goroutine_block returns the lines of the first goroutine whose header
// matches header: the header and the lines below it, to the next blank.
std::vector<std::string> goroutine_block(const std::vector<std::string>& ls, const std::regex& header) {
  std::vector<std::string> b;
  const int h = find_line(ls, header);
  for (std::size_t i = static_cast<std::size_t>(h); h >= 0 && i < ls.size() && !ls[i].empty(); ++i) b.push_back(ls[i]);
  return b;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// expect_parked checks the parked goroutine in a dump: its wait reason
// (and what else its header's brackets hold: state), the frame that names
// parked_in_recv_here with its location below it (file, line and offset,
// or without debug information the module and the offset in it), and the
// creator with its location.
void expect_parked(const std::string& dump, bool debug_info, const std::string& state) {
  const auto b = goroutine_block(lines(dump), std::regex(R"(goroutine [0-9]+ \[)" + state + R"(\]:)"));
  ASSERT_FALSE(b.empty()) << "no goroutine in " << state << "\n" << dump;
  const std::regex where(debug_info ? R"(\t/.*/testprog\.cpp:[0-9]+ \+0x[0-9a-f]+( pc=0x[0-9a-f]+)?)"
                                    : R"(\t/.*/testprog_nodebug \+0x[0-9a-f]+( pc=0x[0-9a-f]+)?)");
  auto frame = std::find_if(b.begin(), b.end(), [](const std::string& l) {
    return starts_with(l, "(anonymous namespace)::parked_in_recv_here(gort::chan<int>)");
  });
  ASSERT_NE(frame, b.end()) << "no frame names parked_in_recv_here\n" << dump;
  ASSERT_NE(frame + 1, b.end()) << dump;
  EXPECT_TRUE(std::regex_match(*(frame + 1), where)) << *(frame + 1) << "\n" << dump;
  auto created = std::find_if(b.begin(), b.end(), [](const std::string& l) { return starts_with(l, "created by "); });
  ASSERT_NE(created, b.end()) << "no created-by line\n" << dump;
  EXPECT_EQ(*created, "created by (anonymous namespace)::park_one() in goroutine 1") << dump;
  ASSERT_NE(created + 1, b.end()) << dump;
  EXPECT_TRUE(std::regex_match(*(created + 1), where)) << *(created + 1) << "\n" << dump;
}

// frame_lines: the function lines of a dump (not headers, locations or
// messages).
std::vector<std::string> frame_lines(const std::string& dump) {
  std::vector<std::string> fs;
  for (const std::string& l : lines(dump))
    if (!l.empty() && l[0] != '\t' && !starts_with(l, "goroutine ") && !starts_with(l, "created by ")) fs.push_back(l);
  return fs;
}

// has_runtime_frame: a frame of the runtime's own (gort::rt, gort::detail,
// the goroutine's entry) or of std's call plumbing under it.
bool has_runtime_frame(const std::string& dump) {
  for (const std::string& l : frame_lines(dump))
    for (const char* p : {"gort::rt::", "gort::detail::", "gort_", "std::_Function_handler", "__invoke", "invoke<"})
      if (l.find(p) != std::string::npos) return true;
  return false;
}

// SIGQUIT: "SIGQUIT: quit" and Go's PC line, every goroutine (main asleep,
// the parked one by name, with its creator), no runtime frames, what the
// program printed to stdout flushed, exit status 2.
TEST_F(CrashTest, SigquitDump) {
  prog_result r = run_testprog("SigquitParked", {}, {"ready\n", SIGQUIT});
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_GE(ls.size(), 2u) << r.describe();
  EXPECT_EQ(ls[0], "SIGQUIT: quit") << r.describe();
  EXPECT_TRUE(std::regex_match(ls[1], std::regex(R"(PC=0x[0-9a-f]+ m=[0-9]+ sigcode=-?[0-9]+)"))) << ls[1];
  EXPECT_TRUE(has_line(ls, "goroutine 1 [sleep]:")) << r.describe();
  expect_parked(r.err);
  EXPECT_FALSE(has_runtime_frame(r.err)) << r.describe();
  EXPECT_NE(r.out.find("printed before SIGQUIT\n"), std::string::npos) << "stdout not flushed\n" << r.describe();
}

// GOTRACEBACK=none: the signal and the PC, no goroutines.
TEST_F(CrashTest, SigquitTracebackNone) {
  prog_result r = run_testprog("SigquitParked", {"GOTRACEBACK=none"}, {"ready\n", SIGQUIT});
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_EQ(ls.size(), 2u) << r.describe();
  EXPECT_EQ(ls[0], "SIGQUIT: quit");
}

// GOTRACEBACK=system: the runtime's frames too, the stack of the thread that
// took the signal ("goroutine 0"), and each frame's pc.
TEST_F(CrashTest, SigquitTracebackSystem) {
  prog_result r = run_testprog("SigquitParked", {"GOTRACEBACK=system"}, {"ready\n", SIGQUIT});
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  EXPECT_TRUE(has_line(ls, "goroutine 0 [idle]:")) << r.describe();
  const auto b = goroutine_block(ls, std::regex(R"(goroutine [0-9]+ \[chan receive\]:)"));
  ASSERT_FALSE(b.empty()) << r.describe();
  EXPECT_TRUE(starts_with(b[1], "gort::rt::gogo(")) << "the innermost frame is the switch's caller\n" << r.describe();
  EXPECT_TRUE(std::any_of(b.begin(), b.end(), [](auto& l) { return starts_with(l, "gort_goentry_trampoline("); }))
      << r.describe();
  EXPECT_TRUE(std::regex_search(b[2], std::regex(R"( pc=0x[0-9a-f]+$)"))) << b[2];
}

// The minutes a goroutine has waited, from one on, in its header (Go's
// "[chan receive, 3 minutes]"): the parked goroutine's stamp backdated 3
// minutes (DeadlockWaitMinutes), with sysmon off so that no true stamp
// comes first; main, parked after the stamp, shows none.
TEST_F(CrashTest, DeadlockWaitMinutes) {
  prog_result r = run_testprog("DeadlockWaitMinutes", {"GODEBUG=sysmonoff=1"});
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "fatal error: all goroutines are asleep - deadlock!") << r.describe();
  EXPECT_TRUE(has_line(ls, "goroutine 1 [sync.WaitGroup.Wait]:")) << r.describe();
  expect_parked(r.err, true, "chan receive, 3 minutes");
}

// A deadlock's report shows every goroutine's stack, without the runtime's
// frames, after flushing stdout.
TEST_F(CrashTest, DeadlockDump) {
  prog_result r = run_testprog("DeadlockParked");
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "fatal error: all goroutines are asleep - deadlock!") << r.describe();
  const auto main = goroutine_block(ls, std::regex(R"(goroutine 1 \[sync\.WaitGroup\.Wait\]:)"));
  ASSERT_GE(main.size(), 3u) << r.describe();
  EXPECT_EQ(main[1], "gort::WaitGroup::wait()") << "public API frames are shown, as Go shows sync's";
  expect_parked(r.err);
  EXPECT_FALSE(has_runtime_frame(r.err)) << r.describe();
  EXPECT_EQ(r.out, "printed before the deadlock\n") << r.describe();
}

// GOTRACEBACK=system shows the runtime's frames: g0's stack where checkdead
// found the deadlock, and the switch and the entry trampoline of each
// goroutine.
TEST_F(CrashTest, DeadlockDumpSystem) {
  prog_result r = run_testprog("DeadlockParked", {"GOTRACEBACK=system"});
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  const int rs = find_line(ls, std::regex("runtime stack:"));
  ASSERT_GE(rs, 0) << r.describe();
  ASSERT_LT(rs + 1, static_cast<int>(ls.size()));
  EXPECT_TRUE(starts_with(ls[rs + 1], "gort::rt::checkdead()")) << r.describe();
  expect_parked(r.err);
  EXPECT_TRUE(has_runtime_frame(r.err)) << r.describe();
}

// The parked goroutine, dumped by a program built without -g: function
// names from the symbol table (parked_in_recv_here is a local symbol),
// locations as module and offset.
#ifdef TESTPROG_NODEBUG_PATH
TEST_F(CrashTest, DeadlockDumpWithoutDebugInfo) {
  prog_result r = run_program(TESTPROG_NODEBUG_PATH, {"DeadlockParked"}, {});
  EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
  expect_parked(r.err, false);
}
#endif

// GOTRACEBACK and a panic, as Go: single by default (the panicking
// goroutine), all (every goroutine), none (the message only), system (the
// runtime's frames too), and the numbers 0, 1, 2 as none (with all),
// all, system. stdout is flushed whatever the level.
TEST_F(CrashTest, PanicGotraceback) {
  struct level_case {
    const char* env;
    bool frames, others, runtime;
  };
  for (const level_case c : {level_case{nullptr, true, false, false},
                             {"single", true, false, false},
                             {"all", true, true, false},
                             {"1", true, true, false},
                             {"none", false, false, false},
                             {"0", false, false, false},
                             {"system", true, true, true},
                             {"2", true, true, true}}) {
    SCOPED_TRACE(std::string("GOTRACEBACK=") + (c.env ? c.env : "(unset)"));
    std::vector<std::string> env;
    if (c.env) env.push_back(std::string("GOTRACEBACK=") + c.env);
    prog_result r = run_testprog("PanicParked", env);
    auto ls = lines(r.err);
    EXPECT_TRUE(r.exited && r.status == 2) << r.describe();
    ASSERT_FALSE(ls.empty()) << r.describe();
    EXPECT_EQ(ls[0], "panic: boom");
    const auto main = goroutine_block(ls, std::regex(R"(goroutine 1 \[running\]:)"));
    EXPECT_EQ(!main.empty(), c.frames) << r.describe();
    if (c.frames) {
      ASSERT_GE(main.size(), 3u) << r.describe();
      EXPECT_EQ(main[1], "(anonymous namespace)::panics_here()") << r.describe();
    }
    EXPECT_EQ(find_line(ls, std::regex(R"(goroutine [0-9]+ \[chan receive\]:)")) >= 0, c.others) << r.describe();
    if (c.others) expect_parked(r.err);
    EXPECT_EQ(has_runtime_frame(r.err), c.runtime) << r.describe();
    EXPECT_EQ(r.out, "printed before the panic\ncout before the panic\n") << r.describe();
  }
}

// GOTRACEBACK=crash: everything, as system, then SIGABRT (a core dump where
// the limit allows; testprog sets it to 0) instead of exit status 2.
TEST_F(CrashTest, PanicGotracebackCrash) {
  prog_result r = run_testprog("PanicParked", {"GOTRACEBACK=crash"});
  EXPECT_TRUE(!r.exited && r.signal == SIGABRT) << r.describe();
  auto ls = lines(r.err);
  ASSERT_FALSE(ls.empty()) << r.describe();
  EXPECT_EQ(ls[0], "panic: boom");
  expect_parked(r.err);
  EXPECT_TRUE(has_runtime_frame(r.err)) << r.describe();
}

// A stack overflow is reported from the fault handler, on a thread that
// may have been inside stdio: sysmon flushes stdout for it. The report
// shows Go's 100 frames of the recursion and says the rest were elided.
TEST_F(CrashTest, StackOverflowFlushesStdout) {
  prog_result r = run_testprog("StackOverflowAfterPrintf");
  expect_stack_overflow(r);
  EXPECT_EQ(r.out, "printed before the overflow\n") << r.describe();
  auto ls = lines(r.err);
  const auto b = goroutine_block(ls, kRunningHeader);
  EXPECT_EQ(std::count(b.begin(), b.end(), "testprog_recurse(...)"), 100) << r.describe().substr(0, 4000);
  EXPECT_TRUE(has_line(ls, "...additional frames elided...")) << r.describe().substr(0, 4000);
}

// gort::dump_goroutines from code: the caller first, as running, from the
// function that called it; then the parked goroutine. The program goes on.
TEST_F(CrashTest, DumpFromCode) {
  prog_result r = run_testprog("DumpFromCode");
  EXPECT_TRUE(r.exited && r.status == 0) << r.describe();
  EXPECT_EQ(r.err, "") << r.describe();
  auto ls = lines(r.out);
  ASSERT_GE(ls.size(), 3u) << r.describe();
  EXPECT_EQ(ls[0], "goroutine 1 [running]:");
  EXPECT_NE(ls[1].find("operator()"), std::string::npos) << "the first frame is dump_goroutines' caller\n" << r.out;
  EXPECT_TRUE(std::regex_match(ls[2], std::regex(R"(\t/.*/testprog\.cpp:[0-9]+( \+0x[0-9a-f]+)?)"))) << ls[2];
  expect_parked(r.out);
  EXPECT_FALSE(has_runtime_frame(r.out)) << r.out;
}

TEST_F(CrashTest, UnknownScenario) {
  prog_result r = run_testprog("NoSuchScenario");
  EXPECT_TRUE(r.exited && r.status == 1) << r.describe();
  EXPECT_NE(r.err.find("unknown scenario"), std::string::npos) << r.describe();
}

#ifdef TESTPROG_CHECKED_PATH
// CheckedTest: each rule of GORT_CHECKED builds (src/runtime/lockrank.hpp,
// casgstatus, set_pstatus, runq, hchan::check, the timer heap, the
// semaphore treap) broken on purpose by testprog_checked: the report names
// what broke on a "runtime:" line, then "fatal error: <msg>", exit status
// 2. Not skipped under sanitizers: nothing here faults or signals, and the
// checked build's CI leg is the ASan one.
struct checked_case {
  const char* scenario;
  const char* fatal;    // the whole "fatal error:" line
  const char* runtime;  // a regex for one "runtime:" line before it ("": none)
};

void expect_checked(const checked_case& c) {
  prog_result r = run_program(TESTPROG_CHECKED_PATH, {c.scenario}, {});
  auto ls = lines(r.err);
  EXPECT_TRUE(r.exited && r.status == 2) << c.scenario << "\n" << r.describe().substr(0, 4000);
  auto f = std::find(ls.begin(), ls.end(), std::string("fatal error: ") + c.fatal);
  ASSERT_NE(f, ls.end()) << c.scenario << "\n" << r.describe().substr(0, 4000);
  if (*c.runtime == 0) return;
  const int i = find_line(ls, std::regex(c.runtime));
  EXPECT_GE(i, 0) << c.scenario << ": no line matching " << c.runtime << "\n" << r.describe().substr(0, 4000);
  EXPECT_LT(i, f - ls.begin()) << c.scenario << ": the runtime: line comes first\n" << r.describe().substr(0, 4000);
}

#define P R"(0x[0-9a-f]+)"
TEST(CheckedTest, LockOrder) {
  expect_checked({"LockOrder", "lock ordering problem", "runtime: lock hchan " P " taken while holding sched " P});
}
TEST(CheckedTest, LockOrderChan) {
  expect_checked(
      {"LockOrderChan", "lock ordering problem", "runtime: lock hchan " P " taken while holding sema_root " P});
}
TEST(CheckedTest, LockReentry) {
  expect_checked(
      {"LockReentry", "lock ordering problem", "runtime: lock allg " P " taken again by the thread that holds it"});
}
TEST(CheckedTest, LockSameRank) {
  prog_result r = run_program(TESTPROG_CHECKED_PATH, {"LockSameRank"}, {});
  EXPECT_EQ(r.out, "increasing order ok\n") << r.describe();
  expect_checked({"LockSameRank", "lock ordering problem", "runtime: lock hchan " P " taken while holding hchan " P});
}
TEST(CheckedTest, LockNotHeld) {
  expect_checked({"LockNotHeld", "not holding required lock!", "runtime: lock " P " is not held by this thread"});
}
TEST(CheckedTest, UnlockNotHeld) {
  expect_checked({"UnlockNotHeld", "lock release without matching lock acquire",
                  "runtime: unlock of " P ", not held by this thread"});
}
TEST(CheckedTest, BadGStatus) {
  expect_checked({"BadGStatus", "casgstatus: bad transition",
                  "runtime: casgstatus: goroutine 1: running -> idle is not a G's transition"});
}
TEST(CheckedTest, BadPStatus) {
  expect_checked({"BadPStatus", "bad P status transition", "runtime: p 0: status 1 -> 4 is not a P's transition"});
}
TEST(CheckedTest, RunqOverflow) { expect_checked({"RunqOverflow", "runqsteal: runq overflow", ""}); }
TEST(CheckedTest, ChanQcount) {
  expect_checked(
      {"ChanQcount", "chan: invariant broken", "runtime: chan " P ": qcount > dataqsiz \\(qcount 2, dataqsiz 1\\)"});
}
TEST(CheckedTest, ChanWaitingReceiver) {
  expect_checked({"ChanWaitingReceiver", "chan: invariant broken",
                  "runtime: chan " P ": receivers wait while the buffer holds values .*"});
}
TEST(CheckedTest, TimerHeapOrder) {
  expect_checked({"TimerHeapOrder", "timer heap out of order",
                  "runtime: timer heap " P ": entry 1 of 2 \\(when 100\\): earlier than its parent"});
}
TEST(CheckedTest, SemaTreap) {
  expect_checked({"SemaTreap", "semaRoot: bad treap", "runtime: semaphore treap " P ": addresses out of search order"});
}
#undef P
#endif  // TESTPROG_CHECKED_PATH

}  // namespace
