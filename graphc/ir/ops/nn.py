"""Kernel ops: batched matmul, 2-D convolution (and its two backward ops), max and average pooling.

These stay primitive because they need their own kernels. The references are vectorised numpy
(no Python loop runs per pixel): convolution is im2col over a strided window view followed by
one batched matmul per call, and the scatters of the backward ops loop over kernel taps only.
Eager mode runs on these references, so they are written for speed as well as clarity.

All of them take floating-point operands of one dtype. The front end resolves PyTorch's
conveniences first (1-D matmul operands, 'same' padding, 3-D unbatched input, bias), so the
attributes here are always explicit pairs.

    >>> import numpy as np
    >>> from graphc.ir import get_op
    >>> get_op("conv2d").ref(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=(1, 1),
    ...                      padding=(0, 0), dilation=(1, 1), groups=1)[0, 0]
    array([[9., 9.],
           [9., 9.]])
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import DTypeError, GraphcValueError, ShapeError
from ..graph import TensorType
from ..registry import REQUIRED, register_op
from .rules import broadcast_shapes, same_dtype


def _fmt(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _float_operands(op: str, types) -> None:
    same_dtype(op, types)
    if not types[0].dtype.is_floating_point:
        raise DTypeError(f"{op} needs floating-point operands, got {types[0].dtype.name}",
                         fix="cast with .float() first")


def _needs_4d(op: str, t: TensorType, what: str = "input") -> None:
    if t.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D {what} [N, C, H, W], got shape {_fmt(t.shape)}",
                         fix="the front end adds the batch dim for 3-D input; reshape other inputs to 4-D")


# ---------------------------------------------------------------------- matmul
def _matmul_rule(types, attrs):
    a, b = types
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"matmul: both operands need at least 2 dims, got {_fmt(a.shape)} and {_fmt(b.shape)}",
                         fix="reshape 1-D operands to [1, k] / [k, 1] (torch.matmul on tensors does this)")
    same_dtype("matmul", types)
    if a.dtype.is_bool:  # PyTorch multiplies integer matrices on the CPU, but not bool ones
        raise DTypeError("matmul is not defined for bool tensors", fix="cast with .int() or .float() first")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[-2]}x{a.shape[-1]} and "
                         f"{b.shape[-2]}x{b.shape[-1]})",
                         fix="the last dim of the first operand must equal the second-to-last dim of the second")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return TensorType(a.dtype, batch + (a.shape[-2], b.shape[-1]))


register_op("matmul", arity=2, kind="matmul", infer=_matmul_rule, ref=np.matmul,
            doc="matmul %a[..., m, k], %b[..., k, n]: batched matrix product, batch dims broadcast")


# ---------------------------------------------------------------------- convolution
def conv_out_size(size: int, kernel: int, stride: int, pad: int, dil: int) -> int:
    """Output length of a convolution (floor rule), possibly <= 0 when the kernel does not fit."""
    return (size + 2 * pad - dil * (kernel - 1) - 1) // stride + 1


def _check_conv_attrs(stride, padding, dilation, groups) -> None:
    if len(stride) != 2 or len(padding) != 2 or len(dilation) != 2:
        raise GraphcValueError(f"conv2d takes pairs: stride={stride}, padding={padding}, dilation={dilation}",
                               fix="give two values (height, width) for each")
    if min(stride) <= 0:
        raise GraphcValueError("non-positive stride is not supported", fix="use a stride >= 1")
    if min(padding) < 0:
        raise GraphcValueError("negative padding is not supported", fix="crop the input with slicing instead")
    if min(dilation) <= 0:
        raise GraphcValueError("dilation should be greater than zero", fix="use a dilation >= 1")
    if groups <= 0:
        raise GraphcValueError("non-positive groups is not supported", fix="use groups >= 1")


def _check_conv_shapes(op, x_shape, w_shape, attrs) -> tuple[int, int]:
    """Check input against weight; return the full conv output size (Ho, Wo) of ``x_shape``."""
    _check_conv_attrs(attrs["stride"], attrs["padding"], attrs["dilation"], attrs["groups"])
    groups = attrs["groups"]
    o, cg, kh, kw = w_shape
    if o % groups:
        raise ShapeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                         f"but got weight of size {_fmt(w_shape)} instead",
                         fix="make out_channels a multiple of groups")
    if x_shape[1] != cg * groups:
        raise ShapeError(f"Given groups={groups}, weight of size {_fmt(w_shape)}, expected input{_fmt(x_shape)} "
                         f"to have {cg * groups} channels, but got {x_shape[1]} channels instead",
                         fix="make the weight's in_channels match the input's channels (divided by groups)")
    out = tuple(conv_out_size(s, k, st, p, d) for s, k, st, p, d in
                zip(x_shape[2:], (kh, kw), attrs["stride"], attrs["padding"], attrs["dilation"]))
    if min(out) <= 0:
        padded = [s + 2 * p for s, p in zip(x_shape[2:], attrs["padding"])]
        eff = [d * (k - 1) + 1 for k, d in zip((kh, kw), attrs["dilation"])]
        raise ShapeError(f"{op}: Calculated padded input size per channel: ({padded[0]} x {padded[1]}). "
                         f"Kernel size: ({eff[0]} x {eff[1]}). Kernel size can't be greater than actual input size",
                         fix="use a smaller kernel or dilation, more padding, or a larger input")
    return out


def _conv2d_rule(types, attrs):
    x, w = types
    _needs_4d("conv2d", x)
    _needs_4d("conv2d", w, "weight")
    _float_operands("conv2d", types)
    ho, wo = _check_conv_shapes("conv2d", x.shape, w.shape, attrs)
    return TensorType(x.dtype, (x.shape[0], w.shape[0], ho, wo))


def _windows(x, kernel, stride, padding, dilation, out_hw, fill=0.0):
    """[N, C, Ho, Wo, kh, kw] view of ``x`` padded with ``fill``: the taps of each output position.

    The bottom/right padding grows where ceil-mode pooling needs windows past the symmetric pad.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ho, wo = out_hw
    need_h = (ho - 1) * sh + dh * (kh - 1) + 1
    need_w = (wo - 1) * sw + dw * (kw - 1) + 1
    extra_h = max(need_h - (x.shape[2] + 2 * ph), 0)
    extra_w = max(need_w - (x.shape[3] + 2 * pw), 0)
    if ph or pw or extra_h or extra_w:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)), constant_values=fill)
    view = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return view[:, :, :need_h - dh * (kh - 1):sh, :need_w - dw * (kw - 1):sw, ::dh, ::dw]


