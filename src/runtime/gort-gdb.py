# gort-gdb.py: gdb commands for gort's goroutines. Go counterpart:
# src/runtime/runtime-gdb.py ("info goroutines", "goroutine <n> <cmd>").
#
#   info goroutines            id, status, wait reason, M, top frame of each
#   goroutine <n> bt [args]    the goroutine's stack (any backtrace args)
#   goroutine <n> select       make it the current goroutine (also: frame,
#                              or just goroutine <n>); goroutine none undoes it
#   goroutine <n> <cmd>        run cmd as if the goroutine were current
#   goroutine all <cmd>        the same for every goroutine
#   gort gcore [file]          gcore, with the goroutine stacks in the core
#
# gdb loads this file itself from the program's .debug_gdb_scripts section
# (src/runtime/debug_descriptor.cpp) if the program is in its auto-load
# safe-path; else `source` it (installed as share/gort/gdb/gort-gdb.py).
# docs/DEBUGGING.md, "In gdb", has a session and the set-up.
#
# What it reads. Only memory, and only through gort_debug_info, a
# descriptor the runtime exports (debug_descriptor.hpp): a version, the
# offset and size of every field read here, the address of allgs, the
# switch frame's layout, and the runtime's own tables of status names and
# wait reasons. Not the debug information (the program may have none, and
# the structs change), and no call into the program: a core file works as
# a live process does. The exception is gort gcore, which writes a core
# file of a live process: it calls the runtime through the descriptor to
# ready the goroutine stacks for gdb's gcore, and to put them back.
#
# How a parked goroutine's stack is shown. A goroutine that is not running
# left its callee-saved registers and its resume pc in a switch frame at
# its saved sp (asm_*.S). Go's runtime-gdb.py points $pc and $sp of the
# current thread at the goroutine for the command's length, but registers
# cannot be written in a core file. So this uses gdb's unwinder API
# instead, and writes nothing: while a goroutine is selected, an unwinder
# claims the innermost real frame of the selected thread, and says that
# its caller is the goroutine at its switch (pc, sp and registers from the
# switch frame). gdb then unwinds the goroutine's stack with the program's
# own CFI, frame by frame, as if the thread had called into it: bt, frame,
# up, info locals, print all work, in a core file too. The thread's own
# frames (the innermost one, and any inlined frames at it) stay in the
# numbering, hidden from bt by a frame filter: a goroutine's frames start
# at #1, not #0. The frame that unwinder claims gets the goroutine's saved
# sp in its frame id, so gdb sees the goroutine's frames as outer to it
# (its "frame inner to this frame" check) whichever stack the thread is on.
# A goroutine that is running (status running or syscall) has no saved
# context: its stack is its M's thread's (m.procid is the LWP), and the
# command runs on that thread instead.
#
# Invariants: the unwinder is active only while a goroutine is selected,
# and only for the thread selected with it; any resumption of the program
# drops the selection (its saved contexts are stale then); every read goes
# through Descriptor, which refuses a descriptor with the wrong magic or a
# version it does not know.

import gdb
import gdb.unwinder

MAGIC = 0x676264_74726F67FF  # "\xffgortdbg", little-endian
VERSION = 1

# The descriptor's slots in order (debug_descriptor.hpp), each a word or a
# field (two words: offset, size). Slots are only ever appended.
_SLOTS = [
    ("magic", 1), ("version", 1), ("size", 1), ("arch", 1),
    ("allgregions", 1), ("gregion_next", 2), ("gregion_ngs", 2), ("gregion_header", 1), ("g_size", 1),
    ("g_goid", 2), ("g_status", 2), ("g_waitreason", 2), ("g_m", 2), ("g_sched_sp", 2), ("g_stk", 2),
    ("stack_lo", 2), ("stack_hi", 2),
    ("m_id", 2), ("m_procid", 2), ("m_curg", 2),
    ("gstatus_names", 1), ("ngstatus_names", 1), ("wait_reasons", 1), ("nwait_reasons", 1),
    ("switch_frame_size", 1), ("switch_pc", 1), ("switch_regs", 1), ("nswitch_regs", 1),
    ("goentry", 1),
    ("gcore", 1, None),  # appended: absent in older programs (the default)
]

