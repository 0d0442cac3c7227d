"""Kernel rules for convolution and pooling: direct loop nests.

Convolutions accumulate into their output with the output column loop innermost, so LLVM
vectorises along rows; out-of-range taps are skipped (``If``) or masked (a ``select`` after a
clamped load), never loaded out of bounds.
"""

from __future__ import annotations

from .kernel_ir import (
    AccInit,
    AccRef,
    AccSet,
    AccUpdate,
    Call,
    Const,
    If,
    Load,
    Loop,
    Store,
    Var,
    const_i,
    iadd,
    imul,
)
from .lowering_rules import kernel_rule, linear_index


def _loops(spec, body, parallel=False):
    """Loops over ``spec`` (outermost first); ``parallel`` marks the outermost one (its iterations
    write disjoint outputs: a batch image, an output channel)."""
    for name, extent in reversed(spec):
        body = [Loop(name, extent, body)]
    if spec:
        body[0].parallel = parallel
    return body


def _vars(*names):
    return [Var(n) for n in names]


def _in_range(e, size):
    return Call("logical_and", (Call("ge", (e, const_i(0)), "bool"), Call("lt", (e, const_i(size)), "bool")), "bool")


def _both(a, b):
    return Call("logical_and", (a, b), "bool")


def _clamp(e, size):
    return Call("minimum", (Call("maximum", (e, const_i(0)), "i64"), const_i(max(size - 1, 0))), "i64")


def _tap(out_pos, k, stride, pad, dil):
    """Input coordinate of output position ``out_pos`` and kernel tap ``k``."""
    return iadd(iadd(imul(const_i(stride), out_pos), imul(const_i(dil), k)), const_i(-pad))


def _zero(dtype):
    return Const(0.0, dtype)


@kernel_rule("conv2d")
def _conv2d(lw, node, out):
    x, w = node.inputs
    a = node.attrs
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    _, _, OH, OW = node.shape
    Og = O // a["groups"]
    dt = node.dtype.short
    n, o, c, ky, kx, oy, ox = _vars("n", "o", "c", "ky", "kx", "oy", "ox")
    iy = _tap(oy, ky, a["stride"][0], a["padding"][0], a["dilation"][0])
    ix = _tap(ox, kx, a["stride"][1], a["padding"][1], a["dilation"][1])
    cin = iadd(imul(Call("floordiv", (o, const_i(Og)), "i64"), const_i(Cg)), c)
    ok = _both(_in_range(iy, H), _in_range(ix, W))
    xv = lw.value(x, [n, cin, _clamp(iy, H), _clamp(ix, W)])
    wv = lw.value(w, [o, c, ky, kx])
    out_idx = linear_index([n, o, oy, ox], node.shape)
    contrib = Call("select", (ok, Call("mul", (wv, xv), dt), _zero(dt)), dt)
    init = _loops([("n", N), ("o", O), ("oy", OH), ("ox", OW)], [Store(out, out_idx, _zero(dt))], parallel=True)
    acc = Store(out, out_idx, Call("add", (Load(out, out_idx, dt), contrib), dt))
    return init + _loops([("n", N), ("o", O), ("c", Cg), ("ky", KH), ("kx", KW), ("oy", OH), ("ox", OW)], [acc], parallel=True)


@kernel_rule("conv2d_backward_input")
def _conv2d_backward_input(lw, node, out):
    g, w = node.inputs
    a = node.attrs
    N, C, H, W = node.shape
    O, Cg, KH, KW = w.shape
    _, _, OH, OW = g.shape
    Og = O // a["groups"]
    dt = node.dtype.short
    n, o, c, ky, kx, oy, ox = _vars("n", "o", "c", "ky", "kx", "oy", "ox")
    iy = _tap(oy, ky, a["stride"][0], a["padding"][0], a["dilation"][0])
    ix = _tap(ox, kx, a["stride"][1], a["padding"][1], a["dilation"][1])
    cin = iadd(imul(Call("floordiv", (o, const_i(Og)), "i64"), const_i(Cg)), c)
    target = linear_index([n, cin, iy, ix], node.shape)
    value = Call("mul", (lw.value(g, [n, o, oy, ox]), lw.value(w, [o, c, ky, kx])), dt)
    scatter = If(_both(_in_range(iy, H), _in_range(ix, W)),
                 [Store(out, target, Call("add", (Load(out, target, dt), value), dt))])
    zero_idx = _vars("z0", "z1", "z2", "z3")
    init = _loops([("z0", N), ("z1", C), ("z2", H), ("z3", W)], [Store(out, linear_index(zero_idx, node.shape), _zero(dt))], parallel=True)
    return init + _loops([("n", N), ("o", O), ("c", Cg), ("ky", KH), ("kx", KW), ("oy", OH), ("ox", OW)], [scatter], parallel=True)


