// context.cpp: Go's context package. Go counterpart: src/context/context.go
// (Go 1.21): cancelCtx, timerCtx, valueCtx, afterFuncCtx, propagateCancel,
// parentCancelCtx, removeChild, cancelCtx.cancel, WithDeadline, AfterFunc,
// Cause. The functions keep Go's names in snake_case.
//
// Nodes. A Context is a counted reference to a node (nullptr: background).
// Every node has its parent (counted), its deadline (the earliest of its
// chain's, copied at creation) and cc, the nearest cancel_ctx at or above
// it, so done(), err() and deadline() never walk the chain. Kinds:
//   value       with_value's: a key and a type-erased heap value; cc is its
//               parent's;
//   cancel      with_cancel's: Go's cancelCtx; cc is itself;
//   timer       with_deadline's: a cancel_ctx with a runtime timer (an
//               after_func Timer) that cancels it with deadline_exceeded;
//   after_func  context.AfterFunc's: a cancel_ctx nobody holds as a
//               Context; being cancelled starts its f in a goroutine.
// The tree's shape is Go's: a cancel_ctx registers with the nearest
// cancel_ctx above it (parent_cancel_ctx, which is simply parent->cc: a
// C++ Context has no user implementations whose Done Go must watch with a
// goroutine) in propagate_cancel, which cancels it at once if that one is
// already cancelled.
//
// Children. A cancel_ctx's children form an intrusive doubly linked list
// (children, prev_sib, next_sib): linking and unlinking are O(1) and
// allocate nothing, where Go keeps a map. The list holds a reference to
// each child, and the child holds one to its parent: the cycle is broken
// when either is cancelled (the parent's cancel takes its children off the
// list; a child's CancelFunc unlinks it, Go's removeChild). A child never
// cancelled nor unlinked lives as long as its parent, as in Go, where the
// parent's map keeps it.
//
// Cancelling (Go's cancelCtx.cancel), cancel_one on each node: under its
// mu, if err is unset, record err and cause, close done if it was made,
// stop the timer, and detach all children, marking each unlinked. The
// detached children are then cancelled the same way after mu is released,
// through a worklist threaded through their next_sib (free once they are
// off the list), so a cancellation allocates nothing and its depth is not
// bounded by a goroutine's stack, where Go recurses holding every lock
// down the path. The consequence: cancel() returns once every descendant
// is cancelled, except for a subtree another canceller got to first and is
// still working through (Go's caller would wait for that subtree's lock).
//
// Invariants:
//   I1  err goes from 0 to canceled or deadline_exceeded once, under mu,
//       before done is closed; it never changes again.
//   I2  A child is on its registered parent's list iff linked; both are
//       changed under that parent's mu only. A cancelled cancel_ctx's list is
//       empty and stays so (propagate_cancel checks err under the same mu).
//   I3  done, once made, is never replaced; it is closed iff err is set
//       (done_chan closes one it makes after err was set).
//   I4  registered is written before the node is published and never
//       changes; it is an ancestor, kept alive by the parent chain.
//
// Locking. cancel_ctx::mu (gort::Mutex: parks the goroutine, as Go's
// sync.Mutex) guards err's writes, cause, children, the timer and done's
// creation; a child's prev_sib, next_sib and linked are guarded by its
// registered parent's mu. err and done are atomics read without the lock
// (acquire, pairing with the release stores under mu); under mu they are
// read relaxed, since mu orders them against their writers. Lock order: a
// parent's mu before a child's is never needed: no code holds two.
// Anything that may drop a node's last reference (destroying a Timer,
// whose function holds one) runs after mu is released.
//
// gort: the done channel of a context cancelled before anyone asked for
// it is made and closed when first asked for (Go hands out one shared
// closed channel); a node's memory goes with its last reference.
#include "gort/context.hpp"
#include "context/export_test.hpp"
#include "context/pool.hpp"

#include <optional>
#include <string>

#include "gort/sync.hpp"
#include "gort/time.hpp"

