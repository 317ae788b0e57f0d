// context_test_util.hpp: what the context and errgroup tests share.
#pragma once

#include <chrono>
#include <exception>
#include <string>

#include "../runtime/chan_test_util.hpp"

namespace gort_test {

// run_settled: run_procs, then waits (briefly, yielding) until main is the
// only goroutine left: a goroutine that has done its part (an errgroup's,
// an after_func's) may still be returning, and one abandoned by run() would
// keep what its closure holds (LeakSanitizer reports it).
template <class F>
int run_settled(int procs, F&& f) {
  return run_procs(procs, [&] {
    f();
    spin_until([] { return gort::num_goroutine() == 1; });
  });
}

// kLate: a bound only a broken cancellation or timer reaches.
inline constexpr std::chrono::seconds kLate{kSanitized ? 5 : 2};

// what_of: an exception's what(), "nullptr" for none, "unknown" for a
// non-std exception.
inline std::string what_of(std::exception_ptr e) {
  if (!e) return "nullptr";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown";
  }
}

}  // namespace gort_test
