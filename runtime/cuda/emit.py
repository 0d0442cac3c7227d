"""Kernel IR -> NVPTX LLVM IR: one ``ptx_kernel`` function per launch (see ``schedule.py``).

The statement and expression rendering is the CPU emitter's (``runtime/llvm/codegen.py``); this
file adds what differs on a GPU: the thread mapping around each phase (grid-stride loops over
the parallel points), block reductions (``llvm.nvvm.shfl.sync.bfly`` within a warp, shared
memory across warps), device math instead of libm calls, and the tiled GEMM (``gemm.py``).
Kernel parameters are generic pointers to global memory, one per buffer, in the kernel's order.
"""

from __future__ import annotations

from llvmlite import ir

from graphc.ir.errors import CompileError

from ..kernel_ir import AccUpdate, Gemm
from ..llvm.codegen import F32, F64, I32, I64, PTR, REG, KernelEmitter
from . import gemm
from .devmath import DeviceMath
from .schedule import BLOCK, MAX_BLOCKS, Phase

_SREG = {"tid": "tid", "ntid": "ntid", "ctaid": "ctaid", "nctaid": "nctaid"}
_DEVICE_MATH = ("exp", "log", "tanh", "sigmoid", "sin", "cos", "pow", "erf")
WARP = 32


class Launch:
    """What the host needs to start one kernel: name, grid, block, shared bytes, buffer names."""

    def __init__(self, name: str, grid: tuple, block: tuple, shared: int, buffers: list[str], kernel: str):
        self.name, self.grid, self.block, self.shared, self.buffers, self.kernel = name, grid, block, shared, buffers, kernel

    def as_dict(self) -> dict:
        return {"name": self.name, "grid": list(self.grid), "block": list(self.block), "shared": self.shared,
                "buffers": list(self.buffers), "kernel": self.kernel}


