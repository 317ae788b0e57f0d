// net_test_util.hpp: helpers shared by net_test.cpp and net_stress_test.cpp,
// the tests of gort::net through its public API (include/gort/net.hpp). Go counterparts: src/net's mockserver_test.go
// (newLocalListener, the local servers) and the checks its tests repeat.
//
// Conventions, as ../runtime/chan_test_util.hpp: the body runs inside
// gort::run at a given GOMAXPROCS; goroutines record what they saw (an
// outcome, an errors list, atomics) and the test asserts after the goroutines
// are joined. An exception that escapes a goroutine kills the process (Go's
// unrecovered panic), so every goroutine a test starts runs through guarded(),
// which turns one into a recorded error.
#pragma once

#include "../runtime/chan_test_util.hpp"

#include <gort/net.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <regex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace gort_net_test {

using namespace gort_test;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using tp = steady::time_point;
namespace net = gort::net;

// "At once": a call that must not wait for anything still takes a moment on
// a loaded machine under a sanitizer; this bounds it.
inline constexpr auto kAtOnce = kSanitized ? 3s : 2s;
// How late a deadline may fire, or a woken call return, beyond what it waits
// for: seconds, not milliseconds (CI runs loaded, TSan 5-15x slower).
inline constexpr auto kSlack = kSanitized ? 10s : 5s;

inline double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ---- outcomes ----------------------------------------------------------------

// outcome: how a call ended, by the most derived of the exception types the
// API documents.
struct outcome {
  enum kind_t { returned, timeout, op, system, invalid_arg, logic, other } kind = returned;
  std::string what;
  std::error_code code;

  static const char* kind_name(kind_t k) {
    switch (k) {
      case returned:
        return "returned normally";
      case timeout:
        return "net::timeout_error";
      case op:
        return "net::op_error";
      case system:
        return "std::system_error (not net::op_error)";
      case invalid_arg:
        return "std::invalid_argument";
      case logic:
        return "std::logic_error";
      case other:
        return "another exception";
    }
    return "?";
  }
  std::string str() const {
    std::string s = kind_name(kind);
    if (kind != returned) s += ": \"" + what + "\"";
    if (code) s += " (code " + std::to_string(code.value()) + ", " + code.message() + ")";
    return s;
  }
  // A std::system_error of any kind (op_error and timeout_error included).
  bool is_system_error() const { return kind == timeout || kind == op || kind == system; }
  bool contains(std::string_view s) const { return what.find(s) != std::string::npos; }
  bool starts_with(std::string_view s) const { return what.rfind(s, 0) == 0; }
};

// classify(ep) classifies an exception caught earlier (nullptr: none).
// Catching with catch (...) and classifying later lets a test look at the
// exception only after it has undone what it did to the process
// (AcceptEMFILE restores the fd limit first).
inline outcome classify(std::exception_ptr ep) {
  outcome o;
  if (!ep) return o;
  try {
    std::rethrow_exception(ep);
  } catch (const net::timeout_error& e) {
    o = {outcome::timeout, e.what(), e.code()};
  } catch (const net::op_error& e) {
    o = {outcome::op, e.what(), e.code()};
  } catch (const std::system_error& e) {
    o = {outcome::system, e.what(), e.code()};
  } catch (const std::invalid_argument& e) {
    o = {outcome::invalid_arg, e.what(), {}};
  } catch (const std::logic_error& e) {
    o = {outcome::logic, e.what(), {}};
  } catch (const std::exception& e) {
    o = {outcome::other, e.what(), {}};
  } catch (...) {
    o = {outcome::other, "(not a std::exception)", {}};
  }
  return o;
}

// outcome_of runs f and classifies what it threw.
template <class F>
outcome outcome_of(F&& f) {
  std::exception_ptr ep;
  try {
    std::forward<F>(f)();
  } catch (...) {
    ep = std::current_exception();
  }
  return classify(ep);
}

// is_timeout: net.hpp's deadline error: net::timeout_error, code
// std::errc::timed_out, what() containing "i/o timeout" and, Go's text,
// starting with the operation and network ("read tcp ").
inline bool is_timeout(const outcome& o, std::string_view prefix) {
  return o.kind == outcome::timeout && o.code == std::errc::timed_out && o.contains("i/o timeout") &&
         o.starts_with(prefix);
}

// is_closed: a call on a closed Conn, Listener or PacketConn (or one that
// close() woke): a std::system_error whose what() contains "use of closed
// network connection", code std::errc::bad_file_descriptor (net.hpp).
inline bool is_closed(const outcome& o) {
  return o.is_system_error() && o.kind != outcome::timeout && o.contains("use of closed network connection") &&
         o.code == std::errc::bad_file_descriptor;
}

// ---- goroutines ----------------------------------------------------------------

// guarded runs f, recording an exception that escapes it in errs (with what
// the goroutine was doing), so that it cannot kill the test process.
template <class F>
void guarded(errors& errs, const std::string& who, F&& f) {
  outcome o = outcome_of(std::forward<F>(f));
  if (o.kind != outcome::returned) errs.add(who + ": unexpected " + o.str());
}

