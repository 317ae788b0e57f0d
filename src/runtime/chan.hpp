// chan.hpp: the channel core, shared by chan.cpp and select.cpp. Go
// counterpart: hchan and waitq in chan.go.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gort/chan.hpp"
#include "runtime/runtime2.hpp"

namespace gort::rt {
using detail::waitq;  // gort/chan.hpp; its operations are chan.cpp's
}  // namespace gort::rt

namespace gort::detail {

// hchan: Go's channel. Invariants (as chan.go):
//   at least one of sendq and recvq is empty, except for a single select
//     that sends and receives on the same unbuffered channel;
//   on a buffered channel, qcount > 0 implies recvq is empty, and
//     qcount < dataqsiz implies sendq is empty.
// The fields that the inline non-blocking checks read lock-free (closed,
// qcount, dataqsiz, the queues' heads) are in hchan_header (gort/chan.hpp),
// which says who may touch them how; the queues are reached through
// recvq() and sendq(), under lock. lock guards every other field except
// ops and buf (immutable).
// No G is readied while lock is held: a woken G could run on another M and
// find the lock taken for nothing.
struct hchan : hchan_header {
  rt::mutex lock{rt::lock_rank::hchan};
  std::size_t sendx GORT_GUARDED_BY(lock) = 0;  // next slot to send into
  std::size_t recvx GORT_GUARDED_BY(lock) = 0;  // next slot to receive from
  unsigned char* buf = nullptr;                 // dataqsiz slots of ops->size bytes
  const elem_ops* ops = nullptr;

  rt::waitq& recvq() GORT_REQUIRES(lock) { return recvq_; }  // parked receivers
  rt::waitq& sendq() GORT_REQUIRES(lock) { return sendq_; }  // parked senders

  // check: the invariants above that hold whenever lock is free, asserted
  // by whoever has just taken it, in GORT_CHECKED builds (chan.cpp): qcount
  // <= dataqsiz; qcount > 0 => recvq empty; qcount < dataqsiz => sendq
  // empty. (A select's sudog already won elsewhere may sit in a queue, but
  // every send or receive dequeues such sudogs before it touches buf.)
#ifdef GORT_CHECKED
  void check() const GORT_REQUIRES(lock);
#else
  void check() const GORT_REQUIRES(lock) {}
#endif

  void* slot(std::size_t i) const { return buf + i * ops->size; }
  // move_elem move-constructs *dst from *src. Small trivially copyable
  // values (ints, pointers, empty structs) are copied inline, not through
  // a call to memcpy: a channel of int is the common case.
  void move_elem(void* dst, void* src) const {
    if (ops->move) return ops->move(dst, src);
    switch (ops->size) {
      case 1:
        std::memcpy(dst, src, 1);
        return;
      case 2:
        std::memcpy(dst, src, 2);
        return;
      case 4:
        std::memcpy(dst, src, 4);
        return;
      case 8:
        std::memcpy(dst, src, 8);
        return;
      case 16:
        std::memcpy(dst, src, 16);
        return;
      default:
        std::memcpy(dst, src, ops->size);
    }
  }
  void destroy_elem(void* p) const {
    if (ops->destroy) ops->destroy(p);
  }
  // take moves a value out of a buffer slot, leaving the slot raw memory.
  // (A parked sender's value is only moved from: its owner destroys it.)
  void take(void* dst, void* src) const {
    move_elem(dst, src);
    destroy_elem(src);
  }
};

}  // namespace gort::detail

namespace gort::rt {

using detail::hchan;

// chansend: Go's chansend, for the running goroutine gp. Returns false only
// when !block and the send would have blocked. Throws panic_error on a
// closed channel.
bool chansend(g* gp, hchan* c, void* ep, bool block);

// chanrecv: Go's chanrecv. selected: the receive happened (false only when
// !block and it would have blocked); received: a value was constructed at ep
// (false: the channel is closed and drained).
struct recv_result {
  bool selected;
  bool received;
};
recv_result chanrecv(g* gp, hchan* c, void* ep, bool block);

// makechan_room: makechan with room bytes for the caller right after the
// hchan, in the same allocation (chan_room; room_chan is the way back). They
// go with the channel's last reference, unconstructed: what lives there must
// be trivially destructible. A timer's channel holds its timer there.
hchan* makechan_room(const detail::elem_ops* ops, std::size_t capacity, std::size_t room);
inline void* chan_room(hchan* c) { return c + 1; }
inline hchan* room_chan(void* room) { return static_cast<hchan*>(room) - 1; }

// chan_drop_waiters empties c's send and receive queues and returns how
// many sudogs were in them: the end of a run, whose abandoned goroutines'
// sudogs (on their stacks, about to go) must not stay queued on a channel
// that outlives it (proc.cpp, teardown). Every M is joined by then, so
// every sudog queued is an abandoned G's.
std::size_t chan_drop_waiters(hchan* c);

// select_free_abandoned frees the heap scratch of the select whose sudog
// s is (the G's g::waiting), if it has one: the end of a run, for a G
// abandoned in a select of more than 8 cases (select.cpp, select_scratch).
void select_free_abandoned(sudog* s);

// closechan: Go's closechan (panics on nil and on closed channels).
void closechan(g* gp, hchan* c);

// The steps that chansend/chanrecv and selectgo share, under Go's names.
// send and recv complete a transfer with the waiting sg (Go: send, recv;
// not Go's sendDirect, which is one step of send) and unlock c->lock
// (through unlock(arg), with select's other channels) before readying it;
// mp is the caller's M, which readies the woken G. They are in gort::rt,
// so the sockets' send and recv must be named ::send and ::recv there.
using unlock_fn = void (*)(void* arg);
void send(m* mp, hchan* c, sudog* sg, void* ep, unlock_fn unlock, void* arg) GORT_RELEASE(c->lock);
void recv(m* mp, hchan* c, sudog* sg, void* ep, unlock_fn unlock, void* arg) GORT_RELEASE(c->lock);

// buf_put: a buffered send into a free slot.
inline void buf_put(hchan* c, void* ep) GORT_REQUIRES(c->lock) {
  assert_lock_held(&c->lock);
  c->move_elem(c->slot(c->sendx), ep);
  if (++c->sendx == c->dataqsiz) c->sendx = 0;
  // Relaxed: a lock-free reader of qcount only decides "would block" and
  // never reads a slot without the lock; a close publishes it (closechan).
  c->qcount.store(c->qcount.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// buf_get: a buffered receive from a full slot.
inline void buf_get(hchan* c, void* ep) GORT_REQUIRES(c->lock) {
  assert_lock_held(&c->lock);
  c->take(ep, c->slot(c->recvx));
  if (++c->recvx == c->dataqsiz) c->recvx = 0;
  // Release, paired with the acquire in hchan::empty: a lock-free "closed
  // and drained" (chanrecv) that reads the count this leaves comes after
  // this receive.
  c->qcount.store(c->qcount.load(std::memory_order_relaxed) - 1, std::memory_order_release);
}

}  // namespace gort::rt
