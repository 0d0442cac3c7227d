"""Indexing ops: gather / scatter_add (torch.gather semantics) and take / index_add.

``gather`` picks one element per index along ``dim`` (cross-entropy's label pick);
``scatter_add`` is its transpose and its VJP. ``take`` is ``torch.index_select`` generalised to
an index of any shape (Embedding, integer-array indexing); ``index_add`` is its transpose.

Indices are never negative here: the front end normalises them. An index out of range is a
:class:`GraphcIndexError` from the reference, with PyTorch's message. These ops are not
pointwise (kind ``index``): fusion gives each its own kernel.
"""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError, GraphcIndexError, ShapeError
from ..graph import TensorType
from ..registry import register_op
from .movement import check_dim


def _fmt(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _int64_index(op: str, idx: TensorType) -> None:
    if idx.dtype.name != "int64":
        raise DTypeError(f"{op}(): Expected dtype int64 for index, got {idx.dtype.name}",
                         fix="cast the index with .long()")


def _int_index(op: str, idx: TensorType) -> None:
    if idx.dtype.name not in ("int64", "int32"):
        raise DTypeError(f"{op}(): Expected dtype int32 or int64 for index, got {idx.dtype.name}",
                         fix="cast the index with .long()")


def _same_values(op: str, a: TensorType, b: TensorType) -> None:
    if a.dtype is not b.dtype:
        raise DTypeError(f"{op}(): Expected self.dtype to be equal to src.dtype, got {a.dtype.name} and {b.dtype.name}",
                         fix="cast the source with .to(self.dtype)")


def check_bounds(idx: np.ndarray, size: int, dim: int) -> None:
    """Raise GraphcIndexError (PyTorch's message) if some index is outside ``[0, size)``."""
    if idx.size == 0:
        return
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise GraphcIndexError(f"index {bad} is out of bounds for dimension {dim} with size {size}",
                               fix=f"indices along dimension {dim} must be in [0, {size - 1}]" if size
                               else f"dimension {dim} is empty: no index is valid")


def _leading(idx_shape, dim) -> tuple:
    """The index selecting the first ``idx_shape[d]`` entries of every dim except ``dim``."""
    return tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(idx_shape))


# ---------------------------------------------------------------------- gather / scatter_add
def _gather_rule(types, attrs):
    x, idx = types
    _int64_index("gather", idx)
    if idx.ndim != x.ndim:
        raise ShapeError(f"Index tensor must have the same number of dimensions as input tensor "
                         f"(index {idx}, input {x})", fix="unsqueeze the index to the input's number of dimensions")
    dim = check_dim(attrs["dim"], x.ndim, "gather")
    for d in range(x.ndim):
        if d != dim and idx.shape[d] > x.shape[d]:
            raise ShapeError(f"Size does not match at dimension {d} expected index {_fmt(idx.shape)} to be smaller "
                             f"than self {_fmt(x.shape)} apart from dimension {dim}",
                             fix="the index may not be larger than the input outside the gathered dimension")
    return TensorType(x.dtype, idx.shape)


def _gather_ref(x, idx, *, dim):
    dim %= x.ndim
    check_bounds(idx, x.shape[dim], dim)
    return np.take_along_axis(x[_leading(idx.shape, dim)], idx.astype(np.int64, copy=False), axis=dim)


register_op("gather", arity=2, kind="index", infer=_gather_rule, ref=_gather_ref,
            attrs={"dim": ("int", 0)},
            doc="gather %x, %idx: out[i][j] = x[i][idx[i][j]] for dim 1 (torch.gather; out shape = idx shape)")


def _scatter_add_rule(types, attrs):
    base, idx, src = types
    _int64_index("scatter_add", idx)
    _same_values("scatter_add", base, src)
    if not idx.ndim == base.ndim == src.ndim:
        raise ShapeError(f"Index tensor must have the same number of dimensions as self and src tensors "
                         f"(self {base}, index {idx}, src {src})",
                         fix="give self, index and src the same number of dimensions")
    dim = check_dim(attrs["dim"], base.ndim, "scatter_add")
    for d in range(base.ndim):
        if idx.shape[d] > src.shape[d] or (d != dim and idx.shape[d] > base.shape[d]):
            raise ShapeError(f"Expected index {_fmt(idx.shape)} to be smaller than self {_fmt(base.shape)} apart "
                             f"from dimension {dim} and to be smaller size than src {_fmt(src.shape)}",
                             fix="shrink the index (only its leading part of src is scattered)")
    return TensorType(base.dtype, base.shape)


def _scatter_add_ref(base, idx, src, *, dim):
    dim %= base.ndim
    check_bounds(idx, base.shape[dim], dim)
    out = base.copy()
    if idx.size:
        where = list(np.indices(idx.shape, sparse=True))
        where[dim] = idx
        np.add.at(out, tuple(where), src[tuple(slice(0, s) for s in idx.shape)])
    return out


register_op("scatter_add", arity=3, kind="index", infer=_scatter_add_rule, ref=_scatter_add_ref,
            attrs={"dim": ("int", 0)},
            doc="scatter_add %base, %idx, %src: base with src added at idx along dim (Tensor.scatter_add)")


# ---------------------------------------------------------------------- take / index_add
def _taken_shape(x_shape, dim, idx_shape) -> tuple:
    return tuple(x_shape[:dim]) + tuple(idx_shape) + tuple(x_shape[dim + 1:])


def _take_rule(types, attrs):
    x, idx = types
    _int_index("take", idx)
    dim = check_dim(attrs["dim"], x.ndim, "take")
    return TensorType(x.dtype, _taken_shape(x.shape, dim, idx.shape))


def _take_ref(x, idx, *, dim):
    dim %= x.ndim
    check_bounds(idx, x.shape[dim], dim)
    return np.take(x, idx, axis=dim)


register_op("take", arity=2, kind="index", infer=_take_rule, ref=_take_ref,
            attrs={"dim": ("int", 0)},
            doc="take %x, %idx: index_select along dim with an index of any shape "
                "(out shape x[:dim] + idx + x[dim+1:])")


def _index_add_rule(types, attrs):
    base, idx, src = types
    _int_index("index_add", idx)
    _same_values("index_add", base, src)
    dim = check_dim(attrs["dim"], base.ndim, "index_add")
    want = _taken_shape(base.shape, dim, idx.shape)
    if src.shape != want:
        raise ShapeError(f"index_add(): source has shape {_fmt(src.shape)} but self {_fmt(base.shape)} with index "
                         f"{_fmt(idx.shape)} along dimension {dim} needs source shape {_fmt(want)}",
                         fix="the source needs one slice of self per index entry")
    return TensorType(base.dtype, base.shape)


def _index_add_ref(base, idx, src, *, dim):
    dim %= base.ndim
    check_bounds(idx, base.shape[dim], dim)
    out = base.copy()
    np.add.at(out, (slice(None),) * dim + (idx,), src)  # repeated indices accumulate
    return out


register_op("index_add", arity=3, kind="index", infer=_index_add_rule, ref=_index_add_ref,
            attrs={"dim": ("int", 0)},
            doc="index_add %base, %idx, %src: base with src's slices added at idx along dim (take's transpose)")
