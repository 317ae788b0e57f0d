// asm_amd64.S: the goroutine switch for x86-64 (System V). Go counterpart:
// gogo, gosave and mcall in asm_amd64.s; gort has one primitive for all three.
//
// gort_gogo_switch(gobuf* save, gobuf* load) saves the running context on its
// own stack and resumes the context saved in load. A context is what the
// System V ABI says a callee must preserve: rbx, rbp, r12-r15, rsp, and the
// control bits of MXCSR and the x87 control word. Everything else is
// caller-saved, so the C++ caller of the switch has already spilled it. The
// saved frame, from load->sp upwards (asm_offsets.hpp checks the size):
//
//     sp+0   MXCSR (4 bytes), x87 control word (2), padding (2)
//     sp+8   r15
//     sp+16  r14
//     sp+24  r13
//     sp+32  r12
//     sp+40  rbx
//     sp+48  rbp
//     sp+56  return address
//
// FP control words: loading MXCSR or the x87 control word costs far more than
// storing them, and they almost never differ between goroutines, so the switch
// stores both and reloads each only when its control bits differ.
//
// A new goroutine's stack starts with this frame built by stack_prepare
// (stack.cpp): r12 = its G, return address = gort_goentry_trampoline.
//
// The CFI describes the frame at every instruction and stays valid across the
// stack change (both frames have the same layout): a signal handler that
// unwinds (profiler, crash report) may interrupt the switch anywhere. Without
// it, libgcc takes the saved MXCSR for a return address and faults.

    .text

    .globl  gort_gogo_switch
    .hidden gort_gogo_switch
    .type   gort_gogo_switch, @function
    .p2align 4
gort_gogo_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_def_cfa_offset 16
    pushq   %rbx
    .cfi_def_cfa_offset 24
    pushq   %r12
    .cfi_def_cfa_offset 32
    pushq   %r13
    .cfi_def_cfa_offset 40
    pushq   %r14
    .cfi_def_cfa_offset 48
    pushq   %r15
    .cfi_def_cfa_offset 56
    subq    $8, %rsp
    .cfi_def_cfa_offset 64
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    .cfi_offset %r12, -32
    .cfi_offset %r13, -40
    .cfi_offset %r14, -48
    .cfi_offset %r15, -56
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movl    (%rsp), %eax
    movzwl  4(%rsp), %ecx
    movq    %rsp, (%rdi)            // save->sp: the old context is complete
    movq    (%rsi), %rsp            // load->sp: now on the new stack
    xorl    (%rsp), %eax
    testl   $0xffc0, %eax           // MXCSR control bits (6-15) differ?
    jnz     3f
1:  cmpw    4(%rsp), %cx
    jne     4f
2:  .cfi_remember_state
    addq    $8, %rsp
    .cfi_def_cfa_offset 56
    popq    %r15
    .cfi_def_cfa_offset 48
    popq    %r14
    .cfi_def_cfa_offset 40
    popq    %r13
    .cfi_def_cfa_offset 32
    popq    %r12
    .cfi_def_cfa_offset 24
    popq    %rbx
    .cfi_def_cfa_offset 16
    popq    %rbp
    .cfi_def_cfa_offset 8
    .cfi_restore %rbp
    .cfi_restore %rbx
    .cfi_restore %r12
    .cfi_restore %r13
    .cfi_restore %r14
    .cfi_restore %r15
    ret
    .cfi_restore_state
3:  ldmxcsr (%rsp)
    jmp     1b
4:  fldcw   4(%rsp)
    jmp     2b
    .cfi_endproc
    .size   gort_gogo_switch, .-gort_gogo_switch

// gort_goentry_trampoline: the bottom frame of every goroutine stack (Go's
// goexit frame). It calls gort_goentry(gp), which runs the goroutine's
// function and never returns. Its unwind entry marks the end of the stack
// (return address undefined) and names a personality routine: an exception
// that no frame of the goroutine catches reaches this frame in the unwinder's
// search phase, where gort_goroutine_personality (panic.cpp) records the
// stack as it was at the throw; destructors then run during the cleanup phase
// (Go's deferred calls), and control lands at gort_goentry_landing with the
// exception in rax, which reports the unrecovered panic.
    .globl  gort_goentry_trampoline
    .hidden gort_goentry_trampoline
    .globl  gort_goentry_landing
    .hidden gort_goentry_landing
    .type   gort_goentry_trampoline, @function
    .p2align 4
