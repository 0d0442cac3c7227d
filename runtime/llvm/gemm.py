"""The GEMM template: a :class:`~graphc.runtime.kernel_ir.Gemm` statement as explicit vector LLVM IR.

The classic Goto/BLIS structure, for row-major C and operands with any strides::

    for jc in 0..n step NC:            B block  (KC x NC) packed once per pc, stays in L2
      for pc in 0..k step KC:
        for ic in 0..m step MC:        A block  (MC x KC) packed per ic
          for jr in 0..nc step NR:
            for ir in 0..mc step MR:   micro-kernel: an MR x NR tile of C in vector registers,
                                       kc rank-1 updates (broadcast a, W-wide b, fma)

Packing absorbs the operand strides (a transposed operand costs nothing extra), so lowering
passes buffers under a permute/expand/reshape instead of copying them. Small problems skip
packing an operand that is read few times (packed layout has no reuse to pay for it).
Edges need no cleanup loops: a micro-kernel exists for every row count ``1..MR`` and its B loads
and C stores are masked to the valid columns. Every shape is a compile-time constant, so the
driver is emitted per kernel with its trip counts, and only the micro-kernel variants a kernel
needs are emitted (shared by the module). The code calls nothing outside the module.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from ..kernel_ir import Gemm

F32, F64, I64, I32, I1 = ir.FloatType(), ir.DoubleType(), ir.IntType(64), ir.IntType(32), ir.IntType(1)
PTR = ir.PointerType()
_SIZE = {"f32": 4, "f64": 8}
_ALIGN = 64


@functools.lru_cache(maxsize=1)
def vector_bytes() -> int:
    """The host's vector register width: 64 with AVX-512, 32 with AVX2, else 16."""
    feats = llvm.get_host_cpu_features()
    if feats.get("avx512f"):
        return 64
    return 32 if feats.get("avx2") and feats.get("fma") else 16


# Blocking per vector width and dtype: (MR, NR vectors, KC, MC, NC). MR x NRV accumulators plus
# NRV b vectors and one broadcast fit the register file (32 zmm; 16 ymm/xmm).
TUNING = {
    (64, "f32"): (12, 2, 256, 96, 1024),
    (64, "f64"): (12, 2, 256, 96, 512),
    (32, "f32"): (6, 2, 256, 96, 1024),
    (32, "f64"): (6, 2, 256, 96, 512),
    (16, "f32"): (6, 2, 256, 96, 1024),
    (16, "f64"): (6, 2, 256, 96, 512),
}


