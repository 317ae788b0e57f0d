// chan.cpp: channels. Go counterpart: chan.go (Go 1.23).
//
// One type-erased core, hchan (chan.hpp), serves every chan<T>: the element
// type is only its size and the two operations of detail::elem_ops (move,
// destroy), so the runtime never sees T. A buffered channel is a ring of
// dataqsiz slots allocated with the hchan; an unbuffered one has no buffer.
//
// Go's fast paths, which make a channel cheaper than a lock plus a queue:
//   - a send that finds a parked receiver moves its value straight into the
//     receiver's slot (on the receiver's stack) and readies it; the value
//     never passes through the buffer (send);
//   - a receive that finds a parked sender takes the sender's value (from
//     its stack, unbuffered) or the head of the full buffer, refilling the
//     freed slot from the sender (recv);
//   - the readied G goes to the waker's runnext (goready), so a pair of
//     goroutines handing values back and forth stays on one P.
// An unbuffered send therefore completes only when a receiver has the value.
//
// Waiting: a blocked sender or receiver puts a sudog on the channel's sendq
// or recvq (a sudog on its own stack: gort stacks never move) pointing at
// its value or its slot, and parks with goparkunlock, which releases the
// channel's lock only once the G is off its stack (park.cpp). Whoever
// dequeues a sudog owns its G until it readies it: it fills in the value,
// sets success and param, unlocks, then goready. Values are moved under the
// channel's lock; T's move constructor is noexcept (chan.hpp), so nothing can
// be half-delivered.
//
// close wakes every parked receiver (success = false: nullopt, unless the
// buffer still holds values, which are received first) and every parked
// sender (success = false: it throws "send on closed channel"), as Go.
//
// The nil channel (a chan<T>() handle) blocks forever, and counts for
// deadlock detection like any other park (wait reasons "chan send (nil
// chan)", "chan receive (nil chan)").
#include "runtime/chan.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "gort/sync.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"

namespace gort::detail {

using rt::sudog;

void waitq::enqueue(sudog* s) {
  s->next = nullptr;
  s->prev = last;
  if (last)
    last->next = s;
  else
    set_head(s);
  last = s;
}

sudog* waitq::dequeue_waiter() {
  while (sudog* s = head()) {
    set_head(s->next);
    (s->next ? s->next->prev : last) = nullptr;
    s->next = s->prev = nullptr;
    // A select's G waits in several queues at once; only one case may win
    // it. The losers' sudogs are left unlinked: the G removes the others
    // itself after it wakes (selectgo, pass 3). Every waker CASes under its
    // channel's lock; the CAS's single order on selectdone picks one winner.
    // What the winner hands over (sg->elem, success, param) is ordered by the
    // channel's lock and by goready, so acq_rel is more than it needs.
    if (s->is_select) {
      std::uint32_t zero = 0;
      if (!s->gp->selectdone.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) continue;
    }
    return s;
  }
  return nullptr;
}

void waitq::dequeue_sudog(sudog* s) {
  sudog* x = s->prev;
  sudog* y = s->next;
  if (x == nullptr && y == nullptr && head() != s) return;  // already dequeued
  if (x)
    x->next = y;
  else
    set_head(y);
  (y ? y->prev : last) = x;
  s->next = s->prev = nullptr;
}

}  // namespace gort::detail

