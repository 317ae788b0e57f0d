// asm_arm64.S: the goroutine switch for aarch64 (AAPCS64). Go counterpart:
// gogo, gosave and mcall in asm_arm64.s; gort has one primitive for all three.
//
// gort_gogo_switch(gobuf* save, gobuf* load) saves the running context on its
// own stack and resumes the context saved in load. A context is what AAPCS64
// says a callee must preserve: x19-x28, the frame pointer x29, sp, the low 64
// bits of v8-v15 (d8-d15; the upper halves are caller-saved) and FPCR
// (rounding mode, flush-to-zero, default NaN). The return address x30 is saved
// with them, since resuming a context is returning to it. Everything else
// (x0-x18, the rest of the vector registers, the FPSR flags) is caller-saved,
// so the C++ caller of the switch has already spilled it. The saved frame
// (struct switch_frame), from load->sp upwards (asm_offsets.hpp checks it):
//
//     sp+0    x19 x20     sp+96   d8  d9
//     sp+16   x21 x22     sp+112  d10 d11
//     sp+32   x23 x24     sp+128  d12 d13
//     sp+48   x25 x26     sp+144  d14 d15
//     sp+64   x27 x28     sp+160  FPCR, padding (sp stays 16-byte aligned)
//     sp+80   x29 x30
//
// x29/x30 at sp+80 form an ordinary frame record, so a parked goroutine's
// stack can be walked from its gobuf like any frame-pointer chain.
//
// FPCR: writing it can serialize the pipeline and costs far more than reading
// it, and it almost never differs between goroutines, so the switch saves it
// and writes it only when the resumed value differs from the current one.
//
// A new goroutine's stack starts with this frame built by stack_prepare
// (stack.cpp): x19 = its G, x29 = 0, x30 = gort_goentry_trampoline,
// FPCR = 0 (IEEE defaults); the frame must be 16-byte aligned.
//
// The CFI describes the frame at every instruction and stays valid across the
// stack change (both frames have the same layout): a signal handler that
// unwinds (profiler, crash report) may interrupt the switch anywhere, and
// the default rule (return address in x30, CFA = sp) would be wrong there.

    .text

    .globl  gort_gogo_switch
    .hidden gort_gogo_switch
    .type   gort_gogo_switch, %function
    .p2align 4
gort_gogo_switch:
    .cfi_startproc
    stp     x19, x20, [sp, #-176]!
    .cfi_def_cfa_offset 176
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs     x9, fpcr
    stp     x9, xzr, [sp, #160]
    mov     x10, sp
    str     x10, [x0]               // save->sp: the old context is complete
    ldr     x10, [x1]
    mov     sp, x10                 // load->sp: now on the new stack
    ldr     x10, [sp, #160]
    cmp     x9, x10                 // x9 is still what FPCR holds
    b.eq    1f
    msr     fpcr, x10
1:  ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    add     sp, sp, #176
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc
    .size   gort_gogo_switch, .-gort_gogo_switch

// gort_goentry_trampoline: the bottom frame of every goroutine stack (Go's
// goexit frame), entered by the switch's ret with x30 pointing at itself. It
// calls gort_goentry(gp), which runs the goroutine's function and never
// returns. Its unwind entry marks the end of the stack (x30, the return
// address column, undefined) and names a personality routine: an exception
// that no frame of the goroutine catches reaches this frame in the unwinder's
// search phase, where gort_goroutine_personality (panic.cpp) records the
// stack as it was at the throw; destructors then run during the cleanup phase
// (Go's deferred calls), and control lands at gort_goentry_landing with the
// exception in x0, which reports the unrecovered panic.
    .globl  gort_goentry_trampoline
    .hidden gort_goentry_trampoline
    .globl  gort_goentry_landing
    .hidden gort_goentry_landing
    .type   gort_goentry_trampoline, %function
    .p2align 4
gort_goentry_trampoline:
    .cfi_startproc
    .cfi_personality 0x9b, gort_personality_ref
    .cfi_undefined x30
    mov     x29, xzr                // frame-pointer walkers stop here too,
    mov     x30, xzr                // and lr-based ones sampling before the bl
    mov     x0, x19
    bl      gort_goentry
    udf     #0
gort_goentry_landing:
    bl      gort_gopanic
    udf     #0
    .cfi_endproc
    .size   gort_goentry_trampoline, .-gort_goentry_trampoline

// gort_unwind_switched(const void* sp, _Unwind_Trace_Fn fn, void* arg) calls
// _Unwind_Backtrace(fn, arg) from a frame whose unwind entry names as its
// caller the context gort_gogo_switch saved at sp (a parked or preempted
// goroutine, traceback.cpp): the CFA is sp + 176 and the registers are where
// the switch stored them, the same rules as gort_gogo_switch's own CFI once
// it has stored them (the return address column is x30). So libgcc's
// unwinder walks that goroutine's stack from here, reading its frames where
// they are, and nothing runs on it. The first frame the callback sees is
// this one; the next is the switch's caller. A context being resumed while
// it is read gives a wrong walk, never a write: the caller must cope with
// what it reads (traceback.cpp, "Reading a stack that may move").
    .globl  gort_unwind_switched
    .hidden gort_unwind_switched
    .type   gort_unwind_switched, %function
    .p2align 4
gort_unwind_switched:
    .cfi_startproc
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    str     x0, [sp, #16]           // [sp + 16]: the saved context's sp
    // DW_CFA_def_cfa_expression: DW_OP_breg31 (sp) 16, DW_OP_deref,
    // DW_OP_plus_uconst 176.
    .cfi_escape 0x0f, 0x06, 0x8f, 0x10, 0x06, 0x23, 0xb0, 0x01
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mov     x0, x1
    mov     x1, x2
    bl      _Unwind_Backtrace
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa sp, 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    ret
    .cfi_endproc
    .size   gort_unwind_switched, .-gort_unwind_switched

// gort_systemstack(void (*fn)(void*), void* arg, void* sp) runs fn(arg) on
// the stack below sp (rounded down to 16 bytes), then returns on the
// caller's own: Go's systemstack, for the runtime's work that needs more
// stack than a goroutine may have left (a traceback: proc.cpp, systemstack).
// x29 keeps the caller's stack pointer, and the CFI follows it, so an
// unwinder in fn walks on into the caller's frames.
    .globl  gort_systemstack
    .hidden gort_systemstack
    .type   gort_systemstack, %function
    .p2align 4
gort_systemstack:
    .cfi_startproc
    stp     x29, x30, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x30, -8
    mov     x29, sp
    .cfi_def_cfa_register x29
    and     x2, x2, #-16
    mov     sp, x2
    mov     x3, x0
    mov     x0, x1
    blr     x3
    mov     sp, x29
    .cfi_def_cfa_register sp
    ldp     x29, x30, [sp], #16
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   gort_systemstack, .-gort_systemstack

    .section .data.rel.ro,"aw",%progbits
    .p2align 3
    .type   gort_personality_ref, %object
gort_personality_ref:
    .quad   gort_goroutine_personality
    .size   gort_personality_ref, 8

    .section .note.GNU-stack,"",%progbits
