"""Adam and AdamW (decoupled weight decay), with AMSGrad and ``maximize``.

The update is PyTorch's ``_single_tensor_adam`` in PyTorch's operation order, written with
tensor operations only. The step count is a float32 0-dim tensor (``state['step']``) and the
bias corrections are computed from it in float64, as PyTorch computes them in Python floats:

    >>> import graphc
    >>> w = graphc.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = graphc.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
"""

from __future__ import annotations

from graphc import factories as _factories
from graphc.ir.dtypes import float32
from graphc.ir.errors import GraphcValueError
from graphc.tensor import Tensor

from .optimizer import (
    Optimizer,
    check_lr,
    check_nonnegative,
    check_unknown_options,
    check_unsupported,
)
from .rounding import as_float64, fma, lerp

__all__ = ["Adam", "AdamW", "adam"]


def _check_betas(betas) -> None:
    for i, b in enumerate(betas):
        if isinstance(b, Tensor) and b.numel() != 1:
            raise GraphcValueError(f"Tensor betas[{i}] must be 1-element")
        if not 0.0 <= b < 1.0:
            raise GraphcValueError(f"Invalid beta parameter at index {i}: {b}", fix="use betas in [0, 1)")
    if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
        raise GraphcValueError("betas must be either both floats or both Tensors")


class Adam(Optimizer):
    """``torch.optim.Adam``: adaptive moment estimation (``weight_decay`` added to the gradient)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False, **unknown):
        name = "AdamW" if type(self) is AdamW else "Adam"
        check_unknown_options(name, unknown)
        check_unsupported(name, differentiable)
        check_lr(lr)
        check_nonnegative("epsilon", eps)
        betas = tuple(betas)
        _check_betas(betas)
        check_nonnegative("weight_decay", weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _update_group(self, group: dict) -> None:
        params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps = [], [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _factories.tensor(0.0, dtype=float32)
                state["exp_avg"] = _factories.zeros_like(p)
                state["exp_avg_sq"] = _factories.zeros_like(p)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = _factories.zeros_like(p)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_sqs.append(state["max_exp_avg_sq"])
            steps.append(state["step"])
        beta1, beta2 = group["betas"]
        adam(params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps, amsgrad=group["amsgrad"], beta1=beta1,
             beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
             maximize=group["maximize"], decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (``p *= 1 - lr * weight_decay``)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None, **unknown):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, **unknown)


def adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, amsgrad, beta1, beta2, lr,
         weight_decay, eps, maximize, decoupled_weight_decay) -> None:
    """One Adam/AdamW step over ``params`` in place (PyTorch's single-tensor arithmetic).

    Numeric hyperparameters may be Python floats or 0-dim tensors; ``weight_decay != 0``,
    ``amsgrad``, ``maximize`` and ``decoupled_weight_decay`` decide the structure.
    """
    for i, param in enumerate(params):
        grad = grads[i] if not maximize else -grads[i]
        exp_avg, exp_avg_sq, step_t = exp_avgs[i], exp_avg_sqs[i], state_steps[i]
        step_t += 1
        if weight_decay != 0:
            if decoupled_weight_decay:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = fma(param, weight_decay, grad)  # grad.add(param, alpha=weight_decay)
        exp_avg.copy_(lerp(exp_avg, grad, 1 - beta1))
        exp_avg_sq.mul_(beta2).copy_(fma(grad * (1 - beta2), grad, exp_avg_sq))  # addcmul_(grad, grad, value=1 - beta2)
        step = step_t.double()  # PyTorch computes the bias corrections in Python (double) floats
        bias_correction1 = 1 - as_float64(beta1) ** step
        bias_correction2 = 1 - as_float64(beta2) ** step
        step_size = as_float64(lr) / bias_correction1
        bias_correction2_sqrt = bias_correction2.sqrt()
        if amsgrad:
            max_sq = max_exp_avg_sqs[i]
            max_sq.copy_(max_sq.maximum(exp_avg_sq))
            denom = (max_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        else:
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        param.add_(exp_avg * (-step_size) / denom)  # addcdiv_(exp_avg, denom, value=-step_size)
