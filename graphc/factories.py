"""Tensor factories: ``graphc.tensor``, ``zeros``, ``arange``, ``rand``... with PyTorch's dtype rules.

Python floats give ``float32`` (PyTorch's default dtype), Python ints ``int64`` and bools
``bool``; numpy data keeps its dtype (``float64`` stays ``float64``, as ``torch.tensor`` does).
Every result is a leaf; ``requires_grad=True`` is accepted for floating dtypes only. Sizes may
be given as varargs or as one tuple, list or ``graphc.Size``::

    >>> import graphc
    >>> graphc.tensor([[1, 2], [3, 4]]).dtype, graphc.zeros(2, 3).shape, graphc.arange(0, 1, 0.25).tolist()
    (graphc.int64, graphc.Size([2, 3]), [0.0, 0.25, 0.5, 0.75])

The random factories draw from graphc's generators (:mod:`graphc.random`): reproducible under
``graphc.manual_seed``, but not the numbers PyTorch draws for the same seed.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import DTypeError, GraphcTypeError, GraphcValueError, ShapeError, TraceError

from . import _dispatch
from . import _traced_random as TR
from . import random as R
from ._tensor_args import dtype_arg, size_args
from .device import check_device, placed
from .tensor import Tensor

_SUPPORTED = "float64, float32, int64, int32, and bool"


def _torch_name(dtype: D.DType) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool"}[dtype.name]


def _leaf(array: np.ndarray, requires_grad: bool, device=None) -> Tensor:
    """A leaf tensor on ``device`` (None: the CPU); "cuda" needs a usable GPU (DeviceError otherwise)."""
    placed_on = placed(check_device(device)) if device is not None else None
    t = Tensor._wrap(array, requires_grad=requires_grad)
    t._device = placed_on
    return t


def _shape(size, what: str) -> tuple[int, ...]:
    shape = size_args(size, what)
    if any(s < 0 for s in shape):
        bad = next(s for s in shape if s < 0)
        raise ShapeError(f"Trying to create tensor with negative dimension {bad}: {list(shape)}",
                         fix="sizes must be >= 0")
    return shape


# ------------------------------------------------------------------ from data
def _np_dtype(np_dtype, what: str) -> D.DType:
    try:
        return D.from_numpy(np_dtype)
    except TypeError:
        raise GraphcTypeError(f"{what}: can't convert np.ndarray of type numpy.{np.dtype(np_dtype)}. "
                              f"The only supported types are: {_SUPPORTED}.",
                              fix="convert the array first, e.g. .astype(np.float32)") from None


def _infer(data, what: str):
    """(shape, dtype or None) of nested data, with PyTorch's promotion over the elements."""
    if isinstance(data, Tensor):
        data._no_value(f"{what}(tensor)")
        return tuple(data.shape), data.dtype
    if isinstance(data, np.ndarray):
        return data.shape, _np_dtype(data.dtype, what)
    if isinstance(data, np.generic):
        return (), _np_dtype(data.dtype, what)
    if isinstance(data, (bool, int, float)):
        return (), D.scalar_dtype(data)
    if isinstance(data, (list, tuple)):
        if not data:
            return (0,), None
        shapes, dtypes = [], []
        for item in data:
            shape, dtype = _infer(item, what)
            if isinstance(item, Tensor):
                if item.numel() != 1:
                    raise GraphcValueError("only one element tensors can be converted to Python scalars",
                                           fix="use graphc.stack(list_of_tensors) to join tensors")
                shape = ()
            shapes.append(shape)
            if dtype is not None:
                dtypes.append(dtype)
        for s in shapes[1:]:
            if s != shapes[0]:
                dim = 1 + next((i for i, (a, b) in enumerate(zip(s, shapes[0])) if a != b), 0)
                want = shapes[0][dim - 1] if dim - 1 < len(shapes[0]) else 0
                got = s[dim - 1] if dim - 1 < len(s) else 0
                raise GraphcValueError(f"expected sequence of length {want} at dim {dim} (got {got})",
                                       fix="make every nested list the same length")
        return (len(data),) + tuple(shapes[0]), (D._max(dtypes) if dtypes else None)
    if data is None:
        raise GraphcTypeError("Could not infer dtype of NoneType", fix="pass numbers, nested lists or arrays")
    raise GraphcTypeError(f"new(): invalid data type '{type(data).__name__}'",
                          fix="pass numbers, nested lists or tuples, numpy arrays or tensors")


