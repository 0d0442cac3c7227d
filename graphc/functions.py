"""The ``torch.*`` function namespace: ``graphc.exp(x)``, ``graphc.cat([a, b])``, ``graphc.matmul(a, b)``...

Each is the same function as the tensor method of that name (``graphc.sum(x, 1)`` is
``x.sum(1)``); ``graphc/__init__.py`` star-imports this module::

    >>> import graphc
    >>> a = graphc.tensor([[1.0, 2.0]])
    >>> graphc.cat([a, a], dim=0).shape, graphc.allclose(a.exp().log(), a)
    (graphc.Size([2, 2]), True)
"""

from __future__ import annotations

from . import _dispatch
from ._tensor_args import as_tensor
from ._tensor_linalg import bmm, dot, ger, inner, matmul, mm, mv, outer, vdot
from ._tensor_math import (
    abs,
    absolute,
    add,
    addcdiv,
    addcmul,
    ceil,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    cos,
    div,
    divide,
    eq,
    erf,
    exp,
    expm1,
    fix,
    floor,
    floor_divide,
    fmod,
    ge,
    greater,
    greater_equal,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    lerp,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    mul,
    multiply,
    ne,
    neg,
    negative,
    not_equal,
    pow,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    sub,
    subtract,
    tan,
    tanh,
    true_divide,
    trunc,
    where,
)
from ._tensor_methods import is_floating_point, is_tensor, numel
from ._tensor_reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    count_nonzero,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    softmax,
    std,
    std_mean,
    sum,
    var,
    var_mean,
)
from ._tensor_shape import (
    broadcast_to,
    cat,
    chunk,
    clone,
    concat,
    concatenate,
    flatten,
    flip,
    hstack,
    movedim,
    narrow,
    permute,
    reshape,
    select,
    split,
    squeeze,
    stack,
    swapaxes,
    swapdims,
    t,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
    vstack,
)
from ._tensor_shape import masked_fill as _masked_fill


def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True, else ``input``."""
    return _masked_fill(input, mask, value)


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (equal infinities match; NaN only with ``equal_nan``)."""
    (a, b), dtype = _dispatch.promote(input, other)
    if not dtype.is_floating_point:
        return eq(a, b)
    diff = abs(sub(a, b))
    close = le(diff, add(mul(abs(b), rtol), atol))
    out = logical_or(eq(a, b), logical_and(close, logical_and(isfinite(a), isfinite(b))))
    if equal_nan:
        out = logical_or(out, logical_and(isnan(a), isnan(b)))
    return out


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when every element of ``input`` is close to ``other`` (see :func:`isclose`); a Python bool."""
    return bool(all(isclose(input, other, rtol, atol, equal_nan)))


def equal(input, other) -> bool:
    """True when both tensors have one shape and equal elements; a Python bool."""
    a, b = as_tensor(input), as_tensor(other)
    if tuple(a.shape) != tuple(b.shape):
        return False
    return bool(all(eq(a, b)))


__all__ = [
    # elementwise
    "abs", "absolute", "add", "addcdiv", "addcmul", "ceil", "clamp", "clamp_max", "clamp_min", "clip", "cos", "div",
    "divide", "eq", "erf", "exp", "expm1", "fix", "floor", "floor_divide", "fmod", "ge", "greater", "greater_equal", "gt",
    "isfinite", "isinf", "isnan", "le", "lerp", "less", "less_equal", "log", "log1p", "log2", "log10", "logical_and",
    "logical_not", "logical_or", "logical_xor", "lt", "maximum", "minimum", "mul", "multiply", "ne", "neg", "negative",
    "not_equal", "pow", "reciprocal", "relu", "remainder", "round", "rsqrt", "sigmoid", "sign", "sin", "sqrt", "square",
    "sub", "subtract", "tan", "tanh", "true_divide", "trunc", "where", "masked_fill", "isclose", "allclose", "equal",
    # reductions
    "all", "amax", "amin", "any", "argmax", "argmin", "count_nonzero", "log_softmax", "logsumexp", "max", "mean", "min",
    "norm", "prod", "softmax", "std", "std_mean", "sum", "var", "var_mean",
    # shape
    "broadcast_to", "cat", "chunk", "clone", "concat", "concatenate", "flatten", "flip", "hstack", "movedim", "narrow", "select",
    "permute", "reshape", "split", "squeeze", "stack", "swapaxes", "swapdims", "t", "transpose", "unbind", "unflatten",
    "unsqueeze", "vstack",
    # linear algebra
    "bmm", "dot", "ger", "inner", "matmul", "mm", "mv", "outer", "vdot",
    # queries
    "is_floating_point", "is_tensor", "numel",
]
