"""``tensor[index]`` and ``tensor[index] = value`` with PyTorch's semantics.

Reading goes through IR ops, so it is differentiable and works while ``graphc.compile``
traces: basic indexing (ints, slices, ``None``, ``...``) is ``slice`` and ``reshape`` and gives
a view; advanced indexing (integer tensors or lists, bool masks) is ``take`` on one dim, after
the indexed dims are merged into one when there are several::

    >>> import graphc
    >>> x = graphc.arange(12).reshape(3, 4)
    >>> x[1, ::2].tolist(), x[:, [0, 3]].shape, x[x > 9].tolist()
    ([4, 6], graphc.Size([3, 2]), [10, 11])

Advanced results go where PyTorch (and numpy) put them: in place of the indexed dims when those
are adjacent, otherwise first. Writing is in place: straight into the array when autograd is not
involved, otherwise as a recorded in-place update (``where`` over an ``index_add`` scatter), so
the gradient reaches both the written value and the untouched elements.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import (
    GraphcIndexError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
    TraceError,
)

from . import _dispatch
from .autograd import is_grad_enabled
from .tensor import Tensor

apply = _dispatch.apply

_VALID = "only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid indices"


# ------------------------------------------------------------------ parsing
class _Adv:
    """An advanced index of one dim: an int64 index tensor (non-negative once normalised)."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor):
        self.tensor = tensor


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _as_index_tensor(item) -> Tensor | None:
    """A tensor for an array-like index (tensor, ndarray, list), or None for a basic index."""
    if isinstance(item, Tensor):
        return item
    if isinstance(item, np.ndarray):
        if item.dtype.kind not in "iub":
            raise GraphcIndexError(f"tensors used as indices must be long, int or bool tensors (got {item.dtype})",
                                   fix="cast the index with .astype(np.int64)")
        return Tensor._wrap(item.astype(np.bool_ if item.dtype.kind == "b" else np.int64))
    if isinstance(item, (list, tuple)):
        from .factories import tensor

        t = tensor(list(item)) if item else Tensor._wrap(np.zeros(0, np.int64))
        if t.dtype.is_floating_point:
            raise GraphcIndexError("tensors used as indices must be long, int or bool tensors",
                                   fix="index with a list of ints")
        return t
    return None


def _parse(x: Tensor, index):
    """``index`` as a list of items: int, slice, None, Ellipsis, ("mask", bool tensor) or _Adv."""
    if not isinstance(index, tuple):
        index = (index,)
    items, used, ellipsis = [], 0, False
    for item in index:
        if item is Ellipsis:
            if ellipsis:
                raise GraphcIndexError("an index can only have a single ellipsis ('...')", fix="use one `...`")
            ellipsis = True
            items.append(item)
        elif item is None:
            items.append(None)
        elif isinstance(item, (bool, np.bool_)):
            items.append(("mask", Tensor._wrap(np.array(bool(item)))))
        elif _is_int(item):
            items.append(int(item))
            used += 1
        elif isinstance(item, slice):
            items.append(item)
            used += 1
        else:
            t = _as_index_tensor(item)
            if t is None:
                raise GraphcIndexError(f"{_VALID} (got {type(item).__name__})", fix="index with ints, slices or tensors")
            if t.dtype.is_bool:
                items.append(("mask", t))
                used += t.ndim
            elif t.dtype.is_integer:
                items.append(_Adv(t))
                used += 1
            else:
                raise GraphcIndexError("tensors used as indices must be long, int or bool tensors",
                                       fix="cast the index with .long()")
    if used > x.ndim:
        if x.ndim == 0:
            raise GraphcIndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                                   "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number",
                                   fix="call .item(), or index a tensor with at least one dimension")
        raise GraphcIndexError(f"too many indices for tensor of dimension {x.ndim}",
                               fix=f"the tensor has {x.ndim} dims; give at most {x.ndim} indices")
    if ellipsis:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - used)
    else:
        items += [slice(None)] * (x.ndim - used)
    return items


def _normalise_int(i: int, size: int, dim: int) -> int:
    if not -size <= i < size:
        raise GraphcIndexError(f"index {i} is out of bounds for dimension {dim} with size {size}",
                               fix=f"indices along dimension {dim} must be in [{-size}, {size - 1}]")
    return i % size


def _slice_bounds(s: slice, size: int) -> tuple[int, int, int]:
    parts = [None if v is None else v.__index__() for v in (s.start, s.stop, s.step)]
    if parts[2] is not None and parts[2] <= 0:
        raise GraphcValueError("step must be greater than zero",
                               fix="use .flip(dim) to reverse a dimension; negative steps are not supported")
    start, stop, step = slice(*parts).indices(size)
    return start, max(start, stop), step


