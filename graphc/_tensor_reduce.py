"""Reductions with PyTorch's semantics: sum, mean, max/min (values and indices), var, norm, ...

Built from the IR's ``sum``, ``max`` and ``argmax`` ops. Like PyTorch, ``sum`` of an integer or
bool tensor is int64, ``mean`` of one raises, ``max(dim=...)`` returns a ``(values, indices)``
named tuple whose gradient goes to the selected element only, and ``max()`` over everything
shares the gradient evenly between tied maxima::

    >>> import graphc
    >>> x = graphc.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    >>> values, indices = x.max(dim=1)
    >>> indices
    tensor([1, 0])
"""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcValueError, ShapeError

from . import _dispatch
from ._tensor_args import as_float, as_tensor, const, dims_arg, dtype_arg, numel_of, wrap_dim
from ._tensor_math import _torch_name
from .autograd import no_grad
from .tensor import Tensor

apply = _dispatch.apply


class _ReturnType:
    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True))
        return f"graphc.return_types.{type(self).__name__}({fields})"


class max_result(_ReturnType, namedtuple("max", ["values", "indices"])):  # noqa: N801
    """``x.max(dim)``: the maxima and their indices."""

    __slots__ = ()


class min_result(_ReturnType, namedtuple("min", ["values", "indices"])):  # noqa: N801
    """``x.min(dim)``: the minima and their indices."""

    __slots__ = ()


max_result.__name__ = "max"
min_result.__name__ = "min"


