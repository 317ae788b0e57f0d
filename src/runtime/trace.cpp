// trace.cpp: the execution tracer. Go counterpart: trace.go (traceBuf,
// traceEvent, traceFlush, StartTrace/StopTrace, ReadTrace), with Go 1.22's
// per-M buffers (tracebuf.go, traceruntime.go's seqlock).
//
// What it records. Goroutines created, started, stopped (blocked with their
// wait reason, yielding, preempted, exited), made runnable (unparked);
// system calls entered and left; Ps acquired and released by Ms; steals,
// sysmon's preemption requests and P hand-offs, timers firing and polls
// that readied goroutines. Each event is a 32-byte record: its time in
// cputicks, a goroutine, one argument, the P it is about, its kind.
//
// Buffers: one per M (Go before 1.22 had one per P, and a locked global
// one for events written without a P). An event goes to the buffer of the
// M whose thread writes it, whatever it is about: sysmon taking a P from
// another M writes to sysmon's buffer, naming that M and P. So the writing
// thread owns the buffer outright, and the hot path takes no lock and does
// no I/O: a record is a few stores and a clock read. A full buffer goes to
// the writer thread's queue (tr.qlock, a lock per 2,047 events), which
// writes it raw to a temporary file; a thread with no M at all (a thread
// the runtime did not start, readying a G) writes to one global buffer
// under tr.glock.
//
// Stopping: the per-M seqlock. An M writing an event makes m.traceseq odd
// first, then checks trace_enabled, writes, and makes it even again.
// trace_stop clears trace_enabled, then waits for each M's count to be
// even before taking its buffer: every M then either had finished its
// event, or will see tracing off. The M's store and load are plain
// instructions, as in preempt.cpp's handshake: trace_stop's membarrier is
// the fence between them (a seq_cst fence on the M's side where the kernel
// has no membarrier). A signal handler that interrupts an M's write finds
// the count odd and records nothing (preempt.cpp makes it odd around the
// handler's own P take-over: a flush allocates).
//
// Time. cputicks (rdtsc, the arm64 virtual counter) is cheaper than
// clock_gettime, and converted to ns at stop from the ticks and nanotime
// read at start and at stop. go_create and go_unpark records carry no
// time at all: the writer gives them the time of the same M's previous
// record plus 1 ns, never later than the truth (the readier's slice began
// then), so the arrow to the readied G's start never points back in time.
// A switch from one G straight to the next is one clock read for both.
//
// The file. At trace_stop the raw records are read back, each M's in the
// order it wrote them, sorted by time, and written as Chrome's JSON Trace
// Event Format, which ui.perfetto.dev opens: process "Ps" with a track per
// P holding a slice per goroutine run (named G<id>, with why it ended),
// process "Ms" with a track per M holding the P it held and its system
// calls; flows (arrows) from a go() or a goready to the next start of the
// G it made runnable; instants for steals, preemptions, hand-offs, timers
// and polls. Each track holds one slice at a time: a slice opened while
// another is open closes that one (a record lost to a signal handler, or
// clocks of two CPUs a little apart, then cost a boundary, not the file);
// a slice open at the trace's start or stop is cut there. The file is only
// complete once trace_stop returns; a process that dies first leaves none.
//
// Locks: tr.ctl (std::mutex) serializes trace_start and trace_stop and
// guards tr.active, tr.raw's ownership at the ends and the clock pairs.
// tr.qlock guards the full queue, the free list and tr.done; the writer
// thread owns tr.raw while the trace runs. tr.glock guards tr.gbuf.
// trace_stop takes sched.lock only to copy allm. None is taken while
// another runtime lock is held by the same path, so they order after all.
#include "runtime/trace.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "gort/runtime.hpp"
#include "gort/sync.hpp"
#include "gort/trace.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {

std::atomic<bool> trace_enabled{false};

