// trace.cpp: the execution tracer. Go counterpart: trace.go (traceBuf,
// traceEvent, traceFlush, StartTrace/StopTrace, ReadTrace), with Go 1.22's
// per-M buffers (tracebuf.go, traceruntime.go's seqlock).
//
// What it records. Goroutines created, started, stopped (blocked with their
// wait reason, yielding, preempted, exited), made runnable (unparked);
// system calls entered and left; Ps acquired and released by Ms; steals,
// sysmon's preemption requests and P hand-offs, timers firing and polls
// that readied goroutines. Each event is a record of its kind, its time
// in cputicks, a goroutine, one argument and the P it is about, packed
// into a few bytes (tracebuf).
//
// Buffers: one per M (Go before 1.22 had one per P, and a locked global
// one for events written without a P). An event goes to the buffer of the
// M whose thread writes it, whatever it is about: sysmon taking a P from
// another M writes to sysmon's buffer, naming that M and P. So the writing
// thread owns the buffer outright, and the hot path takes no lock and does
// no I/O: a record is a few stores and a clock read; a ready waits in the
// M for its next record, which is most often the start that carries it
// ("Pending readies"). A full buffer goes to the writer thread's queue
// (tr.qlock, a lock per 64 KiB of records), which writes it raw to an
// unnamed temporary file in the trace's directory. The writer wakes every
// writer_period to take what was queued; an M wakes it only when
// writer_wake_queued buffers wait, since a wake is a futex call on the hot
// path and, the writer's CPU being idle, an interrupt to rouse it, per
// buffer. A thread with no M at all (a thread the runtime did not start,
// readying a G) writes to one global buffer under tr.glock.
//
// Stopping: the per-M seqlock. An M writing an event makes m.traceseq odd
// first, then checks trace_enabled, writes, and makes it even again.
// trace_stop clears trace_enabled, then waits for each M's count to be
// even before taking its buffer: every M then either had finished its
// event, or will see tracing off. The M's store and load are plain
// instructions, as in preempt.cpp's handshake: trace_stop's membarrier is
// the fence between them (a seq_cst fence on each side where the kernel
// has no membarrier). A signal handler that interrupts an M's write finds
// the count odd and records nothing (preempt.cpp makes it odd around the
// handler's own P take-over: a flush allocates).
//
// Orders. The M's loads of its own count, and its odd store, are relaxed:
// the count has no writer but the M's thread (its signal handler's too),
// and the fence after the odd store is what orders it for trace_stop. The
// even store is release, paired with take_buffers' acquire load: trace_stop
// sees the records and buffer pointers the event left. trace_enabled's
// acquire loads pair with trace_start's store, after which the writer and
// the files are set up; trace_on()'s relaxed load is only the hooks' hint,
// which the seqlock checks again. tr.fence is relaxed: trace_start stores
// it before enabling tracing, and it is the same for every trace of a
// process (whether membarrier works). Left open (issue 15): an M that has
// not synchronized with the process's first trace_start since may, in the
// model, still read the initial false there and skip its fence.
//
// Time. cputicks (rdtsc, the arm64 virtual counter) is cheaper than
// clock_gettime, and converted to ns at stop from the ticks and nanotime
// read at start and at stop. go_create and go_unpark records carry no
// time at all: the writer gives them the time of the same M's previous
// record plus 1 ns, never later than the truth (the readier's slice began
// then), so the arrow to the readied G's start never points back in time.
// A switch from one G straight to the next is one record (go_switch).
//
// Flows. A go_create or go_unpark record and the readied G's next start
// both carry the G's count of its readies, 1..127 cycling (g.traceflow):
// one byte each, where a flow id unique in the run took seven. The goid
// and the count pair them. The goid alone would not: an untimed ready is
// stamped earlier than it happened, maybe before an earlier start of the
// same G on another P, which the count tells apart.
//
// The file. At trace_stop the raw records are read back, each M's in the
// order it wrote them, merged by time (a start after the ready it ends,
// which a coarse clock alone does not promise: merge_causal), and written
// as Chrome's JSON Trace Event Format, which ui.perfetto.dev opens:
// process "Ps" with a track per P holding a slice per goroutine run (named
// G<id>, with why it ended), process "Ms" with a track per M holding the P
// it held and its system calls; flows (arrows) from a go() or a goready to
// the next start of the G it made runnable; instants for steals,
// preemptions, hand-offs, timers and polls. Each track holds one slice at
// a time: a slice opened while another is open closes that one (a record
// lost to a signal handler, or clocks of two CPUs a little apart, then
// cost a boundary, not the file); a slice open at the trace's stop is cut
// there, and one open at its start is shown from there. The file is only
// complete once trace_stop returns; a process that dies first leaves none.
//
// What the viewers make of it. An arrow binds to the slice it starts in,
// and, with "bp":"e", to the one it ends in. Its end is 1 ns into the run
// it leads to, where no viewer can take another run for it: at the run's
// first instant Catapult would take the run ending there, and Perfetto's
// importer, which sorts a slice before a flow end of the same time
// without "bp", the run after it. Perfetto's importer also takes events
// of one time in file order, so an anchor (json_writer::flow_start) comes
// before its arrow's start; and it takes tid 0 for the process's own
// thread, so P and M ids go out as id + 1 (json_writer::file_tid).
//
// Locks: tr.ctl (std::mutex) serializes trace_start and trace_stop and
// guards tr.active, tr.path and the clock pairs; the writer thread owns
// tr.raw while the trace runs. tr.qlock guards the full queue, the free
// list and tr.done; tr.glock guards tr.gbuf. Hooks run under runtime locks
// (releasep under sched.lock, trace_timer under timers.mu), so glock and
// qlock are leaves, in that order. trace_stop holds tr.ctl while it takes
// sched.lock to copy allm, and waits for no M while it holds a lock: an M
// finishing its event may be flushing a buffer (take_buffers). Their ranks
// (lockrank.hpp): trace_ctl first of all, trace_g and trace_q last;
// ranked_guard tells checked builds of each lock and unlock.
#include "runtime/trace.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gort/runtime.hpp"
#include "gort/sync.hpp"
#include "gort/trace.hpp"
#include "runtime/export_test.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {

std::atomic<bool> trace_enabled{false};

enum class trace_ev : std::uint8_t {
  go_create,    // goid: the new G; arg: flow id
  go_unpark,    // goid: the readied G; arg: flow id
  go_start,     // goid; arg: flow id (0: none)
  go_switch,    // go_start, ending the run of G from before it on p: end, reason
  go_stop,      // goid; end: trace_end; reason: wait_reason
  go_sys_call,  // goid; arg: M id
  go_sys_exit,  // goid; arg: M id; p: -1 if it got none
  proc_start,   // arg: M id
  proc_stop,    // arg: M id
  steal,        // goid: Gs taken; arg: victim P
  preempt,      // p: the P asked
  handoff,      // p: the P taken; arg: 1 held by a G, 0 a blocking() call
  timer,        // arg: timer_kind
  netpoll,      // goid: Gs readied
};

// trace_end: why a goroutine's run ended (Go: traceGoPark, traceGoSched,
// traceGoPreempt, traceGoEnd).
enum class trace_end : std::uint8_t { block, yield, preempt, exit };

struct trace_record {
  std::int64_t ticks = 0;  // cputicks(); 0: untimed (see "Time")
  std::uint64_t goid = 0;
  std::uint64_t arg = 0;
  std::int32_t p = -1;     // the P the event is about; -1: none
  trace_ev ev{};
  trace_end end{};         // go_stop, go_switch: how the run ended,
  std::uint8_t reason = 0; // and the wait_reason if it blocked
  std::uint64_t from = 0;  // go_switch: the G whose run ended
  bool fused = false;      // writer only: a fixed start that carries its ready (tracebuf)
};

