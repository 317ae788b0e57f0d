// ipsock.cpp: Internet addresses: Go's SplitHostPort, JoinHostPort,
// LookupPort, ParseIP, IP.String, favoriteAddrFamily, ipToSockaddr and
// internetAddrList. See ipsock.hpp.
//
// Resolution. An IP literal never reaches the resolver (Go's
// lookupIPAddr). A name goes to getaddrinfo inside gort::blocking(): it may
// read files or wait on DNS for seconds, and must not hold a P meanwhile.
// Names and ports are looked up in the order the C library returns them
// (RFC 6724 sorted, as Go's own resolver sorts); a "4" or "6" network keeps
// only its family, and an empty result is Go's "no suitable address found".
//
// The IP stack probe (Go's ipStackCapabilities) runs once per process: can
// an IPv4 socket be made, can an IPv6 socket bind ::1, and can one with
// IPV6_V6ONLY=0 bind ::ffff:127.0.0.1 (the kernel maps IPv4 into IPv6, so
// one [::] socket serves both families: Go's dual stack). The statics are
// initialized under the C++ runtime's guard, which blocks the M of a
// second caller for the few microseconds the first takes.
#include "net/ipsock.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "gort/runtime.hpp"
#include "net/errors.hpp"

namespace gort::net::detail {

host_port split_host_port(std::string_view hostport) {
  constexpr std::string_view missing_port = "missing port in address";
  constexpr std::string_view too_many_colons = "too many colons in address";
  const std::size_t i = hostport.rfind(':');  // the port starts after the last colon
  if (i == std::string_view::npos) throw addr_error(hostport, missing_port);
  std::string_view host;
  std::size_t j = 0, k = 0;  // no '[' before j, no ']' before k
  if (hostport.front() == '[') {
    const std::size_t end = hostport.find(']');
    if (end == std::string_view::npos) throw addr_error(hostport, "missing ']' in address");
    if (end + 1 == hostport.size()) throw addr_error(hostport, missing_port);
    if (end + 1 != i) {
      // ']' is followed by something other than the last colon.
      throw addr_error(hostport, hostport[end + 1] == ':' ? too_many_colons : missing_port);
    }
    host = hostport.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.substr(0, i);
    if (host.find(':') != std::string_view::npos) throw addr_error(hostport, too_many_colons);
  }
  if (hostport.find('[', j) != std::string_view::npos) throw addr_error(hostport, "unexpected '[' in address");
  if (hostport.find(']', k) != std::string_view::npos) throw addr_error(hostport, "unexpected ']' in address");
  return {std::string(host), std::string(hostport.substr(i + 1))};
}

std::string join_host_port(std::string_view host, std::string_view port) {
  // A host with a colon is an IPv6 literal.
  if (host.find(':') != std::string_view::npos) return "[" + std::string(host) + "]:" + std::string(port);
  return std::string(host) + ":" + std::string(port);
}

std::uint16_t lookup_port(std::string_view net, std::string_view service, std::string_view address) {
  if (service.empty()) return 0;  // Go: an empty port is port 0 (golang.org/issue/13610)
  std::string_view digits = service;
  bool neg = false;
  if (digits.front() == '+' || digits.front() == '-') {
    neg = digits.front() == '-';
    digits.remove_prefix(1);
  }
  bool numeric = !digits.empty();
  std::uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      numeric = false;
      break;
    }
    if (n <= 65535) n = n * 10 + static_cast<unsigned>(c - '0');  // beyond: invalid anyway
  }
  if (numeric) {
    if (neg && n != 0) throw addr_error(address, "invalid port");
    if (n > 65535) throw addr_error(address, "invalid port");
    return static_cast<std::uint16_t>(n);
  }
  // A service name: /etc/services, as Go's goLookupPort reads it.
  const std::string proto(net.substr(0, 3));  // "tcp" or "udp"
  servent se;
  servent* res = nullptr;
  char buf[1024];
  const std::string name(service);
  getservbyname_r(name.c_str(), proto.c_str(), &se, buf, sizeof buf, &res);
  if (res == nullptr) throw addr_error(proto + "/" + name, "unknown port");
  return ntohs(static_cast<std::uint16_t>(res->s_port));
}

bool ip_addr::is_wildcard() const {
  if (family == AF_UNSPEC) return true;
  const std::size_t n = family == AF_INET ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i] != 0) return false;
  return true;
}

