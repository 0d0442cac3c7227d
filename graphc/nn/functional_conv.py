"""``graphc.nn.functional``: linear, convolutions and pooling.

Each function checks shapes as PyTorch does (a ShapeError that names the expected shape) and
lowers to the composite op ``linear`` (which the compiler decomposes into ``matmul``) or the
primitive ops ``conv2d``, ``conv2d_backward_input``, ``max_pool2d`` and ``avg_pool2d``; Conv1d is
Conv2d with a height of 1.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.linear(graphc.ones(2, 3), graphc.ones(4, 3)).shape
    graphc.Size([2, 4])
"""

from __future__ import annotations

import math

from graphc.ir.errors import GraphcTypeError, GraphcValueError, ShapeError

from . import _prims as P


def _pair(v, name: str = "argument") -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) != 2:
        raise GraphcValueError(f"expected {name} to be an int or a pair of ints, got {v}")
    return (int(v[0]), int(v[1]))


def _single(v) -> int:
    if isinstance(v, int):
        return v
    (v,) = tuple(v)
    return int(v)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` over the last dimension of ``input``.

        >>> F.linear(graphc.ones(5, 3), graphc.ones(2, 3), graphc.zeros(2)).shape
        graphc.Size([5, 2])
    """
    if weight.ndim != 2:
        raise ShapeError(f"linear: expected a 2-D weight (out_features, in_features), got shape {P.shape_str(weight.shape)}")
    out_f, in_f = weight.shape
    if input.ndim == 0 or input.shape[-1] != in_f:
        raise ShapeError(
            f"mat1 and mat2 shapes cannot be multiplied: input of shape {P.shape_str(input.shape)} "
            f"(expected [*, {in_f}]) and weight of shape {P.shape_str(weight.shape)}",
            fix=f"the last dimension of the input must be in_features={in_f}; flatten or reshape the input first")
    if input.dtype is weight.dtype and not input.dtype.is_bool and (
            bias is None or (bias.dtype is input.dtype and tuple(bias.shape) == (out_f,))):
        return P.apply("linear", *((input, weight) if bias is None else (input, weight, bias)))
    # mixed dtypes (promoted as PyTorch does) or a broadcast bias: the same computation in core ops
    lead = tuple(input.shape[:-1])
    rows = math.prod(lead)
    x2 = P.reshape(input, (rows, in_f))
    out = P.apply("matmul", x2, P.transpose2d(weight))
    if bias is not None:
        out = P.add(out, bias)
    return P.reshape(out, lead + (out_f,))


def _check_conv_input(name: str, input, weight, groups: int, spatial: int):
    want = spatial + 2
    if input.ndim not in (want - 1, want):
        dims = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
        raise ShapeError(f"Expected {want - 1}D (unbatched) or {want}D (batched) input to {name}, but got input of "
                         f"size: {P.shape_str(input.shape)}", fix=f"{name} takes input of shape {dims}")
    if weight.ndim != want:
        raise ShapeError(f"{name}: expected a {want}-D weight, got shape {P.shape_str(weight.shape)}")
    channels = input.shape[-spatial - 1]
    if channels != weight.shape[1] * groups:
        raise ShapeError(
            f"Given groups={groups}, weight of size {P.shape_str(weight.shape)}, expected input"
            f"{P.shape_str(input.shape)} to have {weight.shape[1] * groups} channels, but got {channels} channels instead",
            fix=f"the input must have {weight.shape[1] * groups} channels in dimension {input.ndim - spatial - 1}")


def _same_padding(kernel, dilation, stride):
    """PyTorch's 'same' padding: (lo, hi) per spatial dim; the odd extra goes after."""
    if any(s != 1 for s in stride):
        raise GraphcValueError("padding='same' is not supported for strided convolutions", fix="use stride=1 or an explicit padding")
    pads = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over (N, C, H, W) input (or (C, H, W) unbatched); ``padding`` may be
    an int, a pair, ``'valid'`` or ``'same'``.

        >>> F.conv2d(graphc.ones(1, 3, 8, 8), graphc.ones(6, 3, 3, 3), padding=1).shape
        graphc.Size([1, 6, 8, 8])
    """
    _check_conv_input("conv2d", input, weight, groups, 2)
    unbatched = input.ndim == 3
    if unbatched:
        input = P.unsqueeze(input, 0)
    if weight.shape[0] % groups:
        raise ShapeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                         f"but got weight of size {P.shape_str(weight.shape)} instead")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0, 0)
        elif padding == "same":
            pads = _same_padding(weight.shape[2:], dilation, stride)
            if all(lo == hi for lo, hi in pads):
                pad = (pads[0][0], pads[1][0])
            else:
                input = P.apply("pad", input, pads=((0, 0), (0, 0)) + tuple(pads), value=0.0)
                pad = (0, 0)
        else:
            raise GraphcValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    else:
        pad = _pair(padding, "padding")
    h, w = input.shape[2] + 2 * pad[0], input.shape[3] + 2 * pad[1]
    kh, kw = (dilation[0] * (weight.shape[2] - 1) + 1, dilation[1] * (weight.shape[3] - 1) + 1)
    if h < kh or w < kw:
        raise ShapeError(f"Calculated padded input size per channel: ({h} x {w}). Kernel size: ({kh} x {kw}). "
                         "Kernel size can't be greater than actual input size", fix="use a larger input or more padding")
    out = P.apply("conv2d", input, weight, stride=stride, padding=pad, dilation=dilation, groups=groups)
    if bias is not None:
        out = P.add(out, P.reshape(bias, (1, bias.shape[0], 1, 1)))
    return P.squeeze(out, 0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C, L) input: a conv2d with a height of 1.

        >>> F.conv1d(graphc.ones(2, 4, 10), graphc.ones(8, 4, 3)).shape
        graphc.Size([2, 8, 8])
    """
    _check_conv_input("conv1d", input, weight, groups, 1)
    x = P.unsqueeze(input, -2)
    w = P.unsqueeze(weight, -2)
    if isinstance(padding, str):
        pad = padding
    else:
        pad = (0, _single(padding))
    out = conv2d(x, w, bias, (1, _single(stride)), pad, (1, _single(dilation)), groups)
    return P.squeeze(out, -2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution ("deconvolution"); weight is (C_in, C_out / groups, kH, kW).

        >>> F.conv_transpose2d(graphc.ones(1, 4, 5, 5), graphc.ones(4, 2, 3, 3), stride=2).shape
        graphc.Size([1, 2, 11, 11])
    """
    if input.ndim not in (3, 4):
        raise ShapeError(f"Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: "
                         f"{P.shape_str(input.shape)}")
    if weight.ndim != 4:
        raise ShapeError(f"conv_transpose2d: expected a 4-D weight, got shape {P.shape_str(weight.shape)}")
    unbatched = input.ndim == 3
    if unbatched:
        input = P.unsqueeze(input, 0)
    if input.shape[1] != weight.shape[0]:
        raise ShapeError(f"Given transposed=1, weight of size {P.shape_str(weight.shape)}, expected input"
                         f"{P.shape_str(input.shape)} to have {weight.shape[0]} channels, but got {input.shape[1]} channels instead")
    if isinstance(padding, str):
        raise GraphcTypeError("conv_transpose2d does not take string padding", fix="pass an int or a pair")
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    dilation, output_padding = _pair(dilation, "dilation"), _pair(output_padding, "output_padding")
    for op_, s, d in zip(output_padding, stride, dilation, strict=True):
        if op_ >= max(s, d):
            raise GraphcValueError("output padding must be smaller than either stride or dilation, "
                                   f"but got output_padding={output_padding}, stride={stride}, dilation={dilation}")
    n, _, h, w = input.shape
    out_hw = [(size - 1) * s - 2 * p + d * (k - 1) + op_ + 1
              for size, s, p, d, k, op_ in zip((h, w), stride, padding, dilation, weight.shape[2:], output_padding, strict=True)]
    if min(out_hw) <= 0:
        raise ShapeError(f"conv_transpose2d: the output size {out_hw} is too small", fix="use less padding")
    out = P.apply("conv2d_backward_input", input, weight, input_shape=(n, weight.shape[1] * groups, *out_hw),
                  stride=stride, padding=padding, dilation=dilation, groups=groups)
    if bias is not None:
        out = P.add(out, P.reshape(bias, (1, bias.shape[0], 1, 1)))
    return P.squeeze(out, 0) if unbatched else out


def _pool_input(name, input):
    if input.ndim not in (3, 4):
        raise ShapeError(f"{name}: Expected 3D or 4D (batch mode) tensor for input, but got: {P.shape_str(input.shape)}")
    return (P.unsqueeze(input, 0), True) if input.ndim == 3 else (input, False)


def _check_pool_padding(kernel, padding):
    for k, p in zip(kernel, padding, strict=True):
        if p > k // 2:
            raise GraphcValueError(f"pad should be at most half of effective kernel size, but got pad={p}, kernel_size={k}")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling (stride defaults to kernel_size).

        >>> F.max_pool2d(graphc.ones(1, 1, 4, 4), 2).shape
        graphc.Size([1, 1, 2, 2])
    """
    if return_indices:
        raise GraphcValueError("max_pool2d(return_indices=True) is not supported by graphc",
                               fix="use return_indices=False (MaxUnpool2d is not available)")
    x, unbatched = _pool_input("max_pool2d", input)
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride)
    padding = _pair(padding)
    _check_pool_padding(kernel, padding)
    out = P.apply("max_pool2d", x, kernel=kernel, stride=stride, padding=padding, dilation=_pair(dilation),
                  ceil_mode=bool(ceil_mode))
    return P.squeeze(out, 0) if unbatched else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """2-D average pooling (stride defaults to kernel_size).

        >>> F.avg_pool2d(graphc.ones(1, 1, 4, 4), 2).shape
        graphc.Size([1, 1, 2, 2])
    """
    if divisor_override is not None:
        raise GraphcValueError("avg_pool2d(divisor_override=...) is not supported by graphc",
                               fix="multiply the result by kernel_area / divisor instead")
    x, unbatched = _pool_input("avg_pool2d", input)
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride)
    padding = _pair(padding)
    _check_pool_padding(kernel, padding)
    out = P.apply("avg_pool2d", x, kernel=kernel, stride=stride, padding=padding, ceil_mode=bool(ceil_mode),
                  count_include_pad=bool(count_include_pad))
    return P.squeeze(out, 0) if unbatched else out


def adaptive_bins(x, dim: int, out_size: int, reduce):
    """``reduce(part, dims, keepdim=True)`` of ``x`` along ``dim`` over ``out_size`` bins with
    PyTorch's start/end rule (bins may overlap when the size does not divide)."""
    size = x.shape[dim]
    if out_size == size:
        return x
    parts = []
    for i in range(out_size):
        start = (i * size) // out_size
        end = -((-(i + 1) * size) // out_size)  # ceil((i + 1) * size / out_size)
        parts.append(reduce(P.slice_(x, dim, start, end), (dim,), keepdim=True))
    return P.concat(parts, dim)


def _adaptive_mean(x, dim: int, out_size: int):
    """Average ``x`` along ``dim`` into ``out_size`` bins."""
    return adaptive_bins(x, dim, out_size, P.mean)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (``None`` keeps that input size).

        >>> F.adaptive_avg_pool2d(graphc.ones(2, 3, 7, 5), (3, 1)).shape
        graphc.Size([2, 3, 3, 1])
    """
    x, unbatched = _pool_input("adaptive_avg_pool2d", input)
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    h, w = x.shape[2:]
    oh, ow = (h if output_size[0] is None else output_size[0]), (w if output_size[1] is None else output_size[1])
    if oh <= 0 or ow <= 0:
        raise GraphcValueError(f"adaptive_avg_pool2d: output size must be positive, got {(oh, ow)}")
    if h % oh == 0 and w % ow == 0:
        k = (h // oh, w // ow)
        out = x if k == (1, 1) else P.apply("avg_pool2d", x, kernel=k, stride=k, padding=(0, 0), ceil_mode=False,
                                             count_include_pad=True)
    else:  # bins of uneven size: the mean over a rectangle is the mean over rows, then columns
        out = _adaptive_mean(_adaptive_mean(x, 2, oh), 3, ow)
    return P.squeeze(out, 0) if unbatched else out
