// gort/sync.hpp: Go's sync package over the runtime's semaphores (sema.cpp).
// The types park goroutines, never OS threads. Like Go's zero values they are
// usable at once and not copyable.
//
//   gort::WaitGroup wg;
//   wg.add(n);
//   for (int i = 0; i < n; ++i) gort::go([&] { work(); wg.done(); });
//   wg.wait();
#pragma once

#include <atomic>
#include <cstdint>

namespace gort {

// WaitGroup waits for a collection of goroutines to finish (sync.WaitGroup).
// state packs the counter (high 32 bits) and the number of waiters (low 32),
// as Go's, so add() and wait() agree with one atomic word. Misuse panics with
// Go's messages ("sync: negative WaitGroup counter", ...). A WaitGroup may be
// destroyed as soon as wait() returns: the last done() touches it no more
// after waking the waiters.
class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(int delta);
  void done() { add(-1); }
  void wait();

 private:
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> sema_{0};
};

}  // namespace gort
