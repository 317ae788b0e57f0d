// gort/detail/thread_annotations.hpp: Clang's thread-safety attributes
// (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html) under gort's own
// names, as abseil's thread_annotations.h. Not part of the public API.
//
// Clang checks them with -Wthread-safety: a GUARDED_BY field touched
// without its lock, a REQUIRES function called without it, a lock not
// released on every path. Other compilers see nothing (the macros expand
// to nothing). The runtime's mutex (src/runtime/lock_futex.hpp) is a
// capability, and so are gort::Mutex and gort::RWMutex, for programs that
// run the analysis on their own code.
#pragma once

#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(capability)
#define GORT_THREAD_ANNOTATION_(x) __attribute__((x))
#endif
#endif
#ifndef GORT_THREAD_ANNOTATION_
#define GORT_THREAD_ANNOTATION_(x)
#endif

// On a type: its objects are locks ("mutex" in the warnings).
#define GORT_CAPABILITY(x) GORT_THREAD_ANNOTATION_(capability(x))
// On a type: an RAII guard; its constructor acquires, its destructor releases.
#define GORT_SCOPED_CAPABILITY GORT_THREAD_ANNOTATION_(scoped_lockable)

// On a field or variable: read or written only with the lock held.
#define GORT_GUARDED_BY(x) GORT_THREAD_ANNOTATION_(guarded_by(x))
// On a pointer: what it points to is read or written only with the lock held.
#define GORT_PT_GUARDED_BY(x) GORT_THREAD_ANNOTATION_(pt_guarded_by(x))

// On a lock: the locks that must be taken before it, or after it.
#define GORT_ACQUIRED_BEFORE(...) GORT_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#define GORT_ACQUIRED_AFTER(...) GORT_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))

// On a function: the caller holds the locks (exclusively, or at least
// shared), or does not hold them.
#define GORT_REQUIRES(...) GORT_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define GORT_REQUIRES_SHARED(...) GORT_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
#define GORT_EXCLUDES(...) GORT_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))

// On a function: it takes or drops the locks (no argument: *this), and
// does not release or acquire them back before it returns.
#define GORT_ACQUIRE(...) GORT_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define GORT_ACQUIRE_SHARED(...) GORT_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))
#define GORT_RELEASE(...) GORT_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define GORT_RELEASE_SHARED(...) GORT_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
#define GORT_RELEASE_GENERIC(...) GORT_THREAD_ANNOTATION_(release_generic_capability(__VA_ARGS__))
// On a function: it takes the locks when it returns its first argument.
#define GORT_TRY_ACQUIRE(...) GORT_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#define GORT_TRY_ACQUIRE_SHARED(...) GORT_THREAD_ANNOTATION_(try_acquire_shared_capability(__VA_ARGS__))

// On a function: it checks at run time that the lock is held (fatal if
// not), so the analysis may take it as held after the call.
#define GORT_ASSERT_CAPABILITY(x) GORT_THREAD_ANNOTATION_(assert_capability(x))

// On a function: it returns the lock named.
#define GORT_RETURN_CAPABILITY(x) GORT_THREAD_ANNOTATION_(lock_returned(x))

// On a function: not analyzed. For what the analysis cannot express (a
// lock released by another context after a switch); say why at each use.
#define GORT_NO_THREAD_SAFETY_ANALYSIS GORT_THREAD_ANNOTATION_(no_thread_safety_analysis)
