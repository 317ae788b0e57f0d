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
// A case refers to a channel passed as an lvalue, which must outlive the
// case (as `inputs` above), and holds one passed as a temporary, such as
// gort::after(1s). Both forms lower to the runtime's selectgo
// (src/runtime/select.cpp), as a Go select statement does; one channel case
// and a default is a non-blocking send or receive, whose "nothing ready"
// needs no lock (Go's selectnbsend/selectnbrecv). A select written out
// with two cases and no default first tries them here, in random order, as
// such non-blocking operations (selectgo's pass 0, select_try below), and
// enters selectgo only if neither was ready.
#pragma once

#include <concepts>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
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
// tried: the caller has done pass 0 (select_try), which selectgo skips.
int selectgo(scase* const* cases, int n, bool* recv_ok, bool tried = false);

// select_coin: 0 or 1, each with probability 1/2, from the calling M's
// generator (Go's cheaprand), the poll order of two cases; -1 on a thread
// with no M yet.
int select_coin() noexcept;

struct noop {
  template <class... A>
  void operator()(A&&...) const noexcept {}
};

// chan_hold: what a case keeps of its channel. A temporary (Owned) is held,
// so that case_recv(gort::after(1s)) works; an lvalue is only referred to,
// through scase::c: the caller's handle outlives the select, and the case
// does not touch its reference count, a cache line that every goroutine
// selecting on a shared channel would otherwise write.
template <class T, bool Owned>
struct chan_hold {
  explicit chan_hold(const chan<T>&) noexcept {}
};
template <class T>
struct chan_hold<T, true> {
  explicit chan_hold(chan<T>&& ch) noexcept : ch(std::move(ch)) {}
  chan<T> ch;
};

template <class T, class F, bool Owned>
class recv_case final : public scase {
 public:
  template <class Ch>
  recv_case(Ch&& ch, F fn) : scase(chan_core(ch), kind::recv), hold_(std::forward<Ch>(ch)), fn_(std::move(fn)) {
    elem = &slot_.v;
  }
  recv_case(recv_case&& o) : scase(o.c, kind::recv), hold_(std::move(o.hold_)), fn_(std::move(o.fn_)) {
    elem = &slot_.v;
  }
  void complete(bool ok) override {
    if (!ok) return fn_(std::optional<T>());
    std::optional<T> v(std::move(slot_.v));
    slot_.v.~T();
    fn_(std::move(v));
  }
  // try_now: the case as a non-blocking receive; true if it was chosen.
  bool try_now() {
    const recv_status st = selectnbrecv(c, elem, "gort::select");
    if (st == recv_status::not_ready) return false;
    complete(st == recv_status::received);
    return true;
  }

 private:
  [[no_unique_address]] chan_hold<T, Owned> hold_;
  F fn_;
  slot<T> slot_;
};

template <class T, class F, bool Owned>
class send_case final : public scase {
 public:
  template <class Ch>
  send_case(Ch&& ch, T v, F fn)
      : scase(chan_core(ch), kind::send), hold_(std::forward<Ch>(ch)), v_(std::move(v)), fn_(std::move(fn)) {
    elem = &v_;
  }
  send_case(send_case&& o)
      : scase(o.c, kind::send), hold_(std::move(o.hold_)), v_(std::move(o.v_)), fn_(std::move(o.fn_)) {
    elem = &v_;
  }
  void complete(bool) override { fn_(); }
  // try_now: the case as a non-blocking send; true if it was chosen.
  bool try_now() {
    if (!selectnbsend(c, elem, "gort::select")) return false;
    fn_();
    return true;
  }

 private:
  [[no_unique_address]] chan_hold<T, Owned> hold_;
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

// selectnb: a select of one channel case and a default, known at compile
// time, is a non-blocking send or receive (Go's compiler turns it into
// selectnbsend / selectnbrecv): no selectgo, and a "nothing ready" that
// costs a few loads (chan.cpp). i is the channel case's index.
template <class C, class D>
int selectnb(C& cas, int i, D& deflt) {
  if (cas.try_now()) return i;
  deflt.complete(false);
  return 1 - i;
}

// select_try is selectgo's pass 0 (select.cpp) for a select of two cases
// written out without a default, done before any runtime entry: each case
// in poll order as a non-blocking operation, whose "not ready" costs a few
// loads and whose success enters the runtime once, for that case alone.
// Returns the index of the case it performed, -1 if neither was ready
// (selectgo then goes on from pass 1), or -2 on a thread with no M yet
// (selectgo does it all).
template <class A, class B>
int select_try(A& a, B& b) {
  const int first = select_coin();
  if (first < 0) return -2;
  const auto try_case = [&](int i) { return i == 0 ? a.try_now() : b.try_now(); };
  if (try_case(first)) return first;
  return try_case(1 - first) ? 1 - first : -1;
}

}  // namespace detail

// Cases. A case refers to an lvalue channel (which must outlive the select)
// and holds a temporary one, so temporaries work: case_recv(gort::after(1s)).
template <class T, class F = detail::noop>
auto case_recv(const chan<T>& ch, F&& on_value = {}) {  // F: void(std::optional<T>)
  static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>>,
                "gort::case_recv: the callback must take std::optional<T>");
  return detail::recv_case<T, std::decay_t<F>, false>(ch, std::forward<F>(on_value));
}
template <class T, class F = detail::noop>
auto case_recv(chan<T>&& ch, F&& on_value = {}) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>>,
                "gort::case_recv: the callback must take std::optional<T>");
  return detail::recv_case<T, std::decay_t<F>, true>(std::move(ch), std::forward<F>(on_value));
}

template <class T, class F = detail::noop>
auto case_send(const chan<T>& ch, std::type_identity_t<T> v, F&& on_sent = {}) {  // F: void()
  static_assert(std::is_invocable_v<std::decay_t<F>&>, "gort::case_send: the callback takes no arguments");
  return detail::send_case<T, std::decay_t<F>, false>(ch, std::move(v), std::forward<F>(on_sent));
}
template <class T, class F = detail::noop>
auto case_send(chan<T>&& ch, std::type_identity_t<T> v, F&& on_sent = {}) {
  static_assert(std::is_invocable_v<std::decay_t<F>&>, "gort::case_send: the callback takes no arguments");
  return detail::send_case<T, std::decay_t<F>, true>(std::move(ch), std::move(v), std::forward<F>(on_sent));
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
  constexpr int ndefault = (std::remove_cvref_t<Cases>::is_default + ... + 0);
  static_assert(ndefault <= 1, "gort::select: at most one case_default");
  if constexpr (sizeof...(Cases) == 2 && ndefault == 1) {
    auto&& [a, b] = std::forward_as_tuple(cases...);
    if constexpr (std::remove_cvref_t<decltype(a)>::is_default)
      return detail::selectnb(b, 1, a);
    else
      return detail::selectnb(a, 0, b);
  }
  bool tried = false;
  if constexpr (ndefault == 0 && sizeof...(Cases) == 2) {
    const int i = detail::select_try(cases...);
    if (i >= 0) return i;
    tried = i == -1;
  }
  detail::scase* cs[sizeof...(Cases) + 1] = {&cases...};  // +1: zero cases is allowed
  bool recv_ok = false;
  const int i = detail::selectgo(cs, static_cast<int>(sizeof...(Cases)), &recv_ok, tried);
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
