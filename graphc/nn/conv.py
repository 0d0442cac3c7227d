"""Convolution layers: Conv1d, Conv2d, ConvTranspose2d.

    >>> import graphc
    >>> from graphc import nn
    >>> conv = nn.Conv2d(16, 33, 3, stride=2)
    >>> conv(graphc.randn(20, 16, 50, 100)).shape
    graphc.Size([20, 33, 24, 49])
"""

from __future__ import annotations

import math

from graphc.ir.errors import GraphcValueError

from . import functional as F
from . import init
from ._factory import factory_dtype, new_param
from .module import Module


def _ntuple(v, n: int, name: str) -> tuple:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    if len(v) != n:
        raise GraphcValueError(f"{name} must be an int or a tuple of {n} ints, got {v}")
    return v


class _ConvNd(Module):
    """Shared parts of the convolution layers (PyTorch's ``_ConvNd``)."""

    _n = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, output_padding=0, device=None, dtype=None):
        super().__init__()
        n = self._n
        if groups <= 0:
            raise GraphcValueError("groups must be a positive integer")
        if in_channels % groups:
            raise GraphcValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise GraphcValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            valid = ("zeros", "reflect", "replicate", "circular")
            if padding_mode not in valid:
                raise GraphcValueError(f"padding_mode must be one of {valid}, but got padding_mode='{padding_mode}'")
            raise GraphcValueError(f"padding_mode='{padding_mode}' is not supported by graphc",
                                   fix="use padding_mode='zeros' (the default)")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise GraphcValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, n, "stride")):
                raise GraphcValueError("padding='same' is not supported for strided convolutions")
        dt = factory_dtype(device, dtype)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.stride = _ntuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n, "padding")
        self.dilation = _ntuple(dilation, n, "dilation")
        self.transposed = self._transposed
        self.output_padding = _ntuple(output_padding, n, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = new_param(shape, dt)
        if bias:
            self.bias = new_param((out_channels,), dt)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) input; weight is (C_out, C_in / groups, kernel_size)."""

    _n = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) input; weight is (C_out, C_in / groups, kH, kW).

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'``; ``padding_mode`` must be ``'zeros'``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device=device, dtype=dtype)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution; weight is (C_in, C_out / groups, kH, kW).

        >>> nn.ConvTranspose2d(16, 33, 3, stride=2)(graphc.randn(20, 16, 50, 100)).shape
        graphc.Size([20, 33, 101, 201])
    """

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
        if isinstance(padding, str):
            raise GraphcValueError("ConvTranspose2d does not take string padding", fix="pass an int or a pair")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device=device, dtype=dtype)

    def forward(self, input, output_size=None):
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)

    def _output_padding(self, input, output_size):
        """The output_padding that yields ``output_size`` (PyTorch's rule)."""
        output_size = tuple(output_size)[-2:]
        out = []
        for i, size in enumerate(input.shape[-2:]):
            least = (size - 1) * self.stride[i] - 2 * self.padding[i] + self.dilation[i] * (self.kernel_size[i] - 1) + 1
            extra = output_size[i] - least
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise GraphcValueError(f"requested an output size of {list(output_size)}, but valid sizes range from "
                                       f"{least} to {least + self.stride[i] - 1} in dimension {i}")
            out.append(extra)
        return tuple(out)
