"""``graphc.nn.functional``: interpolate (nearest, nearest-exact, linear, bilinear, trilinear,
area), pixel_shuffle and pixel_unshuffle.

No resampling op: resizing is separable, so each spatial dim is resized in turn by a ``take``
of constant source indices (nearest) or two ``take``s blended with constant weights (linear).
The indices and weights are computed in numpy with PyTorch's CPU arithmetic (float32 scales for
float32 input), so the picked pixels are PyTorch's. An integer nearest upscale is a broadcast
(``expand``) instead of a gather. Pixel (un)shuffle is a reshape, a permute and a reshape.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.interpolate(graphc.ones(1, 2, 3, 3), scale_factor=2, mode="bilinear").shape
    graphc.Size([1, 2, 6, 6])
    >>> F.pixel_shuffle(graphc.ones(1, 8, 3, 3), 2).shape
    graphc.Size([1, 2, 6, 6])
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import (
    DTypeError,
    GraphcNotImplementedError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
)

from . import _prims as P

_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"
_LINEAR_DIMS = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _take(x, dim: int, index: np.ndarray):
    """``x`` indexed along ``dim`` by constant indices (a broadcast when it repeats each entry k times)."""
    size, out = x.shape[dim], len(index)
    if out == size and np.array_equal(index, np.arange(size)):
        return x
    if out % size == 0 and np.array_equal(index, np.arange(out) // (out // size)):
        k = out // size
        shape = list(x.shape)
        y = P.unsqueeze(x, dim + 1)
        y = P.expand(y, shape[:dim + 1] + [k] + shape[dim + 1:])
        return P.reshape(y, shape[:dim] + [out] + shape[dim + 1:])
    return P.apply("take", x, P.array(index, D.int64), dim=dim)


def _float_scale(in_size: int, out_size: int, scale, ftype):
    """PyTorch's compute_scales_value: 1 / scale_factor when one was given, else in / out."""
    if scale is not None and scale > 0:
        return ftype(1.0 / scale)
    return ftype(in_size) / ftype(out_size)


def _nearest_index(in_size: int, out_size: int, scale, exact: bool, shortcuts: bool) -> np.ndarray:
    """Source index per output index, as PyTorch's nearest_idx / nearest_exact_idx (float32 math).

    PyTorch's 2-D nearest kernel alone (``shortcuts``) copies when the sizes are equal and
    halves indices when the output is twice the input, whatever the scale factor says; its 1-D
    and 3-D kernels apply the scale (``scale_factor=1.1`` on 4 pixels gives 0, 0, 1, 2 there).
    """
    f32 = np.float32
    if not exact and shortcuts and out_size in (in_size, 2 * in_size):
        return np.arange(out_size) // (out_size // in_size)
    if not exact:
        src = np.floor(np.arange(out_size, dtype=f32) * _float_scale(in_size, out_size, scale, f32))
    else:
        s = np.float64(_float_scale(in_size, out_size, scale, f32))
        src = np.floor(((np.arange(out_size) + 0.5) * s).astype(f32))
    return np.minimum(src.astype(np.int64), in_size - 1)


