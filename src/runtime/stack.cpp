// stack.cpp: goroutine stacks. Go counterpart: stack.go (stackalloc,
// stackfree, stackcache), and gfput/gfget's handling of stacks in proc.go.
//
// Go grows stacks by copying, from 2 KiB; C++ frames hold raw pointers into
// the stack, so a gort stack never moves: each is a fixed reservation of
// stack_size bytes (Config::stack_size, default 256 KiB) that the kernel
// backs with memory only as it is touched. A goroutine that stays shallow
// costs one or two resident pages.
//
// Layout. Stacks are carved from chunks of 64, and chunks from regions of
// up to 256 chunks (about 4 GiB with the default size), one mmap each
// (address space only: MAP_NORESERVE). Making a chunk needs no mmap: mmap
// takes the kernel's mmap lock for writing, and while a burst of new
// goroutines ran on two Ps, their chunks' mmaps and populates (which hold it
// for reading) kept blocking each other (docs/PERFORMANCE.md, "Figures
// behind the comments"). A region the kernel
// refuses (strict overcommit) is retried at half the size, down to one
// chunk. Each stack is a guard page and then stack_size
// bytes; the stack descriptor (runtime2.hpp, struct stack) sits in the top 64
// bytes, so it shares the first page a goroutine touches:
//
//     | guard | lo ............................... hi | descriptor |
//
// Guard pages. A goroutine that runs off the bottom of its stack must stop
// the program with "fatal error: stack overflow" (the SIGSEGV handler in
// panic.cpp), never corrupt its neighbour. Linux 6.13+ has MADV_GUARD_INSTALL:
// guard pages that cost no VMA, so a million stacks stay one mapping per
// region. Older kernels only have mprotect, which splits the mapping (two VMAs
// per stack), and vm.max_map_count (65530 by default) would stop us near
// 30,000 stacks. So on such kernels stacks get mprotect guards while the VMA
// budget lasts (half of max_map_count, less a margin for the program), and
// beyond it a canary: a magic word at lo, checked at every switch away from
// the goroutine and when it exits. The lowest page of every chunk is always
// a guard (one per 64 stacks fits the budget even at a million), so a stack
// without a guard that overflows runs at worst into the stacks below it in
// its chunk and then faults, reported as a stack overflow since the stack
// pointer has left the stack; the canary catches one that comes back before
// it faults. That is the price of a million goroutines on an old kernel, and
// the reason to run a new one.
//
// When a stack is taken. A G gets its stack when it first runs
// (stack_prepare from execute), not when it is created as in Go's newproc1:
// Gs waiting in run queues hold no stack, and a stack freed by an exiting G
// is handed to the next new G while its pages are still resident and in
// cache. Spawning a million goroutines that each finish quickly so touches a
// handful of stacks, not a million: a page's first touch costs a fault, many
// times the cost of reusing a resident page (docs/PERFORMANCE.md).
//
// Pools, as Go's gFree lists. Each P caches up to 32 free stacks (owner only,
// no lock); past that it moves 16 to the global pool (under stackpool.lock),
// and an empty cache takes 16 back. Stacks are unmapped only when run() ends.
//
// Scavenging, as Go's background scavenger. A stack that enters the global
// pool keeps its pages for now (dirty); sysmon gives its deep pages back to
// the OS (MADV_DONTNEED below its top 16 KiB) once it has sat in the pool
// through a whole scavenge period of a second (aged), and all of them when
// every P goes idle for as long (stack_scavenge). So the pool does not keep
// the memory of a burst of deep recursion for long, a burst of goroutines
// reuses resident stacks first (dirty, then aged, then released ones), and
// the release is not paid by exiting goroutines on their way out
// (docs/PERFORMANCE.md, "Figures behind the comments"). The work is
// deferred to sysmon's thread, not saved, unless the stacks are
// reused first.
#include "runtime/stack.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "runtime/export_test.hpp"
#include "runtime/panic.hpp"
#include "runtime/proc.hpp"

