"""Small example graphs that together use every registered op (except the ``placeholder`` pseudo-op).

Tests round-trip them through the IR text, verify them and export them. When you register a new
op, add a node using it to one of these builders (or a new builder in ``BUILDERS``);
``tests/test_ir_text.py::test_examples_cover_every_registered_op`` fails until you do.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import Graph, TensorType, bool_, float32, float64, int64


def _t(dtype, *shape) -> TensorType:
    return TensorType(dtype, shape)


def elementwise_graph() -> Graph:
    """Unary math, binary arithmetic with broadcasting, comparisons, logic, where, cast, constant."""
    g = Graph("elementwise")
    x = g.placeholder("x", _t(float32, 2, 3), "input", loc="model.py:3")
    b = g.placeholder("bias", _t(float32, 3), "param")
    outs = []
    for op in ("neg", "abs", "sign", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tanh",
               "sigmoid", "relu", "erf"):
        outs.append(g.add(op, x, loc=f"model.py:{len(outs) + 10}"))
    for op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum"):
        outs.append(g.add(op, x, b))
    gt = g.add("gt", x, b, name="positive")
    lt = g.add("lt", x, b)
    both = g.add("logical_and", g.add("eq", x, b), g.add("ne", x, b))
    either = g.add("logical_or", g.add("le", x, b), g.add("ge", x, b))
    neither = g.add("logical_not", g.add("logical_or", both, either))
    outs.append(g.add("where", g.add("logical_or", gt, neither), x, g.add("constant", value=-np.inf, shape=(2, 3))))
    outs.append(g.add("cast", lt, dtype="f32"))
    outs.append(g.add("cast", x, dtype="f64"))
    outs.append(g.add("constant", value=2, dtype="i64"))
    outs.append(g.add("constant", value=np.nan, dtype="f64", shape=(1,), name="missing"))
    outs.append(g.add("constant", value=True, dtype="bool", shape=(2,)))
    g.set_outputs(outs)
    return g


def movement_graph() -> Graph:
    """Reductions and movement: sum, max, argmax, reshape, permute, expand, slice, pad, concat, flip."""
    g = Graph("movement")
    x = g.placeholder("x", _t(float32, 2, 3, 4), "input")
    total = g.add("sum", x, dims=(0, 2), keepdim=True)
    peak = g.add("max", x, dims=(1,))
    arg = g.add("argmax", x, dim=-1, keepdim=False)
    flat = g.add("reshape", x, shape=(6, 4))
    perm = g.add("permute", x, dims=(2, 0, 1))
    wide = g.add("expand", total, shape=(5, 2, 3, 4))
    part = g.add("slice", flat, dim=0, start=1, stop=6, step=2)
    padded = g.add("pad", part, pads=((1, 0), (0, 2)), value=-np.inf)
    joined = g.add("concat", flat, flat, part, dim=0)
    single = g.add("concat", flat)
    flipped = g.add("flip", perm, dims=(0, 2))
    g.set_outputs([total, peak, arg, wide, padded, joined, single, flipped])
    return g


def index_graph() -> Graph:
    """Label picks and their transposes: gather, scatter_add, take, index_add."""
    g = Graph("index")
    logits = g.placeholder("logits", _t(float32, 4, 10), "input")
    labels = g.placeholder("labels", _t(int64, 4, 1), "input")
    table = g.placeholder("emb.weight", _t(float32, 10, 3), "param")
    tokens = g.placeholder("tokens", _t(int64, 2, 5), "input")
    picked = g.add("gather", logits, labels, dim=1)
    scattered = g.add("scatter_add", logits, labels, picked, dim=1)
    rows = g.add("take", table, tokens, dim=0)
    grad = g.add("index_add", table, tokens, rows, dim=0)
    g.set_outputs([picked, scattered, rows, grad])
    return g


def conv_graph() -> Graph:
    """matmul, conv2d with both backward ops, and max / average pooling with theirs."""
    g = Graph("conv")
    x = g.placeholder("x", _t(float32, 1, 2, 5, 5), "input")
    w = g.placeholder("conv1.weight", _t(float32, 3, 2, 3, 3), "param")
    a = g.placeholder("a", _t(float32, 2, 4, 3), "input")
    m = g.placeholder("m", _t(float32, 3, 5), "param")
    conv = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)
    y = g.add("conv2d", x, w, **conv)
    dx = g.add("conv2d_backward_input", y, w, input_shape=(1, 2, 5, 5), **conv)
    dw = g.add("conv2d_backward_weight", x, y, weight_shape=(3, 2, 3, 3), **conv)
    mp = dict(kernel=(2, 2), stride=(2, 2))
    pooled = g.add("max_pool2d", x, **mp)
    dmax = g.add("max_pool2d_backward", pooled, x, **mp)
    ap = dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True, count_include_pad=False)
    avg = g.add("avg_pool2d", x, **ap)
    davg = g.add("avg_pool2d_backward", avg, input_shape=(1, 2, 5, 5), **ap)
    prod = g.add("matmul", a, m)
    g.set_outputs([y, dx, dw, pooled, dmax, avg, davg, prod])
    return g


def composite_graph() -> Graph:
    """Composite ops (the decompose pass expands them): softmax, log_softmax, gelu, layer_norm, linear."""
    g = Graph("composite")
    x = g.placeholder("x", _t(float32, 2, 5), "input", loc="model.py:4")
    s = g.add("softmax", x, dim=1, name="probs", loc="model.py:5")
    ls = g.add("log_softmax", x, dim=-1, loc="model.py:6")
    ge = g.add("gelu", x)
    gt = g.add("gelu", x, approximate="tanh")
    ln = g.add("layer_norm", x, dims=(1,), eps=1e-6, name="ln")
    w = g.placeholder("fc.weight", _t(float32, 3, 5), "param")
    b = g.placeholder("fc.bias", _t(float32, 3), "param")
    fc = g.add("linear", x, w, b, name="fc")
    no_bias = g.add("linear", g.add("reshape", x, shape=(1, 2, 5)), w)
    g.set_outputs([s, ls, ge, gt, ln, fc, no_bias])
    return g


def train_step_graph() -> Graph:
    """A tiny SGD-with-momentum step: every placeholder role, dropout noise, and assign."""
    g = Graph("sgd_step")
    x = g.placeholder("x", _t(float32, 4, 3), "input", loc="train.py:20")
    w = g.placeholder("l1.weight", _t(float32, 2, 3), "param")
    buf = g.placeholder("opt.momentum_buffer.0", _t(float32, 2, 3), "state")
    lr = g.placeholder("lr", _t(float32), "hyper")
    seed = g.placeholder("seed", _t(int64), "hyper")
    offset = g.placeholder("offset", _t(int64), "input")
    scale = g.placeholder("scale", _t(float32, 3), "const",
                          value=np.array([1.0, 0.5, 2.0], dtype=np.float32))
    noise = g.add("rand_uniform", seed, offset, shape=(4, 3), loc="model.py:8")
    keep = g.add("cast", g.add("lt", noise, g.add("constant", value=0.9, shape=(4, 3))), dtype="f32")
    h = g.add("mul", g.add("mul", x, keep), scale)
    wt = g.add("permute", w, dims=(1, 0), name="l1.weight.T")
    out = g.add("matmul", h, wt, loc="model.py:12")
    loss = g.add("sum", g.add("mul", out, out), dims=(0, 1), name="loss", loc="train.py:22")
    grad = g.add("permute", g.add("matmul", g.add("permute", h, dims=(1, 0)), out), dims=(1, 0))
    new_buf = g.add("add", g.add("mul", buf, g.add("constant", value=0.9)), grad)
    new_w = g.add("sub", w, g.add("mul", new_buf, lr))
    g.assign(buf, new_buf, loc="train.py:24")
    g.assign(w, new_w)
    extra = g.add("rand_uniform", seed, offset, shape=(2,), dtype="f64")
    g.set_outputs([loss, extra, w])
    return g


def empty_graph() -> Graph:
    """No nodes and no outputs: the smallest graph the text format can hold."""
    g = Graph("empty")
    g.placeholder("unused", _t(bool_, 0), "input")
    return g


def scalar_graph() -> Graph:
    """Scalars and a float64 chain."""
    g = Graph("scalars")
    a = g.placeholder("a", _t(float64), "input")
    b = g.add("mul", a, a)
    g.set_outputs([b, a])
    return g


BUILDERS = (elementwise_graph, movement_graph, index_graph, conv_graph, composite_graph, train_step_graph,
            empty_graph, scalar_graph)


def example_graphs() -> list[Graph]:
    """A fresh list of the example graphs (each call builds new ones; tests may change them)."""
    return [build() for build in BUILDERS]
