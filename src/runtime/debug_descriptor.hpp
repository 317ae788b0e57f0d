// debug_descriptor.hpp: the layout a debugger reads the runtime through,
// gort_debug_info. Go counterpart: none as such; Go's runtime-gdb.py reads
// the runtime's structs by their DWARF types, by name. The design is at the
// top of debug_descriptor.cpp; the reader is gort-gdb.py.
//
// ABI: what a debugger relies on, so it changes only by appending slots at
// the end (size says how many a program has) or, if a slot's meaning
// changes, with a new version, which extensions that know only older ones
// refuse. Every slot is 8 bytes (a uint64, a pair of them, or a pointer on
// an LP64 target), so the reader needs no C layout rules: it reads the
// descriptor as an array of little-endian words.
#pragma once

#include <cstdint>

extern "C" {

// A field of a runtime struct: where it is in the struct, and how many
// bytes it takes (an unsigned integer or a pointer, native byte order).
struct gort_debug_field {
  std::uint64_t offset;
  std::uint64_t size;
};

// A register the goroutine switch saved: gdb's name for it, and where it
// is relative to the saved sp (asm_*.S, switch frame).
struct gort_debug_register {
  const char* name;
  std::uint64_t offset;
};

inline constexpr std::uint64_t gort_debug_magic = 0x6762'6474'726f'67ffull;  // "\xffgortdbg", little-endian
inline constexpr std::uint64_t gort_debug_version = 1;

struct gort_debug_descriptor {
  std::uint64_t magic;    // gort_debug_magic
  std::uint64_t version;  // gort_debug_version
  std::uint64_t size;     // sizeof(gort_debug_descriptor): slots past it are absent
  const char* arch;       // "x86_64" or "aarch64"

  // allgs (proc.hpp): the list of G regions, each a header then ngs Gs.
  const void* allgregions;  // std::atomic<gregion*>: the first region
  gort_debug_field gregion_next;
  gort_debug_field gregion_ngs;
  std::uint64_t gregion_header;  // from a region to its first G
  std::uint64_t g_size;          // from a G to the next

  // g (runtime2.hpp).
  gort_debug_field g_goid;
  gort_debug_field g_status;      // a gstatus, an index into gstatus_names
  gort_debug_field g_waitreason;  // a wait_reason, an index into wait_reasons
  gort_debug_field g_m;           // the M running it, or that last ran it
  gort_debug_field g_sched_sp;    // its saved context (switch frame), while not running
  gort_debug_field g_stk;         // its stack (a stack*), or 0 before its first run
  gort_debug_field stack_lo;      // stack: [lo, hi)
  gort_debug_field stack_hi;

  // m.
  gort_debug_field m_id;
  gort_debug_field m_procid;  // the kernel thread id (gdb's LWP)
  gort_debug_field m_curg;    // the user G it runs, 0 on g0

  // Names, the tables the runtime's own dumps print.
  const char* const* gstatus_names;  // by gstatus value; nullptr where none
  std::uint64_t ngstatus_names;
  const char* const* wait_reasons;  // by wait_reason value
  std::uint64_t nwait_reasons;

  // The switch frame at g_sched_sp: the caller of the switch resumes with
  // sp = saved sp + switch_frame_size, pc = the word at switch_pc, and
  // the callee-saved registers in switch_regs.
  std::uint64_t switch_frame_size;
  std::uint64_t switch_pc;
  const gort_debug_register* switch_regs;
  std::uint64_t nswitch_regs;
  // A G whose saved pc is this has never run: its stack holds only the
  // frame stack_prepare built.
  void (*goentry)();

  // Appended: for a core file written by the debugger from the live
  // process (gort-gdb.py's gort gcore), called with every other thread
  // stopped: 1 before the debugger writes it, 0 after. stack_gcore
  // (stack.hpp) says what it does and returns.
  int (*gcore)(int prepare);
};

// Defined in debug_descriptor.cpp; runtime1.cpp refers to it, so that every
// program linking the runtime links it too, even from the static library.
extern const gort_debug_descriptor gort_debug_info;

}  // extern "C"
