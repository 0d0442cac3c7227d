"""Parallel loops: outline a kernel-IR loop marked ``parallel`` and run it on the native pool.

A parallel loop ``for v in 0..n: body`` becomes three pieces:

* ``@kernel.parN.body(ptr noalias buf..., i64 outer_var..., i64 lo, i64 hi)`` runs
  ``for v in lo..hi: body`` (its pointers are ``noalias`` like the kernel's, so the body
  vectorises as it would in place);
* ``@kernel.parN(ptr ctx, i64 lo, i64 hi, i32 tid)`` unpacks a context struct (the kernel's
  buffer pointers and the enclosing loops' indices) and calls the body;
* at the loop's place, the context is filled and ``graphc_parallel_for(@kernel.parN, ctx, 0, n)``
  runs the chunks on the pool (``runtime/llvm/threads.py``).

Each iteration runs exactly the code it ran serially, so the split never changes a result.
Only loops with enough work are split (:func:`loop_cost`; a region costs about a microsecond),
never a loop inside an outlined body, and never one whose body touches an accumulator declared
outside it. A GEMM template statement splits its rows (in multiples of the micro-tile) and its
batch into independent sub-GEMMs; worker threads pack into their own scratch
(``graphc_thread_scratch``), the calling thread into the kernel's scratch buffer.
"""

from __future__ import annotations

import copy

from llvmlite import ir

from ..kernel_ir import AccInit, AccRef, AccSet, AccUpdate, Call, Gemm, If, Load, Loop, Store, Var
from . import gemm
from .threads import CHUNK_FN, NUM_THREADS, PARALLEL_FOR, THREAD_SCRATCH

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()

MIN_LOOP_COST = 40_000  # scalar operations (see loop_cost) below which a loop runs serially
MIN_GEMM_FLOPS = 300_000
GEMM_CHUNKS = 16  # at most this many sub-GEMMs per batch entry
_PIECES = "gemm.pieces"  # the emitter variable that carries a GEMM region's piece count into it
_EXPENSIVE = {"exp": 8, "log": 8, "tanh": 10, "sigmoid": 10, "erf": 12, "pow": 16, "sin": 12, "cos": 12,
              "div": 4, "sqrt": 4, "rsqrt": 4, "reciprocal": 4, "floordiv": 2, "mod": 2}


# ---------------------------------------------------------------------- cost model
def expr_cost(e) -> int:
    if isinstance(e, Load):
        return 1 + expr_cost(e.index)
    if isinstance(e, Call):
        own = _EXPENSIVE.get(e.op, 1 if e.dtype != "i64" else 0)
        return own + sum(expr_cost(a) for a in e.args)
    return 0


def loop_cost(stmts) -> int:
    """Roughly the scalar operations a statement list performs (loads, stores, float math)."""
    total = 0
    for s in stmts:
        if isinstance(s, Loop):
            total += s.extent * loop_cost(s.body)
        elif isinstance(s, Store):
            total += 1 + expr_cost(s.value) + expr_cost(s.index)
        elif isinstance(s, (AccInit, AccSet, AccUpdate)):
            total += 1 + expr_cost(s.value)
        elif isinstance(s, If):
            total += expr_cost(s.cond) + loop_cost(s.body)
        elif isinstance(s, Gemm):
            total += 2 * s.m * s.n * s.k * _numel(s.batch)
    return total


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _free_accumulators(stmts) -> bool:
    """Whether the statements use an accumulator they do not declare themselves."""
    declared: set[str] = set()

    def expr_uses(e) -> bool:
        if isinstance(e, AccRef):
            return e.name not in declared
        if isinstance(e, Load):
            return expr_uses(e.index)
        if isinstance(e, Call):
            return any(expr_uses(a) for a in e.args)
        return False

    def walk(body) -> bool:
        for s in body:
            if isinstance(s, AccInit):
                declared.add(s.name)
                if expr_uses(s.value):
                    return True
            elif isinstance(s, (AccUpdate, AccSet)):
                if s.name not in declared or expr_uses(s.value):
                    return True
            elif isinstance(s, Store):
                if expr_uses(s.value) or expr_uses(s.index):
                    return True
            elif isinstance(s, If):
                if expr_uses(s.cond) or walk(s.body):
                    return True
            elif isinstance(s, Loop):
                if walk(s.body):
                    return True
            elif isinstance(s, Gemm):
                return True
        return False

    return walk(stmts)


