"""Running one op on tensors: eagerly through the op's reference, recording the tape for autograd.

``apply(op, *tensors, **attrs)`` is the single path every tensor operation takes. It checks
the operands with the op's shape rule (so a bad shape is a ShapeError naming the user's line),
computes the value with the op's numpy reference, and records a TapeNode when autograd needs
one. ``apply_inplace`` does the same for ``add_`` and friends, with PyTorch's version counters.
Tracing (graphc.compile) hooks in here: when ``tracer`` is set, ops on traced tensors build
graph nodes instead of computing.
"""

from __future__ import annotations

import sys
import threading
import types

import numpy as np

from graphc.ir import TensorType, get_op
from graphc.ir import dtypes as D
from graphc.ir.errors import AutogradError, DeviceError, DTypeError, GraphcValueError, ShapeError
from graphc.ir.source import user_location

from .autograd import SavedValue, TapeNode, VersionCounter, is_grad_enabled


class _PerThread(threading.local):
    tracer = None  # set by graphc.compile while it traces: apply(op, inputs, attrs) -> Tensor


_state = _PerThread()


class _Module(types.ModuleType):
    """``_dispatch.tracer`` is per thread: a trace in one thread leaves the ops, ``backward()``
    and ``.grad`` of every other thread eager."""

    @property
    def tracer(self):
        return _state.tracer

    @tracer.setter
    def tracer(self, value) -> None:
        _state.tracer = value


sys.modules[__name__].__class__ = _Module

# ops whose numpy reference may return a view of its first input (a PyTorch view op)
VIEW_OPS = frozenset({"reshape", "permute", "expand", "slice"})


def _record(op, attrs, inputs, value, out, out_type):
    grad_inputs = [t.grad_fn if t.grad_fn is not None else (t if t.requires_grad else None) for t in inputs]
    saved = [SavedValue(t._data, t._version) for t in inputs]
    out.grad_fn = TapeNode(op, attrs, grad_inputs, saved, SavedValue(value, out._version), out_type, user_location())
    out._requires_grad = True


def needs_grad(inputs) -> bool:
    return is_grad_enabled() and any(t.requires_grad for t in inputs)


def apply(op: str, *inputs, **attrs):
    """Run ``op`` on tensors and return the result tensor (recording it for autograd)."""
    from .tensor import Tensor

    tracer = _state.tracer
    if tracer is not None and tracer.active(inputs):
        return tracer.apply(op, inputs, attrs)
    opdef = get_op(op)
    attrs = opdef.check_attrs(attrs)
    out_type = opdef.infer([t._type() for t in inputs], attrs)
    device = result_device(op, inputs)
    value = np.asarray(opdef.ref(*[t._data for t in inputs], **attrs))
    if value.dtype != out_type.dtype.np:
        value = value.astype(out_type.dtype.np)
    out = Tensor._wrap(value)
    out._device = device
    if op in VIEW_OPS and inputs and np.shares_memory(value, inputs[0]._data):
        out._version = inputs[0]._version
        out._base = inputs[0]._base if inputs[0]._base is not None else inputs[0]
    if out_type.dtype.is_floating_point and needs_grad(inputs):
        _record(op, attrs, inputs, value, out, out_type)
    return out


def apply_inplace(target, op: str, *others, **attrs):
    """``target = op(target, *others)`` written into target's memory, as PyTorch's ``op_``."""
    tracer = _state.tracer
    if tracer is not None and tracer.active((target, *others)):
        return tracer.apply_inplace(target, op, others, attrs)
    grad = needs_grad((target, *others))
    if grad and target.is_leaf and target.requires_grad:
        raise AutogradError("a leaf Variable that requires grad is being used in an in-place operation.",
                            fix="wrap the update in `with graphc.no_grad():`, or use the out-of-place op")
    opdef = get_op(op)
    attrs = opdef.check_attrs(attrs)
    out_type = opdef.infer([target._type()] + [t._type() for t in others], attrs)
    if result_device(op, (target, *others)) != target._device:
        raise DeviceError(f"Expected all tensors to be on the same device, but found at least two devices, "
                          f"{target.device} and {next(t.device for t in others if t._device != target._device)}!",
                          fix="move the tensors to one device with .to(device) first")
    if out_type.shape != target.shape:
        raise ShapeError(f"output with shape {list(target.shape)} doesn't match the broadcast shape {list(out_type.shape)}",
                         fix="an in-place op cannot change the shape of the tensor it writes to; use the out-of-place op")
    if out_type.dtype is not target.dtype and not _can_cast(out_type.dtype, target.dtype):
        raise DTypeError(f"result type {out_type.dtype.name} can't be cast to the desired output type {target.dtype.name}",
                         fix="use the out-of-place op, or cast the tensor first")
    old = target._data
    value = np.asarray(opdef.ref(old, *[t._data for t in others], **attrs))
    if grad:
        if target._base is not None and target._base.requires_grad:
            raise AutogradError("in-place modification of a view of a tensor that requires grad is not supported by graphc",
                                fix="build the result out of place (torch.where, torch.cat) or clone() the view first")
        saved_self = SavedValue(old.copy(), VersionCounter())  # the value before the update, as PyTorch keeps it
        prev = target.grad_fn if target.grad_fn is not None else None
        saved = [saved_self] + [SavedValue(t._data, t._version) for t in others]
        grad_inputs = [prev] + [t.grad_fn if t.grad_fn is not None else (t if t.requires_grad else None) for t in others]
    check_writable(target._data)
    np.copyto(target._data, value, casting="unsafe")
    target._version.value += 1
    if grad and out_type.dtype.is_floating_point:
        target.grad_fn = TapeNode(op, attrs, grad_inputs, saved, SavedValue(target._data, target._version), out_type, user_location())
        target._requires_grad = True
    return target


