"""Selecting elements with PyTorch's semantics: gather, index_select, take, scatter_add, diagonal, tril.

Built on the IR's ``gather``/``scatter_add`` and ``take`` ops (their VJP rules are each
other's transposes) and on ``where`` against a constant mask, so every function here
differentiates and traces under ``graphc.compile``::

    >>> import graphc
    >>> x = graphc.arange(6.0).reshape(2, 3)
    >>> x.gather(1, graphc.tensor([[2], [0]])).tolist(), x.diagonal().tolist(), x.tril().tolist()
    ([[2.0], [3.0]], [0.0, 4.0], [[0.0, 0.0, 0.0], [3.0, 4.0, 0.0]])

Index tensors known when the call is made are checked at once, with PyTorch's messages; an
index computed inside a compiled function is checked by the native code.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcIndexError, GraphcTypeError, ShapeError

from . import _dispatch
from ._tensor_args import as_tensor, const, wrap_dim
from .tensor import Tensor

apply = _dispatch.apply

__all__ = ["gather", "index_select", "take", "scatter_add", "diagonal", "diag", "tril", "triu"]


class IndexOutOfRangeError(GraphcIndexError, RuntimeError):
    """An index outside its dim, where PyTorch raises RuntimeError (gather, scatter, index_select)."""


def _fmt(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _index_arg(index, op: str, message: str, int32: bool = True) -> Tensor:
    """``index`` as an int64 tensor; PyTorch's dtype error (``message``) for any other dtype."""
    if not isinstance(index, Tensor):
        raise GraphcTypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}",
                              fix="pass the index as a tensor: graphc.tensor([...])")
    if index.dtype is D.int64 or (int32 and index.dtype is D.int32):
        return _dispatch.cast(index, D.int64)
    raise DTypeError(message, fix="cast the index with .long()")


def _known(index: Tensor) -> np.ndarray | None:
    """The index's values when they are known now (not computed inside a compiled function)."""
    return index._data if index._tnode is None else None


def _check_range(index: Tensor, size: int, dim: int) -> None:
    values = _known(index)
    if values is None or values.size == 0:
        return
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= size:
        raise IndexOutOfRangeError(f"index {lo if lo < 0 else hi} is out of bounds for dimension {dim} with size {size}",
                                   fix=f"indices along dimension {dim} must be in [0, {size - 1}]" if size
                                   else f"dimension {dim} is empty: no index is valid")


def _at_least_1d(t: Tensor) -> Tensor:
    return apply("reshape", t, shape=(1,)) if t.ndim == 0 else t


# ------------------------------------------------------------------ gather / scatter_add
def gather(input, dim: int, index, *, sparse_grad: bool = False):
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1``: the output has the index's shape.

    The index has as many dims as ``input`` and may be smaller than it outside ``dim``.
    """
    x = as_tensor(input)
    idx = _index_arg(index, "gather", "gather(): Expected dtype int32/int64 for index")
    d = wrap_dim(dim, x.ndim)
    x1, idx1 = _at_least_1d(x), _at_least_1d(idx)
    if idx1.ndim != x1.ndim:
        raise ShapeError("Index tensor must have the same number of dimensions as input tensor",
                         fix=f"give the index {x1.ndim} dims (unsqueeze it)")
    for k in range(x1.ndim):
        if k != d and idx1.shape[k] > x1.shape[k]:
            raise ShapeError(f"Size does not match at dimension {k} expected index {_fmt(idx1.shape)} to be no larger "
                             f"than self {_fmt(x1.shape)} apart from dimension {d}",
                             fix="the index may not be larger than the input outside the gathered dimension")
    _check_range(idx1, x1.shape[d], d)
    out = apply("gather", x1, idx1, dim=d)
    return apply("reshape", out, shape=tuple(idx.shape)) if idx.ndim == 0 else out


def scatter_add(input, dim: int, index, src):
    """``input`` with ``src[i][j]`` added at ``[i][index[i][j]]`` for ``dim=1`` (out of place).

    Repeated indices accumulate; only the part of ``src`` the index covers is added.
    """
    x, s = as_tensor(input), as_tensor(src)
    idx = _index_arg(index, "scatter", "scatter(): Expected dtype int32/int64 for index")
    if x.dtype is not s.dtype:
        raise DTypeError("scatter(): Expected self.dtype to be equal to src.dtype", fix="cast src with .to(input.dtype)")
    d = wrap_dim(dim, x.ndim)
    x1, idx1, s1 = _at_least_1d(x), _at_least_1d(idx), _at_least_1d(s)
    if not x1.ndim == idx1.ndim == s1.ndim:
        raise ShapeError("Index tensor must have the same number of dimensions as self tensor",
                         fix="give input, index and src the same number of dims")
    if any(idx1.shape[k] > s1.shape[k] or (k != d and idx1.shape[k] > x1.shape[k]) for k in range(x1.ndim)):
        raise ShapeError(f"Expected index {_fmt(idx1.shape)} to be no larger than self {_fmt(x1.shape)} apart from "
                         f"dimension {d} and to be no larger size than src {_fmt(s1.shape)}",
                         fix="shrink the index: only the part of src it covers is scattered")
    _check_range(idx1, x1.shape[d], d)
    out = apply("scatter_add", x1, idx1, s1, dim=d)
    return apply("reshape", out, shape=()) if x.ndim == 0 else out


# ------------------------------------------------------------------ index_select / take
def index_select(input, dim: int, index):
    """The slices of ``input`` at the positions ``index`` (a 1-D or 0-dim tensor) along ``dim``."""
    x = as_tensor(input)
    idx = _index_arg(index, "index_select", "index_select(): Expected dtype int32 or int64 for index")
    d = wrap_dim(dim, x.ndim)
    if idx.ndim > 1:
        raise GraphcIndexError("index_select(): Index is supposed to be a vector",
                               fix="flatten the index, or use take / advanced indexing for other shapes")
    if x.ndim == 0 and idx.numel() != 1:
        raise ShapeError(f"index_select(): Index to scalar can have only 1 value, got {idx.numel()} value(s)",
                         fix="a 0-dim tensor has one element: index it with [0]")
    x1, idx1 = _at_least_1d(x), _at_least_1d(idx)
    values = _known(idx1)
    if values is not None and values.size:
        lo, hi = int(values.min()), int(values.max())
        if lo < 0 or hi >= x1.shape[d]:
            raise IndexOutOfRangeError(f"index out of range in self (index {lo if lo < 0 else hi} along dimension {d} "
                                       f"of size {x1.shape[d]})",
                                       fix=f"indices must be in [0, {x1.shape[d] - 1}]; index_select does not wrap "
                                           "negative indices")
    out = apply("take", x1, idx1, dim=d)
    return apply("reshape", out, shape=()) if x.ndim == 0 else out


def take(input, index):
    """``input.flatten()[index]``: the output has the index's shape; negative indices count from the end."""
    x = as_tensor(input)
    if not isinstance(index, Tensor) or index.dtype is not D.int64:
        got = index.dtype.name.capitalize().replace("Int32", "Int") if isinstance(index, Tensor) else type(index).__name__
        raise DTypeError(f"take(): Expected a long tensor for index, but got {got}", fix="cast the index with .long()")
    n = x.numel()
    values = _known(index)
    if values is not None and values.size:
        lo, hi = int(values.min()), int(values.max())
        if lo < -n or hi >= n:
            raise GraphcIndexError(f"out of range: tried to access index {lo if lo < -n else hi} on a tensor of {n} "
                                   "elements.", fix=f"indices must be in [{-n}, {n - 1}]")
    flat = apply("reshape", x, shape=(n,))
    zero = Tensor._wrap(np.array(0, np.int64))
    wrapped = apply("where", apply("lt", index, zero), apply("add", index, Tensor._wrap(np.array(n, np.int64))), index)
    return apply("take", flat, wrapped, dim=0)