namespace gort::context {

namespace detail {

using steady = std::chrono::steady_clock;

enum class kind : std::uint8_t { value, cancel, timer, after_func };

struct cancel_ctx;

struct ctx_node : node_header {
  kind k;
  bool has_deadline = false;
  ctx_node* parent = nullptr;      // counted; nullptr: background
  cancel_ctx* cc = nullptr;        // nearest cancel_ctx at or above (parent_cancel_ctx of a child)
  steady::time_point deadline{};   // valid if has_deadline
  explicit ctx_node(kind k) : k(k) {}
};

struct value_ctx : ctx_node {
  const void* key = nullptr;
  const void* type = nullptr;
  void* val = nullptr;
  void (*destroy)(void*) noexcept = nullptr;
  value_ctx() : ctx_node(kind::value) {}
  ~value_ctx() {
    if (val) destroy(val);
  }
};

// Plain cancel_ctxs, the most common node, come from a block_pool
// (pooled, pool.hpp); the bigger kinds derived from it from operator new.
struct cancel_ctx : ctx_node, pooled<cancel_ctx> {
  Mutex mu;
  std::atomic<std::uint8_t> err{0};                 // errc; written under mu (release)
  std::atomic<gort::detail::hchan*> done{nullptr};  // one reference, ours; made under mu
  std::exception_ptr cause;                         // guarded by mu; nullptr: err itself
  cancel_ctx* children = nullptr;                   // guarded by mu; each holds a reference
  cancel_ctx* registered = nullptr;                 // the cancel_ctx whose list we join (I4)
  cancel_ctx* prev_sib = nullptr;                   // guarded by registered->mu
  cancel_ctx* next_sib = nullptr;                   // guarded by registered->mu; the worklist once detached
  bool linked = false;                              // guarded by registered->mu (I2)
  explicit cancel_ctx(kind k = kind::cancel) : ctx_node(k) { cc = this; }
  ~cancel_ctx() {
    if (gort::detail::hchan* d = done.load(std::memory_order_relaxed))
      if (gort::detail::header(d)->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) gort::detail::freechan(d);
  }
};

struct timer_ctx : cancel_ctx {
  std::optional<Timer> timer;  // guarded by mu; armed while the deadline is ahead
  timer_ctx() : cancel_ctx(kind::timer) {}
};

struct after_func_ctx : cancel_ctx {
  std::atomic<bool> once{false};  // Go's once: the first of cancel and stop wins
  std::function<void()> f;
  after_func_ctx() : cancel_ctx(kind::after_func) {}
};

// References to nodes, and a node's to its done channel, count as chan's do
// (gort/chan.hpp): an increment is made from a live reference and needs no
// order; a decrement is acq_rel, so the last one, which frees, sees every
// other holder's writes. free_node's and ~cancel_ctx's decrements too; the
// destructor's relaxed load of done is ordered by the node's last decrement.
inline void retain(ctx_node* n) noexcept { n->refs.fetch_add(1, std::memory_order_relaxed); }
inline void release(ctx_node* n) noexcept {
  if (n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) free_node(n);
}

}  // namespace detail

namespace {

using namespace detail;

// ---- errors ----

class context_category : public std::error_category {
 public:
  const char* name() const noexcept override { return "context"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::canceled:
        return "context canceled";
      case errc::deadline_exceeded:
        return "context deadline exceeded";
    }
    return "context error " + std::to_string(ev);
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    // So that err() == std::errc::operation_canceled / timed_out also holds.
    switch (static_cast<errc>(ev)) {
      case errc::canceled:
        return std::errc::operation_canceled;
      case errc::deadline_exceeded:
        return std::errc::timed_out;
    }
    return {ev, *this};
  }
};

const context_category the_category;

std::exception_ptr err_exception(errc e) { return std::make_exception_ptr(std::system_error(make_error_code(e))); }

// ---- cancellation ----

// cancel_one: cancelCtx.cancel for one node, removeFromParent false. If c
// was live: records err and cause, closes done, stops the timer, starts an
// after_func's f, and pushes c's children (with their list references) on
// the worklist *work. Requires a reference to c held by the caller.
void cancel_one(cancel_ctx* c, errc err, const std::exception_ptr& cause, cancel_ctx** work) {
  std::optional<Timer> dead_timer;  // destroyed after mu: its function holds a reference to c
  std::function<void()> f;
  {
    std::lock_guard<Mutex> l(c->mu);
    if (c->err.load(std::memory_order_relaxed) != 0) return;  // already cancelled (I1)
    c->cause = cause;
    c->err.store(static_cast<std::uint8_t>(err), std::memory_order_release);  // pairs with err()'s acquire
    if (gort::detail::hchan* d = c->done.load(std::memory_order_relaxed)) gort::detail::closechan(d);
    // Detach the children: each is off the list (I2), and its next_sib is
    // now ours, the worklist's link.
    cancel_ctx* ch = c->children;
    c->children = nullptr;
    while (ch != nullptr) {
      cancel_ctx* next = ch->next_sib;
      ch->linked = false;
      ch->prev_sib = nullptr;
      ch->next_sib = *work;
      *work = ch;
      ch = next;
    }
    if (c->k == kind::timer) {
      auto* t = static_cast<timer_ctx*>(c);
      if (t->timer) {
        t->timer->stop();
        dead_timer.emplace(std::move(*t->timer));
        t->timer.reset();
      }
    } else if (c->k == kind::after_func) {
      auto* a = static_cast<after_func_ctx*>(c);
      // once only elects the first of cancel and stop; f is touched under mu
      // alone, so acq_rel is more than the election needs.
      if (!a->once.exchange(true, std::memory_order_acq_rel)) f = std::move(a->f);
    }
  }
  if (f) gort::go(std::move(f));  // Go: a.once.Do(func() { go a.f() })
}

// remove_child: Go's removeChild: takes c off its registered parent's list
// and drops the list's reference. Requires a reference to c held by the
// caller.
void remove_child(cancel_ctx* c) {
  cancel_ctx* p = c->registered;
  if (p == nullptr) return;
  bool was_linked;
  {
    std::lock_guard<Mutex> l(p->mu);
    was_linked = c->linked;
    if (was_linked) {
      if (c->prev_sib != nullptr)
        c->prev_sib->next_sib = c->next_sib;
      else
        p->children = c->next_sib;
      if (c->next_sib != nullptr) c->next_sib->prev_sib = c->prev_sib;
      c->prev_sib = c->next_sib = nullptr;
      c->linked = false;
    }
  }
  if (was_linked) release(c);
}

// cancel: cancelCtx.cancel (and timerCtx's, afterFuncCtx's): cancels c and
// every descendant it still has; remove_from_parent also unlinks c from
// its parent (a CancelFunc, a timer's firing). Requires a reference to c
// held by the caller.
void cancel(cancel_ctx* c, bool remove_from_parent, errc err, const std::exception_ptr& cause) {
  cancel_ctx* work = nullptr;
  cancel_one(c, err, cause, &work);
  if (remove_from_parent) remove_child(c);
  while (work != nullptr) {
    cancel_ctx* x = work;
    work = x->next_sib;
    x->next_sib = nullptr;
    cancel_one(x, err, cause, &work);
    release(x);  // the list's reference, which the worklist carried
  }
}

// propagate_cancel: Go's propagateCancel: arranges for child to be
// cancelled when parent is. Before child is published.
void propagate_cancel(ctx_node* parent, cancel_ctx* child) {
  cancel_ctx* p = parent != nullptr ? parent->cc : nullptr;  // parent_cancel_ctx
  if (p == nullptr) return;                                   // background: never cancelled
  errc perr{};
  std::exception_ptr pcause;
  {
    std::lock_guard<Mutex> l(p->mu);
    if (const std::uint8_t e = p->err.load(std::memory_order_relaxed); e != 0) {
      perr = static_cast<errc>(e);
      pcause = p->cause;
    } else {
      child->registered = p;
      child->linked = true;
      child->prev_sib = nullptr;
      child->next_sib = p->children;
      if (p->children != nullptr) p->children->prev_sib = child;
      p->children = child;
      retain(child);  // the list's reference
      return;
    }
  }
  cancel(child, false, perr, pcause);  // the parent is already cancelled
}

// init_node: what every node takes from its parent.
void init_node(ctx_node* n, const node_ref& parent) {
  ctx_node* p = parent.get();
  n->parent = p;
  if (p == nullptr) return;
  retain(p);
  n->has_deadline = p->has_deadline;
  n->deadline = p->deadline;
  if (n->k == kind::value) n->cc = p->cc;
}

// cancel_fn: a CancelFunc's target. It holds a reference, so it is not
// trivially copyable and std::function keeps it on the heap: from a
// block_pool (pooled).
struct cancel_fn : pooled<cancel_fn> {
  node_ref r;
  void operator()() const { cancel(static_cast<cancel_ctx*>(r.get()), true, errc::canceled, nullptr); }
};

CancelFunc cancel_func(node_ref r) { return cancel_fn{{}, std::move(r)}; }

}  // namespace

