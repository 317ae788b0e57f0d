// net_test.cpp: gort::net end to end, through the public API
// (include/gort/net.hpp) over the runtime's netpoller. Go
// counterparts: src/net's net_test.go, timeout_test.go, conn_test.go,
// dial_test.go, listen_test.go, error_test.go, udpsock_test.go,
// unixsock_test.go; tests keep Go's names where one fits.
//
//   NetTest (each at GOMAXPROCS 1, 2 and 4)
//     TCPServer                  a small echo server, exact bytes both ways
//     CloseWrite, CloseRead      Go's: EOF after close_write (the peer can
//                                still write back), tcp and unix
//     ConnClose, ListenerClose, PacketConnClose
//                                close() wakes a blocked read, write, accept,
//                                read_from: "use of closed network connection"
//     CloseError                 use after close, and of a default Conn
//     ListenCloseListen          Go's: the port is free again after close
//     DialError                  refused: Go's exact text, ECONNREFUSED
//     DialUnreachable            ENETUNREACH, where the machine has no route
//     DialAddrError, ListenError malformed addresses, bad ports, EADDRINUSE
//     UnknownNetwork             "unknown network udp7"
//     TCPListenerName, TCPConnLocalAndRemoteNames, DualStackTCPListener
//                                address formats; ":0" reachable over 127.0.0.1 and ::1
//     UDPServer, UDPReadSizeError, UnixServer, UnixUnlink, UnixgramServer
//     WaitReadablePipe, WaitWritablePipe, WaitEventfd, WaitNetFd, WaitBothModes
//                                wait_readable/wait_writable on foreign fds
//     FdReuse                    a closed Conn's in-flight events do not reach
//                                the new Conn that reuses its fd number
//     ReadAfterReset, WriteToClosedPeer
//                                ECONNRESET/EPIPE, and never SIGPIPE
//     AcceptEMFILE               accept at the fd limit throws, then recovers
//     DialContextAlreadyDone     dial(ctx) with ctx done: fails at once, Go's texts
//     DialContextConnOutlivesCancel  the Conn is the context's no more
//   TimeoutTest (at 1, 2, 4): for read, write, accept, dial, read_from and
//     write_to, a deadline in the past, near, cleared, and set while blocked:
//     DialTimeout, AcceptTimeout, AcceptTimeoutMustNotReturn,
//     AcceptTimeoutUnblocksAccept, ReadTimeout, ReadTimeoutMustNotReturn,
//     DialContextCancel, DialContextDeadline (dial(ctx): cancelled while the
//     connect waits, "operation was canceled"; ctx's deadline, i/o timeout),
//     ReadTimeoutUnblocksRead, WriteTimeout, WriteTimeoutMustNotReturn,
//     WriteTimeoutUnblocksWrite, ReadFromTimeout, WriteToTimeout
//   NetpollTest.IOWhileSpinningP1  GOMAXPROCS=1, a goroutine spinning without
//                                  entering the runtime: I/O still progresses
//   NetTestMisuse.NotOnAGoroutine, ForeignThread, ConnOutlivesRun
//
// Timing: a deadline is never early (asserted exactly: the call fails at or
// after the instant); how late it may be is bounded in seconds (kSlack), as
// CI runs loaded and sanitizers slow everything.
#include "net_test_util.hpp"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <optional>
#include <thread>

namespace {

using namespace gort_net_test;

class NetTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, NetTest, ::testing::Values(1, 2, 4), procs_name);
class TimeoutTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, TimeoutTest, ::testing::Values(1, 2, 4), procs_name);

// timed: an outcome and when the call ended.
struct timed {
  outcome o;
  tp start{}, end{};
  steady::duration took() const { return end - start; }
};
template <class F>
timed timed_outcome(F&& f) {
  timed t;
  t.start = steady::now();
  t.o = outcome_of(std::forward<F>(f));
  t.end = steady::now();
  return t;
}

// let_it_park: give a goroutine that has said it is about to block time to
// park. Nothing depends on it for correctness (a call made after close() or
// after a deadline passed fails the same way); it makes the blocked path the
// one usually tested.
void let_it_park() { gort::sleep(20ms); }

// ---- echo ----------------------------------------------------------------------

// Go's TestTCPServer, small: 8 clients, each sends its own 64 KiB in random
// sized writes while reading the echo; the echo must be exact.
TEST_P(NetTest, TCPServer) {
  constexpr int kConns = 8;
  constexpr std::size_t kBytes = 64 << 10;
  errors errs;
  std::atomic<int> exact{0};
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    gort::WaitGroup servers, clients;
    go_guarded(servers, errs, "acceptor", [&] {
      for (int i = 0; i < kConns; ++i)
        go_guarded(servers, errs, "echo", [&, c = ln.accept()]() mutable {
          char buf[1500];
          while (std::size_t n = c.read(std::span(buf))) c.write(std::string_view(buf, n));
        });
    });
    for (int i = 0; i < kConns; ++i)
      go_guarded(clients, errs, "client " + std::to_string(i), [&, i] {
        net::Conn c = net::dial(ln.addr());
        gort::WaitGroup w;
        go_guarded(w, errs, "writer", [&] {
          rng r(i);
          std::vector<std::byte> chunk(9000);
          for (std::size_t off = 0; off < kBytes;) {
            std::size_t n = std::min<std::size_t>(1 + r.below(9000), kBytes - off);
            fill_pattern(std::span(chunk).first(n), i, off);
            if (c.write(std::span<const std::byte>(chunk).first(n)) != n) errs.add("short write");
            off += n;
          }
          c.close_write();
        });
        std::vector<std::byte> got(kBytes + 1);
        std::size_t n = read_full(c, got);
        w.wait();
        if (n != kBytes)
          errs.add("client " + std::to_string(i) + ": echoed " + std::to_string(n) + " bytes");
        else if (std::size_t bad = first_mismatch(std::span(got).first(n), i, 0); bad != n)
          errs.add("client " + std::to_string(i) + ": byte " + std::to_string(bad) + " differs");
        else
          exact.fetch_add(1);
      });
    clients.wait();
    servers.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(exact.load(), kConns);
}

// ---- close_write, close_read ----------------------------------------------------

// Go's TestCloseWrite, for tcp and unix: after close_write the peer reads
// what was sent, then 0 (EOF), and can still write back; a write after
// close_write fails (and raises no SIGPIPE).
TEST_P(NetTest, CloseWrite) {
  for (std::string network : {"tcp", "unix"}) {
    std::string server_got, client_got, path;
    std::size_t server_eof = 99, client_eof = 99;
    outcome after;
    errors errs;
    int rc = run_net(GetParam(), [&] {
      path = temp_sock_path("cw");
      conn_pair p = network == "tcp" ? tcp_pair() : make_pair_on(net::listen("unix", path), "unix");
      gort::WaitGroup wg;
      go_guarded(wg, errs, "server", [&] {
        server_got = read_string(p.server, 5);
        char b[8];
        server_eof = p.server.read(std::span(b));
        p.server.write("reply");
        p.server.close();
      });
      p.client.write("hello");
      p.client.close_write();
      after = outcome_of([&] { p.client.write("more"); });
      client_got = read_string(p.client, 5);
      char b[8];
      client_eof = p.client.read(std::span(b));
      wg.wait();
    });
    SCOPED_TRACE(network);
    EXPECT_EQ(rc, 0);
    EXPECT_TRUE(errs.empty()) << errs.str();
    EXPECT_EQ(server_got, "hello");
    EXPECT_EQ(server_eof, 0u) << "the peer of close_write must read EOF";
    EXPECT_EQ(client_got, "reply") << "the peer of close_write could not write back";
    EXPECT_EQ(client_eof, 0u);
    EXPECT_TRUE(after.is_system_error()) << "write after close_write: " << after.str();
    ::unlink(path.c_str());
  }
}

// Go's TestCloseRead: after close_read, read returns 0 (Go: 0, io.EOF).
TEST_P(NetTest, CloseRead) {
  for (std::string network : {"tcp", "unix"}) {
    std::optional<std::size_t> n;
    std::string path;
    outcome o;
    int rc = run_net(GetParam(), [&] {
      path = temp_sock_path("cr");
      conn_pair p = network == "tcp" ? tcp_pair() : make_pair_on(net::listen("unix", path), "unix");
      p.client.close_read();
      o = outcome_of([&] {
        char b[1];
        n = p.client.read(std::span(b));
      });
    });
    SCOPED_TRACE(network);
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(o.kind, outcome::returned) << o.str();
    EXPECT_EQ(n, std::optional<std::size_t>(0));
    ::unlink(path.c_str());
  }
}

// ---- close ---------------------------------------------------------------------

// close() wakes a blocked reader and a blocked writer (its socket buffers
// full); each throws "use of closed network connection", promptly.
TEST_P(NetTest, ConnClose) {
  timed rd, wr;
  tp closed_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    conn_pair r = tcp_pair(), w = tcp_pair();
    set_buffers(w.client.fd());
    set_buffers(w.server.fd());
    std::atomic<int> started{0};
    gort::WaitGroup wg;
    go_guarded(wg, errs, "reader", [&] {
      started.fetch_add(1);
      rd = timed_outcome([&] {
        char b[16];
        r.client.read(std::span(b));
      });
    });
    go_guarded(wg, errs, "writer", [&] {
      std::vector<std::byte> big(kBlockingWrite);
      started.fetch_add(1);
      wr = timed_outcome([&] { w.client.write(big); });
    });
    spin_until([&] { return started.load() == 2; });
    let_it_park();
    closed_at = steady::now();
    r.client.close();
    w.client.close();
    wg.wait();
    EXPECT_EQ(r.client.fd(), -1);
    EXPECT_FALSE(r.client);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(is_closed(rd.o)) << "blocked read: " << rd.o.str();
  EXPECT_TRUE(rd.o.starts_with("read tcp ")) << rd.o.str();
  EXPECT_TRUE(is_closed(wr.o)) << "blocked write: " << wr.o.str();
  EXPECT_TRUE(wr.o.starts_with("write tcp ")) << wr.o.str();
  EXPECT_LT(rd.end - closed_at, kSlack);
  EXPECT_LT(wr.end - closed_at, kSlack);
}