namespace {

constexpr unsigned char v4_in_v6_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// from_in6: an IPv6 address as Go holds it: IPv4-mapped ones are IPv4.
ip_addr from_in6(const in6_addr& a, std::uint32_t scope_id) {
  ip_addr ip;
  if (std::memcmp(a.s6_addr, v4_in_v6_prefix, sizeof v4_in_v6_prefix) == 0) {
    ip.family = AF_INET;
    std::memcpy(ip.bytes, a.s6_addr + 12, 4);
    return ip;
  }
  ip.family = AF_INET6;
  std::memcpy(ip.bytes, a.s6_addr, 16);
  ip.scope_id = scope_id;
  return ip;
}

ip_addr from_in4(const in_addr& a) {
  ip_addr ip;
  ip.family = AF_INET;
  std::memcpy(ip.bytes, &a, 4);
  return ip;
}

// zone_to_int: Go's zoneToInt: an interface name, else a decimal index.
std::uint32_t zone_to_int(const std::string& zone) {
  if (zone.empty()) return 0;
  if (unsigned idx = if_nametoindex(zone.c_str())) return idx;
  std::uint32_t n = 0;
  for (char c : zone) {
    if (c < '0' || c > '9' || n > 0xffffff) return 0;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

}  // namespace

bool parse_ip(std::string_view host, ip_addr& ip) {
  std::string h(host);
  std::string zone;
  // Go's splitHostZone: the zone follows the last '%', and only IPv6 has one.
  if (const std::size_t pct = h.rfind('%'); pct != std::string::npos && pct > 0) {
    zone = h.substr(pct + 1);
    h.resize(pct);
  }
  in_addr a4;
  if (zone.empty() && inet_pton(AF_INET, h.c_str(), &a4) == 1) {
    ip = from_in4(a4);
    return true;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, h.c_str(), &a6) != 1) return false;
  ip = from_in6(a6, zone_to_int(zone));
  return true;
}

std::string ip_string(const ip_addr& ip) {
  if (ip.family == AF_UNSPEC) return "";  // Go's ipEmptyString
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(ip.family, ip.bytes, buf, sizeof buf);
  std::string s = buf;
  if (ip.family == AF_INET6 && ip.scope_id != 0) {
    char name[IF_NAMESIZE];
    s += "%";
    s += if_indextoname(ip.scope_id, name) != nullptr ? std::string(name) : std::to_string(ip.scope_id);
  }
  return s;
}

sockaddr_any ip_to_sockaddr(int family, const ip_addr& ip, std::uint16_t port) {
  sockaddr_any sa;
  if (family == AF_INET) {
    if (ip.family == AF_INET6) throw addr_error(ip_string(ip), "non-IPv4 address");
    auto* in = reinterpret_cast<sockaddr_in*>(&sa.ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (ip.family == AF_INET) std::memcpy(&in->sin_addr, ip.bytes, 4);
    sa.len = sizeof(sockaddr_in);
    return sa;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa.ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  if (ip.family == AF_INET6) {
    std::memcpy(&in6->sin6_addr, ip.bytes, 16);
    in6->sin6_scope_id = ip.scope_id;
  } else if (ip.family == AF_INET && !ip.is_wildcard()) {
    // Go: 0.0.0.0 in an IPv6 socket is ::, the dual-stack wildcard;
    // any other IPv4 address its mapped form.
    std::memcpy(in6->sin6_addr.s6_addr, v4_in_v6_prefix, 12);
    std::memcpy(in6->sin6_addr.s6_addr + 12, ip.bytes, 4);
  }
  sa.len = sizeof(sockaddr_in6);
  return sa;
}

bool unix_sockaddr(std::string_view path, sockaddr_any& sa) {
  auto* un = reinterpret_cast<sockaddr_un*>(&sa.ss);
  if (path.size() >= sizeof un->sun_path) return false;
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  un->sun_path[path.size()] = '\0';
  sa.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path.empty() ? 0 : 1));
  if (!path.empty() && path.front() == '@') {
    // Linux's abstract namespace: a leading NUL, no terminating one.
    un->sun_path[0] = '\0';
    --sa.len;
  }
  return true;
}

std::string sockaddr_string(const sockaddr_any& sa) {
  switch (sa.family()) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&sa.ss);
      return join_host_port(ip_string(from_in4(in->sin_addr)), std::to_string(ntohs(in->sin_port)));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa.ss);
      return join_host_port(ip_string(from_in6(in6->sin6_addr, in6->sin6_scope_id)),
                            std::to_string(ntohs(in6->sin6_port)));
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&sa.ss);
      const std::size_t off = offsetof(sockaddr_un, sun_path);
      std::size_t n = sa.len > off ? sa.len - off : 0;
      std::string path(un->sun_path, n);
      // Go's anyToSockaddr: a leading NUL (abstract, or unnamed) shows as
      // '@', and the name ends at the first NUL after it.
      if (path.empty() || path.front() == '\0') path = "@" + path.substr(path.empty() ? 0 : 1);
      if (const std::size_t nul = path.find('\0'); nul != std::string::npos) path.resize(nul);
      return path;
    }
    default:
      return "";
  }
}