def _index_tensor(t: Tensor, size: int, dim: int) -> Tensor:
    """An int64 index tensor with negative entries wrapped (and, eagerly, bounds checked)."""
    if t._tnode is None:
        idx = t._data.astype(np.int64)
        if idx.size:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < -size or hi >= size:
                bad = lo if lo < -size else hi
                raise GraphcIndexError(f"index {bad} is out of bounds for dimension {dim} with size {size}",
                                       fix=f"indices along dimension {dim} must be in [{-size}, {size - 1}]")
        return Tensor._wrap(np.where(idx < 0, idx + size, idx))
    t = _dispatch.cast(t, D.int64)
    zero = Tensor._wrap(np.array(0, np.int64))
    wrapped = _dispatch.binary("add", t, Tensor._wrap(np.array(size, np.int64)))
    return apply("where", _dispatch.binary("lt", t, zero), wrapped, t)


def _mask_indices(mask: Tensor, shape: tuple, dim: int) -> list[Tensor]:
    """One int64 index tensor per dim of a bool mask: its nonzero positions (needs the mask's value)."""
    if mask._tnode is not None:
        raise TraceError("indexing with a bool mask computed inside a compiled function has a data-dependent shape",
                         fix="use graphc.where(mask, x, other) or x.masked_fill(mask, value) instead")
    for k, (m, s) in enumerate(zip(mask.shape, shape, strict=False)):
        if m != s:
            raise GraphcIndexError(f"The shape of the mask {list(mask.shape)} at index {k} does not match the shape "
                                   f"of the indexed tensor {list(shape)} at index {dim + k}",
                                   fix="the mask must have the same sizes as the dims it indexes")
    return [Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(mask._data)]


def _broadcast(shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise GraphcIndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                               + ", ".join(str(list(s)) for s in shapes),
                               fix="index tensors must broadcast against each other") from None


# ------------------------------------------------------------------ reading
def getitem(x: Tensor, index) -> Tensor:
    """``x[index]`` with PyTorch's semantics (see the module docstring)."""
    items = _parse(x, index)
    y = x
    layout = []  # per dim of y after slicing: "keep", "drop" (int index) or an _Adv; "new" for None
    dim = 0
    for item in items:
        if item is None:
            layout.append("new")
            continue
        if isinstance(item, tuple):  # a bool mask
            _, mask = item
            if mask.ndim == 0:  # x[True] adds a dim of 1; x[False] one of 0
                layout.append("new" if bool(mask._data) else "empty")
                continue
            layout += [_Adv(idx) for idx in _mask_indices(mask, tuple(x.shape)[dim:], dim)]
            dim += mask.ndim
            continue
        size = x.shape[dim]
        if isinstance(item, int):
            i = _normalise_int(item, size, dim)
            y = apply("slice", y, dim=dim, start=i, stop=i + 1, step=1)
            layout.append("drop")
        elif isinstance(item, slice):
            start, stop, step = _slice_bounds(item, size)
            if (start, stop, step) != (0, size, 1):
                y = apply("slice", y, dim=dim, start=start, stop=stop, step=step)
            layout.append("keep")
        else:
            layout.append(item)
        dim += 1

    # drop int-indexed dims and add None dims (all of size 1: the reshape stays a view)
    shape, adv_dims, src = [], [], 0
    for entry in layout:
        if entry in ("new", "empty"):
            shape.append(1)
            continue
        if entry != "drop":
            if isinstance(entry, _Adv):
                adv_dims.append((len(shape), _index_tensor(entry.tensor, y.shape[src], src)))
            shape.append(y.shape[src])
        src += 1
    y = apply("reshape", y, shape=tuple(shape))
    for d, entry in enumerate(e for e in layout if e != "drop"):
        if entry == "empty":
            y = apply("slice", y, dim=d, start=0, stop=0, step=1)
    if adv_dims:
        y = _advanced(y, adv_dims)
    return y


def _advanced(y: Tensor, adv: list[tuple[int, Tensor]]) -> Tensor:
    """``y`` indexed by int64 tensors at dims ``adv``, placed as PyTorch places them."""
    dims = [d for d, _ in adv]
    if len(adv) == 1:
        return apply("take", y, adv[0][1], dim=dims[0])
    bshape = _broadcast([tuple(t.shape) for _, t in adv])
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    if not adjacent:  # the indexed dims go first, in order
        rest = [d for d in range(y.ndim) if d not in dims]
        y = apply("permute", y, dims=tuple(dims + rest))
        dims = list(range(len(dims)))
    first = dims[0]
    sizes = [y.shape[d] for d in dims]
    merged = list(y.shape[:first]) + [int(np.prod(sizes))] + list(y.shape[first + len(dims):])
    y = apply("reshape", y, shape=tuple(merged))
    linear, stride = None, 1
    for (_, t), size in zip(reversed(adv), reversed(sizes), strict=True):
        term = t if stride == 1 else _dispatch.binary("mul", t, Tensor._wrap(np.array(stride, np.int64)))
        linear = term if linear is None else _dispatch.binary("add", linear, term)
        stride *= size
    if tuple(linear.shape) != bshape:
        linear = apply("expand", linear, shape=bshape)
    return apply("take", y, linear, dim=first)


