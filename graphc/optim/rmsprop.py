"""RMSprop, with momentum, the centered variant and weight decay (PyTorch's ``_single_tensor_rmsprop``).

    >>> import graphc
    >>> w = graphc.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = graphc.optim.RMSprop([w], lr=0.01, centered=True, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.8995, -1.8995]
"""

from __future__ import annotations

from graphc import factories as _factories
from graphc.ir.dtypes import float32

from .optimizer import (
    Optimizer,
    check_lr,
    check_nonnegative,
    check_unknown_options,
    check_unsupported,
)
from .rounding import fma, lerp

__all__ = ["RMSprop", "rmsprop"]


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``: divide the gradient by a running root mean square."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False, **unknown):
        check_unknown_options("RMSprop", unknown)
        check_unsupported("RMSprop", differentiable)
        check_lr(lr)
        check_nonnegative("epsilon", eps)
        check_nonnegative("momentum", momentum)
        check_nonnegative("weight_decay", weight_decay)
        check_nonnegative("alpha", alpha)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update_group(self, group: dict) -> None:
        params, grads, square_avgs, grad_avgs, bufs, steps = [], [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _factories.tensor(0.0, dtype=float32)
                state["square_avg"] = _factories.zeros_like(p)
                if group["momentum"] > 0:
                    state["momentum_buffer"] = _factories.zeros_like(p)
                if group["centered"]:
                    state["grad_avg"] = _factories.zeros_like(p)
            square_avgs.append(state["square_avg"])
            steps.append(state["step"])
            if group["momentum"] > 0:
                bufs.append(state["momentum_buffer"])
            if group["centered"]:
                grad_avgs.append(state["grad_avg"])
        rmsprop(params, grads, square_avgs, grad_avgs, bufs, steps, lr=group["lr"], alpha=group["alpha"],
                eps=group["eps"], weight_decay=group["weight_decay"], momentum=group["momentum"],
                centered=group["centered"], maximize=group["maximize"])


def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffers, state_steps, *, lr, alpha, eps, weight_decay,
            momentum, centered, maximize) -> None:
    """One RMSprop step over ``params`` in place; ``momentum > 0``, ``centered``, ``weight_decay != 0``
    and ``maximize`` decide the structure, the rest may be floats or 0-dim tensors."""
    for i, param in enumerate(params):
        grad = grads[i] if not maximize else -grads[i]
        square_avg = square_avgs[i]
        state_steps[i] += 1
        if weight_decay != 0:
            grad = fma(param, weight_decay, grad)  # grad.add(param, alpha=weight_decay)
        square_avg.mul_(alpha).copy_(fma(grad * (1 - alpha), grad, square_avg))  # addcmul_(grad, grad, value=1 - alpha)
        if centered:
            grad_avg = grad_avgs[i]
            grad_avg.copy_(lerp(grad_avg, grad, 1 - alpha))
            avg = fma(-grad_avg, grad_avg, square_avg).sqrt()  # addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(eps)
        if momentum > 0:
            buf = momentum_buffers[i]
            buf.mul_(momentum).add_(grad / avg)  # addcdiv_(grad, avg)
            param.copy_(fma(buf, -lr, param))  # add_(buf, alpha=-lr)
        else:
            param.add_(grad * (-lr) / avg)  # addcdiv_(grad, avg, value=-lr)
