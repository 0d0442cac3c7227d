"""Kernel IR -> LLVM IR (llvmlite.ir): one function per kernel, loops as counted blocks.

Each kernel becomes ``internal void @name(ptr noalias %b0, ptr noalias %b1, ...)``, one pointer
per buffer it touches; loop indices and accumulators live in allocas that LLVM's SROA turns into
registers, so the optimisation pipeline sees canonical loops it can vectorise for the host (AVX-512 here).
Reductions use ``reassoc`` on their accumulating adds so they vectorise too; a sum of products
accumulates with ``llvm.fmuladd`` (fused multiply-adds, vectorised as such).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from graphc.ir.errors import CompileError

from ..kernel_ir import (
    AccInit,
    AccRef,
    AccSet,
    AccUpdate,
    Call,
    Const,
    Gemm,
    If,
    Kernel,
    Load,
    Loop,
    Store,
    Var,
)
from . import parallel, vecmath

F32, F64, I64, I32, I8, I1 = ir.FloatType(), ir.DoubleType(), ir.IntType(64), ir.IntType(32), ir.IntType(8), ir.IntType(1)
PTR = ir.PointerType()
REG = {"f32": F32, "f64": F64, "i64": I64, "i32": I32, "bool": I1}
MEM = {"f32": F32, "f64": F64, "i64": I64, "i32": I32, "bool": I8}

_FCMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_LIBM = {"tanh": "tanh", "erf": "erf"}  # no LLVM intrinsic: call libm (tanhf / tanh)
_INTRINSIC = {"exp": "llvm.exp", "log": "llvm.log", "sqrt": "llvm.sqrt", "sin": "llvm.sin", "cos": "llvm.cos",
              "abs": "llvm.fabs", "pow": "llvm.pow", "maximum": "llvm.maximum", "minimum": "llvm.minimum",
              "floor": "llvm.floor"}


class _LoopID(ir.values.MDValue):
    """A self-referencing metadata node (llvmlite's nodes hash by operands, which would recurse)."""

    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other


class KernelEmitter:
    """Emits kernels into one llvmlite module."""

    # parallel loops and GEMMs run on the native thread pool; a subclass for a target with its
    # own parallelism (the CUDA grid) sets this False and gets plain loops and the GEMM fallback
    native_threads = True

    def __init__(self, module: ir.Module):
        self.module = module

    def _intrinsic(self, name: str, ty, nargs: int):
        suffix = ".f32" if ty == F32 else ".f64"
        full = name + suffix
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty] * nargs), name=full)
        return fn

    def _libm(self, name: str, ty):
        full = name + ("f" if ty == F32 else "")
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty]), name=full)
        return fn

    def emit(self, kernel: Kernel, symbol: str | None = None) -> ir.Function:
        """The kernel as an internal function named after it, or as the external ``symbol``
        (a kernel compiled in one part of a program and called from another)."""
        fnty = ir.FunctionType(ir.VoidType(), [PTR] * len(kernel.buffers))
        fn = ir.Function(self.module, fnty, name=symbol or kernel.name)
        if symbol is None:
            fn.linkage = "internal"
        # each kernel is called once, from the step: inlining them all made one function whose
        # optimisation grows faster than linearly (an unrolled 32-step LSTM: 22 s -> 7.6 s
        # without), and a call per kernel costs nothing measurable
        fn.attributes.add("noinline")
        for arg, name in zip(fn.args, kernel.buffers):
            arg.name = name.replace("%", "")
            arg.add_attribute("noalias")
        self.fn = fn
        self.bufs = dict(zip(kernel.buffers, fn.args))
        self.entry = fn.append_basic_block("entry")
        body = fn.append_basic_block("body")
        self.builder = ir.IRBuilder(body)
        self.vars: dict[str, ir.Value] = {}
        self.accs: dict[str, ir.Value] = {}
        self.stmts(kernel.body)
        self.builder.ret_void()
        ir.IRBuilder(self.entry).branch(body)
        return fn

    def _alloca(self, ty, name):
        b = ir.IRBuilder(self.entry)
        return b.alloca(ty, name=name)

    # ------------------------------------------------------------------ statements
    def stmts(self, stmts):
        for s in stmts:
            self.memo = {}  # shared subexpressions are emitted once per statement (keyed by identity)
            if isinstance(s, Loop):
                if s.parallel and self.native_threads and parallel.should_parallelize(self, s):
                    parallel.emit_loop(self, s)  # outlined, run on the native thread pool
                else:
                    self.loop(s)
            elif isinstance(s, Store):
                self.store(s)
            elif isinstance(s, AccInit):
                slot = self._alloca(REG[s.dtype], s.name)
                self.accs[s.name] = slot
                self.builder.store(self.expr(s.value), slot)
            elif isinstance(s, AccUpdate):
                self.acc_update(s)
            elif isinstance(s, AccSet):
                self.builder.store(self.expr(s.value), self.accs[s.name])
            elif isinstance(s, If):
                self.if_(s)
            elif isinstance(s, Gemm):
                parallel.emit_gemm(self, s)  # the GEMM template (packed, blocked, register-tiled), split across threads
            else:
                raise CompileError(f"unknown kernel statement {s!r}")

    def loop(self, s: Loop):
        b = self.builder
        slot = self._alloca(I64, s.var)
        b.store(ir.Constant(I64, 0), slot)
        cond = self.fn.append_basic_block(f"{s.var}.cond")
        body = self.fn.append_basic_block(f"{s.var}.body")
        end = self.fn.append_basic_block(f"{s.var}.end")
        b.branch(cond)
        b.position_at_end(cond)
        i = b.load(slot, typ=I64)
        b.cbranch(b.icmp_signed("<", i, ir.Constant(I64, s.extent)), body, end)
        b.position_at_end(body)
        outer = self.vars.get(s.var)
        self.vars[s.var] = b.load(slot, name=s.var, typ=I64)
        self.stmts(s.body)
        b = self.builder
        b.store(b.add(b.load(slot, typ=I64), ir.Constant(I64, 1), flags=["nsw", "nuw"]), slot)
        latch = b.branch(cond)
        if not s.vectorize or s.unroll:
            latch.set_metadata("llvm.loop", self._loop_id(s))
        b.position_at_end(end)
        if outer is not None:
            self.vars[s.var] = outer

    def _loop_id(self, s: Loop):
        """A loop ID with the loop's hints, each loop its own: a scalar loop asks LLVM's loop
        vectoriser to leave it alone (it may still be unrolled, and the unrolled body vectorised
        by SLP); an unroll loop asks for full unrolling, which LLVM's O2 thresholds would
        otherwise refuse a 14-iteration pooling row."""
        module = self.fn.module
        loop_id = _LoopID(module, [], name=str(len(module.metadata)))
        hints = []
        if not s.vectorize:
            hints.append(module.add_metadata([ir.MetaDataString(module, "llvm.loop.vectorize.width"),
                                              ir.Constant(ir.IntType(32), 1)]))
        if s.unroll:
            hints.append(module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.full")]))
        loop_id.operands = (loop_id, *hints)  # a loop ID's first operand is itself
        return loop_id

    def if_(self, s: If):
        b = self.builder
        then = self.fn.append_basic_block("then")
        done = self.fn.append_basic_block("endif")
        b.cbranch(self.expr(s.cond), then, done)
        b.position_at_end(then)
        self.stmts(s.body)
        self.builder.branch(done)
        self.builder.position_at_end(done)

    def _address(self, buf: str, index, dtype: str):
        return self.builder.gep(self.bufs[buf], [self.expr(index)], source_etype=MEM[dtype], inbounds=True)

    def store(self, s: Store):
        value = self.expr(s.value)
        dtype = _dtype_of(s.value)
        if dtype == "bool":
            value = self.builder.zext(value, I8)
        self.builder.store(value, self._address(s.buf, s.index, dtype))

    def acc_update(self, s: AccUpdate):
        b = self.builder
        slot = self.accs[s.name]
        cur = b.load(slot, typ=slot.allocated_type)
        is_float = isinstance(cur.type, (ir.FloatType, ir.DoubleType))
        if (s.op == "add" and is_float and isinstance(s.value, Call) and s.value.op == "mul"
                and _dtype_of(s.value) == ("f32" if cur.type == F32 else "f64")):
            # a sum of products (a dot product) accumulates with fused multiply-adds: one
            # instruction and one rounding per term instead of two (the sum is reassociated anyway)
            x, y = (self.expr(a) for a in s.value.args)
            b.store(b.call(self._intrinsic("llvm.fmuladd", cur.type, 3), [x, y, cur],
                           fastmath=("reassoc", "nsz", "contract")), slot)
            return
        v = self.expr(s.value)
        if s.op == "add":
            new = b.fadd(cur, v, flags=["reassoc", "nsz"]) if is_float else b.add(cur, v)
        elif s.op == "max":
            new = b.call(self._intrinsic("llvm.maximum", cur.type, 2), [cur, v]) if is_float else b.select(b.icmp_signed(">", v, cur), v, cur)
        elif s.op == "min":
            new = b.call(self._intrinsic("llvm.minimum", cur.type, 2), [cur, v]) if is_float else b.select(b.icmp_signed("<", v, cur), v, cur)
        else:
            raise CompileError(f"unknown accumulator op {s.op}")
        b.store(new, slot)

    # ------------------------------------------------------------------ expressions
    def expr(self, e):
        key = id(e)
        hit = self.memo.get(key)
        if hit is not None and hit[0] is e:
            return hit[1]
        value = self._expr(e)
        self.memo[key] = (e, value)
        return value

    def _expr(self, e):
        b = self.builder
        if isinstance(e, Var):
            return self.vars[e.name]
        if isinstance(e, Const):
            if e.dtype == "bool":
                return ir.Constant(I1, int(bool(e.value)))
            ty = REG[e.dtype]
            return ir.Constant(ty, float(e.value) if e.dtype in ("f32", "f64") else int(e.value))
        if isinstance(e, AccRef):
            return b.load(self.accs[e.name], typ=REG[e.dtype])
        if isinstance(e, Load):
            v = b.load(self._address(e.buf, e.index, e.dtype), typ=MEM[e.dtype])
            return b.trunc(v, I1) if e.dtype == "bool" else v
        if isinstance(e, Call):
            return self.call(e)
        raise CompileError(f"unknown kernel expression {e!r}")

    def call(self, e: Call):
        b = self.builder
        op = e.op
        if op == "cast":
            terms = _widened_fma(e)
            if terms is not None:
                return b.call(self._intrinsic("llvm.fma", F32, 3), [self.expr(t) for t in terms])
            return self.cast(self.expr(e.args[0]), _dtype_of(e.args[0]), e.dtype)
        if op == "select":
            c, x, y = (self.expr(a) for a in e.args)
            return b.select(c, x, y)
        if op == "checked_index":
            return self.checked_index(*e.args)
        args = [self.expr(a) for a in e.args]
        src = _dtype_of(e.args[0])
        if src in ("f32", "f64"):
            return self.float_op(op, args, REG[src])
        if src == "bool":
            if op == "logical_and" or op == "mul":
                return b.and_(*args)
            if op == "logical_or" or op == "add":
                return b.or_(*args)
            if op == "logical_not":
                return b.xor(args[0], ir.Constant(I1, 1))
            if op in ("eq", "ne"):
                return b.icmp_unsigned(_FCMP[op], *args)
            raise CompileError(f"op {op} on bool values has no lowering")
        return self.int_op(op, args, REG[src])

    def vector_math(self, op, x):
        """float32 exp/log/tanh/sigmoid as straight-line code the loop vectoriser can widen."""
        b = self.builder
        floor = self._intrinsic("llvm.floor", F32, 1)
        if op == "exp":
            return vecmath.exp_f32(b, x, floor)
        if op == "log":
            return vecmath.log_f32(b, x)
        if op == "tanh":
            return vecmath.tanh_f32(b, x, floor, self._intrinsic("llvm.fabs", F32, 1))
        e = vecmath.exp_f32(b, b.fneg(x), floor)  # sigmoid
        return b.fdiv(ir.Constant(F32, 1.0), b.fadd(ir.Constant(F32, 1.0), e))

    def checked_index(self, index, size, code):
        """An index from data: out of range stores the error code and yields 0 (never out of bounds)."""
        b = self.builder
        i = self.expr(index)
        ok = b.and_(b.icmp_signed(">=", i, ir.Constant(I64, 0)), b.icmp_signed("<", i, ir.Constant(I64, size.value)))
        bad = self.fn.append_basic_block("index.bad")
        cont = self.fn.append_basic_block("index.ok")
        b.cbranch(ok, cont, bad)
        b.position_at_end(bad)
        b.store(ir.Constant(I64, code.value), self.bufs["err"])
        b.branch(cont)
        b.position_at_end(cont)
        return b.select(ok, i, ir.Constant(I64, 0))

    def float_op(self, op, a, ty):
        b = self.builder
        one = ir.Constant(ty, 1.0)
        zero = ir.Constant(ty, 0.0)
        if op == "add":
            return b.fadd(*a)
        if op == "sub":
            return b.fsub(*a)
        if op == "mul":
            return b.fmul(*a)
        if op == "div":
            return b.fdiv(*a)
        if op == "neg":
            return b.fneg(a[0])
        if ty == F32 and op in ("exp", "log", "tanh", "sigmoid"):
            return self.vector_math(op, a[0])
        if op in _INTRINSIC:
            return b.call(self._intrinsic(_INTRINSIC[op], ty, len(a)), a)
        if op in _LIBM:
            return b.call(self._libm(_LIBM[op], ty), a)
        if op == "rsqrt":
            return b.fdiv(one, b.call(self._intrinsic("llvm.sqrt", ty, 1), a))
        if op == "reciprocal":
            return b.fdiv(one, a[0])
        if op == "sigmoid":
            e = b.call(self._intrinsic("llvm.exp", ty, 1), [b.fneg(a[0])])
            return b.fdiv(one, b.fadd(one, e))
        if op == "relu":  # NaN stays NaN, as in PyTorch
            return b.select(b.fcmp_ordered("<", a[0], zero), zero, a[0])
        if op == "sign":
            pos = b.select(b.fcmp_ordered(">", a[0], zero), one, a[0])
            return b.select(b.fcmp_ordered("<", a[0], zero), ir.Constant(ty, -1.0), pos)
        if op in _FCMP:
            if op == "ne":
                return b.fcmp_unordered("!=", *a)
            return b.fcmp_ordered(_FCMP[op], *a)
        raise CompileError(f"float op {op} has no LLVM lowering")

    def int_op(self, op, a, ty):
        b = self.builder
        if op == "add":
            return b.add(*a)
        if op == "sub":
            return b.sub(*a)
        if op == "mul":
            return b.mul(*a)
        if op in ("div", "floordiv"):  # index math is non-negative; tensor int division truncates
            return b.sdiv(*a)
        if op == "mod":
            return b.srem(*a)
        if op == "neg":
            return b.neg(a[0])
        if op == "abs":
            return b.select(b.icmp_signed("<", a[0], ir.Constant(ty, 0)), b.neg(a[0]), a[0])
        if op in ("maximum", "max"):
            return b.select(b.icmp_signed(">", a[0], a[1]), a[0], a[1])
        if op in ("minimum", "min"):
            return b.select(b.icmp_signed("<", a[0], a[1]), a[0], a[1])
        if op == "relu":
            return b.select(b.icmp_signed("<", a[0], ir.Constant(ty, 0)), ir.Constant(ty, 0), a[0])
        if op == "sign":
            pos = b.zext(b.icmp_signed(">", a[0], ir.Constant(ty, 0)), ty)
            neg = b.zext(b.icmp_signed("<", a[0], ir.Constant(ty, 0)), ty)
            return b.sub(pos, neg)
        if op in _FCMP:
            return b.icmp_signed(_FCMP[op], *a)
        if op == "xor":
            return b.xor(*a)
        if op == "and":
            return b.and_(*a)
        if op == "shr":
            return b.lshr(*a)
        if op == "shl":
            return b.shl(*a)
        raise CompileError(f"integer op {op} has no LLVM lowering")

    def cast(self, v, src: str, dst: str):
        b = self.builder
        if src == dst:
            return v
        st, dt = REG[src], REG[dst]
        if dst == "bool":
            if src in ("f32", "f64"):
                return b.fcmp_unordered("!=", v, ir.Constant(st, 0.0))
            return b.icmp_signed("!=", v, ir.Constant(st, 0))
        if src == "bool":
            return b.uitofp(v, dt) if dst in ("f32", "f64") else b.zext(v, dt)
        if src in ("f32", "f64") and dst in ("f32", "f64"):
            return b.fpext(v, dt) if dst == "f64" else b.fptrunc(v, dt)
        if src in ("f32", "f64"):
            return b.fptosi(v, dt)
        if dst in ("f32", "f64"):
            return b.sitofp(v, dt)
        return b.sext(v, dt) if dst == "i64" else b.trunc(v, dt)


def _dtype_of(e) -> str:
    return e.dtype


def _widened_fma(e: Call):
    """``(a, b, c)`` when ``e`` is ``float32(float64(a) * float64(b) + float64(c))`` with float32
    ``a``, ``b``, ``c`` (constants included), else None.

    That is how ``graphc.optim.rounding.fma`` writes PyTorch's fused multiply-add with plain ops
    (the optimizers' ``add_(g, alpha=-lr)``, ``addcmul_``, ``lerp_``): the product is exact in
    float64, the sum rounded there and again to float32. One float32 ``llvm.fma`` computes the
    same sum rounded once, which is what PyTorch's CPU kernels compute, without six conversions
    and two float64 operations per element (an optimizer epilogue's arithmetic, halved)."""
    if e.dtype != "f32" or _dtype_of(e.args[0]) != "f64":
        return None
    s = e.args[0]
    if not (isinstance(s, Call) and s.op == "add"):
        return None
    for prod, addend in (s.args, s.args[::-1]):
        if isinstance(prod, Call) and prod.op == "mul":
            terms = [_narrowed(x) for x in (*prod.args, addend)]
            if None not in terms:
                return terms
    return None


def _narrowed(x):
    """The float32 value a float64 expression widened, or None."""
    if isinstance(x, Call) and x.op == "cast" and _dtype_of(x.args[0]) == "f32":
        return x.args[0]
    if isinstance(x, Const) and x.dtype == "f64" and float(np.float32(x.value)) == x.value:
        return Const(float(x.value), "f32")
    return None