def _plain(data):
    """Nested data with tensors replaced by their values (so numpy can read it)."""
    if isinstance(data, Tensor):
        return data._data.reshape(())
    if isinstance(data, (list, tuple)) and any(isinstance(x, (Tensor, list, tuple)) for x in data):
        return [_plain(x) for x in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (numbers, nested lists/tuples, arrays, 0-dim tensors).

        >>> t = graphc.tensor([1.0, 2.0], requires_grad=True)
        >>> t.dtype, t.requires_grad, t.is_leaf
        (graphc.float32, True, True)
    """
    shape, inferred = _infer(data, "tensor")
    dt = dtype_arg(dtype) or inferred or D.float32
    if isinstance(data, Tensor):
        array = np.array(data._data, dtype=dt.np, copy=True)
    elif shape and 0 in shape:
        array = np.zeros(shape, dt.np)
    else:
        array = np.array(_plain(data), dtype=dt.np, copy=True)
    return _leaf(array, requires_grad, device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing memory where possible (a tensor or a numpy array of that dtype)."""
    dt = dtype_arg(dtype)
    if isinstance(data, Tensor):
        out = data if dt is None or dt is data.dtype else _dispatch.cast(data, dt)
        return out if device is None else out.to(device)
    if isinstance(data, np.ndarray) and data.dtype in D._BY_NP and (dt is None or dt.np == data.dtype):
        return Tensor._wrap(data) if device is None else tensor(data, device=device)
    return tensor(data, dtype=dt, device=device)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing ``ndarray``'s memory: writes to either are seen by both.

    The array's dtype must be one of graphc's (float64, float32, int64, int32, bool).
    """
    if not isinstance(ndarray, np.ndarray):
        raise GraphcTypeError(f"expected np.ndarray (got {type(ndarray).__name__})", fix="pass a numpy array")
    if ndarray.dtype not in D._BY_NP:
        hint = (" (for image data use .astype(np.float32) / 255, or graphc.transforms.ToTensor)"
                if ndarray.dtype == np.uint8 else "")
        raise GraphcTypeError(f"can't convert np.ndarray of type numpy.{ndarray.dtype}. The only supported types "
                              f"are: {_SUPPORTED}.",
                              fix=f"convert the array first, e.g. .astype(np.float32){hint}")
    if not ndarray.dtype.isnative:
        raise GraphcValueError("given numpy array has byte order different from the native byte order",
                               fix="convert it with .astype(ndarray.dtype.newbyteorder('='))")
    return Tensor._wrap(ndarray)


# ------------------------------------------------------------------ filled
def _filled(size, value, dtype, requires_grad, device, what) -> Tensor:
    dt = dtype_arg(dtype) or D.float32
    return _leaf(np.full(_shape(size, what), value, dtype=dt.np), requires_grad, device)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False, layout=None, pin_memory: bool = False) -> Tensor:
    """A tensor of zeros (float32 unless ``dtype`` is given)."""
    return _filled(size, 0, dtype, requires_grad, device, "zeros")


def ones(*size, dtype=None, device=None, requires_grad: bool = False, layout=None, pin_memory: bool = False) -> Tensor:
    """A tensor of ones (float32 unless ``dtype`` is given)."""
    return _filled(size, 1, dtype, requires_grad, device, "ones")


def empty(*size, dtype=None, device=None, requires_grad: bool = False, layout=None, pin_memory: bool = False,
          memory_format=None) -> Tensor:
    """A new tensor (graphc fills it with zeros, so its contents are deterministic)."""
    return _filled(size, 0, dtype, requires_grad, device, "empty")


def _scalar(value, what: str):
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise GraphcValueError(f"{what}: a Tensor with {value.numel()} elements cannot be converted to Scalar",
                                   fix="pass a number")
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bool, int, float)):
        return value
    raise GraphcTypeError(f"{what}(): argument must be a number, not {type(value).__name__}", fix="pass a number")


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False, layout=None) -> Tensor:
    """A tensor filled with ``fill_value``; its dtype follows the value (bool, int64 or float32)."""
    value = _scalar(fill_value, "full")
    dt = dtype_arg(dtype) or D.scalar_dtype(value)
    return _filled((size,), value, dt, requires_grad, device, "full")


def _like(input, dtype):
    if not isinstance(input, Tensor):
        raise GraphcTypeError(f"expected a Tensor as input, got {type(input).__name__}", fix="pass a graphc.Tensor")
    return tuple(input.shape), dtype_arg(dtype) or input.dtype


def _like_device(input, device):
    """``device`` if given, else where ``input`` lives (PyTorch's *_like default)."""
    return device if device is not None else (input._device if input._device is not None else None)


def zeros_like(input, *, dtype=None, device=None, requires_grad: bool = False, layout=None,
               memory_format=None) -> Tensor:
    """Zeros with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return _filled(shape, 0, dt, requires_grad, _like_device(input, device), "zeros_like")


def ones_like(input, *, dtype=None, device=None, requires_grad: bool = False, layout=None,
              memory_format=None) -> Tensor:
    """Ones with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return _filled(shape, 1, dt, requires_grad, _like_device(input, device), "ones_like")


def empty_like(input, *, dtype=None, device=None, requires_grad: bool = False, layout=None,
               memory_format=None) -> Tensor:
    """A new (zero-filled) tensor with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return _filled(shape, 0, dt, requires_grad, _like_device(input, device), "empty_like")


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad: bool = False, layout=None,
              memory_format=None) -> Tensor:
    """``fill_value`` with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return _filled(shape, _scalar(fill_value, "full_like"), dt, requires_grad, _like_device(input, device),
                   "full_like")


# ------------------------------------------------------------------ ranges
def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False, layout=None) -> Tensor:
    """``[start, start + step, ...)`` up to ``end`` (exclusive): ``ceil((end - start) / step)`` values.

    Integer arguments give int64, any float argument the default float32.

        >>> graphc.arange(5).tolist(), graphc.arange(1, 2, 0.5).tolist(), graphc.arange(1, 2, 0.5).dtype
        ([0, 1, 2, 3, 4], [1.0, 1.5], graphc.float32)
    """
    if end is None:
        start, end = 0, start
    start, end, step = (_scalar(v, "arange") for v in (start, end, step))
    is_float = any(isinstance(v, float) for v in (start, end, step))
    dt = dtype_arg(dtype) or (D.float32 if is_float else D.int64)
    if step == 0:
        raise ShapeError("arange: step must be nonzero", fix="pass a positive or negative step")
    if not all(math.isfinite(v) for v in (start, end)):
        raise ShapeError(f"arange: unsupported range: {start} -> {end}", fix="start and end must be finite")
    if (end - start) * step < 0:
        raise ShapeError("arange: upper bound and larger bound inconsistent with step sign",
                         fix="use a negative step to count down, a positive one to count up")
    if is_float or dt.is_floating_point:
        n = max(math.ceil((end - start) / step), 0)
        values = start + np.arange(n, dtype=np.float64) * step  # PyTorch computes in double, then casts
    else:
        values = np.arange(start, end, step, dtype=np.int64)
    return _leaf(values.astype(dt.np), requires_grad, device)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False, layout=None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 by default)."""
    start, end = _scalar(start, "linspace"), _scalar(end, "linspace")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise GraphcTypeError(f"linspace(): argument 'steps' must be int, not {type(steps).__name__}",
                              fix="pass the number of points")
    if steps < 0:
        raise ShapeError("linspace: number of steps must be non-negative", fix="pass steps >= 0")
    dt = dtype_arg(dtype) or D.float32
    work = dt.np if dt.is_floating_point else np.dtype(np.float64)
    if steps == 1:
        values = np.array([start], dtype=work)
    else:
        # PyTorch's formula: the first half counts up from start, the second half down from end
        s, e = work.type(start), work.type(end)
        step = (e - s) / work.type(max(steps - 1, 1))
        i = np.arange(steps)
        values = np.where(i < steps // 2, s + step * i.astype(work), e - step * (steps - 1 - i).astype(work))
    if dt.is_integer:
        values = np.trunc(values)
    return _leaf(values.astype(dt.np), requires_grad, device)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False, layout=None) -> Tensor:
    """The ``n x m`` identity matrix (``m = n`` by default), float32 unless ``dtype`` is given."""
    for name, v in (("n", n), ("m", n if m is None else m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise GraphcTypeError(f"eye(): argument '{name}' must be int, not {type(v).__name__}", fix="pass an int")
        if v < 0:
            raise ShapeError(f"{name} must be greater or equal to 0, got {v}", fix="pass a size >= 0")
    dt = dtype_arg(dtype) or D.float32
    return _leaf(np.eye(n, n if m is None else m, dtype=dt.np), requires_grad, device)


# ------------------------------------------------------------------ random
def _no_trace(what: str) -> None:
    if _dispatch.tracer is not None:
        raise TraceError(f"graphc.{what}() inside a compiled function would draw its numbers once, at trace time",
                         fix=f"call {what}() outside the compiled function and pass the result in as an argument "
                             "(rand, randn, randint, bernoulli, normal and dropout work inside compiled code)")


def _traced(what: str, requires_grad: bool) -> bool:
    """True while graphc.compile traces: draw with the counter-based op (graphc._traced_random)."""
    if _dispatch.tracer is None:
        return False
    TR.refuse_requires_grad(what, requires_grad)
    _dispatch.tracer.own_random = _dispatch.tracer.own_random or f"graphc.{what}()"
    return True


def _float_dtype(dtype, what: str) -> D.DType:
    dt = dtype_arg(dtype) or D.float32
    if not dt.is_floating_point:
        raise DTypeError(f"\"{what}\" not implemented for '{_torch_name(dt)}'", fix="use a floating dtype")
    return dt


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False, layout=None,
         pin_memory: bool = False) -> Tensor:
    """Uniform numbers in ``[0, 1)`` from graphc's generator (``generator=`` or the default one)."""
    dt = _float_dtype(dtype, "check_uniform_bounds")
    if _traced("rand", requires_grad):
        return TR.uniform(_shape(size, "rand"), dt, generator)
    return _leaf(R.draw_uniform(_shape(size, "rand"), dt, generator=generator), requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False, layout=None,
          pin_memory: bool = False) -> Tensor:
    """Standard normal numbers from graphc's generator."""
    dt = _float_dtype(dtype, "normal_kernel_cpu")
    if _traced("randn", requires_grad):
        return TR.normal(_shape(size, "randn"), dt, generator)
    return _leaf(R.draw_normal(_shape(size, "randn"), dt, generator=generator), requires_grad, device)


