// traceback_test.cpp: goroutine dumps from code (gort::dump_goroutines) and
// the parts of a traceback that need no dying process: the header's rule
// for the minutes a goroutine has waited, and GOTRACEBACK's meanings. Go
// counterpart: runtime/stack_test.go (TestStackAllOutput), traceback's
// goroutineheader and runtime1.go's gotraceback. The dumps a fatal error or
// SIGQUIT print are crash_test.cpp's.
#include "chan_test_util.hpp"

#include <cstdlib>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include "runtime/lock_futex.hpp"
#include "runtime/proc.hpp"
#include "runtime/traceback.hpp"

namespace {

using namespace gort_test;
using gort::rt::gsnap;
using gort::rt::gstatus;

constexpr std::int64_t kSecond = 1'000'000'000;

// parked_in_recv_here waits on c, and a dump must name it: not inlined, not
// a tail call.
[[gnu::noinline]] int parked_in_recv_here(gort::chan<int> c) {
  const std::optional<int> v = c.recv();
  return v.value_or(0) + 1;
}

std::string header(const gsnap& s, std::int64_t now, bool running = false) {
  std::string out;
  {
    gort::rt::printer pr(&out, 0);
    gort::rt::goroutineheader(pr, s, now, running);
  }
  return out;
}

std::string dump() {
  std::ostringstream os;
  gort::dump_goroutines(os);
  return os.str();
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// parked_blocks counts the goroutines of a dump that wait in chan receive
// and show parked_in_recv_here and a creator in goroutine 1.
int parked_blocks(const std::string& d) {
  const std::regex header(R"(goroutine [0-9]+ \[chan receive[^\]]*\]:)");
  int n = 0;
  bool in = false, frame = false;
  for (const std::string& l : lines(d)) {
    if (std::regex_match(l, header)) {
      in = true;
      frame = false;
    } else if (l.empty()) {
      in = false;
    } else if (in && l.rfind("(anonymous namespace)::parked_in_recv_here(gort::chan<int>)", 0) == 0) {
      frame = true;
    } else if (in && frame && l.rfind("created by ", 0) == 0 && l.find(" in goroutine 1") != std::string::npos) {
      ++n;
      in = false;
    }
  }
  return n;
}

// wait_parked dumps until n goroutines show as parked in
// parked_in_recv_here and returns that dump, or the last one after 10,000
// tries. On one P the goroutines made before run at the first yield until
// they park, so the first dump usually has them all (a time slice that ends
// at the receive's entry makes one yield instead).
std::string wait_parked(int n) {
  std::string d;
  for (int i = 0; i < 10000; ++i) {
    gort::yield();
    if (parked_blocks(d = dump()) == n) break;
  }
  return d;
}

// with_parked runs f, in a run of procs Ps, while n goroutines wait in
// parked_in_recv_here (f gets the dump that shows them parked), then lets
// them return, since their frames hold the channel, and joins them.
// Returns what run returned.
int with_parked(int procs, int n, const std::function<void(const std::string&)>& f) {
  return run_procs(procs, [&] {
    auto never = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(n);
    for (int i = 0; i < n; ++i)
      gort::go([never, &wg] {
        parked_in_recv_here(never);
        wg.done();
      });
    f(wait_parked(n));
    never.close();
    wg.wait();
  });
}

// Go's rule (traceback.go, goroutineheader): the minutes a waiting
// goroutine (or one in a system call) has waited, from one on; nothing for
// a goroutine not waiting or whose start is not known yet.
TEST(TracebackTest, WaitMinutes) {
  const std::int64_t now = 1000 * 60 * kSecond;
  gsnap s;
  s.goid = 7;
  s.status = gstatus::Gwaiting;
  s.waitreason = gort::rt::wait_reason::chan_receive;
  EXPECT_EQ(header(s, now), "goroutine 7 [chan receive]:\n");  // not stamped yet
  s.waitsince = now - 59 * kSecond;
  EXPECT_EQ(header(s, now), "goroutine 7 [chan receive]:\n");
  s.waitsince = now - 60 * kSecond;
  EXPECT_EQ(header(s, now), "goroutine 7 [chan receive, 1 minutes]:\n");  // Go's words
  s.waitsince = now - (3 * 60 + 59) * kSecond;
  EXPECT_EQ(header(s, now), "goroutine 7 [chan receive, 3 minutes]:\n");
  s.locked = true;
  EXPECT_EQ(header(s, now), "goroutine 7 [chan receive, 3 minutes, locked to thread]:\n");
  s.locked = false;
  EXPECT_EQ(header(s, now, true), "goroutine 7 [running]:\n");  // the goroutine making the report
  s.status = gstatus::Gsyscall;
  EXPECT_EQ(header(s, now), "goroutine 7 [syscall, 3 minutes]:\n");
  s.in_user = true;  // its P taken, it runs its own code: not waiting
  EXPECT_EQ(header(s, now), "goroutine 7 [running]:\n");
  s.in_user = false;
  s.status = gstatus::Grunnable;
  EXPECT_EQ(header(s, now), "goroutine 7 [runnable]:\n");
  s.status = gstatus::Gwaiting;
  s.waitreason = gort::rt::wait_reason::zero;
  EXPECT_EQ(header(s, now), "goroutine 7 [waiting, 3 minutes]:\n");
}

// GOTRACEBACK as Go's setTraceback reads it, and what each kind of report
// makes of it (gotraceback): a panic as the variable says, a fatal error
// all goroutines at its level, a runtime error all with runtime frames.
TEST(TracebackTest, Gotraceback) {
  using gort::rt::throw_type;
  struct level_case {
    const char* env;
    int level;
    bool all, crash;
  };
  for (const level_case c : {level_case{nullptr, 1, false, false},
                             {"", 1, false, false},
                             {"single", 1, false, false},
                             {"none", 0, false, false},
                             {"all", 1, true, false},
                             {"system", 2, true, false},
                             {"crash", 2, true, true},
                             {"0", 0, true, false},
                             {"1", 1, true, false},
                             {"2", 2, true, false},
                             {"bogus", 0, true, false}}) {
    SCOPED_TRACE(c.env ? c.env : "(unset)");
    gort::rt::settraceback(c.env);
    const gort::rt::traceback_mode panic = gort::rt::gotraceback(throw_type::none);
    EXPECT_EQ(panic.level, c.level);
    EXPECT_EQ(panic.all, c.all);
    EXPECT_EQ(panic.crash, c.crash);
    const gort::rt::traceback_mode fatal = gort::rt::gotraceback(throw_type::user);
    EXPECT_EQ(fatal.level, c.level);
    EXPECT_TRUE(fatal.all);
    const gort::rt::traceback_mode bug = gort::rt::gotraceback(throw_type::runtime);
    EXPECT_EQ(bug.level, 2);
    EXPECT_TRUE(bug.all);
  }
  gort::rt::settraceback(std::getenv("GOTRACEBACK"));
}

// dump_goroutines with 1,000 goroutines parked: the caller first, running,
// from the function that called dump_goroutines (dump, here); then each
// parked one with the frame that names where it waits and its creator.
TEST(TracebackTest, DumpThousandParked) {
  constexpr int kParked = 1000;
  std::string d;
  int rc = with_parked(1, kParked, [&](const std::string& parked) { d = parked; });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(parked_blocks(d), kParked) << d.substr(0, 4000);
  const auto ls = lines(d);
  ASSERT_GE(ls.size(), 3u);
  EXPECT_EQ(ls[0], "goroutine 1 [running]:");
  EXPECT_EQ(ls[1], "(anonymous namespace)::dump()") << "the first frame is the caller's\n" << d.substr(0, 2000);
  EXPECT_TRUE(std::regex_match(ls[2], std::regex(R"(\t/.*/traceback_test\.cpp:[0-9]+ \+0x[0-9a-f]+)"))) << ls[2];
  // Below GOTRACEBACK=system, none of the runtime's own frames.
  for (const std::string& l : ls) {
    if (l.empty() || l[0] == '\t') continue;
    for (const char* p : {"gort::rt::", "gort::detail::", "gort_goentry", "__invoke"})
      ASSERT_EQ(l.find(p), std::string::npos) << l;
  }
}

// The minutes in a dump: sysmon stamps the waiting goroutines it finds
// unstamped with its clock (markwaitsince, every 10 s); here the test stamps
// one with a clock three minutes behind instead of waiting them, with
// sysmon off so that its stamp is the only one.
TEST(TracebackTest, WaitMinutesInDump) {
  const char* godebug = std::getenv("GODEBUG");
  const std::string saved = godebug ? godebug : "";
  setenv("GODEBUG", "sysmonoff=1", 1);
  std::string d;
  int rc = with_parked(1, 1, [&](const std::string&) {
    gort::rt::markwaitsince(gort::rt::nanotime() - (3 * 60 + 1) * kSecond);
    d = dump();
  });
  if (godebug)
    setenv("GODEBUG", saved.c_str(), 1);
  else
    unsetenv("GODEBUG");
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(std::regex_search(d, std::regex(R"((^|\n)goroutine [0-9]+ \[chan receive, 3 minutes\]:\n)"))) << d;
  EXPECT_EQ(lines(d)[0], "goroutine 1 [running]:");
}

// dump_goroutines from a thread the runtime did not start (an extra M,
// proc.cpp "Extra Ms"): the thread's own G first, locked to it, from the
// thread's own stack (systemstack has no g0 to move to); then the parked
// goroutine.
TEST(TracebackTest, DumpFromForeignThread) {
  std::string d;
  int rc = with_parked(2, 1, [&](const std::string&) {
    std::thread t([&] { d = dump(); });
    gort::blocking([&] { t.join(); });
  });
  EXPECT_EQ(rc, 0);
  const auto ls = lines(d);
  ASSERT_GE(ls.size(), 3u) << d;
  EXPECT_TRUE(std::regex_match(ls[0], std::regex(R"(goroutine [0-9]+ \[running, locked to thread\]:)"))) << d;
  EXPECT_EQ(ls[1], "(anonymous namespace)::dump()") << d;
  EXPECT_EQ(parked_blocks(d), 1) << d;
}

}  // namespace
