"""Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm.

    >>> import graphc
    >>> from graphc import nn
    >>> bn = nn.BatchNorm2d(3)
    >>> bn(graphc.randn(4, 3, 5, 5)).shape
    graphc.Size([4, 3, 5, 5])
    >>> int(bn.num_batches_tracked)
    1
"""

from __future__ import annotations

from graphc import _dispatch
from graphc.autograd import no_grad
from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcValueError, ShapeError

from . import _prims as P
from . import functional as F
from ._factory import factory_dtype, new_buffer, new_param
from .module import Module


class _BatchNorm(Module):
    """PyTorch's ``_BatchNorm``: affine weight/bias and running_mean/running_var/num_batches_tracked."""

    _dims = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        dt = factory_dtype(device, dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = new_param((num_features,), dt, 1.0)
            if bias:
                self.bias = new_param((num_features,), dt, 0.0)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", new_buffer((num_features,), dt, 0.0))
            self.register_buffer("running_var", new_buffer((num_features,), dt, 1.0))
            self.register_buffer("num_batches_tracked", new_buffer((), D.int64, 0))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            for buf, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                buf._data[...] = value
                buf._version.value += 1

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        for p, value in ((self.weight, 1), (self.bias, 0)):
            if p is not None:
                p._data[...] = value
                p._version.value += 1

    def _check_input_dim(self, input) -> None:
        if input.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ShapeError(f"expected {want} input (got {input.ndim}D input)",
                             fix=f"{type(self).__name__} takes input of shape {self._shape_doc}")

    def forward(self, input):
        self._check_input_dim(input)
        if input.ndim < 2 or input.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}: expected input with {self.num_features} channels in dimension 1, "
                             f"got input of shape {P.shape_str(input.shape)}",
                             fix=f"the layer was built with num_features={self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                _dispatch.apply_inplace(self.num_batches_tracked, "add", P.const(1, D.int64))
            if self.momentum is None:  # cumulative moving average
                if P.is_traced(self.num_batches_tracked):
                    raise GraphcValueError("BatchNorm with momentum=None cannot be compiled (its factor depends on a "
                                           "counter's value)", fix="use a fixed momentum such as 0.1")
                factor = 1.0 / float(self.num_batches_tracked._data)
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        use_buffers = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_buffers else None, self.running_var if use_buffers else None,
                            self.weight, self.bias, batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input."""

    _dims = (2, 3)
    _shape_doc = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel."""

    _dims = (4,)
    _shape_doc = "(N, C, H, W)"


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims; elementwise affine by default.

        >>> nn.LayerNorm(10)(graphc.randn(20, 5, 10)).shape
        graphc.Size([20, 5, 10])
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        dt = factory_dtype(device, dtype)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = new_param(self.normalized_shape, dt, 1.0)
            if bias:
                self.bias = new_param(self.normalized_shape, dt, 0.0)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise groups of channels of (N, C, ...) input; per-channel affine by default.

        >>> nn.GroupNorm(3, 6)(graphc.randn(20, 6, 10, 10)).shape
        graphc.Size([20, 6, 10, 10])
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise GraphcValueError("num_channels must be divisible by num_groups")
        dt = factory_dtype(device, dtype)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = new_param((num_channels,), dt, 1.0)
            if bias:
                self.bias = new_param((num_channels,), dt, 0.0)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm: expected input with {self.num_channels} channels in dimension 1, got input "
                             f"of shape {P.shape_str(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, bias={self.bias is not None}"


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dims, times ``weight``;
    ``eps=None`` is the machine epsilon of the input's dtype.

        >>> nn.RMSNorm([5])(graphc.randn(3, 5)).shape
        graphc.Size([3, 5])
    """

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        dt = factory_dtype(device, dtype)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = new_param(self.normalized_shape, dt, 1.0)
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight._data[...] = 1
            self.weight._version.value += 1

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class LocalResponseNorm(Module):
    """Normalise each element by the squares of ``size`` neighbouring channels (AlexNet's LRN).

        >>> nn.LocalResponseNorm(2)(graphc.randn(2, 4, 3, 3)).shape
        graphc.Size([2, 4, 3, 3])
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
