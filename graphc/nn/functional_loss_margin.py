"""``graphc.nn.functional``: the margin and embedding losses margin_ranking_loss, triplet_margin_loss,
cosine_embedding_loss and soft_margin_loss.

PyTorch's formulas, reductions and checks, built from core ops. The hinge ``max(x, 0)`` is
PyTorch's ``clamp_min``, whose gradient passes at ``x == 0`` too.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> a, p, n = graphc.randn(5, 8), graphc.randn(5, 8), graphc.randn(5, 8)
    >>> F.triplet_margin_loss(a, p, n, margin=0.5, swap=True).shape
    graphc.Size([])
"""

from __future__ import annotations

from graphc.autograd import is_grad_enabled
from graphc.ir.errors import AutogradError, GraphcValueError, ShapeError

from . import _prims as P
from .functional_distance import pairwise_distance
from .functional_loss import _legacy_reduction, _reduce


def _reduction(size_average, reduce, reduction: str) -> str:
    """The reduction's name, checked up front as PyTorch's ``_Reduction.get_enum`` does."""
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise GraphcValueError(f"{reduction} is not a valid value for reduction", fix="use 'none', 'mean' or 'sum'")
    return reduction


def _size(t) -> str:
    return f"torch.Size({list(t.shape)})"


def margin_ranking_loss(input1, input2, target, margin: float = 0, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """``max(0, -target (input1 - input2) + margin)``: target 1 ranks input1 higher, -1 input2."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise ShapeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                         f"input1: {_size(input1)}, input2: {_size(input2)}, target: {_size(target)} ",
                         fix="give input1, input2 and target the same number of dims")
    P.broadcast_shape(input1.shape, input2.shape, target.shape)
    (input1, input2, target), dtype = P.promote(input1, input2, target)
    x = P.add(P.apply("neg", P.mul(target, P.sub(input1, input2))), P.const(margin, dtype))
    return _reduce(P.clamp_min(x, 0.0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average=None, reduce=None, reduction: str = "mean"):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with ``d`` the pairwise p-norm
    distance; ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance."""
    reduction = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise GraphcValueError(f"margin must be greater than 0, got {margin}", fix="pass margin > 0")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ShapeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                         f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                         f"{negative.ndim}D inputs", fix="give the three tensors the same number of dims")
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = P.binary("minimum", dist_neg, pairwise_distance(positive, negative, p, eps))
    x = P.sub(P.add(dist_pos, P.const(margin, dist_pos.dtype)), dist_neg)
    return _reduce(P.clamp_min(x, 0.0), reduction)


def cosine_embedding_loss(input1, input2, target, margin: float = 0, size_average=None, reduce=None,
                          reduction: str = "mean"):
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1
    (0 for other target values); inputs ``(N, D)`` with target ``(N,)``, or ``(D,)`` with ``()``."""
    reduction = _reduction(size_average, reduce, reduction)
    if target.ndim not in (0, 1):
        raise ShapeError("0D or 1D target tensor expected, multi-target not supported",
                         fix="pass one target (1 or -1) per pair of input rows")
    want = target.ndim + 1
    if input1.ndim != want or input2.ndim != want:
        raise ShapeError(f"{target.ndim}D target tensor expects {want}D input tensors, but found inputs with sizes "
                         f"{list(input1.shape)} and {list(input2.shape)}.",
                         fix="inputs are (N, D) for a target (N,) and (D,) for a target ()")
    P.broadcast_shape(input1.shape, input2.shape)
    (input1, input2), dtype = P.promote(input1, input2)
    dim = target.ndim
    tiny = P.const(1e-12, dtype)  # PyTorch's EPSILON on the squared magnitudes
    prod_sum = P.sum_(P.mul(input1, input2), (dim,))
    mag1 = P.add(P.sum_(P.mul(input1, input1), (dim,)), tiny)
    mag2 = P.add(P.sum_(P.mul(input2, input2), (dim,)), tiny)
    cos = P.div(prod_sum, P.apply("sqrt", P.mul(mag1, mag2)))
    P.broadcast_shape(target.shape, cos.shape)
    zero = P.const(0.0, dtype)
    pos = P.sub(P.const(1.0, dtype), cos)
    neg = P.clamp_min(P.sub(cos, P.const(margin, dtype)), 0.0)
    loss = P.add(P.where(P.binary("eq", target, 1), pos, zero), P.where(P.binary("eq", target, -1), neg, zero))
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """Two-class logistic loss ``log(1 + exp(-target input))`` for targets 1 / -1.

    Computed in the stable form ``log(1 + exp(-|z|)) + max(z, 0)``, z = -target input, so it is
    finite where PyTorch's direct formula overflows to inf (z > 88 in float32).
    """
    reduction = _reduction(size_average, reduce, reduction)
    if getattr(target, "requires_grad", False) and is_grad_enabled():
        raise AutogradError("The function 'soft_margin_loss' is not differentiable with respect to argument 'target'. "
                            "This input cannot have requires_grad True.", fix="pass target.detach()")
    P.broadcast_shape(input.shape, target.shape)
    (input, target), dtype = P.promote(input, target)
    z = P.apply("neg", P.mul(input, target))
    one, zero = P.const(1.0, dtype), P.const(0.0, dtype)
    softplus = P.add(P.apply("log", P.add(one, P.apply("exp", P.apply("neg", P.apply("abs", z))))),
                     P.binary("maximum", z, zero))
    return _reduce(softplus, reduction)
