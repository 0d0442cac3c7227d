"""Elementwise ops: unary math, binary arithmetic with broadcasting, comparisons, where."""

from __future__ import annotations

import math

import numpy as np

from ..dtypes import bool_
from ..errors import DTypeError
from ..graph import TensorType
from ..registry import register_op
from .rules import broadcast_shapes, elementwise, same_dtype

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _erf_ref(x):
    return _erf(x).astype(x.dtype)


def _sigmoid_ref(x):
    # numerically stable in both tails
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _float_unary(name):
    def rule(types, attrs):
        return elementwise(name, types, float_only=True)

    return rule


def _any_unary(name):
    def rule(types, attrs):
        return elementwise(name, types, no_bool=name in ("neg",))

    return rule


_UNARY_FLOAT = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: (1.0 / np.sqrt(x)).astype(x.dtype),
    "reciprocal": lambda x: (1.0 / x).astype(x.dtype),
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "sigmoid": _sigmoid_ref,
    "erf": _erf_ref,
}
_UNARY_ANY = {
    "neg": np.negative,
    "abs": np.abs,
    "sign": lambda x: np.sign(x).astype(x.dtype),
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),
}

for _name, _fn in _UNARY_FLOAT.items():
    register_op(_name, arity=1, kind="elementwise", infer=_float_unary(_name), ref=_fn, doc=f"elementwise {_name}")
for _name, _fn in _UNARY_ANY.items():
    register_op(_name, arity=1, kind="elementwise", infer=_any_unary(_name), ref=_fn, doc=f"elementwise {_name}")


def _binary_rule(name):
    def rule(types, attrs):
        return elementwise(name, types, no_bool=name in ("sub", "pow", "div"))

    return rule


def _div_ref(a, b):
    if a.dtype.kind in "iu":  # integer division truncates (only reached through div(rounding_mode='trunc'))
        with np.errstate(divide="ignore"):
            return np.trunc(np.true_divide(a, b)).astype(a.dtype)
    return np.true_divide(a, b).astype(a.dtype, copy=False)


def _pow_ref(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        if a.dtype.kind in "iu" and np.any(b < 0):
            raise DTypeError("integers to negative integer powers are not allowed", fix="cast the base to float first")
        return np.power(a, b).astype(a.dtype, copy=False)


_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": _div_ref,
    "pow": _pow_ref,
    "maximum": np.maximum,
    "minimum": np.minimum,
}
for _name, _fn in _BINARY.items():
    register_op(_name, arity=2, kind="elementwise", infer=_binary_rule(_name), ref=_fn, doc=f"elementwise {_name} with broadcasting")


def _compare_rule(types, attrs):
    return elementwise("comparison", types, out_dtype=bool_)


_COMPARE = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}
for _name, _fn in _COMPARE.items():
    register_op(_name, arity=2, kind="elementwise", infer=_compare_rule, ref=_fn, doc=f"elementwise {_name}, a bool result")


def _logical_rule(types, attrs):
    for t in types:
        if not t.dtype.is_bool:
            raise DTypeError(f"logical ops take bool tensors, got {t}", fix="compare first, or cast with .bool()")
    return TensorType(bool_, broadcast_shapes(*(t.shape for t in types)))


register_op("logical_and", arity=2, kind="elementwise", infer=_logical_rule, ref=np.logical_and, doc="elementwise and of bools")
register_op("logical_or", arity=2, kind="elementwise", infer=_logical_rule, ref=np.logical_or, doc="elementwise or of bools")
register_op("logical_not", arity=1, kind="elementwise", infer=_logical_rule, ref=np.logical_not, doc="elementwise not of bools")


def _where_rule(types, attrs):
    cond, a, b = types
    if not cond.dtype.is_bool:
        raise DTypeError(f"where's condition must be bool, got {cond}", fix="use a comparison such as x > 0")
    same_dtype("where", [a, b])
    return TensorType(a.dtype, broadcast_shapes(cond.shape, a.shape, b.shape))


register_op("where", arity=3, kind="elementwise", infer=_where_rule, ref=np.where, doc="where %cond, %a, %b: a where cond else b")
