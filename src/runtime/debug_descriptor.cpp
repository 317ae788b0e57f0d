// debug_descriptor.cpp: what a debugger needs to find the goroutines, in one
// versioned descriptor, gort_debug_info, and the gdb extension that reads
// it (gort-gdb.py), embedded in the program for gdb to load. Go counterpart:
// runtime-gdb.py and the linker's .debug_gdb_scripts entry naming it
// (cmd/link, dwarf.go); docs/DEBUGGING.md, "In gdb", shows a session.
//
// Why a descriptor and not the debug information. Go's runtime-gdb.py
// reads runtime.g, runtime.allgs and friends through their DWARF types, so
// it needs the runtime's debug information, and breaks when a field is
// renamed or retyped. gort's structs change freely (the G's layout is tuned
// by cache line, runtime2.hpp), and programs are often built without -g, or
// the library's debug information is not in the program at all. So the
// runtime says itself where things are: gort_debug_info is a constant
// table of offsets and sizes (offsetof and sizeof, so it cannot drift from
// the structs), the address of allgs, the switch frame's layout, and the
// name tables the runtime's own dumps print (the extension prints the same
// strings and duplicates none). The extension needs one symbol, this one,
// from the symbol table (the program is linked with -rdynamic, so it is in
// the dynamic one too), and reads memory only: it works on a live process
// and on a core file alike. Its one call into the program is gort gcore's,
// on a live process: gdb's gcore cannot write the goroutine stacks as the
// runtime lays them out, and the descriptor's gcore slot readies them for
// it (stack_gcore, stack.hpp).
//
// The contract (debug_descriptor.hpp): a version, bumped when the meaning
// of a slot changes, and a size, which grows when slots are appended; an
// extension reads the slots it knows and checks the version it was written
// for. So the structs may change as they like, the descriptor follows them
// at compile time, and an older extension keeps working.
//
// What the extension reads, and why that is safe to read from a stopped
// process (Go's tracebackothers reads the same, racily, from a running
// one: traceback.cpp): the G regions of allgs, linked and counted with
// release stores, each G's status, goid, wait reason and M, its stack
// bounds, and for a G that is not running, the switch frame at its saved
// sp, which holds the pc and callee-saved registers its caller resumes
// with (asm_*.S). The debugger stops every thread wherever it is, so
// nothing moves while it reads; a G caught in the middle of a switch (its
// status already Gwaiting, its sp not yet saved) shows a stale context, as
// in a runtime dump.
//
// How gdb finds the extension. The linker merges every .debug_gdb_scripts
// section into the program (or into libgort.so, built shared), and gdb
// reads that section when it loads the file (for a live process or with a
// core file) and runs the scripts it names, if the file's path is in gdb's
// auto-load safe-path. Go's entry names runtime-gdb.py by its path in
// GOROOT (type 1, a file); gort's holds the script itself (type 4, an
// inline Python script: a name line, then the text), so the program carries
// the extension that matches its runtime, however and wherever it was
// linked. The section is not loaded at run
// time. The same file is installed as share/gort/gdb/gort-gdb.py for a
// stripped program (strip removes .debug_* sections): source it by hand.
//
// Linking it in. From the static library the linker takes only the objects
// that something refers to: runtime1.cpp, which every program links
// (schedinit reads the debug settings there), refers to gort_debug_info,
// and this object brings the section with it.
#include "runtime/debug_descriptor.hpp"

#include <cerrno>
#include <cstddef>
#include <iterator>

#include "runtime/asm_offsets.hpp"
#include "runtime/proc.hpp"
#include "runtime/runtime2.hpp"
#include "runtime/stack.hpp"

static_assert(sizeof(void*) == 8, "the descriptor's slots are 8 bytes");
static_assert(sizeof(gort_debug_field) == 16 && sizeof(gort_debug_register) == 16);
static_assert(sizeof(gort_debug_descriptor) % 8 == 0);

