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
#pragma once

#include <pthread.h>

#include <cerrno>
#include <thread>

#if defined(__clang__)
#define GORT_TEST_OPAQUE __attribute__((noinline, optnone))
#else
#define GORT_TEST_OPAQUE __attribute__((noinline, noipa))
#endif

GORT_TEST_OPAQUE inline std::thread::id opaque_thread_id() { return std::this_thread::get_id(); }
GORT_TEST_OPAQUE inline pthread_t opaque_pthread_self() { return pthread_self(); }
GORT_TEST_OPAQUE inline void opaque_set_errno(int v) { errno = v; }