def _reduce_shape(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def _sum(x: Tensor, dims, keepdim: bool) -> Tensor:
    return apply("sum", x, dims=dims, keepdim=keepdim)


def sum(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Sum over ``dim`` (an int, a tuple, or None for all); bool and integers sum as int64."""
    x = as_tensor(input)
    dtype = dtype_arg(dtype)
    if dtype is not None:
        x = _dispatch.cast(x, dtype)
    elif not x.dtype.is_floating_point:
        x = _dispatch.cast(x, D.int64)
    return _sum(x, dims_arg(dim, x.ndim), keepdim)


def mean(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Arithmetic mean over ``dim``; integer tensors raise unless ``dtype`` is given, as in PyTorch."""
    x = as_tensor(input)
    dtype = dtype_arg(dtype)
    if dtype is not None:
        x = _dispatch.cast(x, dtype)
    if not x.dtype.is_floating_point:
        raise DTypeError("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                         f"complex dtype. Got: {_torch_name(x.dtype)}",
                         fix="call .float() first, or pass dtype=graphc.float32")
    dims = dims_arg(dim, x.ndim)
    n = numel_of(x.shape[d] for d in dims) if x.ndim else 1
    return apply("div", _sum(x, dims, keepdim), const(n, x.dtype))


def _float_only(x: Tensor, what: str) -> None:
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{what} only support floating point and complex dtypes", fix="call .float() first")


def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance over ``dim`` with Bessel's ``correction`` (1 unless ``unbiased=False``)."""
    x = as_tensor(input)
    if isinstance(dim, bool):  # x.var(False): the legacy unbiased-first signature
        dim, unbiased = None, dim
    _float_only(x, "std and var")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dims = dims_arg(dim, x.ndim)
    n = numel_of(x.shape[d] for d in dims) if x.ndim else 1
    centered = apply("sub", x, mean(x, dims, keepdim=True))
    total = _sum(apply("mul", centered, centered), dims, keepdim)
    return apply("div", total, const(builtins.max(n - correction, 0), x.dtype))


def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Standard deviation over ``dim`` (the square root of :func:`var`)."""
    return apply("sqrt", var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(var, mean)`` over ``dim``."""
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(std, mean)`` over ``dim``."""
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def _neg_for_min(x: Tensor) -> Tensor:
    """An order-reversing map: min(x) = back(max(flip(x)))."""
    return apply("logical_not", x) if x.dtype.is_bool else apply("neg", x)


def amax(input, dim=(), keepdim: bool = False):
    """Maximum over ``dim`` (all dims by default); tied maxima share the gradient evenly."""
    x = as_tensor(input)
    dims = dims_arg(dim, x.ndim)
    if x.numel() == 0 and (not dims or builtins.any(x.shape[d] == 0 for d in dims)):
        raise ShapeError("max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.",
                         fix="reduce over a non-empty dimension")
    return apply("max", x, dims=dims, keepdim=keepdim)


def amin(input, dim=(), keepdim: bool = False):
    """Minimum over ``dim`` (all dims by default); tied minima share the gradient evenly."""
    x = as_tensor(input)
    return _neg_for_min(amax(_neg_for_min(x), dim, keepdim))


def argmax(input, dim=None, keepdim: bool = False):
    """Index of the (first) maximum along ``dim``, or in the flattened tensor when ``dim`` is None."""
    x = as_tensor(input)
    _no_bool(x, "argmax")
    return _argmax(x, dim, keepdim)


def _no_bool(x: Tensor, what: str) -> None:
    if x.dtype.is_bool:
        raise DTypeError(f"{what}(): does not support bool input", fix="cast with .int() or .float() first")


def _argmax(x: Tensor, dim, keepdim: bool) -> Tensor:
    if x.dtype.is_bool:
        x = _dispatch.cast(x, D.int32)
    if dim is None:
        if x.numel() == 0:
            raise ShapeError("argmax(): Expected reduction dim to be specified for input.numel() == 0.",
                             fix="pass dim=")
        out = apply("argmax", apply("reshape", x, shape=(x.numel(),)), dim=0, keepdim=False)
        return apply("reshape", out, shape=(1,) * x.ndim) if keepdim else out
    d = wrap_dim(dim, x.ndim)
    if x.ndim and x.shape[d] == 0:
        raise ShapeError(f"argmax(): Expected reduction dim {dim} to have non-zero size.", fix="reduce over a non-empty dim")
    return apply("argmax", x, dim=d, keepdim=keepdim)


def argmin(input, dim=None, keepdim: bool = False):
    """Index of the (first) minimum along ``dim``, or in the flattened tensor when ``dim`` is None."""
    x = as_tensor(input)
    _no_bool(x, "argmin")
    return _argmin(x, dim, keepdim)


def _argmin(x: Tensor, dim, keepdim: bool) -> Tensor:
    if x.dtype.is_bool:
        x = _dispatch.cast(x, D.int32)
    return _argmax(_neg_for_min(x), dim, keepdim)


def _select_along(x: Tensor, index: Tensor, dim: int, keepdim: bool) -> Tensor:
    """The elements of ``x`` at ``index`` (keepdim-shaped) along ``dim``: the gradient goes there only."""
    values = apply("gather", x, index, dim=dim)
    if not keepdim:
        values = apply("reshape", values, shape=_reduce_shape(x.shape, (dim,), False))
    return values


def max(input, dim=None, keepdim: bool = False):
    """``max(x)``: the maximum; ``max(x, dim)``: ``(values, indices)``; ``max(x, other)``: maximum."""
    x = as_tensor(input)
    if isinstance(dim, Tensor):
        return _dispatch.binary("maximum", x, dim)
    if dim is None:
        return amax(x)
    d = wrap_dim(dim, x.ndim)
    index = _argmax(x, d, keepdim=True)
    values = _select_along(x, index, d, keepdim) if x.ndim else apply("cast", x, dtype=x.dtype.short)
    return max_result(values, index if keepdim or not x.ndim else apply("reshape", index, shape=_reduce_shape(x.shape, (d,), False)))


def min(input, dim=None, keepdim: bool = False):
    """``min(x)``: the minimum; ``min(x, dim)``: ``(values, indices)``; ``min(x, other)``: minimum."""
    x = as_tensor(input)
    if isinstance(dim, Tensor):
        return _dispatch.binary("minimum", x, dim)
    if dim is None:
        return amin(x)
    d = wrap_dim(dim, x.ndim)
    index = _argmin(x, d, keepdim=True)
    values = _select_along(x, index, d, keepdim) if x.ndim else apply("cast", x, dtype=x.dtype.short)
    return min_result(values, index if keepdim or not x.ndim else apply("reshape", index, shape=_reduce_shape(x.shape, (d,), False)))


def logsumexp(input, dim, keepdim: bool = False):
    """``log(sum(exp(x), dim))`` computed stably (the gradient is softmax)."""
    x = as_float(input)
    dims = dims_arg(dim, x.ndim)
    with no_grad():
        m = apply("max", x, dims=dims, keepdim=True) if x.numel() else const(0.0, x.dtype, (1,) * x.ndim)
        m = apply("where", apply("eq", apply("abs", m), const(math.inf, x.dtype)), const(0.0, x.dtype), m)
    s = _sum(apply("exp", apply("sub", x, m)), dims, True)
    out = apply("add", apply("log", s), m)
    return out if keepdim else apply("reshape", out, shape=_reduce_shape(x.shape, dims, False))


def softmax(input, dim: int, dtype=None):
    """``exp(x) / sum(exp(x), dim)``, computed stably: the composite op ``softmax``."""
    x = _softmax_input(input, dtype, "softmax")
    return apply("softmax", x, dim=wrap_dim(dim, x.ndim))


def log_softmax(input, dim: int, dtype=None):
    """``x - logsumexp(x, dim)``, computed stably: the composite op ``log_softmax``."""
    x = _softmax_input(input, dtype, "log_softmax")
    return apply("log_softmax", x, dim=wrap_dim(dim, x.ndim))


def _softmax_input(input, dtype, what: str) -> Tensor:
    x = as_tensor(input)
    dtype = dtype_arg(dtype)
    if dtype is not None:
        x = _dispatch.cast(x, dtype)
    if not x.dtype.is_floating_point:
        raise DTypeError(f"\"{what}\" not implemented for '{_torch_name(x.dtype)}'", fix="call .float() first, or pass dtype=")
    return x


def norm(input, p="fro", dim=None, keepdim: bool = False, dtype=None):
    """The vector p-norm over ``dim`` (all elements by default); p = 2 ('fro'), 1, inf, -inf, 0 or any number.

    The gradient at a zero vector is zero, as in PyTorch.
    """
    x = as_tensor(input)
    dtype = dtype_arg(dtype)
    if dtype is not None:
        x = _dispatch.cast(x, dtype)
    _float_only(x, "norm")
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise GraphcValueError(f"graphc's norm supports p='fro' and numbers, got p={p!r}", fix="use p=2 ('fro'), 1, inf or a number")
    dims = dims_arg(dim, x.ndim)
    a = apply("abs", x)
    zero, one = const(0.0, x.dtype), const(1.0, x.dtype)
    if p == math.inf:
        return amax(a, dims, keepdim)
    if p == -math.inf:
        return amin(a, dims, keepdim)
    if p == 0:
        return _sum(_dispatch.cast(apply("ne", x, zero), x.dtype), dims, keepdim)
    if p == 1:
        return _sum(a, dims, keepdim)
    if p == 2:
        total = _sum(apply("mul", x, x), dims, keepdim)
    else:
        total = _sum(apply("pow", a, const(p, x.dtype)), dims, keepdim)
    # the root with a zero gradient where the sum is 0 (PyTorch's convention), not inf * 0
    is_zero = apply("eq", total, zero)
    safe = apply("where", is_zero, one, total)
    root = apply("sqrt", safe) if p == 2 else apply("pow", safe, const(1.0 / p, x.dtype))
    return apply("where", is_zero, zero, root)


def all(input, dim=None, keepdim: bool = False):
    """True where every element along ``dim`` is nonzero (all elements by default)."""
    x = _dispatch.cast(as_tensor(input), D.bool_)
    falses = _sum(_dispatch.cast(apply("logical_not", x), D.int64), dims_arg(dim, x.ndim), keepdim)
    return apply("eq", falses, const(0, D.int64))


def any(input, dim=None, keepdim: bool = False):
    """True where some element along ``dim`` is nonzero (all elements by default)."""
    x = _dispatch.cast(as_tensor(input), D.bool_)
    trues = _sum(_dispatch.cast(x, D.int64), dims_arg(dim, x.ndim), keepdim)
    return apply("gt", trues, const(0, D.int64))


def count_nonzero(input, dim=None):
    """The number of nonzero elements along ``dim`` (int64)."""
    x = _dispatch.cast(as_tensor(input), D.bool_)
    return _sum(_dispatch.cast(x, D.int64), dims_arg(dim, x.ndim), False)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Product over ``dim`` (all elements when None), as a log-depth tree of multiplications.

    Integers and bool multiply as int64; the gradient is exact, zeros included.
    """
    x = as_tensor(input)
    dtype = dtype_arg(dtype)
    if dtype is not None:
        x = _dispatch.cast(x, dtype)
    elif not x.dtype.is_floating_point:
        x = _dispatch.cast(x, D.int64)
    if dim is None:
        flat = apply("reshape", x, shape=(x.numel(),))
        out = apply("reshape", _prod_last(flat), shape=(1,) * x.ndim if keepdim else ())
        return out
    d = wrap_dim(dim, x.ndim)
    if x.ndim == 0:
        return apply("cast", x, dtype=x.dtype.short)
    order = [i for i in range(x.ndim) if i != d] + [d]
    moved = apply("permute", x, dims=order) if order != list(range(x.ndim)) else x
    out = _prod_last(moved)  # shape [..., 1]
    if keepdim:
        back = [order.index(i) for i in range(x.ndim)]
        return apply("permute", out, dims=back) if back != list(range(x.ndim)) else out
    return apply("reshape", out, shape=_reduce_shape(x.shape, (d,), False))


def _prod_last(x: Tensor) -> Tensor:
    n = x.shape[-1]
    if n == 0:
        return const(1, x.dtype, tuple(x.shape[:-1]) + (1,))
    while n > 1:
        even = apply("slice", x, dim=x.ndim - 1, start=0, stop=n - (n % 2), step=2)
        odd = apply("slice", x, dim=x.ndim - 1, start=1, stop=n, step=2)
        pairs = apply("mul", even, odd)
        if n % 2:
            last = apply("slice", x, dim=x.ndim - 1, start=n - 1, stop=n, step=1)
            pairs = apply("concat", pairs, last, dim=x.ndim - 1)
        x = pairs
        n = x.shape[-1]
    return x
