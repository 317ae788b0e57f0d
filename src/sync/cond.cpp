// cond.cpp: sync.Cond. Go counterpart: sync/cond.go, over the runtime's
// notifyList (src/runtime/sema.cpp, notify_list_*).
//
// wait takes a ticket before it unlocks the lockable and parks only if that
// ticket has not been notified meanwhile, so a signal() between the unlock
// and the park is not lost, and a signal wakes only waiters that took their
// ticket before it. The ticket is taken without the notify list's lock, so
// waiters holding the read side of an RWMutex (rlocker) may wait at once.
//
// The Cond holds its lockable type-erased (sync.hpp): Go's Locker is an
// interface, and the two indirect calls cost nothing beside a park. The
// notify list lives in the Cond's opaque storage so that the public header
// shows none of the runtime's fields; this file alone sees both.
#include <new>
#include <type_traits>

#include "gort/runtime.hpp"
#include "gort/sync.hpp"
#include "runtime/sema.hpp"

namespace gort {
namespace {

detail::notify_list* list_of(unsigned char* storage) {
  return std::launder(reinterpret_cast<detail::notify_list*>(storage));
}

}  // namespace

void Cond::init() noexcept {
  static_assert(sizeof(detail::notify_list) <= sizeof(list_), "Cond's storage holds a notify list");
  static_assert(alignof(detail::notify_list) <= alignof(void*), "and aligns it");
  static_assert(std::is_trivially_destructible_v<detail::notify_list>, "Cond needs no destructor");
  ::new (static_cast<void*>(list_)) detail::notify_list;
}

Cond::Cond(RWMutex::RLocker l) noexcept
    : l_(l.rw_),
      lock_([](void* p) GORT_NO_THREAD_SAFETY_ANALYSIS { static_cast<RWMutex*>(p)->lock_shared(); }),
      unlock_([](void* p) GORT_NO_THREAD_SAFETY_ANALYSIS { static_cast<RWMutex*>(p)->unlock_shared(); }) {
  init();
}

void Cond::wait() {
  // Before unlocking: a thread the runtime did not start cannot park, and
  // must not leave the lock released behind it.
  detail::require_goroutine("gort::Cond::wait");
  detail::notify_list* l = list_of(list_);
  const std::uint32_t t = detail::notify_list_add(l);
  unlock_(l_);
  detail::notify_list_wait(l, t);
  lock_(l_);
}

void Cond::signal() noexcept { detail::notify_list_notify_one(list_of(list_)); }

void Cond::broadcast() noexcept { detail::notify_list_notify_all(list_of(list_)); }

}  // namespace gort
