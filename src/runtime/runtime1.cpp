// runtime1.cpp: the environment the runtime reads at start. Go counterpart:
// runtime1.go (parsedebugvars) and schedinit's GOMAXPROCS handling.
//
// GODEBUG is a comma-separated list of name=value pairs; gort knows Go's
// schedtrace=<ms>, scheddetail=1 and asyncpreemptoff=1, and of its own
// stackguard=mprotect|canary, preemptsignal=1, runnextcas=1, mspreadoff=1,
// stallreport=<ms>, sysmonoff=1 and gorttrace=<path> (as Go, other names are ignored).
// GOMAXPROCS=<n> sets the number of Ps when Config::maxprocs is 0; a value
// that is not a positive integer is ignored, as Go ignores it.
// GOTRACEBACK says how much a fatal report prints (traceback.cpp,
// settraceback), read here as Go reads it in parsedebugvars.
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "runtime/proc.hpp"
#include "runtime/traceback.hpp"

namespace gort::rt {
namespace {

// atoi32 parses a non-negative decimal int32; false if s is not one.
bool atoi32(std::string_view s, std::int32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > INT32_MAX) return false;
  out = static_cast<std::int32_t>(v);
  return true;
}

}  // namespace

void parsedebugvars() {
  settraceback(std::getenv("GOTRACEBACK"));
  debug = dbgvars{};
  const char* env = std::getenv("GODEBUG");
  if (!env) return;
  std::string_view rest(env);
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    std::string_view field = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "schedtrace")
      atoi32(value, debug.schedtrace);
    else if (key == "scheddetail")
      atoi32(value, debug.scheddetail);
    else if (key == "asyncpreemptoff")
      atoi32(value, debug.asyncpreemptoff);
    else if (key == "preemptsignal")
      atoi32(value, debug.preemptsignal);
    else if (key == "runnextcas")
      atoi32(value, debug.runnextcas);
    else if (key == "mspreadoff")
      atoi32(value, debug.mspreadoff);
    else if (key == "stallreport")
      atoi32(value, debug.stallreport);
    else if (key == "sysmonoff")
      atoi32(value, debug.sysmonoff);
    else if (key == "stackguard" && value == "mprotect")
      debug.stackguard = dbgvars::stackguard_mode::mprotect;
    else if (key == "stackguard" && value == "canary")
      debug.stackguard = dbgvars::stackguard_mode::canary;
    else if (key == "gorttrace")
      debug.gorttrace = value;
  }
}

int gomaxprocs_from_env(int ncpu) {
  const char* env = std::getenv("GOMAXPROCS");
  std::int32_t n = 0;
  if (env && atoi32(env, n) && n > 0) return n;
  return ncpu;
}

}  // namespace gort::rt

// Every program runs parsedebugvars, so every program links this object,
// and through this reference the debugger's descriptor and the gdb
// extension with it (debug_descriptor.cpp, "Linking it in").
// (Declared here rather than by including debug_descriptor.hpp at the top,
// which would move parsedebugvars off the line docs/ARCHITECTURE.md cites.)
extern "C" {
struct gort_debug_descriptor;
extern const gort_debug_descriptor gort_debug_info;
}
[[gnu::used]] static const void* const debug_descriptor_ref = &gort_debug_info;
