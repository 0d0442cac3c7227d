"""graphc.Tensor: an n-dimensional array with PyTorch's API and autograd semantics.

Eagerly, a tensor owns a numpy array (``from_numpy`` shares it). Every operation goes through
``graphc._dispatch.apply``; the methods below are thin spellings of ops. The wider method set
(reductions, shape functions, indexing, in-place variants) is attached in
``graphc._tensor_methods``.

    >>> import graphc
    >>> x = graphc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np

from graphc.ir import TensorType
from graphc.ir import dtypes as D
from graphc.ir.errors import (
    AutogradError,
    DTypeError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
    TraceError,
)

from . import _dispatch
from .autograd import VersionCounter, run_backward

_serial = itertools.count()


class Tensor:
    """A tensor. Construct with the factories (``graphc.tensor``, ``graphc.zeros``, ...)."""

    __array_priority__ = 1000  # numpy scalars defer to our reflected operators
    _tnode = None  # the graph node of a symbolic tensor (while graphc.compile traces)
    _view_of = None  # (base, version) of a symbolic view
    _is_param = False
    _name_hint = None  # a name for graph dumps ("l1.weight"), set by nn.Module
    _device = None  # None on the CPU; a graphc.device("cuda", i) for a tensor placed on a GPU
    _alias_of = None  # detach(): a weak reference to the tensor whose memory this one shares
    _compiled_by = None  # the name of the compiled function that returned it (no autograd history)
    _hooks = None  # register_hook: handle id -> hook(grad) -> new grad or None

    def __init__(self, data=None, *, dtype=None, requires_grad: bool = False):
        # PyTorch's legacy constructor: graphc.Tensor([1, 2]) is a float32 tensor
        array = np.asarray([] if data is None else data, dtype=(D.as_dtype(dtype) if dtype else D.float32).np)
        self._init(array, requires_grad)

    def _init(self, array: np.ndarray, requires_grad: bool = False) -> None:
        self._data = array
        self._version = VersionCounter()
        self._base = None
        self._grad = None
        self.grad_fn = None
        self._requires_grad = False
        self._retains_grad = False
        self._serial = next(_serial)
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> Tensor:
        """A tensor around ``array`` (no copy). The array's dtype must be one of graphc's."""
        t = cls.__new__(cls)
        Tensor._init(t, array, requires_grad)
        return t

    # ------------------------------------------------------------------ metadata
    @property
    def dtype(self) -> D.DType:
        return D.from_numpy(self._data.dtype)

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def nelement(self) -> int:
        return int(self._data.size)

    def size(self, dim: int | None = None):
        if dim is None:
            return self.shape
        return self.shape[_check_dim(dim, self.ndim)]

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def device(self):
        """Where the tensor lives. A CUDA tensor keeps its value in host memory too (docs/cuda.md)."""
        if self._device is None:
            from .device import cpu

            return cpu
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device is not None and self._device.type == "cuda"

    def get_device(self) -> int:
        """The CUDA device index, or -1 on the CPU (as PyTorch)."""
        return self._device.index if self.is_cuda else -1

    def _type(self) -> TensorType:
        return TensorType(self.dtype, self._data.shape)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    # ------------------------------------------------------------------ autograd
    @property
    def grad(self):
        """The accumulated gradient (None until a backward reaches this leaf)."""
        if _dispatch.tracer is not None:
            _dispatch.tracer.note_grad(self, write=False)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise GraphcTypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if tuple(value.shape) != tuple(self.shape):
                raise ShapeError(f"assigned grad has data of a different size: {list(value.shape)} vs the tensor's {list(self.shape)}")
            if value.dtype is not self.dtype:
                raise DTypeError(f"assigned grad has data of a different type: {value.dtype.name} vs the tensor's {self.dtype.name}")
        if _dispatch.tracer is not None:
            _dispatch.tracer.note_grad(self, write=True)
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if self.grad_fn is not None and not value:
            raise AutogradError("you can only change requires_grad flags of leaf variables.",
                                fix="use .detach() to get a tensor that does not require grad")
        if value and not self.dtype.is_floating_point:
            raise AutogradError("only Tensors of floating point dtype can require gradients",
                                fix="create the tensor with dtype=graphc.float32")
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        if self.grad_fn is not None:
            return False
        # inside a trace, a computed tensor that requires grad has no grad_fn but is no leaf
        node = self._tnode
        return node is None or node.is_placeholder or not self._requires_grad

    def retain_grad(self) -> None:
        if not self.requires_grad:
            raise AutogradError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self.grad_fn.retain = weakref.ref(self)
        elif _dispatch.tracer is not None and self._tnode is not None and not self._tnode.is_placeholder \
                and not self._retains_grad:
            _dispatch.tracer.retained.append(self)  # a traced non-leaf: the trace's backward() sets its .grad
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` with this tensor's gradient whenever one is computed; a tensor it
        returns replaces the gradient (for what it flows to, or what accumulates in a leaf's
        ``.grad``). Returns a handle whose ``remove()`` unregisters it. Inside a compiled function
        the hook is traced: its tensor operations become part of the step."""
        from .autograd import RemovableHandle

        if not self.requires_grad:
            raise AutogradError("cannot register a hook on a tensor that doesn't require gradient",
                                fix="call requires_grad_() on the tensor first, or hook a tensor that requires grad")
        if self._hooks is None:
            self._hooks = {}
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        if self.grad_fn is not None:
            self.grad_fn.hooked = weakref.ref(self)
        elif _dispatch.tracer is not None and not self.is_leaf and all(t is not self for t in _dispatch.tracer.hooked):
            _dispatch.tracer.hooked.append(self)  # a traced non-leaf: the trace's backward() calls its hooks
        return handle

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad and not self.is_leaf

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf it depends on."""
        if create_graph:
            raise GraphcTypeError("create_graph=True (higher-order gradients) is not supported by graphc",
                                  fix="compute higher-order derivatives analytically, or use PyTorch for them")
        if inputs is not None and isinstance(inputs, Tensor):
            inputs = [inputs]
        if _dispatch.tracer is not None:
            _dispatch.tracer.backward([self], [gradient], bool(retain_graph), inputs)
            return
        run_backward([self], [gradient], bool(retain_graph), inputs)

    def detach(self) -> Tensor:
        """A tensor sharing this one's memory (and version counter) with no autograd history."""
        if _dispatch.tracer is not None:
            return _dispatch.tracer.detach(self)
        t = Tensor._wrap(self._data)
        t._device = self._device
        t._version = self._version
        # not a view for autograd (PyTorch: ``x.detach()._base is None``), but it aliases the
        # memory of ``self``: a compiled function must not write it while ``self`` lives on
        t._alias_of = weakref.ref(self if self._base is None else self._base)
        return t

    @property
    def data(self) -> Tensor:
        """This tensor's memory as a tensor with no autograd history (PyTorch's ``.data``: unlike
        ``detach()``, writes through it are not seen by autograd's version checks)."""
        if _dispatch.tracer is not None and self._tnode is not None:
            return self.detach()
        t = Tensor._wrap(self._data)
        t._device = self._device
        t._alias_of = weakref.ref(self if self._base is None else self._base)
        return t

    @data.setter
    def data(self, other: Tensor) -> None:
        """``t.data = other``: ``t`` takes ``other``'s memory, shape and dtype; its autograd identity stays."""
        if not isinstance(other, Tensor):
            raise GraphcTypeError(f"data must be a Tensor, not {type(other).__name__}",
                                  fix="assign a tensor: t.data = graphc.tensor(values)")
        if _dispatch.tracer is not None:
            raise TraceError("assigning .data inside a compiled function is not supported",
                             fix="assign .data outside the compiled function, or use copy_() under no_grad()")
        self._data = other._data
        self._device = other._device

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ------------------------------------------------------------------ copying and pickling
    def __deepcopy__(self, memo) -> Tensor:
        """``copy.deepcopy`` as in PyTorch: new memory, the same class (a Parameter stays one),
        requires_grad and device; a plain tensor's ``.grad`` is copied too, a Parameter's is not.
        Tensors shared inside the copied object stay shared. Only leaves can be copied."""
        self._no_value("copy.deepcopy()")
        if self.grad_fn is not None:
            raise AutogradError(f"copy.deepcopy() of a tensor with autograd history (the result of "
                                f"{self.grad_fn.name()}): only tensors created by the user (graph leaves) can be "
                                "deep-copied", fix="copy t.detach() (or t.detach().clone().requires_grad_() for a new leaf)")
        new = _rebuild(type(self), self._data.copy(), self._requires_grad, self._device, self._name_hint)
        memo[id(self)] = new
        if self._grad is not None and not self._is_param:
            import copy

            new._grad = copy.deepcopy(self._grad, memo)
        return new

    def __reduce_ex__(self, protocol):
        """Pickling (multiprocessing, objects holding tensors) as in PyTorch: the values, class,
        requires_grad and device; neither ``.grad`` nor the autograd history (a result that
        requires grad arrives as a leaf). ``graphc.save`` writes safetensors files and never pickles."""
        self._no_value("pickling")
        return _rebuild, (type(self), np.ascontiguousarray(self._data), self._requires_grad, self._device, self._name_hint)

    # ------------------------------------------------------------------ conversion
    def _no_value(self, what: str) -> None:
        """Inside graphc.compile a traced tensor has no value yet: say so at the user's line."""
        if self._tnode is not None:
            raise TraceError(
                f"{what} needs the value of a traced tensor, which only exists when the compiled code runs",
                fix="keep the computation in tensor ops (use graphc.where instead of `if`, return the tensor "
                    "and call .item() outside the compiled function)")

    def numpy(self, force: bool = False) -> np.ndarray:
        self._no_value(".numpy()")
        if self.requires_grad and not force:
            raise AutogradError("Can't call numpy() on Tensor that requires grad.", fix="use tensor.detach().numpy() instead")
        return self._data

    def item(self):
        self._no_value(".item()")
        if self._data.size != 1:
            raise GraphcValueError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar",
                                   fix="index one element first, or reduce with .sum() / .mean()")
        return self._data.reshape(()).item()

    def tolist(self):
        self._no_value(".tolist()")
        return self._data.tolist()

    def __float__(self) -> float:
        self._no_value("float()")
        return float(self.item())

    def __int__(self) -> int:
        self._no_value("int()")
        return int(self.item())

    def __bool__(self) -> bool:
        self._no_value("Python control flow on a tensor (`if`, `while`, `and`, `bool()`)")
        if self._data.size != 1:
            raise GraphcValueError("Boolean value of Tensor with more than one value is ambiguous",
                                   fix="use .any() or .all()")
        return bool(self._data.reshape(()).item())

    def __index__(self) -> int:
        self._no_value("using a tensor as an index")
        if self.dtype.is_floating_point or self._data.size != 1:
            raise GraphcTypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise GraphcTypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __array__(self, dtype=None, copy=None):
        self._no_value("converting to a numpy array")
        return self._data if dtype is None else self._data.astype(dtype)

    def __repr__(self) -> str:
        if self._tnode is not None:
            return f"tensor(<traced %{self._tnode.name}:{self._tnode.type}>)"
        return _format(self)

    def __hash__(self) -> int:
        return id(self)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _dispatch.binary("add", self, other)

    def __radd__(self, other):
        return _dispatch.binary("add", other, self)

    def __sub__(self, other):
        return _dispatch.binary("sub", self, other)

    def __rsub__(self, other):
        return _dispatch.binary("sub", other, self)

    def __mul__(self, other):
        return _dispatch.binary("mul", self, other)

    def __rmul__(self, other):
        return _dispatch.binary("mul", other, self)

    def __truediv__(self, other):
        return true_divide(self, other)

    def __rtruediv__(self, other):
        return true_divide(other, self)

    def __neg__(self):
        return _dispatch.apply("neg", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _dispatch.apply("abs", self)

    def __pow__(self, other):
        return _dispatch.binary("pow", self, other)

    def __rpow__(self, other):
        return _dispatch.binary("pow", other, self)

    def __eq__(self, other):
        return _dispatch.binary("eq", self, other)

    def __ne__(self, other):
        return _dispatch.binary("ne", self, other)

    def __lt__(self, other):
        return _dispatch.binary("lt", self, other)

    def __le__(self, other):
        return _dispatch.binary("le", self, other)

    def __gt__(self, other):
        return _dispatch.binary("gt", self, other)

    def __ge__(self, other):
        return _dispatch.binary("ge", self, other)

    # in-place operators take PyTorch's in-place promotion rules from add_ / sub_ / mul_ / div_
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)