// go_guarded starts f in a goroutine that ends with wg.done(); wg.add(1) is
// done here. f (and whatever it captured, a Conn say) is destroyed before
// wg.done(), so that nothing of it is left when the waiter goes on.
template <class F>
void go_guarded(gort::WaitGroup& wg, errors& errs, std::string who, F f) {
  wg.add(1);
  gort::go([&wg, &errs, who = std::move(who), f = std::move(f)]() mutable {
    {
      F mine = std::move(f);
      guarded(errs, who, mine);
    }
    wg.done();
  });
}

// run_net: run_procs with the main goroutine guarded too; returns run()'s
// result, and adds a failure for an exception that escaped fn.
inline int run_net(int procs, std::function<void()> fn) {
  errors errs;
  int rc = run_procs(procs, [&] { guarded(errs, "main goroutine", fn); });
  EXPECT_TRUE(errs.empty()) << errs.str();
  return rc;
}

// ---- data ----------------------------------------------------------------------

// pattern_byte: the byte at offset pos of stream seed, so that every
// connection sends its own data and the receiver can check each byte.
inline std::byte pattern_byte(std::uint64_t seed, std::uint64_t pos) {
  return static_cast<std::byte>(mix(seed * 0x100000001b3ull + (pos >> 3)) >> ((pos & 7) * 8));
}
inline void fill_pattern(std::span<std::byte> buf, std::uint64_t seed, std::uint64_t pos) {
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = pattern_byte(seed, pos + i);
}
// first_mismatch: the index of the first byte of buf that is not stream
// seed's from pos, or buf.size().
inline std::size_t first_mismatch(std::span<const std::byte> buf, std::uint64_t seed, std::uint64_t pos) {
  for (std::size_t i = 0; i < buf.size(); ++i)
    if (buf[i] != pattern_byte(seed, pos + i)) return i;
  return buf.size();
}

inline std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// read_full reads exactly buf.size() bytes, or fewer at EOF; returns the count.
inline std::size_t read_full(net::Conn& c, std::span<std::byte> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = c.read(buf.subspan(got));
    if (n == 0) break;
    got += n;
  }
  return got;
}

// read_string reads exactly n bytes (fewer at EOF) as a string.
inline std::string read_string(net::Conn& c, std::size_t n) {
  std::string s(n, '\0');
  s.resize(read_full(c, std::as_writable_bytes(std::span(s.data(), s.size()))));
  return s;
}

// read_all reads until EOF; returns the bytes.
inline std::string read_all(net::Conn& c) {
  std::string s;
  char buf[4096];
  while (std::size_t n = c.read(std::span(buf))) s.append(buf, n);
  return s;
}

// ---- sockets -------------------------------------------------------------------

// pair: a connected client and server over network ("tcp", "unix", ...).
struct conn_pair {
  net::Listener ln;
  net::Conn client, server;
};
inline conn_pair make_pair_on(net::Listener ln, std::string_view network = "tcp") {
  conn_pair p{std::move(ln), {}, {}};
  p.client = net::dial(network, p.ln.addr());
  p.server = p.ln.accept();
  return p;
}
inline conn_pair tcp_pair() { return make_pair_on(net::listen("tcp", "127.0.0.1:0")); }

// set_buffers fixes fd's socket buffers at 64 KiB (no autotuning, which may
// grow a receive buffer to tcp_rmem's maximum, 32 MiB on some machines), so
// that a write of kBlockingWrite blocks until the peer reads. Not smaller: a
// window of a few KiB meets the peer's delayed ACKs and crawls (~50 KB/s).
inline void set_buffers(int fd, int size = 64 << 10) {
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

// A write this big blocks on a pair whose buffers set_buffers shrank, until
// the peer reads.
inline constexpr std::size_t kBlockingWrite = 16 << 20;

// set_linger0: SO_LINGER {on, 0}: close() then sends RST instead of FIN.
inline void set_linger0(int fd) {
  ::linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

// have_ipv6: the loopback ::1 can be bound (Go's supportsIPv6).
inline bool have_ipv6() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// temp_sock_path: a fresh path for a Unix socket (short: sun_path has 108
// bytes), not existing yet.
inline std::string temp_sock_path(const char* tag) {
  static std::atomic<int> n{0};
  std::string p =
      "/tmp/gort-net-" + std::to_string(::getpid()) + "-" + tag + "-" + std::to_string(n.fetch_add(1)) + ".sock";
  ::unlink(p.c_str());
  return p;
}

inline bool path_exists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

// full_listener: a raw (non-gort) TCP listener on 127.0.0.1 with a backlog of
// 0 whose accept queue is full: a connect to it stays in SYN_SENT (Linux
// drops the SYN) until someone accepts. A dial to it blocks, which the dial
// deadline tests need without relying on a non-routable address.
struct full_listener {
  int lfd = -1;
  std::uint16_t port = 0;
  std::vector<int> fillers;
  bool full = false;

  full_listener() {
    lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(lfd, 0) != 0 ||
        ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
      return;
    port = ntohs(sa.sin_port);
    // Connect until one stays in progress: that one found the queue full.
    for (int i = 0; i < 16 && !full; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return;
      fillers.push_back(fd);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) continue;
      if (errno != EINPROGRESS) return;
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 100) == 0) full = true;  // still connecting after 100 ms: SYN dropped
    }
  }
  ~full_listener() {
    drop_fillers();
    if (lfd >= 0) ::close(lfd);
  }
  full_listener(const full_listener&) = delete;
  full_listener& operator=(const full_listener&) = delete;

  std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
  void drop_fillers() {
    for (int fd : fillers) ::close(fd);
    fillers.clear();
  }
  // accept_all accepts (and closes) whatever is queued; returns how many.
  int accept_all() {
    int n = 0;
    for (int fd; (fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0; ++n) ::close(fd);
    return n;
  }
};

