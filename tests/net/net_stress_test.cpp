// net_stress_test.cpp: gort::net under load (label stress). CI runs these
// under ThreadSanitizer and AddressSanitizer on 2 cores too, so N scales
// down when GORT_TSAN or GORT_ASAN is defined.
//
//   TCPStress     Go's TestTCPStress, wider: 1,000 connections at once (200
//                 under sanitizers) to an echo server, each sending its own
//                 64 KiB in random sized writes while reading the echo; every
//                 byte comes back exactly.
//   ParkedReads   10,000 connections (2,000 under sanitizers) accepted, each
//                 with a goroutine parked reading it, all at once; then
//                 released: each gets its own 4 bytes and answers. The
//                 client ends live in a child process (this binary again,
//                 see client_child; through qemu when emulated), so each
//                 process needs N fds, not 2N.
//   TCPBig        Go's TestTCPBig: one write of 64 MiB (16 MiB under
//                 sanitizers) to a slow reader completes across many parks,
//                 bytes exact.
//   FdReuse       net_test's FdReuse in 4 goroutines at once, 500 rounds each.
// All at GOMAXPROCS 1, 2 and 4.
#include "net_test_util.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

extern char** environ;

namespace {

using namespace gort_net_test;

class NetStressTest : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(GOMAXPROCS, NetStressTest, ::testing::Values(1, 2, 4), procs_name);

// ---- TCPStress -------------------------------------------------------------------

TEST_P(NetStressTest, TCPStress) {
  const int kConns = static_cast<int>(scaled(1000, 5));
  constexpr std::size_t kBytes = 64 << 10;
  errors errs;
  std::atomic<int> exact{0}, served{0};
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    gort::WaitGroup servers, clients;
    go_guarded(servers, errs, "acceptor", [&] {
      for (int i = 0; i < kConns; ++i)
        go_guarded(servers, errs, "echo", [&, c = ln.accept()]() mutable {
          char buf[4096];
          while (std::size_t n = c.read(std::span(buf))) c.write(std::string_view(buf, n));
          served.fetch_add(1);
        });
    });
    for (int i = 0; i < kConns; ++i)
      go_guarded(clients, errs, "client " + std::to_string(i), [&, i] {
        net::Conn c = net::dial(ln.addr());
        gort::WaitGroup w;
        go_guarded(w, errs, "writer " + std::to_string(i), [&] {
          rng r(i + 1);
          std::vector<std::byte> chunk(8192);
          for (std::size_t off = 0; off < kBytes;) {
            std::size_t n = std::min<std::size_t>(1 + r.below(8192), kBytes - off);
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
          errs.add("client " + std::to_string(i) + ": " + std::to_string(n) + " bytes echoed, want " +
                   std::to_string(kBytes));
        else if (std::size_t bad = first_mismatch(std::span(got).first(n), i, 0); bad != n)
          errs.add("client " + std::to_string(i) + ": echoed byte " + std::to_string(bad) + " differs");
        else
          exact.fetch_add(1);
      });
    clients.wait();
    servers.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(exact.load(), kConns);
  EXPECT_EQ(served.load(), kConns);
}

// ---- ParkedReads -----------------------------------------------------------------

constexpr std::uint32_t kReplyKey = 0x5a5a5a5a;

// client_child: the client side of ParkedReads, run as this same binary with
// GORT_NET_CLIENT_CHILD="<port> <n> <control fd>" set, before main (a
// static initializer), with plain blocking sockets. It connects n times to
// 127.0.0.1:<port>, waits for a byte on the control fd, writes its index
// (4 bytes) on each connection, then reads each answer (index ^ kReplyKey).
// Exit status 0 if all are right, else 1 with the reason on stderr.
int client_child(const char* spec) {
  int port = 0, n = 0, ctl = -1;
  if (std::sscanf(spec, "%d %d %d", &port, &n, &ctl) != 3) return 1;
  ::alarm(600);  // never outlive a hung parent by much
  rlimit r;
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> fds;
  fds.reserve(n);
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      std::fprintf(stderr, "client_child: connection %d: %s\n", i, std::strerror(errno));
      return 1;
    }
    fds.push_back(fd);
  }
  char go;
  if (::read(ctl, &go, 1) != 1) {
    std::fprintf(stderr, "client_child: no go-ahead from the parent\n");
    return 1;
  }
  for (int i = 0; i < n; ++i) {
    std::uint32_t v = static_cast<std::uint32_t>(i);
    if (::write(fds[i], &v, 4) != 4) {
      std::fprintf(stderr, "client_child: write %d: %s\n", i, std::strerror(errno));
      return 1;
    }
  }
  for (int i = 0; i < n; ++i) {
    std::uint32_t v = 0;
    std::size_t got = 0;
    while (got < 4) {
      ssize_t k = ::read(fds[i], reinterpret_cast<char*>(&v) + got, 4 - got);
      if (k <= 0) {
        std::fprintf(stderr, "client_child: read %d: %s\n", i, k == 0 ? "EOF" : std::strerror(errno));
        return 1;
      }
      got += static_cast<std::size_t>(k);
    }
    if (v != (static_cast<std::uint32_t>(i) ^ kReplyKey)) {
      std::fprintf(stderr, "client_child: connection %d answered %u\n", i, v);
      return 1;
    }
  }
  for (int fd : fds) ::close(fd);
  return 0;
}

// Under qemu-user (cmake/aarch64-linux-gnu.cmake) the child must be started
// through the emulator, as crash_test.cpp starts testprog: the host kernel
// cannot run this binary by itself. NET_TEST_EMULATOR is the emulator's
// command line with its words separated by '|'; empty natively.
#ifndef NET_TEST_EMULATOR
#define NET_TEST_EMULATOR ""
#endif

std::vector<std::string> emulator_words() {
  std::vector<std::string> v;
  std::string cur;
  for (const char* p = NET_TEST_EMULATOR; *p != '\0'; ++p) {
    if (*p == '|') {
      v.push_back(cur);
      cur.clear();
    } else {
      cur += *p;
    }
  }
  if (!cur.empty()) v.push_back(cur);
  return v;
}

// self_path: this binary's path. Not "/proc/self/exe" itself: handed to a
// new emulator, that names the emulator (qemu answers a readlink of it with
// the emulated program's path).
std::string self_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<std::size_t>(n));
}

