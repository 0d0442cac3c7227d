"""``graphc.nn.functional``: batch_norm, layer_norm, group_norm, rms_norm, instance_norm, local_response_norm.

layer_norm and group_norm normalise with the composite op ``layer_norm`` (one node in traced IR,
one numpy call in eager mode), then scale and shift with ordinary ops. batch_norm is built from
reductions and elementwise ops, because its batch statistics also feed the running-statistics
update; running statistics are updated in place (under no_grad) so a compiled step turns them
into ``assign`` nodes of ``state`` buffers.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.layer_norm(graphc.randn(2, 5), (5,)).shape
    graphc.Size([2, 5])
"""

from __future__ import annotations

import math

import numpy as np

from graphc import _dispatch
from graphc.autograd import no_grad
from graphc.ir.errors import DTypeError, GraphcValueError, ShapeError

from . import _prims as P


def _float_input(name: str, x):
    if not x.dtype.is_floating_point:
        raise DTypeError(f'"{name}" not implemented for \'{x.dtype.name}\'', fix="cast the input with .float() first")
    return x


def _channel_view(t, ndim: int):
    """A (C,) tensor shaped (1, C, 1, ...) to broadcast against (N, C, ...)."""
    return P.reshape(t, (1, t.shape[0]) + (1,) * (ndim - 2))


