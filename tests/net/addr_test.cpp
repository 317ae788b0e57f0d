// addr_test.cpp: the net layer's internals that need no network and no
// goroutine: Go's address syntax (ip_test.go's TestSplitHostPort and
// TestJoinHostPort, with Go's tables), ports, IP literals, socket address
// texts, the choice of socket family, and Go's error texts (net.go's
// OpError.Error, syscall's Errno texts). The end-to-end suite over real
// sockets is net_test.cpp.
#include <gtest/gtest.h>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "gort/net.hpp"
#include "net/errors.hpp"
#include "net/fd_mutex.hpp"
#include "net/ipsock.hpp"

namespace gort::net::detail {
namespace {

TEST(IPTest, SplitHostPort) {
  struct {
    const char* host_port;
    const char* host;
    const char* port;
  } ok[] = {
      {"localhost:http", "localhost", "http"},
      {"localhost:80", "localhost", "80"},
      {"localhost%lo0:http", "localhost%lo0", "http"},
      {"localhost%lo0:80", "localhost%lo0", "80"},
      {"[localhost%lo0]:http", "localhost%lo0", "http"},
      {"[localhost%lo0]:80", "localhost%lo0", "80"},
      {"127.0.0.1:http", "127.0.0.1", "http"},
      {"127.0.0.1:80", "127.0.0.1", "80"},
      {"[::1]:http", "::1", "http"},
      {"[::1]:80", "::1", "80"},
      {"[::1%lo0]:http", "::1%lo0", "http"},
      {"[::1%lo0]:80", "::1%lo0", "80"},
      {":http", "", "http"},
      {":80", "", "80"},
      {"golang.org:", "golang.org", ""},
      {"127.0.0.1:", "127.0.0.1", ""},
      {"[::1]:", "::1", ""},
      {"golang.org:https%foo", "golang.org", "https%foo"},
  };
  for (const auto& tt : ok) {
    const host_port hp = split_host_port(tt.host_port);
    EXPECT_EQ(hp.host, tt.host) << tt.host_port;
    EXPECT_EQ(hp.port, tt.port) << tt.host_port;
  }

  struct {
    const char* host_port;
    const char* err;
  } bad[] = {
      {"golang.org", "missing port in address"},
      {"127.0.0.1", "missing port in address"},
      {"[::1]", "missing port in address"},
      {"[fe80::1%lo0]", "missing port in address"},
      {"[localhost%lo0]", "missing port in address"},
      {"localhost%lo0", "missing port in address"},
      {"::1", "too many colons in address"},
      {"fe80::1%lo0", "too many colons in address"},
      {"fe80::1%lo0:80", "too many colons in address"},
      {"[foo:bar]", "missing port in address"},
      {"[foo:bar]baz", "missing port in address"},
      {"[foo]bar:baz", "missing port in address"},
      {"[foo]:[bar]:baz", "too many colons in address"},
      {"[foo]:[bar]baz", "unexpected '[' in address"},
      {"foo[bar]:baz", "unexpected '[' in address"},
      {"foo]bar:baz", "unexpected ']' in address"},
      {"", "missing port in address"},
  };
  for (const auto& tt : bad) {
    try {
      split_host_port(tt.host_port);
      ADD_FAILURE() << "split_host_port(\"" << tt.host_port << "\") should have failed";
    } catch (const std::invalid_argument& e) {
      // Go's AddrError text, which names the address.
      const std::string want = *tt.host_port ? std::string("address ") + tt.host_port + ": " + tt.err : tt.err;
      EXPECT_EQ(std::string(e.what()), want);
    }
  }
}

TEST(IPTest, JoinHostPort) {
  // Go's TestSplitHostPort round trip, as JoinHostPort writes it.
  EXPECT_EQ(join_host_port("localhost", "80"), "localhost:80");
  EXPECT_EQ(join_host_port("::1", "80"), "[::1]:80");
  EXPECT_EQ(join_host_port("fe80::1%lo0", "http"), "[fe80::1%lo0]:http");
  EXPECT_EQ(join_host_port("", "80"), ":80");
  EXPECT_EQ(join_host_port("127.0.0.1", ""), "127.0.0.1:");
}

TEST(LookupTest, LookupPort) {
  EXPECT_EQ(lookup_port("tcp", "", ":"), 0);
  EXPECT_EQ(lookup_port("tcp", "0", ":0"), 0);
  EXPECT_EQ(lookup_port("tcp", "8080", ":8080"), 8080);
  EXPECT_EQ(lookup_port("tcp", "+80", ":+80"), 80);
  EXPECT_EQ(lookup_port("tcp", "65535", ":65535"), 65535);
  EXPECT_EQ(lookup_port("tcp", "http", ":http"), 80);  // /etc/services
  for (const char* bad : {"65536", "-1", "99999999999999999999"}) {
    const std::string address = std::string("127.0.0.1:") + bad;
    try {
      lookup_port("tcp", bad, address);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), "address " + address + ": invalid port");
    }
  }
  try {
    lookup_port("udp", "no-such-service", ":no-such-service");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "address udp/no-such-service: unknown port");
  }
}