// tracebuf: records packed as Go packs them, a few bytes each: a byte
// with the kind (and untimed_bit), then varints: the ticks since the
// buffer's previous timed record (timed records only), goid, arg, p + 1;
// and for go_stop and go_switch a byte each for end and reason, and a
// varint for from: few bytes for the writer to copy.
//
// The two records of every switch, a ready and a start, have fixed forms
// as well (fixed_bit in the kind), written with one or two word stores
// instead of a loop and a branch per field: a ready, untimed, in 8 bytes (kind, flow, p + 1 in 16 bits, goid in 32);
// a start or switch in 12 (kind, flow, end and reason in a byte, p + 1 in
// a byte, the ticks since the previous timed record and goid in 32 bits
// each). A fixed switch has no from: it is the G of the buffer's previous
// start (last_goid), which the reader tracks as well. A record whose fields
// do not fit (a goid past 2^32, a P past 254, a first record or one after
// a pause of seconds, a switch from another G) takes the varint form. A
// fixed start with fused_bit carries the ready that comes just before it
// in the M's stream, of the same G, flow and P (see "Pending readies"):
// the reader puts that go_unpark back in front of it.
struct tracebuf {
  static constexpr std::uint32_t size = 64 * 1024 - 32;
  static constexpr std::uint32_t max_record = 1 + 5 * 10 + 2;
  static constexpr unsigned char untimed_bit = 0x80;
  static constexpr unsigned char fixed_bit = 0x40;
  static constexpr unsigned char fused_bit = 0x80;  // on a fixed start; a ready's untimed_bit
  std::int64_t mid;           // the writing M's id; -1: the global buffer
  std::uint64_t last_ticks;   // the previous timed record's
  std::uint64_t last_goid;    // the previous start's G
  std::uint32_t len;          // bytes used
  unsigned char data[size];
};

namespace {

// trace_bufs_live: buffers allocated and not yet deleted, for the census
// (export_test.hpp); relaxed, a count. A buffer is allocated once per M a
// trace finds without one, and reused after.
std::atomic<std::int64_t> trace_bufs_live{0};

// ranked_guard: std::lock_guard for trace's std::mutexes (held across
// allocation and file writes, so not rt::mutex), with the lock-rank
// bookkeeping of checked builds (lockrank.hpp); in normal builds
// lock_guard's code.
class ranked_guard {
 public:
  ranked_guard(std::mutex& mu, lock_rank rank) : mu_(mu) {
    lock_acquire(&mu_, rank);
    mu_.lock();
  }
  ~ranked_guard() {
    lock_release(&mu_);
    mu_.unlock();
  }
  ranked_guard(const ranked_guard&) = delete;
  ranked_guard& operator=(const ranked_guard&) = delete;

 private:
  std::mutex& mu_;
};

struct tracer {
  std::mutex ctl;
  bool active = false;            // ctl
  std::string path;               // ctl
  std::FILE* raw = nullptr;       // the raw records: the writer's while active
  std::int64_t ticks0 = 0, ns0 = 0, ticks1 = 0, ns1 = 0;  // ctl: the clocks at start and stop
  std::atomic<bool> fence{false}; // no membarrier: writers fence themselves
  std::atomic<std::uint8_t> gen{0};  // trace_start's count, in the Ms' pending readies

  std::mutex qlock;
  std::condition_variable qcv;
  std::deque<tracebuf*> full;     // qlock
  std::vector<tracebuf*> free;    // qlock
  bool done = false;              // qlock
  std::thread writer;

