// fd_poll.cpp: Go's poll.FD over gort's netpoller. See fd_poll.hpp for the
// I/O loop and the closing protocol.
//
// References. Each public operation holds an op_ref for its scope: the
// read lock (read, read_from, accept), the write lock (write, write_to,
// wait_write) or a plain reference (set_deadline, shutdown). Its
// destructor drops it and, if it was the last of a closed fd, destroys
// the fd: the destroying goroutine may be any of them, close()'s own
// included. destroy() touches the poll_fd last in its semrelease of csema,
// after which close() may return and the owner free it.
#include "net/fd_poll.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "gort/runtime.hpp"
#include "runtime/netpoll.hpp"
#include "runtime/proc.hpp"
#include "runtime/sema.hpp"

namespace gort::net::detail {

namespace {

// Go's maxRW: a stream read or write moves at most 1 GiB per system call
// (Linux returns EINVAL past 2 GiB on some file systems).
constexpr std::size_t max_rw = std::size_t{1} << 30;

// convert_err: a poll_reset / poll_wait result as an fd_error (Go's
// convertErr).
fd_error convert_err(int res) {
  switch (res) {
    case rt::poll_err_closing:
      return {err_net_closing};
    case rt::poll_err_timeout:
      return {err_deadline};
    case rt::poll_err_not_pollable:
      return {err_not_pollable};
    default:
      return {};
  }
}

}  // namespace

class poll_fd::op_ref {
 public:
  enum kind { read_lock, write_lock, ref };
  op_ref(poll_fd& fd, kind k) : fd_(fd), k_(k) {
    if (k == ref) {
      ok_ = fd.fdmu.incref();
      return;
    }
    switch (fd.fdmu.rwlock(k == read_lock)) {
      case fd_mutex::lock_result::locked:
        ok_ = true;
        break;
      case fd_mutex::lock_result::closed:
        break;
      case fd_mutex::lock_result::closed_last:
        fd.destroy();
        break;
    }
  }
  ~op_ref() {
    if (!ok_) return;
    if (k_ == ref ? fd_.fdmu.decref() : fd_.fdmu.rwunlock(k_ == read_lock)) fd_.destroy();
  }
  op_ref(const op_ref&) = delete;
  op_ref& operator=(const op_ref&) = delete;
  // held: false if the fd is closed (the operation fails with err_net_closing).
  bool held() const { return ok_; }