def check_writable(array: np.ndarray) -> None:
    """Refuse a write into memory numpy marks read-only: an expanded view (PyTorch's message),
    or a read-only array (``np.load(..., mmap_mode="r")``, ``from_numpy`` of one)."""
    if array.flags.writeable:
        return
    if array.size > 1 and 0 in array.strides:
        raise AutogradError("unsupported operation: more than one element of the written-to tensor refers to a single "
                            "memory location.", fix="clone() the tensor before writing to it")
    raise GraphcValueError("the tensor written to is backed by read-only memory (a numpy array with writeable=False, "
                           "such as np.load(..., mmap_mode='r') or from_numpy of a read-only array)",
                           fix="copy it first: graphc.tensor(array), or t.clone()")


def result_device(op: str, inputs):
    """The device of an op's result (None: the CPU). Every tensor must be on one device, except
    0-dim CPU tensors (Python numbers), which mix with any device as in PyTorch."""
    device = None
    for t in inputs:
        d = t._device
        if d is None or d == device:
            continue
        if device is not None:
            raise DeviceError(f"Expected all tensors to be on the same device, but found at least two devices, "
                              f"{device} and {d}! (in {op})", fix="move the tensors to one device with .to(device) first")
        device = d
    if device is not None:
        for t in inputs:
            if t._device is None and t.ndim > 0:
                raise DeviceError(f"Expected all tensors to be on the same device, but found at least two devices, "
                                  f"{device} and cpu! (in {op})",
                                  fix="move the tensors to one device with .to(device) first")
    return device


def _can_cast(src: D.DType, dst: D.DType) -> bool:
    """PyTorch refuses in-place results of a higher category than the tensor (float into int)."""
    return src.category <= dst.category


def operand(x):
    """A tensor for ``x``: tensors pass through; Python numbers become 0-dim tensors."""
    from .tensor import Tensor

    if isinstance(x, Tensor):
        return x
    tracer = _state.tracer
    if tracer is not None and hasattr(x, "getter") and isinstance(x, float):
        return tracer.hyper_tensor(x)  # an optimizer hyperparameter: a hyper placeholder
    if isinstance(x, (bool, int, float, np.number, np.bool_)):
        dtype = D.scalar_dtype(x)
        return Tensor._wrap(np.asarray(x, dtype=dtype.np))
    if isinstance(x, np.ndarray):
        return Tensor._wrap(x)
    from graphc.ir.errors import GraphcTypeError

    raise GraphcTypeError(f"expected a Tensor or a number, got {type(x).__name__}",
                          fix="convert it with graphc.tensor(...)")


def promote(*xs):
    """Convert operands to tensors of one dtype by PyTorch's promotion rules."""
    from .tensor import Tensor

    tensors, zero_dim, scalars = [], [], []
    converted = []
    for x in xs:
        if isinstance(x, Tensor):
            (tensors if x.ndim else zero_dim).append(x.dtype)
            converted.append(x)
        else:
            t = operand(x)
            (scalars if t._tnode is None else zero_dim).append(t.dtype)
            converted.append(t)
    dtype = D.result_type(tensors, zero_dim, scalars)
    return [t if t.dtype is dtype else cast(t, dtype) for t in converted], dtype


def cast(t, dtype: D.DType):
    if t.dtype is dtype:
        return t
    return apply("cast", t, dtype=dtype.short)


def binary(op: str, a, b):
    (a, b), _ = promote(a, b)
    return apply(op, a, b)


def type_of(t) -> TensorType:
    return TensorType(t.dtype, t.shape)