# A goroutine's top frame, in info goroutines and where goroutine <n>
# select stops, is its innermost frame whose function is not gort's nor
# std's call plumbing (the public gort:: functions too: the wait reason
# already says chan receive); failing that, not the runtime's own, as the
# runtime's dumps hide it; failing that, the innermost.
_NOT_USER = ("gort::", "gort_", "std::", "__")
_RUNTIME = ("gort::rt::", "gort::detail::", "gort_")

# Registers by architecture: (pc, sp).
_ARCH_REGS = {"x86_64": ("rip", "rsp"), "aarch64": ("pc", "sp")}


def _mem(addr, n):
    return bytes(gdb.selected_inferior().read_memory(addr, n))


def _uint(buf, off, size):
    return int.from_bytes(buf[off:off + size], "little")


def _word(addr):
    return _uint(_mem(addr, 8), 0, 8)


def _cstring(addr, limit=256):
    if addr == 0:
        return None
    out = b""
    while len(out) < limit:
        try:
            chunk = _mem(addr + len(out), 16)
        except gdb.MemoryError:  # the string ends close to an unmapped page
            chunk = _mem(addr + len(out), 1)
        nul = chunk.find(b"\0")
        if nul >= 0:
            return (out + chunk[:nul]).decode("utf-8", "replace")
        out += chunk
    return out.decode("utf-8", "replace")


class Descriptor:
    """gort_debug_info as read from the selected inferior (or core file)."""

    def __init__(self):
        try:
            addr = int(gdb.parse_and_eval("(unsigned long)&gort_debug_info"))
        except gdb.error:
            raise gdb.GdbError("gort: no gort_debug_info symbol: not a gort program, or its symbols are stripped")
        head = _mem(addr, 24)
        if _uint(head, 0, 8) != MAGIC:
            raise gdb.GdbError("gort: gort_debug_info at 0x%x has the wrong magic" % addr)
        version = _uint(head, 8, 8)
        if version != VERSION:
            raise gdb.GdbError("gort: the program's runtime has debug descriptor version %d; this gort-gdb.py reads "
                               "version %d (use the gort-gdb.py of the gort the program was built with)"
                               % (version, VERSION))
        size = _uint(head, 16, 8)
        buf = _mem(addr, size)
        off = 0
        for name, words, *default in _SLOTS:
            if off + 8 * words > size:
                if default:
                    setattr(self, name, default[0])
                    continue
                raise gdb.GdbError("gort: gort_debug_info has no slot %s (size %d)" % (name, size))
            if words == 1:
                setattr(self, name, _uint(buf, off, 8))
            else:
                setattr(self, name, (_uint(buf, off, 8), _uint(buf, off + 8, 8)))
            off += 8 * words
        self.arch = _cstring(self.arch)
        if self.arch not in _ARCH_REGS:
            raise gdb.GdbError("gort: unknown architecture %r in gort_debug_info" % self.arch)
        self.pc_reg, self.sp_reg = _ARCH_REGS[self.arch]
        self.status_names = self._table(self.gstatus_names, self.ngstatus_names)
        self.wait_reason_names = self._table(self.wait_reasons, self.nwait_reasons)
        self.regs = []
        if self.nswitch_regs:
            regs = _mem(self.switch_regs, 16 * self.nswitch_regs)
            for i in range(self.nswitch_regs):
                self.regs.append((_cstring(_uint(regs, 16 * i, 8)), _uint(regs, 16 * i + 8, 8)))

    @staticmethod
    def _table(addr, n):
        if n == 0:
            return []
        ptrs = _mem(addr, 8 * n)
        return [_cstring(_uint(ptrs, 8 * i, 8)) for i in range(n)]

    @staticmethod
    def field(buf, base, f):
        return _uint(buf, base + f[0], f[1])


