// fd_poll_test.cpp: smoke tests of the fd layer over real loopback sockets:
// the park/retry loops (a write larger than the socket buffers, an accept
// and a read that wait), a deadline, close() waking a blocked reader and
// accept, wait_readable/wait_writable on foreign fds, a Conn that outlives
// its run. The API's full suite is net_test.cpp; these drive the internals
// that suite reaches only indirectly.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <gort/chan.hpp>
#include <gort/net.hpp>
#include <gort/runtime.hpp>
#include <gort/time.hpp>

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace net = gort::net;

class FDPollTest : public ::testing::TestWithParam<int> {
 protected:
  void run(std::function<void()> fn) { gort::run(gort::Config{.maxprocs = GetParam()}, std::move(fn)); }
};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, FDPollTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& i) { return "P" + std::to_string(i.param); });

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// A write of 8 MiB fills both socket buffers many times over: the writer
// parks on EAGAIN until the echo server drains it, which itself parks in
// its write until the client reads.
TEST_P(FDPollTest, EchoLargerThanSocketBuffers) {
  run([] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    EXPECT_EQ(ln.addr(), "127.0.0.1:" + std::to_string(ln.port()));
    gort::go([&ln] {
      net::Conn c = ln.accept();
      std::vector<std::byte> buf(64 << 10);
      while (std::size_t n = c.read(buf)) c.write(std::span(buf).first(n));
    });
    net::Conn c = net::dial(ln.addr());
    EXPECT_EQ(c.remote_addr(), ln.addr());
    EXPECT_EQ(c.local_addr().rfind("127.0.0.1:", 0), 0u);
    std::vector<std::byte> out(8 << 20);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i * 7);
    auto done = gort::make_chan<std::size_t>(1);
    gort::go([&] {
      done.send(c.write(out));
      c.close_write();
    });
    std::vector<std::byte> in;
    std::vector<std::byte> buf(100 << 10);
    while (std::size_t n = c.read(buf)) in.insert(in.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(*done.recv(), out.size());
    EXPECT_TRUE(in == out);
  });
}

TEST_P(FDPollTest, ReadDeadline) {
  run([] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    net::Conn c = net::dial(ln.addr());
    net::Conn s = ln.accept();
    const auto deadline = steady::now() + 30ms;
    c.set_read_deadline(deadline);
    char buf[16];
    try {
      c.read(std::span(buf));
      ADD_FAILURE() << "read returned";
    } catch (const net::timeout_error& e) {
      EXPECT_EQ(std::string(e.what()), "read tcp " + c.local_addr() + "->" + c.remote_addr() + ": i/o timeout");
      EXPECT_EQ(e.code(), std::errc::timed_out);
    }
    EXPECT_GE(steady::now(), deadline);
    // Past: fails at once; cleared: the read waits for data again.
    c.set_read_deadline(steady::time_point(1ns));
    EXPECT_THROW(c.read(std::span(buf)), net::timeout_error);
    c.set_read_deadline({});
    s.write("hi");
    EXPECT_EQ(c.read(std::span(buf)), 2u);
  });
}

// A deadline in any unit: a coarse past one fails the call at once, and one
// too far off for nanoseconds (hours' max) saturates to "never" instead of
// overflowing into the past. Both for Conn and PacketConn, whose setters
// for other units come from one base (net.hpp, deadline_setters).
TEST_P(FDPollTest, DeadlinesInAnyUnit) {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  using std::chrono::time_point_cast;
  const auto never = std::chrono::time_point<steady, hours>::max();
  run([&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    net::Conn c = net::dial(ln.addr());
    net::Conn s = ln.accept();
    char buf[16];
    c.set_read_deadline(time_point_cast<milliseconds>(steady::now() - 1s));
    EXPECT_THROW(c.read(std::span(buf)), net::timeout_error);
    c.set_deadline(never);
    c.write("hi");
    EXPECT_EQ(s.read(std::span(buf)), 2u);
    s.write("ho");
    EXPECT_EQ(c.read(std::span(buf)), 2u);
    c.set_write_deadline(time_point_cast<seconds>(steady::now() - 2s));
    EXPECT_THROW(c.write("hi"), net::timeout_error);

    net::PacketConn a = net::listen_packet("udp", "127.0.0.1:0");
    net::PacketConn b = net::listen_packet("udp", "127.0.0.1:0");
    std::byte dgram[16];
    a.set_read_deadline(time_point_cast<milliseconds>(steady::now() - 1s));
    EXPECT_THROW(a.read_from(dgram), net::timeout_error);
    a.set_deadline(never);
    b.set_write_deadline(never);
    b.write_to(std::as_bytes(std::span("x", 1)), a.local_addr());
    EXPECT_EQ(a.read_from(dgram).n, 1u);
    b.set_write_deadline(time_point_cast<seconds>(steady::now() - 2s));
    EXPECT_THROW(b.write_to(std::as_bytes(std::span("x", 1)), a.local_addr()), net::timeout_error);
  });
}

