// netpoll.cpp: the network poller, the platform-independent half. Go
// counterpart: netpoll.go (Go 1.23): pollDesc, pollCache, netpollblock,
// netpollunblock, netpollready, the deadline timers and the
// poll_runtime_* hooks keep Go's names (in snake_case) and shape.
//
// A poll_desc stands for one fd registered with epoll (netpoll_epoll.cpp).
// Its rg and wg are binary semaphores, one for the reader and one for the
// writer, each in one of four states:
//   pd_nil    nothing pending, nobody waiting;
//   pd_ready  an I/O readiness notification is pending: the next
//             netpollblock consumes it and does not park;
//   pd_wait   a goroutine is about to park (netpollblock has claimed the
//             semaphore, the park's commit has not yet published the G);
//   a G       that goroutine is parked, waiting.
// netpollblock moves ready -> nil (consume, no park) or nil -> wait, parks,
// and the park's commit moves wait -> G after the G is off its stack; if a
// notification came first (wait -> ready or nil), the commit fails and the
// park is cancelled. netpollunblock, from an epoll event, a deadline or a
// close, moves any state to ready (an event) or nil (a deadline or close),
// and readies the G if one was there. So a notification that lands
// between a read's EAGAIN and the park is never lost: it either finds the
// semaphore nil (then ready, and the park does not happen) or wait (then
// the commit fails) or the G (then it readies it).
//
// A reader sees four more things through info, a word readable without
// the lock (publish_info): the descriptor is closing, the read or write
// deadline has expired, epoll reported an error alone, epoll has reported
// a hang-up, an error or urgent data (not Go's; poll_wait_drained). netpollblock checks
// them after claiming the semaphore, and their writers (poll_unblock,
// poll_set_deadline, the deadline timers) publish them before they look at
// the semaphore: one of the two sides sees the other.
//
// Deadlines are rt_timers on the P heaps (time.cpp), one per direction, or
// one for both when the two deadlines are equal (Go's combined timer).
// rseq and wseq are bumped whenever a deadline changes or the descriptor is
// reused; a timer carries the seq it was armed with, and a firing whose seq
// is stale does nothing (netpoll_deadline_impl).
//
// Descriptors are type-stable: they come from blocks that are never freed
// (pollcache), because a deadline firing or an epoll event may still hold
// one after it was closed. fdseq, bumped on every free, tags epoll's user
// data and info (pd_tag), so such stragglers are told apart from events of
// the descriptor's next fd.
//
// netpoll_waiters counts Gs parked in netpollblock; the scheduler polls
// only while it is non-zero or a timer is pending (find_runnable). A G
// leaves the count only once it is runnable (inject_polled): while a
// poller holds it, an M looking for work still polls rather than going
// idle, and checkdead sees no deadlock in that gap.
//
// Locking: pd.lock guards closing, rd, wd, rseq, wseq, rrun, wrun and the
// arming of rt and wt; fd is written by poll_open before the descriptor is
// published. rg, wg, info and fdseq are atomics. fdseq is written only
// under pd.lock, so it is read relaxed there. A relaxed load of info seeds
// a CAS that re-reads it, or finds the bits already as wanted: coherence then
// keeps anyone ordered after the load (a G it readies) from reading an older
// word. Lock order: pd.lock, then
// a timer's mu and a P's timers.mu (modtimer, deltimer), then sched.lock
// (goready). pollcache.lock is a leaf.
#include "runtime/netpoll.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "runtime/export_test.hpp"
#include "runtime/panic.hpp"
#include "runtime/proc.hpp"
#include "runtime/time.hpp"

namespace gort::rt {

// The semaphore states other than a G (Gs are aligned far beyond 2).
inline constexpr std::uintptr_t pd_nil = 0, pd_ready = 1, pd_wait = 2;

struct alignas(64) poll_desc {
  poll_desc* link = nullptr;              // pollcache's free list (pollcache.lock)
  int fd = -1;
  std::atomic<std::uint32_t> fdseq{0};    // bumped on free; epoll's tag and info carry its low bits
  std::atomic<std::uint32_t> info{0};     // publish_info's summary, readable without lock
  std::atomic<std::uintptr_t> rg{pd_nil}; // pd_nil, pd_ready, pd_wait or the waiting G
  std::atomic<std::uintptr_t> wg{pd_nil};

