// dial.cpp: listen, dial and listen_packet. Go counterparts: net/dial.go
// (Dial, Listen, ListenPacket, parseNetwork, dialSerial, partialDeadline),
// net/tcpsock_posix.go, udpsock_posix.go and unixsock_posix.go (the
// per-network halves), net/ipsock_posix.go (internetSocket).
//
// Every public function here resolves its address, picks the socket
// family (favorite_addr_family) and calls socket() (sock_posix.cpp); what
// differs between networks is in the network table below.
//
// Dialing (Go's dialSerial). The resolved addresses are tried in turn,
// those of the first address's family first (Go's primaries, then its
// fallbacks, here without the parallel race of Happy Eyeballs). With a
// timeout, each attempt gets an equal share of the time left, but at
// least 2 s when there is that much (Go's partialDeadline), so one dead
// address cannot eat the whole budget. The first attempt's error is the
// one reported, as Go: it names the most relevant address. With a context
// (Go's DialContext), its deadline bounds the dial as a timeout does, a
// done context stops the dial before the next attempt, and cancelling it
// interrupts a connect under way (netfd::connect).
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "net/dial.hpp"

#include "gort/net.hpp"
#include "net/errors.hpp"
#include "net/ipsock.hpp"
#include "net/sock_posix.hpp"
#include "runtime/lock_futex.hpp"
#include "runtime/preempt.hpp"