TEST(IPTest, ParseIP) {
  ip_addr ip;
  ASSERT_TRUE(parse_ip("127.0.0.1", ip));
  EXPECT_EQ(ip.family, AF_INET);
  EXPECT_EQ(ip_string(ip), "127.0.0.1");
  ASSERT_TRUE(parse_ip("::ffff:10.1.2.3", ip));  // IPv4-mapped: Go holds it as IPv4
  EXPECT_EQ(ip.family, AF_INET);
  EXPECT_EQ(ip_string(ip), "10.1.2.3");
  ASSERT_TRUE(parse_ip("2001:DB8::0:1", ip));
  EXPECT_EQ(ip.family, AF_INET6);
  EXPECT_EQ(ip_string(ip), "2001:db8::1");
  ASSERT_TRUE(parse_ip("fe80::1%lo", ip));
  EXPECT_NE(ip.scope_id, 0u);
  EXPECT_EQ(ip_string(ip), "fe80::1%lo");
  ASSERT_TRUE(parse_ip("fe80::1%7", ip));  // a numeric zone is an interface index
  EXPECT_EQ(ip.scope_id, 7u);
  EXPECT_FALSE(parse_ip("localhost", ip));
  EXPECT_FALSE(parse_ip("127.0.0.1%lo", ip));  // only IPv6 has a zone
  EXPECT_FALSE(parse_ip("256.0.0.1", ip));
  EXPECT_FALSE(parse_ip("", ip));
  EXPECT_TRUE(ip_addr{}.is_wildcard());
  ASSERT_TRUE(parse_ip("0.0.0.0", ip));
  EXPECT_TRUE(ip.is_wildcard());
  ASSERT_TRUE(parse_ip("::", ip));
  EXPECT_TRUE(ip.is_wildcard());
}

TEST(IPTest, SockaddrString) {
  ip_addr ip;
  ASSERT_TRUE(parse_ip("127.0.0.1", ip));
  EXPECT_EQ(sockaddr_string(ip_to_sockaddr(AF_INET, ip, 8080)), "127.0.0.1:8080");
  // In an IPv6 socket, IPv4 is mapped, and still prints as IPv4 (Go's IP.String).
  const sockaddr_any mapped = ip_to_sockaddr(AF_INET6, ip, 80);
  EXPECT_EQ(mapped.family(), AF_INET6);
  EXPECT_EQ(sockaddr_string(mapped), "127.0.0.1:80");
  EXPECT_EQ(sockaddr_port(mapped), 80);
  // The wildcard in an IPv6 socket is [::] (dual stack), not ::ffff:0.0.0.0.
  EXPECT_EQ(sockaddr_string(ip_to_sockaddr(AF_INET6, ip_addr{}, 0)), "[::]:0");
  ASSERT_TRUE(parse_ip("0.0.0.0", ip));
  EXPECT_EQ(sockaddr_string(ip_to_sockaddr(AF_INET6, ip, 1)), "[::]:1");
  ASSERT_TRUE(parse_ip("fe80::1%lo", ip));
  EXPECT_EQ(sockaddr_string(ip_to_sockaddr(AF_INET6, ip, 9000)), "[fe80::1%lo]:9000");
  EXPECT_THROW(ip_to_sockaddr(AF_INET, ip, 1), std::invalid_argument);  // IPv6 in an IPv4 socket

  sockaddr_any un;
  ASSERT_TRUE(unix_sockaddr("/tmp/gort.sock", un));
  EXPECT_EQ(sockaddr_string(un), "/tmp/gort.sock");
  ASSERT_TRUE(unix_sockaddr("@abstract", un));  // Linux's abstract namespace
  EXPECT_EQ(reinterpret_cast<const sockaddr_un*>(&un.ss)->sun_path[0], '\0');
  EXPECT_EQ(un.len, offsetof(sockaddr_un, sun_path) + std::strlen("@abstract"));
  EXPECT_EQ(sockaddr_string(un), "@abstract");
  sockaddr_any unnamed;  // as getsockname reports an unbound Unix socket
  unnamed.ss.ss_family = AF_UNIX;
  unnamed.len = sizeof(sa_family_t);
  EXPECT_EQ(sockaddr_string(unnamed), "@");
  EXPECT_EQ(sockaddr_port(unnamed), 0);
  EXPECT_FALSE(unix_sockaddr(std::string(sizeof(sockaddr_un{}.sun_path), 'x'), un));
}

