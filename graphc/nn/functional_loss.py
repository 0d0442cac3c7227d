"""``graphc.nn.functional``: the losses, with PyTorch's formulas, reductions and shape checks.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> logits = graphc.tensor([[2.0, 0.5, -1.0]])
    >>> F.cross_entropy(logits, graphc.tensor([0])).shape
    graphc.Size([])
"""

from __future__ import annotations

import warnings

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcIndexError, GraphcValueError, ShapeError

from . import _prims as P
from .functional_act import log_softmax


def _reduce(loss, reduction: str):
    if reduction == "mean":
        return P.mean_all(loss)
    if reduction == "sum":
        return P.sum_all(loss)
    if reduction == "none":
        return loss
    raise GraphcValueError(f"{reduction} is not a valid value for reduction", fix="use 'none', 'mean' or 'sum'")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def _pointwise_target(name: str, input, target):
    """PyTorch warns and broadcasts when target's shape differs from input's (and fails if it cannot)."""
    if tuple(target.shape) != tuple(input.shape):
        try:
            from graphc.ir.ops.rules import broadcast_shapes

            broadcast_shapes(tuple(input.shape), tuple(target.shape))
        except ShapeError:
            raise ShapeError(f"{name}: the size of tensor a ({P.shape_str(input.shape)}) must match the size of "
                             f"tensor b ({P.shape_str(target.shape)})",
                             fix="give the target the input's shape (e.g. target.view_as(input))") from None
        warnings.warn(f"Using a target size ({P.shape_str(target.shape)}) that is different to the input size "
                      f"({P.shape_str(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)
    (input, target), _ = P.promote(input, target)
    return input, target


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """Mean squared error: reduce((input - target) ** 2)."""
    input, target = _pointwise_target("mse_loss", input, target)
    d = P.sub(input, target)
    loss = P.mul(d, d)
    if weight is not None:
        loss = P.mul(loss, weight)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """Mean absolute error: reduce(|input - target|)."""
    input, target = _pointwise_target("l1_loss", input, target)
    loss = P.apply("abs", P.sub(input, target))
    if weight is not None:
        loss = P.mul(loss, weight)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
    """Huber-like loss: 0.5 d^2 / beta where |d| < beta, else |d| - beta / 2."""
    if beta < 0:
        raise GraphcValueError("smooth_l1_loss does not support negative values for beta.")
    input, target = _pointwise_target("smooth_l1_loss", input, target)
    d = P.apply("abs", P.sub(input, target))
    if beta == 0.0:
        loss = d
    else:
        quad = P.mul(P.mul(d, d), P.const(0.5 / beta, d.dtype))
        loss = P.where(P.binary("lt", d, P.const(beta, d.dtype)), quad, P.sub(d, P.const(0.5 * beta, d.dtype)))
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - delta / 2); ``weight`` (the input's size) scales each term."""
    if delta <= 0:
        raise GraphcValueError("huber_loss does not support non-positive values for delta.", fix="pass delta > 0")
    input, target = _pointwise_target("huber_loss", input, target)
    d = P.apply("abs", P.sub(input, target))
    quad = P.mul(P.mul(d, d), P.const(0.5, d.dtype))
    loss = P.where(P.binary("lt", d, P.const(delta, d.dtype)), quad,
                   P.mul(P.sub(d, P.const(0.5 * delta, d.dtype)), P.const(delta, d.dtype)))
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise GraphcValueError("Weights and input must have the same size.", fix="give weight the input's shape")
    if reduction not in ("none", "mean", "sum"):
        raise GraphcValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
    return _reduce(P.mul(loss, weight), reduction)


def _same_size_target(name: str, input, target) -> None:
    if tuple(target.shape) != tuple(input.shape):
        raise GraphcValueError(f"Using a target size (torch.Size({list(target.shape)})) that is different to the input "
                               f"size (torch.Size({list(input.shape)})) is deprecated. Please ensure they have the same size.",
                               fix=f"{name} needs a target of the input's shape")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
    """-(t log x + (1 - t) log(1 - x)) for probabilities x in [0, 1]; logs are clamped at -100."""
    _same_size_target("binary_cross_entropy", input, target)
    if not P.is_traced(input) and input.numel() and (input._data.min() < 0 or input._data.max() > 1):
        raise GraphcValueError("all elements of input should be between 0 and 1",
                               fix="apply sigmoid first, or use binary_cross_entropy_with_logits")
    (input, target), _ = P.promote(input, target)
    floor = P.const(-100.0, input.dtype)
    one = P.const(1.0, input.dtype)
    log_x = P.binary("maximum", P.apply("log", input), floor)
    log_1mx = P.binary("maximum", P.apply("log", P.sub(one, input)), floor)
    loss = P.apply("neg", P.add(P.mul(target, log_x), P.mul(P.sub(one, target), log_1mx)))
    if weight is not None:
        loss = P.mul(loss, weight)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """Sigmoid + binary cross entropy in one numerically stable formula; ``pos_weight`` weighs positives."""
    _same_size_target("binary_cross_entropy_with_logits", input, target)
    (input, target), _ = P.promote(input, target)
    one = P.const(1.0, input.dtype)
    # log(1 + exp(-|x|)) + max(-x, 0) = log(1 + exp(-x)), stable for any x
    softplus_neg = P.add(P.apply("log", P.add(one, P.apply("exp", P.apply("neg", P.apply("abs", input))))),
                         P.binary("maximum", P.apply("neg", input), P.const(0.0, input.dtype)))
    if pos_weight is not None:
        log_weight = P.add(P.mul(P.sub(pos_weight, one), target), one)
        loss = P.add(P.mul(P.sub(one, target), input), P.mul(log_weight, softplus_neg))
    else:
        loss = P.add(P.mul(P.sub(one, target), input), softplus_neg)
    if weight is not None:
        loss = P.mul(loss, weight)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def _check_class_target(name: str, input, target):
    """Class-index targets: (N,) for (N, C), () for (C,), (N, d1, ...) for (N, C, d1, ...)."""
    if target.dtype.is_floating_point or target.dtype.is_bool:
        raise DTypeError(f"{name}: expected target of scalar type Long but found {target.dtype.name}",
                         fix="class-index targets must be int64 (.long()); for probabilities pass a target of the input's shape")
    if input.ndim == 0:
        raise ShapeError(f"{name}: input must have at least one dimension (C) or two (N, C)")
    want = () if input.ndim == 1 else (input.shape[0],) + tuple(input.shape[2:])
    if tuple(target.shape) != want:
        if input.ndim >= 2 and (target.ndim == 0 or target.shape[0] != input.shape[0]):
            raise GraphcValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                                   f"({target.shape[0] if target.ndim else 0}).",
                                   fix=f"the target for an input of shape {P.shape_str(input.shape)} has shape {P.shape_str(want)}")
        raise ShapeError(f"{name}: expected target of shape {P.shape_str(want)} for input of shape "
                         f"{P.shape_str(input.shape)}, got target of shape {P.shape_str(target.shape)}",
                         fix="class-index targets drop the class dimension (dim 1) of the input")


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean"):
    """Negative log likelihood of log-probabilities ``input`` (N, C, ...) at class indices ``target``.

    ``mean`` divides by the summed weights of the non-ignored targets, as PyTorch does.
    """
    _check_class_target("nll_loss", input, target)
    reduction = _legacy_reduction(size_average, reduce, reduction)
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight is not None and tuple(weight.shape) != (c,):
        raise ShapeError(f"weight tensor should be defined either for all {c} classes or no classes but got weight "
                         f"tensor of shape: {list(weight.shape)}")
    target = P.cast(target, D.int64)
    if not P.is_traced(target) and target.numel():
        bad = target._data[(target._data != ignore_index) & ((target._data < 0) | (target._data >= c))]
        if bad.size:
            raise GraphcIndexError(f"Target {int(bad.flat[0])} is out of bounds.",
                                   fix=f"class indices must be in [0, {c - 1}] (or ignore_index={ignore_index})")
    x = P.unsqueeze(input, 0) if input.ndim == 1 else input
    t = P.unsqueeze(target, 0) if input.ndim == 1 else target
    valid = P.binary("ne", t, P.const(ignore_index, D.int64))
    safe = P.where(valid, t, P.const(0, D.int64))  # ignored entries index class 0, then get weight 0
    picked = P.squeeze(P.apply("gather", x, P.unsqueeze(safe, 1), dim=1), 1)
    w = P.cast(valid, x.dtype)
    if weight is not None:
        w = P.mul(w, P.apply("take", P.cast(weight, x.dtype), safe, dim=0))
    loss = P.apply("neg", P.mul(picked, w))
    if input.ndim == 1:
        loss, w = P.squeeze(loss, 0), P.squeeze(w, 0)
    if reduction == "mean":
        return P.div(P.sum_all(loss), P.sum_all(w))
    return _reduce(loss, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """log_softmax over the class dimension followed by nll_loss (or by the soft-target loss).

    ``target`` holds class indices (int64, the input's shape without dim 1) or class
    probabilities (float, the input's shape). ``label_smoothing`` mixes in the uniform distribution.

        >>> F.cross_entropy(graphc.randn(3, 5), graphc.tensor([1, 0, 4]), label_smoothing=0.1).shape
        graphc.Size([])
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise GraphcValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    if input.ndim == 0:
        raise ShapeError("cross_entropy: input must have at least one dimension (C) or two (N, C)")
    c = input.shape[class_dim]
    if weight is not None and tuple(weight.shape) != (c,):
        raise ShapeError(f"weight tensor should be defined either for all {c} classes or no classes but got weight "
                         f"tensor of shape: {list(weight.shape)}")
    lsm = log_softmax(input, class_dim)
    w_view = None
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = c
        w_view = P.reshape(P.cast(weight, lsm.dtype), shape)
    if target.dtype.is_floating_point:  # class probabilities
        if tuple(target.shape) != tuple(input.shape):
            raise ShapeError(f"cross_entropy: a probability target must have the input's shape {P.shape_str(input.shape)}, "
                             f"got {P.shape_str(target.shape)}",
                             fix="pass class indices (int64, without the class dimension) or probabilities of the input's shape")
        (lsm, target), _ = P.promote(lsm, target)
        if label_smoothing > 0:
            target = P.add(P.mul(target, P.const(1 - label_smoothing, target.dtype)), P.const(label_smoothing / c, target.dtype))
        prod = P.mul(lsm, target)
        if w_view is not None:
            prod = P.mul(prod, w_view)
        if reduction == "none":
            return P.apply("neg", P.sum_(prod, (class_dim,)))
        total = P.apply("neg", P.sum_all(prod))
        if reduction == "sum":
            return total
        _reduce(total, reduction)  # validates the name
        return P.div(total, P.const(input.numel() // c, total.dtype))
    nll = nll_loss(lsm, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0.0:
        return nll
    # PyTorch's smoothing term: -sum_c lsm (weighted), zero at ignored targets
    valid = P.binary("ne", target, P.const(ignore_index, D.int64))
    prod = lsm if w_view is None else P.mul(lsm, w_view)
    smooth = P.mul(P.apply("neg", P.sum_(prod, (class_dim,))), P.cast(valid, lsm.dtype))
    if reduction == "mean":
        if weight is not None:
            safe = P.where(valid, target, P.const(0, D.int64))
            denom = P.sum_all(P.mul(P.apply("take", P.cast(weight, lsm.dtype), safe, dim=0), P.cast(valid, lsm.dtype)))
        else:
            denom = P.sum_all(P.cast(valid, lsm.dtype))
        smooth = P.div(P.sum_all(smooth), denom)
    else:
        smooth = _reduce(smooth, reduction)
    return P.add(P.mul(nll, P.const(1 - label_smoothing, lsm.dtype)), P.mul(smooth, P.const(label_smoothing / c, lsm.dtype)))
