"""Argument handling shared by the tensor methods: dims, sizes, constants, float inputs.

PyTorch accepts ``x.view(2, 3)`` and ``x.view((2, 3))``, negative dims, ``dim=None`` for "all
dims", and Python numbers wherever a tensor goes. These helpers turn such arguments into the
normalised values the IR ops take, raising PyTorch's errors (as GraphcError subclasses) on bad
ones.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcIndexError, GraphcTypeError, ShapeError

from . import _dispatch
from .tensor import Tensor


def as_tensor(x) -> Tensor:
    """Tensors pass through; Python numbers become 0-dim tensors of PyTorch's scalar dtype."""
    return _dispatch.operand(x)


def as_float(x) -> Tensor:
    """``x`` as a floating tensor: integer and bool tensors become float32 (torch.exp(int) is float)."""
    x = _dispatch.operand(x)
    return x if x.dtype.is_floating_point else _dispatch.cast(x, D.float32)


def const(value, dtype: D.DType, shape=()) -> Tensor:
    """A tensor of ``shape`` filled with ``value`` (a graph constant while tracing)."""
    if dtype.is_bool:
        value = bool(value)
    elif dtype.is_integer:
        value = int(value)
    else:
        value = float(value)
    return _dispatch.apply("constant", value=value, dtype=dtype.short, shape=tuple(shape))


def wrap_dim(dim, ndim: int, extra: int = 0) -> int:
    """A dim in ``[-(ndim+extra), ndim+extra)`` made non-negative, or PyTorch's IndexError.

    ``extra=1`` is for unsqueeze-like positions, which may name one past the last dim.
    """
    if isinstance(dim, Tensor):
        dim = int(dim)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise GraphcTypeError(f"a dim must be an int, got {type(dim).__name__}", fix="pass an integer dimension")
    n = max(ndim + extra, 1)
    if not -n <= dim < n:
        raise GraphcIndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})",
                               fix=f"the tensor has {ndim} dims")
    return int(dim) % n


def dims_arg(dim, ndim: int) -> tuple[int, ...]:
    """``dim`` of a reduction: None or () means every dim; an int or a sequence of ints."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, (tuple, list)):
        out = tuple(wrap_dim(d, ndim) for d in dim)
        for d in out:
            if out.count(d) > 1:
                raise ShapeError(f"dim {d} appears multiple times in the list of dims", fix="name each dim once")
        return tuple(sorted(out))
    return (wrap_dim(dim, ndim),)


def size_args(args, what: str) -> tuple[int, ...]:
    """``f(2, 3)``, ``f((2, 3))`` and ``f(graphc.Size([2, 3]))`` all give ``(2, 3)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    out = []
    for s in args:
        if isinstance(s, Tensor):
            s = int(s)
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise GraphcTypeError(f"{what}(): argument 'size' must be a tuple of ints, but found element of type "
                                  f"{type(s).__name__}", fix="pass integer sizes")
        out.append(int(s))
    return tuple(out)


def numel_of(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def dtype_arg(dtype) -> D.DType | None:
    """A dtype argument (DType, name, numpy dtype, Python type), or None."""
    if dtype is None:
        return None
    from graphc.ir.errors import DTypeError

    try:
        return D.as_dtype(dtype)
    except (TypeError, ValueError):
        raise DTypeError(f"graphc has no dtype {dtype!r}", fix="use graphc.float32, float64, int32, int64 or bool") from None