class Goroutine:
    """One G, read at once: id, status, wait reason, its M, its saved context."""

    def __init__(self, d, addr, buf, base):
        self.addr = addr
        self.goid = d.field(buf, base, d.g_goid)
        status = d.field(buf, base, d.g_status)
        self.status = (d.status_names[status] if status < len(d.status_names) else None) or "status %d" % status
        reason = d.field(buf, base, d.g_waitreason)
        self.waitreason = d.wait_reason_names[reason] if reason < len(d.wait_reason_names) else "?"
        if self.status != "waiting":
            self.waitreason = ""
        self.sp = d.field(buf, base, d.g_sched_sp)
        self.stack = None
        stk = d.field(buf, base, d.g_stk)
        if stk:
            n = max(d.stack_lo[0] + d.stack_lo[1], d.stack_hi[0] + d.stack_hi[1])
            s = _mem(stk, n)
            self.stack = (d.field(s, 0, d.stack_lo), d.field(s, 0, d.stack_hi))
        self.m = d.field(buf, base, d.g_m)
        self.mid = self.lwp = None
        self.current = False  # its M's current G, as opposed to the last G that M ran
        if self.m:
            n = max(f[0] + f[1] for f in (d.m_id, d.m_procid, d.m_curg))
            mb = _mem(self.m, n)
            self.mid = d.field(mb, 0, d.m_id)
            self.lwp = d.field(mb, 0, d.m_procid)
            self.current = d.field(mb, 0, d.m_curg) == addr

    def on_thread(self):
        """Running on an M (no saved context): the LWP of its thread, else None."""
        if self.status in ("running", "syscall") and self.current and self.lwp:
            return self.lwp
        return None

    def context(self, d):
        """The saved context: (sp, pc, {register: value}), or a reason there is none."""
        sp = self.sp
        if self.on_thread() is not None or self.status in ("running", "syscall"):
            return "running on a thread, not found"
        if sp == 0 or self.stack is None:
            return "no saved context"
        lo, hi = self.stack
        if sp < lo or sp > hi - d.switch_frame_size or sp % 16:
            return "saved sp 0x%x outside its stack [0x%x, 0x%x)" % (sp, lo, hi)
        frame = _mem(sp, d.switch_frame_size)
        pc = _uint(frame, d.switch_pc, 8)
        if pc == d.goentry:
            return "not started yet"
        regs = {name: _uint(frame, off, 8) for name, off in d.regs}
        return sp, pc, regs


def goroutines(d):
    """Every live G of allgs, in the order the runtime made them."""
    out = []
    region = _word(d.allgregions)
    seen = set()
    while region and region not in seen:
        seen.add(region)
        head = _mem(region, d.gregion_header)
        ngs = d.field(head, 0, d.gregion_ngs)
        nxt = d.field(head, 0, d.gregion_next)
        if ngs:
            buf = _mem(region + d.gregion_header, ngs * d.g_size)
            for i in range(ngs):
                g = Goroutine(d, region + d.gregion_header + i * d.g_size, buf, i * d.g_size)
                if g.goid != 0 and g.status not in ("dead", "idle"):
                    out.append(g)
        region = nxt
    return out


def find_goroutine(d, goid):
    for g in goroutines(d):
        if g.goid == goid:
            return g
    raise gdb.GdbError("gort: no goroutine %d" % goid)


def header(g):
    """The runtime dump's header: goroutine 7 [chan receive]:"""
    return "goroutine %d [%s]:" % (g.goid, g.waitreason or g.status)


# ---- showing a parked goroutine's stack ----

class _FrameId:
    # gdb 13 takes these only as gdb.Values.
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _Selection:
    def __init__(self, d, g, thread, level, sp, pc, regs):
        self.d, self.g, self.thread, self.level = d, g, thread, level
        self.sp, self.pc, self.regs = sp, pc, regs


