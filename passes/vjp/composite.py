"""VJP rules of the composite ops, in core ops.

Autodiff runs before the ``decompose`` pass, so the composites need rules of their own. Each is the
closed-form derivative (cheaper than differentiating the decomposition node by node), written with
the forward output where that is what the formula reads. Where a rule needs an intermediate of the
forward computation (gelu's erf term, layer_norm's rsqrt), it builds it with the same helper the
decomposition uses, so CSE merges the two after decomposition.
"""

from __future__ import annotations

import math

from graphc.ir.ops.composite import gelu_inner, layer_norm_moments, linear_rows

from . import vjp


def _dims(node) -> tuple[int, ...]:
    return (node.attrs["dim"] % max(node.ndim, 1),)


@vjp("softmax")
def _softmax(b, node, grad, needs):  # dx = y (g - sum(g y))
    total = b.add("sum", b.mul(grad, node), dims=_dims(node), keepdim=True)
    return (b.mul(node, b.add("sub", grad, total)),)


@vjp("log_softmax")
def _log_softmax(b, node, grad, needs):  # dx = g - exp(y) sum(g)
    total = b.add("sum", grad, dims=_dims(node), keepdim=True)
    return (b.add("sub", grad, b.mul(b.add("exp", node), total)),)


@vjp("gelu")
def _gelu(b, node, grad, needs):
    x = node.inputs[0]
    half, one = b.const(0.5, x), b.const(1.0, x)
    inner = gelu_inner(b, x, node.attrs["approximate"])
    cdf = b.mul(half, b.add("add", one, inner))
    if node.attrs["approximate"] == "tanh":
        # d/dx [x/2 (1 + t)] = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
        slope = b.add("add", one, b.mul(b.mul(x, x), b.const(3 * 0.044715, x)))
        dt = b.mul(b.add("sub", one, b.mul(inner, inner)), b.mul(slope, b.const(math.sqrt(2.0 / math.pi), x)))
        return (b.mul(grad, b.add("add", cdf, b.mul(b.mul(x, half), dt))),)
    # d/dx [x Phi(x)] = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    pdf = b.mul(b.add("exp", b.mul(b.mul(x, x), b.const(-0.5, x))), b.const(1.0 / math.sqrt(2.0 * math.pi), x))
    return (b.mul(grad, b.add("add", cdf, b.mul(x, pdf))),)


@vjp("layer_norm")
def _layer_norm(b, node, grad, needs):
    """y = (x - mean) r with r = rsqrt(var + eps): dx = r (g - mean(g) - y mean(g y)) over dims."""
    x = node.inputs[0]
    dims = tuple(d % x.ndim for d in node.attrs["dims"])
    _, rstd = layer_norm_moments(b, x, dims, node.attrs["eps"])
    n = b.const(float(math.prod(x.shape[d] for d in dims)), x)
    mean_g = b.div(b.add("sum", grad, dims=dims, keepdim=True), n)
    mean_gy = b.div(b.add("sum", b.mul(grad, node), dims=dims, keepdim=True), n)
    inner = b.add("sub", b.add("sub", grad, mean_g), b.mul(node, mean_gy))
    return (b.mul(rstd, inner),)


@vjp("linear")
def _linear(b, node, grad, needs):
    """y = x w^T + b over rows: dx = g w, dw = (x^T g)^T, db = sum of g over the rows."""
    x, w = node.inputs[:2]
    rows = linear_rows(b, grad)
    gx = gw = gb = None
    if needs[0]:
        gx = b.add("matmul", rows, w)
        gx = gx if gx.shape == x.shape else b.add("reshape", gx, shape=x.shape)
    if needs[1]:
        # (x^T g)^T rather than g^T x: when x is a view (a flatten) that the forward matmul also
        # reads, a second matmul reading it directly trips a fusion/memory-plan mismatch
        # (the plan stores the view, the GEMM lowering reads its base in place)
        xt_g = b.add("matmul", b.add("permute", linear_rows(b, x), dims=(1, 0)), rows)
        gw = b.add("permute", xt_g, dims=(1, 0))
    if len(needs) == 3 and needs[2]:
        gb = b.add("sum", rows, dims=(0,))
    return (gx, gw, gb)[:len(needs)]
