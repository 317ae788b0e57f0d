// time.cpp: timers. Go counterpart: time.go (Go 1.23), and time.Sleep,
// NewTimer, NewTicker, After, AfterFunc from the time package.
//
// Each P has a 4-ary min-heap of timers ordered by when (runtime2.hpp,
// timers), so adding, firing and removing cost O(log n) with shallow,
// cache-friendly levels. A timer is added to the heap of the P that arms
// it.
//
// The sorted run (gort). Beside its heap each P keeps a FIFO of sleeps
// whose whens arrived in nondecreasing order: a sleep falling due no earlier
// than the run's last entry is appended to it, any other goes to the heap,
// and the earliest entry is the smaller of the run's head and the heap's
// root. Sleeps of one duration, the common case, arrive in when order (the
// clock only moves forward), so they cost O(1) and touch memory in order,
// where the heap sifts through log4(n) cold levels on every pop: with
// 100,000 sleepers the heap was a fifth of the CPU. Node.js keeps its
// timers in per-duration lists for the same reason. Only sleeps go in the
// run: they are never removed early, so no entry needs an index.
//
// Timers run on the scheduler's paths, as Go's:
//   - find_runnable runs its own P's due timers first. A G that yields
//     (gosched) runs them itself; one that parks or exits (schedule_from)
//     leaves them to the next G, which runs them right after the switch
//     (after_switch::timers): on the leaving G's stack the timers could
//     meet the lock it is parking on. Either way one atomic load while the
//     heap is empty, a clock read while it is not;
//   - steal_work runs the due timers of the Ps it visits, so a busy or
//     idle P's timers do not wait for that P;
//   - an M that finds nothing to do and gives up its P becomes the timer
//     sleeper if nobody is, and sleeps until the earliest timer of any P
//     (Go: the M blocked in netpoll until pollUntil); arming a timer
//     earlier than that pokes it. Once awake it takes an idle P and runs
//     every P's due timers. So no timer waits for an idle P, nor for a busy
//     one that enters the runtime.
// A timer never fires early: it runs only once nanotime() >= when.
//
// gort departures, for C++'s lack of a GC:
//   - removal is eager: stop and reset take the timer out of its heap at
//     once (Go marks it a zombie and lets the heap's owner drop it), so a
//     heap never points at a timer nobody owns. Lock order: the timer's mu,
//     then a heap's mu, then a channel's lock. A heap's entry owns the timer
//     (timer::self) until it is removed;
//   - a sleep has no timer: its heap entry names the G (timer_when), added
//     once the G is parked (reset_for_sleep, as Go's resetForSleep), and
//     firing it readies the G;
//   - due sleeps are taken off the run and the heap in batches under one
//     hold of the lock, and their Gs go to the tail of the local queue in the order
//     they fell due (Go readies each into runnext, so of a batch the last
//     runs first and inherits the time slice). In order, the queue tells
//     execute which G runs next, so it can fetch that G's cold stack ahead
//     (proc.cpp, prefetch_next): 100,000 sleepers wake to 100,000 cold
//     stacks;
//   - Go 1.23 timer channels report 0 to len/cap and send lazily; here
//     the channel is an ordinary one-value buffer, and stop/reset discard an
//     unread value under the timer's lock, which every send also takes, so
//     no stale time is received after they return (Go's guarantee).
#include "runtime/time.hpp"

#include <climits>
#include <utility>

#include "gort/time.hpp"
#include "runtime/chan.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {

using detail::timer;

