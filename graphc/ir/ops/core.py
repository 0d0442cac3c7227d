"""Structural ops: placeholder, assign, constant, cast."""

from __future__ import annotations

import numpy as np

from ..dtypes import from_name
from ..errors import DTypeError, IRError
from ..graph import TensorType
from ..registry import REQUIRED, register_op


def _assign_rule(types, attrs):
    target, value = types
    if target != value:
        raise IRError(f"assign of {value} to a placeholder of type {target}", fix="the update must keep the shape and dtype")
    return None


register_op("placeholder", arity=0, kind="source", attrs={"role": ("str", REQUIRED)}, doc="a graph input")
register_op("assign", arity=2, kind="effect", infer=_assign_rule, effect=True,
            doc="assign %target, %value: the update of a param, state or input placeholder at the end of the step")


def _dtype_attr(name: str, op: str):
    try:
        return from_name(name)
    except ValueError as e:
        raise DTypeError(f"{op}: {e}", fix="use one of f32, f64, i64, i32, bool") from None


def _constant_rule(types, attrs):
    return TensorType(_dtype_attr(attrs["dtype"], "constant"), attrs["shape"])


def _constant_ref(*, value, dtype, shape):
    return np.full(shape, value, dtype=from_name(dtype).np)


register_op("constant", arity=0, kind="source", infer=_constant_rule, ref=_constant_ref,
            attrs={"value": ("number", REQUIRED), "dtype": ("dtype", "f32"), "shape": ("ints", ())},
            doc="a tensor filled with one number (shape [] for a scalar)")


def _cast_rule(types, attrs):
    (t,) = types
    return TensorType(_dtype_attr(attrs["dtype"], "cast"), t.shape)


def _cast_ref(x, *, dtype):
    return x.astype(from_name(dtype).np)  # float to int truncates towards zero, as in PyTorch


register_op("cast", arity=1, kind="elementwise", infer=_cast_rule, ref=_cast_ref,
            attrs={"dtype": ("dtype", REQUIRED)}, doc="convert to another dtype (float to int truncates)")
