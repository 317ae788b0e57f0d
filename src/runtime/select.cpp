// select.cpp: the select statement. Go counterpart: selectgo in select.go
// (Go 1.23), and reflect.Select's rselect for the run-time-built form.
//
// selectgo(cases):
//   pollorder  the cases with a non-nil channel, shuffled (inside-out
//              Fisher-Yates with cheaprandn), so that among ready cases each
//              is chosen uniformly at random;
//   lockorder  the same cases sorted by channel address; the channels are
//              locked in that order (a channel appearing twice is locked
//              once: duplicates are adjacent), so two selects, or a select
//              and a channel operation, never deadlock on each other's locks.
//   pass 0     (gort) try each case alone, in poll order, as a non-blocking
//              send or receive on its channel: its lock-free fail path
//              (Go's empty/full checks), else its lock only. The first
//              that proceeds is chosen. A select written out with two
//              cases and no default does this pass inline, before
//              entering the runtime (select.hpp, select_try), and comes
//              here with tried set only if neither was ready: a ready
//              case then costs one runtime entry, its own, and not this
//              function's set-up as well. Go locks every channel first, and
//              so chooses among the cases ready at one instant; pass 0
//              chooses the first ready case in poll order at the instant
//              it looks at it, which is the choice Go makes for a select
//              at that instant with that poll order (one of the orders Go
//              draws): every choice is one Go's select could make, and it
//              stays uniform among cases that stay ready. What it saves:
//              the sort, and the locks of the cases not chosen, which on
//              channels shared between Ps are contended (docs/PERFORMANCE.md,
//              "select's pass 0"). "Nothing is ready", though, needs one
//              instant at which no case could proceed, which looking at one
//              case after another does not give: a case seen empty may
//              fill just after, while the one looked at next empties. So
//              the default, and parking, still come only after pass 1
//              (SelectTest.DefaultOnlyWhenNothingReadyAtOnce).
//   pass 1     with every channel locked, look for a case that can proceed
//              now, in poll order; perform it with the same steps as
//              chansend/chanrecv (send, recv, buf_put, buf_get).
//              Nothing ready and a default case: unlock, choose default.
//   pass 2     enqueue one sudog per case (is_select) on its channel's sendq
//              or recvq, and park; selparkcommit unlocks the channels once
//              the G is off its stack. A waker must win gp->selectdone
//              (waitq::dequeue) to complete one of our cases; it leaves the
//              winning sudog in gp->param.
//   pass 3     woken: lock everything again, take the winner from param, and
//              dequeue the sudogs of every other case.
//
// gort: the sudogs and both orders live on the selecting G's stack (gort
// stacks never move), in small arrays for up to 8 cases, else on the heap.
// selparkcommit therefore reads them while another thread may already be
// waking the G: see its comment for why that is safe.
//
// As Go's compiler does, a select with one case and a default becomes a
// non-blocking chansend/chanrecv (selectnbsend/selectnbrecv), and a select
// of a single case a plain blocking operation.
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <new>

