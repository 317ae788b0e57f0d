// time.cpp: timers, the runtime's half. Go counterpart: time.go (Go 1.23).
// The time package's half, Sleep, NewTimer, NewTicker, After, AfterFunc,
// is src/time/sleep.cpp, over stop_timer, reset_timer, new_chan_timer and
// reset_for_sleep (time.hpp).
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
// where the heap sifts through log4(n) cold levels on every pop (its share
// of the sleepers benchmark: docs/PERFORMANCE.md, "Figures behind the
// comments"). Node.js keeps its timers in per-duration lists for the same
// reason. Only sleeps go in the run: they are never removed early, so no
// entry needs an index.
//
// Timers run on the scheduler's paths, as Go's:
//   - find_runnable runs its own P's due timers first. A G that yields
//     (gosched) runs them itself; one that parks or exits (schedule_from)
//     leaves them to the next G, which runs them right after the switch
//     (proc.cpp, commit_then_timers): on the leaving G's stack the timers could
//     meet the lock it is parking on. Either way one atomic load while the
//     heap is empty, a clock read while it is not;
//   - steal_work runs the due timers of the Ps it visits, so a busy or
//     idle P's timers do not wait for that P;
//   - an M that finds nothing to do and gives up its P blocks in netpoll
//     if nobody does, until the earliest timer of any P (poll_until) or an
//     fd's readiness; arming a timer earlier than that breaks it out
//     (wake_netpoller). Once awake it takes an idle P and runs every P's
//     due timers. So no timer waits for an idle P, nor for a busy one that
//     enters the runtime.
// A timer never fires early: it runs only once nanotime() >= when.
//
// gort departures, for C++'s lack of a GC:
//   - removal is eager: stop and reset take the timer out of its heap at
//     once (Go marks it a zombie and lets the heap's owner drop it), so a
//     heap never points at a timer nobody owns. Lock order: the timer's mu,
//     then a heap's mu, then a channel's lock. A heap's entry holds a
//     reference to the timer (as a timer_ref does) until it is removed;
//   - timers are counted, and small: a Timer's, Ticker's or after's timer
//     (chan_timer) lives in its channel's allocation, after the hchan, and
//     counts on the channel's references (its handles, the Timer's or
//     Ticker's, its heap entry's), so a fired timer whose channel nobody
//     holds goes with it; an after_func's (func_timer) has a count of its
//     own. A timer keeps neither its when (its heap entry does) nor its kind
//     (the pointers to it, heap entries and timer_refs, carry it in their low
//     bits). Per pending timer, with glibc's malloc: a Timer is one 144-byte
//     chunk (a 96-byte hchan, a 32-byte chan_timer, an 8-byte buffer) and a
//     16-byte heap entry, an after_func a 64-byte chunk (a 56-byte
//     func_timer, 32 of them its std::function) and the entry, a sleep the
//     entry alone (bench/timers.cpp measures them against Go's);
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
//   - room: check_timers readies no more due sleeps than its P's local
//     queue has free slots for; the rest stay in the run or the heap, due
//     and in order, for the next check (every schedule makes one) or for
//     an idle P that steals them. Go readies them all, and a burst that
//     overflows the local queue goes to the global one, half a queue at a
//     time under sched.lock, to be taken back the same way, and new
//     goroutines queued there behind a wave of sleepers start late. With
//     room, each goroutine's sleeps are on time under load
//     (docs/PERFORMANCE.md, 2026-11-30). A queue full at every check would
//     hold sleepers back for good, so the check a switch makes comes after
//     the next G was taken off the queue (commit_then_timers,
//     gosched), and finds room for one at least; a yielding G then puts
//     itself back into the full queue, which moves half of it to the
//     global queue. Goroutines that yield at one P would otherwise keep
//     its queue full at every check, and a sleeper would wait as long as
//     they yield (the ways out that were tried: docs/PERFORMANCE.md,
//     "Figures behind the comments");
//   - Go 1.23 timer channels report 0 to len/cap and send lazily; here
//     the channel is an ordinary one-value buffer, and stop/reset discard an
//     unread value under the timer's lock, which every send also takes, so
//     no stale time is received after they return (Go's guarantee).
//
// Orders. min_when: update_min's seq_cst store (its comment says why) pairs
// with the acquire loads of check_timers and check_timers_pending, which
// take ts.mu before they act; under mu it is read relaxed, and the other
// unlocked readers (proc.cpp) take it as a hint. timer::ts is stored under
// the heap's mu: relaxed when a timer goes in (unlink checks it again under
// that mu), release when it leaves, pairing with unlink's acquire, so a
// stop that finds the timer in no heap sees what the firing did first
// (sending's increment). chan_timer::seq and sending are read and written
// relaxed under a lock that orders them: seq is bumped under t->mu and
// compared under it; run_timer's first read of seq is under ts.mu, after
// the push that any earlier bump preceded. The reference counts are the
// usual: a relaxed increment from a live reference, an acq_rel decrement
// so the last one frees after every use.
#include "runtime/time.hpp"