TEST(IPSockTest, FavoriteAddrFamily) {
  ip_addr v4, v6;
  ASSERT_TRUE(parse_ip("127.0.0.1", v4));
  ASSERT_TRUE(parse_ip("::1", v6));
  EXPECT_EQ(favorite_addr_family("tcp4", nullptr, nullptr, true).family, AF_INET);
  const family_choice six = favorite_addr_family("tcp6", &v6, nullptr, true);
  EXPECT_EQ(six.family, AF_INET6);
  EXPECT_TRUE(six.ipv6only);
  // Dialing: IPv4 unless an address is IPv6.
  EXPECT_EQ(favorite_addr_family("tcp", nullptr, &v4, false).family, AF_INET);
  EXPECT_EQ(favorite_addr_family("tcp", nullptr, &v6, false).family, AF_INET6);
  EXPECT_EQ(favorite_addr_family("udp", nullptr, nullptr, false).family, AF_INET);
  // A specific address to listen on keeps its family.
  EXPECT_EQ(favorite_addr_family("tcp", &v4, nullptr, true).family, AF_INET);
  // A wildcard listen is dual stack where IPv6 sockets take IPv4: never IPV6_V6ONLY.
  const ip_addr nil;
  const family_choice any = favorite_addr_family("tcp", &nil, nullptr, true);
  EXPECT_FALSE(any.ipv6only);
}

TEST(IPSockTest, InternetAddrListLiterals) {
  // Literals never reach the resolver, so this needs no goroutine.
  EXPECT_EQ(internet_addr_list("dial", "tcp", "").size(), 1u);
  EXPECT_EQ(internet_addr_list("dial", "tcp", "").front().family, AF_UNSPEC);
  EXPECT_EQ(internet_addr_list("dial", "tcp6", "::1").front().family, AF_INET6);
  EXPECT_EQ(internet_addr_list("dial", "tcp4", "::ffff:127.0.0.1").front().family, AF_INET);
  try {
    internet_addr_list("dial", "tcp4", "::1");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "address ::1: no suitable address found");
  }
  EXPECT_THROW(internet_addr_list("dial", "udp6", "10.0.0.1"), std::invalid_argument);
}

TEST(ErrorTest, ErrnoString) {
  // syscall's Errno texts, as Go prints them.
  EXPECT_EQ(errno_string(ECONNREFUSED), "connection refused");
  EXPECT_EQ(errno_string(ECONNRESET), "connection reset by peer");
  EXPECT_EQ(errno_string(EPIPE), "broken pipe");
  EXPECT_EQ(errno_string(EADDRINUSE), "address already in use");
  EXPECT_EQ(errno_string(EMFILE), "too many open files");
  EXPECT_EQ(errno_string(EAGAIN), "resource temporarily unavailable");
  EXPECT_EQ(errno_string(ENETUNREACH), "network is unreachable");
  EXPECT_EQ(errno_string(EREMOTE), "object is remote");
  EXPECT_EQ(errno_string(EADV), "advertise error");
  EXPECT_EQ(errno_string(4000), "errno 4000");
  EXPECT_EQ(errno_string(err_net_closing), "use of closed network connection");
  EXPECT_EQ(errno_string(err_deadline), "i/o timeout");
}