// Three readers of one Conn: one parks in poll_wait, two behind it for the
// read lock (fd_mutex); close() wakes all three and returns once they have
// let go of the fd.
TEST_P(FDPollTest, CloseWakesReadersAndAccept) {
  run([] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    net::Conn c = net::dial(ln.addr());
    net::Conn s = ln.accept();
    constexpr int readers = 3;
    auto errs = gort::make_chan<std::string>(readers + 1);
    for (int i = 0; i < readers; ++i) {
      gort::go([&] {
        char buf[16];
        errs.send(error_of([&] { c.read(std::span(buf)); }));
      });
    }
    gort::go([&] { errs.send(error_of([&] { ln.accept(); })); });
    gort::sleep(20ms);  // all parked
    const std::string conn_name = c.local_addr() + "->" + c.remote_addr();
    const std::string ln_name = ln.addr();
    c.close();
    EXPECT_EQ(c.fd(), -1);
    ln.close();
    std::vector<std::string> got;
    for (int i = 0; i < readers + 1; ++i) got.push_back(*errs.recv());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got[0], "accept tcp " + ln_name + ": use of closed network connection");
    for (int i = 1; i <= readers; ++i)
      EXPECT_EQ(got[i], "read tcp " + conn_name + ": use of closed network connection");
    EXPECT_EQ(error_of([&] { c.close(); }), "close tcp " + conn_name + ": use of closed network connection");
  });
}

TEST_P(FDPollTest, DialErrors) {
  run([] {
    std::string addr;
    {
      net::Listener ln = net::listen("tcp", "127.0.0.1:0");
      addr = ln.addr();
    }
    EXPECT_EQ(error_of([&] { net::dial(addr); }), "dial tcp " + addr + ": connect: connection refused");
    EXPECT_EQ(error_of([] { net::dial("tcp", "127.0.0.1"); }), "dial tcp: address 127.0.0.1: missing port in address");
    EXPECT_EQ(error_of([] { net::dial("udp7", "127.0.0.1:1"); }), "dial udp7: unknown network udp7");
    EXPECT_EQ(error_of([] { net::dial("unix", ""); }), "dial unix: missing address");
    EXPECT_EQ(error_of([] { net::listen("udp", ":0"); }), "listen udp :0: address :0: unexpected address type");
    EXPECT_EQ(error_of([] { net::listen_packet("tcp", ":0"); }), "listen tcp :0: address :0: unexpected address type");
    EXPECT_EQ(error_of([] { net::dial("tcp", "nosuchhost.invalid:80"); }),
              "dial tcp: lookup nosuchhost.invalid: no such host");
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    EXPECT_EQ(error_of([&] { net::listen("tcp", ln.addr()); }),
              "listen tcp " + ln.addr() + ": bind: address already in use");
  });
}

