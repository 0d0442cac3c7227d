"""``torch.nn.utils``' gradient clipping, eager and inside ``graphc.compile`` alike.

    >>> import graphc
    >>> from graphc import nn
    >>> w = nn.Parameter(graphc.ones(2))
    >>> w.grad = graphc.tensor([3.0, 4.0])
    >>> float(nn.utils.clip_grad_norm_([w], max_norm=1.0))
    5.0
    >>> [round(v, 4) for v in w.grad.tolist()]
    [0.6, 0.8]
"""

from __future__ import annotations

import math

from graphc.ir.errors import GraphcValueError
from graphc.tensor import Tensor


def _grads(parameters) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale the gradients in place so that their total ``norm_type``-norm (over all of them, as
    if concatenated) is at most ``max_norm``; returns that total norm, before clipping. The scale
    is ``max_norm / (total + 1e-6)`` clamped at 1, PyTorch's formula, applied as a tensor (no
    Python branch on the value, so it traces into a compiled step)."""
    import graphc

    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return graphc.tensor(0.0)
    if norm_type == math.inf:
        norms = [g.detach().abs().max() for g in grads]
        total = norms[0] if len(norms) == 1 else graphc.stack(norms).max()
    elif norm_type > 0:
        norms = [(g.detach().abs() ** norm_type).sum() ** (1.0 / norm_type) for g in grads]
        total = norms[0] if len(norms) == 1 else (graphc.stack(norms) ** norm_type).sum() ** (1.0 / norm_type)
    else:
        raise GraphcValueError(f"clip_grad_norm_ takes a positive norm_type or inf, got {norm_type}",
                               fix="use norm_type=2.0 (the default), 1.0 or float('inf')")
    if error_if_nonfinite and not bool(graphc.isfinite(total)):
        raise GraphcValueError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped.", fix="pass error_if_nonfinite=False to clip anyway")
    coef = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
    with graphc.no_grad():
        for g in grads:
            g.mul_(coef.to(g.dtype))
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    import graphc

    clip_value = float(clip_value)
    with graphc.no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
