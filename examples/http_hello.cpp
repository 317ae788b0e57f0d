// http_hello: the anchors' httphello server (the workload httphello,
// docs/PERFORMANCE.md; the Go original is go/httphello/main.go under
// $ANCHORS) on gort: a
// keep-alive HTTP/1.1 server on raw TCP, one goroutine per connection, with
// the request framing of http_framing.hpp: each read's complete requests
// (bytes up to and including "\r\n\r\n") get the fixed 78-byte response,
// all in one write; 4 KiB without a terminator, EOF or an error closes.
//
//   http_hello PORT  # listens on 127.0.0.1:PORT
//
// On SIGTERM or SIGINT it prints
//   RESULT name=httphello impl=gort procs= requests= conns= cpu_ms= rss_kb=
// and exits 0. Requests per second come from wrk (bench/compare.sh).
//
// A client that sends and does not read blocks only its own goroutine, in
// write: the others go on. An idle connection costs its goroutine's touched
// stack pages, which hold the framer's buffer, and the kernel's socket; its
// responses are views of one shared table (http_framing.hpp).
#include "http_framing.hpp"
#include "server.hpp"

namespace {

server::counter conns;
server::counter requests;

void serve(gort::net::Conn& c) {
  http_framing::framer f;
  for (;;) {
    const std::size_t r = c.read(f.space());
    if (r == 0) return;
    const auto [answered, close] = f.received(r);
    if (answered > 0) {
      c.write(http_framing::responses(answered));
      requests.add(static_cast<long long>(answered));
    }
    if (close) return;  // a request larger than the buffer
  }
}

}  // namespace

int main(int argc, char** argv) {
  return server::serve(argc, argv, conns, serve, [] {
    server::print_result("httphello", "requests=%lld conns=%lld cpu_ms=%.2f", requests.load(), conns.load(),
                         server::cpu_ms());
  });
}
