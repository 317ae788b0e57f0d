// gort/select.hpp: Go's select statement, and its run-time-built form (Go's
// reflect.Select).
//
//   int i = gort::select(
//       gort::case_recv(jobs, [&](std::optional<Job> j) { ... }),   // nullopt: closed
//       gort::case_send(results, r, [] { ... }),
//       gort::case_default([] { ... }));                             // never blocks
//
// select blocks until one case can proceed (chosen uniformly at random among
// the ready ones), performs it, runs its callback and returns its index. The
// value of a send case that is not chosen is destroyed with the case. A nil
// channel's case is never chosen; a select with no cases, or only nil
// channels and no default, blocks forever.
//
//   std::vector<gort::select_case> cases;                 // built at run time
//   for (auto& ch : inputs) cases.emplace_back(gort::case_recv(ch, on_value));
//   int i = gort::select(cases);
//
// Both forms lower to the runtime's selectgo (src/runtime/select.cpp), as a
// Go select statement does.
#pragma once

#include <concepts>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

#include "gort/chan.hpp"

namespace gort {
namespace detail {

// scase: what selectgo sees of a case. elem points into the case object:
// for a send, the value to move from; for a receive, a slot to construct the
// value in. complete() runs once selectgo has chosen the case and performed
// its operation (recv_ok: a value was received, false if closed).
struct scase {
  enum class kind : unsigned char { recv, send, deflt };
  scase(hchan* c, kind k) noexcept : c(c), k(k) {}
  scase(const scase&) = delete;
  scase& operator=(const scase&) = delete;
  virtual ~scase() = default;
  virtual void complete(bool recv_ok) = 0;
  static constexpr int is_default = 0;

  hchan* c;      // nullptr: a nil channel, or the default case
  void* elem = nullptr;
  kind k;
};

// selectgo returns the index of the case it chose and performed, after
// setting *recv_ok for a receive. cases[i]->elem must be set. Throws
// panic_error for a send case on a closed channel (Go's "send on closed
// channel") and for more than one default case.
int selectgo(scase* const* cases, int n, bool* recv_ok);

struct noop {
  template <class... A> void operator()(A&&...) const noexcept {}
};

template <class T, class F>
class recv_case final : public scase {
 public:
  recv_case(const chan<T>& ch, F fn) : scase(chan_core(ch), kind::recv), ch_(ch), fn_(std::move(fn)) {
    elem = &slot_.v;
  }
  recv_case(recv_case&& o) : scase(o.c, kind::recv), ch_(std::move(o.ch_)), fn_(std::move(o.fn_)) {
    elem = &slot_.v;
  }
  void complete(bool ok) override {
    if (!ok) return fn_(std::optional<T>());
    std::optional<T> v(std::move(slot_.v));
    slot_.v.~T();
    fn_(std::move(v));
  }

 private:
  chan<T> ch_;  // keeps the channel alive while the case exists
  F fn_;
  slot<T> slot_;
};

template <class T, class F>
class send_case final : public scase {
 public:
  send_case(const chan<T>& ch, T v, F fn)
      : scase(chan_core(ch), kind::send), ch_(ch), v_(std::move(v)), fn_(std::move(fn)) {
    elem = &v_;
  }
  send_case(send_case&& o)
      : scase(o.c, kind::send), ch_(std::move(o.ch_)), v_(std::move(o.v_)), fn_(std::move(o.fn_)) {
    elem = &v_;
  }
  void complete(bool) override { fn_(); }

 private:
  chan<T> ch_;
  T v_;  // moved from if the case is chosen; destroyed with the case
  F fn_;
};

template <class F>
class default_case final : public scase {
 public:
  static constexpr int is_default = 1;
  explicit default_case(F fn) : scase(nullptr, kind::deflt), fn_(std::move(fn)) {}
  default_case(default_case&& o) : scase(nullptr, kind::deflt), fn_(std::move(o.fn_)) {}
  void complete(bool) override { fn_(); }

 private:
  F fn_;
};

template <class C>
concept select_case_object = std::derived_from<std::remove_cvref_t<C>, scase>;

}  // namespace detail

// Cases. Each holds a copy of the channel handle, so temporaries work.
template <class T, class F = detail::noop>
auto case_recv(const chan<T>& ch, F&& on_value = {}) {  // F: void(std::optional<T>)
  static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>>,
                "gort::case_recv: the callback must take std::optional<T>");
  return detail::recv_case<T, std::decay_t<F>>(ch, std::forward<F>(on_value));
}

template <class T, class F = detail::noop>
auto case_send(const chan<T>& ch, std::type_identity_t<T> v, F&& on_sent = {}) {  // F: void()
  static_assert(std::is_invocable_v<std::decay_t<F>&>, "gort::case_send: the callback takes no arguments");
  return detail::send_case<T, std::decay_t<F>>(ch, std::move(v), std::forward<F>(on_sent));
}

template <class F = detail::noop>
auto case_default(F&& fn = {}) {  // F: void()
  static_assert(std::is_invocable_v<std::decay_t<F>&>, "gort::case_default: the callback takes no arguments");
  return detail::default_case<std::decay_t<F>>(std::forward<F>(fn));
}

// select over cases known at compile time.
template <class... Cases>
  requires(detail::select_case_object<Cases> && ...)
int select(Cases&&... cases) {
  static_assert((std::remove_cvref_t<Cases>::is_default + ... + 0) <= 1,
                "gort::select: at most one case_default");
  detail::scase* cs[sizeof...(Cases) + 1] = {&cases...};  // +1: zero cases is allowed
  bool recv_ok = false;
  const int i = detail::selectgo(cs, static_cast<int>(sizeof...(Cases)), &recv_ok);
  cs[i]->complete(recv_ok);
  return i;
}

// A case of a select built at run time: any case_recv/case_send/case_default,
// type-erased (one allocation).
class select_case {
 public:
  template <detail::select_case_object C>
    requires std::is_rvalue_reference_v<C&&>
  select_case(C&& c) : p_(std::make_unique<std::remove_cvref_t<C>>(std::move(c))) {}  // NOLINT: implicit by design
  detail::scase* get() const noexcept { return p_.get(); }

 private:
  std::unique_ptr<detail::scase> p_;
};

// select over cases built at run time (reflect.Select); the same semantics.
int select(std::span<select_case> cases);

}  // namespace gort
