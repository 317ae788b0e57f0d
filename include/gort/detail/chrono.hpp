// gort/detail/chrono.hpp: durations and time points of any unit, as the
// runtime's nanoseconds, saturated instead of overflowing.
//
// The API takes std::chrono::nanoseconds and steady_clock::time_point (Go's
// int64 nanoseconds). Passed hours::max() or a time_point in hours, C++
// converts at the call, in the caller's code, and the multiplication
// overflows (undefined behaviour; in practice a wrapped, maybe negative,
// duration). So each such function also takes any duration or steady_clock
// time point, and converts it here: clamped to nanoseconds' range, where
// Go's time arithmetic saturates too (time.Time.Add, Until).
#pragma once

#include <chrono>
#include <cstdint>
#include <ratio>
#include <type_traits>

namespace gort::detail {

// saturating_ns: d in nanoseconds, truncated toward zero as duration_cast
// does, clamped to [nanoseconds::min(), nanoseconds::max()]; a NaN is 0.
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturating_ns(std::chrono::duration<Rep, Period> d) {
  using ns = std::chrono::nanoseconds;
  using cf = std::ratio_divide<Period, std::nano>;  // nanoseconds per unit of d
  constexpr auto max = ns::max().count();
  if constexpr (std::is_floating_point_v<Rep> || (cf::num != 1 && cf::den != 1)) {
    // A floating count, or a unit that is no whole multiple nor fraction of a
    // nanosecond (duration_cast's intermediate product could overflow):
    // long double holds every int64 exactly on x86-64 and aarch64.
    const long double n = static_cast<long double>(d.count()) * cf::num / cf::den;
    if (n != n) return ns::zero();
    if (n >= static_cast<long double>(max)) return ns::max();
    if (n <= static_cast<long double>(ns::min().count())) return ns::min();
    return ns(static_cast<ns::rep>(n));
  } else if constexpr (cf::den == 1) {  // a whole number of nanoseconds per unit: the conversion multiplies
    if (d.count() > max / cf::num) return ns::max();
    if constexpr (std::is_signed_v<Rep>)
      if (d.count() < -(max / cf::num)) return ns::min();
    return ns(static_cast<ns::rep>(d.count()) * cf::num);
  } else {  // a fraction of a nanosecond: the conversion divides
    return std::chrono::duration_cast<ns>(d);
  }
}

// saturating_time: t as a steady_clock::time_point (nanoseconds since the
// clock's epoch), saturated as saturating_ns.
template <class Duration>
constexpr std::chrono::steady_clock::time_point saturating_time(
    std::chrono::time_point<std::chrono::steady_clock, Duration> t) {
  return std::chrono::steady_clock::time_point(saturating_ns(t.time_since_epoch()));
}

}  // namespace gort::detail