const std::error_category& category() noexcept { return the_category; }

namespace detail {

// free_node: the last reference went. Frees n and, iteratively, every
// ancestor whose last reference was n's (a long chain must not recurse).
void free_node(ctx_node* n) noexcept {
  while (n != nullptr) {
    ctx_node* parent = n->parent;
    switch (n->k) {
      case kind::value:
        delete static_cast<value_ctx*>(n);
        break;
      case kind::cancel:
        delete static_cast<cancel_ctx*>(n);
        break;
      case kind::timer:
        delete static_cast<timer_ctx*>(n);
        break;
      case kind::after_func:
        delete static_cast<after_func_ctx*>(n);
        break;
    }
    n = (parent != nullptr && parent->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) ? parent : nullptr;
  }
}

node_ref new_value_node(const node_ref& parent, const void* key, const void* type, void* value,
                        void (*destroy)(void*) noexcept) {
  auto* v = new value_ctx;  // may throw: value is still the caller's
  init_node(v, parent);
  v->key = key;
  v->type = type;
  v->val = value;
  v->destroy = destroy;
  return node_ref(v);
}

const void* lookup_value(const ctx_node* n, const void* key, const void* type) noexcept {
  for (; n != nullptr; n = n->parent) {
    if (n->k != kind::value) continue;
    const auto* v = static_cast<const value_ctx*>(n);
    if (v->key == key) return v->type == type ? v->val : nullptr;
  }
  return nullptr;
}

}  // namespace detail

