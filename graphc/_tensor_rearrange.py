"""Rearranging elements with PyTorch's semantics: roll, repeat_interleave, tile.

``roll`` is two slices joined in swapped order, ``repeat_interleave`` an ``expand`` of a new
dim merged into its neighbour (or a ``take`` with a constant index for per-element counts),
``tile`` is ``repeat``; their gradients come from those ops' VJP rules::

    >>> import graphc
    >>> x = graphc.tensor([1, 2, 3])
    >>> x.roll(1).tolist(), x.repeat_interleave(2).tolist(), x.tile(2).tolist()
    ([3, 1, 2], [1, 1, 2, 2, 3, 3], [1, 2, 3, 1, 2, 3])
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcIndexError, GraphcTypeError, ShapeError

from . import _dispatch
from ._tensor_args import as_tensor, size_args, wrap_dim
from ._tensor_shape import clone, repeat
from .tensor import Tensor

apply = _dispatch.apply

__all__ = ["roll", "repeat_interleave", "tile"]


def _int_list(value) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)]


# ------------------------------------------------------------------ roll
def roll(input, shifts, dims=None):
    """Shift elements ``shifts`` places along ``dims`` (wrapping round); with no dims, over the flattened tensor."""
    x = as_tensor(input)
    shifts = _int_list(shifts)
    if not shifts:
        raise ShapeError("`shifts` required", fix="pass at least one shift")
    if dims is None:
        if len(shifts) != 1:
            raise ShapeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0",
                             fix="pass one dim per shift, or a single shift to roll the flattened tensor")
        flat = apply("reshape", x, shape=(x.numel(),))
        return apply("reshape", _roll_dims(flat, shifts, [0]), shape=tuple(x.shape))
    dims = _int_list(dims)
    if len(shifts) != len(dims):
        raise ShapeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}",
                         fix="pass one shift per dim")
    if x.ndim == 0:
        raise GraphcIndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions",
                               fix="roll a 0-dim tensor without dims (it stays as it is)")
    return _roll_dims(x, shifts, [wrap_dim(d, x.ndim) for d in dims])


def _roll_dims(x: Tensor, shifts, dims) -> Tensor:
    out = x
    for shift, d in zip(shifts, dims, strict=True):
        n = x.shape[d]
        s = shift % n if n else 0
        if s:
            tail = apply("slice", out, dim=d, start=n - s, stop=n, step=1)
            head = apply("slice", out, dim=d, start=0, stop=n - s, step=1)
            out = apply("concat", tail, head, dim=d)
    return clone(out) if out is x else out


# ------------------------------------------------------------------ repeat_interleave
def _counts(repeats: Tensor, size: int) -> np.ndarray | int:
    """Per-element repeat counts of a tensor argument (an int when it holds one number)."""
    if not (repeats.dtype is D.int64 or repeats.dtype is D.int32):
        raise DTypeError("repeats has to be Long or Int tensor", fix="pass an int, or an int64 tensor of counts")
    repeats._no_value("repeat_interleave with a tensor of repeat counts (the output size depends on its values)")
    counts = repeats._data.astype(np.int64).reshape(-1)
    if repeats.ndim > 1:
        raise ShapeError("repeat_interleave only accept 1D vector as repeat", fix="pass a 1-D tensor of counts")
    if counts.size == 1:
        return int(counts[0])
    if counts.size != size:
        raise ShapeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = {counts.size} "
                         f"and input.size(0) = {size}", fix="give one count per element along dim")
    if counts.size and counts.min() < 0:
        raise ShapeError("repeats can not be negative", fix="counts must be >= 0")
    return counts


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element (or each slice along ``dim``) ``repeats`` times in place, unlike ``repeat``.

    ``repeats`` is an int, or a tensor of one count per element known before the call. With no
    ``dim`` the input is flattened first. ``repeat_interleave(counts)`` alone repeats
    ``arange(len(counts))``.
    """
    if repeats is None:
        counts = as_tensor(input)
        if counts.ndim != 1:
            raise ShapeError("repeat_interleave only accept 1D vector as repeat", fix="pass a 1-D tensor of counts")
        return repeat_interleave(Tensor._wrap(np.arange(counts.shape[0], dtype=np.int64)), counts, 0)
    x = as_tensor(input)
    if dim is None:
        x, d = apply("reshape", x, shape=(x.numel(),)), 0
    else:
        d = wrap_dim(dim, x.ndim)
        x = x if x.ndim else apply("reshape", x, shape=(1,))
    n = x.shape[d]
    if isinstance(repeats, Tensor):
        repeats = _counts(repeats, n)
    elif isinstance(repeats, (bool, float)) or not isinstance(repeats, (int, np.integer)):
        raise GraphcTypeError(f"repeat_interleave(): argument 'repeats' must be int or Tensor, not {type(repeats).__name__}",
                              fix="pass an int or an int64 tensor of counts")
    if isinstance(repeats, np.ndarray):
        picks = Tensor._wrap(np.repeat(np.arange(n, dtype=np.int64), repeats))
        return apply("take", x, picks, dim=d)
    r = int(repeats)
    if r < 0:
        raise ShapeError("Repeats must be non-negative", fix="pass a count >= 0")
    shape = tuple(x.shape)
    spread = apply("expand", apply("reshape", x, shape=shape[:d + 1] + (1,) + shape[d + 1:]),
                   shape=shape[:d + 1] + (r,) + shape[d + 1:])
    return apply("reshape", spread, shape=shape[:d] + (n * r,) + shape[d + 1:])


# ------------------------------------------------------------------ tile
def tile(input, *dims):
    """Repeat the whole tensor ``dims[i]`` times along each dim; ones are prepended to short ``dims``."""
    x = as_tensor(input)
    reps = size_args(dims, "tile")
    return repeat(x, (1,) * (x.ndim - len(reps)) + reps)