#include "gort/select.hpp"
#include "runtime/chan.hpp"
#include "runtime/export_test.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {
namespace {

using detail::scase;

// A select in progress: its cases and the lock order over them.
struct selstate {
  scase* const* cases;
  const std::uint16_t* lockorder;
  int n;  // entries in lockorder
  m* mp;  // the selecting G's M (until it parks)
  hchan* chan_at(int i) const { return cases[lockorder[i]]->c; }
};

// The channels' locks are taken and released as a set, which Clang's
// analysis cannot name: sellock, selunlock, selparkcommit and the passes
// that run between them are not analyzed.
void sellock(const selstate& s) GORT_NO_THREAD_SAFETY_ANALYSIS {
  hchan* prev = nullptr;
  for (int i = 0; i < s.n; ++i) {
    hchan* c = s.chan_at(i);
    if (c != prev) {
      c->lock.lock();
      c->check();
    }
    prev = c;
  }
}

void selunlock(void* arg) GORT_NO_THREAD_SAFETY_ANALYSIS {
  const selstate& s = *static_cast<const selstate*>(arg);
  // Backwards, skipping duplicates (which follow their first occurrence).
  for (int i = s.n - 1; i >= 0; --i) {
    hchan* c = s.chan_at(i);
    if (i > 0 && c == s.chan_at(i - 1)) continue;
    c->lock.unlock();
  }
}

// selparkcommit: gopark's unlockf for select. The first unlock may already
// let a waker dequeue one of our sudogs and ready the G, which may then run
// on another M before this loop ends. That is safe because the G, in pass 3,
// first locks every channel again, so it cannot get past sellock, nor change
// the cases or lockorder read here, before the last unlock below; and after
// the last unlock nothing of the G's is read.
bool selparkcommit(g*, void* arg) GORT_NO_THREAD_SAFETY_ANALYSIS {
  const selstate s = *static_cast<const selstate*>(arg);
  hchan* c = s.n > 0 ? s.chan_at(s.n - 1) : nullptr;
  for (int i = s.n - 1; i >= 0; --i) {
    hchan* next = i > 0 ? s.chan_at(i - 1) : nullptr;  // read before unlocking c
    if (c != next) c->lock.unlock();
    c = next;
  }
  return true;
}

// Pass 1: perform the first ready case in poll order, unlocking everything;
// -1 (still locked) if none is ready.
int select_ready(selstate& st, const std::uint16_t* pollorder, int npoll,
                 bool* recv_ok) GORT_NO_THREAD_SAFETY_ANALYSIS {
  for (int k = 0; k < npoll; ++k) {
    const int i = pollorder[k];
    scase* cas = st.cases[i];
    hchan* c = cas->c;
    if (cas->k == scase::kind::send) {
      if (c->closed.load(std::memory_order_relaxed) != 0) {
        selunlock(&st);
        throw panic_error("send on closed channel");
      }
      if (sudog* sg = c->recvq().dequeue()) {
        send(st.mp, c, sg, cas->elem, &selunlock, &st);
        return i;
      }
      if (c->qcount.load(std::memory_order_relaxed) < c->dataqsiz) {
        buf_put(c, cas->elem);
        selunlock(&st);
        return i;
      }
    } else {
      if (sudog* sg = c->sendq().dequeue()) {
        recv(st.mp, c, sg, cas->elem, &selunlock, &st);
        *recv_ok = true;
        return i;
      }
      if (c->qcount.load(std::memory_order_relaxed) > 0) {
        buf_get(c, cas->elem);
        selunlock(&st);
        *recv_ok = true;
        return i;
      }
      if (c->closed.load(std::memory_order_relaxed) != 0) {
        selunlock(&st);
        *recv_ok = false;
        return i;
      }
    }
  }
  return -1;
}

// Passes 2 and 3: wait on every case, and return the one that was completed.
// ticket_heap tags the ticket of a sudog in a select_scratch's heap block
// (see there).
constexpr std::uint32_t ticket_heap = 0x8000'0000u;

// heap: sgs is a select_scratch's heap block.
int select_wait(g* gp, selstate& st, sudog* sgs, bool heap, bool* recv_ok) GORT_NO_THREAD_SAFETY_ANALYSIS {
  for (int k = 0; k < st.n; ++k) {
    const int i = st.lockorder[k];
    scase* cas = st.cases[i];
    sudog* sg = ::new (&sgs[i]) sudog;
    sg->gp = gp;
    if (heap) sg->ticket = static_cast<std::uint32_t>(i) | ticket_heap;
    sg->is_select = true;
    sg->elem = cas->elem;
    sg->c = cas->c;
    (cas->k == scase::kind::send ? cas->c->sendq() : cas->c->recvq()).enqueue(sg);
    sg->waitlink = gp->waiting;  // for the end of the run (chan.cpp, block_on)
    gp->waiting = sg;
  }
  gp->param = nullptr;
  try {
    gopark(&selparkcommit, &st, wait_reason::select);
  } catch (...) {  // run() ended while a thread the runtime did not start waited: as block_on
    sellock(st);
    for (int k = 0; k < st.n; ++k) {
      const int i = st.lockorder[k];
      scase* cas = st.cases[i];
      (cas->k == scase::kind::send ? cas->c->sendq() : cas->c->recvq()).dequeue_sudog(&sgs[i]);
    }
    selunlock(&st);
    throw;
  }

  sellock(st);
  gp->waiting = nullptr;
  // Relaxed: wakers CAS selectdone only under a channel's lock, all held
  // now, and the next select enqueues its sudogs under them too.
  gp->selectdone.store(0, std::memory_order_relaxed);
  auto* won = static_cast<sudog*>(gp->param);
  gp->param = nullptr;
  int casi = -1;
  for (int k = 0; k < st.n; ++k) {
    const int i = st.lockorder[k];
    scase* cas = st.cases[i];
    if (&sgs[i] == won)
      casi = i;
    else
      (cas->k == scase::kind::send ? cas->c->sendq() : cas->c->recvq()).dequeue_sudog(&sgs[i]);
  }
  selunlock(&st);
  if (casi < 0) gothrow("selectgo: bad wakeup");
  if (st.cases[casi]->k == scase::kind::send) {
    if (!won->success) throw panic_error("send on closed channel");
  } else {
    *recv_ok = won->success;
  }
  return casi;
}

// perform: cas's operation as a plain channel operation on its channel
// alone, blocking or not; whether it was performed.
bool perform(g* gp, scase* cas, bool block, bool* recv_ok) {
  if (cas->k == scase::kind::send) return chansend(gp, cas->c, cas->elem, block);
  const recv_result r = chanrecv(gp, cas->c, cas->elem, block);
  *recv_ok = r.received;
  return r.selected;
}

// sort_lockorder fills lockorder with pollorder's cases sorted by channel
// address. A select has a handful of cases, for which an insertion sort is
// a few compares where std::sort's introsort first pays its set-up; Go
// heap-sorts, for its bound on large selects, which std::sort keeps here.
void sort_lockorder(scase* const* cases, const std::uint16_t* pollorder, std::uint16_t* lockorder, int n) {
  const auto before = [cases](std::uint16_t a, std::uint16_t b) { return std::less<>()(cases[a]->c, cases[b]->c); };
  if (n > 16) {
    std::copy(pollorder, pollorder + n, lockorder);
    std::sort(lockorder, lockorder + n, before);
    return;
  }
  for (int k = 0; k < n; ++k) {
    const std::uint16_t i = pollorder[k];
    int j = k;
    for (; j > 0 && before(i, lockorder[j - 1]); --j) lockorder[j] = lockorder[j - 1];
    lockorder[j] = i;
  }
}

// select_scratch_live: heap scratch allocated and not yet freed, for the
// census (export_test.hpp); relaxed, a count. Only selects of over 8 cases
// allocate, so the common select pays nothing for it.
std::atomic<std::int64_t> select_scratch_live{0};

// Scratch for a select: a few cases fit on the stack, more go to the heap,
// in one block, the sudogs first, then both orders. The sudogs are raw
// memory until pass 2 needs them (most selects find a ready case in pass 1).
//
// A goroutine abandoned in a big select (parked when run() ends) never
// returns to free its block, so teardown frees it (select_free_abandoned),
// reaching it through the G's sudogs (g::waiting): a heap sudog's ticket,
// which no channel sudog uses, is its index in the block, tagged.
struct select_scratch {
  static constexpr int inline_cases = 8;
  std::uint16_t order_buf[2 * inline_cases];
  alignas(sudog) unsigned char sudog_buf[inline_cases * sizeof(sudog)];
  void* heap = nullptr;
  std::uint16_t* order;
  sudog* sudogs;