  mutex lock{lock_rank::poll_desc};
  bool closing GORT_GUARDED_BY(lock) = false;
  bool rrun GORT_GUARDED_BY(lock) = false;  // rt is armed (or has fired since)
  bool wrun GORT_GUARDED_BY(lock) = false;
  std::int64_t rd GORT_GUARDED_BY(lock) = 0;  // read deadline: 0 none, -1 expired, else a nanotime
  std::int64_t wd GORT_GUARDED_BY(lock) = 0;
  std::uintptr_t rseq GORT_GUARDED_BY(lock) = 0;  // guards against stale read timers
  std::uintptr_t wseq GORT_GUARDED_BY(lock) = 0;
  detail::rt_timer rt;                    // read deadline timer (both, when rd == wd)
  detail::rt_timer wt;
};

namespace {

// ---- tags: a descriptor and its fdseq in one word ----

// Descriptors are 64-byte aligned user-space pointers (below 2^48 on
// x86-64 and arm64 Linux), so a pointer shifted left 16 bits has its low 22
// bits free for the fdseq.
constexpr int tag_bits = 22;
constexpr std::uint32_t tag_mask = (1u << tag_bits) - 1;
static_assert(alignof(poll_desc) >= (1u << (tag_bits - 16)));

std::uint64_t pd_tag(poll_desc* pd, std::uint32_t seq) {
  return (static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(pd)) << 16) | (seq & tag_mask);
}
poll_desc* pd_of(std::uint64_t tag) { return reinterpret_cast<poll_desc*>((tag >> tag_bits) << (tag_bits - 16)); }
std::uint32_t seq_of(std::uint64_t tag) { return static_cast<std::uint32_t>(tag & tag_mask); }

// ---- info: Go's pollInfo ----

constexpr std::uint32_t poll_closing = 1;
constexpr std::uint32_t poll_event_err = 2;
constexpr std::uint32_t poll_expired_read_deadline = 4;
constexpr std::uint32_t poll_expired_write_deadline = 8;
constexpr std::uint32_t poll_event_hup = 16;  // not Go's: see poll_wait_drained
constexpr std::uint32_t poll_event_bits = poll_event_err | poll_event_hup;
constexpr int poll_fdseq_shift = 5;  // the fdseq's low 22 bits above the flags

// publish_info recomputes info from the locked fields, keeping the event
// bits, which netpoll sets without the lock.
void publish_info(poll_desc* pd) GORT_REQUIRES(pd->lock) {
  assert_lock_held(&pd->lock);
  std::uint32_t info = (pd->fdseq.load(std::memory_order_relaxed) & tag_mask) << poll_fdseq_shift;
  if (pd->closing) info |= poll_closing;
  if (pd->rd < 0) info |= poll_expired_read_deadline;
  if (pd->wd < 0) info |= poll_expired_write_deadline;
  std::uint32_t x = pd->info.load(std::memory_order_relaxed);
  while (!pd->info.compare_exchange_weak(x, (x & poll_event_bits) | info, std::memory_order_seq_cst)) {
  }
}

// set_event_bits replaces the event bits in clear with those in set, if
// info is still about the fd that seq tagged (an event in flight for a
// reused descriptor must not mark its next fd); seq 0: whatever fd it is
// about.
void set_event_bits(poll_desc* pd, std::uint32_t clear, std::uint32_t set, std::uint32_t seq) {
  std::uint32_t x = pd->info.load(std::memory_order_relaxed);
  for (;;) {
    if (seq != 0 && ((x >> poll_fdseq_shift) & tag_mask) != (seq & tag_mask)) return;
    const std::uint32_t y = (x & ~clear) | set;
    if (x == y || pd->info.compare_exchange_weak(x, y, std::memory_order_seq_cst)) return;
  }
}

int netpollcheckerr(poll_desc* pd, int mode) {
  const std::uint32_t info = pd->info.load(std::memory_order_seq_cst);
  if (info & poll_closing) return poll_err_closing;
  if ((mode == 'r' && (info & poll_expired_read_deadline)) || (mode == 'w' && (info & poll_expired_write_deadline)))
    return poll_err_timeout;
  // An error event is reported to readers only: a writer's next attempt
  // will fail with a better error of its own.
  if (mode == 'r' && (info & poll_event_err)) return poll_err_not_pollable;
  return poll_no_error;
}

// ---- the cache of descriptors ----

struct pollcache_t {
  mutex lock{lock_rank::pollcache};
  poll_desc* first GORT_GUARDED_BY(lock) = nullptr;      // free descriptors
  std::vector<poll_desc*> blocks GORT_GUARDED_BY(lock);  // every block, for netpoll_teardown
  static constexpr std::size_t block_pds = 64;
} pollcache;

poll_desc* pollcache_alloc() {
  pollcache.lock.lock();
  if (pollcache.first == nullptr) {
    auto* block = new poll_desc[pollcache_t::block_pds];
    if (reinterpret_cast<std::uintptr_t>(block + pollcache_t::block_pds) >> 48)
      gothrow("runtime: poll descriptor above 2^48: cannot tag it");
    pollcache.blocks.push_back(block);
    for (std::size_t i = 0; i < pollcache_t::block_pds; ++i) {
      block[i].link = pollcache.first;
      pollcache.first = &block[i];
    }
  }
  poll_desc* pd = pollcache.first;
  pollcache.first = pd->link;
  pollcache.lock.unlock();
  return pd;
}

// pollcache_free retires pd's fdseq, so that events and info still in
// flight for its fd are not taken for its next fd's.
void pollcache_free(poll_desc* pd) {
  pd->lock.lock();
  pd->fdseq.store((pd->fdseq.load(std::memory_order_relaxed) + 1) & tag_mask, std::memory_order_seq_cst);
  publish_info(pd);
  pd->lock.unlock();
  pollcache.lock.lock();
  pd->link = pollcache.first;
  pollcache.first = pd;
  pollcache.lock.unlock();
}

std::atomic<std::int32_t> netpoll_waiters{0};

std::atomic<std::uintptr_t>& sema_of(poll_desc* pd, int mode) { return mode == 'r' ? pd->rg : pd->wg; }

// ---- blocking and unblocking ----

// netpollblockcommit publishes the parking G in its semaphore, now that it
// is off its stack; false (a notification came first) cancels the park.
bool netpollblockcommit(g* gp, void* gpp) {
  std::uintptr_t expected = pd_wait;
  if (!static_cast<std::atomic<std::uintptr_t>*>(gpp)->compare_exchange_strong(
          expected, reinterpret_cast<std::uintptr_t>(gp), std::memory_order_seq_cst))
    return false;
  netpoll_waiters.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

// netpollblock returns true if I/O is ready, false if it was woken by a
// deadline or a close. Go: netpollblock (waitio is for Windows only).
bool netpollblock(poll_desc* pd, int mode) {
  std::atomic<std::uintptr_t>& gpp = sema_of(pd, mode);
  for (;;) {
    std::uintptr_t v = pd_ready;
    if (gpp.compare_exchange_strong(v, pd_nil, std::memory_order_seq_cst)) return true;  // consumed
    v = pd_nil;
    if (gpp.compare_exchange_strong(v, pd_wait, std::memory_order_seq_cst)) break;
    if (v != pd_ready && v != pd_nil) gothrow("runtime: double wait");
  }
  // Check the error states after claiming the semaphore: their writers
  // store them before they look at it (see the top of this file).
  if (netpollcheckerr(pd, mode) == poll_no_error) gopark(&netpollblockcommit, &gpp, wait_reason::io_wait);
  const std::uintptr_t old = gpp.exchange(pd_nil, std::memory_order_seq_cst);
  if (old > pd_wait) gothrow("runtime: corrupted polldesc");
  return old == pd_ready;
}

// netpollunblock moves mode's semaphore to ready (ioready) or nil, and
// returns the G waiting there, if any, counting it off in delta (the
// caller adjusts netpoll_waiters). Go: netpollunblock.
g* netpollunblock(poll_desc* pd, int mode, bool ioready, std::int32_t& delta) {
  std::atomic<std::uintptr_t>& gpp = sema_of(pd, mode);
  std::uintptr_t old = gpp.load(std::memory_order_seq_cst);
  for (;;) {
    if (old == pd_ready) return nullptr;
    // Only an event sets pd_ready: a waiter checks deadlines and closing
    // itself before it parks.
    if (old == pd_nil && !ioready) return nullptr;
    if (gpp.compare_exchange_weak(old, ioready ? pd_ready : pd_nil, std::memory_order_seq_cst)) {
      if (old == pd_nil || old == pd_wait) return nullptr;
      --delta;
      return reinterpret_cast<g*>(old);
    }
  }
}

// netpollgoready readies what a deadline or a close unblocked, and then
// counts them off netpoll_waiters (see inject_polled, proc.hpp).
void netpollgoready(g* rg, g* wg, std::int32_t delta) {
  if (rg) goready(rg);
  if (wg) goready(wg);
  netpoll_adjust_waiters(delta);
}

// ---- deadlines ----

// netpoll_deadline_impl: a deadline timer fired. Stale if seq is not the
// current one (the deadline was changed or the descriptor reused since).
void netpoll_deadline_impl(poll_desc* pd, std::uintptr_t seq, bool read, bool write) {
  pd->lock.lock();
  if (seq != (read ? pd->rseq : pd->wseq)) {
    pd->lock.unlock();
    return;
  }
  g* rg = nullptr;
  g* wg = nullptr;
  std::int32_t delta = 0;
  if (read) {
    if (pd->rd <= 0 || !pd->rrun) gothrow("runtime: inconsistent read deadline");
    pd->rd = -1;
    publish_info(pd);
    rg = netpollunblock(pd, 'r', false, delta);
  }
  if (write) {
    if (pd->wd <= 0 || (!pd->wrun && !read)) gothrow("runtime: inconsistent write deadline");
    pd->wd = -1;
    publish_info(pd);
    wg = netpollunblock(pd, 'w', false, delta);
  }
  pd->lock.unlock();
  netpollgoready(rg, wg, delta);
}

void netpoll_deadline(void* arg, std::uintptr_t seq) {
  netpoll_deadline_impl(static_cast<poll_desc*>(arg), seq, true, true);
}
void netpoll_read_deadline(void* arg, std::uintptr_t seq) {
  netpoll_deadline_impl(static_cast<poll_desc*>(arg), seq, true, false);
}
void netpoll_write_deadline(void* arg, std::uintptr_t seq) {
  netpoll_deadline_impl(static_cast<poll_desc*>(arg), seq, false, true);
}

// close_unopened marks pd, which poll_open failed to register and no other
// thread has seen, closed. Not analyzed: without pd->lock, as it need not.
void close_unopened(poll_desc* pd) GORT_NO_THREAD_SAFETY_ANALYSIS { pd->closing = true; }

}  // namespace

// ---- the fd layer's hooks (netpoll.hpp) ----

poll_desc* poll_open(int fd) {
  poll_desc* pd = pollcache_alloc();
  pd->lock.lock();
  // Relaxed: a check of the values the last close left, which pollcache.lock
  // ordered before we got pd.
  const std::uintptr_t wg = pd->wg.load(std::memory_order_relaxed);
  if (wg != pd_nil && wg != pd_ready) gothrow("runtime: blocked write on free polldesc");
  const std::uintptr_t rg = pd->rg.load(std::memory_order_relaxed);
  if (rg != pd_nil && rg != pd_ready) gothrow("runtime: blocked read on free polldesc");
  pd->fd = fd;
  pd->closing = false;
  set_event_bits(pd, poll_event_bits, 0, 0);
  pd->rseq++;
  // The resets are relaxed: the fdseq release below publishes them.
  pd->rg.store(pd_nil, std::memory_order_relaxed);
  pd->rd = 0;
  pd->wseq++;
  pd->wg.store(pd_nil, std::memory_order_relaxed);
  pd->wd = 0;
  // A release store, even of the same value, after every reset: the M that
  // reads it in netpoll_event (acquire), handed the descriptor by the kernel
  // (epoll_wait), then sees the descriptor as made, for ThreadSanitizer too.
  // 0 never tags. publish_info reads it back.
  pd->fdseq.store(std::max<std::uint32_t>(pd->fdseq.load(std::memory_order_relaxed), 1), std::memory_order_release);
  publish_info(pd);
  const std::uint32_t seq = pd->fdseq.load(std::memory_order_relaxed);
  pd->lock.unlock();
  if (const int err = netpollopen(fd, pd_tag(pd, seq)); err != 0) {
    close_unopened(pd);  // freed unopened: as a closed one
    pollcache_free(pd);
    errno = err;
    return nullptr;
  }
  return pd;
}

// Not analyzed: closing is read without the lock, as Go's pollClose reads
// it; poll_unblock set it before, on the closing goroutine.
void poll_close(poll_desc* pd) GORT_NO_THREAD_SAFETY_ANALYSIS {
  if (!pd->closing) gothrow("runtime: close polldesc w/o unblock");
  const std::uintptr_t wg = pd->wg.load(std::memory_order_seq_cst);
  if (wg != pd_nil && wg != pd_ready) gothrow("runtime: blocked write on closing polldesc");
  const std::uintptr_t rg = pd->rg.load(std::memory_order_seq_cst);
  if (rg != pd_nil && rg != pd_ready) gothrow("runtime: blocked read on closing polldesc");
  netpollclose(pd->fd);
  pollcache_free(pd);
}

int poll_reset(poll_desc* pd, int mode) {
  if (const int err = netpollcheckerr(pd, mode); err != poll_no_error) return err;
  sema_of(pd, mode).store(pd_nil, std::memory_order_seq_cst);
  return poll_no_error;
}

int poll_wait(poll_desc* pd, int mode) {
  if (const int err = netpollcheckerr(pd, mode); err != poll_no_error) return err;
  while (!netpollblock(pd, mode)) {
    if (const int err = netpollcheckerr(pd, mode); err != poll_no_error) return err;
    // A deadline fired and woke us, then was moved before we ran: as if
    // nothing happened, wait again.
  }
  return poll_no_error;
}

int poll_wait_drained(poll_desc* pd) {
  if (pd->info.load(std::memory_order_seq_cst) & poll_event_hup) return netpollcheckerr(pd, 'r');
  return poll_wait(pd, 'r');
}

void poll_set_deadline(poll_desc* pd, std::int64_t d, int mode) {
  pd->lock.lock();
  if (pd->closing) {
    pd->lock.unlock();
    return;
  }
  const std::int64_t rd0 = pd->rd, wd0 = pd->wd;
  const bool combo0 = rd0 > 0 && rd0 == wd0;
  if (d != 0 && d <= nanotime()) d = -1;  // already past: expired now
  if (mode == 'r' || mode == 'r' + 'w') pd->rd = d;
  if (mode == 'w' || mode == 'r' + 'w') pd->wd = d;
  publish_info(pd);
  const bool combo = pd->rd > 0 && pd->rd == pd->wd;
  auto* const rtf = combo ? &netpoll_deadline : &netpoll_read_deadline;
  if (!pd->rrun) {
    if (pd->rd > 0) {
      modtimer(&pd->rt, pd->rd, rtf, pd, pd->rseq);
      pd->rrun = true;
    }
  } else if (pd->rd != rd0 || combo != combo0) {
    pd->rseq++;  // a firing in flight is stale
    if (pd->rd > 0) {
      modtimer(&pd->rt, pd->rd, rtf, pd, pd->rseq);
    } else {
      deltimer(&pd->rt);
      pd->rrun = false;
    }
  }
  if (!pd->wrun) {
    if (pd->wd > 0 && !combo) {
      modtimer(&pd->wt, pd->wd, &netpoll_write_deadline, pd, pd->wseq);
      pd->wrun = true;
    }
  } else if (pd->wd != wd0 || combo != combo0) {
    pd->wseq++;
    if (pd->wd > 0 && !combo) {
      modtimer(&pd->wt, pd->wd, &netpoll_write_deadline, pd, pd->wseq);
    } else {
      deltimer(&pd->wt);
      pd->wrun = false;
    }
  }
  // A deadline set in the past wakes the I/O pending now (publish_info
  // above came first).
  std::int32_t delta = 0;
  g* rg = pd->rd < 0 ? netpollunblock(pd, 'r', false, delta) : nullptr;
  g* wg = pd->wd < 0 ? netpollunblock(pd, 'w', false, delta) : nullptr;
  pd->lock.unlock();
  netpollgoready(rg, wg, delta);
}

void poll_unblock(poll_desc* pd) {
  pd->lock.lock();
  if (pd->closing) gothrow("runtime: unblock on closing polldesc");
  pd->closing = true;
  pd->rseq++;
  pd->wseq++;
  publish_info(pd);
  std::int32_t delta = 0;
  g* rg = netpollunblock(pd, 'r', false, delta);
  g* wg = netpollunblock(pd, 'w', false, delta);
  if (pd->rrun) {
    deltimer(&pd->rt);
    pd->rrun = false;
  }
  if (pd->wrun) {
    deltimer(&pd->wt);
    pd->wrun = false;
  }
  pd->lock.unlock();
  netpollgoready(rg, wg, delta);
}

// ---- the scheduler's side ----

void netpoll_event(std::uint64_t tag, int mode, bool event_err, bool hup, glist& list) {
  poll_desc* pd = pd_of(tag);
  const std::uint32_t seq = seq_of(tag);
  if (seq != pd->fdseq.load(std::memory_order_acquire)) return;  // the fd it was for is gone (pairs with poll_open)
  // The hang-up bit is set before the reader is readied: poll_wait_drained
  // must see it once the G that the event wakes runs.
  set_event_bits(pd, poll_event_err, (event_err ? poll_event_err : 0) | (hup ? poll_event_hup : 0), seq);
  // netpollready
  if (mode == 'r' || mode == 'r' + 'w')
    if (g* gp = netpollunblock(pd, 'r', true, list.delta)) list.gs[list.n++] = gp;
  if (mode == 'w' || mode == 'r' + 'w')
    if (g* gp = netpollunblock(pd, 'w', true, list.delta)) list.gs[list.n++] = gp;
}

void netpoll_adjust_waiters(std::int32_t delta) {
  if (delta != 0) netpoll_waiters.fetch_add(delta, std::memory_order_seq_cst);
}

bool netpoll_anywaiters() { return netpoll_waiters.load(std::memory_order_seq_cst) > 0; }

// netpoll_teardown: relaxed throughout, since no G or poller thread is left
// to race it; for the same reason it writes the descriptors' run flags
// without their locks (not analyzed).
void netpoll_teardown() GORT_NO_THREAD_SAFETY_ANALYSIS {
  pollcache.lock.lock();
  for (poll_desc* block : pollcache.blocks) {
    for (std::size_t i = 0; i < pollcache_t::block_pds; ++i) {
      poll_desc& pd = block[i];
      for (auto* gpp : {&pd.rg, &pd.wg})
        if (gpp->load(std::memory_order_relaxed) > pd_ready) gpp->store(pd_nil, std::memory_order_relaxed);
      // The P heaps that held the deadline timers are gone (clear_timers).
      pd.rrun = pd.wrun = false;
    }
  }
  pollcache.lock.unlock();
  netpoll_waiters.store(0, std::memory_order_relaxed);
}

}  // namespace gort::rt

// ---- for tests (export_test.hpp) ----

namespace gort::rt {

// census_netpoll: the descriptors not on the free list are in use. The
// blocks themselves are the process's (they outlive a run: a Conn may be
// closed after it), so they are not counted.
void census_netpoll(Census& c) {
  pollcache.lock.lock();
  std::size_t free = 0;
  for (poll_desc* pd = pollcache.first; pd != nullptr; pd = pd->link) ++free;
  c.poll_descs += pollcache.blocks.size() * pollcache_t::block_pds - free;
  pollcache.lock.unlock();
}

}  // namespace gort::rt
