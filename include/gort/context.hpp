// gort/context.hpp: Go's context package. A Context carries a deadline, a
// cancellation signal and request-scoped values across API boundaries and
// between goroutines; cancelling one cancels every context derived from it.
//
//   auto [ctx, cancel] = gort::context::with_timeout(parent, 100ms);
//   gort::go([ctx] { worker(ctx); });      // a Context is a handle: copy it freely
//   gort::select(gort::case_recv(results, on_result),
//                gort::case_recv(ctx.done(), [&](auto) { fail(ctx.err()); }));
//   cancel();                              // releases the timer and the parent's link
//
// The semantics are Go's (context.go, Go 1.21), and where this header is
// silent, Go's apply:
//   - done() is a channel closed when the context is cancelled, its deadline
//     passes or its parent is cancelled. background()'s and todo()'s is the
//     nil channel: a receive on it blocks forever, as in Go.
//   - err() is {} while the context is live, then errc::canceled ("context
//     canceled") or errc::deadline_exceeded ("context deadline exceeded"),
//     for good. It is set before done() is closed.
//   - A cancelled parent cancels its children at once; a child created from
//     an already cancelled parent is born cancelled. A CancelFunc is
//     idempotent: the first call cancels with errc::canceled, stops the
//     context's timer and unlinks it from its parent (call it when done, as
//     Go's vet asks: until then a long-lived parent keeps the child).
//   - with_deadline's deadline is never later than the parent's: a later
//     one gives a plain cancellable context with the parent's deadline. A
//     deadline already past gives a context cancelled at once with
//     errc::deadline_exceeded.
//   - value(key) walks up the chain to the nearest with_value holding key;
//     as Go's type assertion, a value of another type than T there gives
//     nullptr (the search does not go on past it).
//   - after_func(ctx, f) runs f in its own goroutine once ctx is done; the
//     stop() it returns unhooks f and returns true if f will never run.
// Every function must run on a goroutine (inside gort::run): cancellation
// takes gort::Mutex locks. Copying and destroying a Context need not.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "gort/chan.hpp"
#include "gort/detail/chrono.hpp"

namespace gort::context {

// The two errors a context ends with; category(): "context canceled" and
// "context deadline exceeded", Go's texts.
enum class errc { canceled = 1, deadline_exceeded };
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace gort::context

template <>
struct std::is_error_code_enum<gort::context::errc> : std::true_type {};

namespace gort::context {

namespace detail {

// A context's node (src/context/context.cpp); its reference count sits
// first, so copies of a Context count without a call into the library.
struct node_header {
  std::atomic<std::size_t> refs{1};
};
struct ctx_node;
void free_node(ctx_node* n) noexcept;  // the last reference went

class node_ref {
 public:
  node_ref() noexcept = default;
  explicit node_ref(ctx_node* adopted) noexcept : n_(adopted) {}
  node_ref(const node_ref& o) noexcept : n_(o.n_) {
    // Relaxed: o's reference keeps the node alive; nothing is published.
    if (n_) header()->refs.fetch_add(1, std::memory_order_relaxed);
  }
  node_ref(node_ref&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  node_ref& operator=(node_ref o) noexcept {
    std::swap(n_, o.n_);
    return *this;
  }
  ~node_ref() {
    // acq_rel: the last release sees every other holder's writes before it frees.
    if (n_ && header()->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) free_node(n_);
  }
  ctx_node* get() const noexcept { return n_; }

 private:
  node_header* header() const noexcept { return reinterpret_cast<node_header*>(n_); }
  ctx_node* n_ = nullptr;
};

// type_tag<T>'s address names T for value(): one per type in the program.
template <class T>
inline constexpr char type_tag = 0;

// with_value's node holds a heap copy of the value, destroyed with the node.
node_ref new_value_node(const node_ref& parent, const void* key, const void* type, void* value,
                        void (*destroy)(void*) noexcept);
// lookup_value: the nearest value node for key above n (nullptr: none),
// and its value if its type is `type`.
const void* lookup_value(const ctx_node* n, const void* key, const void* type) noexcept;

}  // namespace detail

// Context: Go's context.Context, a handle shared by copies. A
// default-constructed Context is background().
class Context {
 public:
  Context() noexcept = default;

