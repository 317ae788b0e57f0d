// fd_wait.cpp: wait_readable and wait_writable, parking a goroutine on an
// fd that gort does not own (a pipe, an eventfd, a C library's socket).
// Go has no public counterpart; it is what syscall.RawConn's Read(f) and
// Write(f) do between two attempts of f (internal/poll's RawRead).
//
// Algorithm. poll(fd, 0) first: if the fd is ready, or the deadline has
// passed, no registration is needed. Else the fd is registered with the
// poller for the wait (its entry in the registry below), the mode's
// deadline set, the mode's readiness forgotten (poll_reset), and then, in
// a loop: poll(fd, 0) again (readiness that came before the reset sent its
// edge already), and if still not ready, poll_wait until the next edge,
// the deadline, or an error. A wake with the fd still not ready (an edge
// consumed by an earlier waiter) waits again, so true means poll() said
// ready.
//
// The registry. The poller accepts an fd once (EEXIST after), and a
// poll_desc serves one reader and one writer: a foreign_fd entry keeps
// the fd's poll_desc while any goroutine waits on it, with refs counting
// them, and its fd_mutex lets one readable-waiter and one
// writable-waiter at a time use it (others queue, as Go's readers do on
// an FD). registry_lock (a runtime mutex: it blocks the M, for a map
// operation and a poll_open or poll_close) guards the map and refs. The
// last waiter to leave deregisters the fd under the lock, so no new
// waiter can poll_open it while it is still registered: EEXIST then
// means only that the fd belongs to a gort Conn, Listener or PacketConn.
// A regular file cannot be polled (EPERM) and is always ready.
#include <poll.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <unordered_map>

#include "gort/net.hpp"
#include "gort/runtime.hpp"
#include "net/fd_mutex.hpp"
#include "runtime/lock_futex.hpp"
#include "runtime/netpoll.hpp"
#include "runtime/preempt.hpp"

namespace gort::net {

namespace {

struct foreign_fd {
  rt::poll_desc* pd;
  int refs = 0;             // guarded by registry_lock
  detail::fd_mutex waiters;  // rwlock(true): the readable-waiter; rwlock(false): the writable-waiter
};

rt::mutex registry_lock{rt::lock_rank::fd_registry};
std::unordered_map<int, foreign_fd*> registry GORT_GUARDED_BY(registry_lock);

// ready_now: poll(fd, 0). An error or hang-up counts as ready: the next
// read or write would not block, it would fail or see EOF.
bool ready_now(const char* what, int fd, int mode) {
  pollfd p{fd, static_cast<short>(mode == 'r' ? POLLIN : POLLOUT), 0};
  int n;
  while ((n = ::poll(&p, 1, 0)) < 0 && last_errno() == EINTR) {
  }
  if (n < 0) throw std::system_error(last_errno(), std::system_category(), what);
  if (p.revents & POLLNVAL)
    throw std::invalid_argument(std::string(what) + ": fd " + std::to_string(fd) + " is not open");
  return p.revents != 0;
}

// acquire: fd's registry entry, made on first use. nullptr for a regular
// file (always ready).
foreign_fd* acquire(const char* what, int fd) {
  registry_lock.lock();
  foreign_fd*& f = registry[fd];
  if (f == nullptr) {
    rt::poll_desc* pd = rt::poll_open(fd);
    if (pd == nullptr) {
      const int e = last_errno();
      registry.erase(fd);
      registry_lock.unlock();
      if (e == EPERM) return nullptr;
      if (e == EEXIST)
        throw std::invalid_argument(std::string(what) + ": fd " + std::to_string(fd) +
                                    " belongs to a gort Conn, Listener or PacketConn");
      throw std::system_error(e, std::system_category(), what);
    }
    f = new foreign_fd{pd, 0, {}};
  }
  ++f->refs;
  registry_lock.unlock();
  return f;
}

void release(int fd, foreign_fd* f) {
  registry_lock.lock();
  if (--f->refs == 0) {
    registry.erase(fd);
    rt::poll_unblock(f->pd);  // stops its deadline timers
    rt::poll_close(f->pd);
    delete f;
  }
  registry_lock.unlock();
}

bool wait_fd(const char* what, int fd, time_point deadline, int mode) {
  rt::entry_guard e(what);
  if (fd < 0) throw std::invalid_argument(std::string(what) + ": negative fd " + std::to_string(fd));
  if (ready_now(what, fd, mode)) return true;
  const std::int64_t d =
      deadline == time_point{}
          ? 0
          : std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
  if (d != 0 && d <= rt::nanotime()) return false;
  foreign_fd* f = acquire(what, fd);
  if (f == nullptr) return true;
  // The mode is this goroutine's until the scope ends, even by an exception.
  struct waiter {
    int fd;
    foreign_fd* f;
    int mode;
    waiter(int fd, foreign_fd* f, int mode) : fd(fd), f(f), mode(mode) {
      f->waiters.rwlock(mode == 'r');  // never closed: always locked
    }
    ~waiter() {
      rt::poll_set_deadline(f->pd, 0, mode);
      f->waiters.rwunlock(mode == 'r');
      release(fd, f);
    }
  } w(fd, f, mode);
  rt::poll_set_deadline(f->pd, d, mode);
  int res = rt::poll_reset(f->pd, mode);
  while (res == rt::poll_no_error) {
    if (ready_now(what, fd, mode)) return true;
    res = rt::poll_wait(f->pd, mode);
  }
  // EPOLLERR alone: the fd has an error, which the caller's next call
  // reports; a deadline (or the poller closing) is false.
  return res == rt::poll_err_not_pollable;
}

}  // namespace

bool wait_readable(int fd, time_point deadline) { return wait_fd("gort::net::wait_readable", fd, deadline, 'r'); }

bool wait_writable(int fd, time_point deadline) { return wait_fd("gort::net::wait_writable", fd, deadline, 'w'); }

}  // namespace gort::net
