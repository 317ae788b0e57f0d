// ipsock.hpp: Internet addresses as Go writes them, and their resolution.
// Go counterparts: net/ipsock.go (SplitHostPort, JoinHostPort,
// internetAddrList, filterAddrList), net/ipsock_posix.go
// (favoriteAddrFamily, ipToSockaddr, the IP stack probe), net/port.go and
// net/lookup.go (parsePort, LookupPort), net/ip.go (ParseIP, String).
//
// An address string is host:port. host is empty (the wildcard), an IP
// literal (IPv6 in brackets, with an optional %zone) or a name for
// getaddrinfo; port is a number or a service name from /etc/services.
// Malformed input throws addr_error (std::invalid_argument) with Go's
// AddrError text; the callers prefix Go's "op net: ".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gort::net::detail {

// host_port: SplitHostPort's result; host keeps a %zone, loses brackets.
struct host_port {
  std::string host;
  std::string port;
};
host_port split_host_port(std::string_view hostport);
std::string join_host_port(std::string_view host, std::string_view port);

// lookup_port: Go's LookupPort for net ("tcp", "udp", ...): a decimal
// number (with Go's optional sign) or a service name. Outside 0..65535:
// addr_error "invalid port" naming address (gort: Go names only the port).
std::uint16_t lookup_port(std::string_view net, std::string_view service, std::string_view address);

// ip_addr: an IPv4 or IPv6 address. IPv4 is kept as itself (family
// AF_INET), never as a mapped IPv6 address; an unset ip_addr (family
// AF_UNSPEC) is Go's nil IP, the wildcard.
struct ip_addr {
  int family = AF_UNSPEC;
  unsigned char bytes[16] = {};  // 4 used for AF_INET
  std::uint32_t scope_id = 0;    // IPv6 zone as an interface index
  bool is_wildcard() const;      // nil, 0.0.0.0 or :: (Go: IsUnspecified)
};
// parse_ip: Go's ParseIP with its zone (splitHostZone): "127.0.0.1",
// "::1", "fe80::1%lo", "::ffff:1.2.3.4" (kept as IPv4). False if host is
// not a literal.
bool parse_ip(std::string_view host, ip_addr& ip);
// ip_string: Go's IP.String (plus "%zone"): dotted quad, or RFC 5952.
std::string ip_string(const ip_addr& ip);

// sockaddr_any: a socket address of any family, as the kernel takes it.
struct sockaddr_any {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&ss); }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

// ip_to_sockaddr: Go's ipToSockaddr. family is the socket's: an IPv4 (or
// nil) ip in an AF_INET6 socket becomes ::ffff:a.b.c.d (0.0.0.0 and nil
// become ::); an IPv6 ip in an AF_INET socket is an addr_error.
sockaddr_any ip_to_sockaddr(int family, const ip_addr& ip, std::uint16_t port);
// unix_sockaddr: Go's SockaddrUnix: a path, or "@name" for Linux's
// abstract namespace. Too long: EINVAL, as the kernel would say.
bool unix_sockaddr(std::string_view path, sockaddr_any& sa);
// sockaddr_string: the address as Go prints a TCPAddr, UDPAddr or
// UnixAddr: "127.0.0.1:80", "[::1]:80", "[fe80::1%lo]:80", a path, "@" for
// an unnamed Unix socket (Go's anyToSockaddr turns the leading NUL into
// '@'). An IPv4-mapped address prints as IPv4, as Go's IP.String does.
std::string sockaddr_string(const sockaddr_any& sa);
std::uint16_t sockaddr_port(const sockaddr_any& sa);

// favorite_addr_family: Go's favoriteAddrFamily: the socket family for
// net and the addresses, and whether IPV6_V6ONLY is set. A wildcard
// listen takes AF_INET6 in dual stack where the kernel maps IPv4 into
// IPv6 (or has no IPv4).
struct family_choice {
  int family;
  bool ipv6only;
};
family_choice favorite_addr_family(std::string_view net, const ip_addr* laddr, const ip_addr* raddr, bool listen);

// internet_addr_list: Go's internetAddrList: host resolved to addresses of
// net's family ('4' or '6' suffix filters). Empty host: one nil IP. A name
// goes to getaddrinfo in gort::blocking. Throws addr_error for no suitable
// address; throw_lookup_error (prefixed with op and net) when resolution
// fails.
std::vector<ip_addr> internet_addr_list(std::string_view op, std::string_view net, std::string_view host);

}  // namespace gort::net::detail
