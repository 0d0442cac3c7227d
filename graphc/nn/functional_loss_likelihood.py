"""``graphc.nn.functional``: the likelihood losses kl_div, poisson_nll_loss and gaussian_nll_loss.

PyTorch's formulas, reductions and checks, built from core ops.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> log_q = F.log_softmax(graphc.randn(4, 3), dim=1)
    >>> F.kl_div(log_q, F.softmax(graphc.randn(4, 3), dim=1), reduction="batchmean").shape
    graphc.Size([])
"""

from __future__ import annotations

import math
import warnings

from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcValueError

from . import _prims as P
from .functional_loss import _legacy_reduction, _reduce


def _xlogx(t):
    """t log t, 0 where t == 0 (PyTorch's xlogy(t, t)); log never sees a zero, so nothing warns."""
    zero = P.binary("eq", t, P.const(0.0, t.dtype))
    safe = P.where(zero, P.const(1.0, t.dtype), t)
    return P.where(zero, P.const(0.0, t.dtype), P.mul(t, P.apply("log", safe)))


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
    """Pointwise KL divergence ``target (log target - input)`` of log-probabilities ``input``.

    ``reduction='batchmean'`` divides the sum by the batch size (the KL divergence's definition);
    ``'mean'`` divides by the number of elements and warns, as PyTorch does.
    """
    if size_average is not None or reduce is not None:
        enum = _legacy_reduction(size_average, reduce, reduction)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        enum = "sum" if reduction == "batchmean" else reduction
    if enum not in ("none", "mean", "sum"):
        raise GraphcValueError(f"{reduction} is not a valid value for reduction",
                               fix="use 'none', 'batchmean', 'sum' or 'mean'")
    P.broadcast_shape(target.shape, input.shape)  # PyTorch computes with target first ("tensor a")
    (input, target), _ = P.promote(input, target)
    if log_target:
        loss = P.mul(P.apply("exp", target), P.sub(target, input))
    else:
        loss = P.sub(_xlogx(target), P.mul(target, input))
    out = _reduce(loss, enum)
    if reduction == "batchmean" and input.ndim != 0:
        out = P.div(out, P.const(input.shape[0], out.dtype))
    return out


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean"):
    """Poisson negative log likelihood: ``exp(input) - target input`` (``log_input``) or
    ``input - target log(input + eps)``; ``full`` adds Stirling's term where target > 1."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum"):
        raise GraphcValueError(reduction + " is not a valid value for reduction", fix="use 'none', 'mean' or 'sum'")
    P.broadcast_shape(target.shape, input.shape)  # PyTorch's target * input names target "tensor a"
    (input, target), _ = P.promote(input, target)
    if log_input:
        loss = P.sub(P.apply("exp", input), P.mul(target, input))
    else:
        loss = P.sub(input, P.mul(target, P.apply("log", P.add(input, P.const(eps, input.dtype)))))
    if full:
        big = P.binary("gt", target, P.const(1.0, target.dtype))
        t = P.where(big, target, P.const(2.0, target.dtype))  # masked entries never reach log
        stirling = P.add(P.sub(P.mul(t, P.apply("log", t)), t),
                         P.mul(P.apply("log", P.mul(t, P.const(2 * math.pi, t.dtype))), P.const(0.5, t.dtype)))
        loss = P.add(loss, P.where(big, stirling, P.const(0.0, t.dtype)))
    return _reduce(loss, reduction)


def _gaussian_var(input, var):
    """PyTorch's checks of ``var``'s size; a var one dimension short of the input gets a trailing 1."""
    if tuple(var.shape) == tuple(input.shape):
        return var
    if tuple(input.shape[:-1]) == tuple(var.shape):
        return P.unsqueeze(var, -1)
    if input.ndim == var.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1:
        return var
    raise GraphcValueError("var is of incorrect size",
                           fix=f"var of shape {P.shape_str(var.shape)} must have the input's shape "
                               f"{P.shape_str(input.shape)}, lack its last dim, or be 1 in one of its dims")


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
    """Gaussian negative log likelihood ``0.5 (log var + (input - target)^2 / var)`` (+ ``0.5 log 2 pi`` if ``full``).

    ``var`` (a tensor or a float) is clamped at ``eps`` in value only: the gradient flows as if
    it were not, as in PyTorch.
    """
    if isinstance(var, (int, float)):
        if var < 0:
            raise GraphcValueError("var has negative entry/entries", fix="variances must be >= 0")
        var = P.expand(P.const(float(var), input.dtype if input.dtype.is_floating_point else D.float32), input.shape)
    elif not P.is_traced(var) and var.numel() and (var._data < 0).any():
        raise GraphcValueError("var has negative entry/entries", fix="variances must be >= 0 (e.g. pass exp(log_var))")
    var = _gaussian_var(input, var)
    if reduction not in ("none", "mean", "sum"):
        raise GraphcValueError(reduction + " is not valid", fix="use 'none', 'mean' or 'sum'")
    P.broadcast_shape(input.shape, target.shape, var.shape)
    (input, target, var), _ = P.promote(input, target, var)
    var = P.clamp_min_keep_grad(var, eps)
    d = P.sub(input, target)
    loss = P.mul(P.add(P.apply("log", var), P.div(P.mul(d, d), var)), P.const(0.5, var.dtype))
    if full:
        loss = P.add(loss, P.const(0.5 * math.log(2 * math.pi), loss.dtype))
    return _reduce(loss, reduction)