namespace gort::rt {

namespace {

// unlock_chan: send's and recv's unlock(arg) for one
// channel. Not analyzed: its argument is untyped (void*).
void unlock_chan(void* c) GORT_NO_THREAD_SAFETY_ANALYSIS { static_cast<hchan*>(c)->lock.unlock(); }

// finish_wake completes a dequeued sudog's wait after the lock is released:
// gp's param names the sudog that won (select uses it), success says whether
// a value moved.
void finish_wake(m* mp, sudog* sg, bool success) {
  g* gp = sg->gp;
  gp->param = sg;
  sg->success = success;
  goready(mp, gp);
}

// park_forever: the nil channel and the empty select. Never returns.
[[noreturn]] void park_forever(wait_reason reason) {
  gopark(nullptr, nullptr, reason);
  gothrow("unreachable: a goroutine parked forever was readied");
}

// block_on parks the running G on q with a sudog for ep and returns whether
// it was woken by a transfer (true) or by close (false). The park releases
// c->lock.
// gp->waiting names s while it is queued, for the end of the run
// (chan_drop_waiters). A thread the runtime did not start that waits here
// when the run ends leaves by an exception out of the park (proc.cpp,
// "Extra Ms"); s, on its own stack, must not stay queued on a channel
// that may outlive the run.
[[gnu::always_inline]] inline bool block_on(g* gp, hchan* c, waitq& q, void* ep, wait_reason reason)
    GORT_RELEASE(c->lock) {
  sudog s;
  s.gp = gp;
  s.elem = ep;
  s.c = c;
  q.enqueue(&s);
  gp->waiting = &s;
  try {
    goparkunlock(&c->lock, reason);
  } catch (...) {  // run() ended; gp may be gone
    c->lock.lock();
    q.dequeue_sudog(&s);
    c->lock.unlock();
    throw;
  }
  s.gp->waiting = nullptr;
  s.gp->param = nullptr;
  return s.success;
}

}  // namespace

// Not analyzed (nor is recv): the lock goes through unlock(arg).
void send(m* mp, hchan* c, sudog* sg, void* ep, unlock_fn unlock, void* arg) GORT_NO_THREAD_SAFETY_ANALYSIS {
  assert_lock_held(&c->lock);
  c->move_elem(sg->elem, ep);
  sg->elem = nullptr;
  unlock(arg);
  finish_wake(mp, sg, true);
}

void recv(m* mp, hchan* c, sudog* sg, void* ep, unlock_fn unlock, void* arg) GORT_NO_THREAD_SAFETY_ANALYSIS {
  assert_lock_held(&c->lock);
  if (c->dataqsiz == 0) {
    c->move_elem(ep, sg->elem);  // from the sender's stack
  } else {
    // The buffer is full (a sender is waiting): take its head, and put the
    // sender's value in the freed slot, which becomes the tail.
    void* qp = c->slot(c->recvx);
    c->take(ep, qp);
    c->move_elem(qp, sg->elem);
    if (++c->recvx == c->dataqsiz) c->recvx = 0;
    c->sendx = c->recvx;
  }
  sg->elem = nullptr;
  unlock(arg);
  finish_wake(mp, sg, true);
}

namespace {

// The bodies of chansend and chanrecv, inlined into the public entries
// (detail::chansend and detail::chanrecv below: a call less on every
// channel operation) and called out of line by select and the timers.
[[gnu::always_inline]] inline bool chansend_body(g* gp, hchan* c, void* ep, bool block) {
  if (c == nullptr) {
    if (!block) return false;
    park_forever(wait_reason::chan_send_nil_chan);
  }
  if (!block && c->send_would_block()) return false;

  c->lock.lock();
  c->check();
  if (c->closed.load(std::memory_order_relaxed) != 0) {
    c->lock.unlock();
    throw panic_error("send on closed channel");
  }
  if (sudog* sg = c->recvq().dequeue()) {
    send(gp->m, c, sg, ep, &unlock_chan, c);
    return true;
  }
  if (c->qcount.load(std::memory_order_relaxed) < c->dataqsiz) {
    buf_put(c, ep);
    c->lock.unlock();
    return true;
  }
  if (!block) {
    c->lock.unlock();
    return false;
  }
  if (!block_on(gp, c, c->sendq(), ep, wait_reason::chan_send)) throw panic_error("send on closed channel");
  return true;
}

[[gnu::always_inline]] inline recv_result chanrecv_body(g* gp, hchan* c, void* ep, bool block) {
  if (c == nullptr) {
    if (!block) return {false, false};
    park_forever(wait_reason::chan_receive_nil_chan);
  }
  if (!block) {
    const hchan::nbrecv now = c->recv_without_lock();
    if (now == hchan::nbrecv::not_ready) return {false, false};
    if (now == hchan::nbrecv::closed) return {true, false};
  }

  c->lock.lock();
  c->check();
  if (c->closed.load(std::memory_order_relaxed) != 0) {
    if (c->qcount.load(std::memory_order_relaxed) == 0) {
      c->lock.unlock();
      return {true, false};
    }
  } else if (sudog* sg = c->sendq().dequeue()) {
    recv(gp->m, c, sg, ep, &unlock_chan, c);
    return {true, true};
  }
  if (c->qcount.load(std::memory_order_relaxed) > 0) {
    buf_get(c, ep);
    c->lock.unlock();
    return {true, true};
  }
  if (!block) {
    c->lock.unlock();
    return {false, false};
  }
  return {true, block_on(gp, c, c->recvq(), ep, wait_reason::chan_receive)};
}

}  // namespace

bool chansend(g* gp, hchan* c, void* ep, bool block) { return chansend_body(gp, c, ep, block); }

recv_result chanrecv(g* gp, hchan* c, void* ep, bool block) { return chanrecv_body(gp, c, ep, block); }

// closechan: Go's closechan.
void closechan(g* gp, hchan* c) {
  if (c == nullptr) throw panic_error("close of nil channel");
  c->lock.lock();
  c->check();
  if (c->closed.load(std::memory_order_relaxed) != 0) {
    c->lock.unlock();
    throw panic_error("close of closed channel");
  }
  // Release, paired with the acquire loads of closed in send_would_block and
  // recv_without_lock: one that sees the close sees every send buffered before it.
  c->closed.store(1, std::memory_order_release);
  // Every waiter, receivers first: a receiver's slot stays raw, a sender's
  // value stays with it. They are pushed on a list through next (free once
  // dequeued) and readied after the unlock, last pushed first, as Go's
  // gList: each goready takes runnext and moves the previous one to the
  // queue's tail, so the first waiter runs first and the rest in order.
  sudog* woken = nullptr;
  for (waitq* q : {&c->recvq(), &c->sendq()})
    while (sudog* sg = q->dequeue()) {
      sg->elem = nullptr;
      sg->next = woken;
      woken = sg;
    }
  c->lock.unlock();
  while (sudog* s = woken) {
    woken = s->next;  // read before the G may run and its stack change
    finish_wake(gp->m, s, false);
  }
}

std::size_t chan_drop_waiters(hchan* c) {
  std::size_t n = 0;
  c->lock.lock();
  for (waitq* q : {&c->recvq(), &c->sendq()}) {
    for (sudog* s = q->head(); s != nullptr;) {
      sudog* next = s->next;
      s->next = s->prev = nullptr;  // as dequeued: a dequeue_sudog after this finds it gone
      s = next;
      ++n;
    }
    q->set_head(nullptr);
    q->last = nullptr;
  }
  c->lock.unlock();
  return n;
}

hchan* makechan_room(const detail::elem_ops* ops, std::size_t capacity, std::size_t room) {
  // Go's limit is maxAlloc; any buffer this machine could not map will do.
  constexpr std::size_t max_buf = std::size_t{1} << 40;
  const std::size_t hdr = (sizeof(hchan) + room + ops->align - 1) / ops->align * ops->align;
  if (ops->size != 0 && capacity > max_buf / ops->size) throw panic_error("makechan: size out of range");
  void* mem = ::operator new(hdr + capacity * ops->size);
  auto* c = ::new (mem) hchan;
  c->ops = ops;
  c->dataqsiz = capacity;
  c->buf = static_cast<unsigned char*>(mem) + hdr;
  return c;
}

}  // namespace gort::rt