# ------------------------------------------------------------------ writing
def _numpy_index(x: Tensor, items) -> tuple:
    """The parsed index as a numpy index (negative ints and index entries wrapped, bounds checked)."""
    out, dim = [], 0
    for item in items:
        if item is None:
            out.append(None)
        elif isinstance(item, tuple):
            mask = item[1]
            if mask._tnode is not None:
                raise TraceError("cannot write through a traced bool mask", fix="use graphc.where or masked_fill")
            if mask.ndim:
                _mask_indices(mask, tuple(x.shape)[dim:], dim)  # the shape check
            out.append(mask._data if mask.ndim else bool(mask._data))
            dim += mask.ndim
        elif isinstance(item, int):
            out.append(_normalise_int(item, x.shape[dim], dim))
            dim += 1
        elif isinstance(item, slice):
            out.append(slice(*_slice_bounds(item, x.shape[dim])))
            dim += 1
        else:
            if item.tensor._tnode is not None:
                raise TraceError("cannot write through a traced index tensor", fix="use graphc.where or scatter_add")
            out.append(_index_tensor(item.tensor, x.shape[dim], dim)._data)
            dim += 1
    return tuple(out)


def _value_tensor(x: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return Tensor._wrap(np.asarray(value, dtype=x.dtype.np))
    if isinstance(value, (list, tuple, np.ndarray)):
        from .factories import tensor

        return tensor(value, dtype=x.dtype)
    raise GraphcTypeError(f"can't assign a {type(value).__name__} to a {x.dtype.name} tensor",
                          fix="assign a number or a tensor")


def _strip_ones(shape: tuple, target: tuple) -> tuple:
    """PyTorch drops leading size-1 dims of a value that has more dims than its destination."""
    shape = tuple(shape)
    while len(shape) > len(target) and shape[0] == 1:
        shape = shape[1:]
    return shape


def _check_broadcast(value_shape, target_shape) -> tuple:
    vs = _strip_ones(value_shape, target_shape)
    try:
        ok = np.broadcast_shapes(vs, tuple(target_shape)) == tuple(target_shape)
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"shape mismatch: value tensor of shape {list(value_shape)} cannot be broadcast to indexing "
                         f"result of shape {list(target_shape)}", fix="the value must broadcast to the indexed shape")
    return vs


def setitem(x: Tensor, index, value) -> None:
    """``x[index] = value`` in place (value: a number or a tensor, broadcast and cast to x's dtype)."""
    items = _parse(x, index)
    v = _value_tensor(x, value)
    grad = is_grad_enabled() and (x.requires_grad or (v.requires_grad and x.dtype.is_floating_point))
    if _dispatch.tracer is None and not grad:
        v._no_value("assigning a traced tensor into an eager tensor")
        np_index = _numpy_index(x, items)
        target = x._data[np_index]
        vs = _check_broadcast(v.shape, np.shape(target))
        _dispatch.check_writable(x._data)
        x._data[np_index] = v._data.reshape(vs).astype(x.dtype.np, copy=False)
        x._version.value += 1
        return
    from . import _tensor_inplace as I

    I._rewrite(x, lambda source: _scattered(source, index, v))


def _scattered(x: Tensor, index, value: Tensor) -> Tensor:
    """``x`` with ``x[index]`` replaced by ``value``, built from differentiable ops."""
    n = x.numel()
    positions = getitem(Tensor._wrap(np.arange(n, dtype=np.int64).reshape(tuple(x.shape))), index)
    target = tuple(positions.shape)
    vs = _check_broadcast(value.shape, target)
    value = _dispatch.cast(value, x.dtype)
    if tuple(value.shape) != vs:
        value = apply("reshape", value, shape=vs)
    if vs != target:
        value = apply("expand", value, shape=target)
    m = positions.numel()
    flat_pos = apply("reshape", positions, shape=(m,))
    flat_val = apply("reshape", value, shape=(m,))
    zeros = Tensor._wrap(np.zeros(n, x.dtype.np))
    ones = Tensor._wrap(np.ones(m, x.dtype.np))
    scattered = apply("index_add", zeros, flat_pos, flat_val, dim=0)
    written = _dispatch.binary("gt", apply("index_add", zeros, flat_pos, ones, dim=0), 0)
    flat_x = apply("reshape", x, shape=(n,))
    return apply("reshape", apply("where", written, scattered, flat_x), shape=tuple(x.shape))


def _iter(self: Tensor):
    """Iterate over the first dim (``for row in x``), as PyTorch."""
    if self.ndim == 0:
        raise GraphcTypeError("iteration over a 0-d tensor", fix="use .item() to read its value")
    return (getitem(self, i) for i in range(self.shape[0]))


Tensor.__getitem__ = getitem
Tensor.__setitem__ = setitem
Tensor.__iter__ = _iter