namespace {

constexpr std::size_t heap_ary = 4;  // Go's timerHeapN
constexpr std::size_t sleep_batch = 16;  // due sleeps check_timers takes per hold of the heap's lock

using steady = std::chrono::steady_clock;

// ---- the heap (ts.mu held) ----

void set_at(timers& ts, std::size_t i, const timer_when& e) {
  ts.heap[i] = e;
  if (timer* t = e.t()) t->index = static_cast<std::uint32_t>(i);
}

void siftup(timers& ts, std::size_t i) {
  const timer_when e = ts.heap[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / heap_ary;
    if (e.when >= ts.heap[parent].when) break;
    set_at(ts, i, ts.heap[parent]);
    i = parent;
  }
  set_at(ts, i, e);
}

void siftdown(timers& ts, std::size_t i) {
  const std::size_t n = ts.heap.size();
  const timer_when e = ts.heap[i];
  for (;;) {
    const std::size_t first = i * heap_ary + 1;
    if (first >= n) break;
    std::size_t min = first;
    for (std::size_t c = first + 1; c < first + heap_ary && c < n; ++c)
      if (ts.heap[c].when < ts.heap[min].when) min = c;
    if (ts.heap[min].when >= e.when) break;
    set_at(ts, i, ts.heap[min]);
    i = min;
  }
  set_at(ts, i, e);
}

void heap_push(timers& ts, const timer_when& e) {
  ts.heap.push_back(e);
  siftup(ts, ts.heap.size() - 1);
  if (timer* t = e.t()) t->ts.store(&ts, std::memory_order_relaxed);
}

void heap_remove_at(timers& ts, std::size_t i) {
  timer* t = ts.heap[i].t();
  const timer_when last = ts.heap.back();
  ts.heap.pop_back();
  if (i < ts.heap.size()) {
    set_at(ts, i, last);
    if (i > 0 && last.when < ts.heap[(i - 1) / heap_ary].when)
      siftup(ts, i);
    else
      siftdown(ts, i);
  }
  if (t) t->ts.store(nullptr, std::memory_order_release);  // pairs with unlink: what was read under ts.mu is done
}

// ---- the sorted run and the heap together (ts.mu held) ----

// earliest is the entry that falls due first, the run's head or the heap's
// root; nullptr if there is none.
const timer_when* earliest(const timers& ts) {
  const timer_when* r = ts.run_head < ts.run.size() ? &ts.run[ts.run_head] : nullptr;
  if (ts.heap.empty()) return r;
  return r && r->when < ts.heap[0].when ? r : &ts.heap[0];
}

// update_min publishes the earliest when in min_when if it changed, and
// says whether it moved earlier (or from none): only then may an M sleeping
// for timers have to wake sooner (wake_for, as Go's wakeNetPoller after
// maybeAdd). The store is seq_cst for wake_for and timer_sleep; skipping
// it when nothing changed saves a full barrier on almost every sleep.
bool update_min(timers& ts) {
  const timer_when* e = earliest(ts);
  const std::int64_t when = e ? e->when : 0;
  const std::int64_t old = ts.min_when.load(std::memory_order_relaxed);  // written only under mu
  if (when == old) return false;
  ts.min_when.store(when, std::memory_order_seq_cst);
  return when != 0 && (old == 0 || when < old);
}

// push adds e (a timer, or a sleep), to the run if it keeps the run in order.
void push(timers& ts, const timer_when& e) {
  if (e.t() == nullptr && (ts.run_head == ts.run.size() || e.when >= ts.run.back().when)) {
    if (ts.run_head == ts.run.size()) {
      ts.run.clear();
      ts.run_head = 0;
    }
    ts.run.push_back(e);
    // The slots ahead were consumed a round ago and are cold: fetch them
    // now, or the store's miss stalls the unlock that follows.
    if (ts.run.size() + 16 <= ts.run.capacity()) __builtin_prefetch(ts.run.data() + ts.run.size() + 12, 1);
  } else {
    heap_push(ts, e);
  }
}

// remove_earliest removes e, which earliest returned. The run drops its
// consumed front once that is half of it: amortized, one move per entry.
void remove_earliest(timers& ts, const timer_when* e) {
  if (!ts.heap.empty() && e == &ts.heap[0]) {
    heap_remove_at(ts, 0);
    return;
  }
  if (++ts.run_head == ts.run.size()) {
    ts.run.clear();
    ts.run_head = 0;
  } else if (ts.run_head >= 1024 && 2 * ts.run_head >= ts.run.size()) {
    ts.run.erase(ts.run.begin(), ts.run.begin() + static_cast<std::ptrdiff_t>(ts.run_head));
    ts.run_head = 0;
  }
}

// ---- the timer sleeper ----

void poke_timer_sleeper() {
  sched.timer_wake.fetch_add(1, std::memory_order_seq_cst);
  futexwakeup(&sched.timer_wake, 1);
}

}  // namespace

// wake_for: if an M sleeps for timers past when, poke it; if none does,
// wake an idle P, whose M will either find the timer due or become the
// sleeper.
void wake_for(std::int64_t when) {
  if (sched.timer_sleeping.load(std::memory_order_seq_cst)) {
    if (when < sched.timer_until.load(std::memory_order_seq_cst)) poke_timer_sleeper();
  } else {
    wakep();
  }
}