enum class trace_ev : std::uint8_t {
  go_create,    // goid: the new G; arg: flow id
  go_unpark,    // goid: the readied G; arg: flow id
  go_start,     // goid; arg: flow id (0: none)
  go_stop,      // goid; arg: trace_end; reason: wait_reason
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
enum trace_end : std::uint64_t { end_block, end_yield, end_preempt, end_exit };

struct trace_record {
  std::int64_t ticks;  // cputicks(); 0: untimed (see "Time")
  std::uint64_t goid;
  std::uint64_t arg;
  std::int32_t p;      // the P the event is about; -1: none
  trace_ev ev;
  std::uint8_t reason;
};
static_assert(sizeof(trace_record) == 32);

struct tracebuf {
  static constexpr std::uint32_t cap = 2047;  // 64 KiB with the header
  std::int64_t mid;  // the writing M's id; -1: the global buffer
  std::uint32_t n;
  trace_record ev[cap];
};

namespace {

std::int64_t cputicks() {
#if defined(__x86_64__)
  return static_cast<std::int64_t>(__rdtsc());
#elif defined(__aarch64__)
  std::int64_t t;
  asm volatile("mrs %0, cntvct_el0" : "=r"(t));
  return t;
#else
  return nanotime();
#endif
}

struct tracer {
  std::mutex ctl;
  bool active = false;            // ctl
  std::string path;               // ctl
  std::FILE* raw = nullptr;       // the raw records: the writer's while active
  std::int64_t ticks0 = 0, ns0 = 0, ticks1 = 0, ns1 = 0;  // ctl: the clocks at start and stop
  std::atomic<bool> fence{false}; // no membarrier: writers fence themselves

  std::mutex qlock;
  std::condition_variable qcv;
  std::deque<tracebuf*> full;     // qlock
  std::vector<tracebuf*> free;    // qlock
  bool done = false;              // qlock
  std::thread writer;

