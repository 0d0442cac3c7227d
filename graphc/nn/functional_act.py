"""``graphc.nn.functional``: activations, softmax, dropout, embedding, pad and one_hot.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.relu(graphc.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

import warnings

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import (
    DTypeError,
    GraphcIndexError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
)
from graphc.tensor import Tensor

from . import _prims as P


def _float_input(name: str, x) -> Tensor:
    if not isinstance(x, Tensor):
        raise GraphcTypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise DTypeError(f'"{name}" not implemented for \'{x.dtype.name}\'', fix="cast the input with .float() first")
    return x


def _inplace_result(x: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """``inplace=True``: write the result into ``x`` (PyTorch's ``F.relu(x, inplace=True)``)."""
    if not inplace:
        return out
    from graphc import _dispatch

    # x = x * 0 + out, written in place: one in-place op the tape and the tracer both understand
    _dispatch.apply_inplace(x, "mul", P.const(0, x.dtype))
    return _dispatch.apply_inplace(x, "add", out)


def _source(x: Tensor, inplace: bool) -> Tensor:
    """The tensor a result is computed from: a copy when ``inplace`` is to overwrite ``x``.

    The backward pass reads the values the formula saved (silu's, mish's and hardswish's read x
    itself); overwriting x would invalidate them, so they are taken from a copy, as PyTorch's
    in-place variants save the original input.
    """
    return P.apply("cast", x, dtype=x.dtype.short) if inplace and x.requires_grad else x


def relu(input, inplace: bool = False):
    """max(0, x) elementwise."""
    return _inplace_result(input, P.apply("relu", input), inplace)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x where x > 0, else negative_slope * x."""
    x = _float_input("leaky_relu", input)
    out = P.where(P.binary("gt", x, 0.0), x, P.mul(x, P.const(negative_slope, x.dtype)))
    return _inplace_result(input, out, inplace)


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = _source(_float_input("elu", input), inplace)
    # exp of min(x, 0): the branch where() does not take must not overflow (its 0 * inf gradient is NaN)
    negative = P.binary("minimum", x, P.const(0, x.dtype))
    neg = P.mul(P.sub(P.apply("exp", negative), P.const(1, x.dtype)), P.const(alpha, x.dtype))
    return _inplace_result(input, P.where(P.binary("gt", x, 0.0), x, neg), inplace)


def gelu(input, approximate: str = "none"):
    """Gaussian Error Linear Unit: x * Phi(x) (``approximate='tanh'``: the tanh formula)."""
    x = _float_input("gelu", input)
    if approximate not in ("none", "tanh"):
        raise GraphcValueError(f"approximate argument must be either none or tanh, got '{approximate}'",
                               fix="use approximate='none' (the erf form) or 'tanh'")
    return P.apply("gelu", x, approximate=approximate)


def silu(input, inplace: bool = False):
    """x * sigmoid(x) (also called swish)."""
    x = _source(_float_input("silu", input), inplace)
    return _inplace_result(input, P.mul(x, P.apply("sigmoid", x)), inplace)


def sigmoid(input):
    return P.apply("sigmoid", _float_input("sigmoid", input))


def tanh(input):
    return P.apply("tanh", _float_input("tanh", input))


def _softmax_dim(name: str, ndim: int, dim):
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                      "Change the call to include dim=X as an argument.", stacklevel=3)
        dim = 0 if ndim in (0, 1, 3) else 1
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise GraphcIndexError(f"Dimension out of range (expected to be in range of [{-max(ndim, 1)}, "
                               f"{max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _softmax_input(name, input, dim, dtype):
    if dtype is not None:
        input = P.cast(input, D.as_dtype(dtype))
    x = _float_input(name, input)
    return x, _softmax_dim(name, x.ndim, dim)


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably (the max is subtracted first).

        >>> F.softmax(graphc.tensor([1.0, 1.0]), dim=0)
        tensor([0.5000, 0.5000])
    """
    x, dim = _softmax_input("softmax", input, dim, dtype)
    return P.apply("softmax", x, dim=dim)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """log(softmax(x)) along ``dim``, computed as x - max - log(sum(exp(x - max)))."""
    x, dim = _softmax_input("log_softmax", input, dim, dtype)
    return P.apply("log_softmax", x, dim=dim)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (when training).

    The mask comes from the counter-based ``rand_uniform`` op, seeded from graphc's generator,
    so eager, compiled and exported code draw the same masks for the same seed.
    """
    if not 0.0 <= p <= 1.0:
        raise GraphcValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _float_input("dropout", input)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        out = P.mul(x, P.const(0.0, x.dtype))
    else:
        from graphc.random import philox_seed_offset

        # Philox gives four float32 numbers per counter block but only two float64 ones
        per_value = 2 if x.dtype is D.float64 else 1
        seed, offset = philox_seed_offset(max(x.numel(), 1) * per_value, generator=generator)
        seed = seed if isinstance(seed, Tensor) else P.const(seed, D.int64)
        offset = offset if isinstance(offset, Tensor) else P.const(offset, D.int64)
        u = P.apply("rand_uniform", seed, offset, shape=tuple(x.shape), dtype=x.dtype.short)
        keep = P.binary("lt", u, P.const(1.0 - p, x.dtype))
        out = P.where(keep, P.mul(x, P.const(1.0 / (1.0 - p), x.dtype)), P.const(0.0, x.dtype))
    return _inplace_result(input, out, inplace)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False):
    """Rows of ``weight`` picked by the int64 indices in ``input`` (any shape).

    Entries equal to ``padding_idx`` give the row's value but pass no gradient to it.

        >>> F.embedding(graphc.tensor([[0, 2]]), graphc.ones(3, 4)).shape
        graphc.Size([1, 2, 4])
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise GraphcValueError("embedding: max_norm, scale_grad_by_freq and sparse are not supported by graphc",
                               fix="leave them at their defaults")
    if input.dtype not in (D.int64, D.int32):
        raise DTypeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                         f"Long, Int; but got {input.dtype.name} instead", fix="pass integer indices (.long())")
    if weight.ndim != 2:
        raise ShapeError(f"'weight' must be 2-D, got shape {P.shape_str(weight.shape)}")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise GraphcValueError("Padding_idx must be within num_embeddings")
        padding_idx %= num
    idx = P.cast(input, D.int64)
    if not P.is_traced(idx) and idx.numel():
        data = idx._data
        if data.min() < 0 or data.max() >= num:
            raise GraphcIndexError("index out of range in self",
                                   fix=f"embedding indices must be in [0, {num - 1}] (num_embeddings={num})")
    out = P.apply("take", weight, idx, dim=0)
    if padding_idx is not None and weight.requires_grad:
        keep = P.binary("ne", idx, P.const(padding_idx, D.int64))
        frozen = P.apply("take", weight.detach(), idx, dim=0)
        out = P.where(P.unsqueeze(keep, -1), out, frozen)
    return out