#include <algorithm>
#include <climits>
#include <new>
#include <type_traits>
#include <utility>

#include "gort/time.hpp"
#include "runtime/chan.hpp"
#include "runtime/export_test.hpp"
#include "runtime/netpoll.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/trace.hpp"

namespace gort::rt {

// func_timers_live (time.hpp): relaxed, a count; after_func is no hot path.
std::atomic<std::int64_t> func_timers_live{0};

using detail::chan_timer;
using detail::func_timer;
using detail::rt_timer;
using detail::timer;
using detail::timer_ref;

namespace {

constexpr std::size_t heap_ary = 4;  // Go's timerHeapN
constexpr std::size_t sleep_batch = 16;  // due sleeps check_timers takes per hold of the heap's lock

using steady = std::chrono::steady_clock;

// ---- the heap ----

#ifdef GORT_CHECKED
}  // namespace

void check_heap_at(const timers& ts, std::size_t i) GORT_REQUIRES(ts.mu) {
  assert_lock_held(&ts.mu);
  const std::size_t n = ts.heap.size();
  const std::int64_t when = ts.heap[i].when;
  const char* what = nullptr;
  if (i > 0 && ts.heap[(i - 1) / heap_ary].when > when) what = "earlier than its parent";
  for (std::size_t c = i * heap_ary + 1; c < i * heap_ary + 1 + heap_ary && c < n; ++c)
    if (ts.heap[c].when < when) what = "later than a child";
  if (const timer* t = ts.heap[i].t(); t != nullptr && t->index != i) what = "its timer's index is elsewhere";
  if (what == nullptr) [[likely]]
    return;
  printerr("runtime: timer heap %p: entry %zu of %zu (when %lld): %s\n", static_cast<const void*>(&ts), i, n,
           static_cast<long long>(when), what);
  gothrow("timer heap out of order");
}

namespace {
#endif

void set_at(timers& ts, std::size_t i, const timer_when& e) GORT_REQUIRES(ts.mu) {
  ts.heap[i] = e;
  if (timer* t = e.t()) t->index = static_cast<std::uint32_t>(i);
}

void siftup(timers& ts, std::size_t i) GORT_REQUIRES(ts.mu) {
  const timer_when e = ts.heap[i];
  while (i > 0) {
    const std::size_t parent = (i - 1) / heap_ary;
    if (e.when >= ts.heap[parent].when) break;
    set_at(ts, i, ts.heap[parent]);
    i = parent;
  }
  set_at(ts, i, e);
#ifdef GORT_CHECKED
  check_heap_at(ts, i);
#endif
}

void siftdown(timers& ts, std::size_t i) GORT_REQUIRES(ts.mu) {
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
#ifdef GORT_CHECKED
  check_heap_at(ts, i);
#endif
}

void heap_push(timers& ts, const timer_when& e) GORT_REQUIRES(ts.mu) {
  assert_lock_held(&ts.mu);
  ts.heap.push_back(e);
  siftup(ts, ts.heap.size() - 1);
  if (timer* t = e.t()) t->ts.store(&ts, std::memory_order_relaxed);  // "Orders": unlink re-checks
}

void heap_remove_at(timers& ts, std::size_t i) GORT_REQUIRES(ts.mu) {
  assert_lock_held(&ts.mu);
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

// ---- the sorted run and the heap together ----

// earliest is the entry that falls due first, the run's head or the heap's
// root; nullptr if there is none.
const timer_when* earliest(const timers& ts) GORT_REQUIRES(ts.mu) {
  const timer_when* r = ts.run_head < ts.run.size() ? &ts.run[ts.run_head] : nullptr;
  if (ts.heap.empty()) return r;
  return r && r->when < ts.heap[0].when ? r : &ts.heap[0];
}

// update_min publishes the earliest when in min_when if it changed, and
// says whether it moved earlier (or from none): only then may an M sleeping
// for timers have to wake sooner (wake_netpoller, as Go's after
// maybeAdd). The store is seq_cst for wake_netpoller and the M about to
// block in netpoll (find_runnable reads every P's min_when); skipping
// it when nothing changed saves a full barrier on almost every sleep.
bool update_min(timers& ts) GORT_REQUIRES(ts.mu) {
  const timer_when* e = earliest(ts);
  const std::int64_t when = e ? e->when : 0;
  const std::int64_t old = ts.min_when.load(std::memory_order_relaxed);  // written only under mu
  if (when == old) return false;
  ts.min_when.store(when, std::memory_order_seq_cst);
  return when != 0 && (old == 0 || when < old);
}

// push adds e (a timer, or a sleep), to the run if it keeps the run in order.
void push(timers& ts, const timer_when& e) GORT_REQUIRES(ts.mu) {
  assert_lock_held(&ts.mu);
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
void remove_earliest(timers& ts, const timer_when* e) GORT_REQUIRES(ts.mu) {
  assert_lock_held(&ts.mu);
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

}  // namespace

// wake_netpoller: if an M is blocked in netpoll past when, break it out;
// if none is, wake an idle P, whose M will either find the timer due or
// block in netpoll until it is. Go: wakeNetPoller.
void wake_netpoller(std::int64_t when) {
  if (sched.lastpoll.load(std::memory_order_seq_cst) == 0) {
    const std::int64_t until = sched.poll_until.load(std::memory_order_seq_cst);
    if (until == 0 || until > when) netpoll_break();
  } else {
    wakep();
  }
}

namespace {

// ---- timer references ----

// chan_timer_of: the channel timer what (a timer_ref's or a heap entry's)
// points at; nullptr if it is another kind.
chan_timer* chan_timer_of(std::uintptr_t what) {
  return kind_of(what) == timer_kind::chan ? static_cast<chan_timer*>(timer_of(what)) : nullptr;
}

// retained: a new reference to the timer what points at.
timer_ref retained(std::uintptr_t what) {
  detail::timer_retain(what);
  return timer_ref(what);
}

// add_timer puts the timer ref points at in pp's heap, for when (it is in
// no heap); the entry keeps ref, the heap's reference.
void add_timer(p* pp, timer_ref ref, std::int64_t when) {
  pp->timers.mu.lock();
  heap_push(pp->timers, {when, ref.release()});
  const bool earlier = update_min(pp->timers);
  pp->timers.mu.unlock();
  if (earlier) wake_netpoller(when);
}

// unlink takes t out of whatever heap holds it, returning the heap's
// reference (empty if t was in none). Nobody else adds it: t->mu.
timer_ref unlink(timer* t, bool& was_pending) GORT_REQUIRES(t->mu) {
  assert_lock_held(&t->mu);
  for (;;) {
    timers* ts = t->ts.load(std::memory_order_acquire);
    if (ts == nullptr) {
      was_pending = false;
      return timer_ref();
    }
    ts->mu.lock();
    if (t->ts.load(std::memory_order_relaxed) == ts) {  // else a firing or a move got there first
      timer_ref heaps(ts->heap[t->index].what);
      heap_remove_at(*ts, t->index);
      update_min(*ts);
      ts->mu.unlock();
      was_pending = true;
      return heaps;
    }
    ts->mu.unlock();
  }
}

// ---- a channel timer's channel ----

// The G a timer's own channel operations run as: they never block, and
// readying needs only its M. nullptr off the runtime's threads (a Ticker
// destroyed after run()), where nobody can be waiting on the channel.
g* timer_g() {
  m* mp = getm();
  return mp ? &mp->g0 : nullptr;
}

// send_time: a channel timer fired. The send never blocks: a full buffer
// means the reader has not taken the last tick, which is dropped (Go).
void send_time(chan_timer* t) {
  steady::time_point now = steady::now();
  chansend(timer_g(), room_chan(t), &now, false);
}

// drain discards a value sent but not received. True if there was one.
bool drain(chan_timer* t) GORT_REQUIRES(t->mu) {
  assert_lock_held(&t->mu);
  steady::time_point v;
  return chanrecv(timer_g(), room_chan(t), &v, false).received;
}

// run_timer fires e, the head of ts, which is due. ts.mu is dropped while
// the timer fires (it may take channel
// locks and ready Gs). Go: timer.unlockAndRun.
void run_timer(timers& ts, const timer_when e, std::int64_t now) GORT_REQUIRES(ts.mu) {
  if (trace_on()) [[unlikely]]
    trace_timer(kind_of(e.what));
  if (kind_of(e.what) == timer_kind::rt) {
    // Read with the timer still in the heap: a modtimer waiting in unlink
    // rewrites them only once it is out (rt_timer).
    auto* t = static_cast<rt_timer*>(e.t());
    const auto f = t->f;
    void* const arg = t->arg;
    const std::uintptr_t seq = t->seq;
    heap_remove_at(ts, 0);
    update_min(ts);
    ts.mu.unlock();
    f(arg, seq);
    ts.mu.lock();
    return;
  }
  chan_timer* ct = chan_timer_of(e.what);
  const std::uint32_t seq = ct ? ct->seq.load(std::memory_order_relaxed) : 0;
  const bool one_shot = ct == nullptr || ct->period == 0;
  timer_ref keep;
  if (one_shot) {
    // Before the heap lets go of the timer (heap_remove_at's release store
    // of ts): a stop() that then finds it in no heap must see the firing in
    // flight.
    keep = timer_ref(e.what);  // the heap's reference
    if (ct) ct->sending.fetch_add(1, std::memory_order_relaxed);
    heap_remove_at(ts, 0);
    update_min(ts);
  } else {
    // The next tick after now, skipping the ones missed (Go's formula).
    const std::int64_t next = e.when + ct->period * (1 + (now - e.when) / ct->period);
    ts.heap[0].when = next < e.when ? LLONG_MAX : next;
    siftdown(ts, 0);
    update_min(ts);
    keep = retained(e.what);
  }
  ts.mu.unlock();
  if (ct) {
    ct->mu.lock();
    if (ct->seq.load(std::memory_order_relaxed) == seq) send_time(ct);
    if (one_shot) ct->sending.fetch_sub(1, std::memory_order_relaxed);
    ct->mu.unlock();
  } else {
    newproc_system(static_cast<func_timer*>(e.t())->fn);
  }
  keep = timer_ref();  // may free the timer
  ts.mu.lock();
}

// disarm: what stop and reset share, with t->mu held (ref points at t, and
// the caller holds it): takes t out of its heap, returning the heap's
// reference, and keeps a firing in flight from sending and a value not yet
// received from being received. Sets pending if t was pending: in a heap,
// or fired but its value not yet received. Not analyzed: the lock is the
// caller's t->mu, which the analysis cannot tell is timer_of(ref)->mu, nor
// chan_timer_of(ref)->mu.
timer_ref disarm(std::uintptr_t ref, bool& pending) GORT_NO_THREAD_SAFETY_ANALYSIS {
  assert_lock_held(&timer_of(ref)->mu);
  timer_ref heaps = unlink(timer_of(ref), pending);
  if (chan_timer* t = chan_timer_of(ref)) {
    t->seq.fetch_add(1, std::memory_order_relaxed);  // a firing in flight sends nothing
    if (t->period == 0 && t->sending.load(std::memory_order_relaxed) > 0) pending = true;
    if (drain(t)) pending = true;
  }
  return heaps;
}

}  // namespace

// stop_timer: Go's timer.stop. True if the timer was pending.
bool stop_timer(std::uintptr_t ref) {
  timer* t = timer_of(ref);
  t->mu.lock();
  bool pending = false;
  timer_ref heaps = disarm(ref, pending);
  t->mu.unlock();
  return pending;
}

// reset_timer: Go's timer.reset: re-arm for d from now, every period if
// period > 0 (a channel timer), in the current P's heap. True if the timer
// was pending.
bool reset_timer(std::uintptr_t ref, std::int64_t when, std::int64_t period) {
  timer* t = timer_of(ref);
  t->mu.lock();
  bool pending = false;
  timer_ref heaps = disarm(ref, pending);
  if (chan_timer* ct = chan_timer_of(ref)) ct->period = period;
  add_timer(getm()->p, retained(ref), when);
  t->mu.unlock();
  return pending;
}

// when_after: now + d, saturating (Go's when()).
std::int64_t when_after(std::chrono::nanoseconds d, std::int64_t now) {
  const std::int64_t ns = d.count() > 0 ? d.count() : 0;
  return ns > LLONG_MAX - now ? LLONG_MAX : now + ns;
}

bool reset_for_sleep(g* gp, void* when) {
  add_sleep(gp->m->p, gp, *static_cast<const std::int64_t*>(when));
  return true;
}

static_assert(std::is_trivially_destructible_v<chan_timer>, "freed with its channel, never destroyed");
#ifndef GORT_CHECKED  // where a mutex carries its rank, it need not fit
static_assert(sizeof(hchan) + sizeof(chan_timer) + sizeof(steady::time_point) <= 136,
              "a channel timer's allocation fits a 144-byte glibc chunk");
#endif

// new_chan_timer sets c to a new channel of one value, whose allocation
// holds the channel timer returned, armed for when (and every period if
// period > 0).
timer_ref new_chan_timer(chan<steady::time_point>& c, std::int64_t when, std::int64_t period) {
  hchan* h = makechan_room(&detail::elem_ops_for<steady::time_point>, 1, sizeof(chan_timer));
  c = detail::adopt_chan<steady::time_point>(h);
  timer* t = ::new (chan_room(h)) chan_timer;
  timer_ref ref = retained(tagged(t, timer_kind::chan));
  reset_timer(ref.get(), when, period);
  return ref;
}

void modtimer(rt_timer* t, std::int64_t when, void (*f)(void*, std::uintptr_t), void* arg, std::uintptr_t seq) {
  t->mu.lock();
  bool pending;
  unlink(t, pending);  // an rt_timer's references count nothing
  t->f = f;
  t->arg = arg;
  t->seq = seq;
  add_timer(getm()->p, timer_ref(tagged(t, timer_kind::rt)), when);
  t->mu.unlock();
}

bool deltimer(rt_timer* t) {
  t->mu.lock();
  bool pending;
  unlink(t, pending);
  t->mu.unlock();
  return pending;
}

void add_sleep(p* pp, g* gp, std::int64_t when) {
  pp->timers.mu.lock();
  push(pp->timers, {when, tagged(gp, timer_kind::sleep)});
  const bool earlier = update_min(pp->timers);
  pp->timers.mu.unlock();
  if (earlier) wake_netpoller(when);
}

std::int64_t check_timers_pending(p* pp, std::int64_t now) {
  timers& ts = pp->timers;
  const std::int64_t next = ts.min_when.load(std::memory_order_acquire);
  if (next == 0) return 0;  // run or stolen since the caller looked
  if (now == 0) now = nanotime();
  if (now < next) return next;
  p* into = getm()->p;  // what the timers ready goes to the caller's P
  ts.mu.lock();
  for (;;) {
    const timer_when* e = earliest(ts);
    if (e == nullptr || e->when > now) break;
    if (e->t()) {  // the heap's root: only sleeps are in the run
      run_timer(ts, *e, now);
      continue;
    }
    // Due sleeps: take up to sleep_batch under one hold of mu (min_when,
    // left low meanwhile, is set once), fetching each G while the next is
    // found, then ready them in the order they fell due. No more than the
    // local queue has room for: see "room" above.
    const std::size_t room = local_runq::capacity - into->runq.size();
    if (room == 0) break;
    const std::size_t max = std::min(sleep_batch, room);
    g* batch[sleep_batch];
    std::size_t n = 0;
    do {
      batch[n] = e->gp();
      __builtin_prefetch(batch[n++], 1);
      remove_earliest(ts, e);
      e = earliest(ts);
    } while (n < max && e && e->when <= now && e->t() == nullptr);
    update_min(ts);
    ts.mu.unlock();
    for (std::size_t i = 0; i < n; ++i) {
      casgstatus(batch[i], gstatus::Gwaiting, gstatus::Grunnable);
      if (trace_on()) [[unlikely]] {
        trace_timer(timer_kind::sleep);
        trace_go_unpark(getm(), batch[i]);
      }
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
  const std::int32_t n = allp_len();
  for (std::int32_t i = 0; i < n; ++i) {
    const std::int64_t w = allp[i]->timers.min_when.load(std::memory_order_seq_cst);
    if (w != 0 && (next == 0 || w < next)) next = w;
  }
  return next;
}

void clear_timers(p* pp) {
  std::vector<timer_ref> owned;
  pp->timers.mu.lock();
  for (const timer_when& e : pp->timers.heap) {
    timer* t = e.t();
    if (t == nullptr) continue;  // a sleep: its G is abandoned with run()
    t->ts.store(nullptr, std::memory_order_relaxed);  // teardown: every M is joined
    owned.emplace_back(e.what);  // the heap's reference
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
  sleeps.assign(from->timers.run.begin() + static_cast<std::ptrdiff_t>(from->timers.run_head), from->timers.run.end());
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

namespace gort::detail {

// An rt_timer is not counted (its owner outlives it): both are no-ops for it.
void timer_retain(std::uintptr_t t) noexcept {
  if (rt::kind_of(t) == rt::timer_kind::rt) return;
  if (chan_timer* ct = rt::chan_timer_of(t))
    header(rt::room_chan(ct))->refs.fetch_add(1, std::memory_order_relaxed);
  else
    static_cast<func_timer*>(rt::timer_of(t))->refs.fetch_add(1, std::memory_order_relaxed);
}

void timer_release(std::uintptr_t t) noexcept {
  if (rt::kind_of(t) == rt::timer_kind::rt) return;
  if (chan_timer* ct = rt::chan_timer_of(t)) {
    hchan* c = rt::room_chan(ct);
    if (header(c)->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) freechan(c);
  } else {
    auto* ft = static_cast<func_timer*>(rt::timer_of(t));
    if (ft->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete ft;
      rt::func_timers_live.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace gort::detail

// ---- for tests (export_test.hpp) ----

namespace gort::rt {

void census_time(Census& c) {
  // allp_len, not a lock: the Ps stay until teardown, which leaves allp
  // empty (its nullptrs are skipped).
  for (std::int32_t i = 0, n = allp_len(); i < n; ++i) {
    if (allp[i] == nullptr) continue;
    timers& ts = allp[i]->timers;
    ts.mu.lock();
    c.timer_entries += ts.heap.size() + (ts.run.size() - ts.run_head);
    ts.mu.unlock();
  }
  c.func_timers += static_cast<std::size_t>(func_timers_live.load(std::memory_order_relaxed));
}

}  // namespace gort::rt