namespace gort::rt {
namespace {

// field names a member of a struct as the descriptor gives it. m holds a
// std::thread and g atomics: offsetof on them is conditionally supported
// (not standard-layout in the standard's terms), and GCC and Clang give
// the member's offset, which is what is wanted.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
#define GORT_FIELD(type, member) \
  gort_debug_field { offsetof(type, member), sizeof(static_cast<type*>(nullptr)->member) }

#if defined(__x86_64__)
constexpr const char* arch = "x86_64";
constexpr gort_debug_register switch_regs[] = {
    {"r15", offsetof(switch_frame, r15)}, {"r14", offsetof(switch_frame, r14)}, {"r13", offsetof(switch_frame, r13)},
    {"r12", offsetof(switch_frame, r12)}, {"rbx", offsetof(switch_frame, rbx)}, {"rbp", offsetof(switch_frame, rbp)},
};
constexpr std::uint64_t switch_pc = offsetof(switch_frame, ret);
#elif defined(__aarch64__)
constexpr const char* arch = "aarch64";
constexpr gort_debug_register switch_regs[] = {
    {"x19", offsetof(switch_frame, x19)}, {"x20", offsetof(switch_frame, x20)}, {"x21", offsetof(switch_frame, x21)},
    {"x22", offsetof(switch_frame, x22)}, {"x23", offsetof(switch_frame, x23)}, {"x24", offsetof(switch_frame, x24)},
    {"x25", offsetof(switch_frame, x25)}, {"x26", offsetof(switch_frame, x26)}, {"x27", offsetof(switch_frame, x27)},
    {"x28", offsetof(switch_frame, x28)}, {"x29", offsetof(switch_frame, x29)}, {"x30", offsetof(switch_frame, x30)},
    {"d8", offsetof(switch_frame, d8)},   {"d9", offsetof(switch_frame, d9)},   {"d10", offsetof(switch_frame, d10)},
    {"d11", offsetof(switch_frame, d11)}, {"d12", offsetof(switch_frame, d12)}, {"d13", offsetof(switch_frame, d13)},
    {"d14", offsetof(switch_frame, d14)}, {"d15", offsetof(switch_frame, d15)},
};
constexpr std::uint64_t switch_pc = offsetof(switch_frame, x30);  // the switch returns to its lr
#endif

// debug_gcore runs on whatever thread the debugger stopped: its errno is
// the interrupted code's, which may be about to read it.
int debug_gcore(int prepare) {
  const int saved = errno;
  const int rc = stack_gcore(prepare != 0);
  errno = saved;
  return rc;
}

}  // namespace
}  // namespace gort::rt

extern "C" {

// used: nothing in the program reads it; retain: nor may the linker's
// --gc-sections drop it (where the toolchain has the attribute).
#if defined(__has_attribute) && __has_attribute(retain)
#define GORT_RETAIN , gnu::retain
#else
#define GORT_RETAIN
#endif
[[gnu::used GORT_RETAIN]] constinit const gort_debug_descriptor gort_debug_info = {
    .magic = gort_debug_magic,
    .version = gort_debug_version,
    .size = sizeof(gort_debug_descriptor),
    .arch = gort::rt::arch,
    .allgregions = &gort::rt::allgregions,
    .gregion_next = GORT_FIELD(gort::rt::gregion, next),
    .gregion_ngs = GORT_FIELD(gort::rt::gregion, ngs),
    .gregion_header = gort::rt::gregion::header,
    .g_size = sizeof(gort::rt::g),
    .g_goid = GORT_FIELD(gort::rt::g, goid),
    .g_status = GORT_FIELD(gort::rt::g, atomicstatus),
    .g_waitreason = GORT_FIELD(gort::rt::g, waitreason),
    .g_m = GORT_FIELD(gort::rt::g, m),
    .g_sched_sp = GORT_FIELD(gort::rt::g, sched.sp),
    .g_stk = GORT_FIELD(gort::rt::g, stk),
    .stack_lo = GORT_FIELD(gort::rt::stack, lo),
    .stack_hi = GORT_FIELD(gort::rt::stack, hi),
    .m_id = GORT_FIELD(gort::rt::m, id),
    .m_procid = GORT_FIELD(gort::rt::m, procid),
    .m_curg = GORT_FIELD(gort::rt::m, curg),
    .gstatus_names = gort::rt::gstatus_strings,
    .ngstatus_names = gort::rt::num_gstatus,
    .wait_reasons = gort::rt::wait_reason_strings,
    .nwait_reasons = gort::rt::num_wait_reasons,
    .switch_frame_size = sizeof(gort::rt::switch_frame),
    .switch_pc = gort::rt::switch_pc,
    .switch_regs = gort::rt::switch_regs,
    .nswitch_regs = std::size(gort::rt::switch_regs),
    .goentry = &gort_goentry_trampoline,
    .gcore = &gort::rt::debug_gcore,
};
#pragma GCC diagnostic pop

}  // extern "C"

// The extension, as a .debug_gdb_scripts entry: 4 (an inline Python
// script), the script's name on a line of its own (gdb loads a name once
// per program, however many objects carry it), the text, and a NUL. The
// section is mergeable strings ("MS", entries of 1 byte), as gdb's manual
// has it, so identical entries from several objects become one.
// GORT_GDB_SCRIPT is the file's path (CMakeLists.txt), which has no NUL.
asm(R"(
    .pushsection .debug_gdb_scripts, "MS", %progbits, 1
    .byte 4
    .ascii "gort-gdb.py\n"
    .incbin ")" GORT_GDB_SCRIPT R"("
    .byte 0
    .popsection
)");
