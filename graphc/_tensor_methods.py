"""Attach PyTorch's tensor method set to :class:`graphc.Tensor`; the dtype/device conversions.

The implementations live in the modules named for what they hold (``_tensor_math``: elementwise,
``_tensor_reduce``: reductions, ``_tensor_shape``: shape functions, ``_tensor_linalg``: matrix
products, ``_tensor_inplace``: in-place methods, ``_tensor_select``: gather/take/diagonal/tril,
``_tensor_rearrange``: roll/repeat_interleave/tile); this module binds them as methods, so
``x.exp()`` and ``graphc.exp(x)`` are one function::

    >>> import graphc
    >>> x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.sum(dim=0), x.mean(), x.t().shape
    (tensor([4., 6.]), tensor(2.5000), graphc.Size([2, 2]))
"""

from __future__ import annotations

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcTypeError

from . import _dispatch
from . import _tensor_dynamic as DY
from . import _tensor_inplace as I
from . import _tensor_linalg as L
from . import _tensor_math as M
from . import _tensor_rearrange as RA
from . import _tensor_reduce as R
from . import _tensor_scan as SC
from . import _tensor_select as SEL
from . import _tensor_shape as S
from . import _tensor_sort as SO
from ._tensor_args import dtype_arg
from .tensor import Tensor

_TORCH_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                     "int32": "IntTensor", "bool": "BoolTensor"}


# ------------------------------------------------------------------ dtype and device conversion
def _cast_method(dtype: D.DType):
    def method(self, memory_format=None):
        return _dispatch.cast(self, dtype)

    method.__name__ = dtype.name
    method.__doc__ = f"``self.to(graphc.{dtype.name})`` (the tensor itself when it already is one)."
    return method


def _unsupported_dtype(name: str, torch_name: str):
    def method(self, *args, **kwargs):
        raise DTypeError(f"graphc has no {torch_name} dtype (tensor.{name}())",
                         fix="graphc supports float32, float64, int32, int64 and bool; use .float() or .long()")

    method.__name__ = name
    method.__doc__ = f"Unsupported: graphc has no {torch_name}; raises DTypeError."
    return method


def to(self, *args, dtype=None, device=None, non_blocking: bool = False, copy: bool = False, memory_format=None):
    """Convert dtype and/or device: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``.

    Returns the tensor itself when nothing changes, unless ``copy=True``; otherwise a copy that
    autograd differentiates through. Moving to "cuda" needs a usable GPU (else
    :class:`graphc.DeviceError` "no usable CUDA GPU: ...").
    """
    from .device import device as device_type

    flags = []
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, D.DType):
            dtype = a
        elif isinstance(a, (str, device_type)) or (isinstance(a, int) and not isinstance(a, bool)):
            device = a
        elif isinstance(a, bool):
            flags.append(a)
        elif a is None:
            continue
        else:
            dtype = _dtype_or_raise(a)
    if len(flags) > 1:  # to(dtype, non_blocking, copy); non_blocking means nothing here
        copy = flags[1]
    out = self if dtype is None else _dispatch.cast(self, _dtype_or_raise(dtype))
    if device is not None:
        return _move(self, out, device, copy)
    if copy and out is self:
        out = S.clone(self)
    return out


def _move(self, out, device, copy: bool = False):
    """``out`` (self or its cast) on ``device``: a differentiable copy when the device changes."""
    from .device import check_device, placed

    target = placed(check_device(device))
    if target == self._device and not copy:
        return out
    if out is self:
        out = S.clone(self)
    out._device = target
    return out


def _dtype_or_raise(x) -> D.DType:
    if isinstance(x, str) and x.startswith(("torch.", "graphc.")):
        x = x.split(".", 1)[1]
    try:
        return dtype_arg(x)
    except DTypeError:
        raise
    except Exception:
        raise GraphcTypeError(f"to() received an invalid combination of arguments: {x!r}",
                              fix="pass a dtype, a device, or a tensor") from None


def cpu(self, memory_format=None):
    """The tensor on the CPU: itself when it is there, else a copy (autograd flows through it)."""
    return _move(self, self, "cpu")


def cuda(self, device=None, non_blocking: bool = False, memory_format=None):
    """The tensor on a CUDA device (``device``: None, an index, "cuda:1" or a graphc.device).

    Raises :class:`graphc.DeviceError` "no usable CUDA GPU: <reason>" where there is none.
    """
    return _move(self, self, "cuda" if device is None else device)


def type(self, dtype=None, non_blocking: bool = False):
    """With no argument, the type name (``'torch.FloatTensor'``, as PyTorch spells it); else a cast."""
    if dtype is None:
        return "torch." + _TORCH_TYPE_NAMES[self.dtype.name]
    if isinstance(dtype, str):
        name = dtype.split(".")[-1]
        by_type = {v: k for k, v in _TORCH_TYPE_NAMES.items()}
        if name in by_type:
            return _dispatch.cast(self, D.from_name(by_type[name]))
    return _dispatch.cast(self, _dtype_or_raise(dtype))


def is_tensor(obj) -> bool:
    """True for a graphc Tensor."""
    return isinstance(obj, Tensor)


