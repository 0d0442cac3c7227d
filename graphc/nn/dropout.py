"""Dropout: zero elements with probability p while training (identity in eval mode).

    >>> import graphc
    >>> from graphc import nn
    >>> m = nn.Dropout(p=0.2)
    >>> m.eval()(graphc.ones(3)).tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from graphc.ir.errors import GraphcValueError

from . import functional as F
from .module import Module


class Dropout(Module):
    """While training, zero each element with probability ``p`` and scale the rest by 1 / (1 - p)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise GraphcValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
