"""In-place tensor methods (``add_``, ``mul_``, ``zero_``, ``copy_``, ``clamp_``, ...).

Every write goes through ``graphc._dispatch.apply_inplace``, so PyTorch's rules hold: the
version counter moves, an in-place op on a leaf that requires grad raises, a tensor saved for
backward and then modified makes backward raise, and a result of a wider dtype category than
the tensor (``int_tensor.add_(0.5)``) is refused::

    >>> import graphc
    >>> w = graphc.zeros(3)
    >>> with graphc.no_grad():
    ...     w.add_(graphc.ones(3), alpha=0.1).mul_(2)
    tensor([0.2000, 0.2000, 0.2000])

Writes that are not one IR op (``fill_``, ``copy_``, ``clamp_``, ``lerp_``...) overwrite the
tensor in two in-place steps, ``x ** 0`` (all ones, gradient zero) then ``* value``, so the
value's gradient flows and the old contents get none, exactly as PyTorch's ``copy_``.
"""

from __future__ import annotations

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, ShapeError
from graphc.ir.ops.rules import broadcast_shapes

from . import _dispatch
from . import _tensor_math as M
from . import _tensor_shape as S
from ._tensor_args import as_tensor, const
from ._tensor_math import _torch_name
from .autograd import is_grad_enabled
from .tensor import Tensor

apply_inplace = _dispatch.apply_inplace


def _result_dtype(*xs) -> D.DType:
    tensors, zero_dim, scalars = [], [], []
    for x in xs:
        if isinstance(x, Tensor):
            (tensors if x.ndim else zero_dim).append(x.dtype)
        else:
            scalars.append(D.scalar_dtype(x))
    return D.result_type(tensors, zero_dim, scalars)


def _check_castable(self: Tensor, result: D.DType) -> None:
    if result.category > self.dtype.category:
        raise DTypeError(f"result type {_torch_name(result)} can't be cast to the desired output type {_torch_name(self.dtype)}",
                         fix="use the out-of-place op, or convert the tensor first (e.g. x = x.float())")


def _operand(self: Tensor, other) -> Tensor:
    """``other`` for an in-place op on ``self``: checked by PyTorch's promotion, cast to self's dtype."""
    _check_castable(self, _result_dtype(self, other))
    return _dispatch.cast(as_tensor(other), self.dtype)


def _binary_(op: str):
    def method(self, other):
        return apply_inplace(self, op, _operand(self, other))

    method.__name__ = op + "_"
    method.__doc__ = f"In-place ``{op}``: ``self = {op}(self, other)``."
    return method


def add_(self, other, *, alpha=1):
    """``self += alpha * other``."""
    if alpha != 1:
        other = _dispatch.binary("mul", other, alpha)
    return apply_inplace(self, "add", _operand(self, other))


def sub_(self, other, *, alpha=1):
    """``self -= alpha * other``."""
    if alpha != 1:
        other = _dispatch.binary("mul", other, alpha)
    return apply_inplace(self, "sub", _operand(self, other))


mul_ = _binary_("mul")
pow_ = _binary_("pow")


def div_(self, other, *, rounding_mode=None):
    """``self /= other`` (true division unless ``rounding_mode`` is 'trunc' or 'floor')."""
    if rounding_mode is not None:
        return _rewrite(self, lambda s: M.div(s, other, rounding_mode=rounding_mode), other)
    result = _result_dtype(self, other)
    _check_castable(self, result if result.is_floating_point else D.float32)
    return apply_inplace(self, "div", _dispatch.cast(as_tensor(other), self.dtype))


def _unary_(op: str):
    def method(self):
        return apply_inplace(self, op)

    method.__name__ = op + "_"
    method.__doc__ = f"In-place ``{op}``."
    return method


exp_ = _unary_("exp")
log_ = _unary_("log")
neg_ = _unary_("neg")
abs_ = _unary_("abs")
relu_ = _unary_("relu")
sigmoid_ = _unary_("sigmoid")
tanh_ = _unary_("tanh")
sqrt_ = _unary_("sqrt")
rsqrt_ = _unary_("rsqrt")
reciprocal_ = _unary_("reciprocal")
sin_ = _unary_("sin")
cos_ = _unary_("cos")
sign_ = _unary_("sign")
negative_ = neg_
absolute_ = abs_


# ------------------------------------------------------------------ overwrites
def _overwrite(self: Tensor, src: Tensor) -> Tensor:
    """``self[...] = src`` (broadcast, cast to self's dtype) as two in-place ops."""
    src = as_tensor(src)
    if broadcast_shapes(tuple(self.shape), tuple(src.shape)) != tuple(self.shape):
        raise ShapeError(f"The size of tensor a ({list(self.shape)}) must match the size of tensor b ({list(src.shape)})",
                         fix="the source must broadcast to the destination's shape")
    src = _dispatch.cast(src, self.dtype)
    if self.dtype.is_bool:
        apply_inplace(self, "logical_and", const(False, D.bool_))
        return apply_inplace(self, "logical_or", src)
    apply_inplace(self, "pow", const(0, self.dtype))  # every element 1 (even NaN), gradient zero
    return apply_inplace(self, "mul", src)