// Go's TestListenerClose: close() wakes a blocked accept, which throws "use
// of closed network connection"; so does every accept after.
TEST_P(NetTest, ListenerClose) {
  timed blocked;
  outcome after;
  tp closed_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    std::atomic<bool> started{false};
    gort::WaitGroup wg;
    go_guarded(wg, errs, "acceptor", [&] {
      started = true;
      blocked = timed_outcome([&] { ln.accept(); });
    });
    spin_until([&] { return started.load(); });
    let_it_park();
    closed_at = steady::now();
    ln.close();
    wg.wait();
    after = outcome_of([&] { ln.accept(); });
    EXPECT_EQ(ln.fd(), -1);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(is_closed(blocked.o)) << "blocked accept: " << blocked.o.str();
  EXPECT_TRUE(blocked.o.starts_with("accept tcp 127.0.0.1:")) << blocked.o.str();
  EXPECT_LT(blocked.end - closed_at, kSlack);
  EXPECT_TRUE(is_closed(after)) << "accept after close: " << after.str();
}

// Go's TestPacketConnClose: close() wakes a blocked read_from.
TEST_P(NetTest, PacketConnClose) {
  timed blocked;
  outcome rd, wr;
  tp closed_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    net::PacketConn pc = net::listen_packet("udp", "127.0.0.1:0");
    const std::string self = pc.local_addr();
    std::atomic<bool> started{false};
    gort::WaitGroup wg;
    go_guarded(wg, errs, "reader", [&] {
      started = true;
      blocked = timed_outcome([&] {
        std::byte b[16];
        pc.read_from(b);
      });
    });
    spin_until([&] { return started.load(); });
    let_it_park();
    closed_at = steady::now();
    pc.close();
    wg.wait();
    rd = outcome_of([&] {
      std::byte b[16];
      pc.read_from(b);
    });
    wr = outcome_of([&] { pc.write_to(bytes("x"), self); });
    EXPECT_EQ(pc.fd(), -1);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(is_closed(blocked.o)) << "blocked read_from: " << blocked.o.str();
  EXPECT_LT(blocked.end - closed_at, kSlack);
  EXPECT_TRUE(is_closed(rd)) << "read_from after close: " << rd.str();
  EXPECT_TRUE(is_closed(wr)) << "write_to after close: " << wr.str();
}

// Go's TestCloseError and more: every call on a closed Conn, Listener or
// PacketConn, and on a default-constructed one ("every call fails as on a
// closed Conn"), throws "use of closed network connection".
TEST_P(NetTest, CloseError) {
  std::vector<std::pair<std::string, outcome>> got;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    p.client.close();
    char b[4];
    auto add = [&](std::string name, auto f) { got.emplace_back(std::move(name), outcome_of(f)); };
    add("read", [&] { p.client.read(std::span(b)); });
    add("write", [&] { p.client.write("x"); });
    add("close_write", [&] { p.client.close_write(); });
    add("set_deadline", [&] { p.client.set_deadline(steady::now() + 1s); });
    add("set_read_deadline", [&] { p.client.set_read_deadline(steady::now() + 1s); });
    add("set_write_deadline", [&] { p.client.set_write_deadline(steady::now() + 1s); });
    p.ln.close();
    add("accept", [&] { p.ln.accept(); });
    add("listener set_deadline", [&] { p.ln.set_deadline(steady::now() + 1s); });
    net::Conn none;
    EXPECT_EQ(none.fd(), -1);
    EXPECT_FALSE(none);
    add("read on a default Conn", [&] { none.read(std::span(b)); });
    add("write on a default Conn", [&] { none.write("x"); });
    net::Listener no_ln;
    add("accept on a default Listener", [&] { no_ln.accept(); });
    net::PacketConn no_pc;
    add("read_from on a default PacketConn", [&] {
      std::byte x[4];
      no_pc.read_from(x);
    });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got.size(), 12u);
  for (auto& [name, o] : got) EXPECT_TRUE(is_closed(o)) << name << ": " << o.str();
}

// Go's TestListenCloseListen: once closed, a listener's address can be
// listened on again.
TEST_P(NetTest, ListenCloseListen) {
  std::string first, second;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    first = ln.addr();
    ln.close();
    net::Listener again = net::listen("tcp", first);
    second = again.addr();
    conn_pair p = make_pair_on(std::move(again));
    p.client.write("x");
    EXPECT_EQ(read_string(p.server, 1), "x");
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(first, second);
}

// ---- dial and listen errors ------------------------------------------------------

// Go's TestDialError, refused: nothing listens on port 1.
TEST_P(NetTest, DialError) {
  outcome o, o_timeout;
  int rc = run_net(GetParam(), [&] {
    o = outcome_of([] { net::dial("127.0.0.1:1"); });
    o_timeout = outcome_of([] { net::dial("tcp", "127.0.0.1:1", 5s); });
  });
  EXPECT_EQ(rc, 0);
  for (const outcome* x : {&o, &o_timeout}) {
    EXPECT_EQ(x->kind, outcome::op) << x->str();
    EXPECT_EQ(x->what, "dial tcp 127.0.0.1:1: connect: connection refused") << x->str();
    EXPECT_EQ(x->code.value(), ECONNREFUSED) << x->str();
    EXPECT_TRUE(x->code == std::errc::connection_refused) << x->str();
  }
}

// A destination the kernel has no route for fails at once with
// ENETUNREACH/EHOSTUNREACH, named as Go names it. The address is the first
// of a few for which a plain non-blocking connect fails so at once on this
// machine (TCP to a broadcast or multicast address always does on Linux);
// if none does, the test is skipped.
TEST_P(NetTest, DialUnreachable) {
  struct candidate {
    const char* addr;
    const char* ip;
    int port;
  };
  const candidate candidates[] = {{"255.255.255.255:80", "255.255.255.255", 80},
                                  {"224.0.0.1:80", "224.0.0.1", 80},
                                  {"10.255.255.1:80", "10.255.255.1", 80}};
  const candidate* chosen = nullptr;
  int want_errno = 0;
  for (const candidate& c : candidates) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(c.port));
    ::inet_pton(AF_INET, c.ip, &sa.sin_addr);
    int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int e = errno;
    ::close(fd);
    if (r != 0 && (e == ENETUNREACH || e == EHOSTUNREACH)) {
      chosen = &c;
      want_errno = e;
      break;
    }
  }
  if (chosen == nullptr) GTEST_SKIP() << "this machine has a route to every candidate address";
  timed t;
  int rc = run_net(GetParam(), [&] { t = timed_outcome([&] { net::dial("tcp", chosen->addr, 10s); }); });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(t.o.kind, outcome::op) << t.o.str();
  EXPECT_EQ(t.o.code.value(), want_errno) << t.o.str();
  EXPECT_EQ(t.o.what, std::string("dial tcp ") + chosen->addr +
                          ": connect: " + (want_errno == ENETUNREACH ? "network is unreachable" : "no route to host"));
  EXPECT_LT(t.took(), kAtOnce);
}

// Go's TestDialAddrError and the address half of TestListenError: a
// malformed address or a port outside 0..65535 throws std::invalid_argument
// whose message names the address (include/gort/net.hpp).
TEST_P(NetTest, DialAddrError) {
  const char* bad[] = {"127.0.0.1",  // missing port
                       "127.0.0.1:65536",
                       "127.0.0.1:99999",
                       "127.0.0.1:-1",
                       "[::1",    // missing ']'
                       "::1:80",  // too many colons
                       "[::1]80"};
  struct result {
    std::string call, addr;
    outcome o;
  };
  std::vector<result> got;
  int rc = run_net(GetParam(), [&] {
    for (const char* a : bad) {
      got.push_back({"dial", a, outcome_of([a] { net::dial(a); })});
      got.push_back({"dial with timeout", a, outcome_of([a] { net::dial("tcp", a, 1s); })});
      got.push_back({"listen", a, outcome_of([a] { net::listen(a); })});
      got.push_back({"listen_packet udp", a, outcome_of([a] { net::listen_packet("udp", a); })});
    }
  });
  EXPECT_EQ(rc, 0);
  for (auto& [call, addr, o] : got) {
    EXPECT_EQ(o.kind, outcome::invalid_arg) << call << " " << addr << ": " << o.str();
    EXPECT_TRUE(o.contains(addr)) << call << " " << addr << ": the message must name the address: " << o.str();
  }
}

