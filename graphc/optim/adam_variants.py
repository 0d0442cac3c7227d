"""Adamax, NAdam and RAdam, PyTorch's Adam variants, in PyTorch's operation order
(``_single_tensor_adamax``, ``_nadam``, ``_radam``), written with tensor operations only so the
same update runs eagerly and inside a compiled step.

The step count is a float32 0-dim tensor (``state['step']``); the scalars PyTorch computes in
Python doubles from it (bias corrections, NAdam's momentum schedule, RAdam's rectification) are
computed in float64 tensors here, and RAdam's ``rho_t > 5`` branch is a ``where``, so a compiled
step takes the right branch at every step:

    >>> import graphc
    >>> w = graphc.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = graphc.optim.RAdam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.8, -1.6]
"""

from __future__ import annotations

from graphc import factories as _factories
from graphc.ir.dtypes import float32

from .adam import _check_betas
from .optimizer import (
    Optimizer,
    check_lr,
    check_nonnegative,
    check_unknown_options,
    check_unsupported,
)
from .rounding import as_float64, fma, lerp

__all__ = ["Adamax", "NAdam", "RAdam"]


def _common_checks(name, unknown, differentiable, lr, eps, betas, weight_decay) -> tuple:
    check_unknown_options(name, unknown)
    check_unsupported(name, differentiable)
    check_lr(lr)
    check_nonnegative("epsilon", eps)
    betas = tuple(betas)
    _check_betas(betas)
    check_nonnegative("weight_decay", weight_decay)
    return betas


def _decay(param, grad, lr, weight_decay, decoupled: bool):
    """Weight decay as PyTorch applies it: ``p *= 1 - lr * wd`` (decoupled) or ``grad + wd * p``."""
    if weight_decay == 0:
        return grad
    if decoupled:
        param.mul_(1 - lr * weight_decay)
        return grad
    return fma(param, weight_decay, grad)  # grad.add(param, alpha=weight_decay)


class _Variant(Optimizer):
    """Collects each parameter's gradient and state (created on its first step) for ``_apply``."""

    state_keys: tuple = ()

    def _update_group(self, group: dict) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _factories.tensor(0.0, dtype=float32)
                for key in self.state_keys:
                    state[key] = (_factories.tensor(1.0, dtype=float32) if key == "mu_product"
                                  else _factories.zeros_like(p))
            grad = p.grad if not group["maximize"] else -p.grad
            state["step"] += 1
            self._apply(p, grad, state, group)


class Adamax(_Variant):
    """``torch.optim.Adamax``: Adam with the infinity norm (``exp_inf``) in place of ``exp_avg_sq``."""

    state_keys = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False, **unknown):
        betas = _common_checks("Adamax", unknown, differentiable, lr, eps, betas, weight_decay)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                                  "capturable": capturable})

    def _apply(self, param, grad, state, group) -> None:
        beta1, beta2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        grad = _decay(param, grad, lr, group["weight_decay"], False)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg.copy_(lerp(exp_avg, grad, 1 - beta1))
        exp_inf.copy_((exp_inf * beta2).maximum(grad.abs() + eps))
        clr = as_float64(lr) / (1 - as_float64(beta1) ** state["step"].double())
        param.add_(exp_avg * (-clr) / exp_inf)  # addcdiv_(exp_avg, exp_inf, value=-clr)


class NAdam(_Variant):
    """``torch.optim.NAdam``: Adam with Nesterov momentum and the momentum schedule
    ``mu_t = beta1 (1 - 0.5 * 0.96 ** (t * momentum_decay))``; ``decoupled_weight_decay`` as AdamW."""

    state_keys = ("mu_product", "exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, **unknown):
        betas = _common_checks("NAdam", unknown, differentiable, lr, eps, betas, weight_decay)
        check_nonnegative("momentum_decay", momentum_decay)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize, "foreach": foreach, "capturable": capturable,
                                  "differentiable": differentiable})

    def _apply(self, param, grad, state, group) -> None:
        beta1, beta2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        step = state["step"].double()
        b1, b2, decay = as_float64(beta1), as_float64(beta2), as_float64(group["momentum_decay"])
        bias_correction2 = 1 - b2 ** step
        grad = _decay(param, grad, lr, group["weight_decay"], group["decoupled_weight_decay"])
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        mu_product = state["mu_product"]
        mu_product.mul_(mu)  # (float32 state, as PyTorch's)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.copy_(lerp(exp_avg, grad, 1 - beta1))
        exp_avg_sq.mul_(beta2).copy_(fma(grad * (1 - beta2), grad, exp_avg_sq))  # addcmul_(grad, grad, value=1 - beta2)
        denom = (exp_avg_sq / bias_correction2).sqrt() + eps
        product = mu_product.double()
        lr64 = as_float64(lr)
        param.add_(grad * (-lr64 * (1.0 - mu) / (1.0 - product)) / denom)
        param.add_(exp_avg * ((-lr64 * mu_next) / (1.0 - product * mu_next)) / denom)


class RAdam(_Variant):
    """``torch.optim.RAdam``: Adam whose adaptive step is rectified, and skipped while the
    variance estimate is unreliable (``rho_t <= 5``); ``decoupled_weight_decay`` as AdamW."""

    state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False, **unknown):
        betas = _common_checks("RAdam", unknown, differentiable, lr, eps, betas, weight_decay)
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                                  "foreach": foreach, "capturable": capturable, "differentiable": differentiable})

    def _apply(self, param, grad, state, group) -> None:
        import graphc

        beta1, beta2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        step = state["step"].double()
        b1, b2 = as_float64(beta1), as_float64(beta2)
        grad = _decay(param, grad, lr, group["weight_decay"], group["decoupled_weight_decay"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.copy_(lerp(exp_avg, grad, 1 - beta1))
        exp_avg_sq.mul_(beta2).copy_(fma(grad * (1 - beta2), grad, exp_avg_sq))
        bias_correction1 = 1 - b1 ** step
        bias_correction2 = 1 - b2 ** step
        corrected = exp_avg / bias_correction1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2 ** step) / bias_correction2
        # (rho_t - 4)(rho_t - 2) < 0 early on makes rect NaN; that branch is not taken then
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)).clamp(min=0).sqrt()
        adaptive = bias_correction2.sqrt() / (exp_avg_sq.sqrt() + eps)
        lr64 = as_float64(lr)
        rectified = corrected * lr64 * adaptive * rect
        param.sub_(graphc.where(rho_t > 5.0, rectified, corrected * lr64))
