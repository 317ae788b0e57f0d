// gort/errgroup.hpp: golang.org/x/sync/errgroup: a group of goroutines
// working on subtasks of one task, with the first failure as the task's.
//
//   auto [g, ctx] = gort::errgroup::with_context(parent);
//   for (const auto& url : urls)
//     g.go([ctx, url] { fetch(ctx, url); });   // an exception is the group's error
//   if (std::exception_ptr e = g.wait()) std::rethrow_exception(e);
//
// As Go's (x/sync v0.10):
//   - go(f) runs f in a new goroutine; the first exception to escape any f
//     is the group's error, which wait() returns (nullptr if none) once every
//     f has returned. Later exceptions are dropped.
//   - with_context's context is cancelled at the first error, with that
//     error as its cause(), or else when wait() returns.
//   - set_limit(n) bounds the goroutines active at once: go() then waits
//     for a slot and try_go() returns false instead of waiting. n < 0: no
//     limit. Changing the limit while goroutines of a limited group are
//     still active is misuse: panic_error (a std::logic_error) "errgroup:
//     modify limit while N goroutines in the group are still active", Go's
//     panic (as Go, not checked while the group has no limit).
// A Group is a handle to shared state, like Context: copies are the same
// group, and a default-constructed one is a group with no context (Go's
// zero Group). Its functions must run on a goroutine.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <utility>

#include "gort/context.hpp"

namespace gort::errgroup {

class Group {
 public:
  Group();

  // Runs f in a new goroutine (after waiting for a slot, with a limit).
  void go(std::function<void()> f);
  // Runs f in a new goroutine if a slot is free now; false (f not run)
  // when the limit is reached.
  bool try_go(std::function<void()> f);
  // The most goroutines active at once; n < 0: no limit.
  void set_limit(int n);
  // Waits for every f; the first exception, or nullptr.
  std::exception_ptr wait();

 private:
  friend std::pair<Group, context::Context> with_context(context::Context parent);
  struct state;
  std::shared_ptr<state> s_;
};

// A Group and a child of parent cancelled at the group's first error or when
// wait() returns, whichever comes first.
std::pair<Group, context::Context> with_context(context::Context parent);

}  // namespace gort::errgroup