def _randint_values(low, high, shape, dt, generator, requires_grad=False):
    """The array of ``randint`` (a traced tensor while tracing)."""
    low, high = int(_scalar(low, "randint")), int(_scalar(high, "randint"))
    if low >= high:
        raise ShapeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}",
                         fix="pass low < high (high is exclusive): the range is empty")
    if dt.is_bool and (low < 0 or high > 2):
        raise GraphcValueError(f"randint: [{low}, {high}) is not a range of bool values", fix="use low=0, high=2")
    if _traced("randint", requires_grad):
        return TR.integers(low, high, shape, dt, generator)
    return R.numpy_generator(generator).integers(low, high, size=shape, dtype=np.int64).astype(dt.np)


def randint(*args, size=None, low=None, high=None, generator=None, dtype=None, device=None,
            requires_grad: bool = False, layout=None) -> Tensor:
    """Integers uniform in ``[low, high)``: ``randint(high, size)`` or ``randint(low, high, size)``.

        >>> graphc.randint(0, 10, (2, 3)).dtype
        graphc.int64
    """
    args = list(args)
    if size is None and args and isinstance(args[-1], (tuple, list)):
        size = args.pop()
    if high is None and args:
        high = args.pop()
    if low is None:
        low = args.pop() if args else 0
    if args or size is None or high is None:
        raise GraphcTypeError("randint() expects (high, size) or (low, high, size) with size a tuple of ints",
                              fix="e.g. graphc.randint(0, 10, (3,))")
    dt = dtype_arg(dtype) or D.int64
    values = _randint_values(low, high, _shape((size,), "randint"), dt, generator, requires_grad)
    return values if isinstance(values, Tensor) else _leaf(values, requires_grad, device)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False, layout=None) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64)."""
    _no_trace("randperm")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise GraphcValueError(f"n must be non-negative, got {n}", fix="pass an int n >= 0")
    dt = dtype_arg(dtype) or D.int64
    return _leaf(R.numpy_generator(generator).permutation(int(n)).astype(dt.np), requires_grad, device)


def rand_like(input, *, dtype=None, device=None, requires_grad: bool = False, layout=None,
              memory_format=None, generator=None) -> Tensor:
    """Uniform ``[0, 1)`` numbers with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return rand(shape, generator=generator, dtype=dt, device=_like_device(input, device), requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad: bool = False, layout=None,
               memory_format=None, generator=None) -> Tensor:
    """Standard normal numbers with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return randn(shape, generator=generator, dtype=dt, device=_like_device(input, device),
                 requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad: bool = False, layout=None,
                 memory_format=None, generator=None) -> Tensor:
    """Integers in ``[low, high)`` with ``input``'s shape and dtype: ``randint_like(x, high)`` or ``(x, low, high)``."""
    if high is None:
        low, high = 0, low
    shape, dt = _like(input, dtype)
    values = _randint_values(low, high, shape, dt, generator, requires_grad)
    return values if isinstance(values, Tensor) else _leaf(values, requires_grad, _like_device(input, device))


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """1 with probability ``input`` (or ``p``) elementwise, else 0; the result has ``input``'s dtype."""
    if not isinstance(input, Tensor):
        raise GraphcTypeError(f"bernoulli(): argument 'input' must be Tensor, not {type(input).__name__}",
                              fix="pass a tensor of probabilities")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"\"bernoulli_tensor_cpu_self_\" not implemented for '{_torch_name(input.dtype)}'",
                         fix="pass floating-point probabilities")
    traced = _traced("bernoulli", False)
    if p is None:
        probs = input.detach() if traced else input._data  # (traced probabilities have no values to check)
        if not traced and probs.size and not (np.all(probs >= 0) and np.all(probs <= 1)):
            raise GraphcValueError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.",
                                   fix="probabilities must lie in [0, 1]")
    else:
        p = float(_scalar(p, "bernoulli"))
        if not 0.0 <= p <= 1.0:
            raise GraphcValueError(f"bernoulli_ expects p to be in [0, 1], but got p={p}", fix="pass 0 <= p <= 1")
        probs = p
    if traced:
        return TR.bernoulli(probs, tuple(input.shape), input.dtype, generator)
    u = R.numpy_generator(generator).random(tuple(input.shape), dtype=np.float64)
    return _leaf((u < probs).astype(input.dtype.np), False)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal numbers with ``mean`` and ``std`` (numbers, or tensors broadcast together)."""
    traced = _traced("normal", requires_grad)
    arrays = [m._data if isinstance(m, Tensor) else _scalar(m, "normal") for m in (mean, std)]
    if not (traced and isinstance(std, Tensor)) and np.any(np.asarray(arrays[1]) < 0):
        raise GraphcValueError("normal expects std >= 0.0", fix="pass a non-negative std")
    tensors = [m for m in (mean, std) if isinstance(m, Tensor)]
    dt = dtype_arg(dtype) or (tensors[0].dtype if tensors else D.float32)
    if not dt.is_floating_point:
        raise DTypeError(f"\"normal_kernel_cpu\" not implemented for '{_torch_name(dt)}'", fix="use a floating dtype")
    shape = _shape((size,), "normal") if size is not None else np.broadcast_shapes(*(np.shape(a) for a in arrays))
    if traced:  # (mean and std enter without gradient, as eagerly)
        mean_t, std_t = (m.detach() if isinstance(m, Tensor) else Tensor._wrap(np.asarray(m, dt.np)) for m in (mean, std))
        return _dispatch.binary("add", _dispatch.binary("mul", TR.normal(shape, dt, generator), std_t), mean_t)
    z = R.draw_normal(shape, dt, generator=generator)
    return _leaf((z * np.asarray(arrays[1], dt.np) + np.asarray(arrays[0], dt.np)).astype(dt.np), requires_grad, device)


__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
           "empty_like", "full_like", "arange", "linspace", "eye", "rand", "randn", "randint", "randperm", "rand_like",
           "randn_like", "randint_like", "bernoulli", "normal"]
