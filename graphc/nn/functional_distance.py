"""``graphc.nn.functional``: vector norms and distances (cosine_similarity, normalize, pairwise_distance).

Built from core ops with PyTorch's formulas and PyTorch's gradients at the edges (a zero
vector's norm has gradient 0; ``normalize`` clamps the norm with clamp_min's gradient;
``cosine_similarity`` clamps it without touching the gradient, as PyTorch does under no_grad).

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.cosine_similarity(graphc.tensor([[1.0, 0.0]]), graphc.tensor([[1.0, 1.0]]))
    tensor([0.7071])
"""

from __future__ import annotations

import math

from graphc._tensor_args import dims_arg, wrap_dim
from graphc._tensor_math import _torch_name
from graphc.ir.errors import DTypeError, GraphcTypeError

from . import _prims as P


def _positive_part(x, fn):
    """fn(x) where x > 0, else 0; fn only ever sees positive values, so no inf/nan leaks into gradients."""
    pos = P.binary("gt", x, P.const(0.0, x.dtype))
    return P.where(pos, fn(P.where(pos, x, P.const(1.0, x.dtype))), P.const(0.0, x.dtype))


def vector_norm(x, p: float, dims: tuple[int, ...], keepdim: bool = False):
    """``torch.linalg.vector_norm(x, p, dims, keepdim)`` for a floating ``x`` with PyTorch's gradient
    (0 at a zero vector, shared evenly by ties for p = inf)."""
    a = P.apply("abs", x)
    if p == math.inf:
        return P.amax(a, dims, keepdim)
    if p == -math.inf:
        return P.apply("neg", P.amax(P.apply("neg", a), dims, keepdim))
    if p == 0:  # the number of non-zero entries (no gradient, as in PyTorch)
        return P.sum_(P.cast(P.binary("ne", x, P.const(0.0, x.dtype)), x.dtype), dims, keepdim)
    if p == 1:
        return P.sum_(a, dims, keepdim)
    if p == 2:
        return _positive_part(P.sum_(P.mul(x, x), dims, keepdim), lambda s: P.apply("sqrt", s))
    if p < 0:
        return P.binary("pow", P.sum_(P.binary("pow", a, P.const(p, x.dtype)), dims, keepdim), P.const(1.0 / p, x.dtype))
    powered = _positive_part(a, lambda v: P.binary("pow", v, P.const(p, x.dtype)))
    return _positive_part(P.sum_(powered, dims, keepdim), lambda s: P.binary("pow", s, P.const(1.0 / p, x.dtype)))


def _float_input(name: str, x):
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{name}: Expected a floating point or complex tensor as input. Got {_torch_name(x.dtype)}",
                         fix="convert the input with .float()")
    return x


def normalize(input, p: float = 2.0, dim=1, eps: float = 1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim`` (an int or a tuple of ints).

        >>> F.normalize(graphc.tensor([[3.0, 4.0]]))
        tensor([[0.6, 0.8]])
    """
    if out is not None:
        raise GraphcTypeError("normalize: out= is not supported", fix="assign the result instead")
    _float_input("linalg.vector_norm", input)
    dims = dims_arg(dim, input.ndim) if input.ndim else ()
    norm = vector_norm(input, float(p), dims, keepdim=True)
    return P.div(input, P.clamp_min(norm, eps))


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))`` along ``dim`` of the broadcast shape.

        >>> F.cosine_similarity(graphc.tensor([1.0, 2.0]), graphc.tensor([2.0, 4.0]), dim=0)
        tensor(1.)
    """
    (x1, x2), dtype = P.promote(x1, x2)
    if not dtype.is_floating_point:
        raise DTypeError(f"expected common dtype to be floating point, yet common dtype is {_torch_name(dtype)}",
                         fix="convert the inputs with .float()")
    shape = P.broadcast_shape(x1.shape, x2.shape)
    dim = wrap_dim(dim, len(shape))
    x1, x2 = P.expand(x1, shape), P.expand(x2, shape)
    # PyTorch divides each input by its clamped norm first (results stay in [-1, 1]); the clamp
    # happens under no_grad, so the gradient flows as if the norm were not clamped
    n1 = P.clamp_min_keep_grad(vector_norm(x1, 2.0, (dim,) if shape else (), keepdim=True), eps)
    n2 = P.clamp_min_keep_grad(vector_norm(x2, 2.0, (dim,) if shape else (), keepdim=True), eps)
    prod = P.mul(P.div(x1, n1), P.div(x2, n2))
    return P.sum_(prod, (dim,)) if shape else prod


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """``||x1 - x2 + eps||_p`` over the last dimension of the broadcast shape.

        >>> F.pairwise_distance(graphc.tensor([[0.0, 0.0]]), graphc.tensor([[3.0, 4.0]]), eps=0.0)
        tensor([5.])
    """
    P.broadcast_shape(x1.shape, x2.shape)
    diff = P.binary("add", P.sub(x1, x2), float(eps))
    if diff.ndim == 0:  # a scalar's norm over its only "dim"
        return vector_norm(P.reshape(diff, (1,)), float(p), (0,), keepdim=False)
    return vector_norm(diff, float(p), (diff.ndim - 1,), keepdim)


__all__ = ["cosine_similarity", "normalize", "pairwise_distance", "vector_norm"]
