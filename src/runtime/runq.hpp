// runq.hpp: a P's local run queue. Go counterpart: runqput, runqputslow (the
// local half), runqget, runqgrab, runqsteal and runqempty in proc.go (1.23).
//
// Algorithm. A ring of N slots (N = 256 in production, smaller in the model
// tests) plus one extra slot, runnext. head and tail are free-running uint32
// counters; the queue holds slots [head, tail). The owner P pushes at tail and
// pops at head; thieves (other Ps) take ceil(half) of the queue from head.
// runnext holds the G the owner readied or created last: it runs before the
// ring, inheriting the current time slice, which makes a producer/consumer
// pair ping-pong on one P without the ring (Go's "runnext").
//
// Ownership and ordering.
//   tail     written only by the owner; store-release publishes the slots
//            below it (pairs with the load-acquire of tail in grab).
//   head     advanced by owner and thieves, by CAS-release (pairs with the
//            load-acquire of head in put, so a slot is reused only after the
//            thief that read it has committed).
//   slots    written only by the owner, in [tail, head+N); read by anyone in
//            [head, tail). They are atomics only so that a thief's read of a
//            slot the owner is about to overwrite is not a data race: such a
//            thief's CAS on head then fails and it discards what it read.
//   runnext  set only by the owner; cleared by the owner or a thief. See
//            "runnext without a CAS" for how the two agree.
// Invariant: 0 <= tail - head <= N, for any snapshot where head is read
// before tail (reading tail first can see tail - head > N: grab retries).
//
// Orders (Go's runqput/runqget/runqgrab comments, pair by pair).
//   - tail: the owner's release stores (put, steal) pair with grab's acquire
//     load: a thief that sees tail sees the slots below it, and through
//     them the Gs' fields the readier wrote (status, closure). steal's
//     store passes on what its grab acquired, so a third P stealing from
//     the thief sees the Gs whole too. The owner reads its own tail relaxed.
//   - head: every consumer commits with a release CAS (get, take_half,
//     grab; get's plain store when there is no thief); put's acquire load
//     pairs with it, so the owner overwrites a slot only after the consumer
//     that read it is done. Consumers load head acquire before tail, which
//     keeps the two loads in that order (the invariant above) and the slot
//     reads after them; a failed CAS needs no order: the loop reloads.
//   - slots: relaxed everywhere; tail's release and head's CAS order them.
//   - runnext: the owner's release store or exchange (put_next) pairs with
//     the acquire loads and CAS of a thief (grab): the thief sees the G it
//     takes whole. Only the owner fills runnext, so the owner's own loads
//     and its CAS in get need no order for the G (an M that takes over
//     the P has synchronized with the last through the P's hand-off).
//   - empty and size are snapshots (acquire, as Go's atomic loads). Exact
//     for a reader whom the P's hand-off orders after the owner (sysmon
//     seeing Psyscall, handoffp's caller); a concurrent reader may miss a G
//     the running owner is moving from runnext to the ring, since get's
//     runnext CAS is not a release (Go's is seq_cst). The owner then runs it.
//   - Wakeups: put and put_next publish with release, not seq_cst, so they
//     are not the StoreLoad half of the "delicate dance" as Go's runnext CAS
//     is; proc.cpp, "Orders", says why a missed wakeup strands nothing.
//
// runnext without a CAS (gort). Go's owner takes runnext with a CAS, since a
// thief may CAS it away at the same moment: a locked instruction on every
// switch between two goroutines, though thieves come for runnext rarely
// (only from a P whose ring is empty, on a thief's last pass, after a
// back-off if the victim runs). Where membarrier works (asymmetric mode),
// gort moves that cost to the thief, as preempt.cpp's handshake does:
//   owner: busy = 1;  (compiler barrier)  read steal_lock (and cas_ops:
//          "A CAS spell" below);
//          0: runnext's plain load and store, then busy = 0 (release);
//          else: busy = 0, and the op as in CAS mode (exchange, CAS).
//   thief: steal_lock 0 -> 1 (CAS; held: give up);  membarrier;
//          wait until busy == 0 (acquire; give up after a while);
//          CAS runnext -> null;  steal_lock = 0 (release).
// This is Dekker's pattern between busy and steal_lock, with the
// membarrier as the owner's fence: either the owner's read of steal_lock
// comes after the barrier, sees the thief and takes the CAS path, whose ops
// are safe against the thief's CAS; or busy = 1 came before it and the
// thief sees it, and waits until the owner's plain op is over. So no plain
// op of the owner overlaps a thief's CAS. A thief that gives up takes
// nothing, which a steal may always do. busy's release, read by the
// thief's acquire, publishes the owner's op; put_next's release store of
// runnext still publishes the G.
// Without membarrier (CAS mode: Linux before 4.14, a seccomp filter,
// GODEBUG=runnextcas=1), the owner CASes as Go's.
//
// A CAS spell (gort). A thief that still finds a G in a running victim's
// runnext after its back-off has found an owner in a long run, and its
// membarrier then comes on top of the back-off, on the path of the G it
// steals (under a hypervisor a membarrier takes tens of us). Such a steal
// puts the queue under a CAS spell for the owner's next SpellOps ops
// (cas_ops, stored under steal_lock): the owner takes its CAS path, and
// thieves, still under steal_lock, CAS runnext with no membarrier and no
// wait for busy. The owner ends a spell only under steal_lock, and reads
// cas_ops after its acquire load of steal_lock. So an owner op that reads
// steal_lock 0 written by the release of a holder (the thief that cast
// the spell, or any later thief, or the owner ending it) sees cas_ops as
// that holder left it, as the next thief does; and an op that read
// steal_lock before the thief that cast the spell took it was waited out
// by that thief (membarrier, busy) before the spell began. No plain op of
// the owner overlaps a thief's CAS under a spell either.
//
// GORT_CHECKED builds throw where the owner's own snapshots break it (put,
// get) and where a steal would overfill the thief (Go's "runqsteal: runq
// overflow"); normal builds check nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#ifdef GORT_CHECKED
#include "runtime/lock_futex.hpp"
#include "runtime/panic.hpp"
#endif