#if defined(GORT_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#if defined(GORT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace gort::rt {
namespace {

constexpr std::size_t default_stack_size = 256 * 1024;
constexpr std::size_t min_stack_size = 16 * 1024;
constexpr std::size_t descriptor_size = 64;
constexpr std::size_t chunk_stacks = 64;
constexpr std::size_t region_chunks = 256;
constexpr std::int32_t stackcache_max = 32;
constexpr std::int32_t stackcache_batch = 16;
constexpr std::size_t keep_resident = 16 * 1024;
constexpr std::uint64_t canary = 0x676f72742d737470ull;  // "gort-stp"
// A stack's top (its descriptor's address) must be 16-byte aligned, as both
// ABIs want the stack pointer at a call; the top of the mapping is a page.
static_assert(descriptor_size % 16 == 0);
static_assert(chunk_stacks > stackcache_batch);  // stackalloc pools the rest of a new chunk

struct chunk {
  void* addr;
  std::size_t len;
};

struct stackpool_t {
  mutex lock{lock_rank::stackpool};
  stack* dirty GORT_GUARDED_BY(lock) = nullptr;  // spilled since the last scavenge; deep pages may be resident
  stack* aged GORT_GUARDED_BY(lock) = nullptr;   // spilled before the last scavenge
  stack* free GORT_GUARDED_BY(lock) = nullptr;   // deep pages given back, or never touched
  std::vector<chunk> chunks GORT_GUARDED_BY(lock);   // every chunk made
  std::vector<chunk> regions GORT_GUARDED_BY(lock);  // every region mapped
  unsigned char* region_next GORT_GUARDED_BY(lock) = nullptr;  // the current region's next chunk
  std::size_t region_left GORT_GUARDED_BY(lock) = 0;           // chunks left in it
  std::size_t size = 0;       // bytes per stack, [lo, hi) plus descriptor
  std::size_t page = 4096;
  std::atomic<bool> guard_install{true};  // MADV_GUARD_INSTALL works here
  std::int64_t mprotect_budget = 0;  // guard pages mprotect may still add
  int pidfd = -1;               // this process, for process_madvise
  pid_t pidfd_pid = 0;          // whose pidfd it is (a forked child opens its own)
} pool;

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

std::int64_t read_max_map_count() {
  std::int64_t v = 65530;
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    long long x;
    if (std::fscanf(f, "%lld", &x) == 1) v = x;
    std::fclose(f);
  }
  return v;
}

// guard_faults checks that addr really faults: the kernel refuses to copy
// from it (EFAULT). Some environments accept MADV_GUARD_INSTALL and do
// nothing (qemu-user 7.2 returns 0): trust it only once it has been seen to
// work.
bool guard_faults(const void* addr) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const bool faults = write(fds[1], addr, 1) < 0 && errno == EFAULT;
  close(fds[0]);
  close(fds[1]);
  return faults;
}

// madvise_all applies advice to every range in v: in one process_madvise
// call where the kernel takes any advice from a process for itself (Linux
// 6.13+), else one madvise per range. False if some range failed.
bool madvise_all(iovec* v, std::size_t n, int advice) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) bytes += v[i].iov_len;
  if (pool.pidfd >= 0 && syscall(SYS_process_madvise, pool.pidfd, v, n, advice, 0) == static_cast<long>(bytes))
    return true;
  bool ok = true;
  for (std::size_t i = 0; i < n; ++i) ok &= madvise(v[i].iov_base, v[i].iov_len, advice) == 0;
  return ok;
}

// install_guards makes each range of v (a guard page) fault on access and
// marks its stack guarded, in guarded[i]. Without pool.lock: it takes it
// for the mprotect fallback's budget.
// Per process: has a MADV_GUARD_INSTALL guard been seen to fault (1), or
// not (0), or not tried yet (-1)? Two threads may both find out; they find
// the same. Relaxed, as pool.guard_install: each is the whole message, and
// a stale value only costs one madvise that install_guards' fallback covers.
std::atomic<int> guards_verified{-1};

void install_guards(iovec* v, std::size_t n, bool* guarded) {
  if (pool.guard_install.load(std::memory_order_relaxed) && guards_verified.load(std::memory_order_relaxed) != 0 &&
      madvise_all(v, n, MADV_GUARD_INSTALL)) {
    int ok = guards_verified.load(std::memory_order_relaxed);
    if (ok == -1) {
      ok = guard_faults(v[0].iov_base) ? 1 : 0;
      guards_verified.store(ok, std::memory_order_relaxed);
    }
    if (ok == 1) {
      std::fill(guarded, guarded + n, true);
      return;
    }
  }
  pool.guard_install.store(false, std::memory_order_relaxed);  // kernel older than 6.13, or an emulator
  pool.lock.lock();
  // The chunk's lowest guard (v[0]) is installed whatever the budget: a
  // stack without a guard that overflows then runs into its neighbours in
  // the chunk and faults there, never into memory beyond the chunk.
  for (std::size_t i = 0; i < n; ++i) {
    guarded[i] = (i == 0 || pool.mprotect_budget > 0) && mprotect(v[i].iov_base, pool.page, PROT_NONE) == 0;
    if (guarded[i]) --pool.mprotect_budget;
  }
  pool.lock.unlock();
}