// The EADDRINUSE half of Go's TestListenError: a second listen on a bound
// port fails with the errno and Go's text.
TEST_P(NetTest, ListenError) {
  outcome o, o_udp;
  std::string addr;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    addr = ln.addr();
    o = outcome_of([&] { net::listen("tcp", addr); });
    net::PacketConn pc = net::listen_packet("udp", "127.0.0.1:0");
    o_udp = outcome_of([&] { net::listen_packet("udp", pc.local_addr()); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(o.kind, outcome::op) << o.str();
  EXPECT_EQ(o.code.value(), EADDRINUSE) << o.str();
  EXPECT_EQ(o.what, "listen tcp " + addr + ": bind: address already in use") << o.str();
  EXPECT_TRUE(o_udp.is_system_error()) << o_udp.str();
  EXPECT_EQ(o_udp.code.value(), EADDRINUSE) << o_udp.str();
  EXPECT_TRUE(o_udp.contains("address already in use")) << o_udp.str();
}

// Go's UnknownNetworkError: "unknown network <name>", as std::invalid_argument.
TEST_P(NetTest, UnknownNetwork) {
  std::vector<std::pair<std::string, outcome>> got;
  int rc = run_net(GetParam(), [&] {
    got.emplace_back("udp7", outcome_of([] { net::dial("udp7", "127.0.0.1:80"); }));
    got.emplace_back("tcp7", outcome_of([] { net::listen("tcp7", "127.0.0.1:0"); }));
    got.emplace_back("ip9", outcome_of([] { net::listen_packet("ip9", "127.0.0.1:0"); }));
    got.emplace_back("", outcome_of([] { net::dial("", "127.0.0.1:80"); }));
  });
  EXPECT_EQ(rc, 0);
  for (auto& [name, o] : got) {
    EXPECT_EQ(o.kind, outcome::invalid_arg) << "network \"" << name << "\": " << o.str();
    EXPECT_TRUE(o.contains("unknown network " + name)) << "network \"" << name << "\": " << o.str();
  }
}

// ---- addresses -----------------------------------------------------------------

// Go's TestTCPListenerName and the address formats: "127.0.0.1:NNN",
// "[::1]:NNN", with the port filled in.
TEST_P(NetTest, TCPListenerName) {
  struct tc {
    const char* network;
    const char* addr;
    const char* host_re;
  };
  std::vector<tc> cases = {{"tcp", "127.0.0.1:0", R"(127\.0\.0\.1)"}, {"tcp4", "127.0.0.1:0", R"(127\.0\.0\.1)"}};
  if (have_ipv6()) {
    cases.push_back({"tcp", "[::1]:0", R"(\[::1\])"});
    cases.push_back({"tcp6", "[::1]:0", R"(\[::1\])"});
  }
  for (const tc& c : cases) {
    std::string ln_addr, cl_local, cl_remote, sv_local, sv_remote;
    int port = -1;
    int rc = run_net(GetParam(), [&] {
      net::Listener ln = net::listen(c.network, c.addr);
      ln_addr = ln.addr();
      port = ln.port();
      conn_pair p = make_pair_on(std::move(ln), c.network);
      cl_local = p.client.local_addr();
      cl_remote = p.client.remote_addr();
      sv_local = p.server.local_addr();
      sv_remote = p.server.remote_addr();
    });
    SCOPED_TRACE(std::string(c.network) + " " + c.addr);
    EXPECT_EQ(rc, 0);
    const std::regex re(std::string(c.host_re) + ":([1-9][0-9]*)");
    EXPECT_TRUE(std::regex_match(ln_addr, re)) << ln_addr;
    EXPECT_EQ(port_of(ln_addr), port);
    EXPECT_GT(port, 0);
    EXPECT_TRUE(std::regex_match(cl_local, re)) << cl_local;
    EXPECT_EQ(cl_remote, ln_addr);
    EXPECT_EQ(sv_local, ln_addr);
    EXPECT_EQ(sv_remote, cl_local);
  }
}

// Go's TestTCPConnLocalAndRemoteNames-like check on a live exchange, and the
// addresses in error texts: a read timeout names local->remote.
TEST_P(NetTest, TCPConnLocalAndRemoteNames) {
  std::string local, remote;
  outcome o;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    local = p.client.local_addr();
    remote = p.client.remote_addr();
    p.client.set_read_deadline(steady::now() - 1s);
    o = outcome_of([&] {
      char b[1];
      p.client.read(std::span(b));
    });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(o.what, "read tcp " + local + "->" + remote + ": i/o timeout") << o.str();
}

// Go's TestDualStackTCPListener: ":0" listens on all interfaces, IPv4 and
// IPv6 together; it is reachable through 127.0.0.1, ::1 (when the machine has
// IPv6) and localhost, and the accepted side sees the client's address as the
// client does (an IPv4 client as "127.0.0.1:N", not v4-mapped).
TEST_P(NetTest, DualStackTCPListener) {
  const bool v6 = have_ipv6();
  std::string ln_addr;
  int port = -1;
  std::vector<std::string> targets = {"127.0.0.1", "localhost"};
  if (v6) targets.push_back("[::1]");
  std::vector<std::pair<std::string, std::string>> names;  // client local, server remote
  std::vector<std::string> echoes;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    for (const char* spelling : {":0", "tcp"}) {
      net::Listener ln = std::string_view(spelling) == ":0" ? net::listen(":0") : net::listen("tcp", ":0");
      ln_addr = ln.addr();
      port = ln.port();
      for (const std::string& host : targets) {
        net::Conn c = net::dial(host + ":" + std::to_string(port));
        net::Conn s = ln.accept();
        c.write(host);
        echoes.push_back(read_string(s, host.size()));
        if (host != "localhost") names.emplace_back(c.local_addr(), s.remote_addr());
      }
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_GT(port, 0);
  EXPECT_EQ(port_of(ln_addr), port) << ln_addr;
  if (v6) {
    EXPECT_EQ(ln_addr, "[::]:" + std::to_string(port)) << "Go prints a dual-stack listener as [::]:port";
  }
  ASSERT_EQ(echoes.size(), 2 * targets.size());
  for (std::size_t i = 0; i < echoes.size(); ++i) EXPECT_EQ(echoes[i], targets[i % targets.size()]);
  for (auto& [local, remote] : names) EXPECT_EQ(local, remote);
  ASSERT_EQ(names.size(), 2 * (targets.size() - 1));
  EXPECT_TRUE(std::regex_match(names[0].first, std::regex(R"(127\.0\.0\.1:[0-9]+)"))) << names[0].first;
  if (v6) {
    EXPECT_TRUE(std::regex_match(names[1].first, std::regex(R"(\[::1\]:[0-9]+)"))) << names[1].first;
  }
}

// ---- UDP, Unix sockets --------------------------------------------------------------

// Go's TestUDPServer / TestWriteToUDP: datagrams both ways, each read_from
// naming its sender exactly as the sender's local_addr(); a read_from that
// parks before the datagram arrives; "udp", "udp4" and, with IPv6, "udp6".
TEST_P(NetTest, UDPServer) {
  std::vector<std::pair<const char*, const char*>> cases = {{"udp", "127.0.0.1:0"}, {"udp4", "127.0.0.1:0"}};
  if (have_ipv6()) cases.push_back({"udp6", "[::1]:0"});
  for (auto [network, address] : cases) {
    errors errs;
    std::string a_addr, b_addr;
    std::vector<std::string> a_from, b_from, a_got, b_got;
    int rc = run_net(GetParam(), [&] {
      net::PacketConn a = net::listen_packet(network, address), b = net::listen_packet(network, address);
      a_addr = a.local_addr();
      b_addr = b.local_addr();
      gort::WaitGroup wg;
      go_guarded(wg, errs, "a", [&] {  // parks first: b sends only after the reply
        for (int i = 0; i < 10; ++i) {
          std::byte buf[64];
          auto p = a.read_from(buf);
          a_from.push_back(p.addr);
          a_got.emplace_back(reinterpret_cast<const char*>(buf), p.n);
          a.write_to(bytes("ack " + std::to_string(i)), p.addr);
        }
      });
      let_it_park();
      for (int i = 0; i < 10; ++i) {
        std::string msg = "datagram " + std::to_string(i);
        EXPECT_EQ(b.write_to(bytes(msg), a_addr), msg.size());
        std::byte buf[64];
        auto p = b.read_from(buf);
        b_from.push_back(p.addr);
        b_got.emplace_back(reinterpret_cast<const char*>(buf), p.n);
      }
      wg.wait();
    });
    SCOPED_TRACE(network);
    EXPECT_EQ(rc, 0);
    EXPECT_TRUE(errs.empty()) << errs.str();
    const std::regex re(std::string_view(network) == "udp6" ? R"(\[::1\]:[1-9][0-9]*)" : R"(127\.0\.0\.1:[1-9][0-9]*)");
    EXPECT_TRUE(std::regex_match(a_addr, re)) << a_addr;
    EXPECT_TRUE(std::regex_match(b_addr, re)) << b_addr;
    ASSERT_EQ(a_got.size(), 10u);
    ASSERT_EQ(b_got.size(), 10u);
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(a_got[i], "datagram " + std::to_string(i));
      EXPECT_EQ(a_from[i], b_addr);
      EXPECT_EQ(b_got[i], "ack " + std::to_string(i));
      EXPECT_EQ(b_from[i], a_addr);
    }
  }
}

// Go's TestUDPReadSizeError: a datagram longer than the buffer is truncated
// to it and the rest is lost; the next read_from gets the next datagram.
TEST_P(NetTest, UDPReadSizeError) {
  std::size_t n1 = 0, n2 = 0;
  std::string got1, got2, from;
  std::string b_addr;
  int rc = run_net(GetParam(), [&] {
    net::PacketConn a = net::listen_packet("udp", "127.0.0.1:0"), b = net::listen_packet("udp", "127.0.0.1:0");
    b_addr = b.local_addr();
    std::string longer(100, 'x');
    for (int i = 0; i < 100; ++i) longer[i] = static_cast<char>('A' + i % 26);
    b.write_to(bytes(longer), a.local_addr());
    b.write_to(bytes("short"), a.local_addr());
    std::byte buf[10];
    auto p1 = a.read_from(buf);
    n1 = p1.n;
    from = p1.addr;
    got1.assign(reinterpret_cast<const char*>(buf), std::min<std::size_t>(p1.n, sizeof buf));
    auto p2 = a.read_from(buf);
    n2 = p2.n;
    got2.assign(reinterpret_cast<const char*>(buf), std::min<std::size_t>(p2.n, sizeof buf));
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(n1, 10u);
  EXPECT_EQ(got1, "ABCDEFGHIJ");
  EXPECT_EQ(from, b_addr);
  EXPECT_EQ(n2, 5u) << "the excess of the long datagram must be lost, not read next";
  EXPECT_EQ(got2, "short");
}

// Go's TestUnixAndUnixpacketServer / TestUnixConnLocalAndRemoteNames, stream:
// a round trip; the listener and the accepted side are named by the path,
// the dialer's remote address too.
TEST_P(NetTest, UnixServer) {
  std::string path, ln_addr, c_remote, s_local, c_got, s_got;
  int port = -1;
  int rc = run_net(GetParam(), [&] {
    path = temp_sock_path("us");
    conn_pair p = make_pair_on(net::listen("unix", path), "unix");
    ln_addr = p.ln.addr();
    port = p.ln.port();
    c_remote = p.client.remote_addr();
    s_local = p.server.local_addr();
    std::string big(100000, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
    gort::WaitGroup wg;
    errors errs;
    go_guarded(wg, errs, "client", [&] {
      p.client.write(big);
      c_got = read_string(p.client, 5);
    });
    s_got = read_string(p.server, big.size());
    EXPECT_TRUE(s_got == big);
    p.server.write("thank");
    wg.wait();
    EXPECT_TRUE(errs.empty()) << errs.str();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(ln_addr, path);
  EXPECT_EQ(port, 0);
  EXPECT_EQ(c_remote, path);
  EXPECT_EQ(s_local, path);
  EXPECT_EQ(s_got.size(), 100000u);
  EXPECT_EQ(c_got, "thank");
  ::unlink(path.c_str());
}

// Go's TestUnixUnlink: a "unix" Listener removes its socket file on close()
// and on destruction; the file exists while it listens.
TEST_P(NetTest, UnixUnlink) {
  std::string p1, p2;
  bool exists1 = false, exists2 = false, after1 = true, after2 = true;
  int rc = run_net(GetParam(), [&] {
    p1 = temp_sock_path("ul");
    p2 = temp_sock_path("ul");
    net::Listener ln = net::listen("unix", p1);
    exists1 = path_exists(p1);
    ln.close();
    after1 = path_exists(p1);
    {
      net::Listener ln2 = net::listen("unix", p2);
      exists2 = path_exists(p2);
    }
    after2 = path_exists(p2);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(exists1);
  EXPECT_FALSE(after1) << "close() left " << p1;
  EXPECT_TRUE(exists2);
  EXPECT_FALSE(after2) << "the destructor left " << p2;
  ::unlink(p1.c_str());
  ::unlink(p2.c_str());
}

// Go's TestUnixgramServer: datagrams between two bound unixgram sockets, the
// sender named by its path.
TEST_P(NetTest, UnixgramServer) {
  std::string pa, pb, a_local, got, from, reply, reply_from;
  int rc = run_net(GetParam(), [&] {
    pa = temp_sock_path("ga");
    pb = temp_sock_path("gb");
    net::PacketConn a = net::listen_packet("unixgram", pa), b = net::listen_packet("unixgram", pb);
    a_local = a.local_addr();
    errors errs;
    gort::WaitGroup wg;
    go_guarded(wg, errs, "a", [&] {
      std::byte buf[64];
      auto p = a.read_from(buf);
      got.assign(reinterpret_cast<const char*>(buf), p.n);
      from = p.addr;
      a.write_to(bytes("pong"), p.addr);
    });
    let_it_park();
    b.write_to(bytes("ping"), pa);
    std::byte buf[64];
    auto p = b.read_from(buf);
    reply.assign(reinterpret_cast<const char*>(buf), p.n);
    reply_from = p.addr;
    wg.wait();
    EXPECT_TRUE(errs.empty()) << errs.str();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(a_local, pa);
  EXPECT_EQ(got, "ping");
  EXPECT_EQ(from, pb);
  EXPECT_EQ(reply, "pong");
  EXPECT_EQ(reply_from, pa);
  ::unlink(pa.c_str());
  ::unlink(pb.c_str());
}

// ---- deadlines -----------------------------------------------------------------------

// Go's TestDialTimeout, against a listener whose accept queue is full (a
// connect to it stays in SYN_SENT): a timeout in the past (negative) fails
// at once; a near one after it, not before; with no timeout (0, as Go's
// DialTimeout) dial waits until the listener makes room.
TEST_P(TimeoutTest, DialTimeout) {
  full_listener fl;
  if (!fl.full) GTEST_SKIP() << "could not fill a listener's accept queue";
  const std::string addr = fl.addr();
  timed past, near, none;
  tp near_deadline{}, released{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    past = timed_outcome([&] { net::dial("tcp", addr, -1s); });
    near_deadline = steady::now() + 200ms;
    near = timed_outcome([&] { net::dial(addr, 200ms); });
    // No timeout: the dial completes once the listener accepts what is queued
    // (the kernel resends the SYN after about 1 s).
    gort::WaitGroup wg;
    std::atomic<bool> dialed{false};
    go_guarded(wg, errs, "dialer", [&] {
      none = timed_outcome([&] {
        net::Conn c = net::dial("tcp", addr, 0ns);
        c.write("x");
      });
      dialed = true;
    });
    let_it_park();
    released = steady::now();
    fl.drop_fillers();
    const tp give_up = steady::now() + 60s;
    while (!dialed.load() && steady::now() < give_up) {
      net::wait_readable(fl.lfd, steady::now() + 50ms);
      fl.accept_all();
    }
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(is_timeout(past.o, "dial tcp " + addr)) << "timeout in the past: " << past.o.str();
  EXPECT_LT(past.took(), kAtOnce);
  EXPECT_TRUE(is_timeout(near.o, "dial tcp " + addr)) << "200 ms timeout: " << near.o.str();
  EXPECT_GE(near.end, near_deadline) << "a 200 ms dial timeout fired after " << ms(near.took()) << " ms";
  EXPECT_LT(near.took(), 200ms + kSlack);
  EXPECT_EQ(none.o.kind, outcome::returned) << "dial with no timeout: " << none.o.str();
  EXPECT_GE(none.end, released);
  EXPECT_LT(none.end - released, 15s + kSlack) << "the SYN is resent after 1, 3, 7 s";
}

// ---- dial with a context (Go's DialContext) ----------------------------------------

// blocking_dial: an address whose connect stays in progress: the full
// listener's, or else 10.255.255.1:80 (non-routable) if a raw connect to it
// stays in progress here. Empty (with why) if neither does.
struct blocking_dial {
  full_listener fl;
  std::string addr, why;
  blocking_dial() {
    if (fl.full) {
      addr = fl.addr();
      return;
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(80);
    ::inet_pton(AF_INET, "10.255.255.1", &sa.sin_addr);
    const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    const int e = errno;
    ::close(fd);
    if (r != 0 && e == EINPROGRESS)
      addr = "10.255.255.1:80";
    else
      why = std::string("no listener's accept queue could be filled, and a connect to 10.255.255.1 fails at once (") +
            std::strerror(e) + ")";
  }
};

// Cancelling the context while the connect waits ends the dial at once with
// Go's "operation was canceled" (ECANCELED), never before the cancel.
TEST_P(TimeoutTest, DialContextCancel) {
  blocking_dial bd;
  if (bd.addr.empty()) GTEST_SKIP() << bd.why;
  timed t;
  tp cancelled_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    auto [ctx, cancel] = gort::context::with_cancel(gort::context::background());
    gort::WaitGroup wg;
    go_guarded(wg, errs, "canceller", [&, cancel = cancel] {
      gort::sleep(100ms);
      cancelled_at = steady::now();
      cancel();
    });
    t = timed_outcome([&, ctx = ctx] { net::dial(ctx, "tcp", bd.addr); });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(t.o.kind, outcome::op) << t.o.str();
  EXPECT_EQ(t.o.what, "dial tcp " + bd.addr + ": operation was canceled");
  EXPECT_EQ(t.o.code.value(), ECANCELED) << t.o.str();
  EXPECT_TRUE(t.o.code == std::errc::operation_canceled);
  EXPECT_GE(t.end, cancelled_at);
  EXPECT_LT(t.end - cancelled_at, kAtOnce);
}

// The context's deadline bounds the dial as a timeout does (i/o timeout,
// never early), and so does a timeout earlier than it.
TEST_P(TimeoutTest, DialContextDeadline) {
  blocking_dial bd;
  if (bd.addr.empty()) GTEST_SKIP() << bd.why;
  timed by_ctx, by_timeout;
  tp ctx_deadline{}, timeout_deadline{};
  int rc = run_net(GetParam(), [&] {
    auto [ctx, cancel] = gort::context::with_timeout(gort::context::background(), 200ms);
    ctx_deadline = *ctx.deadline();
    by_ctx = timed_outcome([&, ctx = ctx] { net::dial(ctx, "tcp", bd.addr); });
    cancel();
    auto [ctx2, cancel2] = gort::context::with_timeout(gort::context::background(), 1h);
    timeout_deadline = steady::now() + 200ms;
    by_timeout = timed_outcome([&, ctx2 = ctx2] { net::dial(ctx2, "tcp", bd.addr, 200ms); });
    cancel2();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(is_timeout(by_ctx.o, "dial tcp " + bd.addr)) << by_ctx.o.str();
  EXPECT_EQ(by_ctx.o.what, "dial tcp " + bd.addr + ": i/o timeout");
  EXPECT_GE(by_ctx.end, ctx_deadline);
  EXPECT_LT(by_ctx.end - ctx_deadline, kSlack);
  EXPECT_TRUE(is_timeout(by_timeout.o, "dial tcp " + bd.addr)) << by_timeout.o.str();
  EXPECT_GE(by_timeout.end, timeout_deadline);
  EXPECT_LT(by_timeout.end - timeout_deadline, kSlack);
}

// A context already done fails the dial at once, before any connect: Go's
// texts for a cancelled one and for one past its deadline.
TEST_P(NetTest, DialContextAlreadyDone) {
  timed canceled, expired, unix_canceled;
  int rc = run_net(GetParam(), [&] {
    auto ln = net::listen("127.0.0.1:0");
    auto [ctx, cancel] = gort::context::with_cancel(gort::context::background());
    cancel();
    canceled = timed_outcome([&, ctx = ctx] { net::dial(ctx, "tcp", ln.addr()); });
    auto [old, cancel2] = gort::context::with_deadline(gort::context::background(), steady::now() - 1s);
    expired = timed_outcome([&, old = old] { net::dial(old, "tcp", ln.addr()); });
    unix_canceled = timed_outcome([&, ctx = ctx] { net::dial(ctx, "unix", "/nonexistent/gort.sock"); });
    cancel2();
    ln.close();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(canceled.o.kind, outcome::op) << canceled.o.str();
  EXPECT_TRUE(canceled.o.starts_with("dial tcp 127.0.0.1:")) << canceled.o.str();
  EXPECT_TRUE(canceled.o.contains(": operation was canceled")) << canceled.o.str();
  EXPECT_EQ(canceled.o.code.value(), ECANCELED);
  EXPECT_LT(canceled.took(), kAtOnce);
  EXPECT_TRUE(is_timeout(expired.o, "dial tcp 127.0.0.1:")) << expired.o.str();
  EXPECT_LT(expired.took(), kAtOnce);
  EXPECT_EQ(unix_canceled.o.what, "dial unix /nonexistent/gort.sock: operation was canceled") << unix_canceled.o.str();
}

// A dial within a live context works, and cancelling the context afterwards
// does not touch the Conn (Go: the context only governs the dial).
TEST_P(NetTest, DialContextConnOutlivesCancel) {
  std::string echoed;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    auto ln = net::listen("127.0.0.1:0");
    gort::WaitGroup wg;
    go_guarded(wg, errs, "server", [&] {
      net::Conn c = ln.accept();
      char buf[16];
      const std::size_t n = c.read(std::span(buf));
      c.write(std::string_view(buf, n));
    });
    auto [ctx, cancel] = gort::context::with_timeout(gort::context::background(), 1h);
    net::Conn c = net::dial(ctx, "tcp", ln.addr());
    cancel();
    c.write("hello");
    char buf[16];
    const std::size_t n = c.read(std::span(buf));
    echoed.assign(buf, n);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(echoed, "hello");
}

// Go's TestAcceptTimeout: a deadline in the past fails at once, a near one at
// (never before) the deadline, and the deadline stays until changed.
TEST_P(TimeoutTest, AcceptTimeout) {
  timed past, past_again, near;
  tp near_deadline{};
  std::string addr;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    addr = ln.addr();
    ln.set_deadline(steady::now() - 1s);
    past = timed_outcome([&] { ln.accept(); });
    past_again = timed_outcome([&] { ln.accept(); });
    near_deadline = steady::now() + 100ms;
    ln.set_deadline(near_deadline);
    near = timed_outcome([&] { ln.accept(); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(is_timeout(past.o, "accept tcp " + addr)) << past.o.str();
  EXPECT_EQ(past.o.what, "accept tcp " + addr + ": i/o timeout");
  EXPECT_LT(past.took(), kAtOnce);
  EXPECT_TRUE(is_timeout(past_again.o, "accept tcp ")) << "the deadline applies until changed: " << past_again.o.str();
  EXPECT_TRUE(is_timeout(near.o, "accept tcp ")) << near.o.str();
  EXPECT_GE(near.end, near_deadline) << "fired after " << ms(near.took()) << " ms of 100";
  EXPECT_LT(near.took(), 100ms + kSlack);
}

// Go's TestAcceptTimeoutMustNotReturn: a deadline cleared (time_point{})
// before it passes leaves accept blocked until a connection arrives.
TEST_P(TimeoutTest, AcceptTimeoutMustNotReturn) {
  timed t;
  tp dialed_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    ln.set_deadline(steady::now() - 1s);
    ln.set_deadline(steady::now() + 50ms);
    ln.set_deadline(tp{});
    gort::WaitGroup wg;
    net::Conn c;
    go_guarded(wg, errs, "dialer", [&] {
      gort::sleep(300ms);  // well past the cleared deadline
      dialed_at = steady::now();
      c = net::dial(ln.addr());
    });
    t = timed_outcome([&] { ln.accept(); });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(t.o.kind, outcome::returned) << t.o.str();
  EXPECT_GE(t.end, dialed_at);
}

// A deadline set while accept is blocked wakes it: first one near, then
// (on a second accept) one in the past.
TEST_P(TimeoutTest, AcceptTimeoutUnblocksAccept) {
  timed near, past;
  tp near_deadline{}, set_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    for (int round = 0; round < 2; ++round) {
      std::atomic<bool> started{false};
      gort::WaitGroup wg;
      go_guarded(wg, errs, "acceptor", [&] {
        started = true;
        (round == 0 ? near : past) = timed_outcome([&] { ln.accept(); });
      });
      spin_until([&] { return started.load(); });
      let_it_park();
      if (round == 0) {
        near_deadline = steady::now() + 50ms;
        ln.set_deadline(near_deadline);
      } else {
        set_at = steady::now();
        ln.set_deadline(set_at - 1s);
      }
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(is_timeout(near.o, "accept tcp ")) << near.o.str();
  EXPECT_GE(near.end, near_deadline);
  EXPECT_LT(near.end - near_deadline, kSlack);
  EXPECT_TRUE(is_timeout(past.o, "accept tcp ")) << past.o.str();
  EXPECT_LT(past.end - set_at, kAtOnce);
}

// Go's TestReadTimeout: a deadline in the past fails at once, even with data
// waiting, and keeps failing until changed; a near one fails at (never
// before) the deadline; set_deadline covers reads too; once cleared, the
// waiting data is read.
TEST_P(TimeoutTest, ReadTimeout) {
  timed past, past_again, with_data, near, both;
  tp near_deadline{};
  std::string after_clear, local, remote;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    local = p.client.local_addr();
    remote = p.client.remote_addr();
    char b[16];
    p.client.set_read_deadline(steady::now() - 1s);
    past = timed_outcome([&] { p.client.read(std::span(b)); });
    past_again = timed_outcome([&] { p.client.read(std::span(b)); });
    p.server.write("data");
    with_data = timed_outcome([&] { p.client.read(std::span(b)); });
    p.client.set_read_deadline(tp{});
    after_clear = read_string(p.client, 4);
    near_deadline = steady::now() + 100ms;
    p.client.set_read_deadline(near_deadline);
    near = timed_outcome([&] { p.client.read(std::span(b)); });
    p.client.set_read_deadline(tp{});
    p.client.set_deadline(steady::now() - 1s);
    both = timed_outcome([&] { p.client.read(std::span(b)); });
  });
  EXPECT_EQ(rc, 0);
  const std::string prefix = "read tcp " + local + "->" + remote;
  EXPECT_TRUE(is_timeout(past.o, prefix)) << past.o.str();
  EXPECT_LT(past.took(), kAtOnce);
  EXPECT_TRUE(is_timeout(past_again.o, prefix)) << "the deadline applies until changed: " << past_again.o.str();
  EXPECT_TRUE(is_timeout(with_data.o, prefix)) << "a past deadline fails even with data waiting: " << with_data.o.str();
  EXPECT_EQ(after_clear, "data");
  EXPECT_TRUE(is_timeout(near.o, prefix)) << near.o.str();
  EXPECT_GE(near.end, near_deadline) << "fired after " << ms(near.took()) << " ms of 100";
  EXPECT_LT(near.took(), 100ms + kSlack);
  EXPECT_TRUE(is_timeout(both.o, prefix)) << "set_deadline must cover reads: " << both.o.str();
}

// The clock's extremes as deadlines: time_point::min() is long past (the
// read fails at once, as for any past deadline), time_point::max() never
// comes (the read waits for data); a dial with the most negative timeout
// fails at once and with the largest one succeeds.
TEST_P(TimeoutTest, DeadlineExtremes) {
  timed min_read, max_read, min_wait, min_dial;
  bool max_dial_ok = false;
  std::string local, remote, max_read_got;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    local = p.client.local_addr();
    remote = p.client.remote_addr();
    char b[16];
    p.client.set_read_deadline(tp::min());
    min_read = timed_outcome([&] { p.client.read(std::span(b)); });
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    min_wait = timed_outcome([&] {
      if (net::wait_readable(fds[0], tp::min())) throw std::logic_error("wait_readable: ready, with no data");
    });
    ::close(fds[0]);
    ::close(fds[1]);
    p.client.set_read_deadline(tp::max());
    gort::go([&p] {
      gort::sleep(20ms);
      p.server.write("late");
    });
    max_read = timed_outcome([&] { max_read_got = read_string(p.client, 4); });
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    min_dial = timed_outcome([&] { net::dial("tcp", ln.addr(), std::chrono::nanoseconds::min()); });
    net::Conn c = net::dial("tcp", ln.addr(), std::chrono::nanoseconds::max());
    max_dial_ok = !c.remote_addr().empty();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(is_timeout(min_read.o, "read tcp " + local + "->" + remote)) << min_read.o.str();
  EXPECT_LT(min_read.took(), kAtOnce);
  EXPECT_EQ(min_wait.o.kind, outcome::returned)
      << "wait_readable past its deadline returns false: " << min_wait.o.str();
  EXPECT_LT(min_wait.took(), kAtOnce);
  EXPECT_EQ(max_read.o.kind, outcome::returned) << max_read.o.str();
  EXPECT_EQ(max_read_got, "late");
  EXPECT_EQ(min_dial.o.kind, outcome::timeout) << min_dial.o.str();
  EXPECT_LT(min_dial.took(), kAtOnce);
  EXPECT_TRUE(max_dial_ok);
}

// Go's TestReadTimeoutMustNotReturn: a deadline cleared before it passes
// leaves the read blocked until data arrives, long after it.
TEST_P(TimeoutTest, ReadTimeoutMustNotReturn) {
  timed t;
  std::string got;
  tp written_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    p.client.set_deadline(steady::now() + 50ms);
    p.client.set_read_deadline(steady::now() + 50ms);
    p.client.set_deadline(tp{});
    gort::WaitGroup wg;
    go_guarded(wg, errs, "writer", [&] {
      gort::sleep(300ms);
      written_at = steady::now();
      p.server.write("late");
    });
    t = timed_outcome([&] { got = read_string(p.client, 4); });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(t.o.kind, outcome::returned) << t.o.str();
  EXPECT_EQ(got, "late");
  EXPECT_GE(t.end, written_at);
}

// Go's TestReadTimeoutUnblocksRead: a deadline set while a read is blocked
// wakes it: near (at the deadline), and in the past (at once).
TEST_P(TimeoutTest, ReadTimeoutUnblocksRead) {
  timed near, past;
  tp near_deadline{}, set_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    for (int round = 0; round < 2; ++round) {
      std::atomic<bool> started{false};
      gort::WaitGroup wg;
      go_guarded(wg, errs, "reader", [&] {
        started = true;
        (round == 0 ? near : past) = timed_outcome([&] {
          char b[8];
          p.client.read(std::span(b));
        });
      });
      spin_until([&] { return started.load(); });
      let_it_park();
      if (round == 0) {
        near_deadline = steady::now() + 50ms;
        p.client.set_read_deadline(near_deadline);
      } else {
        p.client.set_read_deadline(tp{});
        set_at = steady::now();
        p.client.set_deadline(set_at - 1s);
      }
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(is_timeout(near.o, "read tcp ")) << near.o.str();
  EXPECT_GE(near.end, near_deadline);
  EXPECT_LT(near.end - near_deadline, kSlack);
  EXPECT_TRUE(is_timeout(past.o, "read tcp ")) << past.o.str();
  EXPECT_LT(past.end - set_at, kAtOnce);
}

// Go's TestWriteTimeout: a deadline in the past fails at once (even with room
// in the socket buffer); a near one fails a write blocked on a full buffer at
// (never before) the deadline.
TEST_P(TimeoutTest, WriteTimeout) {
  timed past, near;
  tp near_deadline{};
  std::string prefix;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    set_buffers(p.client.fd());
    set_buffers(p.server.fd());
    prefix = "write tcp " + p.client.local_addr() + "->" + p.client.remote_addr();
    p.client.set_write_deadline(steady::now() - 1s);
    past = timed_outcome([&] { p.client.write("x"); });
    std::vector<std::byte> big(kBlockingWrite);
    near_deadline = steady::now() + 100ms;
    p.client.set_write_deadline(near_deadline);
    near = timed_outcome([&] { p.client.write(big); });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(is_timeout(past.o, prefix)) << past.o.str();
  EXPECT_LT(past.took(), kAtOnce);
  EXPECT_TRUE(is_timeout(near.o, prefix)) << near.o.str();
  EXPECT_GE(near.end, near_deadline) << "fired after " << ms(near.took()) << " ms of 100";
  EXPECT_LT(near.took(), 100ms + kSlack);
}

// Go's TestWriteTimeoutMustNotReturn: with the deadline cleared, a write
// blocked on a full buffer waits for the reader and then writes everything.
TEST_P(TimeoutTest, WriteTimeoutMustNotReturn) {
  timed t;
  std::size_t wrote = 0, read_n = 0;
  tp reading_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    set_buffers(p.client.fd());
    set_buffers(p.server.fd());
    p.client.set_write_deadline(steady::now() + 50ms);
    p.client.set_write_deadline(tp{});
    gort::WaitGroup wg;
    go_guarded(wg, errs, "reader", [&] {
      gort::sleep(300ms);
      reading_at = steady::now();
      read_n = read_all(p.server).size();
    });
    std::vector<std::byte> big(kBlockingWrite);
    t = timed_outcome([&] { wrote = p.client.write(big); });
    p.client.close();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(t.o.kind, outcome::returned) << t.o.str();
  EXPECT_EQ(wrote, kBlockingWrite);
  EXPECT_EQ(read_n, kBlockingWrite);
  EXPECT_GE(t.end, reading_at);
}

// A write deadline set while a write is blocked wakes it: near, then past.
TEST_P(TimeoutTest, WriteTimeoutUnblocksWrite) {
  timed near, past;
  tp near_deadline{}, set_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    for (int round = 0; round < 2; ++round) {
      conn_pair p = tcp_pair();
      set_buffers(p.client.fd());
      set_buffers(p.server.fd());
      std::atomic<bool> started{false};
      gort::WaitGroup wg;
      go_guarded(wg, errs, "writer", [&] {
        std::vector<std::byte> big(kBlockingWrite);
        started = true;
        (round == 0 ? near : past) = timed_outcome([&] { p.client.write(big); });
      });
      spin_until([&] { return started.load(); });
      let_it_park();
      if (round == 0) {
        near_deadline = steady::now() + 50ms;
        p.client.set_write_deadline(near_deadline);
      } else {
        set_at = steady::now();
        p.client.set_deadline(set_at - 1s);
      }
      wg.wait();
    }
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(is_timeout(near.o, "write tcp ")) << near.o.str();
  EXPECT_GE(near.end, near_deadline);
  EXPECT_LT(near.end - near_deadline, kSlack);
  EXPECT_TRUE(is_timeout(past.o, "write tcp ")) << past.o.str();
  EXPECT_LT(past.end - set_at, kAtOnce);
}

// Go's TestReadFromTimeout: past, near, and set while blocked; then, cleared,
// a datagram is read.
TEST_P(TimeoutTest, ReadFromTimeout) {
  timed past, near, woken;
  tp near_deadline{}, woken_deadline{};
  std::string local, got;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    net::PacketConn pc = net::listen_packet("udp", "127.0.0.1:0");
    local = pc.local_addr();
    std::byte b[16];
    pc.set_read_deadline(steady::now() - 1s);
    past = timed_outcome([&] { pc.read_from(b); });
    near_deadline = steady::now() + 100ms;
    pc.set_deadline(near_deadline);
    near = timed_outcome([&] { pc.read_from(b); });
    pc.set_deadline(tp{});
    std::atomic<bool> started{false};
    gort::WaitGroup wg;
    go_guarded(wg, errs, "reader", [&] {
      started = true;
      woken = timed_outcome([&] {
        std::byte x[16];
        pc.read_from(x);
      });
    });
    spin_until([&] { return started.load(); });
    let_it_park();
    woken_deadline = steady::now() + 50ms;
    pc.set_read_deadline(woken_deadline);
    wg.wait();
    pc.set_read_deadline(tp{});
    net::PacketConn other = net::listen_packet("udp", "127.0.0.1:0");
    other.write_to(bytes("dgram"), local);
    auto p = pc.read_from(b);
    got.assign(reinterpret_cast<const char*>(b), p.n);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  const std::string prefix = "read udp " + local;
  EXPECT_TRUE(is_timeout(past.o, prefix)) << past.o.str();
  EXPECT_LT(past.took(), kAtOnce);
  EXPECT_TRUE(is_timeout(near.o, prefix)) << near.o.str();
  EXPECT_GE(near.end, near_deadline);
  EXPECT_LT(near.took(), 100ms + kSlack);
  EXPECT_TRUE(is_timeout(woken.o, prefix)) << "deadline set while blocked: " << woken.o.str();
  EXPECT_GE(woken.end, woken_deadline);
  EXPECT_LT(woken.end - woken_deadline, kSlack);
  EXPECT_EQ(got, "dgram");
}

// Go's TestWriteToTimeout: a write deadline in the past fails write_to at once.
TEST_P(TimeoutTest, WriteToTimeout) {
  timed past;
  std::size_t after_clear = 0;
  int rc = run_net(GetParam(), [&] {
    net::PacketConn a = net::listen_packet("udp", "127.0.0.1:0"), b = net::listen_packet("udp", "127.0.0.1:0");
    a.set_write_deadline(steady::now() - 1s);
    past = timed_outcome([&] { a.write_to(bytes("x"), b.local_addr()); });
    a.set_write_deadline(tp{});
    after_clear = a.write_to(bytes("xyz"), b.local_addr());
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(is_timeout(past.o, "write udp ")) << past.o.str();
  EXPECT_LT(past.took(), kAtOnce);
  EXPECT_EQ(after_clear, 3u);
}

// ---- wait_readable / wait_writable -----------------------------------------------------

struct pipe_fds {
  int r = -1, w = -1;
  pipe_fds() {
    int fd[2];
    if (::pipe2(fd, O_NONBLOCK | O_CLOEXEC) == 0) {
      r = fd[0];
      w = fd[1];
    }
  }
  ~pipe_fds() { close(); }
  void close() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
    r = w = -1;
  }
};

// On a pipe: ready at once; a deadline that passes (false, never early);
// woken by a std::thread and by another goroutine; many rounds of ping-pong
// (the fd re-arms); and again on a new pipe that reuses the closed one's fd
// numbers.
TEST_P(NetTest, WaitReadablePipe) {
  bool ready = false, timed_out = true, by_thread = false, by_goroutine = false, reused_timeout = true,
       reused_ready = false;
  tp deadline{}, returned_at{};
  steady::duration ready_took{};
  int pingpong = 0;
  bool same_numbers = false;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    {
      pipe_fds p;
      char c = 'x';
      EXPECT_EQ(::write(p.w, &c, 1), 1);
      auto t0 = steady::now();
      ready = net::wait_readable(p.r, steady::now() + 10s);
      ready_took = steady::now() - t0;
      EXPECT_EQ(::read(p.r, &c, 1), 1);

      deadline = steady::now() + 50ms;
      timed_out = !net::wait_readable(p.r, deadline);
      returned_at = steady::now();

      std::thread writer([&] {
        std::this_thread::sleep_for(100ms);
        char x = 't';
        EXPECT_EQ(::write(p.w, &x, 1), 1);
      });
      by_thread = net::wait_readable(p.r);
      gort::blocking([&] { writer.join(); });
      EXPECT_EQ(::read(p.r, &c, 1), 1);
      EXPECT_EQ(c, 't');

      gort::WaitGroup wg;
      go_guarded(wg, errs, "writer goroutine", [&] {
        gort::sleep(50ms);
        char x = 'g';
        if (::write(p.w, &x, 1) != 1) errs.add("write to pipe failed");
      });
      by_goroutine = net::wait_readable(p.r, steady::now() + 10s);
      wg.wait();
      EXPECT_EQ(::read(p.r, &c, 1), 1);
      EXPECT_EQ(c, 'g');

      // Ping-pong over two pipes: each side waits, reads, writes the other.
      pipe_fds q;
      go_guarded(wg, errs, "pong", [&] {
        for (int i = 0; i < 200; ++i) {
          if (!net::wait_readable(q.r, steady::now() + 10s)) return errs.add("pong: wait timed out");
          char x;
          if (::read(q.r, &x, 1) != 1) return errs.add("pong: read");
          if (::write(p.w, &x, 1) != 1) return errs.add("pong: write");
        }
      });
      for (int i = 0; i < 200; ++i) {
        char x = static_cast<char>(i);
        if (::write(q.w, &x, 1) != 1) break;
        if (!net::wait_readable(p.r, steady::now() + 10s)) break;
        if (::read(p.r, &x, 1) != 1 || x != static_cast<char>(i)) break;
        ++pingpong;
      }
      wg.wait();
    }
    // The pipes are closed: a new one gets their numbers; waiting on it works.
    int old_r;
    {
      pipe_fds p;
      old_r = p.r;
      net::wait_readable(p.r, steady::now() - 1s);
    }
    pipe_fds p2;
    same_numbers = p2.r == old_r;
    reused_timeout = !net::wait_readable(p2.r, steady::now() + 20ms);
    char c = 'z';
    EXPECT_EQ(::write(p2.w, &c, 1), 1);
    reused_ready = net::wait_readable(p2.r, steady::now() + 10s);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(ready) << "an fd with data must be ready at once";
  EXPECT_LT(ready_took, kAtOnce);
  EXPECT_TRUE(timed_out) << "wait_readable on an empty pipe did not time out";
  EXPECT_GE(returned_at, deadline) << "wait_readable returned before its deadline";
  EXPECT_LT(returned_at - deadline, kSlack);
  EXPECT_TRUE(by_thread) << "not woken by a std::thread's write";
  EXPECT_TRUE(by_goroutine) << "not woken by a goroutine's write";
  EXPECT_EQ(pingpong, 200);
  EXPECT_TRUE(same_numbers) << "the new pipe did not reuse the fd number (test setup)";
  EXPECT_TRUE(reused_timeout) << "a reused fd number was reported readable";
  EXPECT_TRUE(reused_ready);
}

// wait_writable on a pipe: writable at once when empty; with the pipe full,
// a deadline passes (false); a reader draining it in another goroutine wakes
// the writer.
TEST_P(NetTest, WaitWritablePipe) {
  bool empty_ready = false, full_timed_out = false, drained_ready = false;
  tp deadline{}, returned_at{};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    pipe_fds p;
    empty_ready = net::wait_writable(p.w, steady::now() + 10s);
    char buf[4096] = {};
    while (::write(p.w, buf, sizeof buf) > 0) {
    }
    deadline = steady::now() + 50ms;
    full_timed_out = !net::wait_writable(p.w, deadline);
    returned_at = steady::now();
    gort::WaitGroup wg;
    go_guarded(wg, errs, "drainer", [&] {
      gort::sleep(50ms);
      char b[4096];
      while (::read(p.r, b, sizeof b) > 0) {
      }
    });
    drained_ready = net::wait_writable(p.w, steady::now() + 10s);
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(empty_ready);
  EXPECT_TRUE(full_timed_out) << "a full pipe was reported writable";
  EXPECT_GE(returned_at, deadline);
  EXPECT_TRUE(drained_ready) << "not woken when the pipe was drained";
}

// On an eventfd: a std::thread's write wakes the waiter; a deadline passes;
// ready at once when already signalled; always writable.
TEST_P(NetTest, WaitEventfd) {
  bool woken = false, timed_out = false, ready = false, writable = false;
  std::uint64_t value = 0;
  steady::duration ready_took{};
  tp deadline{}, returned_at{};
  int rc = run_net(GetParam(), [&] {
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(efd, 0);
    deadline = steady::now() + 50ms;
    timed_out = !net::wait_readable(efd, deadline);
    returned_at = steady::now();
    std::thread t([efd] {
      std::this_thread::sleep_for(100ms);
      std::uint64_t one = 1;
      EXPECT_EQ(::write(efd, &one, sizeof one), 8);
    });
    woken = net::wait_readable(efd);
    gort::blocking([&] { t.join(); });
    EXPECT_EQ(::read(efd, &value, sizeof value), 8);
    std::uint64_t two = 2;
    EXPECT_EQ(::write(efd, &two, sizeof two), 8);
    const tp t0 = steady::now();
    ready = net::wait_readable(efd, t0 + 10s);
    ready_took = steady::now() - t0;
    writable = net::wait_writable(efd, steady::now() + 10s);
    ::close(efd);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(timed_out);
  EXPECT_GE(returned_at, deadline);
  EXPECT_TRUE(woken) << "not woken by the std::thread's write";
  EXPECT_EQ(value, 1u);
  EXPECT_TRUE(ready) << "an fd already ready must report true at once";
  EXPECT_LT(ready_took, kAtOnce);
  EXPECT_TRUE(writable);
}

// wait_readable/wait_writable refuse the fd of a gort Conn, Listener or
// PacketConn when the wait would have to park (net.hpp: std::invalid_argument;
// one already ready may just return true), and an fd that is not open; a
// regular file is always ready.
TEST_P(NetTest, WaitNetFd) {
  std::vector<std::pair<std::string, outcome>> got;
  bool file_ready = false;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    net::PacketConn pc = net::listen_packet("udp", "127.0.0.1:0");
    // Fill the client's send buffer (raw, non-blocking: the fd is O_NONBLOCK)
    // so that waiting for it to be writable would park.
    set_buffers(p.client.fd());
    set_buffers(p.server.fd());
    static char junk[65536];
    while (::send(p.client.fd(), junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
    }
    got.emplace_back("Conn", outcome_of([&] { net::wait_readable(p.client.fd(), steady::now() + 1s); }));
    got.emplace_back("Conn (writable, buffer full)",
                     outcome_of([&] { net::wait_writable(p.client.fd(), steady::now() + 1s); }));
    got.emplace_back("Listener", outcome_of([&] { net::wait_readable(p.ln.fd(), steady::now() + 1s); }));
    got.emplace_back("PacketConn", outcome_of([&] { net::wait_readable(pc.fd(), steady::now() + 1s); }));
    int closed_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ::close(closed_fd);
    got.emplace_back("an fd that is not open", outcome_of([&] { net::wait_readable(closed_fd, steady::now() + 1s); }));
    char path[] = "/tmp/gort-net-file-XXXXXX";
    int file = ::mkstemp(path);
    file_ready = net::wait_readable(file, steady::now() + 10s) && net::wait_writable(file, steady::now() + 10s);
    ::close(file);
    ::unlink(path);
    // The Conn still works afterwards: the server drains, a write goes through.
    gort::WaitGroup wg;
    errors errs;
    go_guarded(wg, errs, "drain", [&] { read_all(p.server); });
    p.client.write("ok");
    p.client.close_write();
    wg.wait();
    EXPECT_TRUE(errs.empty()) << errs.str();
  });
  EXPECT_EQ(rc, 0);
  for (auto& [what, o] : got) EXPECT_EQ(o.kind, outcome::invalid_arg) << what << ": " << o.str();
  EXPECT_TRUE(file_ready) << "a regular file must be ready at once";
}

// One goroutine waits readable and another writable on the same fd (a
// socketpair end whose send buffer is full and nothing to read): each is
// woken by its own event only.
TEST_P(NetTest, WaitBothModes) {
  bool readable = false, writable = false;
  int order_ok = 0;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    static char junk[4096];
    while (::write(sv[0], junk, sizeof junk) > 0) {
    }
    std::atomic<int> woken{0};
    gort::WaitGroup wg;
    go_guarded(wg, errs, "reader", [&] {
      readable = net::wait_readable(sv[0], steady::now() + 30s);
      if (woken.fetch_add(1) == 0) ++order_ok;  // woken first: by the write below
    });
    go_guarded(wg, errs, "writer", [&] {
      writable = net::wait_writable(sv[0], steady::now() + 30s);
      if (woken.fetch_add(1) == 1) ++order_ok;  // woken second: by the drain
    });
    let_it_park();
    EXPECT_EQ(::write(sv[1], "x", 1), 1);  // sv[0] readable, still not writable
    spin_until([&] { return woken.load() >= 1; }, 30s);
    let_it_park();
    EXPECT_EQ(woken.load(), 1) << "the writable-waiter woke on the readable event";
    char b[4096];
    while (::read(sv[1], b, sizeof b) > 0) {
    }
    wg.wait();
    ::close(sv[0]);
    ::close(sv[1]);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_TRUE(readable);
  EXPECT_TRUE(writable);
  EXPECT_EQ(order_ok, 2);
}

// ---- fd reuse --------------------------------------------------------------------

// A closed Conn's events still in flight (its peer wrote just before it was
// closed, sometimes with a reader blocked on it, sometimes with an RST on
// top) must not reach the new Conn that reuses its fd number at once: the
// new Conn times out on an empty read (no data, no EOF, no error), then
// reads and writes exactly (fd_reuse_rounds). And the number is reused:
// close() releases the fd before it returns, as Go's Close does.
TEST_P(NetTest, FdReuse) {
  const int kRounds = static_cast<int>(scaled(100, 2));
  fd_reuse_result res;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    res = fd_reuse_rounds(ln, kRounds, errs);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(res.clean, kRounds);
  EXPECT_EQ(res.same_fd, kRounds) << "the new Conn did not reuse the closed one's fd number in every round";
}

// ---- resets, closed peers, SIGPIPE ------------------------------------------------------

// A read blocked when the peer resets (SO_LINGER 0, close) throws
// ECONNRESET, Go's "read tcp ...: read: connection reset by peer"; so does a
// write blocked on a full buffer when its peer resets (EPIPE or ECONNRESET).
TEST_P(NetTest, ReadAfterReset) {
  timed rd, wr;
  std::string local, remote;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    local = p.client.local_addr();
    remote = p.client.remote_addr();
    conn_pair w = tcp_pair();
    set_buffers(w.client.fd());
    set_buffers(w.server.fd());
    std::atomic<int> started{0};
    gort::WaitGroup wg;
    go_guarded(wg, errs, "reader", [&] {
      started.fetch_add(1);
      rd = timed_outcome([&] {
        char b[8];
        p.client.set_read_deadline(steady::now() + 30s);
        p.client.read(std::span(b));
      });
    });
    go_guarded(wg, errs, "writer", [&] {
      std::vector<std::byte> big(kBlockingWrite);
      started.fetch_add(1);
      wr = timed_outcome([&] {
        w.client.set_write_deadline(steady::now() + 30s);
        w.client.write(big);
      });
    });
    spin_until([&] { return started.load() == 2; });
    let_it_park();
    set_linger0(p.server.fd());
    p.server.close();
    set_linger0(w.server.fd());
    w.server.close();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(rd.o.kind, outcome::op) << rd.o.str();
  EXPECT_EQ(rd.o.code.value(), ECONNRESET) << rd.o.str();
  EXPECT_EQ(rd.o.what, "read tcp " + local + "->" + remote + ": read: connection reset by peer");
  EXPECT_LT(rd.took(), 10s) << "the reset did not wake the reader";
  EXPECT_EQ(wr.o.kind, outcome::op) << wr.o.str();
  EXPECT_TRUE(wr.o.code.value() == EPIPE || wr.o.code.value() == ECONNRESET) << wr.o.str();
  EXPECT_LT(wr.took(), 10s) << "the reset did not wake the writer";
}

// ---- a short read, then what epoll has already reported ------------------------

// After a TCP read comes back short, the next read waits for epoll's word
// instead of trying a read that would fail with EAGAIN (poll_wait_drained).
// These are the cases where no later edge comes: the peer's FIN, its reset,
// or urgent data arrived before the short read and epoll reported them
// with the data. Each test lets the idle M take that event (the sleep)
// before the reads, so that the short read does not drain it; a read that
// waits for another edge fails with the hang guard's timeout.
struct short_read_then {
  std::string first;   // what the first read returned
  outcome first_o;     // how it ended
  std::string second;  // what the second read returned
  timed second_t;      // how and when it ended
};

template <class PeerSends>
short_read_then read_twice_after(int procs, PeerSends peer_sends) {
  short_read_then r;
  int rc = run_net(procs, [&] {
    conn_pair p = tcp_pair();
    peer_sends(p.client);
    gort::sleep(50ms);  // the idle M blocks in epoll meanwhile and takes the event
    p.server.set_read_deadline(steady::now() + 30s);  // the hang guard
    char b[64];
    auto read_into = [&](std::string& s) { s.assign(b, p.server.read(std::span(b))); };
    r.first_o = outcome_of([&] { read_into(r.first); });
    if (r.first_o.kind == outcome::returned) r.second_t = timed_outcome([&] { read_into(r.second); });
  });
  EXPECT_EQ(rc, 0);
  return r;
}

TEST_P(NetTest, ShortReadThenEOF) {
  short_read_then r = read_twice_after(GetParam(), [](net::Conn& c) {
    c.write(std::string_view("hello"));
    c.close();  // the FIN follows the data at once
  });
  EXPECT_EQ(r.first_o.kind, outcome::returned) << r.first_o.str();
  EXPECT_EQ(r.first, "hello");
  EXPECT_EQ(r.second_t.o.kind, outcome::returned) << r.second_t.o.str();
  EXPECT_EQ(r.second, "") << "EOF is a read of 0 bytes";
  EXPECT_LT(r.second_t.took(), kSlack) << "the read at EOF waited";
}

TEST_P(NetTest, ShortReadThenReset) {
  short_read_then r = read_twice_after(GetParam(), [](net::Conn& c) {
    c.write(std::string_view("hello"));
    set_linger0(c.fd());
    c.close();  // a reset right behind the data
  });
  // Linux may report the reset before the data it dropped; if the data
  // came first, the reset must follow at once.
  const outcome& reset = r.first_o.kind == outcome::returned ? r.second_t.o : r.first_o;
  if (r.first_o.kind == outcome::returned) {
    EXPECT_EQ(r.first, "hello");
    EXPECT_LT(r.second_t.took(), kSlack) << "the read after the reset waited";
  }
  EXPECT_EQ(reset.kind, outcome::op) << reset.str();
  EXPECT_EQ(reset.code.value(), ECONNRESET) << reset.str();
}

TEST_P(NetTest, ShortReadAtUrgentMark) {
  short_read_then r = read_twice_after(GetParam(), [](net::Conn& c) {
    c.write(std::string_view("ab"));
    ASSERT_EQ(::send(c.fd(), "c", 1, MSG_OOB), 1) << std::strerror(errno);
    c.write(std::string_view("de"));
  });
  // A read stops short at the urgent byte, which is out of band: the data
  // behind it is already queued, and no later edge comes for it.
  EXPECT_EQ(r.first_o.kind, outcome::returned) << r.first_o.str();
  EXPECT_EQ(r.first, "ab");
  EXPECT_EQ(r.second_t.o.kind, outcome::returned) << r.second_t.o.str();
  EXPECT_EQ(r.second, "de");
  EXPECT_LT(r.second_t.took(), kSlack) << "the read behind the urgent mark waited";
}

// Writing to a peer that has closed throws EPIPE or ECONNRESET, over TCP
// (after the peer's RST comes back) and over a Unix socket (at once), and
// never raises SIGPIPE: SIGPIPE is left at its default here, so one would
// kill the test.
TEST_P(NetTest, WriteToClosedPeer) {
  outcome tcp, unix_o;
  int tcp_writes = 0;
  std::string path;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    p.server.close();
    tcp = outcome_of([&] {
      for (; tcp_writes < 5000; ++tcp_writes) {
        p.client.write("x");
        gort::sleep(1ms);  // the RST comes back asynchronously
      }
    });
    path = temp_sock_path("wc");
    conn_pair u = make_pair_on(net::listen("unix", path), "unix");
    u.server.close();
    unix_o = outcome_of([&] {
      for (int i = 0; i < 3; ++i) u.client.write("x");
    });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(tcp.kind, outcome::op) << "after " << tcp_writes << " writes: " << tcp.str();
  EXPECT_TRUE(tcp.code.value() == EPIPE || tcp.code.value() == ECONNRESET) << tcp.str();
  EXPECT_TRUE(tcp.starts_with("write tcp ")) << tcp.str();
  EXPECT_EQ(unix_o.kind, outcome::op) << unix_o.str();
  EXPECT_EQ(unix_o.code.value(), EPIPE) << unix_o.str();
  EXPECT_TRUE(unix_o.contains("broken pipe")) << unix_o.str();
  ::unlink(path.c_str());
}

// ---- EMFILE --------------------------------------------------------------------

// accept at the fd limit: with RLIMIT_NOFILE lowered so that no fd can be
// allocated, accept throws EMFILE at once (it must neither spin nor park:
// the pending connection keeps the listener readable, and an edge-triggered
// poller would not say so again). With the limit restored, the same listener
// accepts that connection.
TEST_P(NetTest, AcceptEMFILE) {
#if defined(GORT_ASAN)
  // UBSan (part of the ASan build) checks the vptr of the exception that
  // accept constructs; at the fd limit it cannot open the pipe it probes
  // memory with, reports "object has invalid vptr" and aborts.
  GTEST_SKIP() << "UBSan's vptr check needs a free fd";
#endif
  timed at_limit;
  outcome restored;
  std::string echoed;
  std::string addr;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    addr = ln.addr();
    net::Conn c = net::dial(ln.addr());
    ln.set_deadline(steady::now() + 10s);  // a hang fails the test instead of blocking it
    {
      nofile_limit lim;
      int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      ASSERT_GE(probe, 0);
      ::close(probe);
      ASSERT_TRUE(lim.set_soft(static_cast<rlim_t>(probe)));  // every fd below probe is in use
      std::exception_ptr ep;
      at_limit.start = steady::now();
      try {
        ln.accept();
      } catch (...) {
        ep = std::current_exception();
      }
      at_limit.end = steady::now();
      lim.restore();  // before looking at the exception: see classify()
      at_limit.o = classify(ep);
    }
    ln.set_deadline(steady::now() + 10s);
    restored = outcome_of([&] {
      net::Conn s = ln.accept();
      c.write("alive");
      echoed = read_string(s, 5);
    });
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(at_limit.o.kind, outcome::op) << at_limit.o.str();
  EXPECT_EQ(at_limit.o.code.value(), EMFILE) << at_limit.o.str();
  EXPECT_TRUE(at_limit.o.starts_with("accept tcp " + addr)) << at_limit.o.str();
  EXPECT_LT(at_limit.took(), kAtOnce);
  EXPECT_EQ(restored.kind, outcome::returned) << restored.str();
  EXPECT_EQ(echoed, "alive");
}

// ---- the netpoller and a spinning goroutine -----------------------------------------------------

// GOMAXPROCS=1 and a goroutine spinning without ever entering the runtime:
// the I/O of other goroutines still progresses (sysmon hands the P off, the
// next M polls the network). main exchanges 50 messages with an echo
// goroutine over TCP while the spinner still spins.
TEST(NetpollTest, IOWhileSpinningP1) {
  constexpr int kRoundTrips = 50;
  const auto kSpinLimit = kSanitized ? 10s : 3s;
  std::atomic<bool> spinning{false}, stop{false};
  int round_trips = 0;
  bool spinner_still_spinning = false;
  errors errs;
  int rc = run_net(1, [&] {
    conn_pair p = tcp_pair();
    gort::WaitGroup wg;
    go_guarded(wg, errs, "echo", [&] {
      char b[64];
      while (std::size_t n = p.server.read(std::span(b))) p.server.write(std::string_view(b, n));
    });
    wg.add(1);
    gort::go([&] {
      const auto until = steady::now() + kSpinLimit;
      spinning = true;
      long n = 0;
      while (!stop.load(std::memory_order_relaxed) && (n % 1024 != 0 || steady::now() < until)) ++n;
      spinning = false;
      wg.done();
    });
    // At GOMAXPROCS=1 main runs again only once the spinner has lost the P.
    spin_until([&] { return spinning.load(); }, 60s);
    for (; round_trips < kRoundTrips; ++round_trips) {
      std::string msg = "m" + std::to_string(round_trips);
      p.client.write(msg);
      if (read_string(p.client, msg.size()) != msg) break;
    }
    spinner_still_spinning = spinning.load();
    stop = true;
    p.client.close_write();
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(round_trips, kRoundTrips);
  EXPECT_TRUE(spinner_still_spinning) << "the I/O completed only after the spinner gave up its P";
}

// ---- misuse and lifetimes ------------------------------------------------------------

// Outside run(): every call but close() and the destructors throws
// std::logic_error.
TEST(NetTestMisuse, NotOnAGoroutine) {
  std::vector<std::pair<std::string, outcome>> got;
  pipe_fds p;
  got.emplace_back("listen", outcome_of([] { net::listen("tcp", "127.0.0.1:0"); }));
  got.emplace_back("dial", outcome_of([] { net::dial("127.0.0.1:1"); }));
  got.emplace_back("dial with timeout", outcome_of([] { net::dial("127.0.0.1:1", 1s); }));
  got.emplace_back("listen_packet", outcome_of([] { net::listen_packet("udp", "127.0.0.1:0"); }));
  got.emplace_back("wait_readable", outcome_of([&] { net::wait_readable(p.r); }));
  got.emplace_back("wait_writable", outcome_of([&] { net::wait_writable(p.w); }));
  for (auto& [what, o] : got) EXPECT_EQ(o.kind, outcome::logic) << what << ": " << o.str();
}

// From a std::thread while run() is running (proc.cpp, "Extra Ms"): the
// network works as on a goroutine, parking the thread where a goroutine
// would park: listen, dial, a Conn's write and read, a Listener's accept,
// wait_readable on a pipe.
TEST(NetTestMisuse, ForeignThread) {
  std::string error, echoed, accepted_said;
  int rc = run_net(2, [&] {
    conn_pair p = tcp_pair();
    pipe_fds pf;
    const std::string addr = p.ln.addr();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {  // the other ends, on goroutines
      {
        p.server.write(read_string(p.server, 4));
        net::Conn c = p.ln.accept();
        c.write("hi");
      }  // c closed before done(): main may return from run() at once, which abandons this goroutine
      wg.done();
    });
    std::thread t([&] {
      error = outcome_of([&] {
                net::Listener own = net::listen("tcp", "127.0.0.1:0");
                (void)net::listen_packet("udp", "127.0.0.1:0");
                p.client.write("ping");
                echoed = read_string(p.client, 4);
                net::Conn c = net::dial(addr);
                accepted_said = read_string(c, 2);
                if (::write(pf.w, "x", 1) != 1) throw std::runtime_error("pipe write");
                net::wait_readable(pf.r);
              }).str();
    });
    gort::blocking([&] { t.join(); });
    wg.wait();  // the thread's end does not wait for the goroutine's close of c
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(error, outcome{}.str());
  EXPECT_EQ(echoed, "ping");
  EXPECT_EQ(accepted_said, "hi");
}

// A Conn, Listener and PacketConn that outlive run() (one Conn with a
// goroutine still parked reading it, abandoned when run() returned) can be
// closed or just destroyed afterwards; other calls throw std::logic_error;
// and a later run() uses the network normally. Their poll descriptors are
// theirs until they close, so the leak check (leak_check.hpp) skips the
// first run and comes with the second.
TEST(NetTestMisuse, ConnOutlivesRun) {
  net::Listener ln;
  net::Conn c, s, parked, parked_peer;
  net::PacketConn pc;
  std::optional<leak_check_off> keeping(std::in_place);  // the Conns' descriptors, until the next run
  int rc = run_net(2, [&] {
    ln = net::listen("tcp", "127.0.0.1:0");
    c = net::dial(ln.addr());
    s = ln.accept();
    pc = net::listen_packet("udp", "127.0.0.1:0");
    parked_peer = net::dial(ln.addr());
    parked = ln.accept();
    gort::go([&parked] {
      outcome_of([&] {
        char b[4];
        parked.read(std::span(b));  // never returns: abandoned by run()
      });
    });
    let_it_park();
  });
  EXPECT_EQ(rc, 0);
  keeping.reset();
  outcome rd = outcome_of([&] {
    char b[4];
    c.read(std::span(b));
  });
  EXPECT_EQ(rd.kind, outcome::logic) << "read after run(): " << rd.str();
  outcome closes = outcome_of([&] {
    parked.close();
    parked_peer.close();
    c.close();
    ln.close();
    pc.close();
  });
  EXPECT_EQ(closes.kind, outcome::returned) << closes.str();
  EXPECT_EQ(parked.fd(), -1);
  EXPECT_EQ(c.fd(), -1);
  {
    net::Conn gone = std::move(s);
  }  // destroyed without close()

  std::string echoed;
  rc = run_net(2, [&] {
    conn_pair p = tcp_pair();
    p.client.write("again");
    echoed = read_string(p.server, 5);
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(echoed, "again");
}

}  // namespace
