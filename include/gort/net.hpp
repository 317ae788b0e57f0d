// gort/net.hpp: Go's net package over the runtime's netpoller: TCP, Unix
// sockets and UDP with blocking-style calls that park only the calling
// goroutine (src/runtime/netpoll.cpp; the fd layer is src/net/).
//
//   auto ln = gort::net::listen("tcp", "127.0.0.1:8080");
//   for (;;) {
//     gort::go([c = ln.accept()]() mutable {         // a goroutine per connection
//       char buf[4096];
//       while (std::size_t n = c.read(std::span(buf))) c.write(std::string_view(buf, n));
//     });
//   }
//
// Addresses are Go's: "127.0.0.1:8080", ":0" (all interfaces, a free port),
// "[::1]:9000", "localhost:80"; for "unix" and "unixgram", a path. Host
// names resolve through getaddrinfo without holding a P; dial tries each
// address in turn, as Go does.
//
// Errors are exceptions, with Go's messages:
//   - std::system_error (net::op_error) carrying the errno, whose what()
//     names the operation and addresses: "dial tcp 127.0.0.1:1: connect:
//     connection refused", "read tcp 127.0.0.1:41234->127.0.0.1:8080:
//     read: connection reset by peer"; a failed lookup is "dial tcp:
//     lookup nosuch.invalid: no such host" (code: getaddrinfo's EAI_*
//     value, in a category of its own);
//   - net::timeout_error when a deadline passes (code std::errc::timed_out,
//     "... i/o timeout");
//   - op_error "... use of closed network connection" (code
//     std::errc::bad_file_descriptor) for a Conn, Listener or PacketConn
//     used after close(), including a blocked call that close() woke;
//   - std::invalid_argument for a malformed address ("dial tcp: address
//     127.0.0.1: missing port in address"), a port outside 0..65535, or an
//     unknown network ("dial udp7: unknown network udp7").
// EINTR is retried; no call raises SIGPIPE.
//
// Deadlines are absolute steady_clock instants, as Go's SetDeadline:
// time_point{} clears one, a deadline already past makes the next call fail
// at once, and a deadline applies to every call until changed, including
// calls already blocked. A deadline or timeout may be given in any unit
// (a time_point in seconds, hours::max()): it is saturated to nanoseconds'
// range, never overflowed (gort/detail/chrono.hpp).
//
// Every function here must run on a goroutine (inside gort::run), except
// close() and the destructors, which also work after run() has returned.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "gort/context.hpp"
#include "gort/detail/chrono.hpp"

