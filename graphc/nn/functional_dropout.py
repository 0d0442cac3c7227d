"""``graphc.nn.functional``: channel dropout (dropout1d, dropout2d, dropout3d), alpha_dropout and
feature_alpha_dropout.

Masks come from the counter-based ``rand_uniform`` op seeded by
``graphc.random.philox_seed_offset``, as F.dropout's do, so eager, compiled and exported code
draw the same masks for the same seed. Channel dropout draws one number per (sample, channel)
and broadcasts it over the spatial dims. The alpha variants keep SELU's mean and variance with
PyTorch's affine correction: kept values become ``a * x + alpha * a * p``, dropped ones
``alpha * a * (p - 1)``, where ``alpha = 1.7580993408473766`` and
``a = 1 / sqrt((alpha^2 * p + 1) * (1 - p))``.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.dropout2d(graphc.ones(2, 3, 4, 4), p=0.5).shape
    graphc.Size([2, 3, 4, 4])
"""

from __future__ import annotations

import math
import warnings

from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcValueError, ShapeError
from graphc.tensor import Tensor

from . import _prims as P
from .functional_act import _float_input, _inplace_result

_SELU_ALPHA = 1.7580993408473766  # SELU's scale * alpha: its negative saturation value


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise GraphcValueError(f"dropout probability has to be between 0 and 1, but got {p}", fix="pass 0 <= p <= 1")


def _keep_mask(shape, p: float, dtype, generator=None):
    """A bool tensor of ``shape``, True with probability 1 - p, drawn as F.dropout draws."""
    from graphc.random import philox_seed_offset

    numel = math.prod(shape)
    # Philox gives four float32 numbers per counter block but only two float64 ones
    per_value = 2 if dtype is D.float64 else 1
    seed, offset = philox_seed_offset(max(numel, 1) * per_value, generator=generator)
    seed = seed if isinstance(seed, Tensor) else P.const(seed, D.int64)
    offset = offset if isinstance(offset, Tensor) else P.const(offset, D.int64)
    u = P.apply("rand_uniform", seed, offset, shape=tuple(shape), dtype=dtype.short)
    return P.binary("lt", u, P.const(1.0 - p, dtype))


def _noise_shape(x, feature: bool):
    if not feature:
        return tuple(x.shape)
    if x.ndim < 2:
        raise ShapeError("Feature dropout requires at least 2 dimensions in the input",
                         fix="pass input of shape (N, C, ...)")
    return tuple(x.shape[:2]) + (1,) * (x.ndim - 2)


def _dropout_impl(input, p: float, training: bool, inplace: bool, feature: bool, alpha: bool, generator=None):
    """PyTorch's ``_dropout_impl``: the four dropout kinds in one place."""
    _check_p(p)
    x = _float_input("dropout", input)
    if not training or p == 0.0 or x.numel() == 0:
        return input
    shape = _noise_shape(x, feature)
    if p == 1.0:
        return _inplace_result(input, P.mul(x, P.const(0.0, x.dtype)), inplace)
    keep = _keep_mask(shape, p, x.dtype, generator)
    if alpha:
        a = 1.0 / math.sqrt((_SELU_ALPHA ** 2 * p + 1) * (1 - p))
        kept = P.add(P.mul(x, P.const(a, x.dtype)), P.const(_SELU_ALPHA * a * p, x.dtype))
        out = P.where(keep, kept, P.const(_SELU_ALPHA * a * p - _SELU_ALPHA * a, x.dtype))
    else:
        out = P.where(keep, P.mul(x, P.const(1.0 / (1.0 - p), x.dtype)), P.const(0.0, x.dtype))
    return _inplace_result(input, out, inplace)


def _unbatched(input, p: float, training: bool, inplace: bool):
    """Channel dropout of input without a batch dim: one is added, then removed."""
    if not training or p == 0.0:
        return _dropout_impl(input, p, False, False, feature=True, alpha=False)
    out = _dropout_impl(P.unsqueeze(input, 0), p, True, False, feature=True, alpha=False)
    return _inplace_result(input, P.squeeze(out, 0), inplace)


def _deprecated_dims(name: str, ndim: int, dims: tuple) -> None:
    if ndim not in dims:
        lo, hi = dims
        warnings.warn(f"{name}: Received a {ndim}-D input to {name}, which is deprecated and will result in an error "
                      "in a future release. To retain the behavior and silence this warning, please use dropout "
                      f"instead. Note that {name} exists to provide channel-wise dropout on inputs with {lo - 1} "
                      f"spatial dimensions, a channel dimension, and an optional batch dimension (i.e. {lo}D or {hi}D "
                      "inputs).", stacklevel=3)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) or (C, L) input with probability ``p``, scale the rest by 1 / (1 - p).

        >>> F.dropout1d(graphc.ones(4, 3, 5), 0.5, training=False).shape
        graphc.Size([4, 3, 5])
    """
    _check_p(p)
    if input.ndim not in (2, 3):
        raise ShapeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that dropout1d "
                         "exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel "
                         "dimension, and an optional batch dimension (i.e. 2D or 3D inputs).",
                         fix="pass input of shape (N, C, L) or (C, L); use dropout2d for (N, C, H, W)")
    if input.ndim == 2:
        return _unbatched(input, p, training, inplace)
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=False)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) input with probability ``p``; 3-D input is taken as
    (N, C, L), with PyTorch's warning.

        >>> F.dropout2d(graphc.ones(4, 3, 5, 5), 0.2, training=False).shape
        graphc.Size([4, 3, 5, 5])
    """
    _check_p(p)
    _deprecated_dims("dropout2d", input.ndim, (3, 4))
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior "
                      "will change in a future release to interpret the input as one without a batch dimension, i.e. "
                      "shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using "
                      "dropout1d instead.", stacklevel=2)
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=False)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability ``p``."""
    _check_p(p)
    _deprecated_dims("dropout3d", input.ndim, (4, 5))
    if input.ndim != 5:
        return _unbatched(input, p, training, inplace)
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=False)


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Dropout for SELU networks: dropped values take SELU's saturation value, then an affine map
    keeps mean 0 and variance 1 (note ``training`` defaults to False, as in PyTorch).

        >>> F.alpha_dropout(graphc.ones(3), 0.5).tolist()
        [1.0, 1.0, 1.0]
    """
    return _dropout_impl(input, p, training, inplace, feature=False, alpha=True)


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Alpha dropout of whole channels of (N, C, ...) input."""
    return _dropout_impl(input, p, training, inplace, feature=True, alpha=True)
