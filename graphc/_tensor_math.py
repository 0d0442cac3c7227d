"""Elementwise tensor functions with PyTorch's semantics, built from graphc's core IR ops.

Each function here is both a Tensor method (``x.exp()``, attached by ``graphc._tensor_methods``)
and a ``graphc.*`` function (``graphc.exp(x)``, exported by ``graphc.functions``). Composites
decompose into core ops, so they differentiate, trace and compile like any other op::

    >>> import graphc
    >>> x = graphc.tensor([0.5, -1.5, 2.0], requires_grad=True)
    >>> x.clamp(min=0.0).log1p().sum().backward()
    >>> x.grad
    tensor([0.6667, 0.    , 0.3333])

Rounding (floor, ceil, round, trunc) has no IR op: it is built from casts, whose gradient is
zero, matching PyTorch, where ``floor`` passes a zero gradient back.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcValueError

from . import _dispatch
from ._tensor_args import as_float, as_tensor, const
from .autograd import no_grad
from .tensor import Tensor, true_divide

apply = _dispatch.apply
binary = _dispatch.binary


# ------------------------------------------------------------------ unary math
def _float_unary(op: str, doc: str):
    def fn(input):
        return apply(op, as_float(input))

    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = doc + " (integer inputs give float32, as in PyTorch)."
    return fn


exp = _float_unary("exp", "e to the power of each element")
log = _float_unary("log", "Natural logarithm of each element")
sqrt = _float_unary("sqrt", "Square root of each element")
rsqrt = _float_unary("rsqrt", "Reciprocal square root of each element")
reciprocal = _float_unary("reciprocal", "1 / x for each element")
sin = _float_unary("sin", "Sine of each element")
cos = _float_unary("cos", "Cosine of each element")
tanh = _float_unary("tanh", "Hyperbolic tangent of each element")
sigmoid = _float_unary("sigmoid", "The logistic function 1 / (1 + exp(-x)) of each element")
erf = _float_unary("erf", "The error function of each element")


def _scale(x: Tensor, factor: float) -> Tensor:
    return apply("mul", x, const(factor, x.dtype))


def log2(input):
    """Base-2 logarithm of each element."""
    return _scale(log(input), 1.0 / math.log(2.0))


def log10(input):
    """Base-10 logarithm of each element."""
    return _scale(log(input), 1.0 / math.log(10.0))


def log1p(input):
    """``log(1 + x)``, accurate for small x.

    The value uses Goldberg's correction ``log(u) * x / (u - 1)`` with ``u = 1 + x``; the
    gradient is that of ``log(u)``, i.e. ``1 / (1 + x)``.
    """
    x = as_float(input)
    u = apply("add", x, const(1.0, x.dtype))
    plain = apply("log", u)
    with no_grad():
        d = apply("sub", u, const(1.0, x.dtype))
        one = apply("eq", d, const(0.0, x.dtype))
        safe_d = apply("where", one, const(1.0, x.dtype), d)
        accurate = apply("where", one, x, apply("div", apply("mul", plain, x), safe_d))
        correction = apply("sub", accurate, plain)
        correction = apply("where", apply("eq", correction, correction), correction, const(0.0, x.dtype))
    return apply("add", plain, correction)


def expm1(input):
    """``exp(x) - 1``, accurate for small x (Kahan's correction); the gradient is ``exp(x)``."""
    x = as_float(input)
    u = apply("exp", x)
    plain = apply("sub", u, const(1.0, x.dtype))
    with no_grad():
        lu = apply("log", u)
        one = apply("eq", u, const(1.0, x.dtype))
        safe_lu = apply("where", one, const(1.0, x.dtype), lu)
        accurate = apply("where", one, x, apply("div", apply("mul", plain, x), safe_lu))
        accurate = apply("where", apply("eq", plain, const(-1.0, x.dtype)), plain, accurate)
        correction = apply("sub", accurate, plain)
        correction = apply("where", apply("eq", correction, correction), correction, const(0.0, x.dtype))
    return apply("add", plain, correction)


def tan(input):
    """Tangent of each element (``sin / cos``)."""
    x = as_float(input)
    return apply("div", apply("sin", x), apply("cos", x))


def abs(input):
    """Absolute value of each element."""
    return apply("abs", as_tensor(input))


absolute = abs


def neg(input):
    """``-x``."""
    return apply("neg", as_tensor(input))


negative = neg


def sign(input):
    """-1, 0 or 1 by the sign of each element (zero gradient)."""
    return apply("sign", as_tensor(input))


def relu(input):
    """``max(x, 0)``; the gradient at 0 is 0, as in PyTorch."""
    return apply("relu", as_tensor(input))


def square(input):
    """``x * x`` (bool becomes int64, as PyTorch's ``pow(x, 2)``)."""
    x = as_tensor(input)
    if x.dtype.is_bool:
        x = _dispatch.cast(x, D.int64)
    return apply("mul", x, x)


def pow(input, exponent):
    """``input ** exponent`` with PyTorch's type promotion (either may be a number)."""
    return binary("pow", input, exponent)


# ------------------------------------------------------------------ rounding (zero gradient)
def _zero_grad_of(value: Tensor, x: Tensor) -> Tensor:
    """``value`` that passes a zero gradient back to ``x`` (PyTorch's rule for floor and friends)."""
    if not (x.requires_grad and _dispatch.needs_grad([x])):
        return value
    everywhere = const(True, D.bool_, x.shape)
    return apply("where", everywhere, value, x)


def _trunc_values(x: Tensor) -> Tensor:
    # floats at or beyond 2^52 (2^23 for float32) are already integers; NaN and inf stay as they are
    limit = const(2.0 ** (52 if x.dtype is D.float64 else 23), x.dtype)
    small = apply("lt", apply("abs", x), limit)
    safe = apply("where", small, x, const(0.0, x.dtype))  # no NaN or inf reaches the integer cast
    return apply("where", small, _dispatch.cast(_dispatch.cast(safe, D.int64), x.dtype), x)


def _rounded(input, how) -> Tensor:
    x = as_tensor(input)
    if not x.dtype.is_floating_point:
        return apply("cast", x, dtype=x.dtype.short)  # a copy, as PyTorch returns for integers
    with no_grad(), np.errstate(invalid="ignore"):  # inf - inf in the intermediate steps is expected
        value = how(x)
    return _zero_grad_of(value, x)


def _floor_values(x):
    t = _trunc_values(x)
    return apply("sub", t, _dispatch.cast(apply("gt", t, x), x.dtype))


def _ceil_values(x):
    t = _trunc_values(x)
    return apply("add", t, _dispatch.cast(apply("lt", t, x), x.dtype))


def _round_half_even(x):
    f = _floor_values(x)
    frac = apply("sub", x, f)
    half = const(0.5, x.dtype)
    two = const(2.0, x.dtype)
    odd = apply("ne", apply("sub", f, apply("mul", two, _floor_values(apply("div", f, two)))), const(0.0, x.dtype))
    up = apply("logical_or", apply("gt", frac, half), apply("logical_and", apply("eq", frac, half), odd))
    return apply("add", f, _dispatch.cast(up, x.dtype))


def trunc(input):
    """Round towards zero (gradient zero)."""
    return _rounded(input, _trunc_values)


fix = trunc


def floor(input):
    """Round down (gradient zero)."""
    return _rounded(input, _floor_values)


def ceil(input):
    """Round up (gradient zero)."""
    return _rounded(input, _ceil_values)


def round(input, *, decimals: int = 0):
    """Round half to even, as PyTorch (gradient zero); ``decimals`` scales by ``10**decimals`` first."""
    if decimals == 0:
        return _rounded(input, _round_half_even)

    def scaled(x):
        s = const(10.0 ** decimals, x.dtype)
        return apply("div", _round_half_even(apply("mul", x, s)), s)

    return _rounded(input, scaled)


# ------------------------------------------------------------------ binary arithmetic
def add(input, other, *, alpha=1):
    """``input + alpha * other``."""
    if alpha != 1:
        other = binary("mul", other, alpha)
    return binary("add", input, other)


def sub(input, other, *, alpha=1):
    """``input - alpha * other``."""
    if alpha != 1:
        other = binary("mul", other, alpha)
    return binary("sub", input, other)


subtract = sub


def mul(input, other):
    """``input * other``."""
    return binary("mul", input, other)


multiply = mul


def div(input, other, *, rounding_mode: str | None = None):
    """``input / other``: true division, or rounded with ``rounding_mode='trunc'`` / ``'floor'``."""
    if rounding_mode is None:
        return true_divide(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise GraphcValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'",
                               fix="use rounding_mode=None, 'trunc' or 'floor'")
    (a, b), dtype = _dispatch.promote(input, other)
    if dtype.is_bool:
        a, b = _dispatch.cast(a, D.int64), _dispatch.cast(b, D.int64)
    if dtype.is_floating_point:
        q = apply("div", a, b)
        return trunc(q) if rounding_mode == "trunc" else floor(q)
    _check_int_divisor(b)
    q = apply("div", a, b)  # integer division truncates
    if rounding_mode == "trunc":
        return q
    zero = const(0, q.dtype)
    inexact = apply("ne", apply("mul", q, b), a)
    opposite = apply("ne", apply("lt", a, zero), apply("lt", b, zero))
    return apply("sub", q, _dispatch.cast(apply("logical_and", inexact, opposite), q.dtype))


divide = div
true_divide = true_divide


def floor_divide(input, other):
    """``input // other`` (rounds down, as Python and PyTorch)."""
    return div(input, other, rounding_mode="floor")


def _check_int_divisor(b: Tensor) -> None:
    if b._tnode is None and (b._data == 0).any():
        raise ZeroDivisionError("integer division by zero")


def remainder(input, other):
    """Python's modulus: the result has the sign of the divisor (``a - floor(a / b) * b``)."""
    (a, b), dtype = _dispatch.promote(input, other)
    return apply("sub", a, apply("mul", floor_divide(a, b), b))


def fmod(input, other):
    """C's fmod: the result has the sign of the dividend (``a - trunc(a / b) * b``)."""
    (a, b), dtype = _dispatch.promote(input, other)
    return apply("sub", a, apply("mul", div(a, b, rounding_mode="trunc"), b))


def maximum(input, other):
    """Elementwise maximum; on ties the gradient is split evenly, as in PyTorch."""
    return binary("maximum", input, other)


def minimum(input, other):
    """Elementwise minimum; on ties the gradient is split evenly, as in PyTorch."""
    return binary("minimum", input, other)


def clamp(input, min=None, max=None):
    """Limit each element to ``[min, max]`` (numbers or tensors); NaN stays NaN.

    The gradient flows to ``input`` where ``min <= input <= max`` and to the bound elsewhere;
    where ``min > max`` every element becomes ``max``, as in PyTorch.
    """
    if min is None and max is None:
        raise GraphcValueError("torch.clamp: At least one of 'min' or 'max' must not be None",
                               fix="pass min=, max= or both")
    operands = [input] + [b for b in (min, max) if b is not None]
    converted, dtype = _dispatch.promote(*operands)
    x = converted[0]
    rest = iter(converted[1:])
    # where(x >= lo, x, where(x < lo, lo, NaN without gradient)): PyTorch passes no gradient to a NaN
    if min is not None:
        lo = next(rest)
        x = apply("where", apply("ge", x, lo), x, apply("where", apply("lt", x, lo), lo, _detached(x)))
    if max is not None:
        hi = next(rest)
        x = apply("where", apply("le", x, hi), x, apply("where", apply("gt", x, hi), hi, _detached(x)))
    return x  # tensor bounds broadcast the result, as PyTorch's out-of-place clamp


clip = clamp


def _detached(x: Tensor) -> Tensor:
    return x.detach() if x.requires_grad else x


def clamp_min(input, min):
    """``clamp(input, min=min)``."""
    return clamp(input, min=min)


def clamp_max(input, max):
    """``clamp(input, max=max)``."""
    return clamp(input, max=max)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` else ``other`` (numbers allowed; dtypes promote).

    With the condition alone it is ``condition.nonzero(as_tuple=True)``, computed eagerly.
    """
    cond = as_tensor(condition)
    if input is None and other is None:
        cond._no_value("graphc.where(condition) with one argument")
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in np.nonzero(cond._data))
    if not cond.dtype.is_bool:
        raise DTypeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {_torch_name(cond.dtype)}",
                         fix="compare first (x > 0) or cast with .bool()")
    (a, b), _ = _dispatch.promote(input, other)
    return apply("where", cond, a, b)


def lerp(input, end, weight):
    """``input + weight * (end - input)``; ``weight`` a number or a tensor."""
    start, end = as_tensor(input), as_tensor(end)
    if start.dtype is not end.dtype:
        raise DTypeError(f"expected dtype {_torch_name(start.dtype)} for `end` but got dtype {_torch_name(end.dtype)}",
                         fix="cast end to the input's dtype")
    if isinstance(weight, Tensor):
        if weight.dtype is not start.dtype:
            raise DTypeError(f"expected dtype {_torch_name(start.dtype)} for `weight` but got dtype {_torch_name(weight.dtype)}",
                             fix="cast weight to the input's dtype")
        w = weight
    else:
        w = const(weight, start.dtype)
    return apply("add", start, apply("mul", w, apply("sub", end, start)))


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``."""
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``."""
    return add(input, true_divide(tensor1, tensor2), alpha=value)


# ------------------------------------------------------------------ comparisons and logic
def eq(input, other):
    """Elementwise ``==`` (a bool tensor)."""
    return binary("eq", input, other)


def ne(input, other):
    """Elementwise ``!=``."""
    return binary("ne", input, other)


def lt(input, other):
    """Elementwise ``<``."""
    return binary("lt", input, other)


def le(input, other):
    """Elementwise ``<=``."""
    return binary("le", input, other)


def gt(input, other):
    """Elementwise ``>``."""
    return binary("gt", input, other)


def ge(input, other):
    """Elementwise ``>=``."""
    return binary("ge", input, other)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def _as_bool(x) -> Tensor:
    return _dispatch.cast(as_tensor(x), D.bool_)  # nonzero is True, as in PyTorch's logical ops


def logical_not(input):
    """Elementwise not (any dtype: nonzero is True)."""
    return apply("logical_not", _as_bool(input))


def logical_and(input, other):
    """Elementwise and (any dtype: nonzero is True)."""
    return apply("logical_and", _as_bool(input), _as_bool(other))


def logical_or(input, other):
    """Elementwise or (any dtype: nonzero is True)."""
    return apply("logical_or", _as_bool(input), _as_bool(other))


def logical_xor(input, other):
    """Elementwise exclusive or."""
    return apply("ne", _as_bool(input), _as_bool(other))


def isnan(input):
    """True where the element is NaN."""
    x = as_tensor(input)
    if not x.dtype.is_floating_point:
        return const(False, D.bool_, x.shape)
    return apply("ne", x, x)


def isinf(input):
    """True where the element is +inf or -inf."""
    x = as_tensor(input)
    if not x.dtype.is_floating_point:
        return const(False, D.bool_, x.shape)
    return apply("eq", apply("abs", x), const(math.inf, x.dtype))


def isfinite(input):
    """True where the element is neither NaN nor infinite."""
    x = as_tensor(input)
    if not x.dtype.is_floating_point:
        return const(True, D.bool_, x.shape)
    with np.errstate(invalid="ignore"):  # inf - inf is NaN: that is the test
        return apply("eq", apply("sub", x, x), const(0.0, x.dtype))


def _torch_name(dtype: D.DType) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool"}[dtype.name]
