// traceback_stress_test.cpp: gort::dump_goroutines while the goroutines it
// reads run, park, wake, exit and are made (label stress, part of
// gort_stress_tests; CI runs it under TSan and ASan, with fewer dumps). The
// dump takes no lock and stops nothing (src/runtime/traceback.cpp, "Reading
// a stack that may move"): it must never crash, hang or race, and what it
// prints must be well formed whatever it caught each goroutine doing.
//
//   DumpWhileRunning  pairs ping-ponging on unbuffered channels, goroutines
//                     that yield, sleep, make short-lived children and call
//                     blocking(), and two goroutines dumping all the while;
//                     at GOMAXPROCS 1, 2 and 4.
#include "chan_test_util.hpp"

#include <regex>
#include <set>
#include <sstream>

namespace {

using namespace gort_test;

class TracebackStressTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, TracebackStressTest, ::testing::Values(1, 2, 4), procs_name);

// malformed returns what is wrong with a dump, or "" if nothing is: it
// starts with its caller, running; every line is a header, a frame, a
// location, a creator, Go's notes, or the blank line between goroutines;
// no goroutine appears twice.
std::string malformed(const std::string& d) {
  static const std::regex header(R"(goroutine ([0-9]+) \[[^\]]+\]:)");
  std::istringstream in(d);
  std::set<std::string> ids;
  std::string l;
  int n = 0;
  bool after_header = false;
  for (; std::getline(in, l); ++n) {
    std::smatch m;
    if (std::regex_match(l, m, header)) {
      if (!ids.insert(m[1]).second) return "goroutine " + m[1].str() + " twice";
      after_header = true;
      continue;
    }
    if (n == 0) return "the first line is not a header: " + l;
    if (l.empty() || l[0] == '\t' || l.rfind("created by ", 0) == 0 || l == "...additional frames elided...") {
      after_header = false;
      continue;
    }
    if (after_header && l.rfind("goroutine", 0) == 0) return "a header that is not one: " + l;
    after_header = false;  // a frame's function
  }
  if (d.rfind("goroutine ", 0) != 0 || d.find(" [running]:\n") == std::string::npos) return "no running caller first";
  return "";
}

TEST_P(TracebackStressTest, DumpWhileRunning) {
  const long kDumps = scaled(200);
  std::atomic<bool> stop{false};
  std::atomic<long> dumps{0}, work{0};
  std::string first_bad;
  gort::Mutex bad_mu;
  int rc = run_procs(GetParam(), [&] {
    gort::WaitGroup workers, dumpers;
    for (int i = 0; i < 8; ++i) {
      auto ping = gort::make_chan<int>(), pong = gort::make_chan<int>();
      workers.add(2);
      gort::go([&, ping, pong] {
        for (int n = 0; !stop.load(std::memory_order_relaxed); ++n) {
          ping.send(n);
          pong.recv();
        }
        ping.close();
        workers.done();
      });
      gort::go([&, ping, pong] {
        for (int v : ping) {
          pong.send(v);
          work.fetch_add(1, std::memory_order_relaxed);
        }
        workers.done();
      });
    }
    for (int i = 0; i < 4; ++i) {
      workers.add(1);
      gort::go([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          gort::yield();
          gort::sleep(std::chrono::microseconds(50));
          gort::go([&] { work.fetch_add(1, std::memory_order_relaxed); });
          gort::blocking([] {});
        }
        workers.done();
      });
    }
    dumpers.add(2);
    for (int i = 0; i < 2; ++i)
      gort::go([&] {
        for (long k = 0; k < kDumps; ++k) {
          std::ostringstream os;
          gort::dump_goroutines(os);
          dumps.fetch_add(1, std::memory_order_relaxed);
          if (std::string why = malformed(os.str()); !why.empty()) {
            std::lock_guard l(bad_mu);
            if (first_bad.empty()) first_bad = why + "\n" + os.str().substr(0, 4000);
          }
        }
        dumpers.done();
      });
    dumpers.wait();
    stop.store(true, std::memory_order_relaxed);
    workers.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(dumps.load(), 2 * kDumps);
  EXPECT_GT(work.load(), 0);
  EXPECT_EQ(first_bad, "");
}

}  // namespace