def true_divide(a, b):
    """``a / b``: integers divide as floats (PyTorch's true division)."""
    (a, b), dtype = _dispatch.promote(a, b)
    if not dtype.is_floating_point:
        a, b = _dispatch.cast(a, D.float32), _dispatch.cast(b, D.float32)
    return _dispatch.apply("div", a, b)


def _rebuild(cls, array, requires_grad, device, name_hint) -> Tensor:
    """A tensor from what ``Tensor.__reduce_ex__`` and ``__deepcopy__`` keep (the class may be Parameter)."""
    t = cls.__new__(cls)
    Tensor._init(t, array)
    t._requires_grad = requires_grad
    if device is not None:
        t._device = device
    if name_hint is not None:
        t._name_hint = name_hint
    return t


class Size(tuple):
    """``tensor.shape``: a tuple of ints, printed as PyTorch prints it."""

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"graphc.Size({list(self)})"


def _check_dim(dim: int, ndim: int) -> int:
    from graphc.ir.errors import GraphcIndexError

    n = max(ndim, 1)
    if not -n <= dim < n:
        raise GraphcIndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


# graphc.set_printoptions (torch.set_printoptions): how tensors print
PRINT_OPTIONS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


def _format(t: Tensor) -> str:
    data = t._data
    opts = PRINT_OPTIONS
    common = {"separator": ", ", "prefix": "tensor(", "threshold": opts["threshold"], "edgeitems": opts["edgeitems"],
              "max_line_width": opts["linewidth"]}
    if data.dtype.kind == "f":
        sci = opts["sci_mode"]
        fmt = None if sci is None else {"float_kind": (lambda v, p=opts["precision"]: f"{v:.{p}e}") if sci
                                        else (lambda v, p=opts["precision"]: f"{v:.{p}f}")}
        body = np.array2string(data, precision=opts["precision"], suppress_small=False, formatter=fmt, **common)
    else:
        body = np.array2string(data, **common)
    extras = []
    if t.dtype not in (D.float32, D.int64, D.bool_):
        extras.append(f"dtype=graphc.{t.dtype.name}")
    if t._device is not None:
        extras.insert(0, f"device='{t._device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
