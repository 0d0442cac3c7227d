"""``graphc.nn.functional``: 1-D pooling and adaptive max pooling.

max_pool1d and avg_pool1d are the 2-D pooling ops over a height of 1 (as Conv1d is conv2d);
adaptive_avg_pool1d is adaptive_avg_pool2d over a height of 1. adaptive_max_pool2d is one
``max_pool2d`` when the output size divides the input size, else PyTorch's start/end bins
(``floor(i * in / out)`` to ``ceil((i + 1) * in / out)``), reduced with ``max`` one dim at a
time (the max over a rectangle is the max over its rows' maxima).

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.max_pool1d(graphc.ones(2, 3, 8), 2).shape
    graphc.Size([2, 3, 4])
    >>> F.adaptive_max_pool2d(graphc.ones(1, 3, 7, 5), (3, 2)).shape
    graphc.Size([1, 3, 3, 2])
"""

from __future__ import annotations

from graphc.ir.errors import GraphcValueError, ShapeError

from . import _prims as P
from .functional_conv import _single, adaptive_avg_pool2d, adaptive_bins


def _as_2d(input, name: str, message: str):
    """(N, C, L) or (C, L) input as (N, C, 1, L), and a function giving results input's layout."""
    if input.ndim not in (2, 3):
        raise ShapeError(message.format(dims=input.ndim, shape=P.shape_str(input.shape)),
                         fix=f"{name} takes input of shape (N, C, L) or (C, L)")
    x = P.unsqueeze(input, -2)
    if input.ndim == 2:
        x = P.unsqueeze(x, 0)
        return x, lambda out: P.reshape(out, (out.shape[1], out.shape[3]))
    return x, lambda out: P.squeeze(out, 2)


def _window(kernel_size, stride):
    k = _single(kernel_size)
    s = k if stride is None or (not isinstance(stride, int) and len(tuple(stride)) == 0) else _single(stride)
    return k, s


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling over (N, C, L) or (C, L) input (stride defaults to kernel_size).

        >>> F.max_pool1d(graphc.ones(3, 9), 3, stride=2).shape
        graphc.Size([3, 4])
    """
    if return_indices:
        raise GraphcValueError("max_pool1d(return_indices=True) is not supported by graphc",
                               fix="use return_indices=False (MaxUnpool1d is not available)")
    x, restore = _as_2d(input, "max_pool1d", "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim "
                                             "batch size for input, but got:{shape}")
    k, s = _window(kernel_size, stride)
    p, d = _single(padding), _single(dilation)
    if p > k // 2:
        raise ShapeError(f"max_pool1d() padding should be at most half of kernel size, but got padding={p} and "
                               f"kernel_size={k}", fix=f"use padding <= {k // 2}")
    length = input.shape[-1] + 2 * p - d * (k - 1) - 1
    out_len = (-(-length // s) if ceil_mode else length // s) + 1
    if ceil_mode and (out_len - 1) * s >= input.shape[-1] + p:
        out_len -= 1
    if out_len <= 0:
        raise ShapeError(f"max_pool1d() Invalid computed output size: {out_len}",
                         fix="use a smaller kernel or dilation, or more padding")
    out = P.apply("max_pool2d", x, kernel=(1, k), stride=(1, s), padding=(0, p), dilation=(1, d),
                  ceil_mode=bool(ceil_mode))
    return restore(out)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
    """1-D average pooling over (N, C, L) or (C, L) input (stride defaults to kernel_size).

        >>> F.avg_pool1d(graphc.ones(2, 3, 9), 3).shape
        graphc.Size([2, 3, 3])
    """
    x, restore = _as_2d(input, "avg_pool1d", "Expected 2 to 3 dimensions, but got {dims}-dimensional tensor for "
                                             "argument #1 'self' (while checking arguments for avg_pool1d)")
    k, s = _window(kernel_size, stride)
    p = _single(padding)
    if p > k // 2:
        raise ShapeError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                         f"kernel_size={k} and dilation=1", fix=f"use padding <= {k // 2}")
    if input.shape[-1] + 2 * p < k:
        raise ShapeError(f"avg_pool1d: the padded input length {input.shape[-1] + 2 * p} is smaller than the kernel "
                         f"size {k}", fix="use a smaller kernel or more padding")
    out = P.apply("avg_pool2d", x, kernel=(1, k), stride=(1, s), padding=(0, p), ceil_mode=bool(ceil_mode),
                  count_include_pad=bool(count_include_pad))
    return restore(out)


def _one_size(name: str, output_size) -> int:
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 1:
            raise ShapeError(f"{name}() argument 'output_size' should contain one int (got {len(output_size)})",
                             fix="pass one output length")
        (output_size,) = output_size
    if int(output_size) <= 0:
        raise GraphcValueError(f"{name}: output size must be positive, got {output_size}", fix="pass a size >= 1")
    return int(output_size)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) or (C, L) input to a fixed length.

        >>> F.adaptive_avg_pool1d(graphc.ones(2, 3, 7), 3).shape
        graphc.Size([2, 3, 3])
    """
    out_len = _one_size("adaptive_avg_pool1d", output_size)
    x, restore = _as_2d(input, "adaptive_avg_pool1d", "Expected 2 to 3 dimensions, but got {dims}-dimensional tensor "
                                                      "for argument #1 'self' (while checking arguments for "
                                                      "adaptive_avg_pool1d)")
    return restore(adaptive_avg_pool2d(x, (1, out_len)))