[[maybe_unused]] const int client_child_hook = [] {
  if (const char* spec = std::getenv("GORT_NET_CLIENT_CHILD")) std::_Exit(client_child(spec));
  return 0;
}();

TEST_P(NetStressTest, ParkedReads) {
  const int kConns = static_cast<int>(scaled(10000, 5));
  nofile_limit lim;
  const rlim_t soft = lim.raise_soft_to_hard();
  if (soft < static_cast<rlim_t>(kConns) + 256)
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << soft << " is too low for " << kConns << " connections";

  int ctl[2];
  ASSERT_EQ(::pipe2(ctl, O_CLOEXEC), 0);
  pid_t child = -1;
  errors errs;
  std::vector<std::atomic<int>> seen(kConns);
  std::atomic<int> answered{0}, eofs{0};
  int accepted = 0;
  std::size_t goroutines_while_parked = 0;
  int rc = run_net(GetParam(), [&] {
    net::Listener ln = net::listen("tcp", "127.0.0.1:0");
    // The child: this binary, with the control pipe's read end as its fd 3.
    const std::string spec = std::to_string(ln.port()) + " " + std::to_string(kConns) + " 3";
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.push_back("GORT_NET_CLIENT_CHILD=" + spec);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = emulator_words();
    args.push_back(self_path());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, ctl[0], 3);
    int err = posix_spawn(&child, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(ctl[0]);
    if (err != 0) {
      errs.add(std::string("posix_spawn: ") + std::strerror(err));
      return;
    }

    gort::WaitGroup reading, done;
    ln.set_deadline(steady::now() + (kSanitized ? 300s : 120s));  // a lost connection fails, not hangs
    outcome acc = outcome_of([&] {
      for (; accepted < kConns; ++accepted) {
        net::Conn conn = ln.accept();
        reading.add(1);
        go_guarded(done, errs, "reader", [&, c = std::move(conn)]() mutable {
          std::uint32_t v = 0;
          reading.done();
          std::size_t n = read_full(c, std::as_writable_bytes(std::span(&v, 1)));
          if (n != 4 || v >= static_cast<std::uint32_t>(kConns)) {
            errs.add("reader: read " + std::to_string(n) + " bytes, value " + std::to_string(v));
            return;
          }
          seen[v].fetch_add(1);
          std::uint32_t reply = v ^ kReplyKey;
          c.write(std::as_bytes(std::span(&reply, 1)));
          answered.fetch_add(1);
          char b[1];
          if (c.read(std::span(b)) == 0) eofs.fetch_add(1);
        });
      }
    });
    if (acc.kind != outcome::returned) {
      errs.add("accept " + std::to_string(accepted) + ": " + acc.str());
      ::kill(child, SIGKILL);  // its connections close: the readers see EOF
    }
    reading.wait();
    goroutines_while_parked = gort::num_goroutine();
    // Release them all: the child writes to every connection.
    if (acc.kind == outcome::returned && ::write(ctl[1], "g", 1) != 1) errs.add("control pipe write failed");
    done.wait();
  });
  ::close(ctl[1]);
  int status = -1;
  if (child > 0) {
    if (!errs.empty()) ::kill(child, SIGKILL);
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(accepted, kConns);
  EXPECT_GE(goroutines_while_parked, static_cast<std::size_t>(kConns) + 1) << "the readers were not all alive at once";
  EXPECT_EQ(answered.load(), kConns);
  EXPECT_EQ(eofs.load(), kConns);
  int dup = 0, missing = 0;
  for (auto& s : seen) {
    if (s.load() == 0) ++missing;
    if (s.load() > 1) ++dup;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(dup, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "client child: status " << status;
}

// ---- TCPBig ---------------------------------------------------------------------

// Go's TestTCPBig: a single write() of 64 MiB to a reader that reads 16 KiB
// at a time and sleeps 1 ms after every 512 KiB: the write parks many times
// and returns only with everything written; every byte arrives.
TEST_P(NetStressTest, TCPBig) {
  const std::size_t kBytes = kSanitized ? (16u << 20) : (64u << 20);
  std::size_t wrote = 0, got = 0, bad_at = SIZE_MAX;
  int sleeps = 0;
  errors errs;
  int rc = run_net(GetParam(), [&] {
    conn_pair p = tcp_pair();
    gort::WaitGroup wg;
    go_guarded(wg, errs, "writer", [&] {
      std::vector<std::byte> big(kBytes);
      fill_pattern(big, 42, 0);
      wrote = p.client.write(big);
      p.client.close_write();
    });
    std::vector<std::byte> buf(16 << 10);
    std::size_t next_sleep = 512 << 10;
    while (std::size_t n = p.server.read(buf)) {
      if (bad_at == SIZE_MAX) {
        std::size_t b = first_mismatch(std::span(buf).first(n), 42, got);
        if (b != n) bad_at = got + b;
      }
      got += n;
      if (got >= next_sleep) {
        gort::sleep(1ms);
        ++sleeps;
        next_sleep += 512 << 10;
      }
    }
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(wrote, kBytes);
  EXPECT_EQ(got, kBytes);
  EXPECT_EQ(bad_at, SIZE_MAX) << "first wrong byte at offset " << bad_at;
  EXPECT_GT(sleeps, 10);
}

// ---- FdReuse ---------------------------------------------------------------------

// net_test's FdReuse by 4 goroutines at once, each on its own listener, many
// more rounds: closes, stale events and fd numbers reused while other
// goroutines' polls are in flight (the fd numbers are shared, so which
// Conn gets which number is not checked here).
TEST_P(NetStressTest, FdReuse) {
  constexpr int kWorkers = 4;
  const int kRounds = static_cast<int>(scaled(500, 5));
  std::atomic<int> clean{0};
  errors errs;
  int rc = run_net(GetParam(), [&] {
    gort::WaitGroup wg;
    for (int w = 0; w < kWorkers; ++w)
      go_guarded(wg, errs, "worker " + std::to_string(w), [&] {
        net::Listener ln = net::listen("tcp", "127.0.0.1:0");
        clean.fetch_add(fd_reuse_rounds(ln, kRounds, errs).clean);
      });
    wg.wait();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(errs.empty()) << errs.str();
  EXPECT_EQ(clean.load(), kWorkers * kRounds);
}

}  // namespace