  std::mutex glock;
  tracebuf* gbuf = nullptr;       // glock
  std::atomic<std::uint64_t> gflowseq{0};
};
tracer tr;

// trace_flush queues full (if any) for the writer and returns an empty
// buffer for mid. Go: traceFlush.
tracebuf* trace_flush(tracebuf* full, std::int64_t mid) {
  std::lock_guard<std::mutex> lk(tr.qlock);
  if (full != nullptr) {
    tr.full.push_back(full);
    tr.qcv.notify_one();
  }
  tracebuf* b;
  if (tr.free.empty()) {
    b = new tracebuf;
  } else {
    b = tr.free.back();
    tr.free.pop_back();
  }
  b->mid = mid;
  b->n = 0;
  return b;
}

void append(tracebuf*& b, std::int64_t mid, const trace_record& e) {
  if (b == nullptr || b->n == tracebuf::cap) b = trace_flush(b, mid);
  b->ev[b->n++] = e;
}

// stamp: a record's time is read for it (or passed in: one read for the two
// records of a switch), or left out (untimed: see "Time").
enum class stamp : std::uint8_t { now, untimed };

// trace_record records one event in the calling thread's buffer (see
// "Stopping" for the seqlock); ticks, if not 0, is its time, read by the
// caller. Go: traceEvent.
void trace_event(trace_ev ev, stamp st, std::uint64_t goid, std::uint64_t arg, const p* pp,
                 std::uint8_t reason = 0, std::int64_t ticks = 0) {
  const std::int32_t pid = pp != nullptr ? pp->id : -1;
  m* mp = getm();
  if (mp == nullptr) {
    std::lock_guard<std::mutex> lk(tr.glock);
    if (trace_enabled.load(std::memory_order_acquire))
      append(tr.gbuf, -1, trace_record{ticks != 0 ? ticks : cputicks(), goid, arg, pid, ev, reason});
    return;
  }
  const std::uint32_t seq = mp->traceseq.load(std::memory_order_relaxed);
  if (seq & 1) return;  // inside this M's own write, or its signal handler
  mp->traceseq.store(seq + 1, std::memory_order_relaxed);
  if (tr.fence.load(std::memory_order_relaxed))
    std::atomic_thread_fence(std::memory_order_seq_cst);
  else
    std::atomic_signal_fence(std::memory_order_seq_cst);  // trace_stop's membarrier fences
  if (trace_enabled.load(std::memory_order_acquire))
    append(mp->tbuf, mp->id,
           trace_record{st == stamp::untimed ? 0 : ticks != 0 ? ticks : cputicks(), goid, arg, pid, ev, reason});
  mp->traceseq.store(seq + 2, std::memory_order_release);
}

// next_flow: a flow id unique in the run: the M's id above its count.
std::uint64_t next_flow() {
  m* mp = getm();
  if (mp == nullptr) return tr.gflowseq.fetch_add(1, std::memory_order_relaxed) + 1;
  return (static_cast<std::uint64_t>(mp->id) + 1) << 40 | ++mp->traceflowseq;
}

p* curp() {
  m* mp = getm();
  return mp != nullptr ? mp->p : nullptr;
}

}  // namespace

// ---- the hooks (trace.hpp) ----

void trace_go_create(g* newg) {
  newg->traceflow = next_flow();
  trace_event(trace_ev::go_create, stamp::untimed, newg->goid, newg->traceflow, curp());
}

void trace_go_unpark(g* gp) {
  gp->traceflow = next_flow();
  trace_event(trace_ev::go_unpark, stamp::untimed, gp->goid, gp->traceflow, curp());
}

namespace {

// go_stop records the end of gp's run, at ticks (0: now); its status and
// wait reason say why it ended.
void go_stop(g* gp, std::int64_t ticks) {
  const gstatus s = gp->status();
  p* pp = gp->m->p;
  trace_end end = end_block;
  if (s == gstatus::Gdead)
    end = end_exit;
  else if (s == gstatus::Grunnable)
    end = pp != nullptr && pp->preempt.load(std::memory_order_relaxed) ? end_preempt : end_yield;
  trace_event(trace_ev::go_stop, stamp::now, gp->goid, end, pp, static_cast<std::uint8_t>(gp->waitreason), ticks);
}

}  // namespace

void trace_go_stop(g* gp) { go_stop(gp, 0); }

// One clock read for both halves of a switch.
void trace_go_start(g* from, g* gp) {
  const std::int64_t ticks = cputicks();
  if (!from->is_g0) go_stop(from, ticks);
  trace_event(trace_ev::go_start, stamp::now, gp->goid, std::exchange(gp->traceflow, 0), gp->m->p, 0, ticks);
}

void trace_go_sys_call(g* gp, m* mp, p* pp) {
  trace_event(trace_ev::go_sys_call, stamp::now, gp->goid, static_cast<std::uint64_t>(mp->id), pp);
}

void trace_go_sys_exit(g* gp, m* mp, p* pp) {
  trace_event(trace_ev::go_sys_exit, stamp::now, gp->goid, static_cast<std::uint64_t>(mp->id), pp);
}

void trace_proc_start(m* mp, p* pp) {
  trace_event(trace_ev::proc_start, stamp::now, 0, static_cast<std::uint64_t>(mp->id), pp);
}

void trace_proc_stop(m* mp, p* pp) {
  trace_event(trace_ev::proc_stop, stamp::now, 0, static_cast<std::uint64_t>(mp->id), pp);
}

void trace_steal(p* victim, std::uint32_t n) {
  trace_event(trace_ev::steal, stamp::now, n, static_cast<std::uint64_t>(victim->id), curp());
}

void trace_preempt(p* pp) { trace_event(trace_ev::preempt, stamp::now, 0, 0, pp); }

void trace_handoff(p* pp, bool held) { trace_event(trace_ev::handoff, stamp::now, 0, held, pp); }

void trace_timer(timer_kind kind) {
  trace_event(trace_ev::timer, stamp::now, 0, static_cast<std::uint64_t>(kind), curp());
}

void trace_netpoll(int n) {
  trace_event(trace_ev::netpoll, stamp::now, static_cast<std::uint64_t>(n), 0, curp());
}

namespace {

// ---- the writer thread ----

void write_raw(const tracebuf* b) {
  std::fwrite(&b->mid, sizeof b->mid, 1, tr.raw);
  std::fwrite(&b->n, sizeof b->n, 1, tr.raw);
  std::fwrite(b->ev, sizeof(trace_record), b->n, tr.raw);
}

// writer_loop: the writer thread, until trace_stop sets done and the queue
// is empty. Go: the goroutine that calls ReadTrace.
void writer_loop() {
  std::unique_lock<std::mutex> lk(tr.qlock);
  for (;;) {
    tr.qcv.wait(lk, [] { return !tr.full.empty() || tr.done; });
    std::deque<tracebuf*> batch;
    batch.swap(tr.full);
    lk.unlock();
    for (const tracebuf* b : batch) write_raw(b);
    lk.lock();
    tr.free.insert(tr.free.end(), batch.begin(), batch.end());
    if (tr.done && tr.full.empty()) return;
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
std::vector<timed_event> read_raw() {
  std::map<std::int64_t, std::vector<trace_record>> streams;
  std::rewind(tr.raw);
  std::int64_t mid;
  std::uint32_t n;
  while (std::fread(&mid, sizeof mid, 1, tr.raw) == 1 && std::fread(&n, sizeof n, 1, tr.raw) == 1) {
    std::vector<trace_record>& s = streams[mid];
    const std::size_t at = s.size();
    s.resize(at + n);
    if (std::fread(s.data() + at, sizeof(trace_record), n, tr.raw) != n) break;
  }
  const double ns_per_tick =
      tr.ticks1 > tr.ticks0 ? double(tr.ns1 - tr.ns0) / double(tr.ticks1 - tr.ticks0) : 1.0;
  std::vector<timed_event> all;
  for (auto& [id, s] : streams) {
    std::int64_t prev = 0;
    for (const trace_record& e : s) {
      std::int64_t ns = prev + 1;
      if (e.ticks != 0) ns = prev = std::max<std::int64_t>(0, static_cast<std::int64_t>((e.ticks - tr.ticks0) * ns_per_tick));
      all.push_back({ns, id, e});
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const timed_event& a, const timed_event& b) { return a.ns < b.ns; });
  return all;
}

// json_writer turns the timed records into the file, keeping for each track
// its one open slice, and the flows whose start it has seen.
class json_writer {
 public:
  explicit json_writer(std::FILE* f) : f_(f) {
    out_ = "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":\"gort\"},\"traceEvents\":[\n";
    out_ += "{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"Ps\"}}";
    out_ += ",\n{\"ph\":\"M\",\"pid\":2,\"name\":\"process_name\",\"args\":{\"name\":\"Ms\"}}";
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
  void slice(track_key k, const track& t, std::int64_t end_ns, const char* end);
  void head(const char* ph, track_key k, std::int64_t ns);
  void instant(track_key k, std::int64_t ns, const char* name, const std::string& args);
  void flush_if_big();
  static std::string track_name(const track_key& k);

  std::FILE* f_;
  std::string out_;
  std::map<track_key, track> tracks_;
  std::unordered_map<std::uint64_t, const char*> flows_;  // started flows: their names
};

std::string us(std::int64_t ns) {
  char b[32];
  std::snprintf(b, sizeof b, "%lld.%03lld", static_cast<long long>(ns / 1000), static_cast<long long>(ns % 1000));
  return b;
}

std::string gname(std::uint64_t goid) { return "G" + std::to_string(goid); }

const char* end_string(const trace_record& e) {
  switch (static_cast<trace_end>(e.arg)) {
    case end_block: return wait_reason_string(static_cast<wait_reason>(e.reason));
    case end_yield: return "yield";
    case end_preempt: return "preempted";
    case end_exit: return "exit";
  }
  return "?";
}

void json_writer::head(const char* ph, track_key k, std::int64_t ns) {
  out_ += ",\n{\"ph\":\"";
  out_ += ph;
  out_ += "\",\"pid\":" + std::to_string(k.pid) + ",\"tid\":" + std::to_string(k.tid) + ",\"ts\":" + us(ns);
}

void json_writer::slice(track_key k, const track& t, std::int64_t end_ns, const char* end) {
  head("X", k, t.start);
  out_ += ",\"dur\":" + us(std::max<std::int64_t>(0, end_ns - t.start)) + ",\"name\":\"" + t.name + "\",\"args\":{";
  if (!(t.key & pkey)) out_ += "\"goid\":" + std::to_string(t.key) + ",";
  out_ += "\"end\":\"" + std::string(end) + "\"}}";
}

void json_writer::open(track_key k, std::string name, std::uint64_t key, std::int64_t ns) {
  track& t = at(k);
  if (t.open) slice(k, t, ns, "");
  t = track{true, true, std::move(name), key, ns};
}

// close ends k's open slice if it is key's; a track that has had none yet
// was in it since the trace began.
void json_writer::close(track_key k, std::uint64_t key, std::int64_t ns, const char* end,
                        const std::string& name) {
  track& t = at(k);
  if (!t.open && !t.seen) t = track{true, true, name, key, 0};
  if (!t.open || t.key != key) return;
  slice(k, t, ns, end);
  t.open = false;
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
      flows_[e.arg] = name;
      head("s", where, ns);
      out_ += ",\"id\":\"" + std::to_string(e.arg) + "\",\"cat\":\"go\",\"name\":\"" + name +
              "\",\"args\":{\"goid\":" + std::to_string(e.goid) + "}}";
      break;
    }
    case trace_ev::go_start: {
      open(where, gname(e.goid), e.goid, ns);
      auto f = flows_.find(e.arg);
      if (e.arg != 0 && f != flows_.end()) {
        head("f", where, ns);
        out_ += ",\"bp\":\"e\",\"id\":\"" + std::to_string(e.arg) + "\",\"cat\":\"go\",\"name\":\"" +
                f->second + "\"}";
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
    out_ += ",\n{\"ph\":\"M\",\"pid\":" + std::to_string(k.pid) + ",\"tid\":" + std::to_string(k.tid) +
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
    if (mp->tbuf != nullptr) bufs.push_back(std::exchange(mp->tbuf, nullptr));
  }
  {
    std::lock_guard<std::mutex> glk(tr.glock);
    if (tr.gbuf != nullptr) bufs.push_back(std::exchange(tr.gbuf, nullptr));
  }
  std::lock_guard<std::mutex> lk(tr.qlock);
  tr.full.insert(tr.full.end(), bufs.begin(), bufs.end());
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
  std::lock_guard<std::mutex> lk(tr.ctl);
  if (tr.active) throw std::logic_error("gort::trace::start: a trace is already running");
  // The file is created now, so that a path that cannot be written fails here.
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::system_error(errno, std::generic_category(), "gort::trace::start: " + path);
  std::fclose(f);
  tr.raw = std::tmpfile();
  if (tr.raw == nullptr) throw std::system_error(errno, std::generic_category(), "gort::trace::start: tmpfile");
  tr.path = path;
  tr.active = true;
  tr.done = false;
  tr.fence.store(!membarrier_available(), std::memory_order_relaxed);
  count_writer(1);
  tr.writer = std::thread(writer_loop);
  tr.ns0 = nanotime();
  tr.ticks0 = cputicks();
  trace_enabled.store(true, std::memory_order_seq_cst);
}

void trace_stop() {
  std::lock_guard<std::mutex> lk(tr.ctl);
  if (!tr.active) return;
  trace_enabled.store(false, std::memory_order_seq_cst);
  if (!tr.fence.load(std::memory_order_relaxed)) membarrier_all();
  take_buffers();
  tr.ticks1 = cputicks();
  tr.ns1 = nanotime();
  {
    std::lock_guard<std::mutex> qlk(tr.qlock);
    tr.done = true;
    tr.qcv.notify_one();
  }
  tr.writer.join();
  count_writer(-1);
  for (tracebuf* b : tr.free) delete b;
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

void start(const std::string& path) {
  detail::require_goroutine("gort::trace::start");
  rt::trace_start(path);
}

void stop() {
  detail::require_goroutine("gort::trace::stop");
  blocking([] { rt::trace_stop(); });
}

}  // namespace gort::trace
