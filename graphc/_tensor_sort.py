"""Sorting with PyTorch's semantics: ``sort``, ``argsort``, ``msort``, ``topk``, ``kthvalue``,
``median``, ``searchsorted`` and ``bucketize``.

Every sort is stable and orders NaN after every number (before, descending), as PyTorch's CPU
sort does, so the order is fully determined: eagerly the indices come from numpy's stable
argsort; inside ``graphc.compile`` (where values exist only when the step runs) from a bitonic
sorting network built of ``where`` over pairs of slices, keyed by ``(is NaN, value, position)``
so it makes the same choices, ties included. The values are then ``gather``-ed, so their
gradient flows to the elements they came from in both cases::

    >>> import graphc
    >>> values, indices = graphc.sort(graphc.tensor([3.0, 1.0, 2.0, 1.0]))
    >>> values.tolist(), indices.tolist()
    ([1.0, 1.0, 2.0, 3.0], [1, 3, 2, 0])

``searchsorted`` / ``bucketize`` count the boundaries below each value (a comparison and a
sum), which traces as well.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcValueError, ShapeError

from ._tensor_args import as_tensor, wrap_dim
from .tensor import Tensor

__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "median", "searchsorted", "bucketize"]


class _SortResult(tuple):
    """``(values, indices)`` with ``.values`` and ``.indices``, as torch's return types."""

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def _result(values: Tensor, indices: Tensor) -> _SortResult:
    return _SortResult((values, indices))