def _update_running_(buf, stat, momentum: float) -> None:
    """buf = (1 - momentum) * buf + momentum * stat, in place and unrecorded."""
    with no_grad():
        _dispatch.apply_inplace(buf, "mul", P.const(1.0 - momentum, buf.dtype))
        _dispatch.apply_inplace(buf, "add", P.cast(P.mul(stat.detach(), P.const(momentum, stat.dtype)), buf.dtype))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each channel of (N, C, ...) input by its batch (training) or running statistics.

    When training with running buffers, they are updated in place with ``momentum``; the running
    variance uses the unbiased batch variance, as in PyTorch.

        >>> x = graphc.randn(8, 3)
        >>> F.batch_norm(x, None, None, training=True).shape
        graphc.Size([8, 3])
    """
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected a 2D or more input (N, C, ...), got {P.shape_str(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ShapeError(f"batch_norm: {name} should contain {c} elements not {t.numel()}",
                             fix=f"the input has {c} channels in dimension 1; build the layer with num_features={c}")
    dims = (0,) + tuple(range(2, input.ndim))
    if training:
        count = input.numel() // c
        if count <= 1:
            raise GraphcValueError(f"Expected more than 1 value per channel when training, got input size "
                                   f"{list(input.shape)}", fix="use a batch larger than 1, or call model.eval()")
        var, mean = P.var_mean(input, dims, keepdim=True)
        if running_mean is not None:
            _update_running_(running_mean, P.reshape(mean, (c,)), momentum)
        if running_var is not None:
            unbiased = P.mul(P.reshape(var, (c,)), P.const(count / (count - 1), var.dtype))
            _update_running_(running_var, unbiased, momentum)
    else:
        if running_mean is None or running_var is None:
            raise GraphcValueError("batch_norm: running_mean and running_var must be given when training=False",
                                   fix="pass training=True to normalise with batch statistics")
        mean = _channel_view(running_mean, input.ndim)
        var = _channel_view(running_var, input.ndim)
    inv = P.apply("rsqrt", P.add(var, P.const(eps, var.dtype)))
    out = P.mul(P.sub(input, mean), inv)
    if weight is not None:
        out = P.mul(out, _channel_view(weight, input.ndim))
    if bias is not None:
        out = P.add(out, _channel_view(bias, input.ndim))
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalise over the trailing ``normalized_shape`` dimensions, then scale and shift.

        >>> F.layer_norm(graphc.randn(4, 6), [6]).shape
        graphc.Size([4, 6])
    """
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != normalized_shape or input.ndim < k:
        raise ShapeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                         f"[*, {', '.join(map(str, normalized_shape))}], but got input of size{list(input.shape)}",
                         fix="normalized_shape must equal the last dimensions of the input")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise ShapeError(f"layer_norm: {name} of shape {list(t.shape)} does not match normalized_shape {list(normalized_shape)}")
    dims = tuple(range(input.ndim - k, input.ndim))
    out = P.apply("layer_norm", _float_input("layer_norm", input), dims=dims, eps=float(eps))
    if weight is not None:
        out = P.mul(out, weight)
    if bias is not None:
        out = P.add(out, bias)
    return out


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalise (N, C, ...) input over groups of C / num_groups channels, then scale per channel.

        >>> F.group_norm(graphc.randn(2, 6, 4), 3).shape
        graphc.Size([2, 6, 4])
    """
    if input.ndim < 2:
        raise ShapeError(f"group_norm: expected an input of shape (N, C, ...), got {P.shape_str(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise ShapeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                         f"shape {list(input.shape)} and num_groups={num_groups}")
    grouped = P.reshape(_float_input("group_norm", input), (n, num_groups, input.numel() // max(n * num_groups, 1)))
    out = P.reshape(P.apply("layer_norm", grouped, dims=(2,), eps=float(eps)), input.shape)
    if weight is not None:
        out = P.mul(out, _channel_view(weight, input.ndim))
    if bias is not None:
        out = P.add(out, _channel_view(bias, input.ndim))
    return out


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims;
    ``eps=None`` is the machine epsilon of the input's dtype, as in PyTorch.

        >>> F.rms_norm(graphc.randn(4, 6), [6]).shape
        graphc.Size([4, 6])
    """
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0:
        raise ShapeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                         "element, but got normalized_shape = []", fix="pass the trailing dims to normalise over")
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise ShapeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                         f"[*{', '.join(map(str, normalized_shape))}], but got input of size{list(input.shape)}",
                         fix="normalized_shape must equal the last dimensions of the input")
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise ShapeError(f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
                         f"{list(weight.shape)} and normalized_shape = {list(normalized_shape)}",
                         fix="weight must have the shape normalized_shape")
    x = _float_input("rms_norm", input)
    if eps is None:
        eps = float(np.finfo(x.dtype.np).eps)
    dims = tuple(range(x.ndim - k, x.ndim))
    mean_sq = P.mean(P.mul(x, x), dims, keepdim=True)
    out = P.mul(x, P.apply("rsqrt", P.add(mean_sq, P.const(eps, x.dtype))))
    return out if weight is None else P.mul(out, weight)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each channel of each sample of (N, C, ...) input over its spatial dims.

    With running buffers and ``use_input_stats``, they are updated in place with the batch
    average of the per-sample statistics (unbiased variance), as in PyTorch; with
    ``use_input_stats=False`` the running statistics normalise instead.

        >>> F.instance_norm(graphc.randn(2, 3, 5)).shape
        graphc.Size([2, 3, 5])
    """
    shape = list(input.shape)
    if use_input_stats and math.prod(shape[2:]) == 1:
        raise GraphcValueError(f"Expected more than 1 spatial element when training, got input size {shape}",
                               fix="instance norm takes input of shape (N, C, L, ...) with more than one element in L, ...")
    if input.ndim < 2:
        raise ShapeError(f"instance_norm: expected an input of shape (N, C, ...), got {P.shape_str(shape)}")
    n, c = shape[:2]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.numel() != c:
            raise ShapeError(f"{name} should contain {n * c} elements not {t.numel() * n}",
                             fix=f"the input has {c} channels in dimension 1; build the layer with num_features={c}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ShapeError("Expected running_mean and running_var to be defined when use_input_stats is false",
                         fix="pass running statistics, or use_input_stats=True")
    x = _float_input("instance_norm", input)
    if use_input_stats:
        dims = tuple(range(2, x.ndim))
        var, mean = P.var_mean(x, dims, keepdim=True)
        count = math.prod(shape[2:])
        if running_mean is not None:
            _update_running_(running_mean, P.mean(P.reshape(mean, (n, c)), (0,)), momentum)
        if running_var is not None:
            unbiased = P.mul(P.reshape(var, (n, c)), P.const(count / (count - 1), var.dtype))
            _update_running_(running_var, P.mean(unbiased, (0,)), momentum)
    else:
        mean, var = _channel_view(running_mean, x.ndim), _channel_view(running_var, x.ndim)
    out = P.mul(P.sub(x, mean), P.apply("rsqrt", P.add(var, P.const(eps, var.dtype))))
    if weight is not None:
        out = P.mul(out, _channel_view(weight, x.ndim))
    if bias is not None:
        out = P.add(out, _channel_view(bias, x.ndim))
    return out


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
    """``x / (k + alpha / size * sum of x^2 over size neighbouring channels) ** beta`` (AlexNet's LRN).

        >>> F.local_response_norm(graphc.randn(2, 6, 4, 4), 3).shape
        graphc.Size([2, 6, 4, 4])
    """
    if input.ndim < 3:
        raise GraphcValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)",
                               fix="local_response_norm takes input of shape (N, C, d1, ...)")
    if input.numel() == 0:
        return input
    x = _float_input("local_response_norm", input)
    c = x.shape[1]
    pads = ((0, 0), (size // 2, (size - 1) // 2)) + ((0, 0),) * (x.ndim - 2)
    sq = P.apply("pad", P.mul(x, x), pads=pads, value=0.0)
    window = P.slice_(sq, 1, 0, c)
    for j in range(1, size):  # the sum over each window of `size` channels: `size` shifted slices
        window = P.add(window, P.slice_(sq, 1, j, j + c))
    div = P.add(P.mul(window, P.const(alpha / size, x.dtype)), P.const(k, x.dtype))
    return P.div(x, P.binary("pow", div, P.const(beta, x.dtype)))
