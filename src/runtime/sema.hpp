// sema.hpp: semaphores for goroutines, keyed by address. Go counterpart:
// sema.go (semacquire1, semrelease1). The sync package is built on them.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/runtime2.hpp"

namespace gort::rt {

// semacquire waits until *addr > 0 and then decrements it, parking the
// goroutine (reason says why, for tracebacks). lifo queues this waiter
// ahead of the others on addr (sync.Mutex's re-queued waiters).
void semacquire(std::atomic<std::uint32_t>* addr, bool lifo, wait_reason reason);

// semrelease adds n to *addr and wakes up to n waiters on addr. After the
// increment it never touches *addr again, so the object holding it may be
// destroyed as soon as a woken waiter returns (WaitGroup's guarantee).
void semrelease(std::atomic<std::uint32_t>* addr, std::uint32_t n);

}  // namespace gort::rt