def one_hot(tensor, num_classes: int = -1):
    """An int64 tensor with a trailing dimension of ``num_classes``, 1 at each index.

        >>> F.one_hot(graphc.tensor([0, 2]), 3)
        tensor([[1, 0, 0],
                [0, 0, 1]])
    """
    if tensor.dtype is not D.int64:
        raise DTypeError("one_hot is only applicable to index tensor of type LongTensor.", fix="cast with .long()")
    if not P.is_traced(tensor) and tensor.numel():
        lo, hi = int(tensor._data.min()), int(tensor._data.max())
        if lo < 0:
            raise GraphcValueError("Class values must be non-negative.")
        if num_classes == -1:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise GraphcValueError("Class values must be smaller than num_classes.")
    elif num_classes == -1:
        if P.is_traced(tensor):
            tensor._no_value("one_hot with num_classes=-1")
        raise GraphcValueError("Can not infer total number of classes from empty tensor.")
    classes = P.array(np.arange(num_classes), D.int64)
    return P.cast(P.binary("eq", P.unsqueeze(tensor, -1), classes), D.int64)


def pad(input, pad, mode: str = "constant", value=None):
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``.

    Negative amounts crop. Only ``mode='constant'`` is supported.

        >>> F.pad(graphc.ones(1, 2, 2), (1, 1)).shape
        graphc.Size([1, 2, 4])
    """
    if mode != "constant":
        raise GraphcValueError(f"F.pad mode '{mode}' is not supported by graphc", fix="use mode='constant'")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ShapeError(f"Padding length must be divisible by 2 and at most twice the number of dimensions "
                         f"of the input ({input.ndim}), got {len(pad)}")
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    x = input
    for dim, (lo, hi) in enumerate(pairs):
        if lo < 0 or hi < 0:
            size = x.shape[dim]
            start, stop = max(-lo, 0), size - max(-hi, 0)
            if stop < start:
                raise ShapeError(f"F.pad: cropping {(-lo, -hi)} from a dimension of size {size} leaves nothing")
            x = P.slice_(x, dim, start, stop)
    positive = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pairs)
    if any(lo or hi for lo, hi in positive):
        x = P.apply("pad", x, pads=positive, value=float(0.0 if value is None else value))
    return x
