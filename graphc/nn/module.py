"""``nn.Module``: the base class of every layer and model, with PyTorch's API.

Attributes that are Parameters or Modules register themselves; buffers are registered with
:meth:`Module.register_buffer`. ``state_dict`` and ``load_state_dict`` use PyTorch's keys::

    >>> import graphc
    >>> from graphc import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.fc(x)
    >>> list(Net().state_dict())
    ['fc.weight', 'fc.bias']
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from graphc.autograd import RemovableHandle
from graphc.device import check_device, placed
from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcError, GraphcTypeError, GraphcValueError
from graphc.tensor import Tensor

from .. import _dispatch
from ._registry import VERSION, Registry
from .parameter import Parameter


class StateDictError(GraphcError, RuntimeError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries (RuntimeError in PyTorch)."""


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])

def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class for all neural network modules; subclass it and define ``forward``.

        >>> class Model(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv1 = nn.Conv2d(1, 20, 5)
        ...     def forward(self, x):
        ...         return F.relu(self.conv1(x))
    """

    _version = 1

    @property
    def training(self) -> bool:
        """True in train mode, False after ``eval()``. A ``graphc.compile`` trace that reads it
        (Dropout, BatchNorm, a forward's own ``if self.training``) makes the compiled version
        depend on it; modules whose mode nothing read are not guarded."""
        if _dispatch.tracer is not None:
            _dispatch.tracer.note_training(self)
        try:
            return self.__dict__["training"]
        except KeyError:  # (no super().__init__(): __getattr__ then says the attribute is missing)
            raise AttributeError("training") from None

    @training.setter
    def training(self, mode: bool) -> None:
        self.__dict__["training"] = mode

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise GraphcTypeError(f"{type(self).__name__}.__init__() got unexpected arguments",
                                  fix="Module.__init__ takes no arguments: call super().__init__()")
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", Registry())  # (changes bump _registry.VERSION: see there)
        object.__setattr__(self, "_buffers", Registry())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", Registry())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if _dispatch.tracer is not None:
            _dispatch.tracer.note_module(self)  # graphc.compile: guard train/eval, name parameters
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, args)`` runs before forward; it may return replacement args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook) -> RemovableHandle:
        """``hook(module, args, output)`` runs after forward; it may return a replacement output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ registration
    def _check_name(self, name, kind: str) -> None:
        if not isinstance(name, str):
            raise GraphcTypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "_parameters" not in self.__dict__:
            raise GraphcError(f"cannot assign {kind} before Module.__init__() call",
                              fix="call super().__init__() first in your __init__")
        if "." in name:
            raise GraphcValueError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise GraphcValueError(f'{kind} name can\'t be empty string ""')

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared-but-absent parameter) under ``name``.

            >>> m = nn.Module()
            >>> m.register_parameter("scale", nn.Parameter(graphc.ones(3)))
        """
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise GraphcError(f"attribute '{name}' already exists", fix="pick another name or delete the attribute first")
        if param is not None and not isinstance(param, Parameter):
            raise GraphcTypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                                  "(torch.nn.Parameter or None required)", fix="wrap it: nn.Parameter(tensor)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is not a parameter (BatchNorm's running_mean).

        Persistent buffers are part of ``state_dict``.
        """
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise GraphcError(f"attribute '{name}' already exists", fix="pick another name or delete the attribute first")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise GraphcTypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (as ``setattr`` does)."""
        if module is not None and not isinstance(module, Module):
            raise GraphcTypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise GraphcError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value) -> None:
        VERSION[0] += 1  # (a compiled step baked plain attributes in: its guard looks again)
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise GraphcError("cannot assign parameters before Module.__init__() call", fix="call super().__init__() first")
            self._remove_from(name, d, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise GraphcTypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                      "(torch.nn.Parameter or None expected)", fix="wrap it: nn.Parameter(tensor)")
            params[name] = None
        elif isinstance(value, Module):
            if d.get("_modules") is None:
                raise GraphcError("cannot assign module before Module.__init__() call", fix="call super().__init__() first")
            self._remove_from(name, d, self._parameters, self._buffers)
            self._modules[name] = value
        elif d.get("_modules") is not None and name in self._modules:
            if value is not None:
                raise GraphcTypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' (torch.nn.Module or None expected)")
            self._modules[name] = None
        elif d.get("_buffers") is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise GraphcTypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (torch.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name, d, *dicts) -> None:
        d.pop(name, None)
        for store in dicts:
            store.pop(name, None)

    def __getattr__(self, name: str):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        VERSION[0] += 1
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``"features.0"``)."""
        mod = self
        for item in target.split(".") if target else []:
            if item not in mod._modules:
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter `{name}`")
        return mod._parameters[name]

    # ------------------------------------------------------------------ iteration
    def _named_members(self, get_members, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(v))
                name = module_prefix + ("." if module_prefix else "") + k
                if v._name_hint is None:
                    v._name_hint = name  # for graph dumps of compiled steps ("fc.weight")
                yield name, v

    def parameters(self, recurse: bool = True):
        """An iterator over the parameters (each shared parameter once)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """``(name, parameter)`` pairs with dotted names: ``("fc.weight", Parameter)``."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """Every module in the tree (this one first, as ``("", self)``), each once."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def apply(self, fn) -> Module:
        """Call ``fn`` on every submodule (children first), then on self; returns self.

            >>> net.apply(lambda m: nn.init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
        """
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise GraphcValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad`` (to None by default, as PyTorch 2)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g.grad_fn is not None:
                    g = g.detach()
                    p.grad = g
                g._data[...] = 0
                g._version.value += 1

    # ------------------------------------------------------------------ state
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An OrderedDict of parameters and persistent buffers, sharing memory with them."""
        if args:
            raise GraphcTypeError("state_dict() takes keyword arguments only (destination=, prefix=, keep_vars=)")
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _local_state(self):
        local = dict(self._parameters)
        local.update((k, v) for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set)
        return {k: v for k, v in local.items() if v is not None}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy parameters and buffers from ``state_dict`` into this module, in place.

        With ``strict=True`` the keys must match exactly; the result is
        ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise GraphcTypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        missing, unexpected, errors = [], [], []
        expected = set()
        for prefix, module in self.named_modules(remove_duplicate=False):
            pre = prefix + "." if prefix else ""
            for name, target in module._local_state().items():
                key = pre + name
                expected.add(key)
                if key not in state_dict:
                    missing.append(key)
                    continue
                error = _copy_into(target, state_dict[key], key, assign, module, name)
                if error:
                    errors.append(error)
        unexpected = [k for k in state_dict.keys() if k not in expected]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise StateDictError("Error(s) in loading state_dict for {}:\n\t{}".format(self._get_name(), "\n\t".join(errors)),
                                 fix="load a state_dict saved from the same architecture, or pass strict=False")
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ dtype and device
    def _apply_to_tensors(self, convert) -> Module:
        for module in self.modules():
            for store in (module._parameters, module._buffers):
                for t in store.values():
                    if t is not None:
                        convert(t)
        return self

    def to(self, *args, **kwargs) -> Module:
        """``to(dtype)`` converts floating parameters and buffers in place; ``to(device)`` moves them
        (and their gradients) in place, keeping the same Parameter objects, as PyTorch does.
        Moving to "cuda" needs a usable GPU (else :class:`graphc.DeviceError`)."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise GraphcTypeError(f"to() got unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, D.DType):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            else:
                device = a
        if device is not None:
            target = placed(check_device(device))
            self._apply_to_tensors(lambda t: _move_(t, target))
        if dtype is not None:
            dtype = D.as_dtype(dtype)
            if not dtype.is_floating_point:
                raise GraphcTypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype.name}")
            self._apply_to_tensors(lambda t: _convert_(t, dtype))
        return self

    def cpu(self) -> Module:
        """Move every parameter and buffer to the CPU (in place)."""
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        """Move every parameter and buffer to a CUDA device (in place); needs a usable GPU."""
        return self.to("cuda" if device is None else device)

    def float(self) -> Module:
        return self.to(D.float32)

    def double(self) -> Module:
        return self.to(D.float64)

    def half(self) -> Module:
        raise GraphcTypeError("graphc has no float16 dtype, so Module.half() is not supported",
                              fix="train in float32 (the default), or float64 with .double()")

    bfloat16 = half

    # ------------------------------------------------------------------ printing
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """Extra text inside this module's repr (override in layers: ``in_features=4, ...``)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        text = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"


def _copy_into(target: Tensor, source, key: str, assign: bool, module: Module, name: str) -> str | None:
    """Copy one state_dict entry into a parameter or buffer; return PyTorch's error text or None."""
    if not isinstance(source, Tensor):
        return (f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like object from '
                f"checkpoint but received {type(source)}")
    source._no_value("load_state_dict")
    if tuple(source.shape) != tuple(target.shape):
        return (f"size mismatch for {key}: copying a param with shape {_size(source.shape)} from checkpoint, "
                f"the shape in current model is {_size(target.shape)}.")
    if assign:
        if isinstance(target, Parameter):
            module._parameters[name] = Parameter(source, requires_grad=target.requires_grad)
        else:
            module._buffers[name] = source
        return None
    if target._data is not source._data:
        np.copyto(target._data, source._data, casting="unsafe")
        target._version.value += 1
    return None


def _size(shape) -> str:
    return f"torch.Size([{', '.join(map(str, shape))}])"


def _convert_(t: Tensor, dtype: D.DType) -> None:
    """Change a floating tensor's dtype in place of its data (the tensor object stays)."""
    if not t.dtype.is_floating_point or t.dtype is dtype:
        return
    t._data = t._data.astype(dtype.np)
    t._version.value += 1
    if t._grad is not None:
        grad = Tensor._wrap(t._grad._data.astype(dtype.np))
        grad._device = t._grad._device
        t._grad = grad


def _move_(t: Tensor, device) -> None:
    """Place a tensor (and its gradient) on ``device`` in place. Values stay in host memory
    (docs/cuda.md), so this only changes where eager ops and compiled steps run."""
    t._device = device
    if t._grad is not None:
        t._grad._device = device


__all__ = ["Module", "RemovableHandle", "StateDictError"]