class PTXEmitter(KernelEmitter):
    """Emits the launches of kernels into one NVPTX module."""

    atomic: set = frozenset()
    native_threads = False  # the grid is the parallelism: loops inside a launch stay plain loops

    # ------------------------------------------------------------------ helpers
    def sreg(self, name: str, dim: str = "x"):
        full = f"llvm.nvvm.read.ptx.sreg.{_SREG[name]}.{dim}"
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(I32, []), name=full)
        return self.builder.zext(self.builder.call(fn, []), I64)

    def barrier(self):
        fn = self.module.globals.get("llvm.nvvm.barrier0")
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), []), name="llvm.nvvm.barrier0")
        self.builder.call(fn, [])

    def shared_array(self, name: str, nbytes: int):
        g = ir.GlobalVariable(self.module, ir.ArrayType(ir.IntType(8), nbytes), name, addrspace=3)
        g.linkage = "internal"
        g.initializer = ir.Constant(ir.ArrayType(ir.IntType(8), nbytes), ir.Undefined)
        g.align = 16
        g.type = ir.PointerType(addrspace=3)  # referenced as an opaque `ptr addrspace(3)`
        return g

    def _begin(self, name: str, buffers: list[str]) -> None:
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR] * len(buffers)), name=name)
        fn.calling_convention = "ptx_kernel"
        for arg, buf in zip(fn.args, buffers):
            arg.name = buf
        self.fn = fn
        self.bufs = dict(zip(buffers, fn.args))
        self.entry = fn.append_basic_block("entry")
        body = fn.append_basic_block("body")
        self.builder = ir.IRBuilder(body)
        self._first = body
        self.vars = {}
        self.accs = {}
        self.memo = {}

    def _finish(self) -> None:
        self.builder.ret_void()
        ir.IRBuilder(self.entry).branch(self._first)

    def counted(self, name: str, start, end, step, body_fn) -> None:
        """``for (v = start; v < end; v += step) body_fn(v)`` with i64 values."""
        b = self.builder
        slot = self._alloca(I64, name)
        b.store(start, slot)
        cond = self.fn.append_basic_block(f"{name}.cond")
        body = self.fn.append_basic_block(f"{name}.body")
        done = self.fn.append_basic_block(f"{name}.end")
        b.branch(cond)
        b.position_at_end(cond)
        b.cbranch(b.icmp_signed("<", b.load(slot, typ=I64), end), body, done)
        b.position_at_end(body)
        body_fn(b.load(slot, typ=I64))
        b = self.builder
        b.store(b.add(b.load(slot, typ=I64), step), slot)
        b.branch(cond)
        b.position_at_end(done)

    def when(self, cond, body_fn) -> None:
        b = self.builder
        then = self.fn.append_basic_block("then")
        done = self.fn.append_basic_block("endif")
        b.cbranch(cond, then, done)
        b.position_at_end(then)
        body_fn()
        self.builder.branch(done)
        self.builder.position_at_end(done)

    def set_point(self, flat, pairs) -> None:
        """Bind the loop variables ``pairs`` (row-major) to the flat point index ``flat``."""
        b = self.builder
        rest = flat
        for var, extent in reversed(pairs):
            if extent == 1:
                self.vars[var] = ir.Constant(I64, 0)
                continue
            self.vars[var] = b.urem(rest, ir.Constant(I64, extent))
            rest = b.udiv(rest, ir.Constant(I64, extent))

    # ------------------------------------------------------------------ statements and math
    def stmts(self, stmts):
        for s in stmts:
            if isinstance(s, Gemm):
                raise CompileError("a GEMM statement nested in loops has no CUDA lowering")
        super().stmts(stmts)

    def store(self, s):
        if s.buf in self.atomic:  # B[i] = B[i] + v as one atomic add (see schedule.py)
            value = self.expr(s.value.args[1])
            self.builder.atomic_rmw("fadd", self._address(s.buf, s.index, s.value.dtype), value, "monotonic")
            return
        super().store(s)

    def float_op(self, op, a, ty):
        if op in _DEVICE_MATH:
            dm = DeviceMath(self.builder, self._intrinsic)
            return getattr(dm, op)(*a)
        return super().float_op(op, a, ty)

    # ------------------------------------------------------------------ phases
    def emit_phase(self, name: str, buffers: list[str], phase: Phase) -> Launch | None:
        self.atomic = phase.atomic
        if phase.kind == "gemm":
            return gemm.emit(self, name, buffers, phase.gemm)
        if phase.points == 0:
            return None
        self._begin(name, buffers)
        if phase.kind == "grid":
            block = min(BLOCK, -(-phase.points // WARP) * WARP)
            grid = min(MAX_BLOCKS, -(-phase.points // block))
            self._grid(phase)
            shared = 0
        else:
            block = BLOCK
            grid = min(MAX_BLOCKS, phase.points)
            shared = self._reduce(name, phase)
        self._finish()
        return Launch(name, (grid, 1, 1), (block, 1, 1), shared, buffers, "")

    def _grid(self, phase: Phase) -> None:
        b = self.builder
        start = b.add(b.mul(self.sreg("ctaid"), self.sreg("ntid")), self.sreg("tid"))
        step = b.mul(self.sreg("nctaid"), self.sreg("ntid"))

        def point(t):
            self.set_point(t, phase.parallel)
            self.stmts(phase.body)

        self.counted("pt", start, ir.Constant(I64, phase.points), step, point)

    def _reduce(self, name: str, phase: Phase) -> int:
        """One block per output point: strided partial results, warp shuffles, shared memory."""
        nacc = len(phase.inits)
        smem = self.shared_array(f"{name}_partials", nacc * WARP * 8)
        tid = self.sreg("tid")
        lane = self.builder.and_(tid, ir.Constant(I64, WARP - 1))
        warp = self.builder.lshr(tid, ir.Constant(I64, 5))

        def point(e):
            self.set_point(e, phase.parallel)
            self.memo = {}
            starts = [self.expr(i.value) for i in phase.inits]
            partial = {}
            for init in phase.inits:
                slot = self._alloca(REG[init.dtype], init.name)
                self.builder.store(_identity(init.dtype, _op_of(phase.updates, init.name)), slot)
                self.accs[init.name] = slot
                partial[init.name] = slot

            def element(r):
                self.set_point(r, phase.reduce_loops)
                self.stmts(phase.updates)

            self.counted("red", tid, ir.Constant(I64, phase.reduced), ir.Constant(I64, BLOCK), element)
            totals = []
            for n, init in enumerate(phase.inits):
                op = _op_of(phase.updates, init.name)
                ty = REG[init.dtype]
                v = self.warp_reduce(self.builder.load(partial[init.name], typ=ty), op)
                cell = self.builder.gep(smem, [b_i64(n * WARP * 8)], source_etype=ir.IntType(8))
                cell = self.builder.gep(cell, [warp], source_etype=ty)
                self.when(self.builder.icmp_unsigned("==", lane, ir.Constant(I64, 0)),
                          lambda c=cell, v=v: self.builder.store(v, c))
                totals.append((init, op, ty, n))
            self.barrier()
            finals = []
            for init, op, ty, n in totals:
                cell = self.builder.gep(smem, [b_i64(n * WARP * 8)], source_etype=ir.IntType(8))
                cell = self.builder.gep(cell, [lane], source_etype=ty)
                ok = self.builder.icmp_unsigned("<", lane, ir.Constant(I64, BLOCK // WARP))
                v = self.builder.select(ok, self.builder.load(cell, typ=ty), _identity(init.dtype, op))
                finals.append(self.warp_reduce(v, op))
            self.barrier()  # the next point's partials may overwrite shared memory only now

            def finish():
                for (init, op, _ty, _n), total, start in zip(totals, finals, starts):
                    self.builder.store(self.combine(start, total, op), self.accs[init.name])
                self.memo = {}
                self.stmts(phase.tail)

            self.when(self.builder.icmp_unsigned("==", tid, ir.Constant(I64, 0)), finish)

        self.counted("out", self.sreg("ctaid"), ir.Constant(I64, phase.points), self.sreg("nctaid"), point)
        return 0  # the partials are static shared memory, declared in the module

    def combine(self, a, b_, op: str):
        b = self.builder
        is_float = a.type in (F32, F64)
        if op == "add":
            return b.fadd(a, b_) if is_float else b.add(a, b_)
        if is_float:
            return b.call(self._intrinsic("llvm.maximum" if op == "max" else "llvm.minimum", a.type, 2), [a, b_])
        pick = b.icmp_signed(">" if op == "max" else "<", b_, a)
        return b.select(pick, b_, a)

    def shuffle_xor(self, v, lane_mask: int):
        """``v`` of the lane ``lane ^ lane_mask`` in this warp (64-bit values as two 32-bit halves)."""
        b = self.builder

        def shfl32(x):
            name = "llvm.nvvm.shfl.sync.bfly.f32" if x.type == F32 else "llvm.nvvm.shfl.sync.bfly.i32"
            fn = self.module.globals.get(name)
            if fn is None:
                fn = ir.Function(self.module, ir.FunctionType(x.type, [I32, x.type, I32, I32]), name=name)
            return b.call(fn, [ir.Constant(I32, -1), x, ir.Constant(I32, lane_mask), ir.Constant(I32, WARP - 1)])

        if v.type in (F32, I32):
            return shfl32(v)
        bits = b.bitcast(v, I64) if v.type == F64 else v
        lo = shfl32(b.trunc(bits, I32))
        hi = shfl32(b.trunc(b.lshr(bits, ir.Constant(I64, 32)), I32))
        joined = b.or_(b.shl(b.zext(hi, I64), ir.Constant(I64, 32)), b.zext(lo, I64))
        return b.bitcast(joined, F64) if v.type == F64 else joined

    def warp_reduce(self, v, op: str):
        for mask in (16, 8, 4, 2, 1):
            v = self.combine(v, self.shuffle_xor(v, mask), op)
        return v


def b_i64(n: int):
    return ir.Constant(I64, n)


def _op_of(updates, name: str) -> str:
    ops = {u.op for u in updates if isinstance(u, AccUpdate) and u.name == name}
    if len(ops) != 1:
        raise CompileError(f"accumulator {name} is updated with {sorted(ops)}: no block reduction for that")
    return ops.pop()


def _identity(dtype: str, op: str):
    ty = REG[dtype]
    if dtype in ("f32", "f64"):
        return ir.Constant(ty, {"add": 0.0, "max": float("-inf"), "min": float("inf")}[op])
    bits = 64 if dtype == "i64" else 32
    return ir.Constant(ty, {"add": 0, "max": -(2 ** (bits - 1)), "min": 2 ** (bits - 1) - 1}[op])

