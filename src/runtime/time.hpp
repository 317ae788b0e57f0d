// time.hpp: timers, the runtime's side. Go counterpart: the timer struct and
// the timers functions of time.go (Go 1.23).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

#include "runtime/runtime2.hpp"

namespace gort {
template <class T>
class chan;  // gort/chan.hpp
}  // namespace gort

namespace gort::detail {

// timer: what every timer has, its place in a heap (a sleep needs none: its
// heap entry names the G, see timer_when). Its when is in its heap entry
// only, and its kind in the tag of the pointers to it (timer_kind): the
// heap entry's and the timer_refs'. Three kinds:
//   chan_timer  a Timer's, Ticker's or after's: firing sends the time on
//               its channel without blocking, if seq is still the one it
//               was popped with;
//   func_timer  an after_func's: firing starts a goroutine running fn;
//   rt_timer    the runtime's own (a netpoll deadline): firing calls
//               f(arg, seq) with no lock held.
// A chan_timer or func_timer lives as long as a reference to it: a
// timer_ref (while it is in a heap, its entry is one) or, for a
// chan_timer, a handle of its channel. An rt_timer is not counted: its
// owner outlives it (a poll_desc is never freed).
//
// Locking: ts->mu (the heap holding it) guards index and ts, its entry
// there and, for a ticker, period; mu serializes stop/reset with a firing's
// send (Go's sendLock), and guards period and seq changes. Lock order
// (lockrank.hpp): mu, then a channel's lock or a P's timers.mu.
struct timer {
  rt::mutex mu{rt::lock_rank::timer};
  std::uint32_t index = 0;               // position in ts->heap
  std::atomic<rt::timers*> ts{nullptr};  // the heap it is in, if any
};

// chan_timer lives in its channel's allocation, right after the hchan
// (makechan_room), so it is freed with the channel's last reference: the
// channel's handles, the Timer's or Ticker's, its heap entry's.
struct chan_timer : timer {
  std::atomic<std::uint32_t> seq{0};     // bumped by stop/reset: a firing in flight sends nothing
  std::atomic<std::int32_t> sending{0};  // one-shot firings popped but not yet sent
  std::int64_t period = 0;               // > 0: a ticker
};

struct func_timer : timer {
  std::atomic<std::uint32_t> refs{1};
  std::function<void()> fn;
};

// rt_timer: Go's timer with f, arg and seq, as the runtime arms it for
// itself. seq is what the arming passed: f compares it with its own state
// to drop a firing that a later arming or a reuse of arg made stale (Go's
// netpoll rseq/wseq). f, arg and seq are written by modtimer with mu held
// and the timer in no heap, and read by the firing under the heap's lock
// with the timer still in it, so the two never overlap.
struct rt_timer : timer {
  void (*f)(void* arg, std::uintptr_t seq) = nullptr;
  void* arg = nullptr;
  std::uintptr_t seq = 0;
};

void timer_retain(std::uintptr_t t) noexcept;
void timer_release(std::uintptr_t t) noexcept;

// timer_ref: a counted reference to a timer, as a pointer tagged with the
// timer's kind (rt::timer_kind), the encoding of a heap entry: an entry
// holding a timer is the heap's reference to it. The runtime's own: a
// Timer or Ticker holds a timer_handle (gort/time.hpp), which keeps the
// kind in a field of its own, and src/time/sleep.cpp converts between them.
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

}  // namespace gort::detail

namespace gort::rt {

// add_sleep puts a sleep for gp, waking at when, in pp's timers.
void add_sleep(p* pp, g* gp, std::int64_t when);

// check_timers runs pp's due timers (now: nanotime(), or 0 to read it only
// if some timer may be due), readying no more sleeps than the caller's local
// queue has room for (time.cpp, "room"), and returns the earliest remaining
// when (0: none; at most now if due sleeps were left for lack of room).
// The caller holds a P (f may ready Gs into it). Go: timers.check, whose
// first test is inline here too: every yield makes this check, and a P
// with no timers pays one load for it, not a call (a call's share of a
// yield: docs/PERFORMANCE.md, "Figures behind the comments").
std::int64_t check_timers_pending(p* pp, std::int64_t now);
inline std::int64_t check_timers(p* pp, std::int64_t now) {
  // Acquire: pairs with update_min's store (time.cpp, "Orders").
  if (pp->timers.min_when.load(std::memory_order_acquire) == 0) return 0;
  return check_timers_pending(pp, now);
}

// time_sleep_until: the earliest timer over all Ps (0: none). Go: timeSleepUntil.
std::int64_t time_sleep_until();

// wake_netpoller: a timer is pending for when on a P no M may be looking
// at (just armed, or its P just idled): make sure some M wakes for it: the
// M blocked in netpoll if it sleeps past when, else an idle P's. Go:
// wakeNetPoller.
void wake_netpoller(std::int64_t when);

// modtimer arms t to call f(arg, seq) at when, disarming it first if it is
// pending; deltimer disarms it, true if it was pending. The caller
// serializes them per timer (netpoll: pd.lock); modtimer needs a P, whose
// heap takes the timer. Go: timer.modify and timer.stop.
void modtimer(detail::rt_timer* t, std::int64_t when, void (*f)(void*, std::uintptr_t), void* arg, std::uintptr_t seq);
bool deltimer(detail::rt_timer* t);

// The time package's calls (src/time/sleep.cpp). stop_timer and
// reset_timer: Go's timer.stop and timer.reset for a chan_timer or
// func_timer (ref, tagged; the caller holds a reference), true if it was
// pending; reset_timer arms it for when (every period if period > 0) in the
// current P's heap. new_chan_timer sets c to a new channel of one value,
// whose allocation holds the channel timer returned, armed as reset_timer
// arms it. when_after: now + d, saturating (Go: when). reset_for_sleep: a
// sleeping G's unlockf, which adds its sleep once it is parked (when
// points at the wake time). Go: resetForSleep.
bool stop_timer(std::uintptr_t ref);
bool reset_timer(std::uintptr_t ref, std::int64_t when, std::int64_t period);
detail::timer_ref new_chan_timer(chan<std::chrono::steady_clock::time_point>& c, std::int64_t when,
                                 std::int64_t period);
std::int64_t when_after(std::chrono::nanoseconds d, std::int64_t now = nanotime());
bool reset_for_sleep(g* gp, void* when);
// func_timers_live: after_func's timers allocated and not yet deleted, for
// the census (export_test.hpp).
extern std::atomic<std::int64_t> func_timers_live;

// move_timers moves from's timers into to's heap (procresize); clear_timers
// drops pp's (run() is over).
void move_timers(p* to, p* from);
void clear_timers(p* pp);

#ifdef GORT_CHECKED
// check_heap_at: the heap order around slot i, where a sift has just put an
// entry (its parent's when is not later than its own, nor its own than a
// child's) and its timer's index; fatal if broken. Checked
// builds call it after every siftup and siftdown: a local check, so a heap
// of 100,000 sleeps costs a few compares per change, not a walk.
void check_heap_at(const timers& ts, std::size_t i) GORT_REQUIRES(ts.mu);
#endif

}  // namespace gort::rt