def numel(input) -> int:
    """The number of elements."""
    return input.numel()


def is_floating_point(input) -> bool:
    """True for a float32 or float64 tensor."""
    return input.dtype.is_floating_point


# ------------------------------------------------------------------ bool and integer operators
def _logical_operator(op: str, reflected: bool = False):
    def method(self, other):
        a, b = (other, self) if reflected else (self, other)
        (a, b), dtype = _dispatch.promote(a, b)
        if not dtype.is_bool:
            raise DTypeError(f"bitwise {op.split('_')[1]} of {dtype.name} tensors is not supported by graphc",
                             fix="use it on bool tensors (comparisons), or use graphc.logical_and / logical_or")
        return _dispatch.apply(op, a, b) if op != "logical_xor" else _dispatch.apply("ne", a, b)

    return method


def _invert(self):
    if not self.dtype.is_bool:
        raise DTypeError(f"bitwise not of {self.dtype.name} tensors is not supported by graphc", fix="use it on bool tensors")
    return _dispatch.apply("logical_not", self)


# ------------------------------------------------------------------ the method table
_FROM_MATH = """exp log log2 log10 log1p expm1 sqrt rsqrt reciprocal sin cos tan tanh sigmoid erf abs absolute neg
negative sign relu square pow trunc fix floor ceil round add sub subtract mul multiply div divide true_divide
floor_divide remainder fmod maximum minimum clamp clip clamp_min clamp_max lerp addcmul addcdiv eq ne lt le gt ge
greater greater_equal less less_equal not_equal logical_not logical_and logical_or logical_xor isnan isinf isfinite"""
_FROM_REDUCE = """sum mean var std amax amin argmax argmin max min logsumexp softmax log_softmax norm all any
count_nonzero prod"""
_FROM_SHAPE = """reshape view view_as reshape_as flatten unflatten permute transpose swapaxes swapdims t unsqueeze squeeze
expand expand_as broadcast_to repeat contiguous narrow select split chunk unbind flip movedim masked_fill type_as clone
new_zeros new_ones new_empty new_full new_tensor"""
_FROM_LINALG = "matmul mm bmm mv dot inner vdot outer ger"
_FROM_INPLACE = """add_ sub_ mul_ div_ pow_ exp_ log_ neg_ abs_ relu_ sigmoid_ tanh_ sqrt_ rsqrt_ reciprocal_ sin_ cos_
sign_ negative_ absolute_ zero_ fill_ copy_ clamp_ clamp_min_ clamp_max_ clip_ masked_fill_ lerp_ addcmul_ addcdiv_
floor_ ceil_ round_ trunc_ square_ log1p_ expm1_ remainder_ fmod_ uniform_ normal_"""
_FROM_SELECT = "gather index_select take scatter_add diagonal diag tril triu"
_FROM_REARRANGE = "roll repeat_interleave tile"
_FROM_SCAN = "cumsum cumprod logcumsumexp"
_FROM_SORT = "sort argsort msort topk kthvalue median"
_FROM_DYNAMIC = "nonzero argwhere masked_select unique bincount"

METHODS: dict[str, object] = {}
for _module, _names in ((M, _FROM_MATH), (R, _FROM_REDUCE), (S, _FROM_SHAPE), (L, _FROM_LINALG), (I, _FROM_INPLACE),
                        (SEL, _FROM_SELECT), (RA, _FROM_REARRANGE), (SC, _FROM_SCAN), (SO, _FROM_SORT), (DY, _FROM_DYNAMIC)):
    for _name in _names.split():
        METHODS[_name] = getattr(_module, _name)

METHODS.update({
    "to": to, "cpu": cpu, "cuda": cuda, "type": type,
    "where": lambda self, condition, other: M.where(condition, self, other),
    "is_contiguous": lambda self, memory_format=None: True,  # no strides: see _tensor_shape.contiguous
    "float": _cast_method(D.float32), "double": _cast_method(D.float64), "long": _cast_method(D.int64),
    "int": _cast_method(D.int32), "bool": _cast_method(D.bool_),
    "half": _unsupported_dtype("half", "float16"), "bfloat16": _unsupported_dtype("bfloat16", "bfloat16"),
    "short": _unsupported_dtype("short", "int16"), "byte": _unsupported_dtype("byte", "uint8"),
    "char": _unsupported_dtype("char", "int8"),
    "__matmul__": L.matmul, "__rmatmul__": L._rmatmul,
    "__floordiv__": lambda self, other: M.floor_divide(self, other),
    "__rfloordiv__": lambda self, other: M.floor_divide(other, self),
    "__mod__": lambda self, other: M.remainder(self, other),
    "__rmod__": lambda self, other: M.remainder(other, self),
    "__and__": _logical_operator("logical_and"), "__rand__": _logical_operator("logical_and", True),
    "__or__": _logical_operator("logical_or"), "__ror__": _logical_operator("logical_or", True),
    "__xor__": _logical_operator("logical_xor"), "__rxor__": _logical_operator("logical_xor", True),
    "__invert__": _invert,
})

for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)

Tensor.T = property(S._T, doc="The tensor with its dims reversed.")
Tensor.mT = property(S._mT, doc="The last two dims swapped.")