  explicit select_scratch(int n) {
    if (n <= inline_cases) {
      order = order_buf;
      sudogs = reinterpret_cast<sudog*>(sudog_buf);
    } else {
      static_assert(sizeof(sudog) % alignof(std::uint16_t) == 0);
      heap = ::operator new(std::size_t(n) * (sizeof(sudog) + 2 * sizeof(std::uint16_t)));
      sudogs = static_cast<sudog*>(heap);
      order = reinterpret_cast<std::uint16_t*>(sudogs + n);
      select_scratch_live.fetch_add(1, std::memory_order_relaxed);
    }
  }
  ~select_scratch() {
    if (heap == nullptr) return;
    ::operator delete(heap);
    select_scratch_live.fetch_sub(1, std::memory_order_relaxed);
  }
  select_scratch(const select_scratch&) = delete;
  select_scratch& operator=(const select_scratch&) = delete;
};

}  // namespace
}  // namespace gort::rt

namespace gort::detail {

namespace {

// selectnb: a select of one channel case and a default is a non-blocking
// send or receive, with their lock-free fail paths (Go's compiler turns it
// into selectnbsend / selectnbrecv). Returns the chosen index. Here for a
// select built at run time; select.hpp's template does it for one written
// out, without coming here.
int selectnb(scase* const* cases, int deflt, bool* recv_ok) {
  const int i = 1 - deflt;
  scase* cas = cases[i];
  if (cas->k == scase::kind::send) return selectnbsend(cas->c, cas->elem, "gort::select") ? i : deflt;
  const recv_status st = selectnbrecv(cas->c, cas->elem, "gort::select");
  if (st == recv_status::not_ready) return deflt;
  *recv_ok = st == recv_status::received;
  return i;
}

}  // namespace

int select_coin() noexcept {
  gort::rt::m* mp = gort::rt::getm();
  return mp != nullptr ? static_cast<int>(gort::rt::cheaprand(mp) & 1) : -1;
}

int selectgo(scase* const* cases, int n, bool* recv_ok, bool tried) {
  using namespace gort::rt;
  if (n == 2 && (cases[0]->k == scase::kind::deflt) != (cases[1]->k == scase::kind::deflt))
    return selectnb(cases, cases[0]->k == scase::kind::deflt ? 0 : 1, recv_ok);
  entry_guard e("gort::select");
  g* gp = e.gp;
  if (n > 65536) throw panic_error("select: too many cases");
  select_scratch scratch(n);
  std::uint16_t* pollorder = scratch.order;
  std::uint16_t* lockorder = scratch.order + n;

  // pollorder: the cases with a channel, shuffled; nil channels never count.
  int npoll = 0;
  int deflt = -1;
  for (int i = 0; i < n; ++i) {
    scase* cas = cases[i];
    if (cas->k == scase::kind::deflt) {
      if (deflt >= 0) throw panic_error("select: multiple default cases");
      deflt = i;
      continue;
    }
    if (cas->c == nullptr) continue;
    const std::uint32_t j = cheaprandn(gp->m, static_cast<std::uint32_t>(npoll + 1));
    pollorder[npoll] = pollorder[j];
    pollorder[j] = static_cast<std::uint16_t>(i);
    ++npoll;
  }
  if (npoll == 0) {
    if (deflt >= 0) return deflt;
    gopark(nullptr, nullptr, n == 0 ? wait_reason::select_no_cases : wait_reason::select);
    gothrow("unreachable: a select with no cases was readied");
  }
  if (npoll == 1 && n == 1) return perform(gp, cases[0], true, recv_ok) ? 0 : -1;

  // Pass 0 (gort): each case alone, in poll order, without locking the rest.
  for (int k = 0; k < npoll && !tried; ++k) {
    if (perform(gp, cases[pollorder[k]], false, recv_ok)) return pollorder[k];
    race_window();
  }

  sort_lockorder(cases, pollorder, lockorder, npoll);
  selstate st{cases, lockorder, npoll, gp->m};
  sellock(st);
  const int i = select_ready(st, pollorder, npoll, recv_ok);
  if (i >= 0) return i;
  if (deflt >= 0) {
    selunlock(&st);
    return deflt;
  }
  return select_wait(gp, st, scratch.sudogs, scratch.heap != nullptr, recv_ok);
}

}  // namespace gort::detail