def _free_vars(stmts, bound=frozenset()) -> set[str]:
    """Loop indices the statements read but do not bind themselves."""
    out: set[str] = set()

    def expr(e):
        if isinstance(e, Var):
            if e.name not in bound:
                out.add(e.name)
        elif isinstance(e, Load):
            expr(e.index)
        elif isinstance(e, Call):
            for a in e.args:
                expr(a)

    for s in stmts:
        if isinstance(s, Loop):
            out |= _free_vars(s.body, bound | {s.var})
        elif isinstance(s, Store):
            expr(s.index)
            expr(s.value)
        elif isinstance(s, (AccInit, AccSet, AccUpdate)):
            expr(s.value)
        elif isinstance(s, If):
            expr(s.cond)
            out |= _free_vars(s.body, bound)
    return out


def should_parallelize(em, s: Loop) -> bool:
    if getattr(em, "_parallel_depth", 0) or s.extent < 2:
        return False
    return loop_cost([s]) >= MIN_LOOP_COST and not _free_accumulators(s.body)


# ---------------------------------------------------------------------- outlining
def _declare(module, name, fnty):
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, fnty, name=name)
    return fn


def _parallel_for(module):
    return _declare(module, PARALLEL_FOR, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I64]))


def _fresh_name(module, base: str) -> str:
    n = 0
    while f"{base}.par{n}" in module.globals:
        n += 1
    return f"{base}.par{n}"


def _sub_emitter(em, fn, bufs: dict, vars_: dict):
    """A copy of the emitter ``em`` that emits into ``fn`` (same module and helpers)."""
    sub = copy.copy(em)
    sub.fn = fn
    sub.bufs = bufs
    sub.vars = dict(vars_)
    sub.accs = {}
    sub.memo = {}
    sub.entry = fn.append_basic_block("entry")
    sub.builder = ir.IRBuilder(fn.append_basic_block("body"))
    sub._parallel_depth = getattr(em, "_parallel_depth", 0) + 1
    return sub


def _counted_loop(sub, var: str, lo, hi, body):
    """``for var in lo..hi: body`` in the sub-emitter (an alloca'd index, as KernelEmitter.loop)."""
    b = sub.builder
    slot = sub._alloca(I64, var)
    b.store(lo, slot)
    cond, blk, end = (sub.fn.append_basic_block(f"{var}.{n}") for n in ("cond", "body", "end"))
    b.branch(cond)
    b.position_at_end(cond)
    b.cbranch(b.icmp_signed("<", b.load(slot, typ=I64), hi), blk, end)
    b.position_at_end(blk)
    sub.vars[var] = b.load(slot, name=var, typ=I64)
    body()
    b = sub.builder
    b.store(b.add(b.load(slot, typ=I64), ir.Constant(I64, 1), flags=["nsw", "nuw"]), slot)
    b.branch(cond)
    b.position_at_end(end)


def _context(em, values):
    """An alloca'd struct holding ``values`` (pointers and i64s), filled at the current point."""
    ty = ir.LiteralStructType([v.type for v in values])
    ctx = ir.IRBuilder(em.entry).alloca(ty, name="par.ctx")
    ctx.type = PTR  # opaque, so field addresses are plain ``ptr`` (llvmlite types allocas as typed pointers)
    b = em.builder
    for i, v in enumerate(values):
        b.store(v, b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=ty, inbounds=True))
    return ctx, ty


def _unpack(b, ctx, ty, n):
    return [b.load(b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=ty, inbounds=True),
                   typ=ty.elements[i]) for i in range(n)]


