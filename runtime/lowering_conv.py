"""Kernel rules for convolution: im2col and the GEMM template (``runtime/llvm/gemm.py``), col2im
for the input gradient, and blocked dot products for thin weight gradients.
"""

from __future__ import annotations

from .kernel_ir import (
    AccInit,
    AccRef,
    AccUpdate,
    Call,
    Gemm,
    GemmOperand,
    If,
    Load,
    Loop,
    Store,
    Var,
    const_i,
    iadd,
    imul,
)
from .lowering_nn import _in_range, _loops, _numel, _scratch, _vars, _zero
from .lowering_rules import _gemm_scratch, kernel_rule, linear_index

# ---------------------------------------------------------------------- convolution
# Each convolution is one GEMM (the template of runtime/llvm/gemm.py) with a batch of
# (image, group) pairs, between an unfold of the input into columns (im2col) and, for the input
# gradient, a fold back (col2im, written as a gather so each element is written once). With
# K = Cg*KH*KW taps and P = OH*OW output positions per image:
#   forward          out[n, g]   (Og x P) = w[g]   (Og x K) @ cols[n, g] (K x P)
#   input gradient   dcols[n, g] (K x P)  = w[g]^T (K x Og) @ grad[n, g] (Og x P), then col2im
#   weight gradient  part[n, g]  (K x Og) = cols[n, g] (K x P) @ grad[n, g]^T (P x Og), summed over n
#                    and transposed into the weight's layout (dot products for thin ones, below)
# The columns live in scratch buffers the lowering sizes at compile time, shared by every conv
# of the program (kernels run one after another), so a step allocates nothing.




_ITEMSIZE = {"f32": 4, "f64": 8}


def _geometry(node):
    """(N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P) of a convolution or either gradient, from
    the shapes of its image (x), weight (w) and output (or output gradient, g)."""
    x, w, g = {"conv2d": lambda: (node.inputs[0], node.inputs[1], node),
               "conv2d_backward_input": lambda: (node, node.inputs[1], node.inputs[0]),
               "conv2d_backward_weight": lambda: (node.inputs[0], node, node.inputs[1])}[node.op]()
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    _, _, OH, OW = g.shape
    G = node.attrs["groups"]
    return N, C, H, W, O, Cg, KH, KW, OH, OW, G, O // G, Cg * KH * KW, OH * OW


def _stored(lw, node, name: str):
    """``node`` as a buffer the GEMM can read: its own when it has one, else (a fused value) a
    scratch buffer filled first by a parallel copy. Returns ``(buffer, statements)``."""
    if node in lw.buffers and node is not lw.root:
        buf = lw.buffers[node].name
        lw.reads.add(buf)
        return buf, []
    buf = _scratch(lw, name, _numel(node.shape) * _ITEMSIZE[node.dtype.short])
    idx = _vars(*(f"s{d}" for d in range(node.ndim)))
    copy = Store(buf, linear_index(idx, node.shape), lw.value(node, idx))
    return buf, _loops([(f"s{d}", size) for d, size in enumerate(node.shape)], [copy], parallel=True)