class GoroutineUnwinder(gdb.unwinder.Unwinder):
    """Gives the selected thread's innermost real frame the selected goroutine as its caller."""

    def __init__(self):
        super().__init__("gort-goroutine")
        self.sel = None

    def __call__(self, pending):
        s = self.sel
        if s is None or pending.level() != s.level:
            return None
        t = gdb.selected_thread()
        if t is None or t.ptid != s.thread.ptid:
            return None
        d = s.d
        try:
            u64 = pending.architecture().integer_type(64, False)
        except (AttributeError, gdb.error):
            u64 = gdb.lookup_type("unsigned long")
        info = pending.create_unwind_info(_FrameId(gdb.Value(s.sp).cast(u64), pending.read_register(d.pc_reg)))
        info.add_saved_register(d.pc_reg, gdb.Value(s.pc).cast(u64))
        info.add_saved_register(d.sp_reg, gdb.Value(s.sp + d.switch_frame_size).cast(u64))
        for name, value in s.regs.items():
            try:
                info.add_saved_register(name, gdb.Value(value).cast(u64))
            except (ValueError, gdb.error):
                pass  # a register this gdb cannot take as 8 bytes (aarch64's d8-d15): left unknown
        return info


class HideThreadFrames:
    """Frame filter: while a goroutine is selected, bt starts at its frames."""

    def __init__(self, unwinder):
        self.name = "gort-goroutine"
        self.priority = 100
        self.enabled = True
        self.unwinder = unwinder
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        s = self.unwinder.sel
        t = gdb.selected_thread()
        if s is None or t is None or t.ptid != s.thread.ptid:
            return frames
        return (f for f in frames if f.inferior_frame().level() > s.level)


_unwinder = GoroutineUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)
HideThreadFrames(_unwinder)


def _innermost_real_level():
    """The level of the selected thread's innermost frame that is not inlined."""
    f = gdb.newest_frame()
    while f.type() == gdb.INLINE_FRAME and f.older() is not None:
        f = f.older()
    return f.level()


def _unselect():
    if _unwinder.sel is not None:
        _unwinder.sel = None
        gdb.invalidate_cached_frames()


def _select(d, g):
    """Selects parked g on the selected thread; returns False if it has no context (says why)."""
    ctx = g.context(d)
    if isinstance(ctx, str):
        print("goroutine %d: %s" % (g.goid, ctx))
        return False
    _unselect()
    thread = gdb.selected_thread()
    if thread is None:
        raise gdb.GdbError("gort: no thread to show the goroutine on")
    sp, pc, regs = ctx
    _unwinder.sel = _Selection(d, g, thread, _innermost_real_level(), sp, pc, regs)
    gdb.invalidate_cached_frames()
    return True


def _frame_of(level):
    f = gdb.newest_frame()
    while f is not None and f.level() < level:
        f = f.older()
    return f


def _top_user_frame(first, limit=64):
    """The goroutine's top frame (see _NOT_USER), from first outward."""
    f, n, fallback = first, 0, None
    while f is not None and n < limit:
        try:
            name = f.name()
            if name is not None and not name.startswith(_NOT_USER):
                return f
            if fallback is None and name is not None and not name.startswith(_RUNTIME):
                fallback = f
            f = f.older()
        except gdb.error:
            break
        n += 1
    return fallback or first


def _describe(f):
    if f is None:
        return "?"
    name = f.name() or "0x%x" % f.pc()
    sal = f.find_sal()
    if sal.symtab is not None and sal.line:
        return "%s at %s:%d" % (name, sal.symtab.filename, sal.line)
    return name


def _thread_by_lwp(lwp):
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == lwp:
            return t
    return None


class _Restore:
    """Puts the selected thread, frame level and goroutine back as they were."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        self.sel = _unwinder.sel
        try:
            self.level = gdb.selected_frame().level()
        except gdb.error:
            self.level = None
        return self

    def __exit__(self, *exc):
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
        _unwinder.sel = self.sel
        gdb.invalidate_cached_frames()
        if self.level is not None:
            f = _frame_of(self.level)
            if f is not None:
                f.select()
        return False


def thread_top_frame(g):
    """A running goroutine's innermost frame outside the runtime, from its thread."""
    t = _thread_by_lwp(g.on_thread())
    if t is None:
        return "(on LWP %d, which gdb does not list)" % g.on_thread()
    t.switch()
    _unwinder.sel = None
    gdb.invalidate_cached_frames()
    return _describe(_top_user_frame(gdb.newest_frame()))


