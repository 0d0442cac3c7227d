"""``PolynomialLR`` and ``ChainedScheduler``, as PyTorch's.

    >>> import graphc
    >>> opt = graphc.optim.SGD([graphc.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = graphc.optim.lr_scheduler.PolynomialLR(opt, total_iters=4, power=2.0)
    >>> lrs = []
    >>> for _ in range(5):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(round(sched.get_last_lr()[0], 4))
    >>> lrs
    [0.5625, 0.25, 0.0625, 0.0, 0.0]
"""

from __future__ import annotations

from graphc.ir.errors import GraphcTypeError, GraphcValueError

from .lr_scheduler import LRScheduler, _NestedState, param_groups_val_list

__all__ = ["PolynomialLR", "ChainedScheduler"]


class PolynomialLR(LRScheduler):
    """Decay the lr by ``(1 - t / total_iters) ** power`` over ``total_iters`` steps, then hold it."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        self._warn_get_lr()
        if self._is_initial or self.last_epoch > self.total_iters:
            return param_groups_val_list(self.optimizer, "lr")
        # the chainable form: the ratio of this step's factor to the last one's
        factor = ((1.0 - self.last_epoch / self.total_iters)
                  / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list:
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (1.0 - done) ** self.power for base in self.base_lrs]


class ChainedScheduler(_NestedState, LRScheduler):
    """Step several chainable schedulers of one optimizer at once (their factors multiply)."""

    def __init__(self, schedulers, optimizer=None):
        from .reduce_lr_on_plateau import ReduceLROnPlateau

        name = type(self).__name__
        if len(schedulers) < 1:
            raise GraphcValueError(f"{name} expects at least one scheduler to be chained, but got no scheduler.",
                                   fix="pass a list of schedulers")
        optimizer = optimizer or schedulers[0].optimizer
        for i, s in enumerate(schedulers):
            if not hasattr(s, "optimizer"):
                raise GraphcTypeError(f"{name} at index {i} should have `optimizer` as its attribute.",
                                      fix="pass graphc.optim.lr_scheduler schedulers")
            if isinstance(s, ReduceLROnPlateau):
                raise GraphcValueError(f"{name} does not support `ReduceLROnPlateau` scheduler as it requires "
                                       "additional kwargs to be specified when calling `step`, but got one at index "
                                       f"{i} in the given schedulers sequence.",
                                       fix="step ReduceLROnPlateau on its own, with the metric")
            if optimizer is not s.optimizer:
                raise GraphcValueError(f"{name} expects all schedulers to belong to the same optimizer, but got "
                                       f"scheduler {type(s).__name__} at index {i} has {s.optimizer}, which is "
                                       f"different from {type(optimizer).__name__}.",
                                       fix="chain schedulers of one optimizer")
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = param_groups_val_list(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:
        for s in self._schedulers:
            s.step()
        self._last_lr = param_groups_val_list(self._schedulers[-1].optimizer, "lr")
