// gort/time.hpp: Go's time package as far as the runtime serves it: sleeping,
// timers, tickers. Go counterpart: time.Sleep, time.After, time.NewTimer,
// time.NewTicker, time.AfterFunc over runtime/time.go.
//
//   gort::sleep(10ms);                                // parks the goroutine
//   gort::select(gort::case_recv(results, on_result),
//                gort::case_recv(gort::after(1s), on_timeout));
//
// Timers live in a 4-ary heap per P and are run by the scheduler
// (src/runtime/time.cpp); an idle runtime sleeps until the earliest one.
// The functions here are src/time/sleep.cpp's.
// A timer never fires early. Times are std::chrono::steady_clock's.
//
// As Go 1.23: a Timer's or Ticker's channel has a one-value buffer, and
// stop()/reset() discard a value not yet received, so no stale time is read
// after them. A Timer and a Ticker each own their runtime timer, alike:
// move-only. Destroying a Timer object does not cancel it (use stop());
// destroying a Ticker stops it. A timer that fires after its channel's last
// handle is gone is simply freed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

#include "gort/chan.hpp"
#include "gort/detail/chrono.hpp"

namespace gort {

namespace detail {

struct timer;         // the runtime's (src/runtime/time.hpp): opaque here
struct timer_access;  // src/time/sleep.cpp

// timer_handle: the one counted reference a Timer or Ticker holds to its
// runtime timer. Move-only: each Timer and Ticker owns its timer, and what
// destroying the owner does is the owner's to say (a Timer's timer runs
// on; a Ticker stops). A Timer's or Ticker's timer lives in its channel's
// allocation and counts on the channel's references; an after_func's has a
// count of its own, hence func_.
class timer_handle {
 public:
  timer_handle() noexcept = default;
  timer_handle(timer_handle&& o) noexcept : t_(std::exchange(o.t_, nullptr)), func_(o.func_) {}
  timer_handle& operator=(timer_handle&& o) noexcept {
    std::swap(t_, o.t_);
    std::swap(func_, o.func_);
    return *this;
  }
  ~timer_handle() {
    if (t_) release();
  }
  explicit operator bool() const noexcept { return t_ != nullptr; }

 private:
  friend struct timer_access;
  void release() noexcept;
  timer* t_ = nullptr;
  bool func_ = false;  // an after_func's timer; else a channel's
};

}  // namespace detail

// Every function here taking a duration or a time point also takes one of
// any unit (hours, a double's seconds, a time_point in minutes), saturated
// to nanoseconds' range instead of overflowing (gort/detail/chrono.hpp):
// hours::max() is "never", as nanoseconds::max() is.

// time.Sleep: parks the goroutine for at least d; d <= 0 returns at once.
void sleep(std::chrono::nanoseconds d);
void sleep_until(std::chrono::steady_clock::time_point t);
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
  sleep(detail::saturating_ns(d));
}
template <class Duration>
void sleep_until(std::chrono::time_point<std::chrono::steady_clock, Duration> t) {
  sleep_until(detail::saturating_time(t));
}

// time.NewTimer: sends the time on c() once, d from now. Move-only: a
// Timer owns its timer (share it through a std::shared_ptr<Timer>, or share
// c(), a channel handle); a moved-from Timer may only be destroyed or
// assigned to. Destroying it does not cancel the timer.
class Timer {
 public:
  explicit Timer(std::chrono::nanoseconds d);
  template <class Rep, class Period>
  explicit Timer(std::chrono::duration<Rep, Period> d) : Timer(detail::saturating_ns(d)) {}
  Timer(Timer&&) noexcept = default;
  Timer& operator=(Timer&&) noexcept = default;
  chan<std::chrono::steady_clock::time_point> c() const { return c_; }
  // Cancels the timer: true if it was pending (had not fired).
  bool stop();
  // Re-arms the timer for d from now: true if it was pending.
  bool reset(std::chrono::nanoseconds d);
  template <class Rep, class Period>
  bool reset(std::chrono::duration<Rep, Period> d) {
    return reset(detail::saturating_ns(d));
  }

 private:
  friend Timer after_func(std::chrono::nanoseconds d, std::function<void()> f);
  template <class Rep, class Period>
  Timer after_func(std::chrono::duration<Rep, Period> d, std::function<void()> f) {
    return after_func(detail::saturating_ns(d), std::move(f));
  }
  Timer() = default;
  chan<std::chrono::steady_clock::time_point> c_;
  detail::timer_handle t_;
};

// time.NewTicker: sends the time on c() every period; a reader that falls
// behind misses ticks (the channel holds one). period must be positive
// (panic_error "non-positive interval for NewTicker", Go's message). Owned
// as a Timer is (move-only), but destroying a Ticker stops it, and so does
// assigning another over it: Go collects an unreachable ticker; here
// nothing else could stop it.
class Ticker {
 public:
  explicit Ticker(std::chrono::nanoseconds period);
  template <class Rep, class Period>
  explicit Ticker(std::chrono::duration<Rep, Period> period) : Ticker(detail::saturating_ns(period)) {}
  Ticker(Ticker&&) noexcept = default;
  Ticker& operator=(Ticker&& o) noexcept;
  ~Ticker();
  chan<std::chrono::steady_clock::time_point> c() const { return c_; }
  void stop();
  void reset(std::chrono::nanoseconds period);  // panic_error on period <= 0, as Go
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> period) {
    reset(detail::saturating_ns(period));
  }

 private:
  chan<std::chrono::steady_clock::time_point> c_;
  detail::timer_handle t_;
};

// time.After: a channel that receives the time once, d from now.
chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d);
template <class Rep, class Period>
chan<std::chrono::steady_clock::time_point> after(std::chrono::duration<Rep, Period> d) {
  return after(detail::saturating_ns(d));
}

// time.AfterFunc: runs f in its own goroutine d from now. The Timer it
// returns has no channel (c() is nil); stop() cancels f if it has not
// started.
Timer after_func(std::chrono::nanoseconds d, std::function<void()> f);
template <class Rep, class Period>
Timer after_func(std::chrono::duration<Rep, Period> d, std::function<void()> f) {
  return after_func(detail::saturating_ns(d), std::move(f));
}

}  // namespace gort
