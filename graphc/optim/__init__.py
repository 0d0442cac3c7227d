"""graphc.optim: PyTorch's optimizers and learning-rate schedulers.

    >>> import graphc
    >>> w = graphc.zeros(3, requires_grad=True)
    >>> opt = graphc.optim.Adam([w], lr=1e-3)
    >>> sched = graphc.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)

Each update rule is written with tensor operations, so the same code runs eagerly and, inside
``graphc.compile``, is traced into the compiled training step.
"""

from __future__ import annotations

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "lr_scheduler"]
