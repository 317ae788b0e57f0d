// errgroup.cpp: golang.org/x/sync/errgroup (v0.10, errgroup.go): Group.Go,
// TryGo, SetLimit, Wait and WithContext, with Go's shape.
//
// A Group is a shared_ptr to its state, so the goroutines it starts keep
// the state alive however the handles come and go. The state:
//   wg        counts the goroutines started and not yet finished (Go's wg);
//   sem       Go's semaphore: a channel of capacity n when a limit is set,
//             the nil channel otherwise. A goroutine takes a slot (sends)
//             before it starts and gives it back (receives) as it ends,
//             before wg.done(), so the slot is free by the time wait() can
//             return;
//   err_once, err  the first exception; written once under err_once, read
//             by wait() after wg.wait() (which orders it after the write);
//   cancel    with_context's CancelCauseFunc, or empty: called with the
//             first error as its cause, and by wait().
// sem is written by set_limit only, which (as Go) must not run while
// go()/try_go() run: Go's SetLimit is not safe beside Go, and a changed
// limit with goroutines active is the panic below.
#include "gort/errgroup.hpp"

#include <string>
#include <variant>

#include "gort/chan.hpp"
#include "gort/runtime.hpp"
#include "gort/select.hpp"
#include "gort/sync.hpp"

namespace gort::errgroup {

struct Group::state {
  WaitGroup wg;
  chan<std::monostate> sem;  // nil: no limit
  Once err_once;
  std::exception_ptr err;
  context::CancelCauseFunc cancel;

  // done: Go's Group.done: frees the slot, then counts the goroutine out.
  void done() {
    if (sem) (void)sem.recv();
    wg.done();
  }
  // start: the goroutine Go's Go and TryGo start, its slot already taken.
  static void start(const std::shared_ptr<state>& s, std::function<void()> f) {
    s->wg.add(1);
    gort::go([s, f = std::move(f)] {
      try {
        f();
      } catch (...) {
        std::exception_ptr e = std::current_exception();
        s->err_once.call([&] {
          s->err = e;
          if (s->cancel) s->cancel(e);
        });
      }
      s->done();
    });
  }
};

Group::Group() : s_(std::make_shared<state>()) {}

void Group::go(std::function<void()> f) {
  if (s_->sem) s_->sem.send(std::monostate{});
  state::start(s_, std::move(f));
}

bool Group::try_go(std::function<void()> f) {
  // Go's select { case g.sem <- token{}: default: return false }
  if (s_->sem && gort::select(gort::case_send(s_->sem, std::monostate{}), gort::case_default()) != 0) return false;
  state::start(s_, std::move(f));
  return true;
}

void Group::set_limit(int n) {
  if (n < 0) {
    s_->sem = {};
    return;
  }
  if (const std::size_t active = s_->sem.len(); active != 0)
    throw panic_error("errgroup: modify limit while " + std::to_string(active) +
                      " goroutines in the group are still active");
  s_->sem = make_chan<std::monostate>(static_cast<std::size_t>(n));
}

std::exception_ptr Group::wait() {
  s_->wg.wait();
  if (s_->cancel) s_->cancel(s_->err);
  return s_->err;
}

std::pair<Group, context::Context> with_context(context::Context parent) {
  auto [ctx, cancel] = context::with_cancel_cause(std::move(parent));
  Group g;
  g.s_->cancel = std::move(cancel);
  return {std::move(g), std::move(ctx)};
}

}  // namespace gort::errgroup