@kernel_rule("conv2d_backward_weight")
def _conv2d_backward_weight(lw, node, out):
    x, g = node.inputs
    a = node.attrs
    N, C, H, W = x.shape
    O, Cg, KH, KW = node.shape
    _, _, OH, OW = g.shape
    Og = O // a["groups"]
    dt = node.dtype.short
    n, o, c, ky, kx, oy, ox = _vars("n", "o", "c", "ky", "kx", "oy", "ox")
    iy = _tap(oy, ky, a["stride"][0], a["padding"][0], a["dilation"][0])
    ix = _tap(ox, kx, a["stride"][1], a["padding"][1], a["dilation"][1])
    cin = iadd(imul(Call("floordiv", (o, const_i(Og)), "i64"), const_i(Cg)), c)
    ok = _both(_in_range(iy, H), _in_range(ix, W))
    xv = lw.value(x, [n, cin, _clamp(iy, H), _clamp(ix, W)])
    prod = Call("select", (ok, Call("mul", (lw.value(g, [n, o, oy, ox]), xv), dt), _zero(dt)), dt)
    acc = lw.fresh("acc")
    body = [AccInit(acc, dt, _zero(dt))]
    body += _loops([("n", N), ("oy", OH), ("ox", OW)], [AccUpdate(acc, "add", prod)])
    body.append(Store(out, linear_index([o, c, ky, kx], node.shape), AccRef(acc, dt)))
    return _loops([("o", O), ("c", Cg), ("ky", KH), ("kx", KW)], body, parallel=True)


def _window_taps(a):
    oy, ox, ky, kx = _vars("oy", "ox", "ky", "kx")
    dil = a.get("dilation", (1, 1))
    iy = _tap(oy, ky, a["stride"][0], a["padding"][0], dil[0])
    ix = _tap(ox, kx, a["stride"][1], a["padding"][1], dil[1])
    return oy, ox, ky, kx, iy, ix


@kernel_rule("max_pool2d")
def _max_pool2d(lw, node, out):
    x = node.inputs[0]
    a = node.attrs
    N, C, H, W = x.shape
    _, _, OH, OW = node.shape
    dt = node.dtype.short
    n, c = _vars("n", "c")
    oy, ox, ky, kx, iy, ix = _window_taps(a)
    ok = _both(_in_range(iy, H), _in_range(ix, W))
    v = Call("select", (ok, lw.value(x, [n, c, _clamp(iy, H), _clamp(ix, W)]), Const(float("-inf"), dt)), dt)
    acc = lw.fresh("acc")
    body = [AccInit(acc, dt, Const(float("-inf"), dt))]
    body += _loops([("ky", a["kernel"][0]), ("kx", a["kernel"][1])], [AccUpdate(acc, "max", v)])
    body.append(Store(out, linear_index([n, c, oy, ox], node.shape), AccRef(acc, dt)))
    return _loops([("n", N), ("c", C), ("oy", OH), ("ox", OW)], body, parallel=True)


