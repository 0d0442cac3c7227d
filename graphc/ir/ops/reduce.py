"""Reductions: sum and max over dimensions (with keepdim), argmax."""

from __future__ import annotations

import numpy as np

from ..dtypes import int64
from ..errors import DTypeError, ShapeError
from ..graph import TensorType
from ..registry import REQUIRED, register_op
from .rules import normalize_dims


def reduced_shape(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def _reduce_rule(name):
    def rule(types, attrs):
        (t,) = types
        dims = normalize_dims(attrs["dims"], t.ndim, name)
        if name == "max":
            for d in dims:
                if t.ndim and t.shape[d] == 0:
                    raise ShapeError("max of an empty dimension", fix="reduce over a non-empty dimension")
        if name == "sum" and t.dtype.is_bool:
            raise DTypeError("sum of a bool tensor needs a cast", fix="cast to int64 first (the front end does)")
        return TensorType(t.dtype, reduced_shape(t.shape, dims, attrs["keepdim"]))

    return rule


def _sum_ref(x, *, dims, keepdim):
    return np.sum(x, axis=tuple(d % max(x.ndim, 1) for d in dims) if x.ndim else None, keepdims=keepdim, dtype=x.dtype)


def _max_ref(x, *, dims, keepdim):
    return np.max(x, axis=tuple(d % max(x.ndim, 1) for d in dims) if x.ndim else None, keepdims=keepdim)


_REDUCE_ATTRS = {"dims": ("ints", REQUIRED), "keepdim": ("bool", False)}
register_op("sum", arity=1, kind="reduction", infer=_reduce_rule("sum"), ref=_sum_ref, attrs=_REDUCE_ATTRS,
            doc="sum over dims (all listed dims), keepdim keeps them as size 1")
register_op("max", arity=1, kind="reduction", infer=_reduce_rule("max"), ref=_max_ref, attrs=_REDUCE_ATTRS,
            doc="max over dims, keepdim keeps them as size 1")


def _argmax_rule(types, attrs):
    (t,) = types
    (d,) = normalize_dims((attrs["dim"],), t.ndim, "argmax")
    if t.ndim and t.shape[d] == 0:
        raise ShapeError("argmax of an empty dimension")
    return TensorType(int64, reduced_shape(t.shape, (d,), attrs["keepdim"]))


def _argmax_ref(x, *, dim, keepdim):
    if x.ndim == 0:
        return np.zeros((), np.int64)
    out = np.argmax(x, axis=dim % x.ndim)
    if keepdim:
        out = np.expand_dims(out, dim % x.ndim)
    return out.astype(np.int64)


register_op("argmax", arity=1, kind="reduction", infer=_argmax_rule, ref=_argmax_ref,
            attrs={"dim": ("int", REQUIRED), "keepdim": ("bool", False)},
            doc="index of the first maximum along dim (int64)")
