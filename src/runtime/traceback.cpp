// traceback.cpp: goroutine headers and stacks in fatal reports. Go
// counterpart: traceback.go (goroutineheader, traceback, tracebackothers).
//
// Frames are symbolized with dladdr (the dynamic symbol table: gort::gort
// links programs with -rdynamic for this) and demangled. Each frame prints as
// Go prints one, the function and then, indented, where it is: here the
// module and the offset into it, which `addr2line -f -C -e <module> <offset>`
// turns into a file and line.
//
// gort: only the running goroutine's stack is printed; for the others, the
// header with their wait reason and their creator.
#include "runtime/traceback.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>

#include <cstdlib>
#include <cstring>

#include "runtime/panic.hpp"
#include "runtime/proc.hpp"

namespace gort::rt {
namespace {

const char* status_string(const g* gp) {
  switch (gp->status()) {
    case gstatus::Gidle: return "idle";
    case gstatus::Grunnable: return "runnable";
    case gstatus::Grunning: return "running";
    case gstatus::Gsyscall: return "syscall";
    case gstatus::Gwaiting: return wait_reason_string(gp->waitreason);
    case gstatus::Gdead: return "dead";
  }
  return "???";
}

}  // namespace

void print_frames(void* const* frames, int n) {
  for (int i = 0; i < n; ++i) {
    // A return address points after the call; look up the call itself.
    const auto pc = reinterpret_cast<std::uintptr_t>(frames[i]);
    Dl_info info;
    std::memset(&info, 0, sizeof info);
    dladdr(reinterpret_cast<void*>(pc - 1), &info);
    const char* name = info.dli_sname;
    char* demangled = nullptr;
    if (name) {
      int status = 0;
      demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
      if (status == 0 && demangled) name = demangled;
    }
    if (name && std::strcmp(name, "gort_goentry") == 0) {
      std::free(demangled);
      break;  // the runtime's frames below the goroutine's function
    }
    const auto base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
    if (name)
      printerr("%s%s\n", name, std::strchr(name, '(') ? "" : "(...)");
    else
      printerr("?()\n");
    printerr("\t%s +0x%zx pc=%#zx\n", info.dli_fname ? info.dli_fname : "?",
             static_cast<std::size_t>(pc - base), static_cast<std::size_t>(pc));
    std::free(demangled);
  }
}

void goroutineheader(const g* gp) {
  printerr("goroutine %llu [%s]:\n", static_cast<unsigned long long>(gp->goid), status_string(gp));
}

void traceback_current(int skip) {
  void* frames[64];
  int n = backtrace(frames, 64);
  if (n > skip) print_frames(frames + skip, n - skip);
}

void tracebackothers(const g* me) {
  for_each_g([me](g* gp) {
    if (gp == me || gp->status() == gstatus::Gdead || gp->goid == 0) return;
    printerr("\n");
    goroutineheader(gp);
    if (gp->parent_goid != 0)
      printerr("created by goroutine %llu\n", static_cast<unsigned long long>(gp->parent_goid));
  });
}

}  // namespace gort::rt