namespace {

// add_timer puts t in pp's heap (t not in any heap), with self, the
// reference the heap keeps.
void add_timer(p* pp, timer* t, std::shared_ptr<timer> self) {
  const std::int64_t when = t->when;  // once unlocked, t may fire and be re-armed
  pp->timers.mu.lock();
  t->self = std::move(self);
  heap_push(pp->timers, timer_when::of(t->when, t));
  const bool earlier = update_min(pp->timers);
  pp->timers.mu.unlock();
  if (earlier) wake_for(when);
}

// unlink takes t out of whatever heap holds it, returning the heap's
// reference (empty if t was in none). t->mu held: nobody else adds it.
std::shared_ptr<timer> unlink(timer* t, bool& was_pending) {
  for (;;) {
    timers* ts = t->ts.load(std::memory_order_acquire);
    if (ts == nullptr) {
      was_pending = false;
      return nullptr;
    }
    ts->mu.lock();
    if (t->ts.load(std::memory_order_relaxed) == ts) {  // else a firing or a move got there first
      heap_remove_at(*ts, t->index);
      update_min(*ts);
      std::shared_ptr<timer> self = std::move(t->self);
      ts->mu.unlock();
      was_pending = true;
      return self;
    }
    ts->mu.unlock();
  }
}

// run_timer fires the head of ts, which is due. ts.mu is held on entry and
// on return, and dropped while f runs (f may take channel locks and ready
// Gs). Go: timer.unlockAndRun.
void run_timer(timers& ts, timer* t, std::int64_t now) {
  const std::uint64_t seq = t->seq.load(std::memory_order_relaxed);
  const bool one_shot = t->period == 0;
  std::shared_ptr<timer> keep;
  if (one_shot) {
    // Before the heap lets go of t (heap_remove_at's release store of ts):
    // a stop() that then finds t in no heap must see the firing in flight.
    keep = std::move(t->self);
    if (t->c) t->sending.fetch_add(1, std::memory_order_relaxed);
    heap_remove_at(ts, 0);
    update_min(ts);
  } else {
    // The next tick after now, skipping the ones missed (Go's formula).
    const std::int64_t delay = now - t->when;
    const std::int64_t next = t->when + t->period * (1 + delay / t->period);
    t->when = next < t->when ? LLONG_MAX : next;
    ts.heap[0].when = t->when;
    siftdown(ts, 0);
    update_min(ts);
    keep = t->self;
  }
  void (*f)(timer*, std::int64_t) = t->f;
  ts.mu.unlock();
  if (t->c) {
    t->mu.lock();
    if (t->seq.load(std::memory_order_relaxed) == seq) f(t, now);
    if (one_shot) t->sending.fetch_sub(1, std::memory_order_relaxed);
    t->mu.unlock();
  } else {
    f(t, now);
  }
  keep.reset();
  ts.mu.lock();
}

// ---- the two kinds of f ----

// The G a timer's own channel operations run as: they never block, and
// readying needs only its M. nullptr off the runtime's threads (a Ticker
// destroyed after run()), where nobody can be waiting on the channel.
g* timer_g() {
  m* mp = getm();
  return mp ? &mp->g0 : nullptr;
}

// send_time: a channel timer fired. The send never blocks: a full buffer
// means the reader has not taken the last tick, which is dropped (Go).
void send_time(timer* t, std::int64_t) {
  steady::time_point now = steady::now();
  chansend(timer_g(), detail::chan_core(t->c), &now, false);
}

void start_func(timer* t, std::int64_t) { newproc_system(t->fn); }

// drain discards a value sent but not received. t->mu held. True if there
// was one.
bool drain(timer* t) {
  steady::time_point v;
  return chanrecv(timer_g(), detail::chan_core(t->c), &v, false).received;
}

// stop_timer: Go's timer.stop. True if t was pending: in a heap, or fired
// but its value not yet received.
bool stop_timer(timer* t) {
  t->mu.lock();
  bool pending = false;
  std::shared_ptr<timer> self = unlink(t, pending);
  if (t->c) {
    t->seq.fetch_add(1, std::memory_order_relaxed);  // a firing in flight sends nothing
    if (t->period == 0 && t->sending.load(std::memory_order_relaxed) > 0) pending = true;
    if (drain(t)) pending = true;
  }
  t->mu.unlock();
  return pending;
}

// reset_timer: Go's timer.reset: re-arm for d from now, every period if
// period > 0, in the current P's heap. True if t was pending.
bool reset_timer(const std::shared_ptr<timer>& t, std::int64_t when, std::int64_t period) {
  t->mu.lock();
  bool pending = false;
  std::shared_ptr<timer> old = unlink(t.get(), pending);
  if (t->c) {
    t->seq.fetch_add(1, std::memory_order_relaxed);
    if (t->period == 0 && t->sending.load(std::memory_order_relaxed) > 0) pending = true;
    if (drain(t.get())) pending = true;
  }
  t->when = when;
  t->period = period;
  add_timer(getm()->p, t.get(), t);
  t->mu.unlock();
  return pending;
}

// when_after: nanotime() + d, saturating (Go's when()).
std::int64_t when_after(std::chrono::nanoseconds d) {
  const std::int64_t now = nanotime();
  const std::int64_t ns = d.count() > 0 ? d.count() : 0;
  return ns > LLONG_MAX - now ? LLONG_MAX : now + ns;
}

bool reset_for_sleep(g* gp, void* when) {
  add_sleep(gp->m->p, gp, *static_cast<const std::int64_t*>(when));
  return true;
}

std::shared_ptr<timer> new_chan_timer(std::int64_t when, std::int64_t period) {
  auto t = std::make_shared<timer>();
  t->f = &send_time;
  t->c = make_chan<steady::time_point>(1);
  reset_timer(t, when, period);
  return t;
}

}  // namespace

