"""Random numbers inside a compiled function: ``rand``, ``randn``, ``randint``, ``bernoulli``,
``normal`` and their ``_like`` forms, built on the counter-based ``rand_uniform`` op.

Eagerly these draw from numpy's PCG64 (``graphc.random``); a trace cannot call numpy (its
numbers would be fixed at trace time), so while ``graphc.compile`` traces they become
``rand_uniform`` nodes reading the generator's Philox seed and offset, which the compiled step
advances itself, as dropout does: every call draws fresh numbers, ``manual_seed`` makes a run
reproducible, and the exported C code draws the same numbers as the compiled step. They are
not the numbers an eager call with the same seed draws (PyTorch's torch.compile differs from
eager mode in the same way).

Normal numbers use the Box-Muller transform of two uniform draws,
``sqrt(-2 log(1 - u1)) * cos(2 pi u2)`` (``1 - u1`` lies in (0, 1], so the log is finite);
integers scale a float64 uniform number (53 bits) and truncate.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import TraceError

from . import _dispatch
from .tensor import Tensor


def _const(value, dtype) -> Tensor:
    return Tensor._wrap(np.asarray(value, dtype=dtype.np))


def _unary(op: str, x: Tensor) -> Tensor:
    return _dispatch.apply(op, x)


def uniform(shape, dtype: D.DType, generator=None) -> Tensor:
    """Uniform numbers in [0, 1) of ``dtype`` (float32 or float64) from the counter-based op."""
    from .random import philox_seed_offset

    shape = tuple(int(s) for s in shape)
    numel = max(int(np.prod(shape, dtype=np.int64)), 1)
    # Philox gives four float32 numbers per counter block but only two float64 ones
    seed, offset = philox_seed_offset(numel * (2 if dtype is D.float64 else 1), generator=generator)
    return _dispatch.apply("rand_uniform", seed, offset, shape=shape, dtype=dtype.short)


def normal(shape, dtype: D.DType, generator=None) -> Tensor:
    """Standard normal numbers (Box-Muller)."""
    u1, u2 = uniform(shape, dtype, generator), uniform(shape, dtype, generator)
    radius = _unary("sqrt", _dispatch.binary("mul", _unary("log", _dispatch.binary("sub", _const(1.0, dtype), u1)),
                                             _const(-2.0, dtype)))
    return _dispatch.binary("mul", radius, _unary("cos", _dispatch.binary("mul", u2, _const(2 * math.pi, dtype))))


def integers(low: int, high: int, shape, dtype: D.DType, generator=None) -> Tensor:
    """Integers uniform in [low, high)."""
    span = high - low
    u = uniform(shape, D.float64, generator)
    k = _dispatch.cast(_dispatch.binary("mul", u, _const(float(span), D.float64)), D.int64)  # (u >= 0: truncation is floor)
    k = _dispatch.binary("minimum", k, _const(span - 1, D.int64))  # (u * span may round up to span)
    k = _dispatch.binary("add", k, _const(low, D.int64))
    return k if dtype is D.int64 else _dispatch.cast(k, dtype)


def bernoulli(probs, shape, dtype: D.DType, generator=None) -> Tensor:
    """1 where a uniform number is below ``probs`` (a tensor or a number), else 0, of ``dtype``."""
    u = uniform(shape, D.float64 if dtype is D.float64 else D.float32, generator)
    if not isinstance(probs, Tensor):
        probs = _const(probs, u.dtype)
    return _dispatch.cast(_dispatch.binary("lt", u, probs), dtype)


def refuse_requires_grad(what: str, requires_grad: bool) -> None:
    if requires_grad:
        raise TraceError(f"graphc.{what}(..., requires_grad=True) inside a compiled function makes a new leaf at every "
                         "call, which no optimizer holds", fix=f"create the parameter with {what}() outside the "
                         "compiled function (in the module's __init__)")
