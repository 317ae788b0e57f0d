// rwmutex.cpp: sync.RWMutex. Go counterpart: sync/rwmutex.go (Go 1.23).
//
// reader_count counts the readers holding or waiting for the lock. A writer
// first takes w (excluding other writers), then announces itself by
// subtracting max_readers from reader_count: from then on a new reader sees
// a negative count and parks on reader_sem, so a pending writer stops new
// readers (writers are not starved). The writer moves the number of readers
// still active into reader_wait and parks on writer_sem; the last of them to
// leave wakes it. unlock adds max_readers back and wakes the readers that
// queued meanwhile, then releases w.
//
// Orders. A reader gets in with an acquire RMW on reader_count (lock_shared,
// try_lock_shared), paired with the release fetch_add in unlock; a reader
// that parked is ordered by the semaphore instead. A writer gets in with the
// acquire half of its fetch_sub in lock (try_lock: its CAS), paired with the
// release fetch_sub of every reader that left before it (all RMWs, hence one
// release sequence); readers that leave after it release through reader_wait,
// whose acq_rel RMWs chain them to the last, which wakes the writer. The
// release half of lock's RMWs is not needed (Go's are seq_cst). Relaxed: the
// load that seeds try_lock_shared's CAS, and the misuse undos before a panic.
#include <cstdint>

#include "gort/runtime.hpp"
#include "gort/sync.hpp"
#include "runtime/proc.hpp"
#include "runtime/sema.hpp"

namespace gort {
namespace {
constexpr std::int32_t max_readers = 1 << 30;
}

void RWMutex::lock_shared() {
  detail::require_goroutine("gort::RWMutex::lock_shared");
  if (reader_count_.fetch_add(1, std::memory_order_acquire) + 1 < 0) {
    // A writer is pending: wait for it.
    rt::semacquire(&reader_sem_, false, rt::wait_reason::sync_rwmutex_rlock);
  }
}

bool RWMutex::try_lock_shared() {
  detail::require_goroutine("gort::RWMutex::try_lock_shared");
  std::int32_t c = reader_count_.load(std::memory_order_relaxed);
  while (c >= 0)
    if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
  return false;
}

void RWMutex::unlock_shared() {
  const std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_release) - 1;
  if (r >= 0) return;
  // Go's rUnlockSlow.
  if (r + 1 == 0 || r + 1 == -max_readers) {
    reader_count_.fetch_add(1, std::memory_order_relaxed);  // undo, for a recovering caller
    throw panic_error("sync: RUnlock of unlocked RWMutex");
  }
  // A writer is pending: the last reader it waits for wakes it.
  if (reader_wait_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) rt::semrelease(&writer_sem_, 1, false);
}

// Not analyzed (nor try_lock and unlock): w_ stays held from lock to
// unlock, as part of the write lock, which the analysis sees as this.
void RWMutex::lock() GORT_NO_THREAD_SAFETY_ANALYSIS {
  w_.lock();
  // Announce the pending writer to readers; r readers are still active.
  const std::int32_t r = reader_count_.fetch_sub(max_readers, std::memory_order_acq_rel);
  if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_acq_rel) + r != 0)
    rt::semacquire(&writer_sem_, false, rt::wait_reason::sync_rwmutex_lock);
}

bool RWMutex::try_lock() GORT_NO_THREAD_SAFETY_ANALYSIS {
  if (!w_.try_lock()) return false;
  std::int32_t zero = 0;
  if (!reader_count_.compare_exchange_strong(zero, -max_readers, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
    w_.unlock();
    return false;
  }
  return true;
}

void RWMutex::unlock() GORT_NO_THREAD_SAFETY_ANALYSIS {
  // Announce to readers that there is no active writer.
  const std::int32_t r = reader_count_.fetch_add(max_readers, std::memory_order_release) + max_readers;
  if (r >= max_readers) {
    reader_count_.fetch_sub(max_readers, std::memory_order_relaxed);  // undo, for a recovering caller
    throw panic_error("sync: Unlock of unlocked RWMutex");
  }
  // Wake the readers that arrived while the writer held the lock.
  if (r > 0) rt::semrelease(&reader_sem_, static_cast<std::uint32_t>(r), false);
  w_.unlock();
}

}  // namespace gort
