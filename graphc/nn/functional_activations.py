"""More of ``torch.nn.functional``'s activations, built from graphc's core elementwise ops.

softplus, relu6, hardtanh, logsigmoid, mish, hardswish, hardsigmoid, softsign, glu, celu, selu
and prelu. Each is a few ``where``/``exp``/``log``/arithmetic nodes, so it runs eagerly, is
differentiated by the autodiff pass and compiles with no op of its own. Branches are written
with ``where`` on PyTorch's own conditions, so the gradient at a boundary (hardtanh at min_val,
hardswish at +-3, ...) is PyTorch's too, and every branch keeps a finite derivative so that
the branch ``where`` does not pick cannot turn the gradient into NaN.

    >>> import graphc
    >>> import graphc.nn.functional as F
    >>> F.relu6(graphc.tensor([-1.0, 3.0, 8.0]))
    tensor([0., 3., 6.])
"""

from __future__ import annotations

from graphc.factories import _torch_name
from graphc.ir.errors import (
    DTypeError,
    GraphcIndexError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
)
from graphc.tensor import Tensor

from . import _prims as P
from .functional_act import _float_input, _inplace_result, _source

# SELU's constants (Klambauer et al., 2017), the values PyTorch uses
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _c(value, like: Tensor) -> Tensor:
    """A 0-dim constant of ``like``'s dtype (keeps float64 inputs in float64)."""
    return P.const(value, like.dtype)



def _log1p(u: Tensor) -> Tensor:
    """log(1 + u) for u >= 0, accurate for tiny u with no log1p op.

    ``log(w) * u / (w - 1)`` with ``w = 1 + u`` cancels the rounding of ``1 + u`` (Goldberg's
    trick); where ``w`` rounds to 1, log1p(u) is u itself. The denominator is kept nonzero in
    the branch not taken so that its gradient stays finite.
    """
    w = P.add(u, _c(1, u))
    exact = P.binary("eq", w, _c(1, u))
    den = P.where(exact, _c(1, u), P.sub(w, _c(1, u)))
    return P.where(exact, u, P.div(P.mul(P.apply("log", w), u), den))


def _softplus_unit(z: Tensor) -> Tensor:
    """log(1 + exp(z)) computed as max(z, 0) + log1p(exp(-|z|)): no overflow, exact tails."""
    pos = P.binary("gt", z, _c(0, z))
    neg_abs = P.where(pos, P.apply("neg", z), z)
    return P.add(P.where(pos, z, _c(0, z)), _log1p(P.apply("exp", neg_abs)))


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """x where beta * x > threshold, else log(1 + exp(beta * x)) / beta (computed stably)."""
    x = _float_input("softplus", input)
    z = x if beta == 1 else P.mul(x, _c(beta, x))
    out = _softplus_unit(z)
    if beta != 1:
        out = P.div(out, _c(beta, x))
    return P.where(P.binary("gt", z, _c(threshold, x)), x, out)


