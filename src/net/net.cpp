// net.cpp: Conn, Listener and PacketConn. Go counterparts: net/net.go
// (conn: Read, Write, Close, Set*Deadline, with the OpError each wraps its
// failure in), net/tcpsock.go (TCPListener, CloseRead/CloseWrite),
// net/udpsock.go (ReadFrom, WriteTo), net/unixsock.go (UnixListener).
//
// Each method opens with an entry_guard, forwards to the netfd's poll_fd,
// and turns a failure into Go's message with the addresses Go puts in it:
// a Conn's "op net local->remote", a Listener's "op net local", a
// deadline's "set net local". A Conn with no netfd (default-made or moved
// from) fails every call as a closed one. close() and the destructors use
// the guard that tolerates no goroutine: they also run after run().
#include <sys/socket.h>

#include "gort/net.hpp"
#include "net/dial.hpp"
#include "net/errors.hpp"
#include "net/fd_unix.hpp"
#include "runtime/preempt.hpp"

namespace gort::net {

namespace {

using detail::fd_error;
using detail::netfd;

constexpr fd_error closing{detail::err_net_closing};

// The addresses of Go's OpError for a connection: Source local, Addr remote.
[[noreturn]] void conn_error(const char* op, const netfd* fd, fd_error e) {
  if (fd == nullptr) detail::throw_op_error(op, {}, {}, {}, closing);
  detail::throw_op_error(op, fd->net, fd->laddr, fd->raddr, e);
}

// A listener's, and any deadline's: no Source, Addr local.
[[noreturn]] void local_error(const char* op, const netfd* fd, fd_error e) {
  if (fd == nullptr) detail::throw_op_error(op, {}, {}, {}, closing);
  detail::throw_op_error(op, fd->net, {}, fd->laddr, e);
}

// nanotime_of: a deadline as poll_set_deadline takes it: 0 clears; any
// other instant at or before the clock's epoch is simply past.
std::int64_t nanotime_of(time_point t) {
  if (t == time_point{}) return 0;
  return std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

void set_deadline_of(netfd* fd, time_point t, int mode) {
  if (fd == nullptr) local_error("set", fd, closing);
  if (fd_error e = fd->pfd.set_deadline(nanotime_of(t), mode)) local_error("set", fd, e);
}

void close_of(netfd* fd, void (*fail)(const char*, const netfd*, fd_error)) {
  if (fd == nullptr) fail("close", fd, closing);
  if (fd_error e = fd->close()) fail("close", fd, e);
}

int fd_of(const netfd* fd) { return fd != nullptr ? fd->pfd.sysfd : -1; }

}  // namespace

void detail::netfd_closer::operator()(netfd* fd) const noexcept {
  rt::entry_guard e(rt::getg());  // nullptr after run(): close works without a goroutine
  if (fd->pfd.sysfd >= 0) fd->close();  // the owner's close() already ran otherwise
  delete fd;
}

// ---- Conn ----

std::size_t Conn::read(std::span<std::byte> buf) {
  rt::entry_guard e("gort::net::Conn::read");
  if (!fd_) conn_error("read", nullptr, closing);
  const detail::io_result r = fd_->pfd.read(buf);
  if (r.err) conn_error("read", fd_.get(), r.err);
  return r.n;
}

std::size_t Conn::read(std::span<char> buf) { return read(std::as_writable_bytes(buf)); }

std::size_t Conn::write(std::span<const std::byte> buf) {
  rt::entry_guard e("gort::net::Conn::write");
  if (!fd_) conn_error("write", nullptr, closing);
  const detail::io_result r = fd_->pfd.write(buf);
  if (r.err) conn_error("write", fd_.get(), r.err);
  return r.n;
}

std::size_t Conn::write(std::string_view s) { return write(std::as_bytes(std::span(s.data(), s.size()))); }

void Conn::close() {
  rt::entry_guard e(rt::getg());
  close_of(fd_.get(), conn_error);
}

void Conn::close_write() {
  rt::entry_guard e("gort::net::Conn::close_write");
  if (!fd_) conn_error("close", nullptr, closing);
  if (fd_error err = fd_->pfd.shutdown(SHUT_WR)) conn_error("close", fd_.get(), err);
}

void Conn::close_read() {
  rt::entry_guard e("gort::net::Conn::close_read");
  if (!fd_) conn_error("close", nullptr, closing);
  if (fd_error err = fd_->pfd.shutdown(SHUT_RD)) conn_error("close", fd_.get(), err);
}

void Conn::set_deadline(time_point t) {
  rt::entry_guard e("gort::net::Conn::set_deadline");
  set_deadline_of(fd_.get(), t, 'r' + 'w');
}

void Conn::set_read_deadline(time_point t) {
  rt::entry_guard e("gort::net::Conn::set_read_deadline");
  set_deadline_of(fd_.get(), t, 'r');
}

void Conn::set_write_deadline(time_point t) {
  rt::entry_guard e("gort::net::Conn::set_write_deadline");
  set_deadline_of(fd_.get(), t, 'w');
}

std::string Conn::local_addr() const { return fd_ ? fd_->laddr : std::string(); }
std::string Conn::remote_addr() const { return fd_ ? fd_->raddr : std::string(); }
int Conn::fd() const noexcept { return fd_of(fd_.get()); }

// ---- Listener ----

Conn Listener::accept() {
  rt::entry_guard e("gort::net::Listener::accept");
  if (!fd_) local_error("accept", nullptr, closing);
  fd_error err;
  detail::netfd_ptr c = fd_->accept(err);
  if (!c) local_error("accept", fd_.get(), err);
  return Conn(std::move(c));
}

void Listener::close() {
  rt::entry_guard e(rt::getg());
  close_of(fd_.get(), local_error);
}

void Listener::set_deadline(time_point t) {
  rt::entry_guard e("gort::net::Listener::set_deadline");
  set_deadline_of(fd_.get(), t, 'r' + 'w');
}

std::string Listener::addr() const { return fd_ ? fd_->laddr : std::string(); }
std::uint16_t Listener::port() const { return fd_ ? fd_->lport : 0; }
int Listener::fd() const noexcept { return fd_of(fd_.get()); }

// ---- PacketConn ----

PacketConn::packet PacketConn::read_from(std::span<std::byte> buf) {
  rt::entry_guard e("gort::net::PacketConn::read_from");
  if (!fd_) conn_error("read", nullptr, closing);
  detail::sockaddr_any from;
  const detail::io_result r = fd_->pfd.read_from(buf, from);
  if (r.err) conn_error("read", fd_.get(), r.err);
  return {r.n, detail::sockaddr_string(from)};
}

std::size_t PacketConn::write_to(std::span<const std::byte> buf, std::string_view addr) {
  rt::entry_guard e("gort::net::PacketConn::write_to");
  if (!fd_) conn_error("write", nullptr, closing);
  std::string shown;
  const detail::sockaddr_any to = detail::packet_target(*fd_, addr, shown);
  const detail::io_result r = fd_->pfd.write_to(buf, to);
  if (r.err) detail::throw_op_error("write", fd_->net, fd_->laddr, shown, r.err);
  return r.n;
}

void PacketConn::close() {
  rt::entry_guard e(rt::getg());
  close_of(fd_.get(), conn_error);
}

void PacketConn::set_deadline(time_point t) {
  rt::entry_guard e("gort::net::PacketConn::set_deadline");
  set_deadline_of(fd_.get(), t, 'r' + 'w');
}

void PacketConn::set_read_deadline(time_point t) {
  rt::entry_guard e("gort::net::PacketConn::set_read_deadline");
  set_deadline_of(fd_.get(), t, 'r');
}

void PacketConn::set_write_deadline(time_point t) {
  rt::entry_guard e("gort::net::PacketConn::set_write_deadline");
  set_deadline_of(fd_.get(), t, 'w');
}

std::string PacketConn::local_addr() const { return fd_ ? fd_->laddr : std::string(); }
int PacketConn::fd() const noexcept { return fd_of(fd_.get()); }

}  // namespace gort::net