# ---------------------------------------------------------------------- the permutation
def _order_now(data: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Stable argsort along ``dim``, NaN last (first when descending), as int64."""
    moved = np.moveaxis(data, dim, -1)
    if moved.dtype == np.bool_:
        moved = moved.astype(np.int64)
    nan = np.isnan(moved) if moved.dtype.kind == "f" else np.zeros(moved.shape, bool)
    key = np.where(nan, 0, moved)
    if descending:
        key = -key if key.dtype.kind == "f" else -(key.astype(np.int64) + 1)  # (no overflow at the minimum)
        nan = ~nan
    # lexsort sorts by the last key first: NaN flag, then the value, then (stably) the position
    order = np.lexsort((key, nan), axis=-1) if moved.ndim else np.zeros((), np.int64)
    return np.moveaxis(order.astype(np.int64), -1, dim)


def _order_traced(x: Tensor, dim: int, descending: bool) -> Tensor:
    """The same permutation from a bitonic sorting network over ``(NaN, value, position)`` keys."""
    import graphc

    from ._tensor_shape import cat, narrow

    moved = x.movedim(dim, -1)
    n = moved.shape[-1]
    size = 1 << max(n - 1, 0).bit_length()
    values = moved.long() if moved.dtype is D.bool_ else moved
    nan = graphc.isnan(values) if values.dtype.is_floating_point else graphc.zeros_like(values, dtype=D.bool_)
    key = graphc.where(nan, graphc.zeros_like(values), values)
    flag = nan.long()
    if descending:
        key, flag = -key if key.dtype.is_floating_point else -(key.long() + 1), 1 - flag
    position = graphc.arange(size).expand(*moved.shape[:-1], size)
    if size > n:  # padding sorts after everything either way
        pad = [*moved.shape[:-1], size - n]
        key = cat([key, graphc.zeros(pad, dtype=key.dtype)], -1)
        flag = cat([flag, graphc.full(pad, 2, dtype=D.int64)], -1)
    keys = [flag, key, position]
    for k in _stages(size):
        keys = _exchange(keys, size, *k)
    return narrow(keys[2], -1, 0, n).movedim(-1, dim)


def _stages(size: int):
    k = 2
    while k <= size:
        j = k // 2
        while j >= 1:
            yield k, j
            j //= 2
        k *= 2


def _exchange(keys: list[Tensor], size: int, k: int, j: int) -> list[Tensor]:
    """One bitonic step: element ``i`` meets ``i ^ j`` (read with a constant gather, so index
    arithmetic stays flat); blocks of ``k`` alternate direction; the lower of a pair keeps the
    smaller key in a rising block."""
    import graphc

    i = np.arange(size)
    partner_at = graphc.tensor(i ^ j).expand(*keys[0].shape)
    partner = [t.gather(-1, partner_at) for t in keys]
    less = keys[2] < partner[2]  # the lexicographic comparison, from the last key up
    for a, b in ((keys[1], partner[1]), (keys[0], partner[0])):
        less = (a < b) | ((a == b) & less)
    keeps_min = graphc.tensor(((i & j) == 0) ^ ((i & k) != 0))  # lower half of a rising pair, or upper of a falling one
    take_partner = less ^ keeps_min  # (keys differ: position breaks every tie)
    return [graphc.where(take_partner, b, a) for a, b in zip(keys, partner)]


def _order(x: Tensor, dim: int, descending: bool) -> Tensor:
    if x._tnode is not None:
        return _order_traced(x, dim, descending)
    out = Tensor._wrap(_order_now(x._data, dim, descending))
    out._device = x._device
    return out


# ---------------------------------------------------------------------- the functions
def argsort(input, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """Indices that sort ``input`` along ``dim`` (stable, NaN last; first when descending)."""
    x = as_tensor(input)
    if x.ndim == 0:
        return _zero_index(x)
    return _order(x, wrap_dim(dim, x.ndim), descending)


def sort(input, dim: int = -1, descending: bool = False, *, stable: bool = False):
    """``(values, indices)`` sorted along ``dim``; the values' gradient flows to where they came from."""
    x = as_tensor(input)
    if x.ndim == 0:
        return _result(x, _zero_index(x))
    d = wrap_dim(dim, x.ndim)
    indices = _order(x, d, descending)
    return _result(x.gather(d, indices), indices)


def msort(input) -> Tensor:
    """``sort(input, dim=0).values``."""
    return sort(input, 0)[0]


def topk(input, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, largest first."""
    x = as_tensor(input)
    d = wrap_dim(dim, x.ndim) if x.ndim else 0
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise ShapeError(f"selected index k out of range (k={k}, size {n})", fix=f"pick k between 0 and {n}")
    if x.ndim == 0:
        return _result(x, _zero_index(x))
    indices = _order(x, d, descending=largest).narrow(d, 0, k)
    return _result(x.gather(d, indices), indices)


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):
    """The ``k``-th smallest element (1-based) along ``dim`` and its index."""
    x = as_tensor(input)
    d = wrap_dim(dim, x.ndim) if x.ndim else 0
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise ShapeError(f"kthvalue(): selected number k out of range for dimension {d}",
                         fix=f"pick k between 1 and {n}")
    return _pick(x, d, k - 1, keepdim)


def median(input, dim: int | None = None, keepdim: bool = False):
    """The lower median: of all elements (a 0-dim tensor), or ``(values, indices)`` along ``dim``.
    NaN propagates: a slice with a NaN has median NaN, as in PyTorch."""
    x = as_tensor(input)
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            raise GraphcValueError("median() input tensor cannot be empty", fix="pass a non-empty tensor")
        return _nan_first_pick(flat, 0, (flat.shape[0] - 1) // 2, False)[0]
    d = wrap_dim(dim, x.ndim) if x.ndim else 0
    n = x.shape[d] if x.ndim else 1
    return _nan_first_pick(x, d, (n - 1) // 2, keepdim)


def _pick(x: Tensor, d: int, position: int, keepdim: bool):
    if x.ndim == 0:
        return _result(x, _zero_index(x))
    indices = _order(x, d, descending=False).narrow(d, position, 1)
    values = x.gather(d, indices)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return _result(values, indices)


def _nan_first_pick(x: Tensor, d: int, position: int, keepdim: bool):
    """PyTorch's median: the element at ``position`` of the sorted slice, or the slice's first NaN."""
    import graphc

    values, indices = _pick(x, d, position, True)
    if x.dtype.is_floating_point and x.ndim:
        nan = graphc.isnan(x)
        has_nan = nan.any(dim=d, keepdim=True)
        first_nan = nan.long().argmax(dim=d, keepdim=True)
        indices = graphc.where(has_nan, first_nan, indices)
        values = x.gather(d, indices)
    if not keepdim and x.ndim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return _result(values, indices)


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False, side: str | None = None,
                 sorter=None) -> Tensor:
    """For each value, the index where it would be inserted into the sorted last dim of
    ``sorted_sequence`` (``right``/``side='right'``: after equal elements)."""
    seq, values = as_tensor(sorted_sequence), as_tensor(input)
    if side is not None:
        if side not in ("left", "right"):
            raise GraphcValueError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}",
                                   fix="pass side='left' or side='right'")
        right = side == "right"
    if sorter is not None:
        seq = seq.gather(-1, as_tensor(sorter))
    if seq.ndim > 1 and (values.ndim != seq.ndim or tuple(values.shape[:-1]) != tuple(seq.shape[:-1])):
        raise ShapeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions "
                         f"of boundaries tensor and input value tensor must match, but we got boundaries tensor "
                         f"{list(seq.shape)} and input value tensor {list(values.shape)}",
                         fix="give the values the sequence's leading dims, or pass a 1-D sequence")
    rows = seq if seq.ndim <= 1 else seq.unsqueeze(-2)  # [n] or [..., 1, n] against [..., m, 1]
    below = (rows <= values.unsqueeze(-1)) if right else (rows < values.unsqueeze(-1))
    count = below.long().sum(-1)
    return count.int() if out_int32 else count


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each value among 1-D ``boundaries`` (``right=True``: ``boundaries[i-1] <= x < boundaries[i]``)."""
    b = as_tensor(boundaries)
    if b.ndim != 1:
        raise ShapeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})",
                         fix="pass 1-D boundaries (use searchsorted for batched ones)")
    return searchsorted(b, input, out_int32=out_int32, right=right)


def _zero_index(x: Tensor) -> Tensor:
    """The index of a 0-dim tensor's only element."""
    return Tensor._wrap(np.zeros((), np.int64))