// newchunk maps chunk_stacks stacks and returns them as a list, lowest
// first (last: its tail). Their guard pages are installed, and their top
// pages made resident, in one system call each (MADV_POPULATE_WRITE): a page
// populated in a batch costs a fraction of one that faults in on first touch
// (docs/PERFORMANCE.md). Takes pool.lock only for the region and the
// chunk list (and install_guards for the mprotect budget): the system calls
// are most of the cost, and
// two Ps may need stacks at once, as when a burst of new goroutines runs on
// both.
stack* newchunk(stack*& last) {
  const std::size_t span = pool.page + pool.size;
  const std::size_t len = span * chunk_stacks;
  pool.lock.lock();
  if (pool.region_left == 0) {
    for (std::size_t n = region_chunks;; n /= 2) {
      void* mem = mmap(nullptr, len * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (mem != MAP_FAILED) {
        pool.regions.push_back({mem, len * n});
        pool.region_next = static_cast<unsigned char*>(mem);
        pool.region_left = n;
        break;
      }
      if (n == 1) fatal("runtime: cannot allocate memory for goroutine stacks (mmap failed)");
    }
  }
  unsigned char* base = pool.region_next;
  pool.region_next += len;
  --pool.region_left;
  pool.chunks.push_back({base, len});
  pool.lock.unlock();
  iovec guards[chunk_stacks], tops[chunk_stacks];
  bool guarded[chunk_stacks];
  for (std::size_t i = 0; i < chunk_stacks; ++i) {
    guards[i] = {base + i * span, pool.page};
    tops[i] = {base + (i + 1) * span - pool.page, pool.page};
  }
  install_guards(guards, chunk_stacks, guarded);
  madvise_all(tops, chunk_stacks, MADV_POPULATE_WRITE);  // if refused, pages fault in as used
  stack* first = nullptr;
  for (std::size_t i = chunk_stacks; i-- > 0;) {
    auto* s = reinterpret_cast<stack*>(base + (i + 1) * span - descriptor_size);
    s->lo = reinterpret_cast<std::uintptr_t>(base + i * span + pool.page);
    s->hi = reinterpret_cast<std::uintptr_t>(s);
    s->guarded = guarded[i];
#if defined(GORT_TSAN)
    s->tsan_fiber = nullptr;  // made on first use (stack_prepare)
#endif
    if (!s->guarded) *reinterpret_cast<std::uint64_t*>(s->lo) = canary;
    if (first == nullptr) last = s;
    s->next = first;
    first = s;
  }
  return first;
}

// deep_range is the part of s below its top keep_resident bytes.
iovec deep_range(const stack* s) {
  std::uintptr_t end = (s->hi - keep_resident) & ~(pool.page - 1);
  return {reinterpret_cast<void*>(s->lo), end > s->lo ? end - s->lo : 0};
}

// pool_get takes a stack from the pool, the most resident first; nullptr
// if it is empty.
stack* pool_get() GORT_REQUIRES(pool.lock) {
  assert_lock_held(&pool.lock);
  for (stack** list : {&pool.dirty, &pool.aged, &pool.free}) {
    if (stack* s = *list) {
      *list = s->next;
      return s;
    }
  }
  return nullptr;
}

// cachecnt_add: pp's owner counts its cache; stats reads the count. Relaxed
// here and wherever it is read: the owner reads its own count, procresize
// with the world stopped, stats a snapshot; no stack is reached through it.
void cachecnt_add(p* pp, std::int32_t d) {
  pp->stackcachecnt.store(pp->stackcachecnt.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

stack* stackalloc(p* pp) {
  if (pp->stackcache == nullptr) {
    std::int32_t n = 0;
    pool.lock.lock();
    for (; n < stackcache_batch; ++n) {
      stack* s = pool_get();
      if (s == nullptr) break;
      s->next = pp->stackcache;
      pp->stackcache = s;
    }
    pool.lock.unlock();
    if (n < stackcache_batch) {  // a new chunk: keep what we need, pool the rest
      stack* last = nullptr;
      stack* rest = newchunk(last);
      for (; n < stackcache_batch; ++n) {
        stack* s = rest;
        rest = s->next;
        s->next = pp->stackcache;
        pp->stackcache = s;
      }
      pool.lock.lock();
      last->next = pool.free;
      pool.free = rest;
      pool.lock.unlock();
    }
    cachecnt_add(pp, static_cast<std::int32_t>(n));
  }
  stack* s = pp->stackcache;
  pp->stackcache = s->next;
  cachecnt_add(pp, -1);
  return s;
}

// spill moves n stacks from pp's cache to the pool's dirty list.
void spill(p* pp, std::int32_t n) {
  stack* first = pp->stackcache;
  stack* last = nullptr;
  for (std::int32_t k = 0; k < n && pp->stackcache != nullptr; ++k) {
    last = pp->stackcache;
    pp->stackcache = last->next;
    cachecnt_add(pp, -1);
  }
  if (last == nullptr) return;
  pool.lock.lock();
  last->next = pool.dirty;
  pool.dirty = first;
  pool.lock.unlock();
}

}  // namespace

// Not analyzed: it writes the pool without its lock, before any other M runs.
void stackinit(std::size_t size) GORT_NO_THREAD_SAFETY_ANALYSIS {
  pool.page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  if (size == 0) size = default_stack_size;
  size = std::max(round_up(size, pool.page), min_stack_size);
  pool.size = size;
  pool.dirty = pool.aged = pool.free = nullptr;
  // Relaxed: before any M but this one runs, whose start orders it.
  pool.guard_install.store(debug.stackguard == dbgvars::stackguard_mode::best, std::memory_order_relaxed);
  pool.mprotect_budget = debug.stackguard == dbgvars::stackguard_mode::canary
                             ? 0
                             : std::max<std::int64_t>(0, read_max_map_count() / 2 - 2000);
  if (pool.pidfd_pid != getpid()) {
    if (pool.pidfd >= 0) close(pool.pidfd);
    pool.pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));  // -1 before Linux 5.3
    pool.pidfd_pid = getpid();
  }
}

