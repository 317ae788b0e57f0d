// gort/chan.hpp: Go's channels. A chan<T> is a reference, like Go's chan:
// copies share one channel, and the channel is freed with its last handle.
//
//   auto ch = gort::make_chan<int>();        // unbuffered: send waits for a receiver
//   gort::go([ch] { for (int i = 0; i < 3; ++i) ch.send(i); ch.close(); });
//   for (int v : ch) std::printf("%d\n", v); // receives until closed and drained
//
// Every chan<T> shares one type-erased core in the runtime (src/runtime/
// chan.cpp, Go's hchan), which moves elements with the operations in
// detail::elem_ops. A non-blocking operation (try_send, try_recv, a select
// with a default) that finds nothing ready decides so inline, from the
// core's header, as Go's selectnbrecv: a few loads, no call. Misuse throws
// gort::panic_error with Go's messages:
// "send on closed channel", "close of closed channel", "close of nil channel".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "gort/detail/race_window.hpp"
#include "gort/runtime.hpp"

namespace gort {

template <class T>
class chan;

namespace rt {
struct sudog;  // a goroutine's record of its wait on a channel
}  // namespace rt

// recv_result: what chan::try_recv got. value: the value received, if one
// was ready; closed: the channel is closed and drained (no value will ever
// come), as against "nothing ready yet" (both false).
template <class T>
struct recv_result {
  std::optional<T> value;
  bool closed = false;
  explicit operator bool() const noexcept { return value.has_value(); }
};

namespace detail {

// How the runtime moves and destroys a channel's elements. move constructs
// *dst from *src (the value is moved from; src's owner still destroys it);
// nullptr means the type is trivially copyable and a memcpy does.
struct elem_ops {
  std::size_t size;
  std::size_t align;
  void (*move)(void* dst, void* src) noexcept;
  void (*destroy)(void* p) noexcept;
};

template <class T>
inline constexpr elem_ops elem_ops_for{
    sizeof(T), alignof(T),
    std::is_trivially_copyable_v<T>
        ? nullptr
        : +[](void* dst, void* src) noexcept { ::new (dst) T(std::move(*static_cast<T*>(src))); },
    std::is_trivially_destructible_v<T> ? nullptr : +[](void* p) noexcept { static_cast<T*>(p)->~T(); }};

// waitq: the goroutines waiting on one channel, Go's waitq: a FIFO of
// sudogs (the runtime's wait records) linked through their next and prev,
// under the channel's lock. Its operations are the runtime's
// (src/runtime/chan.cpp); it is here for its layout: first is also read
// without the lock, for nullness only, by the checks below (Go reads it
// with atomic.Loadp). Hence an atomic, written and read relaxed under the
// lock, which orders it.
struct waitq {
  std::atomic<rt::sudog*> first{nullptr};
  rt::sudog* last = nullptr;

  rt::sudog* head() const noexcept { return first.load(std::memory_order_relaxed); }
  void set_head(rt::sudog* s) noexcept { first.store(s, std::memory_order_relaxed); }
  void enqueue(rt::sudog* s);
  // dequeue removes and returns the first sudog whose goroutine may be
  // woken. A select's sudog is skipped (and dropped) when its goroutine has
  // already been won by another case: the waker must win gp->selectdone.
  // The empty queue, what most operations find, is told inline.
  rt::sudog* dequeue() { return head() == nullptr ? nullptr : dequeue_waiter(); }
  // dequeue_sudog removes s if it is still queued (select's pass 3).
  void dequeue_sudog(rt::sudog* s);

 private:
  rt::sudog* dequeue_waiter();  // dequeue of a queue not empty
};

// hchan_header: the part of the channel core (src/runtime/chan.hpp, Go's
// hchan) that code inlined from this header reads without a call: the
// handle count, which copies of a chan<T> count, and what the lock-free
// "nothing ready" checks of the non-blocking operations read.
// closed and qcount are written under the channel's lock and read without
// it by these checks and by len(); under the lock they are read and written
// relaxed (the lock orders them), and the orders below are for the
// lock-free readers. dataqsiz is fixed when the channel is made. The queues
// are under the lock (hchan::recvq(), sendq()), but for their heads' reads
// here. The rest of the core, its lock first, follows in hchan.
struct hchan_header {
  std::atomic<std::size_t> refs{1};
  std::atomic<std::size_t> qcount{0};  // values in the buffer
  std::size_t dataqsiz = 0;            // the buffer's capacity
  waitq recvq_;                        // parked receivers
  waitq sendq_;                        // parked senders
  std::atomic<std::uint32_t> closed{0};  // last: hchan's lock fills the padding after it