// ---- Context ----

chan<std::monostate> Context::done() const {
  cancel_ctx* c = n_.get() != nullptr ? n_.get()->cc : nullptr;
  if (c == nullptr) return {};  // background: the nil channel
  gort::detail::hchan* d = c->done.load(std::memory_order_acquire);  // pairs with the release below
  if (d == nullptr) {
    std::lock_guard<Mutex> l(c->mu);
    d = c->done.load(std::memory_order_relaxed);
    if (d == nullptr) {
      chan<std::monostate> ch = make_chan<std::monostate>();
      d = gort::detail::chan_core(ch);
      gort::detail::header(d)->refs.fetch_add(1, std::memory_order_relaxed);  // the node's
      if (c->err.load(std::memory_order_relaxed) != 0) gort::detail::closechan(d);  // I3
      c->done.store(d, std::memory_order_release);
      return ch;
    }
  }
  gort::detail::header(d)->refs.fetch_add(1, std::memory_order_relaxed);  // the node keeps one meanwhile
  return gort::detail::adopt_chan<std::monostate>(d);
}

std::error_code Context::err() const noexcept {
  const cancel_ctx* c = n_.get() != nullptr ? n_.get()->cc : nullptr;
  if (c == nullptr) return {};
  const std::uint8_t e = c->err.load(std::memory_order_acquire);  // pairs with cancel_one's release
  return e == 0 ? std::error_code() : make_error_code(static_cast<errc>(e));
}

std::exception_ptr Context::cause() const {
  cancel_ctx* c = n_.get() != nullptr ? n_.get()->cc : nullptr;
  if (c == nullptr) return nullptr;
  errc e;
  {
    std::lock_guard<Mutex> l(c->mu);
    const std::uint8_t v = c->err.load(std::memory_order_relaxed);
    if (v == 0) return nullptr;
    if (c->cause) return c->cause;
    e = static_cast<errc>(v);
  }
  return err_exception(e);
}