namespace gort {

int select(std::span<select_case> cases) {
  // The cases' pointers: on the stack for up to 32 cases, so that the
  // common runtime-sized select allocates nothing (and a goroutine
  // abandoned in one, parked when run() ends, leaks nothing of it).
  std::array<detail::scase*, 33> small{};
  std::unique_ptr<detail::scase*[]> big;
  detail::scase** cs = small.data();
  if (cases.size() + 1 > small.size()) cs = (big = std::make_unique<detail::scase*[]>(cases.size() + 1)).get();
  for (std::size_t i = 0; i < cases.size(); ++i) cs[i] = cases[i].get();
  bool recv_ok = false;
  const int i = detail::selectgo(cs, static_cast<int>(cases.size()), &recv_ok);
  cs[i]->complete(recv_ok);
  return i;
}

}  // namespace gort

namespace gort::rt {

void select_free_abandoned(sudog* s) {
  if (s == nullptr || !s->is_select || (s->ticket & ticket_heap) == 0) return;
  ::operator delete(s - (s->ticket & ~ticket_heap));
  select_scratch_live.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace gort::rt

// ---- for tests (export_test.hpp) ----

namespace gort::rt {

void census_select(Census& c) {
  c.select_scratch += static_cast<std::size_t>(select_scratch_live.load(std::memory_order_relaxed));
}

}  // namespace gort::rt