# ---- commands ----

class InfoGoroutines(gdb.Command):
    """List the goroutines: id, status, wait reason, M, top frame.

Usage: info goroutines
A * marks the goroutine running on the selected thread, or the one selected
with "goroutine <n> select". The M column is the M (thread) a running
goroutine is on. The top frame is the innermost frame outside the runtime."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        d = Descriptor()
        gs = goroutines(d)
        if not gs:
            print("No goroutines: gort::run is not running.")
            return
        sel = _unwinder.sel
        t = gdb.selected_thread()
        lwp = t.ptid[1] if t is not None else None
        rows = []
        with _Restore():
            _unwinder.sel = None
            gdb.invalidate_cached_frames()
            level = _innermost_real_level() if t is not None else 0
            for g in gs:
                if sel is not None:
                    mark = "*" if g.addr == sel.g.addr else " "
                else:
                    mark = "*" if g.on_thread() is not None and g.on_thread() == lwp else " "
                try:
                    if g.on_thread() is None:
                        ctx = g.context(d)
                        if isinstance(ctx, str):
                            top = "(%s)" % ctx
                        elif t is None:
                            top = "(no thread to unwind it on)"
                        else:
                            if gdb.selected_thread().ptid != t.ptid:  # a running one's top frame moved it
                                t.switch()
                            _unwinder.sel = _Selection(d, g, t, level, *ctx)
                            gdb.invalidate_cached_frames()
                            top = _describe(_top_user_frame(_frame_of(level + 1)))
                    else:
                        top = thread_top_frame(g)
                except gdb.error as e:
                    top = "(%s)" % e
                rows.append((mark, str(g.goid), g.status, g.waitreason,
                             str(g.mid) if g.on_thread() is not None else "", top))
        head = ("", "Id", "Status", "Wait reason", "M", "Top frame")
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
        for r in [head] + rows:
            print(" ".join(r[i].ljust(widths[i]) for i in range(5)) + " " + r[5])


class GoroutineCmd(gdb.Command):
    """Show or run a command in a goroutine's context.

Usage: goroutine <n> bt [backtrace args]   the goroutine's stack
       goroutine <n> [select|frame]        make it current, at its top frame
       goroutine none                      back to the thread's own stack
       goroutine <n> <command>             run command in its context
       goroutine all <command>             the same, for every goroutine
A parked goroutine's frames are unwound from the context it saved when it
switched out, and numbered from #1 (#0 is the thread's own, hidden from bt).
A running goroutine's stack is its thread's: the command runs on that thread.
The selection lasts until the program runs again."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        argv = arg.split(None, 1)
        if not argv:
            s = _unwinder.sel
            print("no goroutine selected" if s is None else header(s.g) + " (selected)")
            return
        if argv[0] == "none":
            _unselect()
            return
        d = Descriptor()
        cmd = argv[1].strip() if len(argv) > 1 else "select"
        if argv[0] == "all":
            for g in goroutines(d):
                self.run(d, g, cmd, from_tty)
            return
        try:
            goid = int(gdb.parse_and_eval(argv[0]))
        except gdb.error:
            raise gdb.GdbError("usage: goroutine <n>|all|none [bt|select|frame|<command>]")
        g = find_goroutine(d, goid)
        if cmd in ("select", "frame"):
            self.select(d, g)
        else:
            self.run(d, g, cmd, from_tty)

    @staticmethod
    def select(d, g):
        lwp = g.on_thread()
        if lwp is not None:
            t = _thread_by_lwp(lwp)
            if t is None:
                raise gdb.GdbError("gort: goroutine %d runs on LWP %d, which gdb does not list" % (g.goid, lwp))
            _unselect()
            t.switch()
            print("%s on thread %d (LWP %d)" % (header(g), t.num, lwp))
            _top_user_frame(gdb.newest_frame()).select()
        else:
            if not _select(d, g):
                return
            print(header(g))
            _top_user_frame(_frame_of(_unwinder.sel.level + 1)).select()
        gdb.execute("frame", to_string=False)

    @staticmethod
    def run(d, g, cmd, from_tty):
        bt = cmd.split(None, 1)[0] in ("bt", "backtrace", "where")
        with _Restore():
            lwp = g.on_thread()
            if lwp is not None:
                t = _thread_by_lwp(lwp)
                if t is None:
                    print("%s\n\t(running on LWP %d, which gdb does not list)" % (header(g), lwp))
                    return
                _unwinder.sel = None
                t.switch()
                gdb.invalidate_cached_frames()
                if bt:
                    print("%s on thread %d (LWP %d)" % (header(g), t.num, lwp))
                gdb.execute(cmd, from_tty)
                return
            if bt:
                print(header(g))
            if not _select(d, g):
                return
            _frame_of(_unwinder.sel.level + 1).select()
            gdb.execute(cmd, from_tty)


