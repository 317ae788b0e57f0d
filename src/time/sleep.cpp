// sleep.cpp: package time's timers: sleep, Timer, after, after_func,
// Ticker (include/gort/time.hpp). Go counterpart: time/sleep.go and
// time/tick.go, and the runtime's timeSleep for sleep.
//
// Each is an entry (entry_guard) over the runtime's timers
// (src/runtime/time.cpp): a sleep parks its G, whose wake time goes into
// its P's timers once it is parked (reset_for_sleep); a Timer, Ticker or
// after is a channel timer (new_chan_timer), an after_func a func_timer,
// stopped and reset by the runtime's stop_timer and reset_timer. A Timer
// or Ticker holds its timer through a timer_handle, which keeps the
// timer's kind in a field rather than in the low bits of its pointer, as
// the runtime's references do (timer_access converts).
#include "gort/time.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

#include "gort/chan.hpp"
#include "gort/runtime.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/time.hpp"

namespace gort::rt {
using detail::func_timer;  // as time.cpp names them
using detail::timer;
}  // namespace gort::rt

namespace gort {

void sleep(std::chrono::nanoseconds d) {
  rt::entry_guard e("gort::sleep");
  if (d.count() <= 0) return;
  const std::int64_t now = rt::nanotime();
  std::int64_t when = rt::when_after(d, now);
  e.gp->m->now_hint = now;  // the timer check after the switch needs no clock read of its own
  rt::gopark(&rt::reset_for_sleep, &when, rt::wait_reason::sleep);
}

void sleep_until(std::chrono::steady_clock::time_point t) {
  // t - now overflows for a t near the clock's minimum: a t already past
  // is a sleep of 0 (which still checks that we are on a goroutine).
  const auto now = std::chrono::steady_clock::now();
  sleep(t > now ? std::chrono::duration_cast<std::chrono::nanoseconds>(t - now) : std::chrono::nanoseconds(0));
}

// timer_access: a Timer's or Ticker's timer_handle is a timer_ref with its
// kind in a field rather than in the pointer's low bits (the public header
// keeps no tagged integers); these convert.
struct detail::timer_access {
  // adopt: r's reference, moved into a handle.
  static timer_handle adopt(timer_ref r) noexcept {
    timer_handle h;
    h.func_ = rt::kind_of(r.get()) == rt::timer_kind::func;
    h.t_ = rt::timer_of(r.release());
    return h;
  }
  // what: the handle's timer, tagged as the heap's entries are.
  static std::uintptr_t what(const timer_handle& h) noexcept {
    return rt::tagged(h.t_, h.func_ ? rt::timer_kind::func : rt::timer_kind::chan);
  }
};

void detail::timer_handle::release() noexcept { timer_release(timer_access::what(*this)); }

Timer::Timer(std::chrono::nanoseconds d) {
  rt::entry_guard e("gort::Timer");
  t_ = detail::timer_access::adopt(rt::new_chan_timer(c_, rt::when_after(d), 0));
}

bool Timer::stop() {
  rt::entry_guard e("gort::Timer::stop");
  return rt::stop_timer(detail::timer_access::what(t_));
}

bool Timer::reset(std::chrono::nanoseconds d) {
  rt::entry_guard e("gort::Timer::reset");
  return rt::reset_timer(detail::timer_access::what(t_), rt::when_after(d), 0);
}

Timer after_func(std::chrono::nanoseconds d, std::function<void()> f) {
  rt::entry_guard e("gort::after_func");
  auto* t = new rt::func_timer;  // refs: 1, tm's
  rt::func_timers_live.fetch_add(1, std::memory_order_relaxed);
  t->fn = std::move(f);
  Timer tm;
  tm.t_ = detail::timer_access::adopt(detail::timer_ref(rt::tagged(static_cast<rt::timer*>(t), rt::timer_kind::func)));
  rt::reset_timer(detail::timer_access::what(tm.t_), rt::when_after(d), 0);
  return tm;
}

// after: a channel timer that nobody owns but its channel's handles (and,
// until it fires or its channel goes, its heap entry), so no Timer object.
chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d) {
  rt::entry_guard e("gort::after");
  chan<std::chrono::steady_clock::time_point> c;
  rt::new_chan_timer(c, rt::when_after(d), 0);  // its reference goes here; c's and the heap's stay
  return c;
}

namespace {
std::int64_t ticker_period(std::chrono::nanoseconds period) {
  if (period.count() <= 0) throw panic_error("non-positive interval for NewTicker");
  return period.count();
}

// stop_ticker: what destroying or assigning over a Ticker does to its own.
void stop_ticker(const detail::timer_handle& t) noexcept {
  if (!t) return;  // moved from
  rt::entry_guard e(rt::getg());  // nullptr off the runtime (a Ticker outliving run())
  rt::stop_timer(detail::timer_access::what(t));
}
}  // namespace

Ticker::Ticker(std::chrono::nanoseconds period) {
  rt::entry_guard e("gort::Ticker");
  const std::int64_t p = ticker_period(period);
  t_ = detail::timer_access::adopt(rt::new_chan_timer(c_, rt::when_after(period), p));
}

Ticker& Ticker::operator=(Ticker&& o) noexcept {
  if (this != &o) {
    stop_ticker(t_);
    c_ = std::move(o.c_);
    t_ = std::move(o.t_);
  }
  return *this;
}

Ticker::~Ticker() { stop_ticker(t_); }

void Ticker::stop() {
  rt::entry_guard e("gort::Ticker::stop");
  rt::stop_timer(detail::timer_access::what(t_));
}

void Ticker::reset(std::chrono::nanoseconds period) {
  rt::entry_guard e("gort::Ticker::reset");
  if (period.count() <= 0) throw panic_error("non-positive interval for Ticker.Reset");
  rt::reset_timer(detail::timer_access::what(t_), rt::when_after(period), period.count());
}

}  // namespace gort
