"""The GEMM statement as a shared-memory tiled CUDA kernel, with its fused epilogue.

A block of TILE x TILE threads computes a TILE x TILE tile of ``out`` for one batch index:
for each step of TILE along k, every thread loads one element of A's and one of B's tile into
shared memory (out-of-range positions load a clamped, valid address and use 0), the block
synchronises, and each thread accumulates its dot product from shared memory. Operands are the
statement's strided views, so transposed or broadcast operands need no copy. ``blockIdx.z``
strides over the batch. When the statement has an ``epilogue`` (statements per output element,
reading the product as ``AccRef(epilogue_acc)`` at ``Var("gemm_row")``/``Var("gemm_col")``), the
owning thread runs it after storing the product.
"""

from __future__ import annotations

from llvmlite import ir

from ..kernel_ir import Gemm
from ..llvm.codegen import I64, REG

TILE = 16
MAX_Z = 65535


def _operand_index(e, op, batch_offset, r, c):
    b = e.builder
    idx = b.add(b.add(ir.Constant(I64, op.offset), batch_offset),
                b.add(b.mul(r, ir.Constant(I64, op.row_stride)), b.mul(c, ir.Constant(I64, op.col_stride))))
    return idx


def _clamp(b, v, hi: int):
    return b.select(b.icmp_signed("<", v, ir.Constant(I64, hi)), v, ir.Constant(I64, max(hi - 1, 0)))


def emit(e, name: str, buffers: list[str], g: Gemm):
    from .emit import Launch

    ty = REG[g.dtype]
    size = 4 if g.dtype == "f32" else 8
    e._begin(name, buffers)
    a_tile = e.shared_array(f"{name}_a", TILE * TILE * size)
    b_tile = e.shared_array(f"{name}_b", TILE * TILE * size)
    tx, ty_ = e.sreg("tid", "x"), e.sreg("tid", "y")
    row = e.builder.add(e.builder.mul(e.sreg("ctaid", "y"), ir.Constant(I64, TILE)), ty_)
    col = e.builder.add(e.builder.mul(e.sreg("ctaid", "x"), ir.Constant(I64, TILE)), tx)
    nbatch = 1
    for s in g.batch:
        nbatch *= s
    acc = e._alloca(ty, "gemm_sum")
    zero = ir.Constant(ty, 0.0)

    def cell(tile, r, c):
        flat = e.builder.add(e.builder.mul(r, ir.Constant(I64, TILE)), c)
        return e.builder.gep(tile, [flat], source_etype=ty)

    def one_batch(bz):
        b = e.builder
        offsets = [ir.Constant(I64, 0)] * 2
        rest = bz
        for d in reversed(range(len(g.batch))):
            coord = b.urem(rest, ir.Constant(I64, g.batch[d]))
            rest = b.udiv(rest, ir.Constant(I64, g.batch[d]))
            offsets = [b.add(offsets[0], b.mul(coord, ir.Constant(I64, g.a.batch_strides[d]))),
                       b.add(offsets[1], b.mul(coord, ir.Constant(I64, g.b.batch_strides[d])))]
        b.store(zero, acc)
        row_ok = b.icmp_signed("<", row, ir.Constant(I64, g.m))
        col_ok = b.icmp_signed("<", col, ir.Constant(I64, g.n))
        row_c, col_c = _clamp(b, row, g.m), _clamp(b, col, g.n)

        def k_step(k0):
            b = e.builder
            ka = b.add(k0, tx)
            ka_ok = b.and_(row_ok, b.icmp_signed("<", ka, ir.Constant(I64, g.k)))
            ia = _operand_index(e, g.a, offsets[0], row_c, _clamp(b, ka, g.k))
            va = b.load(b.gep(e.bufs[g.a.buf], [ia], source_etype=ty), typ=ty)
            b.store(b.select(ka_ok, va, zero), cell(a_tile, ty_, tx))
            kb = b.add(k0, ty_)
            kb_ok = b.and_(col_ok, b.icmp_signed("<", kb, ir.Constant(I64, g.k)))
            ib = _operand_index(e, g.b, offsets[1], _clamp(b, kb, g.k), col_c)
            vb = b.load(b.gep(e.bufs[g.b.buf], [ib], source_etype=ty), typ=ty)
            b.store(b.select(kb_ok, vb, zero), cell(b_tile, ty_, tx))
            e.barrier()
            s = b.load(acc, typ=ty)
            for kk in range(TILE):
                x = b.load(cell(a_tile, ty_, ir.Constant(I64, kk)), typ=ty)
                y = b.load(cell(b_tile, ir.Constant(I64, kk), tx), typ=ty)
                s = b.fadd(s, b.fmul(x, y))
            b.store(s, acc)
            e.barrier()  # the tiles are overwritten by the next step only after every thread read them

        e.counted("k0", ir.Constant(I64, 0), ir.Constant(I64, g.k), ir.Constant(I64, TILE), k_step)

        def store():
            b = e.builder
            flat_row = b.add(b.mul(bz, ir.Constant(I64, g.m)), row)
            out_idx = b.add(b.mul(flat_row, ir.Constant(I64, g.n)), col)
            value = b.load(acc, typ=ty)
            b.store(value, b.gep(e.bufs[g.out], [out_idx], source_etype=ty))
            epilogue = getattr(g, "epilogue", None) or []
            if epilogue:
                e.vars["gemm_row"] = flat_row
                e.vars["gemm_col"] = col
                e.accs[getattr(g, "epilogue_acc", "gemm_acc")] = acc
                e.stmts(epilogue)

        e.when(e.builder.and_(row_ok, col_ok), store)

    e.counted("bz", e.sreg("ctaid", "z"), ir.Constant(I64, nbatch), e.sreg("nctaid", "z"), one_batch)
    e._finish()
    grid = (-(-g.n // TILE), -(-g.m // TILE), min(nbatch, MAX_Z))
    return Launch(name, grid, (TILE, TILE, 1), 0, buffers, "")
