// echo: the anchors' echo server (the workload echo, docs/PERFORMANCE.md;
// the Go original is go/echo/main.go under $ANCHORS) on gort: one goroutine per
// connection reads into a 4 KiB buffer and writes back exactly the bytes it
// read, one write per read, until EOF or an error closes it.
//
//   echo PORT        # listens on 127.0.0.1:PORT
//
// On SIGTERM or SIGINT it prints
//   RESULT name=echo impl=gort procs= conns= bytes= cpu_ms= rss_kb=
// and exits 0. Load it with the anchors' echoclient, as bench/compare.sh does.
#include "server.hpp"

#include <cstddef>
#include <span>

namespace {

server::counter conns;
server::counter echoed;  // bytes, counted as each write is issued

void echo(gort::net::Conn& c) {
  char buf[4096];  // left uninitialized: an idle connection touches only what it read into
  while (const std::size_t n = c.read(std::span(buf))) {
    // Counted before the write, so that a client holding the reply knows it
    // was counted (compare.sh checks the total exactly).
    echoed.add(static_cast<long long>(n));
    c.write(std::string_view(buf, n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  return server::serve(argc, argv, conns, echo, [] {
    server::print_result("echo", "conns=%lld bytes=%lld cpu_ms=%.2f", conns.load(), echoed.load(), server::cpu_ms());
  });
}