std::uint16_t sockaddr_port(const sockaddr_any& sa) {
  switch (sa.family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&sa.ss)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&sa.ss)->sin6_port);
    default:
      return 0;
  }
}

namespace {

struct ip_stack_capabilities {
  bool ipv4_enabled = false;
  bool ipv6_enabled = false;
  bool ipv4_mapped_ipv6_enabled = false;

  ip_stack_capabilities() {
    if (int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP); s >= 0) {
      ::close(s);
      ipv4_enabled = true;
    }
    ip_addr loopback6, loopback4;
    parse_ip("::1", loopback6);
    parse_ip("127.0.0.1", loopback4);
    ipv6_enabled = probe(loopback6, 1);
    ipv4_mapped_ipv6_enabled = probe(loopback4, 0);
  }

  // probe: can an IPv6 socket with IPV6_V6ONLY=v6only bind ip?
  static bool probe(const ip_addr& ip, int v6only) {
    int s = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (s < 0) return false;
    ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    const sockaddr_any sa = ip_to_sockaddr(AF_INET6, ip, 0);
    const bool ok = ::bind(s, sa.get(), sa.len) == 0;
    ::close(s);
    return ok;
  }
};

const ip_stack_capabilities& ip_stack() {
  static const ip_stack_capabilities caps;
  return caps;
}

}  // namespace

family_choice favorite_addr_family(std::string_view net, const ip_addr* laddr, const ip_addr* raddr, bool listen) {
  switch (net.back()) {
    case '4':
      return {AF_INET, false};
    case '6':
      return {AF_INET6, true};
    default:
      break;
  }
  if (listen && (laddr == nullptr || laddr->is_wildcard())) {
    const ip_stack_capabilities& caps = ip_stack();
    if (caps.ipv4_mapped_ipv6_enabled || !caps.ipv4_enabled) return {AF_INET6, false};
    if (laddr == nullptr || laddr->family == AF_UNSPEC) return {AF_INET, false};
    return {laddr->family, false};
  }
  // A nil IP counts as IPv4 (Go's TCPAddr.family).
  const auto v4 = [](const ip_addr* a) { return a == nullptr || a->family != AF_INET6; };
  if (v4(laddr) && v4(raddr)) return {AF_INET, false};
  return {AF_INET6, false};
}

std::vector<ip_addr> internet_addr_list(std::string_view op, std::string_view net, std::string_view host) {
  if (host.empty()) return {ip_addr{}};
  std::vector<ip_addr> ips;
  ip_addr literal;
  if (parse_ip(host, literal)) {
    ips.push_back(literal);
  } else {
    addrinfo hints{};
    hints.ai_family = net.back() == '4' ? AF_INET : net.back() == '6' ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
    const std::string name(host);
    addrinfo* res = nullptr;
    int sys_errno = 0;
    const int eai = gort::blocking([&] {
      const int r = getaddrinfo(name.c_str(), nullptr, &hints, &res);
      sys_errno = last_errno();
      return r;
    });
    if (eai != 0) throw_lookup_error(op, net, host, eai, sys_errno);
    for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET)
        ips.push_back(from_in4(reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr));
      else if (ai->ai_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
        ips.push_back(from_in6(in6->sin6_addr, in6->sin6_scope_id));
      }
    }
    freeaddrinfo(res);
  }
  // Go's filterAddrList: ipv4only keeps IPv4 (mapped ones included, which
  // are IPv4 here); ipv6only the rest.
  if (net.back() == '4' || net.back() == '6') {
    const int keep = net.back() == '4' ? AF_INET : AF_INET6;
    std::erase_if(ips, [keep](const ip_addr& ip) { return ip.family != keep; });
  }
  if (ips.empty()) throw addr_error(host, "no suitable address found");
  return ips;
}

}  // namespace gort::net::detail
