// traceback.cpp: goroutine headers and stacks, for fatal reports, SIGQUIT
// and gort::dump_goroutines. Go counterpart: traceback.go (goroutineheader,
// traceback, tracebackothers, printcreatedby, showframe) and gotraceback
// (runtime1.go).
//
// What is printed, as Go prints it:
//
//     goroutine 7 [chan receive, 3 minutes]:
//     parked_in_recv_here(gort::chan<int>)
//             /src/app.cpp:12 +0x2b
//     created by main::{lambda()#1}::operator()() const in goroutine 1
//             /src/app.cpp:30 +0x61
//
// A header (goroutineheader: the status or the wait reason, how long it has
// waited if a minute or more, whether it is locked to its thread), each
// frame on two lines, and the creator: where the go() that made it is,
// recorded in newproc1 (g::gopc). The running goroutine's stack is the
// thread's own (callers); another goroutine's, if it is parked or waiting
// in a run queue, is unwound from the context its last switch saved
// (unwind_switched); one running on another thread has none to show (Go
// says so too).
//
// Unwinding a saved context. libgcc's unwinder (_Unwind_Backtrace) walks
// the stack it is called on, and the program's CFI already describes every
// frame of a parked goroutine down to the switch's: what is missing is a
// way in. gort_unwind_switched (asm_*.S) is a frame whose CFI names the
// saved context as its caller (its CFA and registers are read from the
// switch frame at the saved sp), and calls _Unwind_Backtrace from there:
// the unwinder steps from it into the goroutine's frames as it would from
// a callee, reading the goroutine's stack in place. Nothing runs on that
// stack and nothing is written to it. With GCC 12 and glibc 2.35 and
// later, the unwinder finds unwind tables with _dl_find_object, which takes
// no lock.
//
// Reading a stack that may move. tracebackothers takes no lock (a signal
// handler may have interrupted the lock's holder; a fatal report has frozen
// every other thread wherever it was) and does not stop the world
// (dump_goroutines lets the other Ms run), so a goroutine may change while
// it is read: it may be readied, run and park again, exit, have its stack
// given to another. What keeps that safe:
//   - the Gs are walked lock-free (proc.hpp, allgs): a G is never freed
//     while the run lasts, and goroutine stacks are unmapped only when it
//     ends, so every G and every stack address a snapshot holds stays
//     readable;
//   - each G is read once into a gsnap, and the saved sp is used only if it
//     lies inside the stack the snapshot names, with room for a switch
//     frame above it;
//   - the walk reads only, and a walk that follows a frame being
//     overwritten into unmapped memory faults: the fault handler sends the
//     thread back to the start of the walk (probe_fault, siglongjmp), and
//     the goroutine is printed with the frames read so far.
// A goroutine that moves during the walk may be shown with frames that are
// partly wrong; nothing worse. (The window is the time the walk takes;
// a goroutine that stays parked, the case a dump is for, reads true.)
// The thread's own stack is walked the same way (callers,
// in_signal_handler), since a report made in a signal handler unwinds
// through the signal frame into whatever code the signal interrupted:
// where that code's unwind entry is wrong or missing, libgcc takes some
// other word for a return address, and its fallback for a pc with no entry
// (is it the signal trampoline?) reads the instructions there and faults.
// The report then shows the frames up to there. The
// snapshot's reads of fields other threads write without atomics, and the
// read of the switch frame, are kept from ThreadSanitizer and
// AddressSanitizer (which would report them as races, or as reads of
// another stack's poisoned bytes) by no_sanitize: they are the racy reads
// Go's runtime makes too.
//
// Names. Frames are symbolized by GCC's libbacktrace (libgcc-dev ships it
// with every g++), which is async-signal-safe once initialized (it
// allocates with mmap, and reads files with open and read): the file and
// line from the debug information, a frame for each inlined call (named by
// the debug information's short name), and for the function that holds
// the pc its symbol table entry (local functions too, and without -g).
// Symbol names are demangled by libsupc++'s __gcclibcxx_demangle_callback,
// which allocates nothing (its working arrays are on the stack: about 72
// bytes per character of the mangled name, so a name demangles only if the
// stack the report runs on has room, else it is printed mangled). Its
// first use reads the debug information (dl_iterate_phdr, which takes the
// loader's lock): symbolizer_init does it before a fatal report stops the
// other threads. Without debug information a frame's location is the
// module and the offset in it, for addr2line.
//
// Runtime frames, as Go hides runtime.* below GOTRACEBACK=system:
// functions in gort::rt and gort::detail, gort_* (the switch, the
// goroutine's entry trampoline), inlined code from gort/detail/ or the
// runtime's sources, and the std::invoke/std::apply/std::function plumbing
// between a runtime frame and the user's function. Public gort:: frames
// (chan::recv, WaitGroup::wait) are shown, as Go shows sync.(*WaitGroup).Wait.
#include "runtime/traceback.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>
#include <unwind.h>
#if defined(GORT_HAVE_LIBBACKTRACE)
#include <backtrace.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ostream>

