"""Kernel rules for max and average pooling and their gradients (direct loop nests)."""

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
    const_i,
    iadd,
    imul,
)
from .lowering_nn import _both, _clamp, _in_range, _loops, _numel, _scratch, _tap, _vars, _zero
from .lowering_rules import kernel_rule, linear_index


def _pool_taps_inside(a, H, W, OH, OW) -> bool:
    """Whether every tap of every pooling window lies inside the image (no padding, no ceil-mode overhang)."""
    dil = a.get("dilation", (1, 1))
    for size, out, d in ((H, OH, 0), (W, OW, 1)):
        if a["padding"][d] or a["stride"][d] * (out - 1) + dil[d] * (a["kernel"][d] - 1) > size - 1:
            return False
    return True


def _window_taps(a):
    """The loop variables of a pooling nest (image n, channel c, output oy/ox, tap ky/kx) and the
    input row and column (iy, ix) a tap reads."""
    n, c, oy, ox, ky, kx = _vars("n", "c", "oy", "ox", "ky", "kx")
    dil = a.get("dilation", (1, 1))
    iy = _tap(oy, ky, a["stride"][0], a["padding"][0], dil[0])
    ix = _tap(ox, kx, a["stride"][1], a["padding"][1], dil[1])
    return n, c, oy, ox, ky, kx, iy, ix


def _frame(node):
    """The image's (N, C, H, W) and the pooled (OH, OW) of a pooling op or its gradient."""
    image, pooled = (node.inputs[0], node) if node.op in ("max_pool2d", "avg_pool2d") else (node, node.inputs[0])
    N, C, H, W = image.shape
    return N, C, H, W, pooled.shape[2], pooled.shape[3]


@kernel_rule("max_pool2d")
def _max_pool2d(lw, node, out):
    x = node.inputs[0]
    a = node.attrs
    N, C, H, W, OH, OW = _frame(node)
    dt = node.dtype.short
    n, c, oy, ox, ky, kx, iy, ix = _window_taps(a)
    if _pool_taps_inside(a, H, W, OH, OW):
        v = lw.value(x, [n, c, iy, ix])
    else:
        ok = _both(_in_range(iy, H), _in_range(ix, W))
        v = Call("select", (ok, lw.value(x, [n, c, _clamp(iy, H), _clamp(ix, W)]), Const(float("-inf"), dt)), dt)
    acc = lw.fresh("acc")
    body = [AccInit(acc, dt, Const(float("-inf"), dt))]
    body += _loops([("ky", a["kernel"][0]), ("kx", a["kernel"][1])], [AccUpdate(acc, "max", v)])
    body.append(Store(out, linear_index([n, c, oy, ox], node.shape), AccRef(acc, dt)))
    return _scalar_windows(_loops([("n", N), ("c", C), ("oy", OH), ("ox", OW)], body, parallel=True))


def _scalar_windows(loops: list) -> list:
    """Keep LLVM's loop vectoriser off the loops over output rows and columns. With the window
    loops fully unrolled it would vectorise one of them across windows with gathers at the
    stride (masked, for 14 columns), several times slower than what the SLP vectoriser makes of
    the unrolled windows: wide loads and shuffles. A 2x2 max pool over [64, 6, 28, 28] takes
    about 200 us the first way and 45 us the second. A short row of columns is marked for full
    unrolling too: LLVM's O2 thresholds leave 14 columns rolled, and SLP then has nothing to
    pack (250 us)."""
    loop = loops[-1]
    while True:
        if loop.var in ("oy", "ox"):
            loop.vectorize = False
            loop.unroll = loop.var == "ox" and loop.extent <= 32
        inner = [s for s in loop.body if isinstance(s, Loop)]
        if loop.var == "ox" or not inner:
            return loops
        loop = inner[0]


@kernel_rule("max_pool2d_backward")
def _max_pool2d_backward(lw, node, out):
    """Each output's gradient goes to the first maximum of its window (NaN counts as a maximum)."""
    g, x = node.inputs
    a = node.attrs
    N, C, H, W, OH, OW = _frame(node)
    if _pool_windows_disjoint(a, H, W, OH, OW):
        return _max_pool2d_backward_disjoint(lw, node, out)
    dt = node.dtype.short
    n, c, oy, ox, ky, kx, iy, ix = _window_taps(a)
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


def _pool_windows_disjoint(a, H, W, OH, OW) -> bool:
    """Windows inside the image that do not overlap (stride >= kernel, no dilation)."""
    dil = a.get("dilation", (1, 1))
    return (_pool_taps_inside(a, H, W, OH, OW) and dil == (1, 1)
            and all(a["stride"][d] >= a["kernel"][d] for d in (0, 1)))


