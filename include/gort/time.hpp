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
// A timer never fires early. Times are std::chrono::steady_clock's.
//
// As Go 1.23: a Timer's or Ticker's channel has a one-value buffer, and
// stop()/reset() discard a value not yet received, so no stale time is read
// after them. Destroying a Timer object does not cancel it (use stop()); a
// timer that fires after its channel's last handle is gone is simply freed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "gort/chan.hpp"

namespace gort {

namespace detail {

void timer_retain(std::uintptr_t t) noexcept;
void timer_release(std::uintptr_t t) noexcept;

// timer_ref: a counted reference to a timer (src/runtime/time.hpp), a
// pointer tagged with the timer's kind. A Timer's, Ticker's or after's
// timer lives in its channel's allocation and counts on the channel's
// references; an after_func's has a count of its own.
class timer_ref {
 public:
  timer_ref() noexcept = default;
  explicit timer_ref(std::uintptr_t adopted) noexcept : t_(adopted) {}
  timer_ref(const timer_ref& o) noexcept : t_(o.t_) {
    if (t_) timer_retain(t_);
  }
  timer_ref(timer_ref&& o) noexcept : t_(std::exchange(o.t_, 0)) {}
  timer_ref& operator=(timer_ref o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~timer_ref() {
    if (t_) timer_release(t_);
  }
  std::uintptr_t get() const noexcept { return t_; }
  std::uintptr_t release() noexcept { return std::exchange(t_, 0); }  // the reference goes to the caller

 private:
  std::uintptr_t t_ = 0;
};

}  // namespace detail

// time.Sleep: parks the goroutine for at least d; d <= 0 returns at once.
void sleep(std::chrono::nanoseconds d);
void sleep_until(std::chrono::steady_clock::time_point t);

// time.NewTimer: sends the time on c() once, d from now.
class Timer {
 public:
  explicit Timer(std::chrono::nanoseconds d);
  chan<std::chrono::steady_clock::time_point> c() const { return c_; }
  // Cancels the timer: true if it was pending (had not fired).
  bool stop();
  // Re-arms the timer for d from now: true if it was pending.
  bool reset(std::chrono::nanoseconds d);

 private:
  friend Timer after_func(std::chrono::nanoseconds d, std::function<void()> f);
  Timer() = default;
  chan<std::chrono::steady_clock::time_point> c_;
  detail::timer_ref t_;
};

// time.NewTicker: sends the time on c() every period; a reader that falls
// behind misses ticks (the channel holds one). period must be positive
// (panic_error "non-positive interval for NewTicker", Go's message). A
// Ticker is a handle: copies share one ticker, which stops when the last
// copy goes (Go collects an unreachable ticker; here nothing could stop it).
class Ticker {
 public:
  explicit Ticker(std::chrono::nanoseconds period);
  chan<std::chrono::steady_clock::time_point> c() const { return c_; }
  void stop();
  void reset(std::chrono::nanoseconds period);  // panic_error on period <= 0, as Go

 private:
  struct stopper;  // stops the ticker when the last handle goes
  chan<std::chrono::steady_clock::time_point> c_;
  std::shared_ptr<stopper> t_;
};

// time.After: a channel that receives the time once, d from now.
chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d);

// time.AfterFunc: runs f in its own goroutine d from now. The Timer it
// returns has no channel (c() is nil); stop() cancels f if it has not
// started.
Timer after_func(std::chrono::nanoseconds d, std::function<void()> f);

}  // namespace gort