def _chunk_function(module, name):
    fn = ir.Function(module, CHUNK_FN, name=name)
    fn.linkage = "internal"
    return fn


def _outline(em, var_names):
    """Start an outlined region of the kernel being emitted by ``em``.

    Returns ``(sub, (lo, hi, tid), chunk, ctx)``: ``sub`` emits into a new function taking the
    kernel's buffers (``noalias``), the enclosing loop indices ``var_names``, and the chunk
    ``lo, hi, tid``; ``chunk`` is the pool's entry for it, reading ``ctx`` (filled here)."""
    module = em.module
    name = _fresh_name(module, em.fn.name)
    buf_names = list(em.bufs)
    body_ty = ir.FunctionType(ir.VoidType(), [PTR] * len(buf_names) + [I64] * (len(var_names) + 2) + [I32])
    body_fn = ir.Function(module, body_ty, name=f"{name}.body")
    body_fn.linkage = "internal"
    args = list(body_fn.args)
    for a, n in zip(args, buf_names):
        a.name = n.replace("%", "")
        a.add_attribute("noalias")
    sub = _sub_emitter(em, body_fn, dict(zip(buf_names, args)), dict(zip(var_names, args[len(buf_names):])))
    chunk = _chunk_function(module, name)
    ctx_arg, clo, chi, tid = chunk.args
    b = ir.IRBuilder(chunk.append_basic_block("entry"))
    captured = [em.bufs[n] for n in buf_names] + [em.vars[v] for v in var_names]
    ctx, ty = _context(em, captured) if captured else (ir.Constant(PTR, None), None)
    values = _unpack(b, ctx_arg, ty, len(captured)) if captured else []
    b.call(body_fn, values + [clo, chi, tid])
    b.ret_void()
    return sub, tuple(args[-3:]), chunk, ctx


def _finish(em, sub, chunk, ctx, extent) -> None:
    """Close the outlined function and call the pool at the kernel's position (over
    ``0 <= i < extent``, an int or an i64 value)."""
    sub.builder.ret_void()
    ir.IRBuilder(sub.entry).branch(sub.fn.blocks[1])
    extent = ir.Constant(I64, extent) if isinstance(extent, int) else extent
    em.builder.call(_parallel_for(em.module), [chunk, ctx, ir.Constant(I64, 0), extent])


def emit_loop(em, s: Loop) -> None:
    """Emit the parallel loop ``s`` at the emitter's position as a pool region."""
    var_names = sorted(_free_vars([s]))  # the enclosing loops' indices the body reads
    sub, (lo, hi, _tid), chunk, ctx = _outline(em, var_names)
    _counted_loop(sub, s.var, lo, hi, lambda: sub.stmts(s.body))
    _finish(em, sub, chunk, ctx, s.extent)