namespace gort::detail {

#ifdef GORT_CHECKED
void hchan::check() const {
  const std::size_t q = qcount.load(std::memory_order_relaxed);
  const char* what = nullptr;
  if (q > dataqsiz)
    what = "qcount > dataqsiz";
  else if (q > 0 && recvq_.head() != nullptr)
    what = "receivers wait while the buffer holds values";
  else if (q < dataqsiz && sendq_.head() != nullptr)
    what = "senders wait while the buffer has room";
  if (what == nullptr) [[likely]]
    return;
  rt::printerr("runtime: chan %p: %s (qcount %zu, dataqsiz %zu)\n", static_cast<const void*>(this), what, q, dataqsiz);
  rt::gothrow("chan: invariant broken");
}
#endif

hchan* makechan(const elem_ops* ops, std::size_t capacity) { return rt::makechan_room(ops, capacity, 0); }

// freechan runs when the last handle goes. A G parked on c then waits in a
// method of a chan object that has gone (a goroutine that took main's
// channel by reference, abandoned when main returned), and nobody can wake
// it: its sudog keeps no pointer to c, for run()'s end, which unlinks the
// abandoned Gs' sudogs (proc.cpp, teardown). qcount is read relaxed: the
// last handle's acq_rel decrement (chan::release) ordered every use before.
// Not analyzed: c's fields are read without the lock, which nobody else can
// take any more.
void freechan(hchan* c) noexcept GORT_NO_THREAD_SAFETY_ANALYSIS {
  for (rt::waitq* q : {&c->recvq(), &c->sendq()})
    for (rt::sudog* s = q->head(); s != nullptr; s = s->next) s->c = nullptr, s->elem = nullptr;
  for (std::size_t n = c->qcount.load(std::memory_order_relaxed), i = c->recvx; n > 0; --n) {
    c->destroy_elem(c->slot(i));
    if (++i == c->dataqsiz) i = 0;
  }
  c->~hchan();
  ::operator delete(c);
}

// The entry points bind a thread the runtime did not start to an extra M,
// and outside a run refuse the call (entry_guard). The non-blocking forms
// come here only when their lock-free checks could not decide
// (selectnbsend and selectnbrecv in gort/chan.hpp), and the bodies check
// again once entered, as select's pass 0 needs them to.
bool chansend(hchan* c, void* ep, bool block, const char* what) {
  rt::entry_guard e(what ? what : block ? "gort::chan::send" : "gort::chan::try_send");
  return rt::chansend_body(e.gp, c, ep, block);
}

recv_status chanrecv(hchan* c, void* ep, bool block, const char* what) {
  rt::entry_guard e(what ? what : block ? "gort::chan::recv" : "gort::chan::try_recv");
  const rt::recv_result r = rt::chanrecv_body(e.gp, c, ep, block);
  if (!r.selected) return recv_status::not_ready;
  return r.received ? recv_status::received : recv_status::closed;
}

void closechan(hchan* c) {
  rt::entry_guard e("gort::chan::close");
  rt::closechan(e.gp, c);
}

// chanlen: relaxed, as Go's unlocked read: a snapshot, through which nothing is read.
std::size_t chanlen(const hchan* c) noexcept { return c ? c->qcount.load(std::memory_order_relaxed) : 0; }

std::size_t chancap(const hchan* c) noexcept { return c ? c->dataqsiz : 0; }

}  // namespace gort::detail