void stack_scavenge(bool all) {
  pool.lock.lock();
  stack* list = pool.aged;
  pool.aged = pool.dirty;
  pool.dirty = nullptr;
  if (all) {
    stack** tail = &list;
    while (*tail) tail = &(*tail)->next;
    *tail = pool.aged;
    pool.aged = nullptr;
  }
  pool.lock.unlock();
  // Outside the lock, in system calls of up to 64 ranges: these stacks are
  // in no list meanwhile.
  constexpr std::size_t batch = 64;
  while (list != nullptr) {
    stack* first = list;
    stack* last = nullptr;
    iovec deep[batch];
    std::size_t k = 0;
    for (; k < batch && list != nullptr; ++k, list = list->next) {
      last = list;
      deep[k] = deep_range(list);
    }
    madvise_all(deep, k, MADV_DONTNEED);  // the deep pages read as zero when next touched
    for (stack* s = first;; s = s->next) {
      if (!s->guarded) *reinterpret_cast<std::uint64_t*>(s->lo) = canary;
      if (s == last) break;
    }
    pool.lock.lock();
    last->next = pool.free;
    pool.free = first;
    pool.lock.unlock();
  }
}

void stackteardown() {
  pool.lock.lock();
#if defined(GORT_TSAN) || defined(GORT_ASAN)
  for (const chunk& c : pool.chunks) {
#if defined(GORT_TSAN)
    const std::size_t span = pool.page + pool.size;
    for (std::size_t off = span; off <= c.len; off += span) {
      auto* s = reinterpret_cast<stack*>(static_cast<unsigned char*>(c.addr) + off - descriptor_size);
      if (s->tsan_fiber) __tsan_destroy_fiber(s->tsan_fiber);
    }
#endif
#if defined(GORT_ASAN)
    // Abandoned goroutines leave their frames' redzones poisoned.
    ASAN_UNPOISON_MEMORY_REGION(c.addr, c.len);
#endif
  }
#endif
  for (const chunk& r : pool.regions) munmap(r.addr, r.len);
  pool.chunks.clear();
  pool.regions.clear();
  pool.region_next = nullptr;
  pool.region_left = 0;
  pool.dirty = pool.aged = pool.free = nullptr;
  pool.lock.unlock();
}