namespace gort::rt {

// SpellOps: how many of the owner's runnext ops a CAS spell lasts after a
// thief's last take from a running victim ("A CAS spell"): long enough
// that a membarrier (tens of us under a hypervisor) is rare for a P whose
// Gs are taken while it runs, short enough that a P whose runnext is taken
// now and then spends few switches with a CAS. The model tests shrink it,
// as they shrink N, so that spells begin and end often.
template <class T, std::uint32_t N, std::uint32_t SpellOps = 1024>
class runq {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "runq size must be a power of two");

 public:
  static constexpr std::uint32_t capacity = N;

  // set_heavy_barrier puts every runq<T, N> in asymmetric mode, with
  // barrier (a membarrier that has a full fence run on every CPU running a
  // thread of the process) as the thieves' fence; nullptr puts them back in
  // CAS mode ("runnext without a CAS"). Only while no runq<T, N> is in use:
  // the runtime calls it in schedinit, before any P exists.
  static void set_heavy_barrier(void (*barrier)()) { heavy_barrier_.store(barrier, std::memory_order_relaxed); }

  // put_next places gp in runnext and returns the G it evicted (nullptr if
  // runnext was empty); the caller then puts the evicted G at the tail.
  // Owner P only. Thieves only ever clear runnext, so an empty runnext
  // stays empty until the owner fills it: a release store does, with no
  // bracket. Evicting a G is a plain op in asymmetric mode, an exchange in
  // CAS mode ("runnext without a CAS"); every goready and go() comes here.
  // The load is relaxed: a null it sees stays null until our store, and no
  // G is read through it. The exchange's acquire half is more than needed:
  // the G it evicts is the owner's own (see "Orders").
  T* put_next(T* gp) {
    if (runnext_.load(std::memory_order_relaxed) == nullptr) {
      runnext_.store(gp, std::memory_order_release);  // pairs with the thief's acquire
      return nullptr;
    }
    if (begin_plain_op()) {
      // No thief touches runnext until end_plain_op ("runnext without a CAS").
      T* old = runnext_.load(std::memory_order_relaxed);
      race_window_checked();
      runnext_.store(gp, std::memory_order_release);  // pairs with the thief's acquire
      end_plain_op();
      return old;
    }
    return runnext_.exchange(gp, std::memory_order_acq_rel);
  }

  // put appends gp at the tail. Returns false, changing nothing, when the
  // ring is full (the caller then runs runqputslow). Owner P only.
  bool put(T* gp) {
    std::uint32_t h = head_.load(std::memory_order_acquire);  // pairs with CAS in get/grab
    std::uint32_t t = tail_.load(std::memory_order_relaxed);  // we are its only writer
    check_bounds(h, t, "runqput: queue out of bounds");
    if (t - h >= N) return false;
    slot(t).store(gp, std::memory_order_relaxed);  // published by the tail store
    tail_.store(t + 1, std::memory_order_release);  // publish; pairs with acquire in grab
    return true;
  }

