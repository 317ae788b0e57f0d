// traceback.cpp: goroutine headers and stacks in fatal reports. Go
// counterpart: traceback.go (goroutineheader, traceback, tracebackothers).
//
// Each frame prints as Go prints one: the function, then, indented, where
// it is. Frames are symbolized by GCC's libbacktrace (libgcc-dev ships it with
// every g++): the function, file and line from the debug information, inlined
// calls as frames of their own, and the symbol table (local functions too)
// where there is no debug information. Built without it, gort falls back to
// dladdr: the dynamic symbol table (gort::gort links programs with -rdynamic)
// and the module offset, which `addr2line -f -C -e <module> <offset>` turns
// into a file and line.
//
// gort: only the running goroutine's stack is printed; for the others, the
// header with their wait reason and their creator.
#include "runtime/traceback.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#if defined(GORT_HAVE_LIBBACKTRACE)
#include <backtrace.h>
#endif

#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "runtime/panic.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {
namespace {

const char* status_string(const g* gp) {
  switch (gp->status()) {
    case gstatus::Gidle: return "idle";
    case gstatus::Grunnable: return "runnable";
    case gstatus::Grunning: return "running";
    case gstatus::Gsyscall:  // its P taken by signal, it still runs its own code (preempt.cpp)
      return gp->m && gp->m->in_user.load(std::memory_order_relaxed) ? "running" : "syscall";
    case gstatus::Gwaiting: return wait_reason_string(gp->waitreason);
    case gstatus::Gdead: return "dead";
  }
  return "???";
}

}  // namespace

namespace {

// demangle returns the demangled name (to free) or nullptr.
char* demangle(const char* name) {
  if (!name) return nullptr;
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  return status == 0 ? d : nullptr;
}

bool is_goentry(const char* name) { return name && std::strcmp(name, "gort_goentry") == 0; }

void print_function(const char* name) {
  char* d = demangle(name);
  const char* shown = d ? d : name ? name : "?";
  printerr("%s%s\n", shown, std::strchr(shown, '(') ? "" : "(...)");
  std::free(d);
}

// print_frame_dladdr prints pc as "function\n\tmodule +0xoffset pc=0x...".
// False at gort_goentry, the runtime's frame below the goroutine's function.
bool print_frame_dladdr(std::uintptr_t pc) {
  Dl_info info;
  std::memset(&info, 0, sizeof info);
  dladdr(reinterpret_cast<void*>(pc), &info);
  if (is_goentry(info.dli_sname)) return false;
  print_function(info.dli_sname);
  const auto base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
  printerr("\t%s +0x%zx pc=%#zx\n", info.dli_fname ? info.dli_fname : "?",
           static_cast<std::size_t>(pc - base), static_cast<std::size_t>(pc));
  return true;
}

#if defined(GORT_HAVE_LIBBACKTRACE)
backtrace_state* bt_state() {
  static backtrace_state* state =
      backtrace_create_state(nullptr, 1, [](void*, const char*, int) {}, nullptr);
  return state;
}

struct frame_ctx {
  std::uintptr_t pc;
  bool printed = false;
  bool stop = false;
};

// print_frame_libbacktrace prints pc, with a frame per inlined call. False at
// gort_goentry.
bool print_frame_libbacktrace(std::uintptr_t pc) {
  frame_ctx ctx{pc};
  backtrace_pcinfo(
      bt_state(), pc,
      [](void* data, std::uintptr_t, const char* file, int line, const char* function) -> int {
        auto* c = static_cast<frame_ctx*>(data);
        if (!function) return 0;  // no debug information here: use the symbol table
        if (is_goentry(function)) {
          c->stop = true;
          return 1;
        }
        print_function(function);
        printerr("\t%s:%d pc=%#zx\n", file ? file : "?", line, static_cast<std::size_t>(c->pc));
        c->printed = true;
        return 0;
      },
      [](void*, const char*, int) {}, &ctx);
  if (ctx.stop) return false;
  if (ctx.printed) return true;
  const char* sym = nullptr;
  backtrace_syminfo(
      bt_state(), pc,
      [](void* data, std::uintptr_t, const char* name, std::uintptr_t, std::uintptr_t) {
        *static_cast<const char**>(data) = name;
      },
      [](void*, const char*, int) {}, &sym);
  if (!sym) return print_frame_dladdr(pc);
  if (is_goentry(sym)) return false;
  print_function(sym);
  Dl_info info;
  std::memset(&info, 0, sizeof info);
  dladdr(reinterpret_cast<void*>(pc), &info);
  printerr("\t%s +0x%zx pc=%#zx\n", info.dli_fname ? info.dli_fname : "?",
           static_cast<std::size_t>(pc - reinterpret_cast<std::uintptr_t>(info.dli_fbase)),
           static_cast<std::size_t>(pc));
  return true;
}
#endif

}  // namespace

void print_frames(void* const* frames, int n) {
  for (int i = 0; i < n; ++i) {
    // A return address points after the call; look up the call itself.
    const auto pc = reinterpret_cast<std::uintptr_t>(frames[i]) - 1;
#if defined(GORT_HAVE_LIBBACKTRACE)
    if (!print_frame_libbacktrace(pc)) break;
#else
    if (!print_frame_dladdr(pc)) break;
#endif
  }
}

void goroutineheader(const g* gp, bool current) {
  printerr("goroutine %llu [%s]:\n", static_cast<unsigned long long>(gp->goid),
           current ? "running" : status_string(gp));
}

void traceback_current(int skip) {
  void* frames[64];
  int n = backtrace(frames, 64);
  if (n > skip) print_frames(frames + skip, n - skip);
}

void tracebackothers(const g* me) {
  // Without allglock, which a frozen M may hold (malg appends under it).
  for_each_g([me](const g* gp) {
    if (gp == me || gp->status() == gstatus::Gdead || gp->goid == 0) return;
    printerr("\n");
    goroutineheader(gp);
    if (gp->parent_goid != 0)
      printerr("created by goroutine %llu\n", static_cast<unsigned long long>(gp->parent_goid));
  });
}

}  // namespace gort::rt
