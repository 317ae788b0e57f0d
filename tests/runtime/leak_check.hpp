// leak_check.hpp: the leak check the tests run after each gort::run (the
// run helpers, chan_test_util.hpp's run_procs and stress_test.cpp's, call
// it): the runtime's census (src/runtime/export_test.hpp) must read zero,
// every G, stack, M, P, timer, semaphore waiter and signal stack of the run
// freed by its end, and the records held by the program's objects (after_func
// timers, poll descriptors, big selects' scratch) gone with them. A failure
// names what is left and how many: "the runtime still holds gs=3 stacks=64".
//
// Not checked here: the extra Ms that threads which called in keep until
// they exit (Census::extra_ms): a test joins its threads after run()
// returns, and its own checks cover them (leak_test.cpp, ExtraMs).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "runtime/export_test.hpp"

namespace gort_test {

// no_leaks: whether the census, less extra_ms, reads zero; the message
// names what is left.
inline ::testing::AssertionResult no_leaks() {
  gort::rt::Census c = gort::rt::census();
  c.extra_ms = 0;
  const std::string left = gort::rt::census_leaks(c);
  if (left.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "the runtime still holds " << left;
}

// leak_check_off: while one lives, expect_no_leaks checks nothing: for a
// run whose test keeps the program's objects (a Conn, a Timer) past it on
// purpose, and lets them go before a later, checked, run.
inline bool leak_check_disabled = false;
struct leak_check_off {
  leak_check_off() { leak_check_disabled = true; }
  ~leak_check_off() { leak_check_disabled = false; }
  leak_check_off(const leak_check_off&) = delete;
  leak_check_off& operator=(const leak_check_off&) = delete;
};

// expect_no_leaks: after run() has returned.
inline void expect_no_leaks() {
  if (leak_check_disabled) return;
  EXPECT_TRUE(no_leaks()) << "after gort::run returned";
}

}  // namespace gort_test