# ------------------------------------------------------------------ diagonals and triangles
def _diagonal_positions(rows: int, cols: int, offset: int) -> np.ndarray:
    """Flat positions in a ``rows x cols`` matrix of the diagonal ``offset`` (above the main one when > 0)."""
    if offset >= 0:
        i = np.arange(max(0, min(rows, cols - offset)), dtype=np.int64)
        return i * cols + i + offset
    i = np.arange(max(0, min(rows + offset, cols)), dtype=np.int64)
    return (i - offset) * cols + i


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """The diagonal ``offset`` of the matrices in dims ``dim1``, ``dim2``, as a new last dim."""
    x = as_tensor(input)
    a, b = wrap_dim(dim1, x.ndim), wrap_dim(dim2, x.ndim)
    if a == b:
        raise ShapeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}", fix="name two different dims")
    return _take_diagonal(x, int(offset), a, b)


def _take_diagonal(x: Tensor, offset: int, a: int, b: int) -> Tensor:
    rest = [k for k in range(x.ndim) if k not in (a, b)]
    rows, cols = x.shape[a], x.shape[b]
    lead = tuple(x.shape[k] for k in rest)
    moved = apply("permute", x, dims=tuple(rest) + (a, b))
    flat = apply("reshape", moved, shape=lead + (rows * cols,))
    positions = Tensor._wrap(_diagonal_positions(rows, cols, offset))
    return apply("take", flat, positions, dim=len(lead))


def diag(input, diagonal: int = 0):
    """A 1-D tensor becomes a square matrix with it on diagonal ``diagonal``; a matrix gives that diagonal."""
    x = as_tensor(input)
    if x.ndim == 2:
        return _take_diagonal(x, int(diagonal), 0, 1)
    if x.ndim != 1:
        raise ShapeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D",
                         fix="use graphc.diagonal(x, offset, dim1, dim2) for more dims")
    n, k = x.shape[0], int(diagonal)
    size = n + abs(k)
    # every position reads x, or the zero appended after it
    picks = np.full(size * size, n, dtype=np.int64)
    picks[_diagonal_positions(size, size, k)] = np.arange(n)
    padded = apply("concat", x, const(0, x.dtype, (1,)), dim=0)
    return apply("take", padded, Tensor._wrap(picks.reshape(size, size)), dim=0)


def _triangle(x, k: int, lower: bool, name: str):
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"{name}: input tensor must have at least 2 dimensions",
                         fix="unsqueeze a vector into a matrix first")
    rows, cols = x.shape[-2:]
    offsets = np.arange(cols)[None, :] - np.arange(rows)[:, None]  # column - row
    keep = offsets <= k if lower else offsets >= k
    return apply("where", Tensor._wrap(keep), x, const(0, x.dtype))


def tril(input, diagonal: int = 0):
    """The lower triangle of the last two dims (from diagonal ``diagonal`` down); the rest is zero."""
    return _triangle(input, int(diagonal), True, "tril")


def triu(input, diagonal: int = 0):
    """The upper triangle of the last two dims (from diagonal ``diagonal`` up); the rest is zero."""
    return _triangle(input, int(diagonal), False, "triu")
