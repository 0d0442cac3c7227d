"""Small IR-level helpers the functional layer is built from (each one op via ``_dispatch.apply``).

softmax, log_softmax, gelu, layer_norm and linear are composite ops of the IR
(graphc.ir.ops.composite, expanded by the compiler's decompose pass); the other composite
functions (batch_norm, the losses, ...) are built from core ops with these helpers, so eager
autograd, tracing and the compiler all see the same few primitives.
"""

from __future__ import annotations

import numpy as np

from graphc import _dispatch
from graphc.ir import dtypes as D
from graphc.ir.errors import ShapeError
from graphc.tensor import Tensor

apply = _dispatch.apply
binary = _dispatch.binary
promote = _dispatch.promote


def const(value, dtype: D.DType = D.float32) -> Tensor:
    """A 0-dim constant tensor of ``dtype``."""
    return Tensor._wrap(np.asarray(value, dtype=dtype.np))


def array(values, dtype: D.DType) -> Tensor:
    """A constant tensor from Python/numpy values."""
    return Tensor._wrap(np.asarray(values, dtype=dtype.np))


def cast(x: Tensor, dtype: D.DType) -> Tensor:
    return _dispatch.cast(x, dtype)


def add(a, b):
    return binary("add", a, b)


def sub(a, b):
    return binary("sub", a, b)


def mul(a, b):
    return binary("mul", a, b)


def div(a, b):
    return binary("div", a, b)


def reshape(x: Tensor, shape) -> Tensor:
    shape = tuple(int(s) for s in shape)
    if shape == tuple(x.shape):
        return x
    return apply("reshape", x, shape=shape)


def permute(x: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    if dims == tuple(range(x.ndim)):
        return x
    return apply("permute", x, dims=dims)


def transpose2d(w: Tensor) -> Tensor:
    return permute(w, (1, 0))


def expand(x: Tensor, shape) -> Tensor:
    shape = tuple(int(s) for s in shape)
    if shape == tuple(x.shape):
        return x
    return apply("expand", x, shape=shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    dim = dim % (x.ndim + 1)
    shape = list(x.shape)
    shape.insert(dim, 1)
    return reshape(x, shape)


def squeeze(x: Tensor, dim: int) -> Tensor:
    shape = list(x.shape)
    del shape[dim % x.ndim]
    return reshape(x, shape)


def sum_(x: Tensor, dims, keepdim: bool = False) -> Tensor:
    if x.dtype.is_bool:
        x = cast(x, D.int64)
    return apply("sum", x, dims=tuple(dims), keepdim=keepdim)


def sum_all(x: Tensor) -> Tensor:
    return sum_(x, tuple(range(x.ndim)))


def mean(x: Tensor, dims, keepdim: bool = False) -> Tensor:
    dims = tuple(d % max(x.ndim, 1) for d in dims)
    count = 1
    for d in dims:
        count *= x.shape[d] if x.ndim else 1
    return div(sum_(x, dims, keepdim), const(count, x.dtype))


def mean_all(x: Tensor) -> Tensor:
    return mean(x, tuple(range(x.ndim)))


def amax(x: Tensor, dims, keepdim: bool = False) -> Tensor:
    return apply("max", x, dims=tuple(dims), keepdim=keepdim)


def slice_(x: Tensor, dim: int, start: int, stop: int, step: int = 1) -> Tensor:
    dim = dim % x.ndim
    if start == 0 and stop >= x.shape[dim] and step == 1:
        return x
    return apply("slice", x, dim=dim, start=start, stop=stop, step=step)


def concat(tensors, dim: int) -> Tensor:
    if len(tensors) == 1:
        return tensors[0]
    return apply("concat", *tensors, dim=dim)


def where(cond: Tensor, a, b) -> Tensor:
    (a, b), _ = _dispatch.promote(a, b)
    return apply("where", cond, a, b)


def var_mean(x: Tensor, dims, keepdim: bool = True):
    """The biased variance and the mean over ``dims`` (what the norm layers normalise with)."""
    m = mean(x, dims, keepdim=True)
    d = sub(x, m)
    v = mean(mul(d, d), dims, keepdim=keepdim)
    return v, (m if keepdim else reshape(m, v.shape))


def is_traced(*xs) -> bool:
    """True while graphc.compile traces one of these tensors (it has no value yet)."""
    return any(isinstance(x, Tensor) and x._tnode is not None for x in xs)


def shape_str(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def clamp_min(x: Tensor, lo: float) -> Tensor:
    """max(x, lo) with PyTorch's clamp_min gradient: it passes where x >= lo (ties included)."""
    lo_t = const(lo, x.dtype)
    return where(binary("ge", x, lo_t), x, lo_t)


def clamp_min_keep_grad(x: Tensor, lo: float) -> Tensor:
    """max(x, lo) in value, differentiated as x itself: PyTorch's ``x.clamp_min_(lo)`` under
    ``no_grad`` (cosine_similarity's norms, gaussian_nll_loss's variance)."""
    lo_t = const(lo, x.dtype)
    return where(binary("ge", x, lo_t), x, add(lo_t, sub(x, x.detach())))


def broadcast_shape(*shapes) -> tuple[int, ...]:
    """The broadcast of ``shapes``, or PyTorch's "The size of tensor a ... must match" ShapeError."""
    out = tuple(shapes[0])
    for other in shapes[1:]:
        n = max(len(out), len(other))
        a = (1,) * (n - len(out)) + tuple(out)
        b = (1,) * (n - len(other)) + tuple(other)
        for i in reversed(range(n)):  # PyTorch reports the innermost clash
            if a[i] != b[i] and 1 not in (a[i], b[i]):
                raise ShapeError(f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) at "
                                 f"non-singleton dimension {i}",
                                 fix="make the sizes equal or 1 in that dimension (reshape, unsqueeze or expand)")
        out = tuple(y if x == 1 else x for x, y in zip(a, b))
    return out
