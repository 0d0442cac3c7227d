"""Instance normalisation layers: InstanceNorm1d, InstanceNorm2d.

Each channel of each sample is normalised over its spatial dims. The parameters and buffers are
BatchNorm's (``affine=False`` and ``track_running_stats=False`` by default, as in PyTorch); with
tracked statistics, training updates them and eval mode normalises with them.

    >>> import graphc
    >>> from graphc import nn
    >>> nn.InstanceNorm2d(3)(graphc.randn(4, 3, 5, 5)).shape
    graphc.Size([4, 3, 5, 5])
"""

from __future__ import annotations

import warnings

from graphc.ir.errors import GraphcValueError

from . import _prims as P
from . import functional as F
from .normalization import _BatchNorm


class _InstanceNorm(_BatchNorm):
    """PyTorch's ``_InstanceNorm``: a ``_NormBase`` whose forward normalises per sample."""

    _no_batch_dim = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def _check_input_dim(self, input) -> None:
        if input.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise GraphcValueError(f"expected {want} input (got {input.ndim}D input)",
                                   fix=f"{type(self).__name__} takes input of shape {self._shape_doc}")

    def forward(self, input):
        self._check_input_dim(input)
        feature_dim = input.ndim - self._no_batch_dim
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise GraphcValueError(f"expected input's size at dim={feature_dim} to match num_features "
                                       f"({self.num_features}), but got: {input.shape[feature_dim]}.",
                                       fix=f"the layer was built with num_features={self.num_features}")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You can silence this "
                          "warning by not passing in num_features, which is not used because affine=False",
                          stacklevel=2)
        unbatched = input.ndim == self._no_batch_dim
        x = P.unsqueeze(input, 0) if unbatched else input
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              self.momentum if self.momentum is not None else 0.0, self.eps)
        return P.squeeze(out, 0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) or unbatched (C, L) input."""

    _dims = (2, 3)
    _no_batch_dim = 2
    _shape_doc = "(N, C, L) or (C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) or unbatched (C, H, W) input."""

    _dims = (3, 4)
    _no_batch_dim = 3
    _shape_doc = "(N, C, H, W) or (C, H, W)"