namespace gort::net {

namespace {

using detail::fd_error;
using detail::ip_addr;
using detail::netfd_ptr;
using detail::sockaddr_any;

// network: Go's network names and the sockets they make.
struct network {
  std::string_view name;
  int sotype;
  bool unix;  // a path, not host:port
};

constexpr network networks[] = {
    {"tcp", SOCK_STREAM, false}, {"tcp4", SOCK_STREAM, false},   {"tcp6", SOCK_STREAM, false},
    {"udp", SOCK_DGRAM, false},  {"udp4", SOCK_DGRAM, false},    {"udp6", SOCK_DGRAM, false},
    {"unix", SOCK_STREAM, true}, {"unixgram", SOCK_DGRAM, true}, {"unixpacket", SOCK_SEQPACKET, true},
};

// parse_network: Go's parseNetwork, narrowed to the socket types op takes
// (Listen: stream and seqpacket; ListenPacket: datagram; Dial: any). A
// name Go does not know is its UnknownNetworkError; a known one of the
// other kind is the AddrError Go's Listen("udp", ...) and ListenPacket("tcp",
// ...) return, "listen udp :0: address :0: unexpected address type".
network parse_network(std::string_view op, std::string_view net, std::string_view address, bool stream, bool datagram) {
  for (const network& n : networks) {
    if (n.name != net) continue;
    if (n.sotype == SOCK_DGRAM ? datagram : stream) return n;
    throw std::invalid_argument(
        detail::op_text(op, net, {}, address, detail::addr_error(address, "unexpected address type").what()));
  }
  detail::throw_unknown_network(op, net);
}

// ip_endpoint: host:port of an IP network, split and resolved. An empty
// address is the wildcard with port 0, as Go's.
struct ip_endpoint {
  std::vector<ip_addr> ips;
  std::uint16_t port = 0;
};
ip_endpoint resolve(std::string_view op, std::string_view net, std::string_view address) {
  ip_endpoint ep;
  detail::host_port hp;
  try {
    if (!address.empty()) hp = detail::split_host_port(address);
    ep.port = detail::lookup_port(net, hp.port, address);
    ep.ips = detail::internet_addr_list(op, net, hp.host);
  } catch (const detail::addr_error& e) {
    detail::throw_invalid(op, net, e);
  }
  return ep;
}

// first_ipv4: Go's addrList.first(isIPv4), which Listen and
// ResolveUDPAddr use: the first IPv4 address if there is one.
const ip_addr& first_ipv4(const std::vector<ip_addr>& ips) {
  const auto v4 = std::find_if(ips.begin(), ips.end(), [](const ip_addr& ip) { return ip.family == AF_INET; });
  return v4 != ips.end() ? *v4 : ips.front();
}

std::string ip_port_string(const ip_addr& ip, std::uint16_t port) {
  return detail::join_host_port(detail::ip_string(ip), std::to_string(port));
}

sockaddr_any to_sockaddr(std::string_view op, std::string_view net, int family, const ip_addr& ip, std::uint16_t port) {
  try {
    return detail::ip_to_sockaddr(family, ip, port);
  } catch (const detail::addr_error& e) {
    detail::throw_invalid(op, net, e);
  }
}

// unix_addr: a path as a sockaddr; one too long for sun_path is EINVAL,
// reported as the system call that would have refused it.
bool unix_addr(std::string_view path, sockaddr_any& sa, fd_error& err, const char* syscall) {
  if (detail::unix_sockaddr(path, sa)) return true;
  err = {EINVAL, syscall};
  return false;
}

// bind_local: a listener or packet socket of n bound to address.
netfd_ptr bind_local(std::string_view op, const network& n, std::string_view address) {
  fd_error err;
  if (n.unix) {
    sockaddr_any sa;
    netfd_ptr fd;
    if (unix_addr(address, sa, err, "bind"))
      fd = detail::socket(n.name, AF_UNIX, n.sotype, false, &sa, nullptr, 0, err);
    if (!fd) detail::throw_op_error(op, n.name, {}, address, err);
    // Go's UnixListener removes its file on close; not a datagram socket's.
    if (n.sotype != SOCK_DGRAM && !address.empty() && address.front() != '@') fd->unlink_path = address;
    return fd;
  }
  const ip_endpoint ep = resolve(op, n.name, address);
  const ip_addr& la = first_ipv4(ep.ips);
  const detail::family_choice fam = detail::favorite_addr_family(n.name, &la, nullptr, true);
  const sockaddr_any sa = to_sockaddr(op, n.name, fam.family, la, ep.port);
  netfd_ptr fd = detail::socket(n.name, fam.family, n.sotype, fam.ipv6only, &sa, nullptr, 0, err);
  if (!fd) detail::throw_op_error(op, n.name, {}, ip_port_string(la, ep.port), err);
  return fd;
}

// deadline_of: a dial's deadline as a nanotime() instant (0: none). A
// negative timeout is a deadline already past, as Go's; one beyond the
// clock's range is the latest instant, as Go's poll_runtime_pollSetDeadline.
std::int64_t deadline_of(std::chrono::nanoseconds timeout) {
  if (timeout.count() == 0) return 0;
  const std::int64_t now = rt::nanotime();
  if (timeout.count() > std::numeric_limits<std::int64_t>::max() - now) return std::numeric_limits<std::int64_t>::max();
  return std::max<std::int64_t>(1, now + timeout.count());
}

// partial_deadline: Go's partialDeadline; nullopt when time is up.
std::optional<std::int64_t> partial_deadline(std::int64_t now, std::int64_t deadline, std::size_t remaining) {
  if (deadline == 0) return 0;
  const std::int64_t left = deadline - now;
  if (left <= 0) return std::nullopt;
  constexpr std::int64_t sane_minimum = 2'000'000'000;
  std::int64_t share = left / static_cast<std::int64_t>(remaining);
  if (share < sane_minimum) share = std::min(left, sane_minimum);
  return now + share;
}

// ctx_done_error: Go's dialSerial check before each attempt: a done ctx
// is mapErr(ctx.Err()).
bool ctx_done_error(const context::Context* ctx, fd_error& err) {
  if (ctx == nullptr || !ctx->err()) return false;
  err = {ctx->err() == context::errc::deadline_exceeded ? detail::err_deadline : detail::err_canceled};
  return true;
}

Conn dial_unix(const network& n, std::string_view address, std::int64_t deadline, const context::Context* ctx) {
  fd_error err;
  sockaddr_any sa;
  netfd_ptr fd;
  if (!ctx_done_error(ctx, err) && unix_addr(address, sa, err, "connect"))
    fd = detail::socket(n.name, AF_UNIX, n.sotype, false, nullptr, &sa, deadline, err, ctx);
  if (!fd) detail::throw_op_error("dial", n.name, {}, address, err);
  return Conn(std::move(fd));
}

Conn dial_serial(const network& n, std::string_view address, std::int64_t deadline, const context::Context* ctx) {
  ip_endpoint ep = resolve("dial", n.name, address);
  const int primary = ep.ips.front().family;
  std::stable_partition(ep.ips.begin(), ep.ips.end(), [primary](const ip_addr& ip) { return ip.family == primary; });
  std::exception_ptr first_err;
  for (std::size_t i = 0; i < ep.ips.size(); ++i) {
    const ip_addr& ra = ep.ips[i];
    const std::string ra_string = ip_port_string(ra, ep.port);
    // Go: a done ctx ends the dial with its error, naming this address.
    if (fd_error cerr; ctx_done_error(ctx, cerr)) detail::throw_op_error("dial", n.name, {}, ra_string, cerr);
    try {
      const std::optional<std::int64_t> partial = partial_deadline(rt::nanotime(), deadline, ep.ips.size() - i);
      if (!partial) detail::throw_op_error("dial", n.name, {}, ra_string, {detail::err_deadline});
      const detail::family_choice fam = detail::favorite_addr_family(n.name, nullptr, &ra, false);
      const sockaddr_any sa = to_sockaddr("dial", n.name, fam.family, ra, ep.port);
      fd_error err;
      netfd_ptr fd = detail::socket(n.name, fam.family, n.sotype, fam.ipv6only, nullptr, &sa, *partial, err, ctx);
      if (fd) return Conn(std::move(fd));
      detail::throw_op_error("dial", n.name, {}, ra_string, err);
    } catch (const op_error&) {
      if (!first_err) first_err = std::current_exception();
      if (!partial_deadline(rt::nanotime(), deadline, 1)) break;  // Go: "Ran out of time."
    }
  }
  std::rethrow_exception(first_err);
}

}  // namespace

sockaddr_any detail::packet_target(const netfd& fd, std::string_view address, std::string& shown) {
  if (fd.family == AF_UNIX) {
    shown = address;
    sockaddr_any sa;
    fd_error err;
    if (!unix_addr(address, sa, err, "sendto")) detail::throw_op_error("write", fd.net, fd.laddr, address, err);
    return sa;
  }
  const ip_endpoint ep = resolve("write", fd.net, address);
  const ip_addr& ra = first_ipv4(ep.ips);
  shown = ip_port_string(ra, ep.port);
  return to_sockaddr("write", fd.net, fd.family, ra, ep.port);
}

Listener listen(std::string_view address) { return listen("tcp", address); }

Listener listen(std::string_view network, std::string_view address) {
  rt::entry_guard e("gort::net::listen");
  const struct network n = parse_network("listen", network, address, true, false);
  return Listener(bind_local("listen", n, address));
}

PacketConn listen_packet(std::string_view network, std::string_view address) {
  rt::entry_guard e("gort::net::listen_packet");
  const struct network n = parse_network("listen", network, address, false, true);
  return PacketConn(bind_local("listen", n, address));
}

Conn dial(std::string_view address) { return dial("tcp", address, std::chrono::nanoseconds(0)); }

Conn dial(std::string_view address, std::chrono::nanoseconds timeout) { return dial("tcp", address, timeout); }

Conn dial(std::string_view network, std::string_view address) {
  return dial(network, address, std::chrono::nanoseconds(0));
}

namespace {

// dial_context: Go's DialContext; ctx may be nullptr (Dial). The deadline
// is the earlier of timeout's and ctx's (Go's Dialer.deadline).
Conn dial_context(const context::Context* ctx, std::string_view network, std::string_view address,
                  std::chrono::nanoseconds timeout) {
  const struct network n = parse_network("dial", network, address, true, true);
  // Go's resolveAddrList: a dial needs somewhere to go.
  if (address.empty()) throw std::invalid_argument(detail::op_text("dial", network, {}, {}, "missing address"));
  std::int64_t deadline = deadline_of(timeout);
  if (ctx != nullptr) {
    if (const auto d = ctx->deadline()) {
      const std::int64_t c = std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::nanoseconds>(d->time_since_epoch()).count());
      if (deadline == 0 || c < deadline) deadline = c;
    }
  }
  return n.unix ? dial_unix(n, address, deadline, ctx) : dial_serial(n, address, deadline, ctx);
}

}  // namespace

Conn dial(std::string_view network, std::string_view address, std::chrono::nanoseconds timeout) {
  rt::entry_guard e("gort::net::dial");
  return dial_context(nullptr, network, address, timeout);
}

Conn dial(const context::Context& ctx, std::string_view network, std::string_view address) {
  rt::entry_guard e("gort::net::dial");
  return dial_context(&ctx, network, address, std::chrono::nanoseconds(0));
}

Conn dial(const context::Context& ctx, std::string_view network, std::string_view address,
          std::chrono::nanoseconds timeout) {
  rt::entry_guard e("gort::net::dial");
  return dial_context(&ctx, network, address, timeout);
}

}  // namespace gort::net
