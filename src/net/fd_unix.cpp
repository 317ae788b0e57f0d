// fd_unix.cpp: Go's netFD: making one, connecting, accepting, closing.
// See fd_unix.hpp.
//
// Connecting (Go's netFD.connect). connect(2) on a non-blocking socket
// returns EINPROGRESS; the completion shows as writability, after which
// SO_ERROR holds connect's result. The wait may wake early: the poller's
// registration itself reports a fresh socket writable, so a wake with
// SO_ERROR 0 counts only if getpeername confirms a peer; else it waits
// again. A dial timeout is the write deadline of the connecting fd, which
// connect clears before returning.
//
// A dial's context (Go's netFD.connect with ctx): while the connect waits,
// an after_func on ctx sets the fd's write deadline to long ago, which
// wakes the wait at once (Go's interrupter goroutine sets aLongTimeAgo);
// the wait's deadline error is then reported as ctx's (Go's mapErr:
// err_canceled or err_deadline). If the interrupter ran at all, connect
// waits for it to finish before returning (it touches pfd), and a connect
// that succeeded meanwhile is failed anyway, as Go does (issue 16523): its
// fd has a past write deadline.
#include "net/fd_unix.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "gort/chan.hpp"
#include "gort/context.hpp"
#include "gort/runtime.hpp"
#include "runtime/preempt.hpp"

namespace gort::net::detail {

sockaddr_any getsockname_of(int s) {
  sockaddr_any sa;
  sa.len = sizeof sa.ss;
  if (::getsockname(s, sa.get(), &sa.len) < 0) sa.len = 0;
  return sa;
}

sockaddr_any getpeername_of(int s) {
  sockaddr_any sa;
  sa.len = sizeof sa.ss;
  if (::getpeername(s, sa.get(), &sa.len) < 0) sa.len = 0;
  return sa;
}

netfd_ptr netfd::new_fd(int s, int family, int sotype, std::string_view net, fd_error& err) {
  netfd_ptr fd(new netfd);
  fd->family = family;
  fd->sotype = sotype;
  fd->net = net;
  err = fd->pfd.init(s, sotype == SOCK_STREAM, sotype == SOCK_STREAM && family != AF_UNIX);
  if (err) {
    ::close(s);  // pfd.sysfd stays -1: netfd_closer has nothing to close
    return nullptr;
  }
  return fd;
}

namespace {

// ctx_error: Go's mapErr(ctx.Err()) for a done ctx.
fd_error ctx_error(const context::Context& ctx) {
  return {ctx.err() == context::errc::deadline_exceeded ? err_deadline : err_canceled};
}

}  // namespace

fd_error netfd::connect(const sockaddr_any& ra, std::int64_t deadline, const context::Context* ctx) {
  if (::connect(pfd.sysfd, ra.get(), ra.len) == 0) return ctx != nullptr && ctx->err() ? ctx_error(*ctx) : fd_error{};
  switch (const int e = last_errno()) {
    case EINPROGRESS:
    case EALREADY:
    case EINTR:  // the connect goes on in the background, as for EINPROGRESS
      break;
    case EISCONN:
      return ctx != nullptr && ctx->err() ? ctx_error(*ctx) : fd_error{};
    default:
      return {e, "connect"};
  }
  if (deadline != 0) pfd.set_deadline(deadline, 'w');
  // The interrupter, if ctx can be cancelled at all (Go: ctx.Done() != nil).
  std::function<bool()> stop;
  chan<int> interrupted;
  if (ctx != nullptr && ctx->done()) {
    interrupted = make_chan<int>(1);
    stop = context::after_func(*ctx, [this, interrupted] {
      // A goroutine of its own, in its own code: the deadline's runtime
      // work (readying the connect's G onto this M's P) must be inside an
      // entry, or sysmon may take the P meanwhile.
      rt::entry_guard e(rt::getg());
      pfd.set_deadline(1, 'w');  // Go's aLongTimeAgo
      interrupted.send(1);
    });
  }
  const auto wait = [&]() -> fd_error {
    for (;;) {
      if (fd_error e = pfd.wait_write()) return e;
      int nerr = 0;
      socklen_t len = sizeof nerr;
      if (::getsockopt(pfd.sysfd, SOL_SOCKET, SO_ERROR, &nerr, &len) < 0) return {last_errno(), "getsockopt"};
      switch (nerr) {
        case EINPROGRESS:
        case EALREADY:
        case EINTR:
          break;
        case EISCONN:
          return {};
        case 0:
          if (getpeername_of(pfd.sysfd).len != 0) return {};
          break;
        default:
          return {nerr, "connect"};
      }
    }
  };
  fd_error e = wait();
  if (stop && !stop()) {
    (void)interrupted.recv();  // it ran or is running: let it finish with pfd
    if (!e) e = ctx_error(*ctx);
  }
  if (e.err == err_deadline && ctx != nullptr && ctx->err()) e = ctx_error(*ctx);
  if (deadline != 0) pfd.set_deadline(0, 'w');
  return e;
}

void netfd::set_addr(const sockaddr_any* ra) {
  const sockaddr_any lsa = getsockname_of(pfd.sysfd);
  if (lsa.len != 0) {
    laddr = sockaddr_string(lsa);
    lport = sockaddr_port(lsa);
  }
  const sockaddr_any rsa = getpeername_of(pfd.sysfd);
  if (rsa.len != 0)
    raddr = sockaddr_string(rsa);
  else if (ra != nullptr)
    raddr = sockaddr_string(*ra);
}

void netfd::set_default_conn_sockopts() {
  if (family == AF_UNIX || sotype != SOCK_STREAM) return;
  // Failures are ignored, as Go ignores them: the connection works without.
  const int on = 1, period = 15;  // seconds: Go's defaultTCPKeepAlive
  ::setsockopt(pfd.sysfd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ::setsockopt(pfd.sysfd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(pfd.sysfd, IPPROTO_TCP, TCP_KEEPINTVL, &period, sizeof period);
  ::setsockopt(pfd.sysfd, IPPROTO_TCP, TCP_KEEPIDLE, &period, sizeof period);
}

netfd_ptr netfd::accept(fd_error& err) {
  sockaddr_any peer;
  const int s = pfd.accept(peer, err);
  if (s < 0) return nullptr;
  netfd_ptr fd = new_fd(s, family, sotype, net, err);
  if (!fd) return nullptr;
  fd->set_addr(&peer);
  fd->set_default_conn_sockopts();
  return fd;
}

fd_error netfd::close() {
  // Go unlinks before closing, while the socket still holds the name, so
  // a new listener that binds the path afterwards keeps its file. Relaxed:
  // the exchange only elects one unlinker; unlink_path is set before the fd
  // is shared and not written after.
  if (!unlink_path.empty() && !unlinked.exchange(true, std::memory_order_relaxed)) ::unlink(unlink_path.c_str());
  return pfd.close();
}

}  // namespace gort::net::detail