std::optional<std::chrono::steady_clock::time_point> Context::deadline() const noexcept {
  const ctx_node* n = n_.get();
  if (n == nullptr || !n->has_deadline) return std::nullopt;
  return n->deadline;
}

// ---- constructors ----

Context background() noexcept { return {}; }
Context todo() noexcept { return {}; }

std::pair<Context, CancelFunc> with_cancel(Context parent) {
  auto* c = new cancel_ctx;
  node_ref r(c);
  init_node(c, access::node(parent));
  propagate_cancel(c->parent, c);
  return {access::make(r), cancel_func(r)};
}

std::pair<Context, CancelCauseFunc> with_cancel_cause(Context parent) {
  auto* c = new cancel_ctx;
  node_ref r(c);
  init_node(c, access::node(parent));
  propagate_cancel(c->parent, c);
  CancelCauseFunc f = [r](std::exception_ptr cause) {
    cancel(static_cast<cancel_ctx*>(r.get()), true, errc::canceled, cause);
  };
  return {access::make(r), std::move(f)};
}

std::pair<Context, CancelFunc> with_timeout(Context parent, std::chrono::nanoseconds d) {
  // now + d saturates rather than overflowing for a huge d.
  const auto now = steady::now();
  const auto limit = steady::time_point::max() - now;
  const steady::time_point t =
      d >= limit ? steady::time_point::max() : now + std::chrono::duration_cast<steady::duration>(d);
  return with_deadline(std::move(parent), t);
}

std::pair<Context, CancelFunc> with_deadline(Context parent, std::chrono::steady_clock::time_point t) {
  const ctx_node* p = access::node(parent).get();
  if (p != nullptr && p->has_deadline && p->deadline < t)
    return with_cancel(std::move(parent));  // the parent's is sooner
  auto* c = new timer_ctx;
  node_ref r(c);
  init_node(c, access::node(parent));
  c->has_deadline = true;
  c->deadline = t;
  propagate_cancel(c->parent, c);
  const auto now = steady::now();
  if (t <= now) {
    cancel(c, true, errc::deadline_exceeded, nullptr);  // deadline already passed
    return {access::make(r), cancel_func(r)};
  }
  {
    std::lock_guard<Mutex> l(c->mu);
    if (c->err.load(std::memory_order_relaxed) == 0)  // the parent may have cancelled c already
      c->timer.emplace(gort::after_func(
          t - now, [r] { cancel(static_cast<cancel_ctx*>(r.get()), true, errc::deadline_exceeded, nullptr); }));
  }
  return {access::make(r), cancel_func(r)};
}

std::function<bool()> after_func(Context ctx, std::function<void()> f) {
  auto* a = new after_func_ctx;
  node_ref r(a);
  init_node(a, access::node(ctx));
  a->f = std::move(f);
  propagate_cancel(a->parent, a);
  return [r = std::move(r)]() -> bool {
    auto* a = static_cast<after_func_ctx*>(r.get());
    const bool stopped = !a->once.exchange(true, std::memory_order_acq_rel);  // see cancel_one
    if (stopped) {
      cancel(a, true, errc::canceled, nullptr);
      std::function<void()> dead;
      {
        std::lock_guard<Mutex> l(a->mu);
        dead = std::move(a->f);  // f will never run: free what it holds now
      }
    }
    return stopped;
  };
}

}  // namespace gort::context

// ---- for tests (export_test.hpp) ----

namespace gort::context::detail {

std::size_t test_num_children(const Context& ctx) {
  cancel_ctx* c = access::node(ctx).get() != nullptr ? access::node(ctx).get()->cc : nullptr;
  if (c == nullptr) return 0;
  std::lock_guard<Mutex> l(c->mu);
  std::size_t n = 0;
  for (cancel_ctx* ch = c->children; ch != nullptr; ch = ch->next_sib) ++n;
  return n;
}

bool test_has_timer(const Context& ctx) {
  ctx_node* n = access::node(ctx).get();
  if (n == nullptr || n->k != kind::timer) return false;
  auto* t = static_cast<timer_ctx*>(n);
  std::lock_guard<Mutex> l(t->mu);
  return t->timer.has_value();
}

}  // namespace gort::context::detail