  std::mutex glock;
  tracebuf* gbuf = nullptr;       // glock
};
tracer tr;

// The writer's rounds (see "Buffers").
constexpr auto writer_period = std::chrono::milliseconds(1);
constexpr std::size_t writer_wake_queued = 16;

// trace_flush queues full (if any) for the writer and returns an empty
// buffer for mid. Go: traceFlush.
[[gnu::noinline]] tracebuf* trace_flush(tracebuf* full, std::int64_t mid) {
  ranked_guard lk(tr.qlock, lock_rank::trace_q);
  if (full != nullptr) {
    tr.full.push_back(full);
    if (tr.full.size() == writer_wake_queued) tr.qcv.notify_one();
  }
  tracebuf* b;
  if (tr.free.empty()) {
    b = new tracebuf;
    trace_bufs_live.fetch_add(1, std::memory_order_relaxed);
  } else {
    b = tr.free.back();
    tr.free.pop_back();
  }
  b->mid = mid;
  b->last_ticks = 0;
  b->last_goid = 0;
  b->len = 0;
  return b;
}

[[gnu::always_inline]] inline unsigned char* put_varint(unsigned char* p, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = static_cast<unsigned char>(v | 0x80);
  *p++ = static_cast<unsigned char>(v);
  return p;
}

// Buffers come back from the writer thread, which has read them: their
// lines sit in its core's cache, and an M's first store to each waits
// while the line is taken back. The runtime's next locked instruction (a
// channel's lock, a G's status) then waits for that store, so every M
// stalled once per line on the hooks' hot path, most of the trace's cost on
// pingpong. append asks for the line prefetch_ahead bytes on, for writing,
// a few dozen records before it is written: PREFETCHW on x86-64 where the
// CPU has it (AMD's since K8, Intel's since Broadwell; CPUID tells),
// PRFM PSTL1KEEP on arm64.
constexpr std::uint32_t prefetch_ahead = 1024;

#if defined(__x86_64__)
bool cpu_has_prefetchw() {
  unsigned a, b, c, d;
  return __get_cpuid(0x80000001, &a, &b, &c, &d) != 0 && (c & bit_PRFCHW) != 0;
}
const bool has_prefetchw = cpu_has_prefetchw();
#endif

// prefetch_ahead_of asks for the line prefetch_ahead bytes past b's len.
[[gnu::always_inline]] inline void prefetch_ahead_of(tracebuf* b, std::uint32_t len) {
  if (len >= tracebuf::size - prefetch_ahead) return;
  const unsigned char* p = b->data + len + prefetch_ahead;
#if defined(__x86_64__)
  if (has_prefetchw) asm volatile("prefetchw %0" : : "m"(*p));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

bool ends_run(trace_ev ev) { return ev == trace_ev::go_stop || ev == trace_ev::go_switch; }
bool readies(trace_ev ev) { return ev == trace_ev::go_create || ev == trace_ev::go_unpark; }
bool starts_run(trace_ev ev) { return ev == trace_ev::go_start || ev == trace_ev::go_switch; }

static_assert(num_wait_reasons <= 64, "the fixed start record keeps a wait reason in 6 bits");

// The fixed records are words stored as they are: their layout is
// little-endian, as every target's is.
static_assert(std::endian::native == std::endian::little);

template <class Word>
[[gnu::always_inline]] inline void put_word(unsigned char* p, Word w) {
  std::memcpy(p, &w, sizeof w);
}

constexpr std::uint32_t fixed_max = 12;  // the largest fixed record's bytes

// ready_word: ready e's fixed record, its P (p + 1) in the 16 bits from 16,
// if its fields fit them (and its goid 32 bits), else 0.
[[gnu::always_inline]] inline std::uint64_t ready_word(const trace_record& e) {
  const auto pp1 = static_cast<std::uint64_t>(static_cast<std::uint32_t>(e.p + 1));
  if ((e.goid >> 32) != 0 || pp1 >> 16 != 0) return 0;
  return static_cast<std::uint64_t>(e.ev) | tracebuf::fixed_bit | tracebuf::untimed_bit | e.arg << 8 | pp1 << 16 |
         e.goid << 32;
}

// ready_of reads a ready back from its fixed record: ready_word's inverse.
trace_record ready_of(std::uint64_t w) {
  return {.goid = w >> 32,
          .arg = (w >> 8) & 0xff,
          .p = static_cast<std::int32_t>((w >> 16) & 0xffff) - 1,
          .ev = static_cast<trace_ev>(w & ~std::uint64_t{tracebuf::fixed_bit | tracebuf::untimed_bit} & 0xff)};
}

// put_fixed writes e in its fixed form (see tracebuf) if it has one and its
// fields fit, and returns the bytes written, else 0. delta: e's ticks since
// the previous timed record; last_goid: the previous start's G.
[[gnu::always_inline]] inline std::uint32_t put_fixed(unsigned char* p, const trace_record& e, std::uint64_t delta,
                                                      std::uint64_t last_goid) {
  const auto kind = static_cast<std::uint64_t>(e.ev) | tracebuf::fixed_bit;
  const auto pp1 = static_cast<std::uint64_t>(static_cast<std::uint32_t>(e.p + 1));
  if (readies(e.ev)) {
    const std::uint64_t w = ready_word(e);
    if (w == 0) return 0;
    put_word(p, w);
    return 8;
  }
  if (starts_run(e.ev)) {
    if (((e.goid | delta) >> 32) != 0 || pp1 >= 1u << 8 || (e.ev == trace_ev::go_switch && e.from != last_goid))
      return 0;
    const std::uint64_t end_reason = static_cast<std::uint64_t>(e.end) | std::uint64_t{e.reason} << 2;
    put_word(p, kind | (e.fused ? tracebuf::fused_bit : 0) | e.arg << 8 | end_reason << 16 | pp1 << 24 | delta << 32);
    put_word(p + 8, static_cast<std::uint32_t>(e.goid));
    return 12;
  }
  return 0;
}

// append packs e into *slot's buffer with varints (see tracebuf),
// flushing it first if it is full. Inlined into each hook, as trace_event
// and put_varint: a hook is one call. The buffer's pointer and counters
// are read into locals before the first byte is stored: a store through
// unsigned char* may alias anything, and would otherwise make the compiler
// reload them after each.
[[gnu::always_inline]] inline void append(tracebuf*& slot, std::int64_t mid, const trace_record& e) {
  tracebuf* b = slot;
  if (b == nullptr || tracebuf::size - b->len < tracebuf::max_record) [[unlikely]]
    slot = b = trace_flush(b, mid);
  const std::uint32_t len = b->len;
  const std::uint64_t last_ticks = b->last_ticks;
  unsigned char* const start = b->data + len;
  prefetch_ahead_of(b, len);
  unsigned char* p = start;
  const auto ticks = static_cast<std::uint64_t>(e.ticks);
  *p++ = static_cast<unsigned char>(e.ev) | (ticks == 0 ? tracebuf::untimed_bit : 0);
  if (ticks != 0)
    p = put_varint(p, ticks - last_ticks);  // modulo 2^64: a thread that moved CPUs may see a smaller count
  p = put_varint(p, e.goid);
  p = put_varint(p, e.arg);
  p = put_varint(p, static_cast<std::uint64_t>(e.p + 1));
  if (ends_run(e.ev)) {
    *p++ = static_cast<unsigned char>(e.end);
    *p++ = e.reason;
    p = put_varint(p, e.from);
  }
  if (ticks != 0) b->last_ticks = ticks;
  if (starts_run(e.ev)) b->last_goid = e.goid;
  b->len = len + static_cast<std::uint32_t>(p - start);
}

// stamp: a record's time is read for it, or left out (untimed: see "Time").
enum class stamp : std::uint8_t { now, untimed };

// trace_event_global records e, stamped now, from a thread with no M, in
// the one global buffer. Out of line: the hooks' hot path is an M's.
[[gnu::noinline, gnu::cold]] void trace_event_global(trace_record e) {
  e.ticks = cputicks();  // one buffer for many threads: no "previous event"
  ranked_guard lk(tr.glock, lock_rank::trace_g);  // orders us against take_buffers' take of gbuf
  if (trace_enabled.load(std::memory_order_acquire)) append(tr.gbuf, -1, e);
}

// write_begin enters mp's seqlock (see "Stopping") and returns whether to
// write: not inside the M's own write, or its signal handler's, and only
// while the trace is on. A true is followed by write_end(mp, seq).
[[gnu::always_inline]] inline bool write_begin(m* mp, std::uint32_t& seq) {
  seq = mp->traceseq.load(std::memory_order_relaxed);
  if (seq & 1) return false;
  mp->traceseq.store(seq + 1, std::memory_order_relaxed);
  if (tr.fence.load(std::memory_order_relaxed))
    std::atomic_thread_fence(std::memory_order_seq_cst);
  else
    std::atomic_signal_fence(std::memory_order_seq_cst);  // trace_stop's membarrier fences
  if (trace_enabled.load(std::memory_order_acquire)) return true;
  mp->traceseq.store(seq + 2, std::memory_order_release);
  return false;
}

[[gnu::always_inline]] inline void write_end(m* mp, std::uint32_t seq) {
  mp->traceseq.store(seq + 2, std::memory_order_release);
}

// append_fixed writes e in its fixed form into b (see tracebuf) and
// returns true, or returns false, having written nothing, where there is
// no buffer yet, it has no room, or e has no fixed form that fits.
[[gnu::always_inline]] inline bool append_fixed(tracebuf* b, const trace_record& e) {
  const std::uint32_t len = b != nullptr ? b->len : tracebuf::size;
  const auto ticks = static_cast<std::uint64_t>(e.ticks);
  const std::uint32_t n =
      tracebuf::size - len < fixed_max ? 0 : put_fixed(b->data + len, e, ticks - b->last_ticks, b->last_goid);
  if (n == 0) return false;
  prefetch_ahead_of(b, len);
  if (ticks != 0) b->last_ticks = ticks;
  if (starts_run(e.ev)) b->last_goid = e.goid;
  b->len = len + n;
  return true;
}

// put_record writes e into *slot, in its fixed form where it has one that
// fits, and returns whether it did.
bool put_record(tracebuf*& slot, std::int64_t mid, const trace_record& e) {
  if (append_fixed(slot, e)) return true;
  append(slot, mid, e);
  return false;
}

// Pending readies. A goready is most often followed, on the same M and
// with no record between, by the start of the G it readied: a channel's
// sender wakes the receiver, then parks, and the receiver runs next from
// runnext. So a ready is not written when it happens: the M keeps it
// (m.tracepending), and the M's next record writes it first or, if that
// record is the start of the same G on the same P, carries it (fused_bit):
// a switch's two records in one, and a ready hook with no seqlock, no
// buffer and no clock. Its place in the M's stream, and so its time
// ("Time"), is the one it would have had. The start's flow is the ready's
// count: a G is readied once between two starts.
//
// The M keeps the ready's fields as they were, since the G may start
// elsewhere, end, and be reused before the M writes them: its goid, and
// in meta its flow count, P (+ 1) and trace_start's count (tr.gen), so that
// a ready stored by a hook that ran on past trace_stop is dropped by the
// next trace, not written into it. A start carries the ready when its G,
// flow and P match: two compares on the start's path. Only unparks are
// kept, one at a time: a ready while the M keeps one is written after it,
// and creates come in runs (a G starting many), where keeping each would
// only put off the one before. Only the M's thread keeps a ready, outside
// the seqlock; it and take_buffers (once the M's count is even) take one,
// in the seqlock. A signal handler that interrupts the M's write finds the
// count odd and records nothing, as for any record.
using trace_pending = m::trace_pending;

// pending_meta: meta for a ready of flow count `flow` (under 256: a flow
// is 1 to 127) on P p (-1: none; p + 1 fits 16 bits), in trace gen.
static_assert(max_gomaxprocs < 0xffff, "a P + 1 fits meta's 16 bits");
[[gnu::always_inline]] inline std::uint32_t pending_meta(std::uint64_t flow, std::int32_t p, std::uint8_t gen) {
  return static_cast<std::uint32_t>(flow) | static_cast<std::uint32_t>(p + 1) << 8 | std::uint32_t{gen} << 24;
}

// pend_ready keeps unpark e as the M's pending ready and returns true;
// false where the M already keeps one, or e's fields do not fit meta
// (only a test's records do not).
[[gnu::always_inline]] inline bool pend_ready(trace_pending& pd, const trace_record& e, std::uint8_t gen) {
  if (pd.meta.load(std::memory_order_relaxed) != 0 || (e.arg >> 8 | static_cast<std::uint32_t>(e.p + 1) >> 16) != 0)
    return false;
  pd.goid.store(e.goid, std::memory_order_relaxed);
  pd.meta.store(pending_meta(e.arg, e.p, gen), std::memory_order_release);
  return true;
}

// flush_pending writes the pending ready, if there is one of this trace,
// into *slot; returns false if it took the varint form. meta's acquire
// pairs with pend_ready's release: take_buffers, on another thread, may
// flush a ready that a hook running on past trace_stop has just kept, and
// must read its goid with it.
bool flush_pending(trace_pending& pd, tracebuf*& slot, std::int64_t mid) {
  const std::uint32_t meta = pd.meta.load(std::memory_order_acquire);
  if (meta == 0) return true;
  pd.meta.store(0, std::memory_order_relaxed);
  if (meta >> 24 != tr.gen.load(std::memory_order_relaxed)) return true;
  return put_record(slot, mid,
                    {.goid = pd.goid.load(std::memory_order_relaxed),
                     .arg = meta & 0xff,
                     .p = static_cast<std::int32_t>((meta >> 8) & 0xffff) - 1,
                     .ev = trace_ev::go_unpark});
}

// append_start writes start e in its fixed form into b, carrying the M's
// pending ready meta (0: none) where it is e's own, and returns true; or
// returns false, having written nothing, where the ready is another's (to
// be written first) or e has no fixed form that fits.
[[gnu::always_inline]] inline bool append_start(tracebuf* b, const trace_pending& pd, std::uint32_t meta,
                                                trace_record e, std::uint8_t gen) {
  if (meta != 0) {
    if (meta != pending_meta(e.arg, e.p, gen) || pd.goid.load(std::memory_order_relaxed) != e.goid) return false;
    e.fused = true;
  }
  return append_fixed(b, e);
}

// trace_event records e in the buffer of mp, the calling thread's M,
// stamping it now unless untimed. Go: traceEvent.
[[gnu::always_inline]] inline void trace_event(m* mp, trace_record e, stamp st = stamp::now) {
  if (mp == nullptr) [[unlikely]] {
    trace_event_global(e);
    return;
  }
  if (st == stamp::now) e.ticks = cputicks();
  std::uint32_t seq;
  if (!write_begin(mp, seq)) return;
  flush_pending(mp->tracepending, mp->tbuf, mp->id);
  put_record(mp->tbuf, mp->id, e);
  write_end(mp, seq);
}

std::int32_t pid_of(const p* pp) { return pp != nullptr ? pp->id : -1; }
std::int32_t curpid(const m* mp) { return mp != nullptr ? pid_of(mp->p) : -1; }
std::uint64_t mid_of(const m* mp) { return static_cast<std::uint64_t>(mp->id); }

constexpr std::uint8_t trace_flow_pending = 0x80;

// ready_record: gp was made runnable (ev: go_create or go_unpark) by mp's
// thread; count: its flow (see "Flows").
[[gnu::always_inline]] inline trace_record ready_record(trace_ev ev, const g* gp, std::uint8_t count, const m* mp) {
  return {.goid = gp->goid, .arg = count, .p = curpid(mp), .ev = ev};
}

// try_fixed records ready e in its fixed form in mp's buffer, inside the
// seqlock, and returns true; or returns false, having written nothing,
// where there is no M, the M keeps a pending ready (to be written first),
// or append_fixed cannot: the hook then takes ready_packed, out of line.
// Kept apart from append, and e never passed to a call on this path: with
// only the fixed form inline, and e in registers, a hook saves few
// registers and stores no record on its stack.
[[gnu::always_inline]] inline bool try_fixed(m* mp, const trace_record& e) {
  std::uint32_t seq;
  if (mp == nullptr) return false;
  if (!write_begin(mp, seq)) return true;
  const bool done = mp->tracepending.meta.load(std::memory_order_relaxed) == 0 && append_fixed(mp->tbuf, e);
  write_end(mp, seq);
  return done;
}

[[gnu::noinline]] void ready_packed(trace_ev ev, const g* gp, std::uint8_t count, m* mp) {
  trace_event(mp, ready_record(ev, gp, count, mp), stamp::untimed);
}

// ready: gp was made runnable; its next start ends the flow. An unpark is
// kept pending where it can be: no clock, no buffer, no seqlock (an odd
// count still means a write this one interrupted: nothing is recorded, as
// trace_event does). A create, which no start carries, is written.
[[gnu::always_inline]] inline void ready(trace_ev ev, m* mp, g* gp) {
  const std::uint8_t last = gp->traceflow & ~trace_flow_pending;
  const std::uint8_t count = last == 127 ? 1 : last + 1;
  gp->traceflow = count | trace_flow_pending;
  const trace_record e = ready_record(ev, gp, count, mp);
  if (ev == trace_ev::go_unpark && mp != nullptr && (mp->traceseq.load(std::memory_order_relaxed) & 1) == 0 &&
      pend_ready(mp->tracepending, e, tr.gen.load(std::memory_order_relaxed))) [[likely]]
    return;
  if (!try_fixed(mp, e)) [[unlikely]]
    ready_packed(ev, gp, count, mp);
}

// flow_of: the count of the ready that gp's start ends, 0 if none (a G
// made runnable before the trace began).
std::uint8_t flow_of(g* gp) {
  const std::uint8_t f = gp->traceflow;
  gp->traceflow = f & ~trace_flow_pending;
  return f & trace_flow_pending ? f & ~trace_flow_pending : 0;
}

// end_of: how gp's run ended, from its status, which it has just left
// Grunning for.
[[gnu::always_inline]] inline trace_end end_of(const g* gp) {
  switch (gp->status()) {
    case gstatus::Gdead:
      return trace_end::exit;
    case gstatus::Grunnable:
      // preempt: a yield at sysmon's request. Not p.preempt, which a switch
      // to the next G's new slice has cleared by now (execute_prepare).
      return gp->preempted ? trace_end::preempt : trace_end::yield;
    default:
      return trace_end::block;
  }
}

// start_record: gp starts on its M, after from (g0, or a G whose run this
// ends); flow: the ready it ends.
[[gnu::always_inline]] inline trace_record start_record(const g* from, const g* gp, std::uint8_t flow) {
  const p* pp = gp->m->p;
  trace_record e{.goid = gp->goid, .arg = flow, .p = pid_of(pp), .ev = trace_ev::go_start};
  if (!from->is_g0) {
    e.ev = trace_ev::go_switch;
    e.end = end_of(from);
    e.reason = static_cast<std::uint8_t>(from->waitreason);
    e.from = from->goid;
  }
  return e;
}

// start_slow writes what trace_go_start could not in one fixed record:
// the pending ready, then the start, in the seqlock the hook holds.
// Rebuilt here from the G, so that the hook's record stays in registers.
[[gnu::noinline]] void start_slow(m* mp, const g* from, const g* gp, std::uint8_t flow, std::int64_t ticks) {
  trace_record e = start_record(from, gp, flow);
  e.ticks = ticks;
  flush_pending(mp->tracepending, mp->tbuf, mp->id);
  put_record(mp->tbuf, mp->id, e);
}

}  // namespace

// ---- the hooks (trace.hpp) ----

void trace_go_create(g* newg) { ready(trace_ev::go_create, getm(), newg); }
void trace_go_unpark(m* mp, g* gp) { ready(trace_ev::go_unpark, mp, gp); }

void trace_go_stop(g* gp) {
  const p* pp = gp->m->p;
  trace_event(gp->m, {.goid = gp->goid,
                      .p = pid_of(pp),
                      .ev = trace_ev::go_stop,
                      .end = end_of(gp),
                      .reason = static_cast<std::uint8_t>(gp->waitreason)});
}

// A switch from one G straight to the next is one record, and with the
// ready it ends, when that is the M's pending one, still one.
void trace_go_start(g* from, g* gp) {
  const std::uint8_t flow = flow_of(gp);
  trace_record e = start_record(from, gp, flow);
  e.ticks = cputicks();
  m* mp = gp->m;
  std::uint32_t seq;
  if (!write_begin(mp, seq)) return;
  const std::uint32_t meta = mp->tracepending.meta.load(std::memory_order_relaxed);
  if (append_start(mp->tbuf, mp->tracepending, meta, e, tr.gen.load(std::memory_order_relaxed))) [[likely]] {
    if (meta != 0) mp->tracepending.meta.store(0, std::memory_order_relaxed);
  } else {
    start_slow(mp, from, gp, flow, e.ticks);
  }
  write_end(mp, seq);
}

// The M they name is the one the G runs on, which is not the writer's when
// sysmon takes a P.
void trace_go_sys_call(g* gp, m* mp, p* pp) {
  trace_event(getm(), {.goid = gp->goid, .arg = mid_of(mp), .p = pid_of(pp), .ev = trace_ev::go_sys_call});
}

void trace_go_sys_exit(g* gp, m* mp, p* pp) {
  trace_event(getm(), {.goid = gp->goid, .arg = mid_of(mp), .p = pid_of(pp), .ev = trace_ev::go_sys_exit});
}

void trace_proc_start(m* mp, p* pp) {
  trace_event(getm(), {.arg = mid_of(mp), .p = pid_of(pp), .ev = trace_ev::proc_start});
}

void trace_proc_stop(m* mp, p* pp) {
  trace_event(getm(), {.arg = mid_of(mp), .p = pid_of(pp), .ev = trace_ev::proc_stop});
}

void trace_steal(p* victim, std::uint32_t n) {
  m* mp = getm();
  trace_event(mp, {.goid = n, .arg = static_cast<std::uint64_t>(victim->id), .p = curpid(mp), .ev = trace_ev::steal});
}

void trace_preempt(p* pp) { trace_event(getm(), {.p = pid_of(pp), .ev = trace_ev::preempt}); }

void trace_handoff(p* pp, bool held) { trace_event(getm(), {.arg = held, .p = pid_of(pp), .ev = trace_ev::handoff}); }

void trace_timer(timer_kind kind) {
  m* mp = getm();
  trace_event(mp, {.arg = static_cast<std::uint64_t>(kind), .p = curpid(mp), .ev = trace_ev::timer});
}

void trace_netpoll(int n) {
  m* mp = getm();
  trace_event(mp, {.goid = static_cast<std::uint64_t>(n), .p = curpid(mp), .ev = trace_ev::netpoll});
}

namespace {

// ---- the writer thread ----

void write_raw(const tracebuf* b) {
  std::fwrite(&b->mid, sizeof b->mid, 1, tr.raw);
  std::fwrite(&b->len, sizeof b->len, 1, tr.raw);
  std::fwrite(b->data, 1, b->len, tr.raw);
}

// writer_loop: the writer thread, until trace_stop sets done and the queue
// is empty. Go: the goroutine that calls ReadTrace.
void writer_loop() {
  // The lock-rank bookkeeping by hand around qcv's unique_lock: held, for
  // this thread's checks, while the wait has let go of it.
  std::unique_lock<std::mutex> lk(tr.qlock, std::defer_lock);
  lock_acquire(&tr.qlock, lock_rank::trace_q);
  lk.lock();
  for (;;) {
    tr.qcv.wait_for(lk, writer_period, [] { return !tr.full.empty() || tr.done; });
    std::deque<tracebuf*> batch;
    batch.swap(tr.full);
    lock_release(&tr.qlock);
    lk.unlock();
    for (const tracebuf* b : batch) write_raw(b);
    lock_acquire(&tr.qlock, lock_rank::trace_q);
    lk.lock();
    tr.free.insert(tr.free.end(), batch.begin(), batch.end());
    if (tr.done && tr.full.empty()) {
      lock_release(&tr.qlock);
      return;
    }
  }
}

// ---- the JSON file ----

// A record placed in time: ns since the trace began, and the M that wrote it.
struct timed_event {
  std::int64_t ns;
  std::int64_t mid;
  trace_record e;
};

// read_raw reads the raw records back, each M's in order, and times them
// (see "Time").
const unsigned char* get_varint(const unsigned char* p, std::uint64_t& v) {
  v = 0;
  for (int shift = 0;; shift += 7) {
    const unsigned char c = *p++;
    v |= static_cast<std::uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) return p;
  }
}

template <class Word>
Word get_word(const unsigned char* p) {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// get_fixed reads the fixed record at p into e (its ev already set), and
// returns the byte after it; last: the previous timed record's ticks;
// last_goid: the previous start's G.
const unsigned char* get_fixed(const unsigned char* p, trace_record& e, std::uint64_t& last, std::uint64_t last_goid) {
  const auto w = get_word<std::uint64_t>(p);
  if (readies(e.ev)) {
    e = ready_of(w);
    return p + 8;
  }
  e.arg = (w >> 8) & 0xff;
  e.end = static_cast<trace_end>((w >> 16) & 3);
  e.reason = static_cast<std::uint8_t>((w >> 18) & 0x3f);
  e.p = static_cast<std::int32_t>((w >> 24) & 0xff) - 1;
  last += w >> 32;
  e.ticks = static_cast<std::int64_t>(last);
  e.goid = get_word<std::uint32_t>(p + 8);
  if (e.ev == trace_ev::go_switch) e.from = last_goid;
  return p + 12;
}

// get_packed reads the varint record at p into e, as get_fixed does.
const unsigned char* get_packed(const unsigned char* p, trace_record& e, std::uint64_t& last) {
  std::uint64_t v;
  if (!(*p++ & tracebuf::untimed_bit)) {
    p = get_varint(p, v);
    last += v;
    e.ticks = static_cast<std::int64_t>(last);
  }
  p = get_varint(p, e.goid);
  p = get_varint(p, e.arg);
  p = get_varint(p, v);
  e.p = static_cast<std::int32_t>(v) - 1;
  if (ends_run(e.ev)) {
    e.end = static_cast<trace_end>(*p++);
    e.reason = *p++;
    p = get_varint(p, e.from);
  }
  return p;
}

// unpack appends the len bytes of records at p to s (see tracebuf).
void unpack(const unsigned char* p, std::uint32_t len, std::vector<trace_record>& s) {
  const unsigned char* end = p + len;
  std::uint64_t last = 0, last_goid = 0;
  while (p < end) {
    trace_record e;
    const unsigned char kind = *p;
    e.ev = static_cast<trace_ev>(kind & ~(tracebuf::untimed_bit | tracebuf::fixed_bit));
    p = kind & tracebuf::fixed_bit ? get_fixed(p, e, last, last_goid) : get_packed(p, e, last);
    if (starts_run(e.ev)) {
      last_goid = e.goid;
      if ((kind & tracebuf::fixed_bit) && (kind & tracebuf::fused_bit))
        s.push_back({.goid = e.goid, .arg = e.arg, .p = e.p, .ev = trace_ev::go_unpark});
    }
    s.push_back(e);
  }
}

// times places one M's records in time: ns since the trace began, each at
// least 1 ns after the one before it (a clock read twice in one tick, an
// untimed ready).
std::vector<timed_event> times(std::int64_t mid, const std::vector<trace_record>& s, std::int64_t ticks0,
                               double ns_per_tick) {
  std::vector<timed_event> out;
  out.reserve(s.size());
  std::int64_t last = -1;
  for (const trace_record& e : s) {
    std::int64_t ns = last + 1;
    if (e.ticks != 0) ns = std::max(ns, static_cast<std::int64_t>((e.ticks - ticks0) * ns_per_tick));
    out.push_back({last = ns, mid, e});
  }
  return out;
}

bool ends_flow(const trace_record& e) { return starts_run(e.ev) && e.arg != 0; }
std::uint64_t flow_key(const trace_record& e) { return e.goid << 7 | e.arg; }

// merge_causal merges the Ms' records in time order, except that a start
// never comes before the ready whose flow it ends (see "Flows"): with a
// coarse clock (arm64's counter ticks every 16 to 40 ns) a start on one M
// can read the same tick as the readier's record before its untimed ready,
// which then sorts after the start. Such a start waits for its ready, and
// every record takes a time at least 1 ns after the one merged before it.
// Per flow key, readies and the starts that end them alternate; a start
// whose ready is not in the trace (one lost to a signal handler) waits for
// none, and if every M's next record waits, the earliest goes anyway.
std::vector<timed_event> merge_causal(const std::vector<std::vector<timed_event>>& streams) {
  struct flow_count {
    std::size_t readies = 0, readies_merged = 0, starts_merged = 0;
  };
  std::unordered_map<std::uint64_t, flow_count> flows;
  std::size_t total = 0;
  for (const auto& s : streams) {
    total += s.size();
    for (const timed_event& te : s)
      if (readies(te.e.ev)) ++flows[flow_key(te.e)].readies;
  }
  using head = std::pair<std::int64_t, std::size_t>;  // (ns, stream)
  std::priority_queue<head, std::vector<head>, std::greater<>> ready_heads;
  std::unordered_multimap<std::uint64_t, std::size_t> waiting;  // flow key -> stream
  std::vector<std::size_t> pos(streams.size(), 0);
  const auto push_head = [&](std::size_t i) {
    if (pos[i] < streams[i].size()) ready_heads.push({streams[i][pos[i]].ns, i});
  };
  for (std::size_t i = 0; i < streams.size(); ++i) push_head(i);
  std::vector<timed_event> all;
  all.reserve(total);
  std::int64_t last = -1;
  while (all.size() < total) {
    bool forced = false;
    if (ready_heads.empty()) {  // every head waits: the earliest goes
      auto first = std::min_element(waiting.begin(), waiting.end(), [&](const auto& a, const auto& b) {
        return streams[a.second][pos[a.second]].ns < streams[b.second][pos[b.second]].ns;
      });
      ready_heads.push({streams[first->second][pos[first->second]].ns, first->second});
      waiting.erase(first);
      forced = true;
    }
    const std::size_t i = ready_heads.top().second;
    ready_heads.pop();
    timed_event te = streams[i][pos[i]];
    if (ends_flow(te.e) && !forced) {
      const flow_count& f = flows[flow_key(te.e)];
      if (f.readies_merged <= f.starts_merged && f.readies > f.starts_merged) {
        waiting.emplace(flow_key(te.e), i);
        continue;
      }
    }
    te.ns = last = std::max(te.ns, last + 1);
    all.push_back(te);
    ++pos[i];
    push_head(i);
    if (ends_flow(te.e)) ++flows[flow_key(te.e)].starts_merged;
    if (readies(te.e.ev)) {
      ++flows[flow_key(te.e)].readies_merged;
      auto [w, end] = waiting.equal_range(flow_key(te.e));
      for (auto it = w; it != end; ++it) push_head(it->second);
      waiting.erase(w, end);
    }
  }
  return all;
}

std::vector<timed_event> read_raw() {
  std::map<std::int64_t, std::vector<trace_record>> streams;
  std::rewind(tr.raw);
  std::int64_t mid;
  std::uint32_t len;
  std::vector<unsigned char> bytes;
  while (std::fread(&mid, sizeof mid, 1, tr.raw) == 1 && std::fread(&len, sizeof len, 1, tr.raw) == 1) {
    bytes.resize(len);
    if (std::fread(bytes.data(), 1, len, tr.raw) != len) break;
    unpack(bytes.data(), len, streams[mid]);
  }
  const double ns_per_tick = tr.ticks1 > tr.ticks0 ? double(tr.ns1 - tr.ns0) / double(tr.ticks1 - tr.ticks0) : 1.0;
  std::vector<std::vector<timed_event>> timed;
  for (const auto& [id, s] : streams) timed.push_back(times(id, s, tr.ticks0, ns_per_tick));
  return merge_causal(timed);
}

// json_writer turns the timed records into the file, keeping for each track
// its one open slice, and the flows whose start it has seen.
class json_writer {
 public:
  explicit json_writer(std::FILE* f) : f_(f) {
    out_ = "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"gort\"},\"traceEvents\":[\n";
    out_ += "{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"Ps\"}}";
    out_ += ",\n{\"ph\":\"M\",\"pid\":2,\"name\":\"process_name\",\"args\":{\"name\":\"Ms\"}}";
    // Ps above Ms: viewers sort processes by this index.
    out_ += ",\n{\"ph\":\"M\",\"pid\":1,\"name\":\"process_sort_index\",\"args\":{\"sort_index\":0}}";
    out_ += ",\n{\"ph\":\"M\",\"pid\":2,\"name\":\"process_sort_index\",\"args\":{\"sort_index\":1}}";
  }

  void event(const timed_event& te);
  void finish(std::int64_t end_ns);

 private:
  struct track_key {
    int pid;  // 1: a P, 2: an M
    std::int64_t tid;
    bool operator<(const track_key& o) const { return pid != o.pid ? pid < o.pid : tid < o.tid; }
  };
  struct track {
    bool open = false, seen = false;
    std::string name;    // of the open slice
    std::uint64_t key = 0;  // what the open slice is: a goid, or a P for an M's
    std::int64_t start = 0;
  };
  static constexpr std::uint64_t pkey = 1ull << 63;  // an M's slice holding a P

  track& at(track_key k) { return tracks_[k]; }
  void open(track_key k, std::string name, std::uint64_t key, std::int64_t ns);
  void close(track_key k, std::uint64_t key, std::int64_t ns, const char* end, const std::string& name);
  void close_any(track_key k, std::uint64_t goid, std::int64_t ns, const char* end);
  void slice(track_key k, const track& t, std::int64_t end_ns, const char* end);
  static std::string head_of(const char* ph, track_key k, std::int64_t ns);
  void head(const char* ph, track_key k, std::int64_t ns) { out_ += head_of(ph, k, ns); }
  void instant(track_key k, std::int64_t ns, const char* name, const std::string& args);
  struct pending_anchor {
    std::int64_t ns;
    const char* name;
    std::uint64_t goid;
    std::string flow_start;  // the flow's "s" event, written after the anchor
  };
  void flow_start(track_key k, std::int64_t ns, const char* name, std::uint64_t goid, std::uint64_t id);
  void write_anchor(track_key k, const pending_anchor& a);
  void write_pending(track_key k);
  void flush_if_big();
  static std::string track_name(const track_key& k);
  static std::int64_t file_tid(const track_key& k);

  std::FILE* f_;
  std::string out_;
  std::map<track_key, track> tracks_;
  struct flow {
    const char* name;
    std::uint64_t id;
  };
  std::unordered_map<std::uint64_t, flow> flows_;  // started flows, by goid and count
  std::uint64_t nflows_ = 0;
  std::map<track_key, std::vector<pending_anchor>> pending_;  // anchor's, on tracks with no slice yet
};

std::string us(std::int64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%lld.%03lld", static_cast<long long>(ns / 1000), static_cast<long long>(ns % 1000));
  return b;
}

std::string gname(std::uint64_t goid) { return "G" + std::to_string(goid); }

const char* end_string(const trace_record& e) {
  switch (e.end) {
    case trace_end::block:
      return wait_reason_string(static_cast<wait_reason>(e.reason));
    case trace_end::yield:
      return "yield";
    case trace_end::preempt:
      return "preempted";
    case trace_end::exit:
      return "exit";
  }
  return "?";
}

// file_tid: a track's tid in the file. Perfetto's importer takes tid 0
// for the process's own thread and moves it onto another track, so a P or
// M id goes out as id + 1, and the track of threads without an M as the
// largest int.
std::int64_t json_writer::file_tid(const track_key& k) {
  return k.tid < 0 ? std::numeric_limits<std::int32_t>::max() : k.tid + 1;
}

std::string json_writer::head_of(const char* ph, track_key k, std::int64_t ns) {
  return std::string(",\n{\"ph\":\"") + ph + "\",\"pid\":" + std::to_string(k.pid) +
         ",\"tid\":" + std::to_string(file_tid(k)) + ",\"ts\":" + us(ns);
}

void json_writer::slice(track_key k, const track& t, std::int64_t end_ns, const char* end) {
  head("X", k, t.start);
  out_ += ",\"dur\":" + us(std::max<std::int64_t>(0, end_ns - t.start)) + ",\"name\":\"" + t.name + "\",\"args\":{";
  if (!(t.key & pkey)) out_ += "\"goid\":" + std::to_string(t.key) + ",";
  if (*end != '\0') out_ += "\"end\":\"" + std::string(end) + "\"";
  if (out_.back() == ',') out_.pop_back();
  out_ += "}}";
}

// flow_start writes the start of flow id at ns on k, with a slice to
// start from where k has no run open then (an anchor): viewers drop an
// arrow whose start lies in no slice, and a G readied by a timer, a poll
// or a thread without an M is readied between runs. The anchor comes
// first in the file, as Perfetto's importer binds events of one time in
// file order. On a track with no slice yet both wait for the track's
// first: a close means the track was inside a run since the trace began
// (close), which holds the start, and only the start is written; an open,
// that it was idle, and both are.
void json_writer::flow_start(track_key k, std::int64_t ns, const char* name, std::uint64_t goid, std::uint64_t id) {
  std::string s = head_of("s", k, ns) + ",\"id\":\"" + std::to_string(id) + "\",\"cat\":\"go\",\"name\":\"" + name +
                  "\",\"args\":{\"goid\":" + std::to_string(goid) + "}}";
  const track& t = at(k);
  if (t.open)
    out_ += s;
  else if (t.seen)
    write_anchor(k, {ns, name, goid, std::move(s)});
  else
    pending_[k].push_back({ns, name, goid, std::move(s)});
}

void json_writer::write_anchor(track_key k, const pending_anchor& a) {
  head("X", k, a.ns);
  out_ += ",\"dur\":0,\"name\":\"" + std::string(a.name) + "\",\"args\":{\"goid\":" + std::to_string(a.goid) + "}}";
  out_ += a.flow_start;
}

void json_writer::write_pending(track_key k) {
  auto it = pending_.find(k);
  if (it == pending_.end()) return;
  for (const pending_anchor& a : it->second) write_anchor(k, a);
  pending_.erase(it);
}

void json_writer::open(track_key k, std::string name, std::uint64_t key, std::int64_t ns) {
  track& t = at(k);
  if (t.open) slice(k, t, ns, "");
  if (!t.seen) write_pending(k);
  t = track{true, true, std::move(name), key, ns};
}

// close ends k's open slice if it is key's; a track that has had none yet
// was in it since the trace began.
void json_writer::close(track_key k, std::uint64_t key, std::int64_t ns, const char* end, const std::string& name) {
  track& t = at(k);
  if (!t.open && !t.seen) {  // the flows' starts need no anchors: this run holds them
    if (auto it = pending_.find(k); it != pending_.end()) {
      for (const pending_anchor& a : it->second) out_ += a.flow_start;
      pending_.erase(it);
    }
    t = track{true, true, name, key, 0};
  }
  if (!t.open || t.key != key) return;
  slice(k, t, ns, end);
  t.open = false;
}

// close_any ends k's open slice, whatever it is: a switch ends the run of
// the G before it on its P (goid, which close names if none was seen).
void json_writer::close_any(track_key k, std::uint64_t goid, std::int64_t ns, const char* end) {
  const track& t = at(k);
  close(k, t.open ? t.key : goid, ns, end, gname(goid));
}

void json_writer::instant(track_key k, std::int64_t ns, const char* name, const std::string& args) {
  head("i", k, ns);
  out_ += ",\"s\":\"t\",\"name\":\"" + std::string(name) + "\",\"args\":{" + args + "}}";
}

void json_writer::flush_if_big() {
  if (out_.size() < (1u << 20)) return;
  std::fwrite(out_.data(), 1, out_.size(), f_);
  out_.clear();
}

void json_writer::event(const timed_event& te) {
  const trace_record& e = te.e;
  const std::int64_t ns = te.ns;
  const track_key where = e.p >= 0 ? track_key{1, e.p} : track_key{2, te.mid};
  const track_key onm{2, static_cast<std::int64_t>(e.arg)};  // the M an event names
  const std::string pname = "P" + std::to_string(e.p);
  switch (e.ev) {
    case trace_ev::go_create:
    case trace_ev::go_unpark: {
      const char* name = e.ev == trace_ev::go_create ? "create" : "unpark";
      const std::uint64_t id = ++nflows_;
      flows_[flow_key(e)] = {name, id};
      flow_start(where, ns, name, e.goid, id);
      break;
    }
    case trace_ev::go_start:
    case trace_ev::go_switch: {
      if (e.ev == trace_ev::go_switch) close_any(where, e.from, ns, end_string(e));
      open(where, gname(e.goid), e.goid, ns);
      auto f = flows_.find(flow_key(e));
      if (e.arg != 0 && f != flows_.end()) {
        head("f", where, ns + 1);  // inside the run it leads to (see the top)
        out_ += ",\"bp\":\"e\",\"id\":\"" + std::to_string(f->second.id) + "\",\"cat\":\"go\",\"name\":\"" +
                f->second.name + "\"}";
        flows_.erase(f);
      }
      break;
    }
    case trace_ev::go_stop:
      close(where, e.goid, ns, end_string(e), gname(e.goid));
      break;
    case trace_ev::go_sys_call:
      if (e.p >= 0) close(where, e.goid, ns, "syscall", gname(e.goid));
      open(onm, "syscall " + gname(e.goid), e.goid, ns);
      break;
    case trace_ev::go_sys_exit:
      close(onm, e.goid, ns, "", "syscall " + gname(e.goid));
      if (e.p >= 0) open(where, gname(e.goid), e.goid, ns);
      break;
    case trace_ev::proc_start:
      open(onm, pname, pkey | static_cast<std::uint64_t>(e.p), ns);
      break;
    case trace_ev::proc_stop:
      close(onm, pkey | static_cast<std::uint64_t>(e.p), ns, "", pname);
      break;
    case trace_ev::steal:
      instant(where, ns, "steal", "\"from\":" + std::to_string(e.arg) + ",\"n\":" + std::to_string(e.goid));
      break;
    case trace_ev::preempt:
      instant(where, ns, "preempt", "");
      break;
    case trace_ev::handoff:
      instant(where, ns, "handoff", std::string("\"why\":\"") + (e.arg ? "held" : "syscall") + "\"");
      break;
    case trace_ev::timer:
      instant(where, ns, "timer", "\"kind\":" + std::to_string(e.arg));
      break;
    case trace_ev::netpoll:
      instant(where, ns, "netpoll", "\"n\":" + std::to_string(e.goid));
      break;
  }
  flush_if_big();
}

// track_name: P<id>, M<id>, or the threads the runtime did not start,
// which share the global buffer's track.
std::string json_writer::track_name(const track_key& k) {
  if (k.tid < 0) return "threads without an M";
  return (k.pid == 1 ? "P" : "M") + std::to_string(k.tid);
}

// finish cuts the slices still open at end_ns and names every track.
void json_writer::finish(std::int64_t end_ns) {
  for (auto& [k, t] : tracks_) {
    if (t.open) slice(k, t, end_ns, "running");
    write_pending(k);
    out_ += ",\n{\"ph\":\"M\",\"pid\":" + std::to_string(k.pid) + ",\"tid\":" + std::to_string(file_tid(k)) +
            ",\"name\":\"thread_name\",\"args\":{\"name\":\"" + track_name(k) + "\"}}";
  }
  out_ += "\n]}\n";
  std::fwrite(out_.data(), 1, out_.size(), f_);
  out_.clear();
}

void write_json(std::FILE* f) {
  json_writer w(f);
  std::int64_t end = tr.ns1 - tr.ns0;
  for (const timed_event& te : read_raw()) {
    w.event(te);
    end = std::max(end, te.ns);
  }
  w.finish(end);
}

// take_buffers hands every M's buffer and the global one to the writer,
// once each M has finished the event it was writing (see "Stopping").
void take_buffers() {
  std::vector<m*> ms;
  sched.lock.lock();
  for (m* mp = allm; mp != nullptr; mp = mp->alllink) ms.push_back(mp);
  sched.lock.unlock();
  // Not under qlock: the event an M is finishing may be flushing a buffer.
  std::vector<tracebuf*> bufs;
  for (m* mp : ms) {
    while (mp->traceseq.load(std::memory_order_acquire) & 1) osyield();
    flush_pending(mp->tracepending, mp->tbuf, mp->id);
    if (mp->tbuf != nullptr) bufs.push_back(std::exchange(mp->tbuf, nullptr));
  }
  {
    ranked_guard glk(tr.glock, lock_rank::trace_g);
    if (tr.gbuf != nullptr) bufs.push_back(std::exchange(tr.gbuf, nullptr));
  }
  ranked_guard lk(tr.qlock, lock_rank::trace_q);
  tr.full.insert(tr.full.end(), bufs.begin(), bufs.end());
}

// raw_file: an unnamed temporary file beside path, on the disk the user
// chose for the trace (a slow /tmp held the writer back).
std::FILE* raw_file(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  std::FILE* f = fd >= 0 ? ::fdopen(fd, "w+") : std::tmpfile();  // no O_TMPFILE there: /tmp
  if (f == nullptr) throw std::system_error(errno, std::generic_category(), "gort::trace::start: temporary file");
  return f;
}

// threads_before_run counts the writer as a thread of the program's own,
// so that checkdead still reports a deadlock while a trace runs.
void count_writer(std::int32_t delta) {
  sched.lock.lock();
  sched.threads_before_run += delta;
  sched.lock.unlock();
}

}  // namespace

void trace_start(const std::string& path) {
  ranked_guard lk(tr.ctl, lock_rank::trace_ctl);
  if (tr.active) throw std::logic_error("gort::trace::start: a trace is already running");
  // The file is created now, so that a path that cannot be written fails here.
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::system_error(errno, std::generic_category(), "gort::trace::start: " + path);
  std::fclose(f);
  tr.raw = raw_file(path);
  tr.path = path;
  tr.active = true;
  tr.done = false;
  tr.fence.store(!membarrier_available(), std::memory_order_relaxed);  // "Orders": before enabling
  tr.gen.store(tr.gen.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // "Pending readies"
  count_writer(1);
  tr.writer = std::thread(writer_loop);
  tr.ns0 = nanotime();
  tr.ticks0 = cputicks();
  trace_enabled.store(true, std::memory_order_seq_cst);
}

void trace_stop() {
  ranked_guard lk(tr.ctl, lock_rank::trace_ctl);
  if (!tr.active) return;
  trace_enabled.store(false, std::memory_order_seq_cst);
  // Our fence of the seqlock's Dekker pair ("Stopping"): the membarrier's,
  // or, where writers fence themselves, a seq_cst fence. A seq_cst store
  // then take_buffers' acquire loads is no StoreLoad barrier by itself.
  if (!tr.fence.load(std::memory_order_relaxed))
    membarrier_all();
  else
    std::atomic_thread_fence(std::memory_order_seq_cst);
  take_buffers();
  tr.ticks1 = cputicks();
  tr.ns1 = nanotime();
  {
    ranked_guard qlk(tr.qlock, lock_rank::trace_q);
    tr.done = true;
    tr.qcv.notify_one();
  }
  tr.writer.join();
  count_writer(-1);
  for (tracebuf* b : tr.free) delete b;
  trace_bufs_live.fetch_sub(static_cast<std::int64_t>(tr.free.size()), std::memory_order_relaxed);
  tr.free.clear();
  std::FILE* f = std::fopen(tr.path.c_str(), "w");
  if (f != nullptr) {
    write_json(f);
    std::fclose(f);
  } else {
    printerr("gort: trace: cannot write %s\n", tr.path.c_str());
  }
  std::fclose(tr.raw);
  tr.raw = nullptr;
  tr.active = false;
}

void trace_godebug() {
  if (debug.gorttrace.empty()) return;
  try {
    trace_start(debug.gorttrace);
  } catch (const std::exception& e) {
    printerr("gort: GODEBUG=gorttrace: %s\n", e.what());
  }
}

}  // namespace gort::rt

namespace gort::trace {

// An entry (entry_guard), so that sysmon does not take the caller's P
// while the trace starts: a take before tracing is on would go unrecorded,
// and the caller's run would seem to begin later than the trace.
void start(const std::string& path) {
  rt::entry_guard e("gort::trace::start");
  rt::trace_start(path);
}

void stop() {
  detail::require_goroutine("gort::trace::stop");
  blocking([] { rt::trace_stop(); });
}

}  // namespace gort::trace

// ---- for tests (export_test.hpp) ----

namespace gort::rt {

namespace {

constexpr const char* ev_names[] = {"go_create",   "go_unpark",   "go_start",   "go_switch", "go_stop",
                                    "go_sys_call", "go_sys_exit", "proc_start", "proc_stop", "steal",
                                    "preempt",     "handoff",     "timer",      "netpoll"};
static_assert(std::size(ev_names) == static_cast<std::size_t>(trace_ev::netpoll) + 1);

trace_ev ev_of(const std::string& name) {
  const auto it = std::find(std::begin(ev_names), std::end(ev_names), name);
  if (it == std::end(ev_names)) throw std::invalid_argument("trace_records_roundtrip: no event " + name);
  return static_cast<trace_ev>(it - std::begin(ev_names));
}

trace_record record_of(const TraceRecordView& r) {
  return {.ticks = r.ticks,
          .goid = r.goid,
          .arg = r.arg,
          .p = r.p,
          .ev = ev_of(r.ev),
          .end = static_cast<trace_end>(r.end),
          .reason = static_cast<std::uint8_t>(r.reason),
          .from = r.from};
}

TraceRecordView view_of(const trace_record& e) {
  return {
      ev_names[static_cast<std::size_t>(e.ev)], e.ticks, e.goid, e.arg, e.p, static_cast<int>(e.end), e.reason, e.from};
}

}  // namespace

std::vector<TraceMerged> trace_merge(const std::vector<std::vector<TraceRecordView>>& streams) {
  std::vector<std::vector<timed_event>> timed;
  for (std::size_t i = 0; i < streams.size(); ++i) {
    std::vector<trace_record> recs;
    for (const TraceRecordView& r : streams[i]) recs.push_back(record_of(r));
    timed.push_back(times(static_cast<std::int64_t>(i), recs, 0, 1.0));
  }
  std::vector<TraceMerged> out;
  for (const timed_event& te : merge_causal(timed))
    out.push_back({static_cast<std::size_t>(te.mid), te.ns, view_of(te.e)});
  return out;
}

std::vector<TraceRecordView> trace_records_roundtrip(const std::vector<TraceRecordView>& recs, std::size_t* fixed,
                                                     std::size_t* fused) {
  const auto b = std::make_unique<tracebuf>();
  b->mid = 0;
  b->last_ticks = 0;
  b->last_goid = 0;
  b->len = 0;
  tracebuf* slot = b.get();
  // As an M writes them: ready, trace_go_start, trace_event.
  trace_pending pending;
  const std::uint8_t gen = tr.gen.load(std::memory_order_relaxed);
  std::size_t varint = 0;
  *fused = 0;
  for (const TraceRecordView& r : recs) {
    const trace_record e = record_of(r);
    const std::uint32_t meta = pending.meta.load(std::memory_order_relaxed);
    if (e.ev == trace_ev::go_unpark && pend_ready(pending, e, gen)) {
      // kept
    } else if (starts_run(e.ev) && append_start(slot, pending, meta, e, gen)) {
      pending.meta.store(0, std::memory_order_relaxed);
      *fused += meta != 0;
    } else {
      varint += !flush_pending(pending, slot, 0);
      varint += !put_record(slot, 0, e);
    }
    if (slot != b.get()) throw std::length_error("trace_records_roundtrip: more records than a buffer holds");
  }
  varint += !flush_pending(pending, slot, 0);  // as take_buffers does
  *fixed = recs.size() - varint;
  std::vector<trace_record> back;
  unpack(b->data, b->len, back);
  std::vector<TraceRecordView> out;
  for (const trace_record& e : back) out.push_back(view_of(e));
  return out;
}

void census_trace(Census& c) {
  c.trace_bufs += static_cast<std::size_t>(trace_bufs_live.load(std::memory_order_relaxed));
}

}  // namespace gort::rt
