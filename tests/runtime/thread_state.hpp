// thread_state.hpp: the calling thread's id and errno, for tests that
// compare them across a park or a yield.
//
// glibc declares pthread_self() and __errno_location() const, so within one
// function a compiler may read the thread's id, or compute errno's address,
// once and use it again after a call that parked the goroutine and resumed
// it on another thread. A check like
//
//   const auto tid = std::this_thread::get_id();
//   gort::yield();
//   EXPECT_EQ(std::this_thread::get_id(), tid);
//
// then compares a value with itself, and g++ compiles it to a success that
// cannot fail. These reads go through functions it can neither inline nor
// analyze. errno's read is the library's own, gort::last_errno().
//
// mover is what makes goroutines change threads in such tests.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

#include "gort/gort.hpp"

#if defined(__clang__)
#define GORT_TEST_OPAQUE __attribute__((noinline, optnone))
#else
#define GORT_TEST_OPAQUE __attribute__((noinline, noipa))
#endif

GORT_TEST_OPAQUE inline std::thread::id opaque_thread_id() { return std::this_thread::get_id(); }
GORT_TEST_OPAQUE inline pthread_t opaque_pthread_self() { return pthread_self(); }
GORT_TEST_OPAQUE inline void opaque_set_errno(int v) { errno = v; }

// mover makes goroutines change threads often. gort's yield puts a G back on
// its own P's local queue (a documented departure from Go's Gosched, which
// uses the global queue), so a G that only yields keeps its thread until its
// P runs dry, and a test of what survives migration would seldom migrate.
// hop() parks the calling G until the mover goroutine wakes it; ready() puts
// the woken G on the mover's P, often another thread's, and the P the hops
// drained steals from the others, moving Gs in the middle of their yields.
class mover {
 public:
  // start runs the mover loop in a new goroutine. From main.
  void start() {
    exited_.add(1);
    gort::go([this] {
      while (!stop_.load()) {
        std::vector<gort::WaitGroup*> ws;
        {
          std::lock_guard<std::mutex> l(mu_);
          ws.swap(waiting_);
        }
        for (gort::WaitGroup* w : ws) w->done();
        gort::yield();
      }
      exited_.done();
    });
  }
  // stop ends the mover once every hop has returned. From main.
  void stop() {
    stop_.store(true);
    exited_.wait();
  }
  // step is one switch point of a loop that moves between threads: a
  // yield, and every hop_every-th time a hop. Counts a migration if the
  // thread changed across it.
  static constexpr int hop_every = 16;
  void step(int k, std::atomic<long>& migrations) {
    const std::thread::id before = opaque_thread_id();
    if (k % hop_every == hop_every - 1)
      hop();
    else
      gort::yield();
    if (opaque_thread_id() != before) migrations.fetch_add(1, std::memory_order_relaxed);
  }
  // hop parks the calling goroutine until the mover wakes it.
  void hop() {
    gort::WaitGroup w;  // may go as soon as wait() returns (gort/sync.hpp)
    w.add(1);
    {
      std::lock_guard<std::mutex> l(mu_);
      waiting_.push_back(&w);
    }
    w.wait();
  }

 private:
  std::mutex mu_;  // guards waiting_; never held across a switch
  std::vector<gort::WaitGroup*> waiting_;
  std::atomic<bool> stop_{false};
  gort::WaitGroup exited_;
};