@kernel_rule("max_pool2d_backward")
def _max_pool2d_backward(lw, node, out):
    """Each output's gradient goes to the first maximum of its window (NaN counts as a maximum)."""
    g, x = node.inputs
    a = node.attrs
    N, C, H, W = node.shape
    _, _, OH, OW = g.shape
    dt = node.dtype.short
    n, c = _vars("n", "c")
    oy, ox, ky, kx, iy, ix = _window_taps(a)
    ok = _both(_in_range(iy, H), _in_range(ix, W))
    v = lw.value(x, [n, c, _clamp(iy, H), _clamp(ix, W)])
    best, where = lw.fresh("best"), lw.fresh("at")
    cur = AccRef(best, dt)
    is_nan = Call("ne", (v, v), "bool")
    first = Call("eq", (AccRef(where, "i64"), const_i(-1)), "bool")  # an all -inf window: its first position
    better = _both(ok, Call("logical_or", (Call("logical_or", (Call("gt", (v, cur), "bool"),
                                                               _both(is_nan, Call("eq", (cur, cur), "bool"))), "bool"),
                                           first), "bool"))
    flat = linear_index([n, c, _clamp(iy, H), _clamp(ix, W)], node.shape)
    body = [AccInit(best, dt, Const(float("-inf"), dt)), AccInit(where, "i64", const_i(-1))]
    body += _loops([("ky", a["kernel"][0]), ("kx", a["kernel"][1])], [
        AccSet(where, Call("select", (better, flat, AccRef(where, "i64")), "i64")),
        AccSet(best, Call("select", (better, v, cur), dt)),
    ])
    at = AccRef(where, "i64")
    body.append(If(Call("ge", (at, const_i(0)), "bool"),
                   [Store(out, at, Call("add", (Load(out, at, dt), lw.value(g, [n, c, oy, ox])), dt))]))
    zero_idx = _vars("z0", "z1", "z2", "z3")
    init = _loops([("z0", N), ("z1", C), ("z2", H), ("z3", W)], [Store(out, linear_index(zero_idx, node.shape), _zero(dt))], parallel=True)
    return init + _loops([("n", N), ("c", C), ("oy", OH), ("ox", OW)], body, parallel=True)


def _avg_divisor(a, oy, ox, H, W, dt):
    """PyTorch's divisor of one average-pooling window, as an expression of the output position."""
    def bounds(o, k, s, p, size):
        start = iadd(imul(const_i(s), o), const_i(-p))
        end = Call("minimum", (iadd(start, const_i(k)), const_i(size + p)), "i64")
        pool = Call("sub", (end, start), "i64")
        cstart = Call("maximum", (start, const_i(0)), "i64")
        cend = Call("minimum", (end, const_i(size)), "i64")
        return pool, Call("sub", (cend, cstart), "i64")

    ph, vh = bounds(oy, a["kernel"][0], a["stride"][0], a["padding"][0], H)
    pw, vw = bounds(ox, a["kernel"][1], a["stride"][1], a["padding"][1], W)
    count = Call("mul", (ph, pw), "i64") if a["count_include_pad"] else Call("mul", (vh, vw), "i64")
    return Call("cast", (count,), dt)


@kernel_rule("avg_pool2d")
def _avg_pool2d(lw, node, out):
    x = node.inputs[0]
    a = node.attrs
    N, C, H, W = x.shape
    _, _, OH, OW = node.shape
    dt = node.dtype.short
    n, c = _vars("n", "c")
    oy, ox, ky, kx, iy, ix = _window_taps(a)
    ok = _both(_in_range(iy, H), _in_range(ix, W))
    v = Call("select", (ok, lw.value(x, [n, c, _clamp(iy, H), _clamp(ix, W)]), _zero(dt)), dt)
    acc = lw.fresh("acc")
    body = [AccInit(acc, dt, _zero(dt))]
    body += _loops([("ky", a["kernel"][0]), ("kx", a["kernel"][1])], [AccUpdate(acc, "add", v)])
    body.append(Store(out, linear_index([n, c, oy, ox], node.shape),
                      Call("div", (AccRef(acc, dt), _avg_divisor(a, oy, ox, H, W, dt)), dt)))
    return _loops([("n", N), ("c", C), ("oy", OH), ("ox", OW)], body, parallel=True)


@kernel_rule("avg_pool2d_backward")
def _avg_pool2d_backward(lw, node, out):
    g = node.inputs[0]
    a = node.attrs
    N, C, H, W = node.shape
    _, _, OH, OW = g.shape
    dt = node.dtype.short
    n, c = _vars("n", "c")
    oy, ox, ky, kx, iy, ix = _window_taps(a)
    share = Call("div", (lw.value(g, [n, c, oy, ox]), _avg_divisor(a, oy, ox, H, W, dt)), dt)
    target = linear_index([n, c, iy, ix], node.shape)
    scatter = If(_both(_in_range(iy, H), _in_range(ix, W)),
                 [Store(out, target, Call("add", (Load(out, target, dt), share), dt))])
    zero_idx = _vars("z0", "z1", "z2", "z3")
    init = _loops([("z0", N), ("z1", C), ("z2", H), ("z3", W)], [Store(out, linear_index(zero_idx, node.shape), _zero(dt))], parallel=True)
    return init + _loops([("n", N), ("c", C), ("oy", OH), ("ox", OW), ("ky", a["kernel"][0]), ("kx", a["kernel"][1])], [scatter], parallel=True)