def _im2col(x, kernel, attrs, out_hw):
    """[G, Cg*kh*kw, N*Ho*Wo]: row (c, i, j) holds tap (i, j) of channel c at every output position.

    Output positions run along the rows, so the copy out of the window view moves whole image
    rows at a time rather than kernel-width snippets.
    """
    n, c = x.shape[:2]
    g = attrs["groups"]
    win = _windows(x, kernel, attrs["stride"], attrs["padding"], attrs["dilation"], out_hw)
    ho, wo = out_hw
    win = win.reshape(n, g, c // g, ho, wo, *kernel)
    return win.transpose(1, 2, 5, 6, 0, 3, 4).reshape(g, (c // g) * kernel[0] * kernel[1], n * ho * wo)


def _conv2d_ref(x, w, *, stride, padding, dilation, groups):
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    out_hw = tuple(conv_out_size(s, k, st, p, d) for s, k, st, p, d in
                   zip(x.shape[2:], (kh, kw), stride, padding, dilation))
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    cols = _im2col(x, (kh, kw), attrs, out_hw)                  # [G, Cg*kh*kw, N*Ho*Wo]
    out = np.matmul(w.reshape(groups, o // groups, cg * kh * kw), cols)  # [G, Og, N*Ho*Wo]
    out = out.reshape(groups, o // groups, n, *out_hw).transpose(2, 0, 1, 3, 4)
    return np.ascontiguousarray(out).reshape(n, o, *out_hw)


_CONV_ATTRS = {"stride": ("ints", (1, 1)), "padding": ("ints", (0, 0)), "dilation": ("ints", (1, 1)),
               "groups": ("int", 1)}
register_op("conv2d", arity=2, kind="conv", infer=_conv2d_rule, ref=_conv2d_ref, attrs=_CONV_ATTRS,
            doc="conv2d %x[N,C,H,W], %w[O,C/groups,kh,kw]: cross-correlation with zero padding, no bias")


def _check_grad_fits(op, grad_shape, full_hw, n, o) -> None:
    """The incoming gradient covers at most the positions a conv over the input could produce."""
    if grad_shape[0] != n or grad_shape[1] != o or grad_shape[2] > full_hw[0] or grad_shape[3] > full_hw[1]:
        raise ShapeError(f"{op}: gradient of shape {_fmt(grad_shape)} does not fit a convolution producing "
                         f"{_fmt((n, o, *full_hw))}",
                         fix="the gradient must have the conv output's batch and channels, and no more rows/cols")


def _conv2d_backward_input_rule(types, attrs):
    grad, w = types
    _needs_4d("conv2d_backward_input", grad, "gradient")
    _needs_4d("conv2d_backward_input", w, "weight")
    _float_operands("conv2d_backward_input", types)
    shape = attrs["input_shape"]
    if len(shape) != 4 or min(shape) <= 0:
        raise ShapeError(f"conv2d_backward_input: input_shape must be 4 positive sizes, got {_fmt(shape)}")
    full = _check_conv_shapes("conv2d_backward_input", shape, w.shape, attrs)
    _check_grad_fits("conv2d_backward_input", grad.shape, full, shape[0], w.shape[0])
    return TensorType(grad.dtype, shape)


def _scatter_taps(tap, lead, hw, out_hw, kernel, stride, padding, dilation, dtype):
    """col2im: add ``tap(i, j)`` ([*lead, Ho, Wo]) onto the padded grid at each kernel tap; crop the padding."""
    (h, w), (ho, wo) = hw, out_hw
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    hp = max(h + 2 * ph, (ho - 1) * sh + dh * (kh - 1) + 1)
    wp = max(w + 2 * pw, (wo - 1) * sw + dw * (kw - 1) + 1)
    buf = np.zeros((*lead, hp, wp), dtype=dtype)
    for i in range(kh):  # one strided add per kernel tap, never per pixel
        for j in range(kw):
            buf[..., i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw] += tap(i, j)
    return buf[..., ph:ph + h, pw:pw + w]


def _conv2d_backward_input_ref(grad, w, *, input_shape, stride, padding, dilation, groups):
    n, o, ho, wo = grad.shape
    _, cg, kh, kw = w.shape
    g = groups
    gmat = grad.reshape(n, g, o // g, ho * wo).transpose(1, 2, 0, 3).reshape(g, o // g, n * ho * wo)
    wmat = w.reshape(g, o // g, cg * kh * kw).transpose(0, 2, 1)
    cols = np.matmul(wmat, gmat).reshape(g * cg, kh, kw, n, ho, wo)   # [C, kh, kw, N, Ho, Wo]
    # scatter on a [C, N, H, W] grid, so each tap's slice of cols is contiguous; transpose once at the end
    out = _scatter_taps(lambda i, j: cols[:, i, j], (g * cg, n), input_shape[2:], (ho, wo), (kh, kw),
                        stride, padding, dilation, grad.dtype)
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3))


register_op("conv2d_backward_input", arity=2, kind="conv", infer=_conv2d_backward_input_rule,
            ref=_conv2d_backward_input_ref, attrs={"input_shape": ("ints", REQUIRED), **_CONV_ATTRS},
            doc="gradient of conv2d wrt its input (also ConvTranspose2d's forward); unreached rows/cols are 0")


def _conv2d_backward_weight_rule(types, attrs):
    x, grad = types
    _needs_4d("conv2d_backward_weight", x)
    _needs_4d("conv2d_backward_weight", grad, "gradient")
    _float_operands("conv2d_backward_weight", types)
    shape = attrs["weight_shape"]
    if len(shape) != 4 or min(shape) <= 0:
        raise ShapeError(f"conv2d_backward_weight: weight_shape must be 4 positive sizes, got {_fmt(shape)}")
    full = _check_conv_shapes("conv2d_backward_weight", x.shape, shape, attrs)
    _check_grad_fits("conv2d_backward_weight", grad.shape, full, x.shape[0], shape[0])
    return TensorType(x.dtype, shape)


def _conv2d_backward_weight_ref(x, grad, *, weight_shape, stride, padding, dilation, groups):
    n, o, ho, wo = grad.shape
    _, cg, kh, kw = weight_shape
    g = groups
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    cols = _im2col(x, (kh, kw), attrs, (ho, wo))                   # [G, Cg*kh*kw, N*Ho*Wo]
    gmat = grad.reshape(n, g, o // g, ho * wo).transpose(1, 2, 0, 3).reshape(g, o // g, n * ho * wo)
    return np.matmul(gmat, cols.transpose(0, 2, 1)).reshape(weight_shape)


register_op("conv2d_backward_weight", arity=2, kind="conv", infer=_conv2d_backward_weight_rule,
            ref=_conv2d_backward_weight_ref, attrs={"weight_shape": ("ints", REQUIRED), **_CONV_ATTRS},
            doc="gradient of conv2d wrt its weight: conv2d_backward_weight %x, %grad")


# ---------------------------------------------------------------------- pooling
def pool_out_size(size: int, kernel: int, stride: int, pad: int, dil: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length: with ceil_mode the last window must start inside the input or left pad."""
    span = size + 2 * pad - dil * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_shape(op, t: TensorType, attrs, dilation=(1, 1)) -> tuple[int, int]:
    """Check a pooling input and attributes; return the output size (Ho, Wo)."""
    _needs_4d(op, t)
    if not t.dtype.is_floating_point:
        raise DTypeError(f"{op} needs a floating-point input, got {t.dtype.name}", fix="cast with .float() first")
    kernel, stride, padding = attrs["kernel"], attrs["stride"], attrs["padding"]
    if not len(kernel) == len(stride) == len(padding) == len(dilation) == 2:
        raise GraphcValueError(f"{op} takes pairs: kernel={kernel}, stride={stride}, padding={padding}")
    if min(kernel) <= 0:
        raise GraphcValueError(f"{op}: kernel size should be greater than zero, but got {kernel}")
    if min(stride) <= 0:
        raise GraphcValueError(f"{op}: stride should not be zero", fix="use a stride >= 1")
    if min(dilation) <= 0:
        raise GraphcValueError(f"{op}: dilation should be greater than zero, but got {dilation}")
    if min(padding) < 0:
        raise GraphcValueError(f"{op}: pad must be non-negative, but got pad={padding}")
    for p, k, d in zip(padding, kernel, dilation):
        if p > k // 2:  # PyTorch compares with the kernel size itself, not the dilated one
            raise GraphcValueError(f"pad should be at most half of effective kernel size, but got pad={p}, "
                                   f"kernel_size={k} and dilation={d}", fix="use padding <= kernel_size // 2")
    out = tuple(pool_out_size(s, k, st, p, d, attrs["ceil_mode"]) for s, k, st, p, d in
                zip(t.shape[2:], kernel, stride, padding, dilation))
    if min(out) <= 0:
        n, c, h, w = t.shape
        raise ShapeError(f"Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{out[0]}x{out[1]}). "
                         "Output size is too small", fix="use a smaller kernel, or a larger input")
    return out


def _max_pool_rule(types, attrs):
    (x,) = types
    return TensorType(x.dtype, x.shape[:2] + _pool_shape("max_pool2d", x, attrs, attrs["dilation"]))


def _max_pool_ref(x, *, kernel, stride, padding, dilation, ceil_mode):
    out_hw = tuple(pool_out_size(s, k, st, p, d, ceil_mode) for s, k, st, p, d in
                   zip(x.shape[2:], kernel, stride, padding, dilation))
    win = _windows(x, kernel, stride, padding, dilation, out_hw, fill=-np.inf)
    out = win[..., 0, 0].copy()
    for i in range(kernel[0]):  # elementwise maxima over taps beat a reduction over tiny strided axes
        for j in range(kernel[1]):
            np.maximum(out, win[..., i, j], out=out)  # NaN propagates, as in PyTorch
    return out


_MAX_POOL_ATTRS = {"kernel": ("ints", REQUIRED), "stride": ("ints", REQUIRED), "padding": ("ints", (0, 0)),
                   "dilation": ("ints", (1, 1)), "ceil_mode": ("bool", False)}
register_op("max_pool2d", arity=1, kind="pool", infer=_max_pool_rule, ref=_max_pool_ref, attrs=_MAX_POOL_ATTRS,
            doc="max over each (dilated) window with implicit -inf padding")


def _max_pool_backward_rule(types, attrs):
    grad, x = types
    _float_operands("max_pool2d_backward", types)
    expect = x.shape[:2] + _pool_shape("max_pool2d_backward", x, attrs, attrs["dilation"])
    if grad.shape != expect:
        raise ShapeError(f"max_pool2d_backward: gradient of shape {_fmt(grad.shape)} does not match the pooled "
                         f"output {_fmt(expect)}", fix="pass the gradient of max_pool2d's output")
    return TensorType(x.dtype, x.shape)


def _first_valid_tap(out_len, size, kernel, stride, pad, dil):
    """Per output position, the first kernel tap that lands inside the input (not in the padding)."""
    start = np.arange(out_len) * stride - pad
    first = np.where(start < 0, -(start // dil), 0)  # ceil(-start / dil) taps skip the left padding
    return np.minimum(first, kernel - 1)


def _max_pool_backward_ref(grad, x, *, kernel, stride, padding, dilation, ceil_mode):
    ho, wo = grad.shape[2:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    win = _windows(x, kernel, stride, padding, dilation, (ho, wo), fill=-np.inf)
    # PyTorch's scan: start at the first in-range tap with -inf, move on a strictly greater
    # value; graphc takes the first NaN (as the compiled kernels do). Padding (-inf) never wins.
    first_i = _first_valid_tap(ho, x.shape[2], kh, sh, ph, dh)
    first_j = _first_valid_tap(wo, x.shape[3], kw, sw, pw, dw)
    tap = np.broadcast_to(first_i[:, None] * kw + first_j[None, :], grad.shape).copy()
    best = np.full(grad.shape, -np.inf, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            v = win[..., i, j]
            better = (v > best) | (np.isnan(v) & ~np.isnan(best))
            tap[better] = i * kw + j
            best = np.where(better, v, best)
    zero = np.zeros((), grad.dtype)
    out = _scatter_taps(lambda i, j: np.where(tap == i * kw + j, grad, zero), x.shape[:2], x.shape[2:], (ho, wo),
                        kernel, stride, padding, dilation, grad.dtype)
    return np.ascontiguousarray(out)


register_op("max_pool2d_backward", arity=2, kind="pool", infer=_max_pool_backward_rule, ref=_max_pool_backward_ref,
            attrs=_MAX_POOL_ATTRS,
            doc="max_pool2d_backward %grad, %x: each output's grad goes to its window's first maximum")


def _avg_divisor(in_hw, out_hw, kernel, stride, padding, count_include_pad, dtype):
    """[Ho, Wo] divisors: PyTorch clips windows at the padded edge, and at the input when not counting pad."""
    sizes = []
    for size, o, k, s, p in zip(in_hw, out_hw, kernel, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        sizes.append(end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0))
    return np.outer(sizes[0], sizes[1]).astype(dtype)


def _avg_pool_rule(types, attrs):
    (x,) = types
    return TensorType(x.dtype, x.shape[:2] + _pool_shape("avg_pool2d", x, attrs))


def _avg_pool_ref(x, *, kernel, stride, padding, ceil_mode, count_include_pad):
    out_hw = tuple(pool_out_size(s, k, st, p, 1, ceil_mode) for s, k, st, p in zip(x.shape[2:], kernel, stride, padding))
    win = _windows(x, kernel, stride, padding, (1, 1), out_hw)
    total = win.sum(axis=(4, 5), dtype=x.dtype)
    return total / _avg_divisor(x.shape[2:], out_hw, kernel, stride, padding, count_include_pad, x.dtype)


_AVG_POOL_ATTRS = {"kernel": ("ints", REQUIRED), "stride": ("ints", REQUIRED), "padding": ("ints", (0, 0)),
                   "ceil_mode": ("bool", False), "count_include_pad": ("bool", True)}
register_op("avg_pool2d", arity=1, kind="pool", infer=_avg_pool_rule, ref=_avg_pool_ref, attrs=_AVG_POOL_ATTRS,
            doc="mean over each window with PyTorch's divisor rules (count_include_pad, ceil_mode clipping)")


def _avg_pool_backward_rule(types, attrs):
    (grad,) = types
    shape = attrs["input_shape"]
    if len(shape) != 4 or min(shape) <= 0:
        raise ShapeError(f"avg_pool2d_backward: input_shape must be 4 positive sizes, got {_fmt(shape)}")
    x = TensorType(grad.dtype, shape)
    expect = shape[:2] + _pool_shape("avg_pool2d_backward", x, attrs)
    if grad.shape != expect:
        raise ShapeError(f"avg_pool2d_backward: gradient of shape {_fmt(grad.shape)} does not match the pooled "
                         f"output {_fmt(expect)}", fix="pass the gradient of avg_pool2d's output")
    return x


def _avg_pool_backward_ref(grad, *, input_shape, kernel, stride, padding, ceil_mode, count_include_pad):
    ho, wo = grad.shape[2:]
    share = grad / _avg_divisor(input_shape[2:], (ho, wo), kernel, stride, padding, count_include_pad, grad.dtype)
    out = _scatter_taps(lambda i, j: share, input_shape[:2], input_shape[2:], (ho, wo), kernel, stride, padding,
                        (1, 1), grad.dtype)
    return np.ascontiguousarray(out)


register_op("avg_pool2d_backward", arity=1, kind="pool", infer=_avg_pool_backward_rule, ref=_avg_pool_backward_ref,
            attrs={"input_shape": ("ints", REQUIRED), **_AVG_POOL_ATTRS},
            doc="gradient of avg_pool2d: each output's grad shared by its window's input positions")