  // Go's full() and empty(): a send, a receive would block. Exact under the
  // lock; without it, a snapshot (acquire: a later load of closed is not
  // taken before it; qcount's also pairs with the release in buf_get).
  bool full() const noexcept {
    return dataqsiz == 0 ? recvq_.first.load(std::memory_order_acquire) == nullptr
                         : qcount.load(std::memory_order_acquire) == dataqsiz;
  }
  bool empty() const noexcept {
    return dataqsiz == 0 ? sendq_.first.load(std::memory_order_acquire) == nullptr
                         : qcount.load(std::memory_order_acquire) == 0;
  }

  // The lock-free fail paths of the non-blocking operations (Go's, in
  // chansend and chanrecv without block). send_would_block: not closed, then
  // full; if both held when observed, the send would have failed at the
  // moment full() was read (closed only ever goes 0 -> 1), whatever
  // happened between the two loads. Acquire keeps full()'s loads after it.
  bool send_would_block() const noexcept {
    if (closed.load(std::memory_order_acquire) != 0) return false;
    race_window();
    return full();
  }
  // recv_without_lock: empty, then not closed: "empty and not closed" was
  // true at the instant empty() was read, and the receive may fail as of
  // then (not_ready). Closed for good, the acquire (of closechan's release
  // store) made every send before the close visible: if a re-check finds
  // nothing, the values that arrived between the two checks have been
  // received too, and none can come (closed, no lock: Go's path, as its
  // race detector's acquire of the close). Else the lock decides (take_lock).
  enum class nbrecv { not_ready, closed, take_lock };
  nbrecv recv_without_lock() const noexcept {
    if (!empty()) return nbrecv::take_lock;
    race_window();
    if (closed.load(std::memory_order_acquire) == 0) return nbrecv::not_ready;
    race_window();
    return empty() ? nbrecv::closed : nbrecv::take_lock;
  }
};
struct hchan;

// The runtime's channel operations (Go's makechan, chansend, chanrecv,
// closechan), which enter the runtime. c may be nullptr (the nil channel)
// except in freechan.
hchan* makechan(const elem_ops* ops, std::size_t capacity);
void freechan(hchan* c) noexcept;
// chansend moves from *ep; without block it returns false, leaving *ep as it
// was, when the send would have to wait. chanrecv constructs *ep only when it
// says received. what names the caller in a misuse's message (default:
// the chan method). Without block, selectnbsend and selectnbrecv below
// decide "nothing ready" first, without a call.
enum class recv_status : unsigned char { received, closed, not_ready };
bool chansend(hchan* c, void* ep, bool block, const char* what = nullptr);
recv_status chanrecv(hchan* c, void* ep, bool block, const char* what = nullptr);
void closechan(hchan* c);
std::size_t chanlen(const hchan* c) noexcept;
std::size_t chancap(const hchan* c) noexcept;

inline hchan_header* header(hchan* c) noexcept { return reinterpret_cast<hchan_header*>(c); }

// selectnbsend and selectnbrecv: the non-blocking send and receive (a
// select with one case and a default, as Go's compiler lowers it; chan's
// try_send and try_recv). A "nothing ready" that the lock-free checks
// decide costs a few loads here and no runtime entry: it touches nothing
// of the scheduler's, so it needs neither a P nor the preemption
// handshake's flags. A failing select in a loop then costs what Go's
// selectnbrecv does; such a loop enters the runtime no more than user code
// that calls nothing, and sysmon hands its P on after 20 ms, as for any
// goroutine that keeps it (src/runtime/preempt.cpp). run_active
// (runtime.hpp) is a hint: a stale false only costs the entry; a stale true
// after a run lets an operation that reads nothing but c's atomics fail
// without the entry's refusal outside run().
inline bool selectnbsend(hchan* c, void* ep, const char* what = nullptr) {
  if (run_active.load(std::memory_order_relaxed) && (c == nullptr || header(c)->send_would_block())) return false;
  return chansend(c, ep, false, what);
}
inline recv_status selectnbrecv(hchan* c, void* ep, const char* what = nullptr) {
  if (run_active.load(std::memory_order_relaxed)) {
    if (c == nullptr) return recv_status::not_ready;
    switch (header(c)->recv_without_lock()) {
      case hchan_header::nbrecv::not_ready:
        return recv_status::not_ready;
      case hchan_header::nbrecv::closed:
        return recv_status::closed;
      case hchan_header::nbrecv::take_lock:
        break;
    }
  }
  return chanrecv(c, ep, false, what);
}

// Uninitialised storage for one T, for the runtime to construct into.
template <class T>
union slot {
  slot() noexcept {}
  ~slot() {}
  T v;
};

template <class T>
hchan* chan_core(const chan<T>& ch) noexcept {
  return ch.c_;
}
// adopt_chan: a handle taking over one of c's references (the runtime's
// channels made other than by make_chan: a timer's, src/runtime/time.cpp).
template <class T>
chan<T> adopt_chan(hchan* c) noexcept {
  return chan<T>(c);
}

}  // namespace detail

template <class T>
class chan {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "gort::chan<T>: T must be nothrow move constructible (a value moves between "
                "goroutines under the channel's lock)");
  static_assert(alignof(T) <= alignof(std::max_align_t), "gort::chan<T>: over-aligned element types are not supported");

