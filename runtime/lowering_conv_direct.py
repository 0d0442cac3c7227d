"""Convolutions as direct loop nests, for targets whose parallelism is a grid of threads.

The CPU lowers convolutions through im2col and the packed GEMM (``runtime/lowering_conv.py``);
a GPU is better served by one thread per output element, which these rules give the CUDA
schedule (``runtime/cuda/schedule.py``): the forward and the weight gradient accumulate with
every output position independent, the input gradient scatters (atomically where the schedule
decides so). Out-of-range taps are masked (a ``select`` after a clamped load) or skipped.

``lower(graph, rules=DIRECT_CONV_RULES)`` uses them in place of the default conv rules.
"""

from __future__ import annotations

from .kernel_ir import AccInit, AccRef, AccUpdate, Call, If, Load, Store, const_i, iadd, imul
from .lowering_nn import _both, _clamp, _in_range, _loops, _tap, _vars, _zero
from .lowering_rules import linear_index


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
    init = _loops([("n", N), ("o", O), ("oy", OH), ("ox", OW)], [Store(out, out_idx, _zero(dt))])
    acc = Store(out, out_idx, Call("add", (Load(out, out_idx, dt), contrib), dt))
    return init + _loops([("n", N), ("o", O), ("c", Cg), ("ky", KH), ("kx", KW), ("oy", OH), ("ox", OW)], [acc])


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
    init = _loops([("z0", N), ("z1", C), ("z2", H), ("z3", W)], [Store(out, linear_index(zero_idx, node.shape), _zero(dt))])
    return init + _loops([("n", N), ("o", O), ("c", Cg), ("ky", KH), ("kx", KW), ("oy", OH), ("ox", OW)], [scatter])


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
    return _loops([("o", O), ("c", Cg), ("ky", KH), ("kx", KW)], body)


DIRECT_CONV_RULES = {
    "conv2d": _conv2d,
    "conv2d_backward_input": _conv2d_backward_input,
    "conv2d_backward_weight": _conv2d_backward_weight,
}
