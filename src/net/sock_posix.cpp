// sock_posix.cpp: Go's socket(), listenStream, listenDatagram and dial.
// See sock_posix.hpp.
//
// Options, as Go sets them: IPV6_V6ONLY on every IPv6 socket, to what the
// caller chose (0 makes a wildcard listener dual stack); SO_BROADCAST on
// IP datagram sockets; SO_REUSEADDR on stream listeners, so a restarted
// server can bind its port while old connections sit in TIME_WAIT. The
// socket is registered with the poller as soon as it exists, so the
// netfd's closing protocol covers every failure after that.
#include "net/sock_posix.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "gort/runtime.hpp"

namespace gort::net::detail {

namespace {

fd_error setsockopt_int(int s, int level, int name, int value) {
  if (::setsockopt(s, level, name, &value, sizeof value) < 0) return {last_errno(), "setsockopt"};
  return {};
}

// The kernel caps the backlog at net.core.somaxconn; Go reads that value
// and caps it at 65535, as this does by asking for 65535.
constexpr int listener_backlog = 65535;

fd_error listen_stream(netfd& fd, const sockaddr_any& laddr) {
  if (fd_error e = setsockopt_int(fd.pfd.sysfd, SOL_SOCKET, SO_REUSEADDR, 1)) return e;
  if (::bind(fd.pfd.sysfd, laddr.get(), laddr.len) < 0) return {last_errno(), "bind"};
  if (::listen(fd.pfd.sysfd, listener_backlog) < 0) return {last_errno(), "listen"};
  fd.set_addr(nullptr);
  return {};
}

fd_error listen_datagram(netfd& fd, const sockaddr_any& laddr) {
  if (::bind(fd.pfd.sysfd, laddr.get(), laddr.len) < 0) return {last_errno(), "bind"};
  fd.set_addr(nullptr);
  return {};
}

fd_error dial(netfd& fd, const sockaddr_any* laddr, const sockaddr_any& raddr, std::int64_t deadline,
              const context::Context* ctx) {
  if (laddr != nullptr && ::bind(fd.pfd.sysfd, laddr->get(), laddr->len) < 0) return {last_errno(), "bind"};
  if (fd_error e = fd.connect(raddr, deadline, ctx)) return e;
  fd.set_addr(&raddr);
  fd.set_default_conn_sockopts();
  return {};
}

}  // namespace

netfd_ptr socket(std::string_view net, int family, int sotype, bool ipv6only, const sockaddr_any* laddr,
                 const sockaddr_any* raddr, std::int64_t deadline, fd_error& err, const context::Context* ctx) {
  const int s = ::socket(family, sotype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) {
    err = {last_errno(), "socket"};
    return nullptr;
  }
  netfd_ptr fd = netfd::new_fd(s, family, sotype, net, err);
  if (!fd) return nullptr;
  if (family == AF_INET6) err = setsockopt_int(s, IPPROTO_IPV6, IPV6_V6ONLY, ipv6only ? 1 : 0);
  if (!err && sotype == SOCK_DGRAM && family != AF_UNIX) err = setsockopt_int(s, SOL_SOCKET, SO_BROADCAST, 1);
  if (!err) {
    if (raddr != nullptr)
      err = dial(*fd, laddr, *raddr, deadline, ctx);
    else if (sotype == SOCK_DGRAM)
      err = listen_datagram(*fd, *laddr);
    else
      err = listen_stream(*fd, *laddr);
  }
  if (err) return nullptr;  // netfd_closer closes the socket
  return fd;
}

}  // namespace gort::net::detail