  // Closed on cancellation; the nil channel for background() and todo()
  // (and for a with_value chain over them). Made on first call.
  chan<std::monostate> done() const;
  // {} while live; then errc::canceled or errc::deadline_exceeded.
  std::error_code err() const noexcept;
  // context.Cause: nullptr while live; then the cause given to
  // with_cancel_cause's function, else err() as a std::system_error.
  std::exception_ptr cause() const;
  // The earliest deadline of this context and its ancestors, if any.
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept;
  // The value with_value stored under key in the nearest ancestor holding
  // key, or nullptr (no such ancestor, or its value is not a T).
  template <class T>
  const T* value(const void* key) const noexcept {
    return static_cast<const T*>(detail::lookup_value(n_.get(), key, &detail::type_tag<std::remove_cvref_t<T>>));
  }

 private:
  friend struct access;
  explicit Context(detail::node_ref n) noexcept : n_(std::move(n)) {}
  detail::node_ref n_;  // nullptr: background
};

// CancelFunc: cancels its context with errc::canceled (if still live),
// stops its timer and unlinks it from its parent. Idempotent.
using CancelFunc = std::function<void()>;
// CancelCauseFunc: the same, recording cause (nullptr: err()) for cause().
using CancelCauseFunc = std::function<void(std::exception_ptr cause)>;

// The empty context: never cancelled, no deadline, no values.
Context background() noexcept;
// The same, for code not yet decided which context to take (Go's TODO).
Context todo() noexcept;

std::pair<Context, CancelFunc> with_cancel(Context parent);
std::pair<Context, CancelCauseFunc> with_cancel_cause(Context parent);
// with_deadline(parent, now() + d). Both also take any unit, saturated to
// nanoseconds' range (gort/detail/chrono.hpp), as now() + d is.
std::pair<Context, CancelFunc> with_timeout(Context parent, std::chrono::nanoseconds d);
std::pair<Context, CancelFunc> with_deadline(Context parent, std::chrono::steady_clock::time_point t);
template <class Rep, class Period>
std::pair<Context, CancelFunc> with_timeout(Context parent, std::chrono::duration<Rep, Period> d) {
  return with_timeout(std::move(parent), gort::detail::saturating_ns(d));
}
template <class D>
std::pair<Context, CancelFunc> with_deadline(Context parent, std::chrono::time_point<std::chrono::steady_clock, D> t) {
  return with_deadline(std::move(parent), gort::detail::saturating_time(t));
}

// A child of parent carrying value under key (compared as an address; use
// the address of a variable of your own, as Go's unexported key types).
template <class T>
Context with_value(Context parent, const void* key, T value);

// context.AfterFunc: runs f in its own goroutine once ctx is done (at once
// if it is already). stop() unhooks f: true if it stopped f from running,
// false if f has started (or stop was called before).
std::function<bool()> after_func(Context ctx, std::function<void()> f);

// ---- implementation ----

struct access {
  static const detail::node_ref& node(const Context& c) noexcept { return c.n_; }
  static Context make(detail::node_ref n) noexcept { return Context(std::move(n)); }
};

template <class T>
Context with_value(Context parent, const void* key, T value) {
  using V = std::remove_cvref_t<T>;
  V* v = new V(std::move(value));
  try {
    return access::make(detail::new_value_node(
        access::node(parent), key, &detail::type_tag<V>, v, +[](void* p) noexcept { delete static_cast<V*>(p); }));
  } catch (...) {
    delete v;
    throw;
  }
}

}  // namespace gort::context