namespace gort::net {

namespace detail {
struct netfd;  // src/net/fd_poll.hpp: Go's netFD (a socket, its poll descriptor, its fd mutex)
struct netfd_closer {
  void operator()(netfd* fd) const noexcept;
};
using netfd_ptr = std::unique_ptr<netfd, netfd_closer>;
}  // namespace detail

// op_error: Go's *net.OpError. code() is the errno (or std::errc::timed_out);
// what() is Go's text, e.g. "dial tcp 127.0.0.1:1: connect: connection refused".
class op_error : public std::system_error {
 public:
  op_error(std::error_code ec, const std::string& what) : std::system_error(ec, what), what_(what) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;  // std::system_error's own what() appends ": <strerror>"
};

// timeout_error: a deadline passed (Go: os.ErrDeadlineExceeded, "i/o timeout").
class timeout_error : public op_error {
 public:
  explicit timeout_error(const std::string& what) : op_error(std::make_error_code(std::errc::timed_out), what) {}
};

using time_point = std::chrono::steady_clock::time_point;

namespace detail {

// deadline_setters: Conn's and PacketConn's deadline setters for a
// time_point of any duration, which forward to Derived's, saturated.
template <class Derived>
class deadline_setters {
 public:
  template <class D>
  void set_deadline(std::chrono::time_point<std::chrono::steady_clock, D> t) {
    self().set_deadline(gort::detail::saturating_time(t));
  }
  template <class D>
  void set_read_deadline(std::chrono::time_point<std::chrono::steady_clock, D> t) {
    self().set_read_deadline(gort::detail::saturating_time(t));
  }
  template <class D>
  void set_write_deadline(std::chrono::time_point<std::chrono::steady_clock, D> t) {
    self().set_write_deadline(gort::detail::saturating_time(t));
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace detail

// Conn: a stream connection (Go's net.Conn: TCPConn or UnixConn). Movable,
// not copyable; closes on destruction. One goroutine may read while another
// writes; concurrent reads (or writes) take turns, as Go's.
class Conn : public detail::deadline_setters<Conn> {
 public:
  Conn() noexcept = default;  // no connection: every call fails as on a closed Conn
  explicit Conn(detail::netfd_ptr fd) noexcept : fd_(std::move(fd)) {}

  std::size_t read(std::span<std::byte> buf);          // at least 1 byte, or 0 at EOF
  std::size_t read(std::span<char> buf);
  std::size_t write(std::span<const std::byte> buf);   // writes all of buf before returning
  std::size_t write(std::string_view s);
  void close();                                        // wakes this Conn's blocked readers and writers
  void close_write();                                  // shutdown(SHUT_WR): the peer reads EOF
  void close_read();                                   // shutdown(SHUT_RD)
  void set_deadline(time_point t);
  void set_read_deadline(time_point t);
  void set_write_deadline(time_point t);
  using deadline_setters::set_deadline;                // a deadline in any unit (above)
  using deadline_setters::set_read_deadline;
  using deadline_setters::set_write_deadline;
  std::string local_addr() const;                      // "127.0.0.1:43512"
  std::string remote_addr() const;
  int fd() const noexcept;                             // -1 once closed
  explicit operator bool() const noexcept { return fd() >= 0; }

 private:
  detail::netfd_ptr fd_;
};

// Listener: a stream listener (Go's net.Listener). Movable, not copyable;
// closes on destruction.
class Listener {
 public:
  Listener() noexcept = default;
  explicit Listener(detail::netfd_ptr fd) noexcept : fd_(std::move(fd)) {}

  Conn accept();                                       // parks until a connection arrives
  void close();                                        // wakes a blocked accept, which then throws
  void set_deadline(time_point t);                     // for accept
  template <class D>
  void set_deadline(std::chrono::time_point<std::chrono::steady_clock, D> t) {
    set_deadline(gort::detail::saturating_time(t));
  }
  std::string addr() const;                            // the bound address, port filled in
  std::uint16_t port() const;                          // 0 for a Unix socket
  int fd() const noexcept;

 private:
  detail::netfd_ptr fd_;
};

// network: "tcp", "tcp4", "tcp6", "unix" or "unixpacket" (listen and
// dial); dial also takes Go's datagram networks ("udp", "udp4", "udp6",
// "unixgram") for a connected datagram Conn, whose read returns one
// datagram. An empty host (":8080", ":0") listens on all interfaces, IPv6
// and IPv4 together where the machine has IPv6 (Go's dual stack), as does
// 0.0.0.0; its addr() is then "[::]:8080", as Go's. A "unix" Listener
// removes its socket file on close, as Go's UnixListener does; a Unix
// address starting with '@' is in Linux's abstract namespace, and an
// unnamed Unix socket's address is "@", as Go prints it. With a timeout,
// dial gives each address an equal share of it (at least 2 s), as Go.
Listener listen(std::string_view address);             // "tcp"
Listener listen(std::string_view network, std::string_view address);
Conn dial(std::string_view address);                   // "tcp"
Conn dial(std::string_view address, std::chrono::nanoseconds timeout);
Conn dial(std::string_view network, std::string_view address);
Conn dial(std::string_view network, std::string_view address, std::chrono::nanoseconds timeout);
template <class Rep, class Period>
Conn dial(std::string_view address, std::chrono::duration<Rep, Period> timeout) {
  return dial(address, gort::detail::saturating_ns(timeout));
}
template <class Rep, class Period>
Conn dial(std::string_view network, std::string_view address, std::chrono::duration<Rep, Period> timeout) {
  return dial(network, address, gort::detail::saturating_ns(timeout));
}

// Go's Dialer.DialContext: dial within ctx. ctx's deadline (or the earlier
// of it and timeout, where given) bounds the dial as a timeout does, and
// cancelling ctx ends a dial under way, including a connect waiting for
// the peer: op_error with code std::errc::operation_canceled (ECANCELED)
// and Go's text "dial tcp 10.0.0.1:80: operation was canceled"; a deadline
// that passes is timeout_error ("... i/o timeout"), as for a timeout. A ctx
// already done fails at once, before any connect. Once the dial has
// returned, ctx no longer affects the Conn.
Conn dial(const context::Context& ctx, std::string_view network, std::string_view address);
Conn dial(const context::Context& ctx, std::string_view network, std::string_view address,
          std::chrono::nanoseconds timeout);
template <class Rep, class Period>
Conn dial(const context::Context& ctx, std::string_view network, std::string_view address,
          std::chrono::duration<Rep, Period> timeout) {
  return dial(ctx, network, address, gort::detail::saturating_ns(timeout));
}

// PacketConn: a datagram socket (Go's net.PacketConn: UDPConn or UnixConn).
class PacketConn : public detail::deadline_setters<PacketConn> {
 public:
  struct packet {
    std::size_t n;     // bytes read
    std::string addr;  // the sender's address
  };
  PacketConn() noexcept = default;
  explicit PacketConn(detail::netfd_ptr fd) noexcept : fd_(std::move(fd)) {}

  packet read_from(std::span<std::byte> buf);          // one datagram; the excess of a longer one is lost, as Go
  std::size_t write_to(std::span<const std::byte> buf, std::string_view addr);  // one datagram
  void close();
  void set_deadline(time_point t);
  void set_read_deadline(time_point t);
  void set_write_deadline(time_point t);
  using deadline_setters::set_deadline;                // a deadline in any unit (above)
  using deadline_setters::set_read_deadline;
  using deadline_setters::set_write_deadline;
  std::string local_addr() const;
  int fd() const noexcept;

 private:
  detail::netfd_ptr fd_;
};

// network: "udp", "udp4", "udp6" or "unixgram". listen_packet("udp", ":0").
PacketConn listen_packet(std::string_view network, std::string_view address);

// Park the goroutine until fd is readable / writable: any non-blocking fd
// (a pipe, an eventfd, another library's socket), so that a C library with
// an fd-based async API can be driven from goroutines. Returns false if the
// deadline passes first (time_point{}: none); true once poll() says the fd
// is ready (an error or hang-up counts: the next call would not block). A
// regular file is always ready. One goroutine may wait readable and another
// writable on the same fd; two in the same mode take turns. Not for the fd
// of a gort Conn, Listener or PacketConn: std::invalid_argument if such a
// wait would have to park; likewise for an fd that is not open.
bool wait_readable(int fd, time_point deadline = {});
bool wait_writable(int fd, time_point deadline = {});
template <class D>
bool wait_readable(int fd, std::chrono::time_point<std::chrono::steady_clock, D> deadline) {
  return wait_readable(fd, gort::detail::saturating_time(deadline));
}
template <class D>
bool wait_writable(int fd, std::chrono::time_point<std::chrono::steady_clock, D> deadline) {
  return wait_writable(fd, gort::detail::saturating_time(deadline));
}

}  // namespace gort::net
