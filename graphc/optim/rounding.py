"""PyTorch's rounding of the fused CPU kernels the optimizers use, with plain tensor ops.

PyTorch computes ``add(other, alpha=a)``, ``addcmul`` and ``lerp`` on the CPU with a fused
multiply-add (one rounding), and scalar bookkeeping (bias corrections, decayed rates) in
Python double precision. These helpers reproduce both with ordinary tensor operations (a
float32 fma is computed in float64 and rounded once), so the update rules match PyTorch's
float32 results bit for bit in almost every element, eagerly and when traced:

    >>> import graphc
    >>> from graphc.optim.rounding import fma
    >>> fma(graphc.tensor([1.0]), 0.1, graphc.tensor([2.0])).tolist() == [float(graphc.tensor(2.1))]
    True
"""

from __future__ import annotations

import numpy as np

from graphc import _dispatch
from graphc.ir.dtypes import float32, float64
from graphc.tensor import Tensor

__all__ = ["as_float64", "fma", "lerp"]


def as_float64(x):
    """A hyperparameter as a float64 0-dim tensor, for scalar arithmetic PyTorch does in Python floats.

    A Python float becomes an exact float64 constant; a tensor (or a traced hyper) is cast.
    Mixing the result with a float32 tensor casts the scalar to float32 first, as PyTorch does
    with a Python scalar, so ``lr / (1 - beta1 ** step)`` rounds exactly as in PyTorch.
    """
    from graphc import factories

    if isinstance(x, Tensor):
        return x.double()
    if hasattr(x, "getter"):  # a Hyper float while tracing: its placeholder, widened
        return _dispatch.operand(x).double()
    return factories.tensor(float(x), dtype=float64)


def _wide(x):
    """``x`` rounded to float32 (as a PyTorch kernel sees a float32 operand), then widened."""
    from graphc import factories

    if isinstance(x, Tensor):
        return (x.float() if x.dtype is float64 else x).double()
    if hasattr(x, "getter"):
        return _dispatch.operand(x).double()
    return factories.tensor(float(np.float32(x)), dtype=float64)


def fma(a, b, c):
    """``a * b + c`` rounded once to ``c``'s dtype (PyTorch's ``c.add(a, alpha=b)``, ``addcmul``)."""
    if c.dtype is not float32:
        return c + a * b
    return (_wide(a) * _wide(b) + _wide(c)).float()


def lerp(start, end, weight):
    """PyTorch's CPU ``start.lerp(end, weight)``: ``fma(w, end - start, start)`` for ``|w| < 0.5``,
    else ``fma(w - 1, end - start, end)``."""
    diff = end - start
    if isinstance(weight, Tensor) or hasattr(weight, "getter"):
        import graphc

        w = _dispatch.operand(weight)
        small = w.abs() < 0.5
        coeff = graphc.where(small, w, w - 1)
        base = graphc.where(small, start, end)
        return fma(coeff, diff, base)
    if abs(weight) < 0.5:
        return fma(weight, diff, start)
    return fma(weight - 1, diff, end)