  // get pops runnext, else the head of the ring. inherit_time tells the
  // caller not to start a new time slice (Go's inheritTime). Owner P only.
  // no_thieves says nobody can steal now (there is a single P): then the
  // owner claims head with a plain store instead of a CAS, and runnext
  // without even the busy bracket (take_next).
  T* get(bool& inherit_time, bool no_thieves = false) {
    if (T* next = take_next(no_thieves)) {
      inherit_time = true;
      return next;
    }
    inherit_time = false;
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);  // sync with thieves' commits
      std::uint32_t t = tail_.load(std::memory_order_relaxed);  // we are its only writer
      check_bounds(h, t, "runqget: queue out of bounds");
      if (t == h) return nullptr;
      T* gp = slot(h).load(std::memory_order_relaxed);  // our own store; the CAS validates h
      if (no_thieves) {
        // Release as the CAS's, though the only later reader of head is the
        // owner's own put: no thief exists while there is a single P.
        head_.store(h + 1, std::memory_order_release);
        return gp;
      }
      // Release: commits the consume; pairs with put's and grab's acquire.
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release, std::memory_order_relaxed)) return gp;
    }
  }

  // take_half removes the first N/2 Gs from the head into batch (which must
  // hold N/2), for runqputslow. Returns N/2, or 0 if a thief moved head
  // meanwhile (then the caller retries put). Owner P only; call only when
  // put has just failed, i.e. the ring is full.
  std::uint32_t take_half(T** batch) {
    // As get: head acquire, tail and slots our own, a release CAS commits.
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint32_t n = (t - h) / 2;
    if (n != N / 2) return 0;  // not full any more: a thief got there first
    for (std::uint32_t i = 0; i < n; ++i) batch[i] = slot(h + i).load(std::memory_order_relaxed);
    if (!head_.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed)) return 0;
    return n;
  }

  // steal moves ceil(half) of victim's ring into ours and returns one G to
  // run now (Go's runqsteal over runqgrab). With steal_runnext, an empty ring
  // gives up its runnext instead; victim_running tells whether the victim's
  // owner is running a G, in which case backoff() first waits so that it can
  // run the G it has just readied, and returns whether to take it after all
  // (see runqgrab; proc.cpp's steal_backoff). Called by the owner of *this,
  // which must be a different P from victim. Returns nullptr if nothing.
  template <class Backoff>
  T* steal(runq& victim, bool steal_runnext, bool victim_running, Backoff&& backoff, std::uint32_t& stolen) {
    std::uint32_t t = tail_.load(std::memory_order_relaxed);  // our own tail
    std::uint32_t n = victim.grab(*this, t, steal_runnext, victim_running, backoff);
    stolen = n;
    if (n == 0) return nullptr;
#ifdef GORT_CHECKED
    if (t - head_.load(std::memory_order_acquire) + n > N) [[unlikely]]
      gothrow("runqsteal: runq overflow");
#endif
    --n;
    T* gp = slot(t + n).load(std::memory_order_relaxed);  // grab stored it, on this thread
    if (n == 0) return gp;
    tail_.store(t + n, std::memory_order_release);  // publish; pairs with acquire in grab
    return gp;
  }

  // empty reports whether the queue and runnext are both empty: a consistent
  // snapshot, as Go's runqempty (re-reads tail to rule out a concurrent
  // get-then-put of runnext). Acquire keeps the four loads in program order
  // and pairs with the stores of tail and runnext; see "Orders" for the
  // reader it is exact for.
  bool empty() const {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      std::uint32_t t = tail_.load(std::memory_order_acquire);
      T* next = runnext_.load(std::memory_order_acquire);
      if (tail_.load(std::memory_order_acquire) == t) return h == t && next == nullptr;
    }
  }

  // size is the ring's length (runnext not counted); a racy snapshot, for
  // schedtrace and stats, and for the owner's room for timers (a stale head
  // only makes the room smaller). Acquire: head before tail, as grab.
  std::uint32_t size() const {
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_acquire);
    std::uint32_t n = t - h;
    return n > N ? N : n;
  }

  // peek_runnext: a hint for prefetch_next; acquire pairs with put_next's release.
  T* peek_runnext() const { return runnext_.load(std::memory_order_acquire); }

  // peek returns the i-th G of the ring from its head without taking it, or
  // nullptr past the tail: a hint (a thief may take it meanwhile), for the
  // owner to prefetch what the G will touch when it runs. Relaxed: nothing
  // is read through what it returns but addresses to prefetch.
  T* peek(std::uint32_t i) {
    std::uint32_t h = head_.load(std::memory_order_relaxed);
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    return t - h > i && t - h <= N ? slot(h + i).load(std::memory_order_relaxed) : nullptr;
  }

  // drain empties the ring and runnext into out (runnext first), for
  // procresize's destroy of a P. The world is stopped: no thief is running,
  // and stop_the_world's sched.lock and note order it after the owner; the
  // orders below are only those of the other paths, kept.
  template <class Out>
  void drain(Out&& out) {
    if (T* next = runnext_.exchange(nullptr, std::memory_order_acq_rel)) out(next);
    std::uint32_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_acquire);
    for (; h != t; ++h) out(slot(h).load(std::memory_order_relaxed));
    head_.store(h, std::memory_order_release);
  }

 private:
  std::atomic<T*>& slot(std::uint32_t i) { return slots_[i % N]; }

  // take_next empties runnext for the owner and returns the G it held, or
  // nullptr if it held none or a thief took it first.
  T* take_next(bool no_thieves) {
    T* next = runnext_.load(std::memory_order_relaxed);  // the owner's own G
    if (next == nullptr) return nullptr;  // stays so: only the owner fills it
    if (no_thieves) {
      runnext_.store(nullptr, std::memory_order_relaxed);  // nobody else writes it now
      return next;
    }
    if (begin_plain_op()) {
      next = runnext_.load(std::memory_order_relaxed);  // again: a thief may have taken it since
      race_window_checked();
      runnext_.store(nullptr, std::memory_order_relaxed);
      end_plain_op();
      return next;
    }
    // CAS mode. Only a thief can clear runnext while we look, so one CAS
    // suffices: if it fails, the G is gone. Its acquire is more than the
    // owner's own G needs ("Orders").
    return runnext_.compare_exchange_strong(next, nullptr, std::memory_order_acquire) ? next : nullptr;
  }

  // begin_plain_op: true if the owner may now load and store runnext
  // plainly, until end_plain_op; false in CAS mode, while a thief holds
  // steal_lock ("runnext without a CAS"), or under a CAS spell. The signal
  // fences keep the compiler from moving the op out of the bracket; the
  // membarrier of the thief is the fence between busy's store and
  // steal_lock's load.
  bool begin_plain_op() {
    if (heavy_barrier_.load(std::memory_order_relaxed) == nullptr) return false;
    busy_.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // Acquire: pairs with steal_next's release, so the op sees a last
    // thief's take (on arm64 a later load could pass a relaxed one), and
    // the CAS spell that thief may have cast: read after it.
    if (steal_lock_.load(std::memory_order_acquire)) [[unlikely]] {
      busy_.store(false, std::memory_order_relaxed);  // the CAS path needs no wait
      return false;
    }
    if (const std::uint32_t left = cas_ops_.load(std::memory_order_relaxed)) [[unlikely]] {
      busy_.store(false, std::memory_order_relaxed);
      count_cas_op(left);
      return false;
    }
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return true;
  }
  // Release: pairs with the thief's acquire of busy, publishing the op.
  void end_plain_op() { busy_.store(false, std::memory_order_release); }

  // count_cas_op: the owner has made one more op under a CAS spell, with
  // left ops to go; the last one ends the spell, under steal_lock, or a
  // later op does if a thief holds it now ("A CAS spell"). The owner's
  // counts race with a thief's new spell harmlessly: neither stores 0.
  void count_cas_op(std::uint32_t left) {
    if (left > 1) {
      cas_ops_.store(left - 1, std::memory_order_relaxed);
      return;
    }
    std::uint32_t unlocked = 0;
    if (!steal_lock_.compare_exchange_strong(unlocked, 1, std::memory_order_acquire)) return;
    cas_ops_.store(0, std::memory_order_relaxed);
    steal_lock_.store(0, std::memory_order_release);  // pairs with steal_next's acquire
  }

  // race_window_checked: in a checked build, a pause inside the owner's
  // plain op, so that the model tests' thieves land in it often, and a
  // thief that did not wait for it would take a G twice (lock_futex.hpp).
  static void race_window_checked() {
#ifdef GORT_CHECKED
    race_window();
#endif
  }

  // steal_next is the thief's side of "runnext without a CAS": the G it
  // took from runnext, or nullptr if it found none or gave up (another
  // thief at it, or an owner's op not over after a while).
  // victim_running: the owner was running a G through the thief's back-off
  // and left next in runnext all along: a take casts a CAS spell.
  T* steal_next(void (*barrier)(), bool victim_running) {
    std::uint32_t unlocked = 0;
    // Acquire: pairs with count_cas_op's release, so a thief sees a spell
    // that the owner ended before it as ended.
    if (!steal_lock_.compare_exchange_strong(unlocked, 1, std::memory_order_acquire)) return nullptr;
    T* next = nullptr;
    if (cas_ops_.load(std::memory_order_relaxed) != 0) {
      next = take_runnext_by_cas();  // under a spell the owner CASes too
    } else {
      barrier();  // membarrier: the owner's fence (see above)
      for (int i = 0; i < steal_wait_loads; ++i) {
        if (busy_.load(std::memory_order_acquire)) continue;  // pairs with end_plain_op's release
        next = take_runnext_by_cas();
        break;
      }
    }
    if (next != nullptr && victim_running) cas_ops_.store(SpellOps, std::memory_order_relaxed);
    steal_lock_.store(0, std::memory_order_release);  // pairs with begin_plain_op's acquire
    return next;
  }

  // take_runnext_by_cas: a thief's take of runnext, or nullptr if it is
  // empty or changes under the CAS (the owner's CAS path): then give up.
  // Acquire, as grab's loads: pairs with put_next's release.
  T* take_runnext_by_cas() {
    T* next = runnext_.load(std::memory_order_acquire);
    if (next != nullptr && !runnext_.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) next = nullptr;
    return next;
  }

  // check_bounds: the invariant, on the owner's snapshot (head read first).
  static void check_bounds([[maybe_unused]] std::uint32_t h, [[maybe_unused]] std::uint32_t t,
                           [[maybe_unused]] const char* what) {
#ifdef GORT_CHECKED
    if (t - h > N) [[unlikely]]
      gothrow(what);
#endif
  }

  // grab copies ceil(half) of this (victim) ring into thief's slots starting
  // at thief_tail, and commits by CAS on our head. Returns the count. Any P.
  template <class Backoff>
  std::uint32_t grab(runq& thief, std::uint32_t thief_tail, bool steal_runnext, bool victim_running, Backoff& backoff) {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);  // sync with other consumers
      std::uint32_t t = tail_.load(std::memory_order_acquire);  // sync with the producer
      std::uint32_t n = t - h;
      n = n - n / 2;
      if (n == 0) {
        if (!steal_runnext) return 0;
        T* next = runnext_.load(std::memory_order_acquire);
        if (next == nullptr) return 0;
        if (victim_running) {
          // The victim may have just readied next and be about to switch to
          // it (ping-pong between two Gs): stealing it would only bounce it
          // between threads. backoff waits and says whether to go on; Go
          // sleeps 3 us here (usleep(3)).
          if (!backoff()) return 0;
          next = runnext_.load(std::memory_order_acquire);
          if (next == nullptr) return 0;
        }
        if (auto barrier = heavy_barrier_.load(std::memory_order_relaxed)) {
          next = steal_next(barrier, victim_running);
          if (next == nullptr) return 0;
        } else if (!runnext_.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
          continue;  // Acquire, as the loads: pairs with put_next's release
        }
        thief.slot(thief_tail).store(next, std::memory_order_relaxed);  // steal publishes it
        return 1;
      }
      if (n > N / 2) continue;  // read head and tail inconsistently; retry
      // Relaxed: after tail's acquire; a slot the owner rewrites meanwhile
      // fails the CAS below. steal's tail store publishes our copies.
      for (std::uint32_t i = 0; i < n; ++i)
        thief.slot(thief_tail + i).store(slot(h + i).load(std::memory_order_relaxed), std::memory_order_relaxed);
      // Release: commits; pairs with put's acquire of head, so the owner
      // reuses the slots only after our reads of them.
      if (head_.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed)) return n;
    }
  }

  // How long a thief waits for an owner's plain op on runnext, in loads of
  // busy: the op is a few instructions, unless the owner's thread is
  // descheduled in it, and then the thief had better steal elsewhere.
  static constexpr int steal_wait_loads = 1024;

  // heavy_barrier_: the thieves' fence in asymmetric mode (membarrier);
  // nullptr: CAS mode. Set by set_heavy_barrier only.
  static inline std::atomic<void (*)()> heavy_barrier_{nullptr};

  alignas(64) std::atomic<std::uint32_t> head_{0};
  std::atomic<std::uint32_t> tail_{0};
  std::atomic<T*> runnext_{nullptr};
  std::atomic<bool> busy_{false};                // the owner's plain op on runnext is under way
  std::atomic<std::uint32_t> steal_lock_{0};     // a thief is taking runnext (asymmetric mode)
  std::atomic<std::uint32_t> cas_ops_{0};        // the owner's ops left in a CAS spell; 0: none
  std::atomic<T*> slots_[N] = {};
};

}  // namespace gort::rt
