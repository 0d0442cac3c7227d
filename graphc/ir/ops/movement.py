"""Movement ops: reshape, permute, expand, slice, pad, concat, flip.

They move or copy elements without arithmetic. The front end resolves the conveniences of the
PyTorch API (``-1`` sizes, negative slice bounds, negative ``F.pad`` amounts) before it builds
these nodes, so the attributes here are always explicit. The rules accept a negative ``dim``
(counted from the end) wherever a dimension is named; the references and VJP rules normalise it.

reshape, permute, expand and slice may return numpy views (they are PyTorch view ops); flip,
pad and concat always return fresh arrays.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphcIndexError, ShapeError
from ..graph import TensorType
from ..registry import REQUIRED, register_op
from .rules import same_dtype


def _fmt(shape) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def check_dims(dims, ndim: int, op: str) -> tuple[int, ...]:
    """Dimensions normalised to ``0 <= d < ndim``: GraphcIndexError out of range, ShapeError if repeated."""
    out = []
    for d in dims:
        if not -ndim <= d < ndim:
            raise GraphcIndexError(f"{op}: Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                                   f"but got {d})", fix=f"the tensor has {ndim} dimensions")
        out.append(d % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}(): duplicate dims are not allowed: {list(dims)}", fix="name each dimension once")
    return tuple(out)


def check_dim(dim: int, ndim: int, op: str) -> int:
    """One dimension of a tensor with at least one dimension, normalised to ``0 <= dim < ndim``."""
    if ndim == 0:
        raise ShapeError(f"{op}: the input is 0-dimensional and has no dimension {dim}",
                         fix="reshape it to [1] first (x.reshape(1))")
    return check_dims((dim,), ndim, op)[0]


# ---------------------------------------------------------------------- reshape
def _reshape_rule(types, attrs):
    (t,) = types
    shape = attrs["shape"]
    if any(s < 0 for s in shape):
        raise ShapeError(f"reshape: invalid shape {_fmt(shape)} (sizes must be >= 0)",
                         fix="the front end resolves -1; the IR takes explicit sizes")
    out = TensorType(t.dtype, shape)
    if out.numel != t.numel:
        raise ShapeError(f"shape '{_fmt(shape)}' is invalid for input of size {t.numel}",
                         fix=f"choose sizes whose product is {t.numel}")
    return out


def _reshape_ref(x, *, shape):
    return np.reshape(x, shape)


register_op("reshape", arity=1, kind="movement", infer=_reshape_rule, ref=_reshape_ref,
            attrs={"shape": ("ints", REQUIRED)},
            doc="the same elements (row-major order) in a new shape of equal numel")


# ---------------------------------------------------------------------- permute
def _permute_rule(types, attrs):
    (t,) = types
    dims = attrs["dims"]
    if len(dims) != t.ndim:
        raise ShapeError(f"permute: number of dimensions in the tensor input does not match the length of the desired "
                         f"ordering of dimensions i.e. input.dim() = {t.ndim} is not equal to len(dims) = {len(dims)}",
                         fix=f"name each of the {t.ndim} dimensions exactly once")
    dims = check_dims(dims, t.ndim, "permute")
    return TensorType(t.dtype, tuple(t.shape[d] for d in dims))


def _permute_ref(x, *, dims):
    return np.transpose(x, tuple(d % x.ndim for d in dims) if x.ndim else ())


register_op("permute", arity=1, kind="movement", infer=_permute_rule, ref=_permute_ref,
            attrs={"dims": ("ints", REQUIRED)},
            doc="reorder the dimensions: output dim i is input dim dims[i]")


# ---------------------------------------------------------------------- expand
def _expand_rule(types, attrs):
    (t,) = types
    shape = attrs["shape"]
    if len(shape) < t.ndim:
        raise ShapeError(f"expand({t}, size={_fmt(shape)}): the number of sizes provided ({len(shape)}) must be "
                         f"greater or equal to the number of dimensions in the tensor ({t.ndim})",
                         fix="give one size per dimension (new leading dimensions may be added)")
    if any(s < 0 for s in shape):
        raise ShapeError(f"expand: invalid size {_fmt(shape)} (sizes must be >= 0)",
                         fix="the front end resolves -1; the IR takes explicit sizes")
    lead = len(shape) - t.ndim
    for i, s in enumerate(t.shape):
        if s != 1 and s != shape[lead + i]:
            raise ShapeError(f"The expanded size of the tensor ({shape[lead + i]}) must match the existing size ({s}) "
                             f"at non-singleton dimension {lead + i}.  Target sizes: {_fmt(shape)}.  "
                             f"Tensor sizes: {_fmt(t.shape)}",
                             fix="only dimensions of size 1 can grow; use repeat() to copy data along others")
    return TensorType(t.dtype, shape)


def _expand_ref(x, *, shape):
    return np.broadcast_to(x, shape)


register_op("expand", arity=1, kind="movement", infer=_expand_rule, ref=_expand_ref,
            attrs={"shape": ("ints", REQUIRED)},
            doc="broadcast to a shape: size-1 dims grow, new leading dims may be added")


# ---------------------------------------------------------------------- slice
def slice_size(start: int, stop: int, step: int) -> int:
    """The length of ``range(start, stop, step)`` for ``0 <= start <= stop`` and ``step >= 1``."""
    return len(range(start, stop, step))


def _slice_rule(types, attrs):
    (t,) = types
    dim = check_dim(attrs["dim"], t.ndim, "slice")
    start, stop, step = attrs["start"], attrs["stop"], attrs["step"]
    size = t.shape[dim]
    if step < 1:
        raise ShapeError(f"slice step must be positive, got {step}",
                         fix="use flip() to reverse a dimension; negative steps are not supported (as PyTorch)")
    if not 0 <= start <= stop <= size:
        raise ShapeError(f"slice: bounds start={start}, stop={stop} are not within 0 <= start <= stop <= {size} "
                         f"for dimension {dim} of {t}",
                         fix="the front end clamps and normalises slice bounds before building the node")
    shape = list(t.shape)
    shape[dim] = slice_size(start, stop, step)
    return TensorType(t.dtype, shape)


def _slice_ref(x, *, dim, start, stop, step):
    index = [slice(None)] * x.ndim
    index[dim % x.ndim] = slice(start, stop, step)
    return x[tuple(index)]


register_op("slice", arity=1, kind="movement", infer=_slice_rule, ref=_slice_ref,
            attrs={"dim": ("int", REQUIRED), "start": ("int", REQUIRED), "stop": ("int", REQUIRED),
                   "step": ("int", 1)},
            doc="x[..., start:stop:step, ...] along one dim (0 <= start <= stop <= size, step >= 1)")


# ---------------------------------------------------------------------- pad
def _pad_rule(types, attrs):
    (t,) = types
    pads = attrs["pads"]
    if len(pads) != t.ndim:
        raise ShapeError(f"pad: expected one (before, after) pair per dimension of {t} ({t.ndim}), got {len(pads)}",
                         fix="the front end expands F.pad's flat list into one pair per dimension")
    for lo, hi in pads:
        if lo < 0 or hi < 0:
            raise ShapeError(f"pad amounts must be >= 0, got {list(pads)}",
                             fix="the front end turns negative padding into a slice")
    return TensorType(t.dtype, tuple(s + lo + hi for s, (lo, hi) in zip(t.shape, pads, strict=True)))


def _pad_ref(x, *, pads, value):
    return np.pad(x, pads, mode="constant", constant_values=np.asarray(value).astype(x.dtype))


register_op("pad", arity=1, kind="movement", infer=_pad_rule, ref=_pad_ref,
            attrs={"pads": ("pairs", REQUIRED), "value": ("float", 0.0)},
            doc="constant padding: one (before, after) pair per dim, both >= 0")


# ---------------------------------------------------------------------- concat
def _concat_rule(types, attrs):
    if not types:
        raise ShapeError("torch.cat(): expected a non-empty list of Tensors", fix="pass at least one tensor")
    same_dtype("concat", types)
    first = types[0]
    if first.ndim == 0:
        raise ShapeError("zero-dimensional tensor (at position 0) cannot be concatenated",
                         fix="unsqueeze(0) each scalar first, or use stack()")
    dim = check_dim(attrs["dim"], first.ndim, "concat")
    for i, t in enumerate(types[1:], 1):
        if t.ndim != first.ndim:
            raise ShapeError(f"Tensors must have same number of dimensions: got {first.ndim} and {t.ndim}",
                             fix="reshape the tensors to the same number of dimensions first")
        for d in range(first.ndim):
            if d != dim and t.shape[d] != first.shape[d]:
                raise ShapeError(f"Sizes of tensors must match except in dimension {dim}. Expected size "
                                 f"{first.shape[d]} but got size {t.shape[d]} for tensor number {i} in the list.",
                                 fix="make every other dimension equal (slice, pad or expand)")
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in types)
    return TensorType(first.dtype, shape)


def _concat_ref(*xs, dim):
    return np.concatenate(xs, axis=dim % xs[0].ndim)


register_op("concat", arity=None, kind="movement", infer=_concat_rule, ref=_concat_ref,
            attrs={"dim": ("int", 0)},
            doc="join tensors of one dtype along dim (other sizes equal)")


# ---------------------------------------------------------------------- flip
def _flip_rule(types, attrs):
    (t,) = types
    if t.ndim:
        check_dims(attrs["dims"], t.ndim, "flip")
    elif any(d not in (0, -1) for d in attrs["dims"]):
        raise ShapeError(f"flip: dimension out of range for a 0-dimensional tensor: {list(attrs['dims'])}",
                         fix="use dims [] or [0]")
    return TensorType(t.dtype, t.shape)


def _flip_ref(x, *, dims):
    if x.ndim == 0:
        return x.copy()
    return np.flip(x, axis=tuple(d % x.ndim for d in dims)).copy()  # a copy: torch.flip is not a view


register_op("flip", arity=1, kind="movement", infer=_flip_rule, ref=_flip_ref,
            attrs={"dims": ("ints", REQUIRED)},
            doc="reverse the order of elements along each of dims")
