// asm_offsets.hpp: the layout shared by C++ and the switch in asm_*.S. Go
// counterpart: go_asm.h (generated there, written out and checked here).
//
// gobuf is what a G keeps while it is not running: only its stack pointer.
// Everything else the switch must preserve (asm_*.S says what) is pushed on
// the G's own stack as a switch_frame, at gobuf::sp.
#pragma once

#include <unwind.h>

#include <cstddef>
#include <cstdint>

namespace gort::rt {

struct gobuf {
  void* sp = nullptr;  // offset 0: the asm stores and loads it there
};
static_assert(offsetof(gobuf, sp) == 0);

#if defined(__x86_64__)
struct switch_frame {
  std::uint32_t mxcsr;
  std::uint16_t fpucw;
  std::uint16_t pad;
  void* r15;
  void* r14;
  void* r13;
  void* r12;  // a new G: its g*, passed to gort_goentry
  void* rbx;
  void* rbp;
  void* ret;  // a new G: gort_goentry_trampoline
};
static_assert(sizeof(switch_frame) == 64 && offsetof(switch_frame, r15) == 8 && offsetof(switch_frame, r12) == 32 &&
              offsetof(switch_frame, ret) == 56);
inline constexpr std::uint32_t default_mxcsr = 0x1f80;  // all exceptions masked, round to nearest
inline constexpr std::uint16_t default_fpucw = 0x037f;  // ditto, 64-bit precision
#elif defined(__aarch64__)
struct switch_frame {
  void* x19;  // a new G: its g*, passed to gort_goentry
  void* x20;
  void* x21;
  void* x22;
  void* x23;
  void* x24;
  void* x25;
  void* x26;
  void* x27;
  void* x28;
  void* x29;  // frame pointer; 0 for a new G
  void* x30;  // link register: a new G: gort_goentry_trampoline
  double d8, d9, d10, d11, d12, d13, d14, d15;
  std::uint64_t fpcr;  // a new G: 0 (IEEE defaults)
  std::uint64_t pad;
};
static_assert(sizeof(switch_frame) == 176 && offsetof(switch_frame, x29) == 80 && offsetof(switch_frame, d8) == 96 &&
              offsetof(switch_frame, fpcr) == 160);
#else
#error "gort supports x86-64 and aarch64"
#endif
static_assert(sizeof(switch_frame) % 16 == 0);

}  // namespace gort::rt

extern "C" {
// Saves the running context into *save, resumes *load. Returns when something
// switches back to *save.
void gort_gogo_switch(gort::rt::gobuf* save, gort::rt::gobuf* load);
void gort_goentry_trampoline();
void gort_goentry_landing();
// _Unwind_Backtrace(fn, arg) as if called from inside the switch that saved
// sp: it walks that context's stack (traceback.cpp).
void gort_unwind_switched(const void* sp, _Unwind_Trace_Fn fn, void* arg);
// Runs fn(arg) on the stack below sp (switch.cpp, systemstack).
void gort_systemstack(void (*fn)(void*), void* arg, void* sp);
}
