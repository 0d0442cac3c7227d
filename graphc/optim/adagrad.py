"""Adagrad, with learning-rate decay and weight decay (PyTorch's ``_single_tensor_adagrad``).

As in PyTorch, the state (``step`` and the running ``sum``) is created when the optimizer is
constructed, not at the first step:

    >>> import graphc
    >>> w = graphc.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = graphc.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
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
from .rounding import as_float64, fma

__all__ = ["Adagrad", "adagrad"]


class Adagrad(Optimizer):
    """``torch.optim.Adagrad``: per-element learning rates from the sum of squared gradients."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None, **unknown):
        check_unknown_options("Adagrad", unknown)
        check_unsupported("Adagrad", differentiable)
        check_lr(lr)
        check_nonnegative("lr_decay", lr_decay)
        check_nonnegative("weight_decay", weight_decay)
        check_nonnegative("initial_accumulator_value", initial_accumulator_value)
        check_nonnegative("epsilon", eps)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p) -> None:
        state = self.state[p]
        state["step"] = _factories.tensor(0.0, dtype=float32)
        state["sum"] = _factories.full_like(p, self.defaults["initial_accumulator_value"])

    def _update_group(self, group: dict) -> None:
        params, grads, sums, steps = [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            if len(self.state[p]) == 0:  # a group added after construction
                self._init_state(p)
            sums.append(self.state[p]["sum"])
            steps.append(self.state[p]["step"])
        adagrad(params, grads, sums, steps, lr=group["lr"], weight_decay=group["weight_decay"],
                lr_decay=group["lr_decay"], eps=group["eps"], maximize=group["maximize"])


def adagrad(params, grads, state_sums, state_steps, *, lr, weight_decay, lr_decay, eps, maximize) -> None:
    """One Adagrad step over ``params`` in place; the decayed rate is computed in float64 as
    PyTorch computes it in Python floats."""
    for param, grad, state_sum, step_t in zip(params, grads, state_sums, state_steps, strict=True):
        step_t += 1
        step = step_t.double()
        grad = grad if not maximize else -grad
        if weight_decay != 0:
            grad = fma(param, weight_decay, grad)  # grad.add(param, alpha=weight_decay)
        clr = as_float64(lr) / (1 + (step - 1) * as_float64(lr_decay))
        state_sum.copy_(fma(grad, grad, state_sum))  # addcmul_(grad, grad, value=1)
        std = state_sum.sqrt().add_(eps)
        param.add_(grad * (-clr) / std)  # addcdiv_(grad, std, value=-clr)