// nofile_limit: RLIMIT_NOFILE, restored on destruction.
struct nofile_limit {
  rlimit saved{};
  bool ok = false;
  nofile_limit() { ok = ::getrlimit(RLIMIT_NOFILE, &saved) == 0; }
  ~nofile_limit() {
    if (ok) ::setrlimit(RLIMIT_NOFILE, &saved);
  }
  nofile_limit(const nofile_limit&) = delete;
  nofile_limit& operator=(const nofile_limit&) = delete;
  // raise_soft_to_hard: soft = hard; returns the new soft limit.
  rlim_t raise_soft_to_hard() {
    rlimit r = saved;
    r.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &r) != 0) return saved.rlim_cur;
    return r.rlim_cur;
  }
  bool set_soft(rlim_t soft) {
    rlimit r = saved;
    r.rlim_cur = soft;
    return ::setrlimit(RLIMIT_NOFILE, &r) == 0;
  }
  void restore() {
    if (ok) ::setrlimit(RLIMIT_NOFILE, &saved);
  }
};

// port_of: the number after the last ':' of "host:port", or -1.
inline int port_of(const std::string& addr) {
  static const std::regex re(R"(.*:([0-9]+))");
  std::smatch m;
  if (!std::regex_match(addr, m, re)) return -1;
  return std::stoi(m[1].str());
}

// ---- fd reuse ------------------------------------------------------------------

struct fd_reuse_result {
  int clean = 0;    // rounds whose new Conn behaved exactly
  int same_fd = 0;  // rounds whose new Conn got the closed one's fd number
};

// fd_reuse_rounds: rounds of: dial c1 (accepted as s1 on ln); s1 writes, so
// an event for c1's fd is on its way (in odd rounds a goroutine is blocked
// reading c1, in every third round s1 also resets); close c1; dial c2 at
// once, which usually gets c1's fd number. c2 must then time out on a read
// (10 ms deadline: no stale data, no EOF, no error), and exchange exact
// bytes with its peer. Failures go to errs.
inline fd_reuse_result fd_reuse_rounds(net::Listener& ln, int rounds, errors& errs) {
  fd_reuse_result res;
  const std::string addr = ln.addr();
  for (int round = 0; round < rounds; ++round) {
    const std::string r = "round " + std::to_string(round) + ": ";
    net::Conn c1 = net::dial(addr);
    net::Conn s1 = ln.accept();
    const int fd1 = c1.fd();
    gort::WaitGroup wg;
    if (round % 2 == 1) {
      go_guarded(wg, errs, r + "old reader", [&, r] {
        outcome o = outcome_of([&] {
          char b[8];
          c1.read(std::span(b));
        });
        if (o.kind != outcome::returned && !is_closed(o)) errs.add(r + "old reader: " + o.str());
      });
      gort::yield();
    }
    s1.write("stale");  // c1 becomes readable: an event for its fd
    if (round % 3 == 0) {  // and an RST on top
      set_linger0(s1.fd());
      s1.close();
    }
    c1.close();
    wg.wait();
    net::Conn c2 = net::dial(addr);
    net::Conn s2 = ln.accept();
    if (c2.fd() == fd1) ++res.same_fd;
    const tp dl = steady::now() + 10ms;
    c2.set_read_deadline(dl);
    outcome empty = outcome_of([&] {
      char b[8];
      std::size_t n = c2.read(std::span(b));
      throw std::runtime_error("read returned " + std::to_string(n) + " bytes (\"" +
                               std::string(b, std::min<std::size_t>(n, 8)) + "\")");
    });
    if (!is_timeout(empty, "read tcp ") || steady::now() < dl) {
      errs.add(r + "the new Conn's empty read: " + empty.str());
      continue;
    }
    c2.set_read_deadline(tp{});
    const std::string want = "fresh" + std::to_string(round);
    s2.write(want);
    std::string got = read_string(c2, want.size());
    c2.write("back");
    std::string back = read_string(s2, 4);
    if (got != want || back != "back") {
      errs.add(r + "new Conn read \"" + got + "\", its peer \"" + back + "\"");
      continue;
    }
    ++res.clean;
  }
  return res;
}

}  // namespace gort_net_test