def _valid(out_size: int, size: int, s: int, p: int, d: int, k: int) -> tuple[int, int]:
    """The output positions ``[lo, hi)`` whose tap ``k`` (input ``s*o - p + d*k``) lies inside the image."""
    lo = max(0, -(-(p - d * k) // s))
    hi = min(out_size, (size - 1 + p - d * k) // s + 1)
    return lo, max(lo, hi)


def _segment(var: str, lo: int, hi: int, body_at):
    """``for var in lo..hi: body_at(var)`` (no statements when the range is empty)."""
    if hi <= lo:
        return []
    return [Loop(var, hi - lo, body_at(iadd(Var(var), const_i(lo))))]


def _columns(lw, x, geo, a, dt) -> tuple[str, list]:
    """The shared columns scratch buffer and the im2col statements that fill it from ``x``."""
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P = geo
    cols = _scratch(lw, "conv_columns", N * G * K * P * _ITEMSIZE[dt])
    return cols, _im2col(lw, x, geo, a, cols, dt)


def _im2col(lw, x, geo, a, cols: str, dt):
    """cols[n, g, (c, ky, kx), (oy, ox)] = x[n, g*Cg + c, iy, ix], 0 where the tap is padding.

    The column taps are unrolled, so the in-image part of each row is a plain copy (contiguous for
    stride 1) and the padding a plain zero fill: no per-element range checks or clamped loads."""
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P = geo
    (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["padding"], a["dilation"]
    n, g, c, ky, oy = _vars("n", "g", "c", "ky", "oy")
    cin = iadd(imul(g, const_i(Cg)), c)
    iy = iadd(iadd(imul(const_i(sh), oy), imul(const_i(dh), ky)), const_i(-ph))
    taps = []
    for kx in range(KW):
        xlo, xhi = _valid(OW, W, sw, pw, dw, kx)
        row = iadd(imul(iadd(imul(iadd(imul(iadd(imul(n, const_i(G)), g), const_i(Cg)), c), const_i(KH)), ky),
                        const_i(KW * P)), iadd(imul(oy, const_i(OW)), const_i(kx * P)))

        def put(ox, value, row=row):
            return [Store(cols, iadd(row, ox), value)]

        def zeros(lo, hi, put=put):
            return _segment("ox", lo, hi, lambda ox: put(ox, _zero(dt)))

        copy = _segment("ox", xlo, xhi, lambda ox, put=put, kx=kx: put(ox, lw.value(
            x, [n, cin, iy, iadd(imul(const_i(sw), ox), const_i(dw * kx - pw))])))
        inside = _in_range(iy, H)
        taps.append(If(inside, zeros(0, xlo) + copy + zeros(xhi, OW)))
        taps.append(If(Call("logical_not", (inside,), "bool"), zeros(0, OW)))
    return _loops([("n", N), ("g", G), ("c", Cg), ("ky", KH), ("oy", OH)], taps, parallel=True)


def _gemm(lw, out: str, a: GemmOperand, b: GemmOperand, dt: str, m: int, n: int, k: int, batch: tuple) -> Gemm:
    """A Gemm statement with its packing scratch and plain-loop fallback."""
    from .llvm import gemm  # the blocking parameters decide the scratch size

    stmt = Gemm(out, a, b, dt, m, n, k, batch)
    nbytes = gemm.scratch_bytes(stmt)
    if nbytes:
        stmt.scratch = _gemm_scratch(lw, nbytes)
        stmt.scratch_bytes = nbytes
    stmt.fallback = _gemm_loops(stmt)
    return stmt


def _gemm_loops(s: Gemm) -> list:
    """The Gemm statement as plain loops (for backends without the template)."""
    bvars = _vars(*(f"gb{d}" for d in range(len(s.batch))))
    i, j, kk = _vars("gi", "gj", "gk")

    def at(o: GemmOperand, r, c):
        idx = const_i(o.offset)
        for v, st in zip(bvars, o.batch_strides):
            idx = iadd(idx, imul(const_i(st), v))
        return Load(o.buf, iadd(idx, iadd(imul(const_i(o.row_stride), r), imul(const_i(o.col_stride), c))), s.dtype)

    target = linear_index(bvars + [i, j], s.batch + (s.m, s.n))
    zero = [Loop("gj", s.n, [Store(s.out, target, _zero(s.dtype))])]
    update = Store(s.out, target, Call("add", (Load(s.out, target, s.dtype),
                                               Call("mul", (at(s.a, i, kk), at(s.b, kk, j)), s.dtype)), s.dtype))
    row = zero + [Loop("gk", s.k, [Loop("gj", s.n, [update])])]
    return _loops([(v.name, size) for v, size in zip(bvars, s.batch)] + [("gi", s.m)], row)


@kernel_rule("conv2d")
def _conv2d(lw, node, out):
    x, w = node.inputs
    a = node.attrs
    dt = node.dtype.short
    geo = _geometry(node)
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P = geo
    wbuf, body = _stored(lw, w, "conv_weight")
    cols, unfold = _columns(lw, x, geo, a, dt)
    body += unfold
    body.append(_gemm(lw, out, GemmOperand(wbuf, 0, (0, Og * K), K, 1), GemmOperand(cols, 0, (G * K * P, K * P), P, 1),
                      dt, Og, P, K, (N, G)))
    return body


@kernel_rule("conv2d_backward_input")
def _conv2d_backward_input(lw, node, out):
    g, w = node.inputs
    a = node.attrs
    dt = node.dtype.short
    geo = _geometry(node)
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P = geo
    gbuf, body = _stored(lw, g, "conv_grad")
    wbuf, more = _stored(lw, w, "conv_weight")
    body += more
    dcols = _scratch(lw, "conv_columns", N * G * K * P * _ITEMSIZE[dt])
    body.append(_gemm(lw, dcols, GemmOperand(wbuf, 0, (0, Og * K), 1, K), GemmOperand(gbuf, 0, (O * P, Og * P), P, 1),
                      dt, K, P, Og, (N, G)))
    return body + _col2im(lw, dcols, out, geo, a, dt)


def _col2im(lw, dcols: str, out: str, geo, a, dt):
    """out[n, cin, y, x] = sum over the taps (ky, kx) that read (y, x) of dcols[n, g, (c, ky, kx), (oy, ox)].

    Per image and channel: zero the plane, then add each (unrolled) tap's in-image positions, in
    tap order (the same sums on any number of threads; iterations over images are independent)."""
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P = geo
    (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["padding"], a["dilation"]
    n, cin = _vars("n", "cin")
    plane = imul(iadd(imul(n, const_i(C)), cin), const_i(H * W))
    # the rows of (n, g, c) start at ((n * G + g) * Cg + c) * KH*KW = (n * C + cin) * KH*KW
    src_plane = imul(iadd(imul(n, const_i(C)), cin), const_i(KH * KW * P))
    body = _segment("y", 0, H, lambda y: _segment("x", 0, W, lambda x: [
        Store(out, iadd(plane, iadd(imul(y, const_i(W)), x)), _zero(dt))]))
    ky, oy = _vars("ky", "oy")
    iy = iadd(iadd(imul(const_i(sh), oy), imul(const_i(dh), ky)), const_i(-ph))
    taps = []
    for kx in range(KW):
        xlo, xhi = _valid(OW, W, sw, pw, dw, kx)
        src_row = iadd(iadd(src_plane, imul(ky, const_i(KW * P))), iadd(imul(oy, const_i(OW)), const_i(kx * P)))

        def add(ox, kx=kx, src_row=src_row):
            at = iadd(plane, iadd(imul(iy, const_i(W)), iadd(imul(const_i(sw), ox), const_i(dw * kx - pw))))
            value = Load(dcols, iadd(src_row, ox), dt)
            return [Store(out, at, Call("add", (Load(out, at, dt), value), dt))]

        taps += _segment("ox", xlo, xhi, add)
    body += _loops([("ky", KH), ("oy", OH)], [If(_in_range(iy, H), taps)])
    return _loops([("n", N), ("cin", C)], body, parallel=True)


@kernel_rule("conv2d_backward_weight")
def _conv2d_backward_weight(lw, node, out):
    x, g = node.inputs
    a = node.attrs
    dt = node.dtype.short
    geo = _geometry(node)
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P = geo
    part = _scratch(lw, "conv_partials", N * O * K * _ITEMSIZE[dt])
    gbuf, body = _stored(lw, g, "conv_grad")
    cols, unfold = _columns(lw, x, geo, a, dt)
    body += unfold
    if Og < _DOTS_MAX_ROWS and P >= _DOTS_MIN_POSITIONS:
        body += _weight_dots(geo, gbuf, cols, part, dt)
    else:
        # part[n, g] (K x Og) = cols[n, g] (K x P) @ grad[n, g]^T (P x Og): the columns are read in
        # place, row by row, and only the small grad operand is transposed into the packing (the
        # other way round, cols^T would be: 16x150x100 per image, 77 -> 95 GFLOP/s on Zen 4)
        body.append(_gemm(lw, part, GemmOperand(cols, 0, (G * K * P, K * P), P, 1),
                          GemmOperand(gbuf, 0, (O * P, Og * P), 1, P), dt, K, Og, P, (N, G)))
    # the sum over images, in image order (the same on any number of threads), into image 0's
    # block, which holds (g, t, o) in that order; then out[g*Og + o, t] from it
    r, n, j = _vars("r", "n", "j")
    at = iadd(imul(r, const_i(Og)), j)
    later = Load(part, iadd(imul(iadd(n, const_i(1)), const_i(O * K)), at), dt)
    body.append(Loop("r", G * K, [Loop("n", N - 1, [Loop("j", Og, [
        Store(part, at, Call("add", (Load(part, at, dt), later), dt))])])], parallel=True))
    g_, o, t = _vars("g", "o", "t")
    src = iadd(imul(iadd(imul(g_, const_i(K)), t), const_i(Og)), o)
    dst = iadd(imul(iadd(imul(g_, const_i(Og)), o), const_i(K)), t)
    body += _loops([("g", G), ("o", Og), ("t", K)], [Store(out, dst, Load(part, src, dt))])
    return body


# A weight gradient with few output channels and many positions per image (LeNet-5's first
# layer: 6 channels x 25 taps, over 784 positions) is a GEMM with 6 rows or 6 columns, and one of
# its operands would need a transposing pack that costs more than such a thin GEMM gains. Both
# operands are contiguous along the positions, so it is computed as dot products instead, a
# block of _DOT_ROWS x _DOT_COLS of them per pass (16 vector accumulators, each position's grad
# and column values loaded once per block): 53 -> about 85 GFLOP/s for that shape.
_DOTS_MAX_ROWS = 8
_DOTS_MIN_POSITIONS = 256
_DOT_ROWS, _DOT_COLS = 2, 8


def _weight_dots(geo, gbuf: str, cols: str, part: str, dt: str) -> list:
    """part[n, g, t, o] = sum_p grad[n, g*Og + o, p] * cols[n, g, t, p], as blocked dot products."""
    N, C, H, W, O, Cg, KH, KW, OH, OW, G, Og, K, P = geo
    n, g, p = _vars("n", "g", "p")

    def block(rows, taps):
        names = {(r, t): f"dot{i}_{j}" for i, r in enumerate(rows) for j, t in enumerate(taps)}
        oc = {r: iadd(imul(g, const_i(Og)), r) for r in rows}
        grads = {r: Load(gbuf, iadd(imul(iadd(imul(n, const_i(O)), oc[r]), const_i(P)), p), dt) for r in rows}
        colv = {t: Load(cols, iadd(imul(iadd(imul(iadd(imul(n, const_i(G)), g), const_i(K)), t), const_i(P)), p), dt)
                for t in taps}
        body = [AccInit(name, dt, _zero(dt)) for name in names.values()]
        body.append(Loop("p", P, [AccUpdate(names[r, t], "add", Call("mul", (grads[r], colv[t]), dt))
                                  for r in rows for t in taps]))
        body += [Store(part, iadd(imul(iadd(imul(iadd(imul(n, const_i(G)), g), const_i(K)), t), const_i(Og)), r),
                       AccRef(names[r, t], dt)) for r in rows for t in taps]
        return body

    def spans(total, size, var):
        """(loop variable or None, extent, offsets of one block): full blocks, then the rest."""
        out = []
        if total // size:
            v = Var(var)
            out.append((var, total // size, [iadd(imul(v, const_i(size)), const_i(i)) for i in range(size)]))
        if total % size:
            out.append((None, 1, [const_i(total - total % size + i) for i in range(total % size)]))
        return out

    stmts = []
    for rvar, rcount, rows in spans(Og, _DOT_ROWS, "ob"):
        for tvar, tcount, taps in spans(K, _DOT_COLS, "tb"):
            inner = block(rows, taps)
            if tvar:
                inner = [Loop(tvar, tcount, inner)]
            if rvar:
                inner = [Loop(rvar, rcount, inner)]
            stmts += inner
    return _loops([("n", N), ("g", G)], stmts, parallel=True)