void add_sleep(p* pp, g* gp, std::int64_t when) {
  pp->timers.mu.lock();
  push(pp->timers, timer_when::of(when, gp));
  const bool earlier = update_min(pp->timers);
  pp->timers.mu.unlock();
  if (earlier) wake_for(when);
}

std::int64_t check_timers(p* pp, std::int64_t now) {
  timers& ts = pp->timers;
  const std::int64_t next = ts.min_when.load(std::memory_order_acquire);
  if (next == 0) return 0;
  if (now == 0) now = nanotime();
  if (now < next) return next;
  p* into = getm()->p;  // what the timers ready goes to the caller's P
  ts.mu.lock();
  for (;;) {
    const timer_when* e = earliest(ts);
    if (e == nullptr || e->when > now) break;
    if (timer* t = e->t()) {  // the heap's root: only sleeps are in the run
      run_timer(ts, t, now);
      continue;
    }
    // Due sleeps: take up to sleep_batch under one hold of mu (min_when,
    // left low meanwhile, is set once), fetching each G while the next is
    // found, then ready them in the order they fell due.
    g* batch[sleep_batch];
    std::size_t n = 0;
    do {
      batch[n] = e->gp();
      __builtin_prefetch(batch[n++], 1);
      remove_earliest(ts, e);
      e = earliest(ts);
    } while (n < sleep_batch && e && e->when <= now && e->t() == nullptr);
    update_min(ts);
    ts.mu.unlock();
    for (std::size_t i = 0; i < n; ++i) {
      casgstatus(batch[i], gstatus::Gwaiting, gstatus::Grunnable);
      runqput(into, batch[i], false);
    }
    wakep();
    ts.mu.lock();
  }
  const std::int64_t left = ts.min_when.load(std::memory_order_relaxed);
  ts.mu.unlock();
  return left;
}

std::int64_t time_sleep_until() {
  std::int64_t next = 0;
  const std::int32_t n = sched.gomaxprocs.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < n; ++i) {
    const std::int64_t w = allp[i]->timers.min_when.load(std::memory_order_seq_cst);
    if (w != 0 && (next == 0 || w < next)) next = w;
  }
  return next;
}

bool timer_sleep(std::int64_t when) {
  bool expected = false;
  if (sched.timer_sleeping.load(std::memory_order_relaxed)) return false;
  sched.timer_until.store(when, std::memory_order_seq_cst);
  if (!sched.timer_sleeping.compare_exchange_strong(expected, true, std::memory_order_seq_cst))
    return false;
  std::uint32_t gen = sched.timer_wake.load(std::memory_order_seq_cst);
  // A timer armed between the caller's look and our claim saw no sleeper
  // (and woke a P instead); look again now that we are the sleeper.
  const std::int64_t next = time_sleep_until();
  if (next != 0 && next < when) {
    when = next;
    sched.timer_until.store(when, std::memory_order_seq_cst);
  }
  for (;;) {
    if (sched.stop.load(std::memory_order_acquire) & stop_exiting) break;
    const std::int64_t now = nanotime();
    if (now >= when) break;
    futexsleep(&sched.timer_wake, gen, when - now);
    if (sched.timer_wake.load(std::memory_order_seq_cst) != gen) break;  // poked
  }
  sched.timer_sleeping.store(false, std::memory_order_seq_cst);
  return true;
}