@dataclass
class Plan:
    """Blocking and strategy for one Gemm (all compile-time)."""

    width: int  # lanes per vector
    mr: int
    nr: int
    kc: int
    mc: int
    nc: int
    m: int
    n: int
    k: int
    batch: tuple
    a_batch: tuple
    b_batch: tuple
    rsa: int
    csa: int
    rsb: int
    csb: int
    pack_a: bool
    pack_b: bool

    def scratch_layout(self, itemsize: int) -> tuple[int, int]:
        """(offset of packed B, total bytes) in the scratch buffer; packed A is at 0."""
        kc = min(self.kc, self.k)
        a_bytes = -(-min(self.mc, self.m) // self.mr) * self.mr * kc * itemsize if self.pack_a else 0
        a_bytes = -(-a_bytes // _ALIGN) * _ALIGN
        b_bytes = -(-min(self.nc, self.n) // self.nr) * self.nr * kc * itemsize if self.pack_b else 0
        return a_bytes, a_bytes + b_bytes


def _fold_batch(s: Gemm):
    """Batch dims that A's rows continue with uniform stride, while B is broadcast, become rows."""
    if not s.batch or any(s.b.batch_strides):
        return s.m, s.batch, s.a.batch_strides, s.a.row_stride
    dims = [(size, st) for size, st in zip(s.batch + (s.m,), s.a.batch_strides + (s.a.row_stride,)) if size != 1]
    if any(dims[t][1] != dims[t + 1][1] * dims[t + 1][0] for t in range(len(dims) - 1)):
        return s.m, s.batch, s.a.batch_strides, s.a.row_stride
    rows = s.m
    for size in s.batch:
        rows *= size
    return rows, (), (), dims[-1][1] if dims else s.a.row_stride


def plan(s: Gemm) -> Plan:
    vb = vector_bytes()
    width = vb // _SIZE[s.dtype]
    mr, nrv, kc, mc, nc = TUNING[(vb, s.dtype)]
    m, batch, a_batch, rsa = _fold_batch(s)
    b_batch = s.b.batch_strides if batch else ()
    if (vb, s.dtype) == (64, "f32") and mr < m <= 128 and m % mr and m % 16 == 0:
        # a few row panels (a batch of 64 or 128): 16 x 1 vectors leaves no short edge panel,
        # where 12 x 2 would end on a 4-row one (64 x 784 x 256: 77 -> 83 GFLOP/s on Zen 4)
        mr, nrv = 16, 1
    if (vb, s.dtype) == (64, "f32") and s.n <= width and m >= 24:
        # one vector of columns (a conv weight gradient's 16 channels): 24 rows x 1 vector keeps
        # 24 accumulators busy where 12 x 2 would leave half of every tile masked off
        mr, nrv = 24, 1
    if m < mr:  # one row panel: fewer rows, more column vectors, so enough fmas are in flight
        mr = m
        regs = 32 if vb == 64 else 16
        nrv = max(nrv, min(8, 12 // m, (regs - 1) // (m + 1)))
    nr = nrv * width
    # Packing A pays when its panels are reused across several column panels; packing B pays
    # when it is read by several row panels or when its rows are not contiguous.
    pack_a = s.n > nr
    pack_b = s.b.col_stride != 1 or m > 2 * mr
    return Plan(width, mr, nr, kc, mc, nc, m, s.n, s.k, batch, a_batch, b_batch, rsa, s.a.col_stride,
                s.b.row_stride, s.b.col_stride, pack_a, pack_b)


def scratch_bytes(s: Gemm) -> int:
    return plan(s).scratch_layout(_SIZE[s.dtype])[1]


# ---------------------------------------------------------------------- IR helpers
def _c(v: int):
    return ir.Constant(I64, v)


@contextmanager
def counted(b: ir.IRBuilder, start, stop, step, name="i"):
    """``for i in range(start, stop, step)`` (i64 values or ints); yields the index."""
    start, stop, step = (_c(x) if isinstance(x, int) else x for x in (start, stop, step))
    pre = b.block
    fn = pre.function
    head = fn.append_basic_block(f"{name}.head")
    body = fn.append_basic_block(f"{name}.body")
    end = fn.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, stop), body, end)
    b.position_at_end(body)
    yield i
    nxt = b.add(i, step, flags=["nsw"])
    i.add_incoming(nxt, b.block)
    b.branch(head)
    b.position_at_end(end)


def _gep(b, ty, ptr, index):
    index = _c(index) if isinstance(index, int) else index
    return b.gep(ptr, [index], source_etype=ty, inbounds=True)


def _mul(b, x, c: int):
    return b.mul(x, _c(c), flags=["nsw"]) if c != 1 else x


def _declare(module, name, ret, args):
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name=name)
    return fn


# ---------------------------------------------------------------------- micro-kernel
def microkernel(module, dtype: str, width: int, mr: int, nv: int, masked: bool, a_strides, bks):
    """``void uk(ptr a, i64 ars, i64 aks, ptr b, i64 bks, ptr c, i64 ldc, i64 kc, i64 ncols, i1 acc)``.

    C[r, 0:ncols] (+)= sum_kk a[r*ars + kk*aks] * b[kk*bks + 0:ncols] for r < mr, ncols <= nv*width.
    Strides given as ints (``a_strides = (ars, aks)``, ``bks``) are baked in (packed operands);
    None means read the argument.
    """
    tag = "x".join(str(x) for x in (a_strides or ("r", "r"))) + f"_{bks or 'r'}"
    name = f"graphc_gemm_uk_{dtype}{width}_{mr}x{nv}{'m' if masked else ''}_{tag}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    ty = F32 if dtype == "f32" else F64
    vty = ir.VectorType(ty, width)
    mty = ir.VectorType(I1, width)
    sfx = f"v{width}f{32 if dtype == 'f32' else 64}"
    fma = _declare(module, f"llvm.fma.{sfx}", vty, [vty] * 3)
    mload = _declare(module, f"llvm.masked.load.{sfx}.p0", vty, [PTR, I32, mty, vty])
    mstore = _declare(module, f"llvm.masked.store.{sfx}.p0", ir.VoidType(), [vty, PTR, I32, mty])
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64, PTR, I64, PTR, I64, I64, I64, I1]), name=name)
    fn.linkage = "internal"
    a, ars, aks, bp, bks_arg, c, ldc, kc, ncols, acc_flag = fn.args
    for arg in (a, bp, c):
        arg.add_attribute("noalias")
    if a_strides is not None:
        ars, aks = _c(a_strides[0]), _c(a_strides[1])
    bstride = _c(bks) if bks is not None else bks_arg
    entry = fn.append_basic_block("entry")
    loop = fn.append_basic_block("k")
    done = fn.append_basic_block("store")
    b = ir.IRBuilder(entry)
    align = ir.Constant(I32, _SIZE[dtype])
    masks = []
    if masked:
        lim = b.insert_element(ir.Constant(ir.VectorType(I64, width), None), ncols, _c(0))
        lim = b.shuffle_vector(lim, lim, ir.Constant(ir.VectorType(I32, width), [0] * width))
        for v in range(nv):
            lanes = ir.Constant(ir.VectorType(I64, width), [v * width + t for t in range(width)])
            masks.append(b.icmp_signed("<", lanes, lim))
    zero = ir.Constant(vty, None)
    row_off = [_mul(b, ars, r) if r else _c(0) for r in range(mr)]
    b.branch(loop)
    b.position_at_end(loop)
    kk = b.phi(I64, "kk")
    kk.add_incoming(_c(0), entry)
    accs = [[b.phi(vty, f"c{r}_{v}") for v in range(nv)] for r in range(mr)]
    for row in accs:
        for p in row:
            p.add_incoming(zero, entry)
    brow = _gep(b, ty, bp, b.mul(kk, bstride, flags=["nsw"]))
    bvec = []
    for v in range(nv):
        ptr = _gep(b, ty, brow, v * width)
        bvec.append(b.call(mload, [ptr, align, masks[v], zero]) if masked else b.load(ptr, typ=vty, align=_SIZE[dtype]))
    arow = b.mul(kk, aks, flags=["nsw"])
    idx0 = ir.Constant(ir.VectorType(I32, width), [0] * width)
    new = []
    for r in range(mr):
        x = b.load(_gep(b, ty, a, b.add(arow, row_off[r], flags=["nsw"])), typ=ty)
        x = b.shuffle_vector(b.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(I32, 0)),
                             ir.Constant(vty, ir.Undefined), idx0)
        new.append([b.call(fma, [x, bvec[v], accs[r][v]]) for v in range(nv)])
    nxt = b.add(kk, _c(1), flags=["nsw"])
    kk.add_incoming(nxt, loop)
    for r in range(mr):
        for v in range(nv):
            accs[r][v].add_incoming(new[r][v], loop)
    b.cbranch(b.icmp_signed("<", nxt, kc), loop, done)
    b.position_at_end(done)
    add_bb = fn.append_basic_block("accumulate")
    set_bb = fn.append_basic_block("overwrite")
    ret = fn.append_basic_block("ret")
    b.cbranch(acc_flag, add_bb, set_bb)
    for bb, accumulate in ((add_bb, True), (set_bb, False)):
        b.position_at_end(bb)
        for r in range(mr):
            crow = _gep(b, ty, c, _mul(b, ldc, r) if r else _c(0))
            for v in range(nv):
                ptr = _gep(b, ty, crow, v * width)
                val = new[r][v]
                if accumulate:
                    old = b.call(mload, [ptr, align, masks[v], zero]) if masked else b.load(ptr, typ=vty, align=_SIZE[dtype])
                    val = b.fadd(old, val)
                if masked:
                    b.call(mstore, [val, ptr, align, masks[v]])
                else:
                    b.store(val, ptr, align=_SIZE[dtype])
        b.branch(ret)
    b.position_at_end(ret)
    b.ret_void()
    return fn