def _adaptive_max(x, dim: int, out_size: int):
    """Max of ``x`` along ``dim`` over ``out_size`` bins."""
    return adaptive_bins(x, dim, out_size, P.amax)


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """Max pooling of (N, C, H, W) or (C, H, W) input to a fixed size (``None`` keeps that input size).

        >>> F.adaptive_max_pool2d(graphc.ones(2, 3, 8, 6), 2).shape
        graphc.Size([2, 3, 2, 2])
    """
    if return_indices:
        raise GraphcValueError("adaptive_max_pool2d(return_indices=True) is not supported by graphc",
                               fix="use return_indices=False")
    if input.ndim not in (3, 4):
        raise ShapeError(f"adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: {P.shape_str(input.shape)}",
                         fix="adaptive_max_pool2d takes input of shape (N, C, H, W) or (C, H, W)")
    x = P.unsqueeze(input, 0) if input.ndim == 3 else input
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    h, w = x.shape[2:]
    oh = h if output_size[0] is None else int(output_size[0])
    ow = w if output_size[1] is None else int(output_size[1])
    if oh <= 0 or ow <= 0:
        raise GraphcValueError(f"adaptive_max_pool2d: output size must be positive, got {(oh, ow)}",
                               fix="pass sizes >= 1 (or None to keep a dimension)")
    if h % oh == 0 and w % ow == 0:
        k = (h // oh, w // ow)
        out = x if k == (1, 1) else P.apply("max_pool2d", x, kernel=k, stride=k, padding=(0, 0), dilation=(1, 1),
                                             ceil_mode=False)
    else:
        out = _adaptive_max(_adaptive_max(x, 2, oh), 3, ow)
    return P.squeeze(out, 0) if input.ndim == 3 else out


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    """Max pooling of (N, C, L) or (C, L) input to a fixed length.

        >>> F.adaptive_max_pool1d(graphc.ones(2, 3, 7), 3).shape
        graphc.Size([2, 3, 3])
    """
    out_len = _one_size("adaptive_max_pool1d", output_size)
    if return_indices:
        raise GraphcValueError("adaptive_max_pool1d(return_indices=True) is not supported by graphc",
                               fix="use return_indices=False")
    x, restore = _as_2d(input, "adaptive_max_pool1d", "adaptive_max_pool1d(): Expected 2D or 3D tensor, but got: "
                                                      "{shape}")
    return restore(adaptive_max_pool2d(x, (1, out_len)))