void wake_timer_sleeper() { poke_timer_sleeper(); }

void clear_timers(p* pp) {
  std::vector<std::shared_ptr<timer>> owned;
  pp->timers.mu.lock();
  for (const timer_when& e : pp->timers.heap) {
    timer* t = e.t();
    if (t == nullptr) continue;  // a sleep: its G is abandoned with run()
    t->ts.store(nullptr, std::memory_order_relaxed);
    owned.push_back(std::move(t->self));
  }
  pp->timers.heap.clear();
  pp->timers.run.clear();  // sleeps: their Gs are abandoned with run()
  pp->timers.run_head = 0;
  update_min(pp->timers);
  pp->timers.mu.unlock();
}  // owned goes here: the timers nobody else holds are freed

void move_timers(p* to, p* from) {
  from->timers.mu.lock();
  std::vector<timer_when> moving, sleeps;
  moving.swap(from->timers.heap);
  sleeps.assign(from->timers.run.begin() + static_cast<std::ptrdiff_t>(from->timers.run_head),
                from->timers.run.end());
  from->timers.run.clear();
  from->timers.run_head = 0;
  update_min(from->timers);
  from->timers.mu.unlock();
  to->timers.mu.lock();
  for (const timer_when& e : moving) push(to->timers, e);
  for (const timer_when& e : sleeps) push(to->timers, e);
  update_min(to->timers);
  to->timers.mu.unlock();
}

}  // namespace gort::rt

namespace gort {

using rt::timer;

void sleep(std::chrono::nanoseconds d) {
  rt::entry_guard e("gort::sleep");
  if (d.count() <= 0) return;
  std::int64_t when = rt::when_after(d);
  rt::gopark(&rt::reset_for_sleep, &when, rt::wait_reason::sleep);
}

void sleep_until(std::chrono::steady_clock::time_point t) {
  sleep(std::chrono::duration_cast<std::chrono::nanoseconds>(t - std::chrono::steady_clock::now()));
}

Timer::Timer(std::chrono::nanoseconds d) {
  rt::entry_guard e("gort::Timer");
  t_ = rt::new_chan_timer(rt::when_after(d), 0);
  c_ = t_->c;
}

bool Timer::stop() {
  rt::entry_guard e("gort::Timer::stop");
  return rt::stop_timer(t_.get());
}

bool Timer::reset(std::chrono::nanoseconds d) {
  rt::entry_guard e("gort::Timer::reset");
  return rt::reset_timer(t_, rt::when_after(d), 0);
}

Timer after_func(std::chrono::nanoseconds d, std::function<void()> f) {
  rt::entry_guard e("gort::after_func");
  Timer tm;
  tm.t_ = std::make_shared<timer>();
  tm.t_->f = &rt::start_func;
  tm.t_->fn = std::move(f);
  rt::reset_timer(tm.t_, rt::when_after(d), 0);
  return tm;
}

chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d) {
  return Timer(d).c();
}

struct Ticker::stopper {
  std::shared_ptr<timer> t;
  ~stopper() {
    rt::entry_guard e(rt::getg());  // nullptr off the runtime (a Ticker outliving run())
    rt::stop_timer(t.get());
  }
};

namespace {
std::int64_t ticker_period(std::chrono::nanoseconds period) {
  if (period.count() <= 0) throw panic_error("non-positive interval for NewTicker");
  return period.count();
}
}  // namespace

Ticker::Ticker(std::chrono::nanoseconds period) {
  rt::entry_guard e("gort::Ticker");
  const std::int64_t p = ticker_period(period);
  t_ = std::make_shared<stopper>();
  t_->t = rt::new_chan_timer(rt::when_after(period), p);
  c_ = t_->t->c;
}

void Ticker::stop() {
  rt::entry_guard e("gort::Ticker::stop");
  rt::stop_timer(t_->t.get());
}

void Ticker::reset(std::chrono::nanoseconds period) {
  rt::entry_guard e("gort::Ticker::reset");
  if (period.count() <= 0) throw panic_error("non-positive interval for Ticker.Reset");
  rt::reset_timer(t_->t, rt::when_after(period), period.count());
}

}  // namespace gort
