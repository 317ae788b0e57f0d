// pool.hpp: fixed-size blocks for context nodes and CancelFunc closures.
// Go counterpart: the part of mallocgc a context costs in Go, the per-P
// mcache of small-object spans; here per OS thread, as glibc's tcache.
//
// Why. A program that makes and drops contexts in bursts (a request tree,
// bench/context.cpp's 111,111) frees them all together; glibc's free then
// coalesces them at the top of the heap and gives the pages back to the
// kernel (trim), and the next burst faults every page in again. Go's heap
// keeps freed memory for reuse (its scavenger returns it only slowly). So
// does this pool: memory once used for blocks of a size stays with the
// pool, never returned, bounded by the most blocks live at once.
//
// Layout. block_pool<Size> keeps free blocks on singly linked lists: one
// per thread (thread_local cache, no lock), and one global list under mu.
// alloc pops the thread's list; when that is empty it takes up to `batch`
// blocks from the global list, and when that is empty too it carves a
// 64 KiB chunk from malloc. free pushes on the thread's list; one holding
// 2 * batch gives batch of them to the global list. A block freed on
// another thread than it was allocated on is fine (it joins that thread's
// list); a thread's list goes to the global one when the thread exits.
// Memory order: the global list is under mu; a thread's list is
// touched by its own thread only.
//
// Goroutines move between threads, and a compiler may keep the address of
// a thread_local across a call it cannot see into (proc.cpp, "Thread-local
// state"): alloc and free are never inlined and make no runtime call, so
// no goroutine switch happens while one holds its thread's cache.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>

namespace gort::context::detail {

template <std::size_t Size>
class block_pool {
  static_assert(Size % alignof(std::max_align_t) == 0 && Size >= sizeof(void*));

 public:
  [[gnu::noinline]] static void* alloc() {
    cache& c = local;
    if (c.head == nullptr) refill(c);
    block* b = c.head;
    c.head = b->next;
    --c.n;
    return b;
  }
  [[gnu::noinline]] static void free(void* p) noexcept {
    cache& c = local;
    auto* b = static_cast<block*>(p);
    b->next = c.head;
    c.head = b;
    if (++c.n >= 2 * batch) spill(c);
  }

 private:
  struct block {
    block* next;
  };
  // A thread's list goes to the global list when the thread exits (an M
  // that stops), so no block is stranded with it.
  struct cache {
    block* head = nullptr;
    int n = 0;
    ~cache() {
      if (head == nullptr) return;
      block* last = head;
      while (last->next != nullptr) last = last->next;
      std::lock_guard<std::mutex> l(mu);
      last->next = global;
      global = head;
    }
  };
  static constexpr int batch = 64;
  static constexpr std::size_t chunk_bytes = 64 * 1024;

  static void refill(cache& c) {
    {
      std::lock_guard<std::mutex> l(mu);
      while (global != nullptr && c.n < batch) {
        block* b = global;
        global = b->next;
        b->next = c.head;
        c.head = b;
        ++c.n;
      }
    }
    if (c.head != nullptr) return;
    // A fresh chunk: its blocks go to this thread's list.
    auto* mem = static_cast<char*>(std::malloc(chunk_bytes));
    if (mem == nullptr) throw std::bad_alloc();
    for (std::size_t off = 0; off + Size <= chunk_bytes; off += Size) {
      auto* b = reinterpret_cast<block*>(mem + off);
      b->next = c.head;
      c.head = b;
      ++c.n;
    }
  }
  static void spill(cache& c) noexcept {
    block* first = c.head;
    block* last = first;
    for (int i = 1; i < batch; ++i) last = last->next;
    c.head = last->next;
    c.n -= batch;
    std::lock_guard<std::mutex> l(mu);
    last->next = global;
    global = first;
  }

  static inline std::mutex mu;
  static inline block* global = nullptr;  // guarded by mu
  static inline thread_local cache local;
};

// pool_size: n rounded up to the allocator's alignment.
constexpr std::size_t pool_size(std::size_t n) {
  return (n + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) * alignof(std::max_align_t);
}

// pooled<T>: a base that gives T a class-specific operator new and delete:
// objects of exactly T's size come from a block_pool; those of classes
// derived from T, which are bigger, from the global operator new.
template <class T>
struct pooled {
  static void* operator new(std::size_t n) {
    return n == sizeof(T) ? block_pool<pool_size(sizeof(T))>::alloc() : ::operator new(n);
  }
  static void operator delete(void* p, std::size_t n) noexcept {
    if (n == sizeof(T))
      block_pool<pool_size(sizeof(T))>::free(p);
    else
      ::operator delete(p);
  }
};

}  // namespace gort::context::detail