TEST(ErrorTest, OpErrorText) {
  // Go's OpError.Error(): Source and Addr appear only when set.
  EXPECT_EQ(op_text("dial", "tcp", "", "127.0.0.1:1", "connect: connection refused"),
            "dial tcp 127.0.0.1:1: connect: connection refused");
  EXPECT_EQ(op_text("read", "tcp", "127.0.0.1:41234", "127.0.0.1:8080", "i/o timeout"),
            "read tcp 127.0.0.1:41234->127.0.0.1:8080: i/o timeout");
  EXPECT_EQ(op_text("read", "udp", "127.0.0.1:5353", "", "i/o timeout"), "read udp 127.0.0.1:5353: i/o timeout");
  EXPECT_EQ(op_text("dial", "udp7", "", "", "unknown network udp7"), "dial udp7: unknown network udp7");
}

TEST(ErrorTest, ThrowOpError) {
  try {
    throw_op_error("dial", "tcp", "", "127.0.0.1:1", {ECONNREFUSED, "connect"});
  } catch (const timeout_error&) {
    ADD_FAILURE() << "not a timeout";
  } catch (const op_error& e) {
    EXPECT_STREQ(e.what(), "dial tcp 127.0.0.1:1: connect: connection refused");
    EXPECT_EQ(e.code(), std::error_code(ECONNREFUSED, std::system_category()));
    EXPECT_EQ(e.code(), std::errc::connection_refused);
  }
  try {
    throw_op_error("read", "tcp", "127.0.0.1:41234", "127.0.0.1:8080", {err_deadline});
  } catch (const timeout_error& e) {
    EXPECT_STREQ(e.what(), "read tcp 127.0.0.1:41234->127.0.0.1:8080: i/o timeout");
    EXPECT_EQ(e.code(), std::errc::timed_out);
  }
  try {
    throw_op_error("accept", "tcp", "", "127.0.0.1:8080", {err_net_closing});
  } catch (const std::system_error& e) {
    EXPECT_STREQ(e.what(), "accept tcp 127.0.0.1:8080: use of closed network connection");
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
  }
  try {
    throw_op_error("listen", "tcp", "", "127.0.0.1:80", {EADDRINUSE, "bind"});
  } catch (const op_error& e) {
    EXPECT_STREQ(e.what(), "listen tcp 127.0.0.1:80: bind: address already in use");
  }
  try {
    throw_unknown_network("listen", "udp7");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "listen udp7: unknown network udp7");
  }
  try {
    throw_invalid("dial", "tcp", addr_error("127.0.0.1", "missing port in address"));
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "dial tcp: address 127.0.0.1: missing port in address");
  }
  try {
    throw_lookup_error("dial", "tcp", "nosuchhost.invalid", EAI_NONAME, 0);
  } catch (const op_error& e) {
    EXPECT_STREQ(e.what(), "dial tcp: lookup nosuchhost.invalid: no such host");
    EXPECT_EQ(e.code(), std::error_code(EAI_NONAME, lookup_category()));
  }
}

// fd_mutex without contention never parks, so it runs on a plain thread.
TEST(FDMutexTest, Basic) {
  fd_mutex mu;
  EXPECT_TRUE(mu.incref());
  EXPECT_EQ(mu.rwlock(true), fd_mutex::lock_result::locked);
  EXPECT_EQ(mu.rwlock(false), fd_mutex::lock_result::locked);  // a read and a write together
  EXPECT_FALSE(mu.rwunlock(true));
  EXPECT_FALSE(mu.rwunlock(false));
  EXPECT_FALSE(mu.decref());
}

TEST(FDMutexTest, Close) {
  fd_mutex mu;
  EXPECT_TRUE(mu.incref());
  EXPECT_EQ(mu.rwlock(true), fd_mutex::lock_result::locked);
  EXPECT_TRUE(mu.incref_and_close());
  EXPECT_FALSE(mu.incref_and_close());  // closed once
  EXPECT_FALSE(mu.incref());
  EXPECT_EQ(mu.rwlock(false), fd_mutex::lock_result::closed);
  EXPECT_FALSE(mu.decref());    // close's own reference
  EXPECT_FALSE(mu.decref());    // incref's
  EXPECT_TRUE(mu.rwunlock(true));  // the last one: the caller destroys the fd
}

}  // namespace
}  // namespace gort::net::detail