def _rewrite(self: Tensor, compute, *operands) -> Tensor:
    """``self = compute(self)`` for a composite op, written in place with PyTorch's checks.

    While gradients are recorded, ``compute`` reads a copy of ``self``: its tape must not see
    the overwrite that follows.
    """
    if self.is_leaf and self.requires_grad and is_grad_enabled():
        raise _leaf_error()
    source = S.clone(self) if is_grad_enabled() and _dispatch.tracer is None else self
    result = compute(source)
    _check_castable(self, result.dtype)
    return _overwrite(self, result)


def _leaf_error():
    from graphc.ir.errors import AutogradError

    return AutogradError("a leaf Variable that requires grad is being used in an in-place operation.",
                         fix="wrap the update in `with graphc.no_grad():`, or use the out-of-place op")


def zero_(self):
    """Fill with zeros."""
    return _overwrite(self, const(0, self.dtype))


def fill_(self, value):
    """Fill with ``value`` (a number or a 0-dim tensor, whose gradient is the sum of self's)."""
    if isinstance(value, Tensor) and value.ndim:
        raise ShapeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.",
                         fix="pass a number or a 0-dim tensor")
    return _overwrite(self, as_tensor(value))


def copy_(self, src, non_blocking: bool = False):
    """Copy ``src`` (broadcast to self's shape, converted to self's dtype) into self."""
    if not isinstance(src, Tensor):
        from graphc.ir.errors import GraphcTypeError

        raise GraphcTypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}", fix="use fill_ for a number")
    return _overwrite(self, src)


def clamp_(self, min=None, max=None):
    """In-place :func:`clamp`."""
    return _rewrite(self, lambda s: M.clamp(s, min, max))


def clamp_min_(self, min):
    """In-place ``clamp(min=min)``."""
    return clamp_(self, min=min)


def clamp_max_(self, max):
    """In-place ``clamp(max=max)``."""
    return clamp_(self, max=max)


def masked_fill_(self, mask, value):
    """Write ``value`` where ``mask`` is True."""
    return _rewrite(self, lambda s: S.masked_fill(s, mask, value))


def lerp_(self, end, weight):
    """``self += weight * (end - self)``."""
    return _rewrite(self, lambda s: M.lerp(s, end, weight))


def addcmul_(self, tensor1, tensor2, *, value=1):
    """``self += value * tensor1 * tensor2``."""
    return add_(self, M.mul(tensor1, tensor2), alpha=value)


def addcdiv_(self, tensor1, tensor2, *, value=1):
    """``self += value * tensor1 / tensor2``."""
    return add_(self, M.true_divide(tensor1, tensor2), alpha=value)


def _rewrite_with(fn):
    def method(self, *args, **kwargs):
        return _rewrite(self, lambda s: fn(s, *args, **kwargs))

    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place ``{fn.__name__}``."
    return method


floor_ = _rewrite_with(M.floor)
ceil_ = _rewrite_with(M.ceil)
round_ = _rewrite_with(M.round)
trunc_ = _rewrite_with(M.trunc)
square_ = _rewrite_with(M.square)
log1p_ = _rewrite_with(M.log1p)
expm1_ = _rewrite_with(M.expm1)
remainder_ = _rewrite_with(M.remainder)
fmod_ = _rewrite_with(M.fmod)
clip_ = clamp_


# ------------------------------------------------------------------ random initialisation
def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None):
    """Fill with numbers drawn uniformly from ``[a, b)`` by graphc's default generator."""
    return _fill_random(self, "uniform", generator, a, b)


def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None):
    """Fill with numbers drawn from ``N(mean, std**2)`` by graphc's default generator."""
    return _fill_random(self, "normal", generator, mean, std)


def _fill_random(self: Tensor, kind: str, generator, p0, p1) -> Tensor:
    if not self.dtype.is_floating_point:
        raise DTypeError(f"\"{kind}_\" not implemented for '{_torch_name(self.dtype)}'", fix="fill a floating-point tensor")
    self._no_value(f"{kind}_()")
    if self.is_leaf and self.requires_grad and is_grad_enabled():
        raise _leaf_error()
    from . import random as R

    draw = R.draw_uniform if kind == "uniform" else R.draw_normal
    values = draw(tuple(self.shape), self.dtype, p0, p1, generator=generator)
    return _overwrite(self, Tensor._wrap(values))