TEST_P(FDPollTest, PacketConn) {
  run([] {
    net::PacketConn a = net::listen_packet("udp", "127.0.0.1:0");
    net::PacketConn b = net::listen_packet("udp4", "127.0.0.1:0");
    const std::string msg = "0123456789";
    EXPECT_EQ(b.write_to(std::as_bytes(std::span(msg.data(), msg.size())), a.local_addr()), msg.size());
    std::byte buf[4];
    const net::PacketConn::packet p = a.read_from(buf);  // truncated: the rest is lost
    EXPECT_EQ(p.n, 4u);
    EXPECT_EQ(p.addr, b.local_addr());
    a.set_read_deadline(steady::now() + 10ms);
    EXPECT_THROW(a.read_from(buf), net::timeout_error);
  });
}

TEST_P(FDPollTest, UnixListenerRemovesItsFile) {
  run([] {
    const std::string path = testing::TempDir() + "gort_fd_poll_" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    {
      net::Listener ln = net::listen("unix", path);
      EXPECT_EQ(ln.addr(), path);
      net::Conn c = net::dial("unix", path);
      net::Conn s = ln.accept();
      EXPECT_EQ(c.remote_addr(), path);
      EXPECT_EQ(c.local_addr(), "@");  // unnamed, as Go prints it
      c.write("x");
      char ch;
      EXPECT_EQ(s.read(std::span(&ch, 1)), 1u);
    }
    struct stat st;
    EXPECT_NE(::stat(path.c_str(), &st), 0);
  });
}

TEST_P(FDPollTest, WaitReadableWritable) {
  run([] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    // Fill sv[0]'s buffer so that it is not writable.
    const std::vector<char> chunk(64 << 10);
    while (::write(sv[0], chunk.data(), chunk.size()) > 0) {
    }
    EXPECT_FALSE(net::wait_readable(sv[0], steady::now() + 10ms));
    // One goroutine waits readable and another writable on the same fd.
    auto got = gort::make_chan<char>(2);
    gort::go([&] { got.send(net::wait_readable(sv[0]) ? 'r' : '-'); });
    gort::go([&] { got.send(net::wait_writable(sv[0]) ? 'w' : '-'); });
    gort::sleep(10ms);
    ASSERT_EQ(::write(sv[1], "x", 1), 1);
    EXPECT_EQ(*got.recv(), 'r');
    std::vector<char> drain(chunk.size());
    while (::read(sv[1], drain.data(), drain.size()) > 0) {
    }
    EXPECT_EQ(*got.recv(), 'w');
    EXPECT_TRUE(net::wait_readable(sv[0], steady::now() + 10ms));  // the 'x', still unread
    ::close(sv[0]);
    ::close(sv[1]);
    // A regular file is always ready; a gort Conn's fd and a closed fd are refused.
    const int f = ::open("/proc/self/exe", O_RDONLY);
    EXPECT_TRUE(net::wait_readable(f));
    ::close(f);
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    EXPECT_THROW(net::wait_readable(ln.fd(), steady::now() + 10ms), std::invalid_argument);
    EXPECT_THROW(net::wait_readable(sv[0]), std::invalid_argument);
  });
}

TEST(FDPollOutlivesRunTest, CloseAfterRun) {
  net::Conn kept;
  net::Listener ln_kept;
  // Outside the goroutine's frame: an abandoned goroutine's frames are
  // never destroyed (gort::run, include/gort/runtime.hpp), so a Conn there would leak.
  net::Conn accepted;
  gort::run([&] {
    ln_kept = net::listen("tcp", "127.0.0.1:0");
    kept = net::dial(ln_kept.addr());
    auto have_accepted = gort::make_chan<int>(1);
    gort::go([&, have_accepted] {  // abandoned in (or on its way to) the read when main returns
      accepted = ln_kept.accept();
      have_accepted.send(1);
      char buf[4];
      accepted.read(std::span(buf));
    });
    have_accepted.recv();  // not a sleep: on a loaded machine the accept may come late
  });
  EXPECT_GE(kept.fd(), 0);
  kept.close();  // no goroutine: closes at once
  EXPECT_EQ(kept.fd(), -1);
  accepted.close();  // its abandoned reader still holds a reference: closes at once too
  EXPECT_THROW(net::dial("127.0.0.1:1"), std::logic_error);  // outside a goroutine
}

}  // namespace