def _max_pool2d_backward_disjoint(lw, node, out):
    """Disjoint windows: each window writes all its taps, the gradient at its first maximum and 0
    elsewhere, so nothing is accumulated; only positions outside every window are zeroed first
    (none when the windows tile the image)."""
    g, x = node.inputs
    a = node.attrs
    N, C, H, W, OH, OW = _frame(node)
    (KH, KW), (sh, sw) = a["kernel"], a["stride"]
    dt = node.dtype.short
    n, c, oy, ox, ky, kx = _vars("n", "c", "oy", "ox", "ky", "kx")
    iy, ix = iadd(imul(const_i(sh), oy), ky), iadd(imul(const_i(sw), ox), kx)
    v = lw.value(x, [n, c, iy, ix])
    best, where = lw.fresh("best"), lw.fresh("at")
    cur = AccRef(best, dt)
    first = Call("eq", (AccRef(where, "i64"), const_i(-1)), "bool")  # an all -inf window: its first tap
    is_nan = Call("ne", (v, v), "bool")
    better = Call("logical_or", (Call("logical_or", (Call("gt", (v, cur), "bool"),
                                                     _both(is_nan, Call("eq", (cur, cur), "bool"))), "bool"), first), "bool")
    tap = iadd(imul(ky, const_i(KW)), kx)
    body = [AccInit(best, dt, Const(float("-inf"), dt)), AccInit(where, "i64", const_i(-1))]
    body += _loops([("ky", KH), ("kx", KW)], [
        AccSet(where, Call("select", (better, tap, AccRef(where, "i64")), "i64")),
        AccSet(best, Call("select", (better, v, cur), dt)),
    ])
    grad = lw.value(g, [n, c, oy, ox])
    if sh == KH and sw == KW and OH * sh == H and OW * sw == W:
        # the windows tile the image: find each window's tap first (into scratch), then write the
        # gradient row by row of the image, where each window's taps are the stores of a few
        # unrolled iterations that SLP turns into vector stores (one pass writing every tap of a
        # window at a time vectorises with masked scatters: 380 -> 280 us on LeNet's first pool).
        # Both passes keep the loop vectoriser off their rows and columns, as the forward does
        # (the search alone went from about 150 to 35 us there)
        taps = _scratch(lw, "pool_argmax", _numel(g.shape) * 8)
        m = linear_index([n, c, oy, ox], g.shape)
        find = _loops([("n", N), ("c", C), ("oy", OH), ("ox", OW)], body + [Store(taps, m, AccRef(where, "i64"))],
                      parallel=True)
        put = Call("select", (Call("eq", (Load(taps, m, "i64"), tap), "bool"), grad, _zero(dt)), dt)
        write = _loops([("n", N), ("c", C), ("oy", OH), ("ky", KH), ("ox", OW), ("kx", KW)],
                       [Store(out, linear_index([n, c, iy, ix], node.shape), put)], parallel=True)
        return _scalar_windows(find) + _scalar_windows(write)
    put = Call("select", (Call("eq", (tap, AccRef(where, "i64")), "bool"), grad, _zero(dt)), dt)
    body += _loops([("ky", KH), ("kx", KW)], [Store(out, linear_index([n, c, iy, ix], node.shape), put)])
    windows = _loops([("n", N), ("c", C), ("oy", OH), ("ox", OW)], body, parallel=True)
    zero_idx = _vars("z0", "z1", "z2", "z3")
    init = _loops([("z0", N), ("z1", C), ("z2", H), ("z3", W)],
                  [Store(out, linear_index(zero_idx, node.shape), _zero(dt))], parallel=True)
    return init + windows


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
    N, C, H, W, OH, OW = _frame(node)
    dt = node.dtype.short
    n, c, oy, ox, ky, kx, iy, ix = _window_taps(a)
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
    N, C, H, W, OH, OW = _frame(node)
    dt = node.dtype.short
    n, c, oy, ox, ky, kx, iy, ix = _window_taps(a)
    share = Call("div", (lw.value(g, [n, c, oy, ox]), _avg_divisor(a, oy, ox, H, W, dt)), dt)
    target = linear_index([n, c, iy, ix], node.shape)
    scatter = If(_both(_in_range(iy, H), _in_range(ix, W)),
                 [Store(out, target, Call("add", (Load(out, target, dt), share), dt))])
    zero_idx = _vars("z0", "z1", "z2", "z3")
    init = _loops([("z0", N), ("z1", C), ("z2", H), ("z3", W)], [Store(out, linear_index(zero_idx, node.shape), _zero(dt))], parallel=True)
    return init + _loops([("n", N), ("c", C), ("oy", OH), ("ox", OW), ("ky", a["kernel"][0]), ("kx", a["kernel"][1])], [scatter], parallel=True)
