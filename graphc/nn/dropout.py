"""Dropout, Dropout1d/2d/3d (whole channels), AlphaDropout, FeatureAlphaDropout: identity in eval mode.

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
            raise GraphcValueError(f"dropout probability has to be between 0 and 1, but got {p}", fix="pass 0 <= p <= 1")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(Dropout):
    """While training, zero whole channels of (N, C, L) or (C, L) input with probability ``p``
    and scale the rest by 1 / (1 - p)."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(Dropout):
    """While training, zero whole channels of (N, C, H, W) input with probability ``p``
    and scale the rest by 1 / (1 - p)."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(Dropout):
    """While training, zero whole channels of (N, C, D, H, W) or (C, D, H, W) input."""

    def forward(self, input):
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(Dropout):
    """Dropout for SELU networks: keeps the input's mean 0 and variance 1 while training.

        >>> nn.AlphaDropout(0.2)(graphc.randn(4, 5)).shape
        graphc.Size([4, 5])
    """

    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(Dropout):
    """Alpha dropout of whole channels of (N, C, ...) input."""

    def forward(self, input):
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace)
