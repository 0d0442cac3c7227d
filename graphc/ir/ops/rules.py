"""Shape and dtype rules shared by many ops."""

from __future__ import annotations

from ..dtypes import bool_, from_name
from ..errors import DTypeError, GraphcIndexError, ShapeError
from ..graph import TensorType


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy/PyTorch broadcasting of several shapes, or a ShapeError saying which dims clash."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            d = s[i - ndim + len(s)] if i - ndim + len(s) >= 0 else 1
            if d != 1:
                if size not in (1, d):
                    pretty = " and ".join("[" + ",".join(map(str, s)) + "]" for s in shapes)
                    raise ShapeError(
                        f"shapes {pretty} cannot be broadcast together (dimension {i - ndim} is {size} vs {d})",
                        fix="make the sizes equal or 1 in that dimension (reshape, unsqueeze or expand)",
                    )
                size = d
        out.append(size)
    return tuple(out)


def same_dtype(op: str, types) -> None:
    first = types[0].dtype
    for t in types[1:]:
        if t.dtype is not first:
            raise DTypeError(
                f"{op} takes operands of one dtype, got {', '.join(str(t) for t in types)}",
                fix="cast one operand with .to(dtype) (the front end does this by PyTorch's promotion rules)",
            )


def elementwise(op: str, types, *, float_only=False, out_dtype=None, no_bool=False) -> TensorType:
    """Broadcast the operands; they share one dtype; the result has it (or ``out_dtype``)."""
    same_dtype(op, types)
    dtype = types[0].dtype
    if float_only and not dtype.is_floating_point:
        raise DTypeError(f"{op} needs a floating-point operand, got {dtype.name}", fix="cast with .float() first")
    if no_bool and dtype.is_bool:
        raise DTypeError(f"{op} is not defined for bool tensors", fix="cast with .int() or .float() first")
    return TensorType(out_dtype or dtype, broadcast_shapes(*(t.shape for t in types)))


def unary_rule(types, attrs):
    return elementwise("unary op", types)


def normalize_dims(dims, ndim: int, op: str) -> tuple[int, ...]:
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise GraphcIndexError(
                f"{op}: Dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {d})",
                fix=f"use a dimension in [{-max(ndim, 1)}, {max(ndim, 1) - 1}]")
        out.append(d % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: dimension {dims} repeats a dimension")
    return tuple(out)


def bool_type(shape) -> TensorType:
    return TensorType(bool_, shape)


def dtype_attr(name: str):
    return from_name(name)