// gp->stk and gp->sched.sp are stored relaxed here and in stackfree: the
// owner's own later reads need no order, and the lock-free readers,
// prefetch_next and traceback's snapshot, only peek, and check what they read.
void stack_prepare(p* pp, g* gp) {
  stack* s = stackalloc(pp);
  std::atomic_ref<stack*>(gp->stk).store(s, std::memory_order_relaxed);  // see prefetch_next
#if defined(GORT_ASAN)
  // The last goroutine on this stack left by switching away, so the frames
  // it never returned from are still poisoned in ASan's shadow.
  ASAN_UNPOISON_MEMORY_REGION(reinterpret_cast<void*>(s->lo), s->hi - s->lo);
#endif
#if defined(GORT_TSAN)
  if (!s->tsan_fiber) s->tsan_fiber = __tsan_create_fiber(0);
#endif
  auto* f = reinterpret_cast<switch_frame*>(s->hi - sizeof(switch_frame));
  std::memset(f, 0, sizeof *f);
#if defined(__x86_64__)
  f->mxcsr = default_mxcsr;
  f->fpucw = default_fpucw;
  f->r12 = gp;
  f->ret = reinterpret_cast<void*>(&gort_goentry_trampoline);
#elif defined(__aarch64__)
  f->x19 = gp;
  f->x30 = reinterpret_cast<void*>(&gort_goentry_trampoline);
#endif
  std::atomic_ref<void*>(gp->sched.sp).store(f, std::memory_order_relaxed);  // see prefetch_next
}

void stackfree(p* pp, g* gp) {
  stack* s = gp->stk;
  std::atomic_ref<stack*>(gp->stk).store(nullptr, std::memory_order_relaxed);  // see prefetch_next
  std::atomic_ref<void*>(gp->sched.sp).store(nullptr, std::memory_order_relaxed);
  s->next = pp->stackcache;
  pp->stackcache = s;
  cachecnt_add(pp, 1);
  if (pp->stackcachecnt.load(std::memory_order_relaxed) > stackcache_max) spill(pp, stackcache_batch);
}

void stackcache_flush(p* pp) { spill(pp, pp->stackcachecnt.load(std::memory_order_relaxed)); }

std::size_t stacks_pooled() {
  std::size_t n = 0;
  const std::int32_t procs = allp_len();
  for (std::int32_t i = 0; i < procs; ++i)
    n += static_cast<std::size_t>(allp[i]->stackcachecnt.load(std::memory_order_relaxed));
  pool.lock.lock();
  for (stack* list : {pool.dirty, pool.aged, pool.free})
    for (stack* s = list; s != nullptr; s = s->next) ++n;
  pool.lock.unlock();
  return n;
}

void stack_canary_slow(const g* gp) {
  if (*reinterpret_cast<const std::uint64_t*>(gp->stk->lo) != canary) {
    printerr("runtime: goroutine stack exceeds %zu-byte limit\n", pool.size - descriptor_size);
    printerr("runtime: canary at the bottom of goroutine %llu's stack overwritten\n",
             static_cast<unsigned long long>(gp->goid));
    fatal("stack overflow");
  }
}

bool stack_guard_hit(const g* gp, const void* addr) {
  if (gp == nullptr || gp->stk == nullptr) return false;
  auto a = reinterpret_cast<std::uintptr_t>(addr);
  // The guard page, and anything a large frame skipped to below it within
  // one more page: both mean the stack ran out.
  return a < gp->stk->lo && a + 2 * pool.page >= gp->stk->lo;
}

int stack_gcore(bool prepare) {
  if (!pool.lock.try_lock()) return -1;
  int rc = 0;
  if (pool.region_left > 0) {
    const std::size_t len = (pool.page + pool.size) * chunk_stacks * pool.region_left;
    if (madvise(pool.region_next, len, prepare ? MADV_DONTDUMP : MADV_DODUMP) != 0) rc = -2;
  }
  // Lifting a chunk's guards takes one range; putting them back, one per
  // guard page. Pages that had an mprotect guard or none (past the budget)
  // get a madvise guard then: below a stack's lo, so no stack uses them.
  if (guards_verified.load(std::memory_order_relaxed) == 1) {
    const std::size_t span = pool.page + pool.size;
    for (const chunk& c : pool.chunks) {
      iovec v[chunk_stacks];
      std::size_t n = 0;
      if (prepare) {
        v[n++] = {c.addr, c.len};
      } else {
        for (; n < chunk_stacks; ++n) v[n] = {static_cast<unsigned char*>(c.addr) + n * span, pool.page};
      }
      if (!madvise_all(v, n, prepare ? MADV_GUARD_REMOVE : MADV_GUARD_INSTALL)) rc = -2;
    }
  }
  pool.lock.unlock();
  return rc;
}

void census_stack(Census& c) {
  pool.lock.lock();
  c.stacks += pool.chunks.size() * chunk_stacks;
  c.stack_regions += pool.regions.size();
  pool.lock.unlock();
}

}  // namespace gort::rt
