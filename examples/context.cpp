// context: the README's two context examples, built and run so that they
// cannot rot (tests/CMakeLists.txt runs this program and checks that the
// README shows the regions between the "README" markers verbatim).
//
//   1. fan-out: an errgroup of fetches under a timeout; the first failure,
//      or the deadline, cancels the rest (Go's errgroup.WithContext idiom).
//   2. pipeline: two stages connected by channels stop when their context
//      is cancelled, even while blocked sending to a consumer that has gone
//      (Go's "Go Concurrency Patterns: Pipelines and cancellation").
#include <gort/gort.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace std::chrono_literals;

// fetch: a stand-in for a request: id ms of work, unless ctx ends first.
int fetch(const gort::context::Context& ctx, int id) {
  if (id < 0) throw std::runtime_error("bad id " + std::to_string(id));
  bool done = false;
  gort::select(gort::case_recv(gort::after(std::chrono::milliseconds(id))),
               gort::case_recv(ctx.done(), [&](auto) { done = true; }));
  if (done) throw std::system_error(ctx.err());
  return id * id;
}

// README: fan-out begin
std::vector<int> fetch_all(gort::context::Context parent, const std::vector<int>& ids) {
  auto [tctx, cancel] = gort::context::with_timeout(parent, 2s);  // the whole fan-out: 2 s
  auto [g, ctx] = gort::errgroup::with_context(tctx);             // cancelled at the first error
  std::vector<int> results(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i)
    g.go([ctx, &results, i, id = ids[i]] { results[i] = fetch(ctx, id); });  // an exception fails the group
  std::exception_ptr err = g.wait();                              // all have returned
  cancel();
  if (err) std::rethrow_exception(err);                           // the first failure
  return results;
}
// README: fan-out end

// README: pipeline begin
gort::chan<int> generate(gort::context::Context ctx) {
  auto out = gort::make_chan<int>();
  gort::go([ctx, out] {
    bool stop = false;
    for (int n = 0; !stop; ++n)                                   // send until cancelled
      gort::select(gort::case_send(out, n), gort::case_recv(ctx.done(), [&](auto) { stop = true; }));
    out.close();
  });
  return out;
}

gort::chan<int> square(gort::context::Context ctx, gort::chan<int> in) {
  auto out = gort::make_chan<int>();
  gort::go([ctx, in, out] {
    for (int v : in) {
      bool stop = false;
      gort::select(gort::case_send(out, v * v), gort::case_recv(ctx.done(), [&](auto) { stop = true; }));
      if (stop) break;
    }
    out.close();
  });
  return out;
}

void pipeline() {
  auto [ctx, cancel] = gort::context::with_cancel(gort::context::background());
  auto squares = square(ctx, generate(ctx));
  for (int i = 0; i < 5; ++i) std::printf("%d ", *squares.recv());  // 0 1 4 9 16
  cancel();                                                            // both stages stop
  for (int v : squares) (void)v;                                       // until square closes it
  std::printf("\n");
}
// README: pipeline end

int main() {
  return gort::run([] {
    std::vector<int> r = fetch_all(gort::context::background(), {10, 20, 30});
    std::printf("fetched %d %d %d\n", r[0], r[1], r[2]);
    try {
      fetch_all(gort::context::background(), {10, -1, 5000});  // the failure cancels the 5 s fetch
    } catch (const std::exception& e) {
      std::printf("failed: %s\n", e.what());
    }
    try {
      fetch_all(gort::context::background(), {10, 5000});  // the 2 s timeout ends it
    } catch (const std::system_error& e) {
      std::printf("failed: %s\n", e.what());
    }
    pipeline();
  });
}