def logsigmoid(input):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for any x."""
    x = _float_input("logsigmoid", input)
    pos = P.binary("gt", x, _c(0, x))
    neg_abs = P.where(pos, P.apply("neg", x), x)
    return P.sub(P.where(pos, _c(0, x), x), _log1p(P.apply("exp", neg_abs)))


def _clamp_input(name: str, x) -> Tensor:
    """hardtanh and relu6 also take integer tensors, as in PyTorch (not bool)."""
    if isinstance(x, Tensor) and not x.dtype.is_bool:
        return x
    return _float_input(name, x)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """x clamped to [min_val, max_val]; the gradient is 0 at and beyond the bounds (PyTorch's)."""
    if min_val > max_val:
        raise GraphcValueError("min_val cannot be greater than max_val", fix="pass min_val <= max_val")
    x = _source(_clamp_input("hardtanh", input), inplace)
    lo, hi = _c(min_val, x), _c(max_val, x)
    out = P.where(P.binary("le", x, lo), lo, P.where(P.binary("ge", x, hi), hi, x))
    return _inplace_result(input, out, inplace)


def relu6(input, inplace: bool = False):
    """min(max(0, x), 6): hardtanh(x, 0, 6)."""
    return hardtanh(_clamp_input("relu6", input), 0.0, 6.0, inplace)


def mish(input, inplace: bool = False):
    """x * tanh(softplus(x))."""
    x = _source(_float_input("mish", input), inplace)
    return _inplace_result(input, P.mul(x, P.apply("tanh", _softplus_unit(x))), inplace)


def hardswish(input, inplace: bool = False):
    """0 for x <= -3, x for x >= 3, else x * (x + 3) / 6 (gradient 0 at -3 and 1 at 3, as PyTorch's)."""
    x = _source(_float_input("hardswish", input), inplace)
    mid = P.div(P.mul(x, P.add(x, _c(3, x))), _c(6, x))
    out = P.where(P.binary("le", x, _c(-3, x)), _c(0, x), P.where(P.binary("ge", x, _c(3, x)), x, mid))
    return _inplace_result(input, out, inplace)


def hardsigmoid(input, inplace: bool = False):
    """0 for x <= -3, 1 for x >= 3, else (x + 3) / 6."""
    x = _source(_float_input("hardsigmoid", input), inplace)
    mid = P.div(P.add(x, _c(3, x)), _c(6, x))
    out = P.where(P.binary("le", x, _c(-3, x)), _c(0, x), P.where(P.binary("ge", x, _c(3, x)), _c(1, x), mid))
    return _inplace_result(input, out, inplace)


def softsign(input):
    """x / (1 + |x|) (integer inputs give a float result, as in PyTorch)."""
    return input / (input.abs() + 1)


def glu(input, dim: int = -1):
    """Gated linear unit: a * sigmoid(b), where a and b are the two halves of ``input`` along ``dim``."""
    x = _float_input("glu", input)
    if x.ndim == 0:
        raise ShapeError("glu does not support scalars because halving size must be even",
                         fix="pass a tensor with at least one dimension of even size")
    if not -x.ndim <= dim < x.ndim:
        raise GraphcIndexError(f"Dimension out of range (expected to be in range of [{-x.ndim}, "
                               f"{x.ndim - 1}], but got {dim})")
    dim %= x.ndim
    size = x.shape[dim]
    if size % 2:
        raise ShapeError(f"Halving dimension must be even, but dimension {dim} is size {size}",
                         fix=f"glu splits dim {dim} into two halves: give it an even size")
    half = size // 2
    a, b = P.slice_(x, dim, 0, half), P.slice_(x, dim, half, size)
    return P.mul(a, P.apply("sigmoid", b))


def _expm1_nonpositive(z: Tensor) -> Tensor:
    """exp(z) - 1 for z <= 0, accurate near 0 with no expm1 op: 2t / (1 - t) with t = tanh(z / 2)."""
    t = P.apply("tanh", P.mul(z, _c(0.5, z)))
    return P.div(P.mul(t, _c(2, z)), P.sub(_c(1, z), t))


def _elu_form(x: Tensor, scale: float, neg_coef: float, input_coef: float) -> Tensor:
    """PyTorch's elu kernel: scale * x for x > 0, else neg_coef * expm1(input_coef * x).

    The negative branch reads min(x, 0), so a large positive x neither overflows exp nor
    sends a NaN gradient through the branch ``where`` does not take.
    """
    pos = P.binary("gt", x, _c(0, x))
    z = P.where(pos, _c(0, x), x)
    z = z if input_coef == 1 else P.mul(z, _c(input_coef, x))
    em1 = _expm1_nonpositive(z) if input_coef > 0 else P.sub(P.apply("exp", z), _c(1, x))
    scaled = x if scale == 1 else P.mul(x, _c(scale, x))
    return P.where(pos, scaled, P.mul(em1, _c(neg_coef, x)))


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """x for x > 0, else alpha * (exp(x / alpha) - 1)."""
    if alpha == 0:
        raise GraphcValueError("ZeroDivisionError: alpha cannot be 0 for CELU", fix="pass a nonzero alpha")
    x = _source(_float_input("celu", input), inplace)
    return _inplace_result(input, _elu_form(x, 1.0, alpha, 1.0 / alpha), inplace)


def selu(input, inplace: bool = False):
    """scale * (x for x > 0, else alpha * (exp(x) - 1)), with SELU's fixed alpha and scale."""
    x = _source(_float_input("selu", input), inplace)
    return _inplace_result(input, _elu_form(x, _SELU_SCALE, _SELU_ALPHA * _SELU_SCALE, 1.0), inplace)


def prelu(input, weight):
    """x for x > 0, else weight * x; ``weight`` has 1 element or one per channel (dim 1)."""
    x = _float_input("prelu", input)
    if not isinstance(weight, Tensor):
        raise GraphcTypeError(f"prelu(): argument 'weight' must be Tensor, not {type(weight).__name__}")
    if weight.dtype is not x.dtype:
        raise DTypeError(f"prelu: Type promoting not supported. Got {_torch_name(x.dtype)} and "
                         f"{_torch_name(weight.dtype)}", fix="give the weight the input's dtype")
    count = weight.numel()
    if count != 1:
        if x.ndim == 0:
            raise ShapeError("Not allow zero-dim input tensor.", fix="a 0-dim input takes a 1-element weight")
        channels = x.shape[1] if x.ndim > 1 else 1
        if channels != count:
            raise ShapeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                             f"{count} and channel size = {channels}.",
                             fix=f"use a weight of 1 or {channels} elements (nn.PReLU(num_parameters={channels}))")
    if weight.ndim > 1:
        raise ShapeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}",
                         fix="flatten the weight to 1-D")
    w = weight
    if x.ndim != weight.ndim:
        shape = [1] * x.ndim
        if x.ndim > 1:
            shape[1] = count
        w = P.reshape(weight, shape)
    return P.where(P.binary("gt", x, _c(0, x)), x, P.mul(w, x))
