// fd_mutex.hpp: the reference-counting lock of a file descriptor. Go
// counterpart: internal/poll/fd_mutex.go (fdMutex), same protocol and
// names.
//
// Every operation on an fd holds a reference for its duration, so that
// close() can mark the fd closing at once and leave the real close(2) to
// whoever drops the last reference: an fd number is never closed while a
// system call may still be using it (where it could already name another
// file). Reads also hold the read lock, writes the write lock, so that
// reads serialize with reads and writes with writes (a poll_desc serves one
// reader and one writer at a time) while a read and a write run together.
//
// state, one 64-bit word changed only by CAS:
//   bit 0        closed: no new reference, no new lock
//   bit 1        read lock held
//   bit 2        write lock held
//   bits 3..22   references (locks included)
//   bits 23..42  goroutines waiting for the read lock (parked on rsema)
//   bits 43..62  goroutines waiting for the write lock (parked on wsema)
//
// Invariants:
//   F1  a lock bit is set => its holder counts one reference.
//   F2  each goroutine parked for a lock, or woken and not yet back from
//       rwlock, counts one reference.
//   F3  waiters of a kind > 0 => that kind's lock bit is set, or closed is
//       set and incref_and_close has released their semaphore.
//   F4  closed never clears.
// A waiter woken by rwunlock retries its CAS from the top; one woken by
// incref_and_close finds closed set and fails.
//
// gort: F2 is not Go's. Go's waiters hold no reference and the garbage
// collector keeps the fdMutex alive until they return; here the fd's owner
// frees it once close() returns, and close() waits for the last reference
// (poll_fd::close), so a parked waiter must count as one.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::net::detail {

class fd_mutex {
 public:
  // incref adds a reference; false if closed.
  bool incref();
  // incref_and_close sets closed and adds a reference; false if it was
  // already closed. Wakes every waiter for a lock, which then fails.
  bool incref_and_close();
  // decref drops a reference; true if it was the last one of a closed fd
  // (the caller then destroys the fd).
  bool decref();
  // rwlock takes the read (or write) lock and a reference, parking behind
  // the holder. closed_last: closed, and this caller (a woken waiter)
  // dropped the last reference, so it destroys the fd. Must run on a
  // goroutine.
  enum class lock_result { locked, closed, closed_last };
  lock_result rwlock(bool read);
  // rwunlock drops the lock and its reference, waking one waiter; true as
  // decref.
  bool rwunlock(bool read);

 private:
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> rsema_{0};
  std::atomic<std::uint32_t> wsema_{0};
};

}  // namespace gort::net::detail