# ---------------------------------------------------------------------- packing
def _transpose(b, vecs, width: int):
    """Transpose a ``width x width`` block held as ``width`` vectors: log2(width) stages that swap
    the off-diagonal h x h blocks (each stage is ``width`` two-input shuffles)."""
    vecs = list(vecs)
    h = width // 2
    while h:
        lo = ir.Constant(ir.VectorType(I32, width), [l if (l // h) % 2 == 0 else width + l - h for l in range(width)])
        hi = ir.Constant(ir.VectorType(I32, width), [l + h if (l // h) % 2 == 0 else width + l for l in range(width)])
        for i in range(width):
            if (i // h) % 2 == 0:
                x, y = vecs[i], vecs[i + h]
                vecs[i], vecs[i + h] = b.shuffle_vector(x, y, lo), b.shuffle_vector(x, y, hi)
        h //= 2
    return vecs


def _pack(b, ty, dst, src, rows, cols: int, rs: int, cs: int, tile: int, kc, width: int):
    """Copy a ``rows x cols`` block into panels of ``tile`` columns:
    ``dst[(j//tile)*kc*tile + r*tile + j%tile] = src[r*rs + j*cs]`` (packed B; packed A is the
    transposed block). ``rows`` (= kc) is an i64 value, everything else compile-time."""
    panels = [(0, cols // tile, tile)] if cols // tile else []
    if cols % tile:
        panels.append((cols // tile, cols // tile + 1, cols % tile))
    for lo, hi, w in panels:
        with counted(b, lo, hi, 1, "panel") as p:
            pdst = _gep(b, ty, dst, b.mul(p, b.mul(kc, _c(tile))))
            psrc = _gep(b, ty, src, _mul(b, p, tile * cs))
            if rs == 1 and cs != 1:
                _pack_transposed(b, ty, pdst, psrc, rows, w, cs, tile, width)
                continue
            with counted(b, 0, rows, 1, "pr") as r:  # rows along j are contiguous (or nothing is)
                d = _gep(b, ty, pdst, _mul(b, r, tile))
                s = _gep(b, ty, psrc, _mul(b, r, rs))
                with counted(b, 0, w, 1, "pc") as j:
                    b.store(b.load(_gep(b, ty, s, _mul(b, j, cs)), typ=ty), _gep(b, ty, d, j))


def _pack_transposed(b, ty, pdst, psrc, rows, w: int, cs: int, tile: int, width: int):
    """One panel whose source is contiguous along r: a call to the module's shared transposing
    packer (one function per dtype and width, not a copy per panel: the shuffles and address
    arithmetic of an unrolled copy made most of a GEMM kernel's IR, and of its compile time)."""
    fn = _transposing_packer(b.module, ty, width)
    b.call(fn, [pdst, psrc, rows, _c(w), _c(cs), _c(tile)])


def _transposing_packer(module, ty, width: int):
    """``void pack(ptr dst, ptr src, i64 rows, i64 w, i64 cs, i64 tile)``:
    ``dst[r*tile + j] = src[r + j*cs]`` for r < rows, j < w (w <= tile). ``width x width`` blocks
    go through registers: ``width`` vector loads along r (columns past ``w`` load column w-1
    again, so nothing outside the panel is read), a shuffle transpose, ``width`` stores masked
    to the valid columns; the last ``rows % width`` rows one element at a time."""
    name = f"graphc_gemm_pack_t_{'f32' if ty == F32 else 'f64'}{width}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    vty = ir.VectorType(ty, width)
    mty = ir.VectorType(I1, width)
    sfx = f"v{width}f{32 if ty == F32 else 64}"
    mstore = _declare(module, f"llvm.masked.store.{sfx}.p0", ir.VoidType(), [vty, PTR, I32, mty])
    align = ir.Constant(I32, 4 if ty == F32 else 8)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I64, I64, I64]),
                     name=name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    pdst, psrc, rows, w, cs, tile = fn.args
    for arg in (pdst, psrc):
        arg.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    lanes = ir.Constant(ir.VectorType(I64, width), list(range(width)))
    last = b.sub(w, _c(1))
    full = b.mul(b.sdiv(rows, _c(width)), _c(width))
    wfull = b.mul(b.sdiv(w, _c(width)), _c(width))
    offsets = [b.mul(_c(t), cs) for t in range(width)]  # loop-invariant column offsets
    rest = b.sub(w, wfull)
    lim = b.insert_element(ir.Constant(ir.VectorType(I64, width), None), rest, _c(0))
    mask = b.icmp_signed("<", lanes, b.shuffle_vector(lim, lim, ir.Constant(ir.VectorType(I32, width), [0] * width)))
    with counted(b, 0, full, width, "pt") as r0:
        with counted(b, 0, wfull, width, "pg") as g0:  # whole groups of width columns
            base = _gep(b, ty, psrc, b.add(r0, b.mul(g0, cs)))
            vecs = [b.load(_gep(b, ty, base, offsets[t]), typ=vty, align=4) for t in range(width)]
            for q, v in enumerate(_transpose(b, vecs, width)):
                b.store(v, _gep(b, ty, pdst, b.add(b.mul(b.add(r0, _c(q)), tile), g0)), align=4)
        with counted(b, wfull, w, width, "pg") as g0:  # the last w % width columns, at most once
            vecs = []
            for t in range(width):
                col = b.add(g0, _c(t))
                col = b.select(b.icmp_signed("<", col, w), col, last)
                vecs.append(b.load(_gep(b, ty, psrc, b.add(r0, b.mul(col, cs))), typ=vty, align=4))
            for q, v in enumerate(_transpose(b, vecs, width)):
                ptr = _gep(b, ty, pdst, b.add(b.mul(b.add(r0, _c(q)), tile), g0))
                b.call(mstore, [v, ptr, align, mask])
    with counted(b, full, rows, 1, "pr") as r:
        with counted(b, 0, w, 1, "pc") as j:
            b.store(b.load(_gep(b, ty, psrc, b.add(r, b.mul(j, cs))), typ=ty), _gep(b, ty, pdst, b.add(b.mul(r, tile), j)))
    b.ret_void()
    return fn


# ---------------------------------------------------------------------- driver
def emit(em, s: Gemm) -> None:
    """Emit ``s`` into the kernel function being built by the KernelEmitter ``em``."""
    p = plan(s)
    b: ir.IRBuilder = em.builder
    ty = F32 if s.dtype == "f32" else F64
    module = em.module
    out, abuf, bbuf = em.bufs[s.out], em.bufs[s.a.buf], em.bufs[s.b.buf]
    pa = pb = None
    if s.scratch:
        b_off, _ = p.scratch_layout(_SIZE[s.dtype])
        pa = em.bufs[s.scratch]
        pb = b.gep(pa, [_c(b_off)], source_etype=ir.IntType(8), inbounds=True)

    ep = _Epilogue(em, s, ty) if s.epilogue else None

    def batches(dims, aoff, boff, coff, row0):
        if not dims:
            _driver(b, module, p, s.dtype, ty, _gep(b, ty, abuf, aoff), _gep(b, ty, bbuf, boff), _gep(b, ty, out, coff),
                    pa, pb, ep, row0)
            return
        d = len(p.batch) - len(dims)
        cstride = p.m * p.n
        for size in p.batch[d + 1:]:
            cstride *= size
        with counted(b, 0, dims[0], 1, f"batch{d}") as i:
            batches(dims[1:], b.add(aoff, _mul(b, i, p.a_batch[d])), b.add(boff, _mul(b, i, p.b_batch[d])),
                    b.add(coff, _mul(b, i, cstride)), b.add(row0, _mul(b, i, cstride // p.n)))

    batches(list(p.batch), _c(s.a.offset), _c(s.b.offset), _c(0), _c(0))


class _Epilogue:
    """Runs a Gemm's epilogue over a finished block of C: per element, the kernel IR statements
    with the element's value in an accumulator slot and its row/column as loop variables.
    (Per cache block, not per micro-tile: LLVM fully unrolls a micro-tile's few elements and
    vectorises them poorly, where a block's rows are loops it vectorises well.)"""

    def __init__(self, em, s: Gemm, ty):
        self.em, self.s, self.ty = em, s, ty
        self.slot = em._alloca(ty, s.epilogue_acc)

    def tile(self, b, ctile, ldc: int, rows: int, ncols: int, row_start, col_start):
        if ncols == ldc and ncols < 32:  # narrow whole rows: one flat loop (a short inner loop vectorises badly;
            # for wide rows the nested loops keep column reads such as a bias contiguous)
            with counted(b, 0, rows * ncols, 1, "ee") as e:
                r, c = b.udiv(e, _c(ncols)), b.urem(e, _c(ncols))
                self._element(b, _gep(b, self.ty, ctile, e), b.add(row_start, r, flags=["nsw"]),
                              b.add(col_start, c, flags=["nsw"]))
            return
        with counted(b, 0, rows, 1, "er") as r:
            crow = _gep(b, self.ty, ctile, _mul(b, r, ldc))
            row = b.add(row_start, r, flags=["nsw"])
            with counted(b, 0, ncols, 1, "ec") as c:
                self._element(b, _gep(b, self.ty, crow, c), row, b.add(col_start, c, flags=["nsw"]))

    def _element(self, b, ptr, row, col):
        em = self.em
        b.store(b.load(ptr, typ=self.ty), self.slot)
        saved = dict(em.vars), dict(em.accs)
        em.vars["gemm_row"], em.vars["gemm_col"] = row, col
        em.accs[self.s.epilogue_acc] = self.slot
        em.stmts(self.s.epilogue)
        em.vars, em.accs = saved


def _blocks(total: int, block: int):
    """(start, count, size) runs: ``count`` full blocks of ``size`` from ``start``, then the tail."""
    runs = []
    if total // block:
        runs.append((0, total // block, block))
    if total % block:
        runs.append((total - total % block, 1, total % block))
    return runs


def _driver(b, module, p: Plan, dtype, ty, aptr, bptr, cptr, pa, pb, ep=None, row0=None, chunks=None):
    """The blocked GEMM of ``p`` (Goto's loop order: column blocks, k blocks packing B, row
    blocks packing A, micro-tiles). ``chunks = (lo, hi, rows)`` computes only the row chunks
    ``lo <= ci < hi`` of ``rows`` rows each (the last one shorter), a thread's share of a row
    split: it packs each block of B once for all of its chunks."""
    n, k = p.n, p.k
    row0 = _c(0) if row0 is None else row0
    for jstart, jcount, nc in _blocks(n, p.nc):
        with counted(b, jstart, jstart + jcount * nc, nc, "jc") as jc:
            with counted(b, 0, k, p.kc, "pc") as pc:
                rest = b.sub(_c(k), pc)
                kc = b.select(b.icmp_signed("<", rest, _c(p.kc)), rest, _c(p.kc))
                acc = b.icmp_signed("!=", pc, _c(0))  # later k blocks add to C
                last = b.icmp_signed(">=", b.add(pc, kc), _c(k))  # C is final after this block
                bsrc = _gep(b, ty, bptr, b.add(_mul(b, pc, p.rsb), _mul(b, jc, p.csb)))
                if p.pack_b:
                    _pack(b, ty, pb, bsrc, kc, nc, p.rsb, p.csb, p.nr, kc, p.width)
                    bsrc, bks, bpanel = pb, p.nr, b.mul(kc, _c(p.nr))
                else:
                    bks, bpanel = None, _c(p.nr * p.csb)
                blk = (jc, pc, kc, nc, acc, last, bsrc, bks, bpanel)
                row_blocks = functools.partial(_row_blocks, b, module, p, dtype, ty, aptr, cptr, pa, ep, row0, blk)
                if chunks is None:
                    row_blocks(p.m, _c(0))
                else:
                    _chunked(b, p, chunks, row_blocks)


def _chunked(b, p: Plan, chunks, row_blocks) -> None:
    """``row_blocks`` over the row chunks ``lo <= ci < hi`` of ``rows`` rows (the last one shorter)."""
    lo, hi, rows = chunks
    tail = p.m - (-(-p.m // rows) - 1) * rows
    with counted(b, lo, hi, 1, "chunk") as ci:
        r0 = b.mul(ci, _c(rows))
        fn = b.block.function
        full_bb, tail_bb, join = (fn.append_basic_block(f"chunk.{x}") for x in ("full", "tail", "join"))
        b.cbranch(b.icmp_signed("<=", b.add(r0, _c(rows)), _c(p.m)), full_bb, tail_bb)
        for bb, m in ((full_bb, rows), (tail_bb, tail)):
            b.position_at_end(bb)
            row_blocks(m, r0)
            b.branch(join)
        b.position_at_end(join)


def _row_blocks(b, module, p, dtype, ty, aptr, cptr, pa, ep, row0, blk, m: int, r0) -> None:
    """Rows ``r0 .. r0 + m`` of the product against one packed block of B (``blk``)."""
    for istart, icount, mc in _blocks(m, p.mc):
        with counted(b, istart, istart + icount * mc, mc, "ic") as ic:
            _row_block(b, module, p, dtype, ty, aptr, cptr, pa, ep, row0, b.add(r0, ic, flags=["nsw"]), mc, blk)


def _row_block(b, module, p, dtype, ty, aptr, cptr, pa, ep, row0, ic, mc: int, blk) -> None:
    """One (mc x nc) block of C at rows ic, columns jc: pack A, the micro-tiles, the epilogue."""
    jc, pc, kc, nc, acc, last, bsrc, bks, bpanel = blk
    asrc = _gep(b, ty, aptr, b.add(_mul(b, ic, p.rsa), _mul(b, pc, p.csa)))
    if p.pack_a:
        _pack(b, ty, pa, asrc, kc, mc, p.csa, p.rsa, p.mr, kc, p.width)
        asrc, a_str, apanel = pa, (1, p.mr), b.mul(kc, _c(p.mr))
    else:
        a_str, apanel = None, _c(p.mr * p.rsa)
    cblock = _gep(b, ty, cptr, b.add(_mul(b, ic, p.n), jc))
    _tiles(b, module, p, dtype, ty, asrc, a_str, apanel, bsrc, bks, bpanel, cblock, mc, nc, kc, acc)
    if ep is not None:  # the epilogue, on the block just finished (still in L2)
        fn = b.block.function
        run, cont = fn.append_basic_block("epilogue"), fn.append_basic_block("block.done")
        b.cbranch(last, run, cont)
        b.position_at_end(run)
        ep.tile(b, cblock, p.n, mc, nc, b.add(row0, ic), jc)
        b.branch(cont)
        b.position_at_end(cont)


def _tiles(b, module, p: Plan, dtype, ty, asrc, a_str, apanel, bsrc, bks, bpanel, cblock, mc, nc, kc, acc):
    """The jr/ir loops over micro-tiles of one (mc x nc) block of C."""
    ars, aks = (_c(p.rsa), _c(p.csa)) if a_str is None else (_c(1), _c(p.mr))
    bks_val = _c(p.rsb) if bks is None else _c(bks)
    for jstart, jcount, ncols in _blocks(nc, p.nr):
        nv = -(-ncols // p.width)
        with counted(b, jstart // p.nr, jstart // p.nr + jcount, 1, "jr") as jr:
            bpan = _gep(b, ty, bsrc, b.mul(jr, bpanel))
            for istart, icount, rows in _blocks(mc, p.mr):
                # With AVX-512 a masked load or store costs what a plain one does, so every panel
                # uses the masked micro-kernel; B's row stride is always an argument (one pointer
                # step per k either way). Fewer variants: the micro-kernels were half of a
                # train step's LLVM IR, and of its compile time.
                masked = ncols % p.width != 0 or p.width * _SIZE[dtype] == 64
                uk = microkernel(module, dtype, p.width, rows, nv, masked, a_str, None)
                with counted(b, istart // p.mr, istart // p.mr + icount, 1, "ir") as ir_:
                    apan = _gep(b, ty, asrc, b.mul(ir_, apanel))
                    ctile = _gep(b, ty, cblock, b.add(_mul(b, ir_, p.mr * p.n), _mul(b, jr, p.nr)))
                    b.call(uk, [apan, ars, aks, bpan, bks_val, ctile, _c(p.n), kc, _c(ncols), acc])
