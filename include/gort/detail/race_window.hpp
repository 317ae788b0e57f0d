// gort/detail/race_window.hpp: a pause that checked builds put inside the
// runtime's lock-free checks, for the race tests. Not part of the public API.
//
// Between the two loads of a lock-free check whose soundness rests on their
// order (a channel's non-blocking fail paths, gort/chan.hpp; select's pass
// 0; runq's steal), a checked build (GORT_CHECKED) pauses for a moment, so
// that a race test's concurrent close, receive or steal lands between them
// often rather than almost never, and a wrong order or a missing re-check
// fails the test (ChanTest.NonblockRecvRacingCloseFindsValueOrClosed).
// Other builds: nothing.
#pragma once

namespace gort::detail {

#ifdef GORT_CHECKED
void race_window() noexcept;  // src/runtime/lock_futex.cpp
#else
inline void race_window() noexcept {}
#endif

}  // namespace gort::detail