 public:
  chan() noexcept = default;  // the nil channel
  chan(const chan& o) noexcept : c_(o.c_) { retain(); }
  chan(chan&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  chan& operator=(chan o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~chan() { release(); }

  // Blocks until a receiver takes v or the buffer has room. Throws
  // panic_error "send on closed channel", also when the channel is closed
  // while this send waits. On the nil channel, blocks forever.
  void send(T v) const { detail::chansend(c_, &v, true); }

  // Blocks until a value arrives; std::nullopt once the channel is closed
  // and its buffer drained. On the nil channel, blocks forever.
  std::optional<T> recv() const {
    std::optional<T> r;
    recv_into(r);
    return r;
  }

  // The non-blocking forms, Go's select with a default case (selectnbsend,
  // selectnbrecv), with its lock-free "nothing ready" paths. try_send sends
  // only if a receiver waits or the buffer has room, and moves from v only
  // then; on a closed channel it throws panic_error "send on closed
  // channel", as send. try_recv takes a value only if one is ready; its
  // .closed tells a closed, drained channel from one with nothing ready yet.
  // On the nil channel neither is ever ready.
  bool try_send(T&& v) const { return detail::selectnbsend(c_, &v); }
  bool try_send(const T& v) const {
    T copy(v);
    return try_send(std::move(copy));
  }
  recv_result<T> try_recv() const {
    recv_result<T> r;
    r.closed = recv_into(r.value, false) == detail::recv_status::closed;
    return r;
  }

  // Wakes every waiting receiver (they get nullopt once the buffer is
  // drained) and every waiting sender (they throw "send on closed channel").
  void close() const { detail::closechan(c_); }

  std::size_t len() const noexcept { return detail::chanlen(c_); }
  std::size_t cap() const noexcept { return detail::chancap(c_); }
  explicit operator bool() const noexcept { return c_ != nullptr; }
  friend bool operator==(const chan& a, const chan& b) noexcept { return a.c_ == b.c_; }

  // for (T v : ch): receives until the channel is closed and drained; each
  // value is moved out to the loop variable.
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(const chan* ch) : ch_(ch) { ++*this; }
    T&& operator*() { return std::move(*cur_); }
    iterator& operator++() {
      cur_.reset();
      ch_->recv_into(cur_);
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return !it.cur_; }

   private:
    const chan* ch_ = nullptr;
    std::optional<T> cur_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  template <class U>
  friend chan<U> make_chan(std::size_t);
  template <class U>
  friend detail::hchan* detail::chan_core(const chan<U>&) noexcept;
  template <class U>
  friend chan<U> detail::adopt_chan(detail::hchan*) noexcept;
  explicit chan(detail::hchan* c) noexcept : c_(c) {}
  // recv_into receives into an empty optional (left empty unless a value is
  // received); T needs only a move constructor, not assignment.
  detail::recv_status recv_into(std::optional<T>& out, bool block = true) const {
    detail::slot<T> s;
    const detail::recv_status st = block ? detail::chanrecv(c_, &s.v, true) : detail::selectnbrecv(c_, &s.v);
    if (st != detail::recv_status::received) return st;
    out.emplace(std::move(s.v));
    s.v.~T();
    return st;
  }
  // The usual reference count: a handle is copied from a live one, so the
  // increment needs no order; the decrement's release publishes this
  // handle's uses, and the last one's acquire orders freechan after them all.
  void retain() const noexcept {
    if (c_) detail::header(c_)->refs.fetch_add(1, std::memory_order_relaxed);
  }
  void release() const noexcept {
    if (c_ && detail::header(c_)->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) detail::freechan(c_);
  }

  detail::hchan* c_ = nullptr;
};

// makechan: a channel with room for capacity values (0: unbuffered). Throws
// panic_error "makechan: size out of range" if the buffer cannot be sized.
template <class T>
chan<T> make_chan(std::size_t capacity = 0) {
  return chan<T>(detail::makechan(&detail::elem_ops_for<T>, capacity));
}

}  // namespace gort
