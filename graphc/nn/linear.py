"""Linear and Identity layers.

    >>> import graphc
    >>> from graphc import nn
    >>> m = nn.Linear(20, 30)
    >>> m(graphc.randn(128, 20)).shape
    graphc.Size([128, 30])
"""

from __future__ import annotations

import math

from . import functional as F
from . import init
from ._factory import factory_dtype, new_param
from .module import Module


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``; weight is (out_features, in_features).

    Initialised as PyTorch: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        dt = factory_dtype(device, dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = new_param((out_features, in_features), dt)
        if bias:
            self.bias = new_param((out_features,), dt)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
