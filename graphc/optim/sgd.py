"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay.

The update is PyTorch's ``_single_tensor_sgd``, written with tensor operations only so a
compiled step traces it into graph nodes:

    >>> import graphc
    >>> w = graphc.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = graphc.optim.SGD([w], lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [-0.9, 0.9]
"""

from __future__ import annotations

from .optimizer import (
    Optimizer,
    check_lr,
    check_nonnegative,
    check_unknown_options,
    check_unsupported,
)
from .rounding import fma

__all__ = ["SGD", "sgd"]


class SGD(Optimizer):
    """``torch.optim.SGD``: ``p -= lr * g`` with optional momentum, dampening, Nesterov and weight decay."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None, **unknown):
        check_unknown_options("SGD", unknown)
        check_unsupported("SGD", differentiable)
        check_lr(lr)
        check_nonnegative("momentum", momentum)
        check_nonnegative("weight_decay", weight_decay)
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            from graphc.ir.errors import GraphcValueError

            raise GraphcValueError("Nesterov momentum requires a momentum and zero dampening",
                                   fix="set momentum > 0 and dampening=0, or nesterov=False")
        super().__init__(params, defaults)

    def _update_group(self, group: dict) -> None:
        params, grads, bufs = [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            if group["momentum"] != 0:
                bufs.append(self.state[p].get("momentum_buffer"))
        sgd(params, grads, bufs, lr=group["lr"], weight_decay=group["weight_decay"], momentum=group["momentum"],
            dampening=group["dampening"], nesterov=group["nesterov"], maximize=group["maximize"])
        if group["momentum"] != 0:
            for p, buf in zip(params, bufs, strict=True):
                self.state[p]["momentum_buffer"] = buf


def sgd(params, grads, momentum_buffers, *, lr, weight_decay, momentum, dampening, nesterov, maximize) -> None:
    """One SGD step over ``params`` in place; new momentum buffers are stored into ``momentum_buffers``.

    Hyperparameters may be Python floats or 0-dim tensors; only ``momentum != 0``,
    ``weight_decay != 0``, ``dampening != 0``, ``nesterov`` and ``maximize`` decide the structure.
    """
    for i, param in enumerate(params):
        grad = grads[i] if not maximize else -grads[i]
        if weight_decay != 0:
            grad = fma(param, weight_decay, grad)  # grad.add(param, alpha=weight_decay)
        if momentum != 0:
            buf = momentum_buffers[i]
            if buf is None:
                buf = grad.clone().detach()
                momentum_buffers[i] = buf
            else:
                buf.mul_(momentum)
                if dampening != 0:
                    buf.copy_(fma(grad, 1 - dampening, buf))  # add_(grad, alpha=1 - dampening)
                else:
                    buf.add_(grad)
            grad = fma(buf, momentum, grad) if nesterov else buf  # grad.add(buf, alpha=momentum)
        param.copy_(fma(grad, -lr, param))  # add_(grad, alpha=-lr)