def _linear_taps(in_size: int, out_size: int, align_corners: bool, scale, ftype):
    """(index0, index1, lambda0, lambda1) of PyTorch's compute_source_index_and_lambda."""
    if out_size == in_size:
        idx = np.arange(out_size)
        return idx, idx, np.ones(out_size, ftype), np.zeros(out_size, ftype)
    dst = np.arange(out_size).astype(ftype)
    if align_corners:
        ratio = ftype(in_size - 1) / ftype(out_size - 1) if out_size > 1 else ftype(0)
        real = ratio * dst
    else:
        ratio = _float_scale(in_size, out_size, scale, ftype)
        real = np.maximum(ratio * (dst + ftype(0.5)) - ftype(0.5), ftype(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    lam1 = np.clip(real - i0.astype(ftype), ftype(0), ftype(1)).astype(ftype)
    i1 = i0 + (i0 < in_size - 1)
    return i0, i1, (ftype(1) - lam1).astype(ftype), lam1


def _weights(lam: np.ndarray, dim: int, ndim: int, dtype):
    shape = [1] * ndim
    shape[dim] = len(lam)
    return P.array(lam.reshape(shape), dtype)


def _resize_linear(x, dim: int, out_size: int, align_corners: bool, scale):
    i0, i1, lam0, lam1 = _linear_taps(x.shape[dim], out_size, align_corners, scale, x.dtype.np.type)
    if not lam1.any():
        return _take(x, dim, i0)
    a = P.mul(_take(x, dim, i0), _weights(lam0, dim, x.ndim, x.dtype))
    return P.add(a, P.mul(_take(x, dim, i1), _weights(lam1, dim, x.ndim, x.dtype)))


def _output_size(input, size, scale_factor, recompute_scale_factor):
    """(output sizes, the scale factors the kernels see) as F.interpolate computes them."""
    dim = input.ndim - 2
    spatial = list(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise GraphcValueError("only one of size or scale_factor should be defined", fix="pass size= or scale_factor=")
    if size is not None:
        if recompute_scale_factor:
            raise GraphcValueError("recompute_scale_factor is not meaningful with an explicit size.",
                                   fix="drop recompute_scale_factor, or pass scale_factor instead of size")
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise GraphcValueError(
                    "Input and output must have the same number of spatial dimensions, but got input with spatial "
                    f"dimensions of {spatial} and output size of {size}. Please provide input tensor in (N, C, d1, "
                    "d2, ...,dK) format and output size in (o1, o2, ...,oK) format.",
                    fix=f"give {dim} output size(s), one per spatial dimension of the input")
            if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
                raise GraphcTypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, "
                                      f"int, int], but got size with types {[type(s) for s in size]}",
                                      fix="pass integer sizes")
            return [int(s) for s in size], [None] * dim
        return [int(size)] * dim, [None] * dim
    if scale_factor is None:
        raise GraphcValueError("either size or scale_factor should be defined", fix="pass size= or scale_factor=")
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != dim:
            raise GraphcValueError(
                "Input and scale_factor must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {spatial} and scale_factor of shape {scale_factor}. Please provide input tensor in "
                "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.",
                fix=f"give {dim} scale factor(s), one per spatial dimension of the input")
        scales = [float(s) for s in scale_factor]
    else:
        scales = [float(scale_factor)] * dim
    out = [int(math.floor(s * f)) for s, f in zip(spatial, scales)]
    return out, ([None] * dim if recompute_scale_factor else scales)


def _check_sizes(spatial, out) -> None:
    if min(spatial + out) > 0:
        return
    names = ["D", "H", "W"][3 - len(out):]
    fmt = lambda sizes: ", ".join(f"{n}: {s}" for n, s in zip(names, sizes))
    joint = " and output" if len(out) == 1 else " output"
    raise ShapeError(f"Input and output sizes should be greater than 0, but got input ({fmt(spatial)}){joint} "
                     f"({fmt(out)})", fix="use a size or scale_factor that gives every output dimension at least 1")


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False):
    """Resize the spatial dims of (N, C, d1, ...) input to ``size`` or by ``scale_factor``.

    Modes ``'nearest'``, ``'nearest-exact'``, ``'area'`` (3-D/4-D), ``'linear'`` (3-D),
    ``'bilinear'`` (4-D), ``'trilinear'`` (5-D); ``align_corners`` for the linear modes.

        >>> F.interpolate(graphc.ones(2, 3, 4), size=7, mode="linear", align_corners=True).shape
        graphc.Size([2, 3, 7])
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise GraphcValueError("align_corners option can only be set with the interpolating modes: linear | "
                                   "bilinear | bicubic | trilinear", fix=f"leave align_corners=None for mode='{mode}'")
    elif align_corners is None:
        align_corners = False
    out_size, scales = _output_size(input, size, scale_factor, recompute_scale_factor)
    if mode == "area" and scale_factor is not None:
        scales = [None] * len(scales)
    if antialias:
        if mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4:
            raise GraphcNotImplementedError("interpolate(antialias=True) is not supported by graphc",
                                            fix="use antialias=False")
        raise GraphcValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires "
                               "a 4-D tensor as input", fix="use antialias=False")
    dims = input.ndim - 2
    want = _LINEAR_DIMS.get(mode)
    if want is not None and input.ndim in (3, 4, 5) and dims != want:
        raise GraphcNotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {want + 2}D input",
                                        fix=f"'{mode}' resizes {want} spatial dim(s): pass an input of {want + 2} dims")
    if mode == "area" and input.ndim == 5:
        raise GraphcNotImplementedError("interpolate(mode='area') of 5-D input is not supported by graphc",
                                        fix="use mode='trilinear' or 'nearest' for 5-D input")
    if input.ndim not in (3, 4, 5) or mode not in ("nearest", "nearest-exact", "area", *_LINEAR_DIMS):
        raise GraphcNotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: {_MODES} "
            f"(got {mode})", fix="graphc supports nearest, nearest-exact, linear, bilinear, trilinear and area "
                                 "(3-D or 4-D) on (N, C, d1, ...) input")
    if not input.dtype.is_floating_point:
        raise DTypeError(f'"upsample_{mode}" not implemented for \'{input.dtype.name}\'',
                         fix="cast the input with .float() first")
    _check_sizes(list(input.shape[2:]), out_size)
    if mode == "area":
        from .functional_conv import adaptive_avg_pool2d
        from .functional_pool import adaptive_avg_pool1d

        return adaptive_avg_pool1d(input, out_size) if dims == 1 else adaptive_avg_pool2d(input, out_size)
    x = input
    for i, (n, s) in enumerate(zip(out_size, scales)):
        d = i + 2
        if mode in _LINEAR_DIMS:
            x = _resize_linear(x, d, n, bool(align_corners), s)
        else:
            x = _take(x, d, _nearest_index(x.shape[d], n, s, mode == "nearest-exact", shortcuts=input.ndim == 4))
    return x


def _positive(name: str, what: str, factor) -> int:
    factor = int(factor)
    if factor <= 0:
        raise ShapeError(f"{name} expects a positive {what}, but got {factor}", fix=f"pass {what} >= 1")
    return factor


def pixel_shuffle(input, upscale_factor: int):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r): channels become r x r blocks of pixels.

        >>> F.pixel_shuffle(graphc.ones(2, 9, 4, 4), 3).shape
        graphc.Size([2, 1, 12, 12])
    """
    if input.ndim < 3:
        raise ShapeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with {input.ndim} "
                         "dimension(s)", fix="pixel_shuffle takes input of shape (*, C * r^2, H, W)")
    r = _positive("pixel_shuffle", "upscale_factor", upscale_factor)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ShapeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                         f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}",
                         fix=f"give the input a multiple of {r * r} channels")
    n = len(lead)
    x = P.reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = P.permute(x, (*range(n), n, n + 3, n + 1, n + 4, n + 2))
    return P.reshape(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor: int):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W): the inverse of :func:`pixel_shuffle`.

        >>> F.pixel_unshuffle(graphc.ones(2, 1, 12, 12), 3).shape
        graphc.Size([2, 9, 4, 4])
    """
    if input.ndim < 3:
        raise ShapeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                         f"{input.ndim} dimension(s)", fix="pixel_unshuffle takes input of shape (*, C, H * r, W * r)")
    r = _positive("pixel_unshuffle", "downscale_factor", downscale_factor)
    *lead, c, h, w = input.shape
    for name, size, axis in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise ShapeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                             f"input.size({axis})={size} is not divisible by {r}",
                             fix=f"crop or pad the input's {name} to a multiple of {r}")
    n = len(lead)
    x = P.reshape(input, (*lead, c, h // r, r, w // r, r))
    x = P.permute(x, (*range(n), n, n + 2, n + 4, n + 1, n + 3))
    return P.reshape(x, (*lead, c * r * r, h // r, w // r))
