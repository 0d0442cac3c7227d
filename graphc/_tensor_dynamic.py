"""Functions whose output shape depends on the values: ``nonzero``, ``argwhere``,
``masked_select``, ``unique``, ``bincount``, as PyTorch's.

They run eagerly (``masked_select`` differentiably: its values are a ``take`` of the selected
positions). A compiled function has static shapes, so inside ``graphc.compile`` each raises a
``TraceError`` naming the static-shape alternative::

    >>> import graphc
    >>> graphc.nonzero(graphc.tensor([0, 3, 0, 4])).tolist()
    [[1], [3]]
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcValueError, ShapeError, TraceError

from . import _dispatch
from ._tensor_args import as_tensor
from .tensor import Tensor

__all__ = ["nonzero", "argwhere", "masked_select", "unique", "bincount"]


def _eager_only(what: str, instead: str, *tensors) -> None:
    if _dispatch.tracer is not None:
        raise TraceError(f"{what}() has an output whose shape depends on the values, and compiled code has static "
                         "shapes", fix=instead)


def _wrap(array: np.ndarray, like: Tensor) -> Tensor:
    out = Tensor._wrap(np.ascontiguousarray(array))
    out._device = like._device
    return out


def nonzero(input, *, as_tuple: bool = False):
    """Indices of the non-zero elements: an int64 ``[n, ndim]`` tensor, or one 1-D tensor per dim."""
    x = as_tensor(input)
    _eager_only("nonzero", "keep a mask instead (graphc.where(mask, a, b), x * mask), or call nonzero outside the "
                           "compiled function")
    positions = np.argwhere(np.asarray(x._data) != 0).astype(np.int64)
    if as_tuple:
        if x.ndim == 0:
            return (_wrap(positions[:, 0] if positions.shape[1] else np.zeros(int(bool(x._data)), np.int64), x),)
        return tuple(_wrap(positions[:, d], x) for d in range(x.ndim))
    return _wrap(positions, x)


def argwhere(input) -> Tensor:
    """``nonzero(input)``."""
    return nonzero(input)


def masked_select(input, mask) -> Tensor:
    """The elements of ``input`` where ``mask`` (broadcast together) is True, as a 1-D tensor;
    its gradient flows back to those elements."""
    x, m = as_tensor(input), as_tensor(mask)
    _eager_only("masked_select", "use graphc.where(mask, x, 0) (or x * mask) and reduce it, or call masked_select "
                                 "outside the compiled function")
    if not m.dtype.is_bool:
        raise DTypeError(f"masked_select: expected BoolTensor for mask, got {m.dtype.name}", fix="pass mask.bool()")
    try:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(m.shape))
    except ValueError:
        raise ShapeError(f"The size of tensor a ({list(x.shape)}) must match the size of tensor b ({list(m.shape)})",
                         fix="give the mask a shape that broadcasts with the input") from None
    flat = np.flatnonzero(np.broadcast_to(m._data, shape)).astype(np.int64)
    source = x.expand(*shape) if tuple(x.shape) != shape else x
    return source.reshape(-1).take(_wrap(flat, x))


def unique(input, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
           dim: int | None = None):
    """The distinct values (sorted), or distinct slices along ``dim``; with the index of each
    element's value (``return_inverse``) and how often each occurs (``return_counts``)."""
    x = as_tensor(input)
    _eager_only("unique", "call unique outside the compiled function (on the data, not inside the step)")
    data = np.asarray(x._data)
    if dim is None:
        values, inverse, counts = np.unique(data.reshape(-1), return_inverse=True, return_counts=True)
        inverse = inverse.reshape(data.shape)
    else:
        d = dim % max(x.ndim, 1)
        values, inverse, counts = np.unique(data, axis=d, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
    out = [_wrap(values.astype(data.dtype), x)]
    if return_inverse:
        out.append(_wrap(inverse.astype(np.int64), x))
    if return_counts:
        out.append(_wrap(counts.astype(np.int64), x))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength: int = 0) -> Tensor:
    """How often each value ``0 .. max`` occurs in a 1-D non-negative integer tensor (summing
    ``weights`` instead of counting, when given); at least ``minlength`` bins."""
    x = as_tensor(input)
    _eager_only("bincount", "compare against graphc.arange(n) and sum ((x.unsqueeze(1) == graphc.arange(n)).sum(0)), "
                            "whose length n you choose, or call bincount outside the compiled function")
    data = np.asarray(x._data)
    if x.ndim != 1 or x.dtype.is_floating_point or x.dtype.is_bool or (data.size and data.min() < 0):
        raise GraphcValueError("bincount only supports 1-d non-negative integral inputs.",
                               fix="pass a 1-D tensor of non-negative integers (x.long())")
    if minlength < 0:
        raise GraphcValueError("minlength should be >= 0", fix="pass minlength >= 0")
    if weights is None:
        return _wrap(np.bincount(data, minlength=minlength).astype(np.int64), x)
    w = as_tensor(weights)
    if tuple(w.shape) != tuple(x.shape):
        raise ShapeError("weights should be 1-d and have the same length as input", fix="pass one weight per element")
    dtype = w.dtype if w.dtype.is_floating_point else D.float64
    return _wrap(np.bincount(data, weights=w._data, minlength=minlength).astype(dtype.np), x)
