"""Cumulative operations along a dimension: ``cumsum``, ``cumprod``, ``logcumsumexp``, as torch's.

Each is a scan written with graphc's existing ops (no IR op of its own): the Hillis-Steele
doubling scan, ``x = x (op) shift(x, k)`` for ``k = 1, 2, 4, ...``, where ``shift`` moves the
values ``k`` places along ``dim`` and fills with the operation's identity. That is
``ceil(log2 n)`` elementwise steps (which the fusion pass joins), O(n log n) work, and
autodiff differentiates it like any graph, so the gradients are exact (``cumprod`` through
zeros too) and the same code runs eagerly, traced and compiled. The sums are added in a tree
order, not left to right, so the last bits can differ from PyTorch's sequential loop.

    >>> import graphc
    >>> graphc.cumsum(graphc.tensor([1, 2, 3, 4]), dim=0)
    tensor([ 1,  3,  6, 10])
"""

from __future__ import annotations

import math

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError

from . import _dispatch
from ._tensor_args import as_tensor, dtype_arg
from .tensor import Tensor, _check_dim

__all__ = ["cumsum", "cumprod", "logcumsumexp"]


def _shifted(x: Tensor, dim: int, k: int, fill: float) -> Tensor:
    """``x`` moved ``k`` places along ``dim``, the first ``k`` filled with ``fill``."""
    from . import factories
    from ._tensor_shape import cat, narrow

    n = x.shape[dim]
    head_shape = list(x.shape)
    head_shape[dim] = k
    head = factories.full(tuple(head_shape), fill, dtype=x.dtype)
    head._device = x._device
    return cat([head, narrow(x, dim, 0, n - k)], dim)


def _scan(x: Tensor, dim: int, combine, identity: float) -> Tensor:
    n = x.shape[dim]
    k = 1
    while k < n:
        x = combine(x, _shifted(x, dim, k, identity))
        k *= 2
    return x


def _prepare(input, dim: int, dtype, what: str) -> tuple[Tensor, int]:
    x = as_tensor(input)
    dt = dtype_arg(dtype)
    if dt is None and not x.dtype.is_floating_point:
        dt = D.int64  # (PyTorch: integral and bool inputs accumulate in int64)
    if dt is not None and dt is not x.dtype:
        x = _dispatch.cast(x, dt)
    if x.ndim == 0:
        _check_dim(dim, 0)
        return x, -1
    return x, _check_dim(dim, x.ndim)


def cumsum(input, dim: int, *, dtype=None, out=None) -> Tensor:
    """Running sums along ``dim`` (integers and bools sum in int64 unless ``dtype`` says otherwise)."""
    x, d = _prepare(input, dim, dtype, "cumsum")
    return x if d < 0 else _scan(x, d, lambda a, b: a + b, 0)


def cumprod(input, dim: int, *, dtype=None, out=None) -> Tensor:
    """Running products along ``dim``."""
    x, d = _prepare(input, dim, dtype, "cumprod")
    return x if d < 0 else _scan(x, d, lambda a, b: a * b, 1)


def logcumsumexp(input, dim: int, *, out=None) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``dim``, computed without overflow (pairwise log-add-exp)."""
    x = as_tensor(input)
    if not x.dtype.is_floating_point:
        raise DTypeError(f"\"logcumsumexp_out_cpu\" not implemented for '{x.dtype.name.capitalize()}'",
                         fix="convert the input to a floating dtype first (x.float())")
    d = -1 if x.ndim == 0 else _check_dim(dim, x.ndim)
    return x if d < 0 else _scan(x, d, _logaddexp, -math.inf)


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """``log(exp(a) + exp(b))`` shifted by the larger of the two (a -inf pair stays -inf)."""
    import graphc

    m = graphc.maximum(a, b)
    shift = graphc.where(graphc.isfinite(m), m, graphc.zeros_like(m)).detach()
    return shift + ((a - shift).exp() + (b - shift).exp()).log()
