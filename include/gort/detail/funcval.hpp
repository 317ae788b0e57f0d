// gort/detail/funcval.hpp: what gort::go lowers to, as Go's compiler lowers a
// go statement to newproc(fn) with fn a funcval (code pointer plus captured
// variables). Not part of the public API.
//
// The closure (decayed f and args) is built directly in storage the runtime
// hands out: inside the new G when it fits (no allocation), else on the heap.
// newproc_reserve takes a G off the free list; newproc_commit makes it
// runnable; if building the closure throws, newproc_cancel returns the G.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

namespace gort::detail {

struct funcval_ops {
  void (*call)(void* fn);             // runs the goroutine's function
  void (*destroy)(void* fn) noexcept; // destroys the closure (not its storage)
};

struct newproc_slot {
  void* gp;       // the new G (opaque)
  void* storage;  // where to construct the closure
};

// Throws std::logic_error when not called from a goroutine.
newproc_slot newproc_reserve(std::size_t size, std::size_t align);
void newproc_cancel(newproc_slot slot) noexcept;
std::uint64_t newproc_commit(newproc_slot slot, const funcval_ops* ops, std::uintptr_t gopc) noexcept;

template <class F, class... Args>
struct closure {
  std::decay_t<F> f;
  std::tuple<std::decay_t<Args>...> args;
  static void call(void* p) {
    auto* c = static_cast<closure*>(p);
    std::apply([c](auto&... a) { std::invoke(std::move(c->f), std::move(a)...); }, c->args);
  }
  static void destroy(void* p) noexcept { static_cast<closure*>(p)->~closure(); }
  static constexpr funcval_ops ops{&call, &destroy};
};

// newproc: gopc is where the go() is, in its caller's code (gort::go).
template <class F, class... Args>
std::uint64_t newproc(std::uintptr_t gopc, F&& f, Args&&... args) {
  using C = closure<F, Args...>;
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "gort::go: f must be callable with the (decayed) arguments");
  newproc_slot slot = newproc_reserve(sizeof(C), alignof(C));
  try {
    ::new (slot.storage) C{std::forward<F>(f), {std::forward<Args>(args)...}};
  } catch (...) {
    newproc_cancel(slot);
    throw;
  }
  return newproc_commit(slot, &C::ops, gopc);
}

// entersyscall on construction, exitsyscall on destruction (gort::blocking).
struct syscall_scope {
  syscall_scope();
  // noexcept(false): on a thread calling in, run()'s end while it waits for
  // a P throws (proc.cpp, "Extra Ms").
  ~syscall_scope() noexcept(false);
  syscall_scope(const syscall_scope&) = delete;
  syscall_scope& operator=(const syscall_scope&) = delete;

 private:
  bool user_ = false;     // called from the goroutine's own code
  bool entered_ = false;  // entersyscall done here (not already without a P)
  bool foreign_ = false;  // a thread the runtime did not start: nothing to do
};

}  // namespace gort::detail