gort_goentry_trampoline:
    .cfi_startproc
    .cfi_personality 0x9b, gort_personality_ref
    .cfi_undefined rip
    xorl    %ebp, %ebp              // frame-pointer walkers stop here too
    movq    %r12, %rdi
    call    gort_goentry
    ud2
gort_goentry_landing:
    movq    %rax, %rdi
    call    gort_gopanic
    ud2
    .cfi_endproc
    .size   gort_goentry_trampoline, .-gort_goentry_trampoline

// gort_unwind_switched(const void* sp, _Unwind_Trace_Fn fn, void* arg) calls
// _Unwind_Backtrace(fn, arg) from a frame whose unwind entry names as its
// caller the context gort_gogo_switch saved at sp (a parked or preempted
// goroutine, traceback.cpp): the CFA is sp + 64 and the registers are where
// the switch pushed them, the same rules as gort_gogo_switch's own CFI once
// it has pushed them. So libgcc's unwinder walks that goroutine's stack from
// here, reading its frames where they are, and nothing runs on it. The
// first frame the callback sees is this one; the next is the switch's
// caller. A context being resumed while it is read gives a wrong walk,
// never a write: the caller must cope with what it reads (traceback.cpp,
// "Reading a stack that may move").
    .globl  gort_unwind_switched
    .hidden gort_unwind_switched
    .type   gort_unwind_switched, @function
    .p2align 4
gort_unwind_switched:
    .cfi_startproc
    pushq   %rdi                    // (%rsp): the saved context's sp
    .cfi_def_cfa_offset 16
    // DW_CFA_def_cfa_expression: DW_OP_breg7 (rsp) 0, DW_OP_deref,
    // DW_OP_plus_uconst 64. The return address is at CFA-8 by default.
    .cfi_escape 0x0f, 0x05, 0x77, 0x00, 0x06, 0x23, 0x40
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    .cfi_offset %r12, -32
    .cfi_offset %r13, -40
    .cfi_offset %r14, -48
    .cfi_offset %r15, -56
    movq    %rsi, %rdi
    movq    %rdx, %rsi
    call    _Unwind_Backtrace@PLT
    popq    %rdi
    .cfi_def_cfa %rsp, 8
    .cfi_restore %rbp
    .cfi_restore %rbx
    .cfi_restore %r12
    .cfi_restore %r13
    .cfi_restore %r14
    .cfi_restore %r15
    ret
    .cfi_endproc
    .size   gort_unwind_switched, .-gort_unwind_switched

// gort_systemstack(void (*fn)(void*), void* arg, void* sp) runs fn(arg) on
// the stack below sp (rounded down to 16 bytes), then returns on the
// caller's own: Go's systemstack, for the runtime's work that needs more
// stack than a goroutine may have left (a traceback: proc.cpp, systemstack).
// rbp keeps the caller's stack pointer, and the CFI follows it, so an
// unwinder in fn walks on into the caller's frames.
    .globl  gort_systemstack
    .hidden gort_systemstack
    .type   gort_systemstack, @function
    .p2align 4
gort_systemstack:
    .cfi_startproc
    pushq   %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq    %rsp, %rbp
    .cfi_def_cfa_register %rbp
    andq    $-16, %rdx
    movq    %rdx, %rsp
    movq    %rdi, %rax
    movq    %rsi, %rdi
    call    *%rax
    movq    %rbp, %rsp
    .cfi_def_cfa_register %rsp
    popq    %rbp
    .cfi_def_cfa_offset 8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size   gort_systemstack, .-gort_systemstack

    .section .data.rel.ro,"aw",@progbits
    .p2align 3
    .type   gort_personality_ref, @object
gort_personality_ref:
    .quad   gort_goroutine_personality
    .size   gort_personality_ref, 8

    .section .note.GNU-stack,"",@progbits