# ---------------------------------------------------------------------- GEMM
def _row_split(p: gemm.Plan) -> int:
    """Rows per sub-GEMM (a multiple of the micro-tile height), or 0 for no row split."""
    if p.m < 2 * p.mr:
        return 0
    per = max(p.mr, -(-p.m // GEMM_CHUNKS))
    per = -(-per // p.mr) * p.mr
    return per if per < p.m else 0


def emit_gemm(em, s: Gemm) -> None:
    """A Gemm statement: split into independent sub-GEMMs on the pool when it is big enough."""
    p = gemm.plan(s)
    rows = _row_split(p)
    batch = _numel(p.batch)
    chunks = batch * (-(-p.m // rows) if rows else 1)
    flops = 2 * s.m * s.n * s.k * _numel(s.batch)
    if getattr(em, "_parallel_depth", 0) or chunks < 2 or flops < MIN_GEMM_FLOPS:
        gemm.emit(em, s)
        return
    module = em.module
    itemsize = 4 if s.dtype == "f32" else 8
    ty = ir.FloatType() if s.dtype == "f32" else ir.DoubleType()
    # The pool hands out pieces 0..P, each a contiguous run of the chunks. Run alone (one thread)
    # the whole range is one run: B is packed once per block, not once per 16-row chunk. On more
    # threads, a product split by rows has 2 pieces per thread (B packed twice per thread; with
    # one piece each, a thread that starts late or runs slow holds up the step), a batch one
    # piece per chunk (claimed dynamically; each entry has its own B anyway).
    if batch == 1:
        threads = em.builder.zext(em.builder.call(_declare(module, NUM_THREADS, ir.FunctionType(I32, [])), []), I64)
        want = em.builder.mul(threads, ir.Constant(I64, 2))
        em.vars[_PIECES] = em.builder.select(em.builder.icmp_signed("<", want, ir.Constant(I64, chunks)), want,
                                             ir.Constant(I64, chunks))
    else:
        em.vars[_PIECES] = ir.Constant(I64, chunks)
    sub, (plo, phi, tid), chunk, ctx = _outline(em, [_PIECES])
    pieces = em.vars.pop(_PIECES)
    b = sub.builder
    lo = b.sdiv(b.mul(plo, ir.Constant(I64, chunks)), sub.vars[_PIECES])
    hi = b.sdiv(b.mul(phi, ir.Constant(I64, chunks)), sub.vars[_PIECES])
    out, abuf, bbuf = sub.bufs[s.out], sub.bufs[s.a.buf], sub.bufs[s.b.buf]
    pa = pb = None
    if s.scratch:
        b_off, total = p.scratch_layout(itemsize)
        own = b.call(_declare(module, THREAD_SCRATCH, ir.FunctionType(PTR, [I32, I64])), [tid, ir.Constant(I64, total)])
        pa = b.select(b.icmp_signed("==", tid, ir.Constant(I32, 0)), sub.bufs[s.scratch], own)
        pb = b.gep(pa, [ir.Constant(I64, b_off)], source_etype=ir.IntType(8), inbounds=True)
    # a fused per-element epilogue (when the Gemm statement has one) runs in each chunk on its rows
    ep = gemm._Epilogue(sub, s, ty) if getattr(s, "epilogue", None) else None
    per_batch = chunks // batch

    def c(v):
        return ir.Constant(I64, v)

    # A thread's chunks lo..hi are whole batch entries, or row chunks of them: per batch entry it
    # runs the driver once over its chunks there, so each block of B is packed once per thread and
    # entry (a driver per 16-row chunk packed all of B again for each: a 64 x 784 x 256 product
    # packed W^T four times)
    first, last = b.sdiv(lo, c(per_batch)), b.sdiv(b.add(hi, c(per_batch - 1)), c(per_batch))
    with gemm.counted(b, first, last, 1, "entry") as bi:
        aoff, boff = c(s.a.offset), c(s.b.offset)
        rest = bi
        for d in reversed(range(len(p.batch))):  # the batch index, innermost dimension last
            idx = b.srem(rest, c(p.batch[d]))
            rest = b.sdiv(rest, c(p.batch[d]))
            aoff = b.add(aoff, b.mul(idx, c(p.a_batch[d])))
            boff = b.add(boff, b.mul(idx, c(p.b_batch[d])))
        aptr = b.gep(abuf, [aoff], source_etype=ty, inbounds=True)
        bptr = b.gep(bbuf, [boff], source_etype=ty, inbounds=True)
        cptr = b.gep(out, [b.mul(bi, c(p.m * p.n))], source_etype=ty, inbounds=True)
        row0 = b.mul(bi, c(p.m))  # the epilogue's row: over batch + (m,), flattened
        span = None
        if rows:
            base = b.mul(bi, c(per_batch))
            clo, chi = b.sub(lo, base), b.sub(hi, base)
            span = (b.select(b.icmp_signed("<", clo, c(0)), c(0), clo),
                    b.select(b.icmp_signed(">", chi, c(per_batch)), c(per_batch), chi), rows)
        gemm._driver(b, module, p, s.dtype, ty, aptr, bptr, cptr, pa, pb, ep=ep, row0=row0, chunks=span)
    _finish(em, sub, chunk, ctx, pieces)
