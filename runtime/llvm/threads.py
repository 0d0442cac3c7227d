"""The native thread pool: LLVM IR for a small fork-join pool over pthreads and the futex syscall.

One pool serves the whole process. Its code is one LLVM module (:func:`runtime_module`), JIT
compiled once per process (:func:`ensure_runtime`); its functions are registered as process
symbols, so the kernel modules (and their cached object code) call them as plain externals.
An exported C library links the same module's object code (:func:`runtime_object`); it needs
only libc (pthread_create/pthread_join, syscall, getpid, clock_gettime, posix_memalign, free).

``void graphc_parallel_for(ptr fn, ptr ctx, i64 begin, i64 end)`` calls
``fn(ctx, lo, hi, tid)`` over chunks covering ``[begin, end)`` on the pool's workers and the
calling thread (``tid`` 0 is the caller; workers are 1..n-1) and returns when all are done.
Threads claim chunks from a (generation, next chunk) ticket, so a late worker costs nothing. Waiting spins (with
``pause``) for about 0.2 ms, then sleeps on a futex, so back-to-back regions of one step
cost a cache-line round trip while an idle pool uses no CPU. The pool starts lazily on the first
region and restarts when the thread count changed; a region runs serially when one thread is
configured or when the pool is busy (a region on another thread). The pool remembers the pid
that started it, so a fork's child (where the parent's workers do not exist) starts its own.
``graphc_thread_scratch(tid, nbytes)`` gives worker ``tid`` a private 64-byte aligned buffer
(GEMM packing panels), grown on demand and kept for the life of the process.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import threading
from pathlib import Path

import llvmlite.binding as llvm
from llvmlite import ir

MAX_THREADS = 64
SPIN_NS = 200_000  # how long an idle worker or a waiting caller spins before sleeping (covers the
# serial kernels between two regions of a step; longer gaps cost a futex wake, a few microseconds)

VOID, I1, I32, I64, PTR = ir.VoidType(), ir.IntType(1), ir.IntType(32), ir.IntType(64), ir.PointerType()
CHUNK_FN = ir.FunctionType(VOID, [PTR, I64, I64, I32])
PARALLEL_FOR = "graphc_parallel_for"
THREAD_SCRATCH = "graphc_thread_scratch"
NUM_THREADS = "graphc_get_num_threads"
_FUTEX_WAIT, _FUTEX_WAKE = 128, 129  # the _PRIVATE variants
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "riscv64": 98}


def _c(v, ty=I64):
    return ir.Constant(ty, v)


class _Gen:
    """Builds the pool module."""

    def __init__(self, triple: str):
        m = self.m = ir.Module(name="graphc_threads")
        m.triple = triple
        arch = triple.split("-")[0]
        self.sys_futex = _SYS_FUTEX.get(arch, 202)
        self.arch = arch

        def glob(name, ty, init=0):
            g = ir.GlobalVariable(m, ty, name=f"graphc_pool.{name}")
            g.linkage = "internal"
            g.initializer = ir.Constant(ty, init if not isinstance(ty, ir.ArrayType) else None)
            g.type = PTR  # an opaque pointer, so element addresses are plain ``ptr`` too
            return g

        self.g = {n: glob(n, I32) for n in ("want", "started", "busy", "gen", "gen0", "done", "sleepers",
                                           "waiting", "stop", "pid", "launched")}
        self.g["want"].initializer = _c(1, I32)
        for n in ("begin", "end", "chunk", "total", "ticket"):
            self.g[n] = glob(n, I64)
        for n in ("fn", "ctx"):
            self.g[n] = glob(n, PTR, None)
        self.g["threads"] = glob("threads", ir.ArrayType(I64, MAX_THREADS))
        self.g["scratch"] = glob("scratch", ir.ArrayType(PTR, MAX_THREADS))
        self.g["scratch_size"] = glob("scratch_size", ir.ArrayType(I64, MAX_THREADS))
        self.syscall = ir.Function(m, ir.FunctionType(I64, [I64], var_arg=True), name="syscall")
        self.getpid = ir.Function(m, ir.FunctionType(I32, []), name="getpid")
        self.clock = ir.Function(m, ir.FunctionType(I32, [I32, PTR]), name="clock_gettime")
        self.create = ir.Function(m, ir.FunctionType(I32, [PTR, PTR, PTR, PTR]), name="pthread_create")
        self.join = ir.Function(m, ir.FunctionType(I32, [I64, PTR]), name="pthread_join")
        self.memalign = ir.Function(m, ir.FunctionType(I32, [PTR, I64, I64]), name="posix_memalign")
        self.free = ir.Function(m, ir.FunctionType(VOID, [PTR]), name="free")
        if arch == "x86_64":
            self.pause_fn = ir.Function(m, ir.FunctionType(VOID, []), name="llvm.x86.sse2.pause")
        elif arch == "aarch64":
            self.pause_fn = ir.Function(m, ir.FunctionType(VOID, [I32]), name="llvm.aarch64.hint")
        else:
            self.pause_fn = None

    # ------------------------------------------------------------------ helpers
    def fn(self, name, ret, args, internal=True):
        f = ir.Function(self.m, ir.FunctionType(ret, args), name=name)
        if internal:
            f.linkage = "internal"
        f.attributes.add("nounwind")
        return f, ir.IRBuilder(f.append_basic_block("entry"))

    def load(self, b, name, order="seq_cst"):
        g = self.g[name]
        return b.load_atomic(g, order, g.value_type.width // 8, typ=g.value_type)

    def store(self, b, name, value, order="seq_cst"):
        g = self.g[name]
        # (IRBuilder.store_atomic wants a typed pointer)
        b._insert(ir.instructions.StoreAtomicInstr(b.block, value, g, order, g.value_type.width // 8))

    def pause(self, b):
        if self.pause_fn is None:
            return
        b.call(self.pause_fn, [] if self.arch == "x86_64" else [_c(1, I32)])

    def futex(self, b, name, op, val):
        b.call(self.syscall, [_c(self.sys_futex), self.g[name], _c(op), val, ir.Constant(PTR, None)])

    def now_ns(self, b, spec):
        b.call(self.clock, [_c(1, I32), spec])
        sec = b.load(b.gep(spec, [_c(0), _c(0, I32)], source_etype=spec.allocated_type), typ=I64)
        nsec = b.load(b.gep(spec, [_c(0), _c(1, I32)], source_etype=spec.allocated_type), typ=I64)
        return b.add(b.mul(sec, _c(1_000_000_000)), nsec)

    def wait_while_equal(self, b, fn, word, value, counter):
        """Spin (``SPIN_NS``) while ``word == value``, then sleep on the futex, registered in
        ``counter`` so the waker knows to call into the kernel. Returns the new value."""
        spec = b.alloca(ir.LiteralStructType([I64, I64]))
        start = self.now_ns(b, spec)
        spin = fn.append_basic_block("spin")
        check_time = fn.append_basic_block("spin.time")
        sleep = fn.append_basic_block("sleep")
        sleep_loop = fn.append_basic_block("sleep.loop")
        sleep_wait = fn.append_basic_block("sleep.wait")
        woke = fn.append_basic_block("woke")
        done = fn.append_basic_block("changed")
        pre = b.block
        b.branch(spin)
        b.position_at_end(spin)
        i = b.phi(I64)
        i.add_incoming(_c(0), pre)
        cur = self.load(b, word, "acquire")
        nxt = b.add(i, _c(1))
        self.pause(b)
        b.cbranch(b.icmp_unsigned("!=", cur, value), done, check_time)
        b.position_at_end(check_time)
        i.add_incoming(nxt, check_time)
        timed = b.icmp_unsigned("!=", b.and_(nxt, _c(63)), _c(0))
        keep = b.or_(timed, b.icmp_signed("<", b.sub(self.now_ns(b, spec), start), _c(SPIN_NS)))
        b.cbranch(keep, spin, sleep)
        b.position_at_end(sleep)
        b.atomic_rmw("add", self.g[counter], _c(1, I32), "seq_cst")
        b.branch(sleep_loop)
        b.position_at_end(sleep_loop)
        cur2 = self.load(b, word)
        b.cbranch(b.icmp_unsigned("!=", cur2, value), woke, sleep_wait)
        b.position_at_end(sleep_wait)
        self.futex(b, word, _FUTEX_WAIT, b.zext(value, I64))
        b.branch(sleep_loop)
        b.position_at_end(woke)
        b.atomic_rmw("sub", self.g[counter], _c(1, I32), "seq_cst")
        b.branch(done)
        b.position_at_end(done)
        result = b.phi(I32)
        result.add_incoming(cur, spin)
        result.add_incoming(cur2, woke)
        return result

    # ------------------------------------------------------------------ functions
    def run_chunks(self):
        """``do_run(tid, gen)``: claim chunks of region ``gen`` until none is left, run each, count it
        done. A chunk is claimed by a compare-and-swap on ``ticket`` (the region's generation in the
        high half, the next chunk in the low half), so a thread that arrives after its region was
        finished or replaced claims nothing: the caller never waits for a thread that did no work."""
        f, b = self.fn("graphc_pool.do_run", VOID, [I32, I32])
        tid, gen = f.args
        claim, check, swap, work, wake, out = (f.append_basic_block(n) for n in
                                                ("claim", "check", "swap", "work", "wake", "out"))
        fn = _Callee(b.load(self.g["fn"], typ=PTR))
        ctx = b.load(self.g["ctx"], typ=PTR)
        begin = b.load(self.g["begin"], typ=I64)
        end = b.load(self.g["end"], typ=I64)
        chunk = b.load(self.g["chunk"], typ=I64)
        total = b.load(self.g["total"], typ=I64)
        b.branch(claim)
        b.position_at_end(claim)
        t = self.load(b, "ticket", "acquire")
        idx = b.and_(t, _c(0xFFFFFFFF))
        mine = b.and_(b.icmp_unsigned("==", b.lshr(t, _c(32)), b.zext(gen, I64)), b.icmp_signed("<", idx, total))
        b.cbranch(mine, swap, out)
        b.position_at_end(swap)
        got = b.extract_value(b.cmpxchg(self.g["ticket"], t, b.add(t, _c(1)), "acq_rel", "acquire"), 1)
        b.cbranch(got, work, claim)
        b.position_at_end(work)
        lo = b.add(begin, b.mul(idx, chunk))
        hi = b.add(lo, chunk)
        hi = b.select(b.icmp_signed("<", hi, end), hi, end)
        b.call(fn, [ctx, lo, hi, tid])
        finished = b.add(b.atomic_rmw("add", self.g["done"], _c(1, I32), "seq_cst"), _c(1, I32))
        last = b.and_(b.icmp_signed("==", b.zext(finished, I64), total),
                      b.icmp_unsigned("!=", self.load(b, "waiting"), _c(0, I32)))
        b.cbranch(last, wake, check)
        b.position_at_end(wake)
        self.futex(b, "done", _FUTEX_WAKE, _c(1))
        b.branch(check)
        b.position_at_end(check)
        b.branch(claim)
        b.position_at_end(out)
        b.ret_void()
        self.run = f

    def worker(self):
        f, b = self.fn("graphc_pool.worker", PTR, [PTR])
        tid = b.trunc(b.ptrtoint(f.args[0], I64), I32)
        seen_slot = b.alloca(I32)
        b.store(b.load(self.g["gen0"], typ=I32), seen_slot)
        loop = f.append_basic_block("loop")
        b.branch(loop)
        b.position_at_end(loop)
        seen = b.load(seen_slot, typ=I32)
        gen = self.wait_while_equal(b, f, "gen", seen, "sleepers")
        b.store(gen, seen_slot)
        work, leave = f.append_basic_block("work"), f.append_basic_block("leave")
        b.cbranch(b.icmp_unsigned("!=", self.load(b, "stop"), _c(0, I32)), leave, work)
        b.position_at_end(leave)
        b.ret(ir.Constant(PTR, None))
        b.position_at_end(work)
        b.call(self.run, [tid, gen])
        b.branch(loop)
        self.worker_fn = f

    def shutdown_locked(self):
        """Stop and join the workers (the caller holds ``busy``)."""
        f, b = self.fn("graphc_pool.do_stop", VOID, [])
        n = b.load(self.g["started"], typ=I32)
        has = f.append_basic_block("has")
        out = f.append_basic_block("out")
        b.cbranch(b.icmp_signed(">", n, _c(0, I32)), has, out)
        b.position_at_end(has)
        self.store(b, "stop", _c(1, I32))
        b.atomic_rmw("add", self.g["gen"], _c(1, I32), "seq_cst")
        self.futex(b, "gen", _FUTEX_WAKE, _c(2**31 - 1))
        with _counted(b, _c(1, I32), b.add(n, _c(1, I32))) as t:
            th = b.load(b.gep(self.g["threads"], [t], source_etype=I64), typ=I64)
            b.call(self.join, [th, ir.Constant(PTR, None)])
        self.store(b, "stop", _c(0, I32))
        self.store(b, "started", _c(0, I32))
        b.branch(out)
        b.position_at_end(out)
        b.ret_void()
        self.stop_fn = f

    def start_locked(self):
        """Start ``want - 1`` workers (the caller holds ``busy``; none are running). Workers are
        numbered 1..started; the first failure to create a thread stops the numbering there."""
        f, b = self.fn("graphc_pool.do_start", VOID, [])
        want = b.load(self.g["want"], typ=I32)
        b.store(want, self.g["launched"])
        self.store(b, "gen0", self.load(b, "gen"))
        head, body, created, out = (f.append_basic_block(n) for n in ("t.head", "t.body", "t.created", "t.out"))
        pre = b.block
        b.branch(head)
        b.position_at_end(head)
        t = b.phi(I32)
        t.add_incoming(_c(1, I32), pre)
        b.cbranch(b.icmp_signed("<", t, want), body, out)
        b.position_at_end(body)
        slot = b.gep(self.g["threads"], [t], source_etype=I64)
        rc = b.call(self.create, [slot, ir.Constant(PTR, None), self.worker_fn, b.inttoptr(b.zext(t, I64), PTR)])
        b.cbranch(b.icmp_signed("==", rc, _c(0, I32)), created, out)
        b.position_at_end(created)
        t.add_incoming(b.add(t, _c(1, I32)), created)
        b.branch(head)
        b.position_at_end(out)
        self.store(b, "started", b.sub(t, _c(1, I32)))  # t is the first thread not created
        b.ret_void()
        self.start_fn = f

    def parallel_for(self):
        f, b = self.fn(PARALLEL_FOR, VOID, [PTR, PTR, I64, I64], internal=False)
        fn, ctx, begin, end = f.args
        fn = _Callee(fn)
        serial, try_lock, pid_ok, locked, restart, ready, go = (
            f.append_basic_block(n) for n in ("serial", "try", "pid.ok", "locked", "restart", "ready", "go"))
        unlock = f.append_basic_block("unlock")
        want = self.load(b, "want", "monotonic")
        small = b.or_(b.icmp_signed("<=", want, _c(1, I32)), b.icmp_signed("<=", b.sub(end, begin), _c(1)))
        b.cbranch(small, serial, try_lock)
        b.position_at_end(serial)
        b.call(fn, [ctx, begin, end, _c(0, I32)])
        b.ret_void()
        b.position_at_end(try_lock)
        got = b.extract_value(b.cmpxchg(self.g["busy"], _c(0, I32), _c(1, I32), "acquire", "monotonic"), 1)
        b.cbranch(got, pid_ok, serial)
        # under the lock: a process other than the one that started the workers (a fresh process,
        # or a fork's child, where the parent's workers do not exist) starts from an empty pool
        b.position_at_end(pid_ok)
        pid = b.call(self.getpid, [])
        forked = f.append_basic_block("forked")
        b.cbranch(b.icmp_signed("==", pid, self.load(b, "pid", "monotonic")), locked, forked)
        b.position_at_end(forked)
        for name in ("started", "launched", "sleepers", "waiting", "stop"):
            self.store(b, name, _c(0, I32))
        self.store(b, "pid", pid)
        b.branch(locked)
        b.position_at_end(locked)
        # the pool restarts when the thread count changed since its workers were started
        b.cbranch(b.icmp_signed("!=", b.load(self.g["launched"], typ=I32), b.load(self.g["want"], typ=I32)), restart, ready)
        b.position_at_end(restart)
        b.call(self.stop_fn, [])
        b.call(self.start_fn, [])
        b.branch(ready)
        b.position_at_end(ready)
        workers = b.load(self.g["started"], typ=I32)
        none = b.icmp_signed("<=", workers, _c(0, I32))
        b.cbranch(none, unlock, go)
        b.position_at_end(go)
        threads = b.zext(b.add(workers, _c(1, I32)), I64)
        n = b.sub(end, begin)
        pieces = b.mul(threads, _c(8))  # several chunks per thread, claimed dynamically
        chunk = b.sdiv(b.add(n, b.sub(pieces, _c(1))), pieces)
        total = b.sdiv(b.add(n, b.sub(chunk, _c(1))), chunk)
        gen = b.add(self.load(b, "gen"), _c(1, I32))
        tag = b.shl(b.zext(gen, I64), _c(32))
        # close the ticket to threads still holding the last region, then publish, then open it
        self.store(b, "ticket", b.or_(tag, _c(0xFFFFFFFF)))
        b.store(fn, self.g["fn"])
        b.store(ctx, self.g["ctx"])
        b.store(begin, self.g["begin"])
        b.store(end, self.g["end"])
        b.store(chunk, self.g["chunk"])
        b.store(total, self.g["total"])
        self.store(b, "done", _c(0, I32))
        self.store(b, "ticket", tag)
        self.store(b, "gen", gen)
        sleeping = f.append_basic_block("wake")
        run = f.append_basic_block("run")
        b.cbranch(b.icmp_signed(">", self.load(b, "sleepers"), _c(0, I32)), sleeping, run)
        b.position_at_end(sleeping)
        self.futex(b, "gen", _FUTEX_WAKE, _c(2**31 - 1))
        b.branch(run)
        b.position_at_end(run)
        b.call(self.run, [_c(0, I32), gen])
        # wait until every chunk is done (only threads that claimed one can still be running):
        # spin, then sleep on ``done`` (the thread finishing the last chunk wakes us when ``waiting``)
        wait_loop, wait_done = f.append_basic_block("wait"), f.append_basic_block("wait.done")
        b.branch(wait_loop)
        b.position_at_end(wait_loop)
        finished = self.load(b, "done", "acquire")
        more = f.append_basic_block("wait.more")
        b.cbranch(b.icmp_signed("==", b.zext(finished, I64), total), wait_done, more)
        b.position_at_end(more)
        self.wait_while_equal(b, f, "done", finished, "waiting")
        b.branch(wait_loop)
        b.position_at_end(wait_done)
        b.branch(unlock)
        b.position_at_end(unlock)  # unlock; a pool that could not start any worker runs it here
        was_none = b.phi(I1)
        was_none.add_incoming(none, ready)
        was_none.add_incoming(ir.Constant(I1, 0), wait_done)
        self.store(b, "busy", _c(0, I32), "release")
        ret = f.append_basic_block("ret")
        b.cbranch(was_none, serial, ret)
        b.position_at_end(ret)
        b.ret_void()

    def api(self):
        f, b = self.fn(NUM_THREADS, I32, [], internal=False)
        b.ret(self.load(b, "want", "monotonic"))
        f, b = self.fn("graphc_set_num_threads", VOID, [I32], internal=False)
        n = f.args[0]
        n = b.select(b.icmp_signed("<", n, _c(1, I32)), _c(1, I32), n)
        n = b.select(b.icmp_signed(">", n, _c(MAX_THREADS, I32)), _c(MAX_THREADS, I32), n)
        self.store(b, "want", n)  # the next region restarts the pool with the new count
        b.ret_void()
        f, b = self.fn("graphc_pool_shutdown", VOID, [], internal=False)
        spin, locked = f.append_basic_block("lock"), f.append_basic_block("locked")
        b.branch(spin)
        b.position_at_end(spin)
        got = b.extract_value(b.cmpxchg(self.g["busy"], _c(0, I32), _c(1, I32), "acquire", "monotonic"), 1)
        b.cbranch(got, locked, spin)
        b.position_at_end(locked)
        mine = b.icmp_signed("==", b.call(self.getpid, []), self.load(b, "pid"))
        stop, out = f.append_basic_block("stop"), f.append_basic_block("out")
        b.cbranch(mine, stop, out)
        b.position_at_end(stop)
        b.call(self.stop_fn, [])
        b.branch(out)
        b.position_at_end(out)
        self.store(b, "busy", _c(0, I32), "release")
        b.ret_void()

    def scratch(self):
        f, b = self.fn(THREAD_SCRATCH, PTR, [I32, I64], internal=False)
        tid, nbytes = f.args
        slot = b.gep(self.g["scratch"], [tid], source_etype=PTR)
        size_slot = b.gep(self.g["scratch_size"], [tid], source_etype=I64)
        grow, done = f.append_basic_block("grow"), f.append_basic_block("done")
        b.cbranch(b.icmp_signed("<", b.load(size_slot, typ=I64), nbytes), grow, done)
        b.position_at_end(grow)
        b.call(self.free, [b.load(slot, typ=PTR)])
        b.store(ir.Constant(PTR, None), slot)
        b.store(_c(0), size_slot)
        ok = b.icmp_signed("==", b.call(self.memalign, [slot, _c(64), nbytes]), _c(0, I32))
        b.store(b.select(ok, nbytes, _c(0)), size_slot)
        b.branch(done)
        b.position_at_end(done)
        b.ret(b.load(slot, typ=PTR))


class _Callee:
    """A ``ptr`` value called as a chunk function (llvmlite wants a function type on the callee)."""

    function_type = CHUNK_FN
    type = PTR

    def __init__(self, value):
        self.value = value

    def get_reference(self):
        return self.value.get_reference()

    def __str__(self):
        return str(self.value)


class _counted:
    """``for t in range(lo, hi)`` over i32 values, as a context manager yielding ``t``."""

    def __init__(self, b, lo, hi):
        self.b, self.lo, self.hi = b, lo, hi

    def __enter__(self):
        b = self.b
        f = b.block.function
        pre = b.block
        self.head, body, self.end = (f.append_basic_block(n) for n in ("t.head", "t.body", "t.end"))
        b.branch(self.head)
        b.position_at_end(self.head)
        self.t = b.phi(I32)
        self.t.add_incoming(self.lo, pre)
        b.cbranch(b.icmp_signed("<", self.t, self.hi), body, self.end)
        b.position_at_end(body)
        return self.t

    def __exit__(self, *exc):
        b = self.b
        self.t.add_incoming(b.add(self.t, _c(1, I32)), b.block)
        b.branch(self.head)
        b.position_at_end(self.end)
        return False


def runtime_module(triple: str | None = None) -> ir.Module:
    """The pool as an LLVM module (its exported functions are ``graphc_parallel_for``,
    ``graphc_thread_scratch``, ``graphc_set_num_threads``, ``graphc_get_num_threads`` and
    ``graphc_pool_shutdown``)."""
    g = _Gen(triple or llvm.get_default_triple())
    g.run_chunks()
    g.worker()
    g.shutdown_locked()
    g.start_locked()
    g.parallel_for()
    g.api()
    g.scratch()
    return g.m


def runtime_object() -> bytes:
    """Object code of the pool for the host (for the exported C library)."""
    from .jit import new_target_machine, optimize

    return new_target_machine().emit_object(optimize(runtime_module()))


def default_num_threads() -> int:
    """``GRAPHC_NUM_THREADS`` when set, else the CPUs this process may run on."""
    from ..env import env_count

    threads = env_count("GRAPHC_NUM_THREADS")
    if threads is not None:
        return min(MAX_THREADS, threads)
    try:
        return max(1, min(MAX_THREADS, len(os.sched_getaffinity(0))))
    except (AttributeError, OSError):
        return max(1, min(MAX_THREADS, os.cpu_count() or 1))


class Runtime:
    """The JIT-compiled pool of this process. Its engine is never freed: worker threads run its
    code for the life of the process (a forked child inherits it, with the pool reset)."""

    def __init__(self):
        from .jit import new_target_machine

        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(_runtime_object()))
        self.engine.finalize_object()
        self.addresses = {}
        for name in (PARALLEL_FOR, THREAD_SCRATCH, "graphc_set_num_threads", "graphc_get_num_threads",
                     "graphc_pool_shutdown"):
            self.addresses[name] = self.engine.get_function_address(name)
            llvm.add_symbol(name, self.addresses[name])
        self.engine.detach()  # never disposed (see the class docstring)
        self.set_num_threads = ctypes.CFUNCTYPE(None, ctypes.c_int32)(self.addresses["graphc_set_num_threads"])
        self.get_num_threads = ctypes.CFUNCTYPE(ctypes.c_int32)(self.addresses["graphc_get_num_threads"])
        self.shutdown = ctypes.CFUNCTYPE(None)(self.addresses["graphc_pool_shutdown"])
        self.set_num_threads(default_num_threads())


def _runtime_object() -> bytes:
    """The pool's object code, from the disk cache when this source and CPU made it before
    (building it costs each process about 60 ms of LLVM)."""
    from .. import cache
    from .jit import new_target_machine, optimize, target_description

    here = Path(__file__).parent
    key = cache.make_key("thread-runtime", cache.graphc_version(), target_description(),
                         *(hashlib.sha256((here / f).read_bytes()).hexdigest() for f in ("threads.py", "jit.py", "compile_worker.py")))
    obj = cache.load(key)
    if obj is None:
        obj = new_target_machine().emit_object(optimize(runtime_module()))
        cache.store(key, obj, {"graphc": cache.graphc_version(), "target": target_description(), "what": "thread pool"})
    return obj


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _runtime() -> Runtime:
    return Runtime()


def ensure_runtime() -> Runtime:
    """The process's pool (compiled on first use; its symbols are then resolvable by kernels)."""
    with _lock:
        return _runtime()