#include "gort/runtime.hpp"
#include "runtime/panic.hpp"
#include "runtime/preempt.hpp"
#include "runtime/proc.hpp"
#include "runtime/signal_unix.hpp"
#include "runtime/switch.hpp"

#if defined(GORT_TSAN)
extern "C" void __tsan_ignore_thread_begin();  // libtsan's, not in its headers
extern "C" void __tsan_ignore_thread_end();
#endif

#if defined(GORT_HAVE_DEMANGLE_CALLBACK)
// libsupc++'s allocation-free demangler (cp-demangle.c): 0 on success; the
// callback gets the demangled name in pieces.
extern "C" int __gcclibcxx_demangle_callback(const char* mangled, void (*callback)(const char*, std::size_t, void*),
                                             void* opaque);
#endif

namespace gort::rt {

// ---- GOTRACEBACK ----

namespace {

// traceback_cache: Go's encoding, level << 2 | all | crash.
constexpr std::uint32_t traceback_crash = 1, traceback_all = 2, traceback_shift = 2;
std::atomic<std::uint32_t> traceback_cache{1 << traceback_shift};  // "single"

}  // namespace

void settraceback(const char* env) {
  const char* v = env ? env : "";
  std::uint32_t t;
  if (std::strcmp(v, "none") == 0)
    t = 0;
  else if (std::strcmp(v, "single") == 0 || *v == '\0')
    t = 1 << traceback_shift;
  else if (std::strcmp(v, "all") == 0)
    t = 1 << traceback_shift | traceback_all;
  else if (std::strcmp(v, "system") == 0)
    t = 2 << traceback_shift | traceback_all;
  else if (std::strcmp(v, "crash") == 0)
    t = 2 << traceback_shift | traceback_all | traceback_crash;
  else {  // Go: a number is a level, with all; anything else is all at level 0
    t = traceback_all;
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(v, &end, 10);
    if (end != v && *end == '\0' && errno == 0 && n >= 0 && n <= 0xffff)
      t |= static_cast<std::uint32_t>(n) << traceback_shift;
  }
  traceback_cache.store(t, std::memory_order_relaxed);  // the word is the whole message: nothing to order
}

traceback_mode gotraceback(throw_type t) {
  const std::uint32_t c = traceback_cache.load(std::memory_order_relaxed);
  traceback_mode mode;
  mode.crash = (c & traceback_crash) != 0;
  mode.all = t >= throw_type::user || (c & traceback_all) != 0;
  mode.level = t == throw_type::runtime ? 2 : static_cast<int>(c >> traceback_shift);
  return mode;
}

// ---- printer ----

printer& printer::strn(const char* s, std::size_t n) {
  while (n > 0) {
    if (n_ == sizeof buf_) flush();
    const std::size_t k = std::min(n, sizeof buf_ - n_);
    std::memcpy(buf_ + n_, s, k);
    n_ += k;
    s += k;
    n -= k;
  }
  return *this;
}

printer& printer::str(const char* s) { return strn(s, std::strlen(s)); }

printer& printer::dec(std::uint64_t v) {
  char b[20];
  int i = sizeof b;
  do b[--i] = static_cast<char>('0' + v % 10);
  while ((v /= 10) != 0);
  return strn(b + i, sizeof b - i);
}

printer& printer::dec(std::int64_t v) {
  if (v < 0) {
    strn("-", 1);
    return dec(-static_cast<std::uint64_t>(v));
  }
  return dec(static_cast<std::uint64_t>(v));
}

printer& printer::hex(std::uint64_t v) {
  char b[18];
  int i = sizeof b;
  do b[--i] = "0123456789abcdef"[v & 15];
  while ((v >>= 4) != 0);
  b[--i] = 'x';
  b[--i] = '0';
  return strn(b + i, sizeof b - i);
}

void printer::flush() {
  if (out_ != nullptr) {
    out_->append(buf_, n_);
  } else {
    for (std::size_t off = 0; off < n_;) {
      const ssize_t w = ::write(fd_, buf_ + off, n_ - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
  }
  n_ = 0;
}

std::uintptr_t stack_lo_of(const m* mp) {
  if (mp == nullptr) return 0;
  const auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  const auto sig = reinterpret_cast<std::uintptr_t>(mp->sigstack);
  if (sig != 0 && sp >= sig && sp < sig + sigstack_size) return sig;
  if (sp >= mp->g0stack.lo && sp < mp->g0stack.hi) return mp->g0stack.lo;
  if (const g* gp = mp->curg; gp != nullptr && gp->stk != nullptr && sp >= gp->stk->lo && sp < gp->stk->hi)
    return gp->stk->lo;
  return 0;
}

// ---- symbolization ----

namespace {

// tsan_ignore: libbacktrace and libgcc's unwinder are not instrumented, so
// ThreadSanitizer sees the memcpy and mmap calls they make (it intercepts
// them) but not the atomics that order them (libbacktrace's allocator hands
// a block one thread freed to another), and reports races that are not
// there; and the unwinder reads other goroutines' stacks on purpose. While
// one lives, TSan ignores this thread's memory accesses.
inline void tsan_ignore_begin() {
#if defined(GORT_TSAN)
  __tsan_ignore_thread_begin();
#endif
}
inline void tsan_ignore_end() {
#if defined(GORT_TSAN)
  __tsan_ignore_thread_end();
#endif
}
struct tsan_ignore {
  tsan_ignore() { tsan_ignore_begin(); }
  ~tsan_ignore() { tsan_ignore_end(); }
};

#if defined(GORT_HAVE_LIBBACKTRACE)
// The state is made once per process, lock-free (a signal handler may be
// first), and kept: libbacktrace has no way to free it.
std::atomic<backtrace_state*> bt_state_cache{nullptr};

void ignore_error(void*, const char*, int) {}

backtrace_state* bt_state() {
  // Acquire, paired with the winning CAS's release below (or its failure's
  // acquire): whoever gets the pointer sees the state libbacktrace built.
  backtrace_state* s = bt_state_cache.load(std::memory_order_acquire);
  if (s != nullptr) return s;
  backtrace_state* made = backtrace_create_state(nullptr, 1, &ignore_error, nullptr);
  if (bt_state_cache.compare_exchange_strong(s, made, std::memory_order_acq_rel)) return made;
  return s;  // another thread's won; ours is a few bytes lost, once
}
#endif

struct fileline {
  const char* function;  // the debug information's name, or the symbol's
  const char* file;
  int line;
};

// pcframes: the frames one pc stands for, innermost first: the calls
// inlined at it, then the function that holds it (the last, "physical").
struct pcframes {
  static constexpr int max = 32;
  fileline f[max];
  int n = 0;
  const char* sym = nullptr;   // the symbol table's name for the physical function (mangled)
  std::uintptr_t symval = 0;   // its entry
};

// symbolize fills pf for pc (an instruction's address: a return address
// less one, or an exact pc).
void symbolize(std::uintptr_t pc, pcframes& pf) {
  tsan_ignore ignore;
#if defined(GORT_HAVE_LIBBACKTRACE)
  backtrace_pcinfo(
      bt_state(), pc,
      [](void* data, std::uintptr_t, const char* file, int line, const char* function) -> int {
        auto* p = static_cast<pcframes*>(data);
        if (function == nullptr && file == nullptr) return 0;
        // Deeper inlining than max: drop the middle, keep the outermost.
        p->f[p->n < pcframes::max ? p->n++ : pcframes::max - 1] = {function, file, line};
        return 0;
      },
      &ignore_error, &pf);
  backtrace_syminfo(
      bt_state(), pc,
      [](void* data, std::uintptr_t, const char* name, std::uintptr_t value, std::uintptr_t) {
        auto* p = static_cast<pcframes*>(data);
        p->sym = name;
        p->symval = value;
      },
      &ignore_error, &pf);
#else
  // dladdr: the dynamic symbol table only, and not async-signal-safe (it
  // takes the loader's lock); gort::gort links programs with -rdynamic.
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_sname != nullptr) {
    pf.sym = info.dli_sname;
    pf.symval = reinterpret_cast<std::uintptr_t>(info.dli_saddr);
  }
#endif
  if (pf.n == 0) pf.f[pf.n++] = {pf.sym, nullptr, 0};
}

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

bool ends_with(const char* s, const char* suffix) {
  const std::size_t n = std::strlen(s), k = std::strlen(suffix);
  return n >= k && std::strcmp(s + n - k, suffix) == 0;
}

enum class fclass : std::uint8_t {
  user,      // shown
  runtime,   // hidden below level 2
  plumbing,  // std::invoke and friends: hidden when what calls them is the runtime
};

// classify_symbol classifies a function by its symbol: a C name gort_*, or
// a mangled name whose nested name starts gort::rt or gort::detail (the
// enclosing function's, for a lambda or local class: _ZZ...), or std's
// call plumbing.
fclass classify_symbol(const char* sym) {
  if (starts_with(sym, "gort_")) return fclass::runtime;
  if (!starts_with(sym, "_Z")) return fclass::user;
  const char* p = sym + 2;
  while (*p == 'Z') ++p;  // a local name: its enclosing function
  if (*p == 'L') ++p;     // internal linkage
  if (*p == 'N') {        // a nested name, after its cv- and ref-qualifiers
    ++p;
    while (*p != '\0' && std::strchr("rVKRO", *p) != nullptr) ++p;
  }
  if (starts_with(p, "4gort2rt") || starts_with(p, "4gort6detail")) return fclass::runtime;
  if (starts_with(p, "St")) {
    p += 2;
    for (const char* name : {"8__invoke", "13__invoke_impl", "10__invoke_r", "6invoke", "8invoke_r", "5apply",
                             "12__apply_impl", "17_Function_handler", "8function"})
      if (starts_with(p, name)) return fclass::plumbing;
  }
  return fclass::user;
}

// classify_inlined classifies an inlined frame, which has only the debug
// information's short name ("operator()", "__invoke_impl<...>"), by where
// its code is and by that name.
fclass classify_inlined(const char* function, const char* file) {
  if (file != nullptr && (std::strstr(file, "/gort/detail/") != nullptr || starts_with(file, GORT_RUNTIME_SRC_DIR)))
    return fclass::runtime;
  if (function == nullptr) return fclass::user;
  if (function[0] == '_' && function[1] == 'Z') return classify_symbol(function);
  for (const char* name : {"__invoke", "invoke<", "invoke_r<", "__apply_impl", "apply<", "_M_invoke"})
    if (starts_with(function, name)) return fclass::plumbing;
  if (file != nullptr && ends_with(file, "/std_function.h")) return fclass::plumbing;
  return fclass::user;
}

fclass classify(const pcframes& pf, int i) {
  if (i == pf.n - 1 && pf.sym != nullptr) return classify_symbol(pf.sym);
  return classify_inlined(pf.f[i].function, pf.f[i].file);
}

// demangle_fits: cp-demangle needs two 32-byte components and a pointer
// per character of the name, on the stack, besides its frames.
bool demangle_fits(const printer& pr, std::size_t len) {
  const std::size_t need = 72 * len + 32 * 1024;
  const auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  if (pr.stack_lo() == 0) return need <= 64 * 1024;  // an unknown stack: assume a small one
  return sp > pr.stack_lo() && sp - pr.stack_lo() > need;
}

// printname prints a function's name, demangled if mangled, and Go's
// "(...)" after a name that has no parameter list, if args.
void printname(printer& pr, const char* name, bool args) {
  if (name == nullptr) {
    pr.str(args ? "?(...)" : "?");
    return;
  }
#if defined(GORT_HAVE_DEMANGLE_CALLBACK)
  // The demangler may fail halfway through its output (some generic
  // lambdas' names): it writes into buf first, and the name is printed
  // only if it succeeds. A longer name demangles again, into pr.
  if (starts_with(name, "_Z") && demangle_fits(pr, std::strlen(name))) {
    struct demangled {
      char buf[1024];
      std::size_t n;
      bool paren;
    } d{{}, 0, false};
    auto into_buf = [](const char* s, std::size_t n, void* p) {
      auto* d = static_cast<demangled*>(p);
      if (d->n + n <= sizeof d->buf) std::memcpy(d->buf + d->n, s, n);
      d->n += n;
      if (std::memchr(s, '(', n) != nullptr) d->paren = true;
    };
    if (__gcclibcxx_demangle_callback(name, into_buf, &d) == 0) {
      if (d.n <= sizeof d.buf)
        pr.strn(d.buf, d.n);
      else
        __gcclibcxx_demangle_callback(
            name, [](const char* s, std::size_t n, void* p) { static_cast<printer*>(p)->strn(s, n); }, &pr);
      if (args && !d.paren) pr.str("(...)");
      return;
    }
  }
#endif
  pr.str(name);
  if (args && std::strchr(name, '(') == nullptr) pr.str("(...)");
}

// printmodule prints where pc is when there is no debug information: the
// module and the offset in it, which addr2line -f -C -e <module> turns
// into a function, file and line.
void printmodule(printer& pr, std::uintptr_t pc) {
#if defined(DLFO_EH_SEGMENT_TYPE)  // glibc 2.35+: _dl_find_object, lock-free
  dl_find_object obj;
  if (_dl_find_object(reinterpret_cast<void*>(pc), &obj) == 0 && obj.dlfo_link_map != nullptr) {
    const char* name = obj.dlfo_link_map->l_name;
    pr.str(name != nullptr && *name != '\0' ? name : program_invocation_name)
        .str(" +")
        .hex(pc - obj.dlfo_link_map->l_addr);
    return;
  }
#else
  Dl_info info;  // dladdr takes the loader's lock: not async-signal-safe
  if (dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_fname != nullptr) {
    pr.str(info.dli_fname).str(" +").hex(pc - reinterpret_cast<std::uintptr_t>(info.dli_fbase));
    return;
  }
#endif
  pr.str("?");
}

// printlocation prints where frame i of pf is, whose pc (a return address,
// or exact) is raw: "file:line +0xoffset" (the offset from the function's
// entry, for the function that holds the pc), and the pc at level 2.
void printlocation(printer& pr, const pcframes& pf, int i, std::uintptr_t raw, int level) {
  const bool physical = i == pf.n - 1;
  pr.str("\t");
  if (pf.f[i].file != nullptr) {
    pr.str(pf.f[i].file).str(":").dec(static_cast<std::int64_t>(pf.f[i].line));
    if (physical && pf.symval != 0 && raw > pf.symval) pr.str(" +").hex(raw - pf.symval);
  } else {
    printmodule(pr, raw);
  }
  if (level >= 2) pr.str(" pc=").hex(raw);
  pr.str("\n");
}

// framename is the name to show for frame i of pf: the symbol's for the
// function that holds the pc (qualified, where the debug information's is
// a short name), else the debug information's.
const char* framename(const pcframes& pf, int i) {
  return i == pf.n - 1 && pf.sym != nullptr ? pf.sym : pf.f[i].function;
}

// printframe prints frame i of pf as Go's printframe: its name, then where.
void printframe(printer& pr, const pcframes& pf, int i, std::uintptr_t raw, int level) {
  printname(pr, framename(pf, i), true);
  pr.str("\n");
  printlocation(pr, pf, i, raw, level);
}

}  // namespace

void symbolizer_init() {
#if defined(GORT_HAVE_LIBBACKTRACE)
  pcframes pf;
  symbolize(reinterpret_cast<std::uintptr_t>(&symbolizer_init), pf);
#endif
}

// ---- headers, frames, creators ----

namespace {

const char* status_string(const gsnap& s) {
  if (s.status == gstatus::Gsyscall && s.in_user) return "running";  // its P taken, it runs its own code
  if (s.status == gstatus::Gwaiting) {
    const char* r = wait_reason_string(s.waitreason);
    if (*r != '\0') return r;
  }
  const auto i = static_cast<std::size_t>(s.status);
  return i < num_gstatus && gstatus_strings[i] != nullptr ? gstatus_strings[i] : "???";
}

}  // namespace

// Unsized, as wait_reason_strings (park.cpp): a count that differs from
// num_gstatus is a compile error.
const char* const gstatus_strings[] = {"idle", "runnable", "running", "syscall", "waiting", nullptr, "dead"};

// snapshot reads fields that their owners write without atomics: racy
// reads, as Go's traceback makes them, kept from ThreadSanitizer. status is
// acquire, paired with casgstatus's release store, so the fields set before
// the last transition read true if the G has not moved since; the rest are
// relaxed: the snapshot is checked (sp inside stk), not ordered.
__attribute__((no_sanitize("thread"))) gsnap snapshot(const g* gp) {
  g* g1 = const_cast<g*>(gp);  // for atomic_ref; nothing is written
  gsnap s;
  s.status = gp->atomicstatus.load(std::memory_order_acquire);
  s.goid = gp->goid;
  s.parent_goid = gp->parent_goid;
  s.waitreason = gp->waitreason;
  s.gopc = gp->gopc;
  s.locked = gp->lockedm != nullptr;
  s.waitsince = gp->waitsince.load(std::memory_order_relaxed);
  if (s.status == gstatus::Gsyscall)
    if (const m* mp = gp->m; mp != nullptr) s.in_user = mp->in_user.load(std::memory_order_relaxed);
  if (const stack* stk = std::atomic_ref<stack*>(g1->stk).load(std::memory_order_relaxed); stk != nullptr) {
    s.stack_lo = stk->lo;
    s.stack_hi = stk->hi;
  }
  s.sp = std::atomic_ref<void*>(g1->sched.sp).load(std::memory_order_relaxed);
  return s;
}

void goroutineheader(printer& pr, const gsnap& s, std::int64_t now, bool running) {
  // Go: how long it has been blocked, in minutes, shown from one on.
  std::int64_t waitfor = 0;
  const bool waiting = s.status == gstatus::Gwaiting || (s.status == gstatus::Gsyscall && !s.in_user);
  if (!running && waiting && s.waitsince > 0) waitfor = (now - s.waitsince) / 60'000'000'000;
  pr.str("goroutine ").dec(s.goid).str(" [").str(running ? "running" : status_string(s));
  if (waitfor >= 1) pr.str(", ").dec(waitfor).str(" minutes");
  if (s.locked) pr.str(", locked to thread");
  pr.str("]:\n");
}

void traceback(printer& pr, const pcbuf& buf, int level) {
  constexpr int max_shown = pcbuf::max - 1;  // Go's _TracebackMaxFrames
  // First the class of every frame (inlined ones included), so that a
  // plumbing frame can see what calls it; then the frames.
  constexpr int max_frames = 512;
  fclass cls[max_frames];
  int nf = 0;
  for (int i = 0; i < buf.n && nf < max_frames; ++i) {
    pcframes pf;
    symbolize(i == 0 && buf.exact0 ? buf.pc[i] : buf.pc[i] - 1, pf);
    for (int j = 0; j < pf.n && nf < max_frames; ++j) cls[nf++] = classify(pf, j);
  }
  auto shown = [&](int k) {
    if (level >= 2 || cls[k] == fclass::user) return true;
    if (cls[k] == fclass::runtime) return false;
    int next = k + 1;
    while (next < nf && cls[next] == fclass::plumbing) ++next;
    return next < nf && cls[next] == fclass::user;
  };
  int k = 0, printed = 0;
  bool elided = false;
  for (int i = 0; i < buf.n && k < nf && !elided; ++i) {
    const bool exact = i == 0 && buf.exact0;
    pcframes pf;
    symbolize(exact ? buf.pc[i] : buf.pc[i] - 1, pf);
    for (int j = 0; j < pf.n && k < nf; ++j, ++k) {
      if (!shown(k)) continue;
      if (printed == max_shown) {
        elided = true;
        break;
      }
      printframe(pr, pf, j, buf.pc[i], level);
      ++printed;
    }
  }
  if (elided || buf.n == pcbuf::max) pr.str("...additional frames elided...\n");
}

void printcreatedby(printer& pr, const gsnap& s, int level) {
  if (s.goid == 1 || s.gopc == 0) return;  // Go: never for goroutine 1
  pcframes pf;
  symbolize(s.gopc, pf);  // the address of an instruction in the go(), not a return address
  // The innermost frame is gort::go itself, inlined where it was called.
  int i = 0;
  while (i < pf.n - 1 && pf.f[i].file != nullptr && ends_with(pf.f[i].file, "/gort/runtime.hpp")) ++i;
  if (level < 2 && classify(pf, i) != fclass::user) return;
  pr.str("created by ");
  printname(pr, framename(pf, i), false);
  if (s.parent_goid != 0) pr.str(" in goroutine ").dec(s.parent_goid);
  pr.str("\n");
  printlocation(pr, pf, i, s.gopc, level);
}

// ---- stacks ----

namespace {

// unwind_arg: what the unwinder's callback fills. Frames are taken from the
// one whose pc is from (0: from the first), after skip frames.
struct unwind_arg {
  pcbuf* buf;
  std::uintptr_t from;
  bool exact;
  int skip;
  bool started;
};

_Unwind_Reason_Code collect(_Unwind_Context* ctx, void* data) {
  auto* a = static_cast<unwind_arg*>(data);
  int before = 0;
  const std::uintptr_t ip = _Unwind_GetIPInfo(ctx, &before);
  if (ip == 0) return _URC_END_OF_STACK;
  if (a->skip > 0) {
    --a->skip;
    return _URC_NO_REASON;
  }
  if (!a->started) {
    if (ip != a->from || (a->exact && before == 0)) return _URC_NO_REASON;
    a->started = true;
    a->buf->exact0 = a->exact;
  }
  a->buf->pc[a->buf->n++] = ip;
  return a->buf->n == pcbuf::max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

// probe_jmp: where a fault in a walk on this thread goes back to (probed).
// initial-exec: read from the fault handler.
thread_local sigjmp_buf* probe_jmp [[gnu::tls_model("initial-exec")]] = nullptr;

// probed runs walk with faults unblocked (a signal handler may be walking)
// and the probe armed: a fault inside it comes back here (probe_fault) and
// ends the walk, with the frames it had collected. The probe it found is
// put back after, for a walk in a signal handler that interrupted another.
template <class Walk>
void probed(Walk walk) {
  sigset_t faults, old;
  sigemptyset(&faults);
  sigaddset(&faults, SIGSEGV);
  sigaddset(&faults, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &faults, &old);
  sigjmp_buf* const outer = probe_jmp;
  sigjmp_buf jb;
  if (sigsetjmp(jb, 0) == 0) {
    probe_jmp = &jb;
    walk();
  }
  probe_jmp = outer;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// saved_return reads the return address of the switch frame at sp: a
// read of another goroutine's stack (see "Reading a stack that may move").
__attribute__((no_sanitize("thread", "address"))) std::uintptr_t saved_return(const void* sp) {
  const auto* f = static_cast<const switch_frame*>(sp);
#if defined(__x86_64__)
  return reinterpret_cast<std::uintptr_t>(f->ret);
#elif defined(__aarch64__)
  return reinterpret_cast<std::uintptr_t>(f->x30);
#endif
}

// unwind_switched fills buf with the stack of the context saved at s.sp,
// if s has one that lies in its stack: a parked or runnable goroutine's.
void unwind_switched(const gsnap& s, pcbuf& buf) {
  const auto sp = reinterpret_cast<std::uintptr_t>(s.sp);
  if (sp == 0 || s.stack_lo == 0 || sp < s.stack_lo || sp > s.stack_hi - sizeof(switch_frame) || sp % 16 != 0) return;
  // A goroutine that has never run has only the frame stack_prepare built.
  if (saved_return(s.sp) == reinterpret_cast<std::uintptr_t>(&gort_goentry_trampoline)) return;
  unwind_arg a{&buf, 0, false, 1, true};  // the first frame is gort_unwind_switched's
  // After a fault, no tsan_ignore_end: TSan runs a signal handler with no
  // ignores and restores them only if the handler returns; this one did not.
  probed([&] {
    tsan_ignore_begin();
    gort_unwind_switched(s.sp, &collect, &a);
    tsan_ignore_end();
  });
}

}  // namespace

void probe_fault() {
  if (sigjmp_buf* jb = probe_jmp) {
    probe_jmp = nullptr;
    siglongjmp(*jb, 1);
  }
}

[[gnu::noinline]] void callers(pcbuf& buf, std::uintptr_t from, bool exact) {
  buf.n = 0;
  unwind_arg a{&buf, from, exact, 0, from == 0};
  probed([&] { _Unwind_Backtrace(&collect, &a); });
  if (!a.started) {  // no frame had it (a tail call): all of them
    a = {&buf, 0, false, 0, true};
    probed([&] { _Unwind_Backtrace(&collect, &a); });
  }
}

bool in_signal_handler() noexcept {
  struct walk {
    int frames = 0;
    bool found = false;
  } w;
  probed([&] {
    _Unwind_Backtrace(
        [](_Unwind_Context* ctx, void* data) {
          auto* w = static_cast<walk*>(data);
          int signal_frame = 0;  // set for a frame a signal interrupted: its pc is exact
          if (_Unwind_GetIPInfo(ctx, &signal_frame) == 0) return _URC_END_OF_STACK;
          w->found = signal_frame != 0;
          return w->found || ++w->frames == 64 ? _URC_END_OF_STACK : _URC_NO_REASON;
        },
        &w);
  });
  return w.found;
}

void tracebackothers(printer& pr, const g* me, int level) {
  const std::int64_t now = nanotime();
  for_each_g([&](g* gp) {
    if (gp == me) return;
    const gsnap s = snapshot(gp);
    if (s.status == gstatus::Gdead || s.status == gstatus::Gidle || s.goid == 0) return;
    pr.str("\n");
    goroutineheader(pr, s, now);
    if (s.status == gstatus::Grunning || s.status == gstatus::Gsyscall) {
      pr.str("\tgoroutine running on other thread; stack unavailable\n");
    } else {
      pcbuf buf;
      unwind_switched(s, buf);
      traceback(pr, buf, level);
    }
    printcreatedby(pr, s, level);
  });
}

}  // namespace gort::rt

// ---- gort::dump_goroutines ----

namespace gort {

// dump_goroutines is Go's runtime.Stack(buf, true) (without stopping the
// world): the calling goroutine from its caller's frame, then the others,
// printed on g0's stack (systemstack), into a string that goes to os
// once the runtime is done with it.
[[gnu::noinline]] void dump_goroutines(std::ostream& os) {
  struct dump {
    rt::g* gp;
    rt::pcbuf cur;
    std::string out;
  } d{nullptr, {}, {}};
  {
    rt::entry_guard e("gort::dump_goroutines");
    d.gp = e.gp;
    rt::callers(d.cur, reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)));
    rt::systemstack(
        e.gp->m,
        [](void* arg) {
          auto* d = static_cast<dump*>(arg);
          rt::symbolizer_init();
          const int level = std::max(1, rt::gotraceback(rt::throw_type::none).level);  // Go's Stack ignores "none"
          rt::printer pr(&d->out, rt::stack_lo_of(d->gp->m));
          const rt::gsnap s = rt::snapshot(d->gp);
          rt::goroutineheader(pr, s, 0, true);
          rt::traceback(pr, d->cur, level);
          rt::printcreatedby(pr, s, level);
          rt::tracebackothers(pr, d->gp, level);
        },
        &d);
  }
  os << d.out;  // outside the runtime: os may be anything, even a gort::net stream
}

}  // namespace gort