 private:
  poll_fd& fd_;
  kind k_;
  bool ok_ = false;
};

fd_error poll_fd::init(int fd, bool stream, bool tcp) {
  pd = rt::poll_open(fd);
  if (pd == nullptr) return {last_errno(), "epoll_ctl"};
  sysfd = fd;
  is_stream = stream;
  is_tcp = tcp;
  return {};
}

void poll_fd::destroy() {
  // The poller forgets the fd before the number can be reused.
  rt::poll_close(pd);
  pd = nullptr;
  // No retry on EINTR: Linux has closed the fd anyway, and a retry could
  // close a number another thread has just been given.
  ::close(sysfd);
  sysfd = -1;
  rt::semrelease(&csema, 1);
}

fd_error poll_fd::close() {
  if (!fdmu.incref_and_close()) return {err_net_closing};
  rt::poll_unblock(pd);
  if (rt::getg() == nullptr) {
    destroy();
    return {};
  }
  if (fdmu.decref()) destroy();
  rt::semacquire(&csema, false, rt::wait_reason::semacquire);
  return {};
}

// retry runs f (a system call returning < 0 with errno on failure) until it
// succeeds or fails for good: EINTR retries, EAGAIN parks in mode first.
// The caller holds the mode's lock and has poll_reset the mode.
template <class F>
io_result poll_fd::retry(int mode, const char* syscall, F f) {
  for (;;) {
    const ssize_t n = f();
    if (n >= 0) return {static_cast<std::size_t>(n), {}};
    const int e = last_errno();
    if (e == EINTR) continue;
    if (e != EAGAIN) return {0, {e, syscall}};
    if (const int res = rt::poll_wait(pd, mode)) return {0, convert_err(res)};
  }
}

io_result poll_fd::read(std::span<std::byte> buf) {
  op_ref r(*this, op_ref::read_lock);
  if (!r.held()) return {0, {err_net_closing}};
  if (buf.empty()) return {};  // Go: a zero-byte read returns at once, without EOF
  // After a short read the queue was empty: wait for epoll's word before
  // reading, rather than try a read that fails with EAGAIN.
  if (const int res = read_drained ? rt::poll_wait_drained(pd) : rt::poll_reset(pd, 'r')) return {0, convert_err(res)};
  if (is_stream) buf = buf.first(std::min(buf.size(), max_rw));
  const io_result res = retry('r', "read", [&] { return ::read(sysfd, buf.data(), buf.size()); });
  read_drained = is_tcp && !res.err && res.n > 0 && res.n < buf.size();
  return res;
}

io_result poll_fd::write(std::span<const std::byte> buf) {
  op_ref r(*this, op_ref::write_lock);
  if (!r.held()) return {0, {err_net_closing}};
  if (const int res = rt::poll_reset(pd, 'w')) return {0, convert_err(res)};
  std::size_t nn = 0;
  for (;;) {
    std::size_t max = buf.size() - nn;
    if (is_stream) max = std::min(max, max_rw);
    const io_result res = retry('w', "write", [&] { return ::send(sysfd, buf.data() + nn, max, MSG_NOSIGNAL); });
    nn += res.n;
    if (res.err || nn == buf.size()) return {nn, res.err};
    // Go returns io.ErrUnexpectedEOF here; a socket never accepts 0 of a
    // non-empty buffer, but a retry would spin if it did.
    if (res.n == 0) return {nn, {EIO, "write"}};
  }
}

io_result poll_fd::read_from(std::span<std::byte> buf, sockaddr_any& from) {
  op_ref r(*this, op_ref::read_lock);
  if (!r.held()) return {0, {err_net_closing}};
  if (const int res = rt::poll_reset(pd, 'r')) return {0, convert_err(res)};
  return retry('r', "recvfrom", [&] {
    from.len = sizeof from.ss;
    return ::recvfrom(sysfd, buf.data(), buf.size(), 0, from.get(), &from.len);
  });
}

io_result poll_fd::write_to(std::span<const std::byte> buf, const sockaddr_any& to) {
  op_ref r(*this, op_ref::write_lock);
  if (!r.held()) return {0, {err_net_closing}};
  if (const int res = rt::poll_reset(pd, 'w')) return {0, convert_err(res)};
  return retry('w', "sendto", [&] { return ::sendto(sysfd, buf.data(), buf.size(), MSG_NOSIGNAL, to.get(), to.len); });
}

int poll_fd::accept(sockaddr_any& peer, fd_error& err) {
  op_ref r(*this, op_ref::read_lock);
  if (!r.held()) {
    err = {err_net_closing};
    return -1;
  }
  if (const int res = rt::poll_reset(pd, 'r')) {
    err = convert_err(res);
    return -1;
  }
  const io_result res = retry('r', "accept", [&]() -> ssize_t {
    // A connection closed while on the listen queue: take the next one
    // (Go retries ECONNABORTED as it does EINTR).
    for (;;) {
      peer.len = sizeof peer.ss;
      const int s = ::accept4(sysfd, peer.get(), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (s >= 0 || last_errno() != ECONNABORTED) return s;
    }
  });
  err = res.err;
  return res.err ? -1 : static_cast<int>(res.n);
}

fd_error poll_fd::wait_write() {
  op_ref r(*this, op_ref::write_lock);
  if (!r.held()) return {err_net_closing};
  return convert_err(rt::poll_wait(pd, 'w'));
}

fd_error poll_fd::set_deadline(std::int64_t d, int mode) {
  op_ref r(*this, op_ref::ref);
  if (!r.held()) return {err_net_closing};
  rt::poll_set_deadline(pd, d, mode);
  return {};
}

fd_error poll_fd::shutdown(int how) {
  op_ref r(*this, op_ref::ref);
  if (!r.held()) return {err_net_closing};
  if (::shutdown(sysfd, how) < 0) return {last_errno(), "shutdown"};
  return {};
}

}  // namespace gort::net::detail
