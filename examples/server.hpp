// server.hpp: the frame echo.cpp and http_hello.cpp share, that of the
// anchors' Go servers (go/echo and go/httphello under $ANCHORS, bench/compare.sh):
// listen on 127.0.0.1:PORT, accept in one goroutine, serve each connection
// in a goroutine of its own, and on SIGTERM or SIGINT print the one RESULT
// line (impl=gort) and exit 0. The program supplies the per-connection
// function and the RESULT line's fields.
//
// Stopping. main() blocks SIGTERM and SIGINT before gort::run starts a
// thread, so every runtime thread inherits the mask and the signals stay
// pending on the process, with no handler running in signal context. The
// main goroutine reads them from a signalfd, parked in net::wait_readable
// like any network wait (Go's signal.Notify likewise hands signals to a
// goroutine through a channel). It then prints the line and returns from
// run(), abandoning the connections' goroutines as a Go main does.
//
// Counting. The counters are relaxed atomics, each on its own cache line,
// as Go's atomic.AddInt64 on globals: an increment orders nothing, and the
// final load comes after the client has seen every counted reply and
// exited, and after the signal, all of which order it through the kernel.
//
// Errors. A connection's read or write error (EOF is a read of 0, not an
// error) ends its goroutine, whose Conn then closes: the exception stops at
// the goroutine's frame here, so it never reaches the runtime as a panic.
// An accept error (EMFILE, ECONNABORTED) backs off 5 ms, as the Go servers
// sleep, instead of spinning.
#pragma once

#include <gort/gort.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace server {

// counter: a relaxed event count, alone on its cache line (see Counting).
class counter {
 public:
  void add(long long n) { v_.fetch_add(n, std::memory_order_relaxed); }
  long long load() const { return v_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<long long> v_{0};
};

// fail: "FAIL <prog>: <message>" on stderr and exit 1, as the anchors' bench.Fail.
[[noreturn]] inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] inline void fail(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "FAIL %s: ", program_invocation_short_name);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::fflush(stderr);
  std::_Exit(1);
}

// cpu_ms: the process's user+system CPU since it started, all threads.
inline double cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// print_result: "RESULT name=<name> impl=gort procs=<P> <fields> rss_kb=<peak>",
// the anchors' line. fields is printf-formatted (floats %.2f, as Go's bench.Print).
inline void print_result(const char* name, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline void print_result(const char* name, const char* fmt, ...) {
  char fields[512];
  std::va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(fields, sizeof fields, fmt, ap);
  va_end(ap);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("RESULT name=%s impl=gort procs=%d %s rss_kb=%ld\n", name, gort::gomaxprocs(0), fields, ru.ru_maxrss);
  std::fflush(stdout);
}

// wait_for_signal parks the calling goroutine until sfd (a non-blocking
// signalfd) delivers a signal. errno through gort::last_errno: the loop
// parks between its reads, and may resume on another thread.
inline void wait_for_signal(int sfd) {
  signalfd_siginfo si;
  for (;;) {
    const ssize_t r = ::read(sfd, &si, sizeof si);
    if (r == static_cast<ssize_t>(sizeof si)) return;
    if (r >= 0) continue;
    const int e = gort::last_errno();
    if (e == EAGAIN)
      gort::net::wait_readable(sfd);
    else if (e != EINTR)
      fail("read signalfd: %s", std::strerror(e));
  }
}

// serve is the program's main: it serves 127.0.0.1:argv[1], running
// handle(gort::net::Conn&) as one goroutine per connection, until SIGTERM or
// SIGINT; then report() prints the RESULT line (on a goroutine) and serve
// returns main's exit status, 0. conns counts the connections accepted.
template <class Handle, class Report>
int serve(int argc, char** argv, counter& conns, Handle handle, Report report) {
  if (argc != 2) fail("usage: %s PORT", program_invocation_short_name);
  const std::string address = std::string("127.0.0.1:") + argv[1];

  // Each connection is a descriptor: raise the soft limit to the hard one,
  // as Go's os package does at start-up.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  if (int e = pthread_sigmask(SIG_BLOCK, &stop, nullptr)) fail("pthread_sigmask: %s", std::strerror(e));
  const int sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) fail("signalfd: %s", std::strerror(errno));

  return gort::run([&] {
    gort::net::Listener ln;
    try {
      ln = gort::net::listen(address);
    } catch (const std::exception& e) {
      fail("listen: %s", e.what());
    }
    gort::go(
        [&conns, handle](gort::net::Listener ln) {
          for (;;) {
            gort::net::Conn c;
            try {
              c = ln.accept();
            } catch (const std::system_error&) {
              gort::sleep(std::chrono::milliseconds(5));
              continue;
            }
            conns.add(1);
            gort::go(
                [handle](gort::net::Conn c) {
                  try {
                    handle(c);
                  } catch (const std::system_error&) {
                    // EOF or a socket error: the Conn closes as the goroutine ends.
                  }
                },
                std::move(c));
          }
        },
        std::move(ln));
    wait_for_signal(sfd);
    report();
  });
}

}  // namespace server
