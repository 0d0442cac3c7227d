"""VJP rules of the elementwise ops."""

from __future__ import annotations

import math

from . import GradBuilder, vjp


@vjp("neg")
def _neg(b: GradBuilder, node, grad, needs):
    return (b.neg(grad),)


@vjp("exp")
def _exp(b, node, grad, needs):
    return (b.mul(grad, node),)


@vjp("log")
def _log(b, node, grad, needs):
    return (b.div(grad, node.inputs[0]),)


@vjp("sqrt")
def _sqrt(b, node, grad, needs):  # d sqrt(x) = dx / (2 sqrt(x))
    return (b.div(grad, b.mul(node, b.const(2.0, node))),)


@vjp("rsqrt")
def _rsqrt(b, node, grad, needs):  # d x^-1/2 = -1/2 x^-3/2 = -1/2 rsqrt(x)^3
    cube = b.mul(b.mul(node, node), node)
    return (b.mul(grad, b.mul(cube, b.const(-0.5, node))),)


@vjp("reciprocal")
def _reciprocal(b, node, grad, needs):  # d 1/x = -1/x^2
    return (b.neg(b.mul(grad, b.mul(node, node))),)


@vjp("sin")
def _sin(b, node, grad, needs):
    return (b.mul(grad, b.add("cos", node.inputs[0])),)


@vjp("cos")
def _cos(b, node, grad, needs):
    return (b.neg(b.mul(grad, b.add("sin", node.inputs[0]))),)


@vjp("tanh")
def _tanh(b, node, grad, needs):  # 1 - tanh^2
    return (b.mul(grad, b.add("sub", b.const(1.0, node), b.mul(node, node))),)


@vjp("sigmoid")
def _sigmoid(b, node, grad, needs):  # s (1 - s)
    return (b.mul(grad, b.mul(node, b.add("sub", b.const(1.0, node), node))),)


@vjp("erf")
def _erf(b, node, grad, needs):  # 2/sqrt(pi) exp(-x^2)
    x = node.inputs[0]
    e = b.add("exp", b.neg(b.mul(x, x)))
    return (b.mul(grad, b.mul(e, b.const(2.0 / math.sqrt(math.pi), node))),)


@vjp("abs")
def _abs(b, node, grad, needs):
    return (b.mul(grad, b.add("sign", node.inputs[0])),)


@vjp("sign")
def _sign(b, node, grad, needs):
    return (b.mul(grad, b.const(0.0, node)),)


@vjp("relu")
def _relu(b, node, grad, needs):  # PyTorch: gradient 0 at x == 0
    mask = b.add("gt", node, b.const(0, node))
    return (b.add("where", mask, grad, b.const(0.0, grad)),)


@vjp("cast")
def _cast(b, node, grad, needs):
    src = node.inputs[0]
    if not src.dtype.is_floating_point:
        return (None,)
    return (b.add("cast", grad, dtype=src.dtype.short) if grad.dtype is not src.dtype else grad,)


@vjp("add")
def _add(b, node, grad, needs):
    a, c = node.inputs
    return (b.sum_to(grad, a.shape) if needs[0] else None, b.sum_to(grad, c.shape) if needs[1] else None)


@vjp("sub")
def _sub(b, node, grad, needs):
    a, c = node.inputs
    return (b.sum_to(grad, a.shape) if needs[0] else None, b.sum_to(b.neg(grad), c.shape) if needs[1] else None)


@vjp("mul")
def _mul(b, node, grad, needs):
    a, c = node.inputs
    return (
        b.sum_to(b.mul(grad, c), a.shape) if needs[0] else None,
        b.sum_to(b.mul(grad, a), c.shape) if needs[1] else None,
    )


@vjp("div")
def _div(b, node, grad, needs):
    a, c = node.inputs
    ga = gc = None
    if needs[0]:
        ga = b.sum_to(b.div(grad, c), a.shape)
    if needs[1]:  # d(a/c)/dc = -a / c^2
        gc = b.sum_to(b.neg(b.div(b.mul(grad, a), b.mul(c, c))), c.shape)
    return ga, gc


@vjp("pow")
def _pow(b, node, grad, needs):
    a, c = node.inputs
    ga = gc = None
    if needs[0]:  # c * a^(c-1), 0 where c == 0 (as PyTorch)
        one = b.const(1.0, c)
        d = b.mul(c, b.add("pow", a, b.add("sub", c, one)))
        d = b.add("where", b.add("eq", c, b.const(0.0, c)), b.const(0.0, d), d)
        ga = b.sum_to(b.mul(grad, d), a.shape)
    if needs[1]:  # a^c * log(a), 0 where a == 0 and c >= 0 (as PyTorch)
        d = b.mul(node, b.add("log", a))
        zero_base = b.add("logical_and", b.add("eq", a, b.const(0.0, a)), b.add("ge", c, b.const(0.0, c)))
        d = b.add("where", zero_base, b.const(0.0, d), d)
        gc = b.sum_to(b.mul(grad, d), c.shape)
    return ga, gc


def _select_grad(b, node, grad, needs, first_wins):
    """maximum/minimum: the gradient goes to the chosen input; ties split it evenly (PyTorch)."""
    a, c = node.inputs
    half = b.div(grad, b.const(2.0, grad))
    tie = b.add("eq", a, c)
    pick_a = b.add(first_wins, a, c)
    zero = b.const(0.0, grad)
    ga = gc = None
    if needs[0]:
        ga = b.sum_to(b.add("where", tie, half, b.add("where", pick_a, grad, zero)), a.shape)
    if needs[1]:
        gc = b.sum_to(b.add("where", tie, half, b.add("where", pick_a, zero, grad)), c.shape)
    return ga, gc


@vjp("maximum")
def _maximum(b, node, grad, needs):
    return _select_grad(b, node, grad, needs, "gt")


@vjp("minimum")
def _minimum(b, node, grad, needs):
    return _select_grad(b, node, grad, needs, "lt")


@vjp("where")
def _where(b, node, grad, needs):
    cond, a, c = node.inputs
    zero = b.const(0.0, grad)
    return (
        None,
        b.sum_to(b.add("where", cond, grad, zero), a.shape) if needs[1] else None,
        b.sum_to(b.add("where", cond, zero, grad), c.shape) if needs[2] else None,
    )
