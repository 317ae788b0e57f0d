// fd_unix.hpp: a network socket: a poll_fd with its network, family and
// addresses. Go counterpart: net/fd_unix.go and net/fd_posix.go (netFD:
// newFD, connect, accept, setAddr), net/sockopt_linux.go and
// net/tcpsockopt_unix.go (the options Go sets on every socket).
//
// A netfd is made by socket() (sock_posix.cpp) or netfd::accept, is owned
// by one Conn, Listener or PacketConn through netfd_ptr, and is freed by
// netfd_closer, which closes it first if the owner has not. Its fields
// other than pfd are written before it is handed to its owner and only
// read afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "gort/net.hpp"
#include "net/fd_poll.hpp"
#include "net/ipsock.hpp"

namespace gort::net::detail {

struct netfd {
  poll_fd pfd;
  int family = 0;
  int sotype = 0;
  std::string net;    // Go's network name: "tcp", "udp6", "unix", ...
  std::string laddr;  // as Go prints a LocalAddr; "" when Go's is nil
  std::string raddr;  // as Go prints a RemoteAddr; "" when Go's is nil
  std::uint16_t lport = 0;
  // A Unix stream listener removes its socket file on close (Go's
  // UnixListener.unlink); unlinked makes that happen once.
  std::string unlink_path;
  std::atomic<bool> unlinked{false};

  // new_fd: Go's newFD + pfd.Init: a netfd owning s (non-blocking), with
  // the poller registered. On failure s is closed and the error returned.
  static netfd_ptr new_fd(int s, int family, int sotype, std::string_view net, fd_error& err);

  // connect: Go's netFD.connect: a non-blocking connect, waiting for its
  // completion with the write deadline set to deadline (a nanotime()
  // instant, 0: none) and cleared again. With ctx (may be nullptr), ctx's
  // cancellation ends the wait: err_canceled, or err_deadline if ctx's
  // deadline passed (Go's mapErr(ctx.Err())).
  fd_error connect(const sockaddr_any& ra, std::int64_t deadline, const context::Context* ctx = nullptr);
  // accept: the next connection as a netfd, addresses and options set.
  netfd_ptr accept(fd_error& err);
  // set_addr: laddr from getsockname, raddr from getpeername (or ra if
  // given and the kernel has none), as Go's setAddr after socket().
  void set_addr(const sockaddr_any* ra);
  // set_default_conn_sockopts: TCP_NODELAY and 15 s keep-alives on a TCP
  // connection, as Go's newTCPConn and Dialer/ListenConfig defaults.
  void set_default_conn_sockopts();
  // close: Go's Close (UnixListener's unlink first). err_net_closing if
  // already closed.
  fd_error close();
};

// getsockname_of / getpeername_of: the kernel's address of s as a sockaddr_any
// (len 0 on failure).
sockaddr_any getsockname_of(int s);
sockaddr_any getpeername_of(int s);

}  // namespace gort::net::detail