class GortPrefix(gdb.Command):
    """gort's commands that are not about one goroutine: gort gcore."""

    def __init__(self):
        super().__init__("gort", gdb.COMMAND_USER, gdb.COMPLETE_COMMAND, True)


class GortGcore(gdb.Command):
    """Write a core file of the live process, goroutine stacks included.

Usage: gort gcore [file]   (file: as gcore's, core.<pid> by default)
gdb's gcore writes each mapping whole, untouched pages as zeros, and stops
at a mapping's first page it cannot read. Goroutine stacks are carved from
a reservation of gigabytes, with guard pages inside it (MADV_GUARD_INSTALL,
Linux 6.13+), so gcore alone would write the unused reservation and miss
the stacks. This asks the runtime to mark the unused part not to dump and
to lift the guards, runs gcore, and puts both back, with only the selected
thread running for the two calls. The core holds every stack the run has
made, its untouched pages as zeros: with many goroutines or large stacks,
the kernel's own core dump (sparse) is smaller."""

    def __init__(self):
        super().__init__("gort gcore", gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        d = Descriptor()
        if d.gcore is None:
            raise gdb.GdbError("gort: this program's runtime has no gcore entry; "
                               "run it with GODEBUG=stackguard=mprotect and use gcore")
        conn = gdb.selected_inferior().connection
        if conn is None or conn.type == "core" or gdb.selected_thread() is None:
            raise gdb.GdbError("gort: gort gcore needs a live process")
        _unselect()
        locking = gdb.parameter("scheduler-locking")
        try:
            gdb.execute("set scheduler-locking on")
        except gdb.error as e:
            raise gdb.GdbError("gort: gort gcore cannot stop the other threads for its calls here: %s" % e)
        try:
            rc = self.call(d, 1)
            if rc == -1:
                raise gdb.GdbError("gort: a stopped thread holds the stack pool's lock; "
                                   "let the program run a moment and try again")
            try:
                gdb.execute("gcore " + arg, from_tty)
            finally:
                rc = min(rc, self.call(d, 0))
            if rc != 0:
                print("gort: the kernel refused some madvise (%d); the core may lack stacks" % rc)
        finally:
            gdb.execute("set scheduler-locking " + locking)

    @staticmethod
    def call(d, prepare):
        try:
            return int(gdb.parse_and_eval("((int (*)(int))0x%x)(%d)" % (d.gcore, prepare)))
        except gdb.error as e:
            # Seen with gdb 13 on a CPU with AMX, for any program: gdb cannot
            # write the registers' extended state back after a call.
            raise gdb.GdbError("gort: gdb could not call into the program (%s)%s; take the kernel's core "
                               "dump instead: ulimit -c unlimited, GOTRACEBACK=crash, then SIGQUIT"
                               % (str(e).rstrip("."), "" if prepare else ", after gcore: its guard pages may be off"))


def _on_resume(_event):
    _unselect()


gdb.events.cont.connect(_on_resume)
InfoGoroutines()
GoroutineCmd()
GortPrefix()
GortGcore()
