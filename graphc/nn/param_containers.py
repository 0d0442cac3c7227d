"""Parameter containers: ParameterList and ParameterDict.

Entries are registered as the container's own parameters (under ``"0"``, ``"1"``, ... or their
keys), so ``parameters()``, ``state_dict()`` keys (``params.0``, ``params.left``), optimizers,
``load_state_dict`` from a PyTorch checkpoint and ``graphc.compile``'s guards (every change goes
through the module registries) see them as PyTorch's do. A plain tensor stored into either is
wrapped in a Parameter (sharing its memory); other objects are kept as plain attributes.

    >>> import graphc
    >>> from graphc import nn
    >>> params = nn.ParameterList([nn.Parameter(graphc.ones(2)), graphc.zeros(3)])
    >>> [name for name, _ in params.named_parameters()]
    ['0', '1']
    >>> heads = nn.ParameterDict({"left": graphc.ones(2)})
    >>> list(heads.state_dict())
    ['left']
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from graphc.ir.errors import GraphcError, GraphcIndexError, GraphcTypeError, GraphcValueError
from graphc.tensor import Tensor

from .module import Module
from .parameter import Parameter


class ContainerCallError(GraphcError, RuntimeError):
    """A ParameterList or ParameterDict was called like a layer (PyTorch raises RuntimeError)."""


def _as_parameter(value):
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


def _entry_repr(key, value) -> str:
    if isinstance(value, Tensor):
        kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
        size = "x".join(str(s) for s in value.shape)
        device = f" ({value.device})" if value.device.type == "cuda" else ""
        return f"  ({key}): {kind} containing: [{value.dtype} of size {size}{device}]"
    return f"  ({key}): Object of type: {type(value).__name__}"


class ParameterList(Module):
    """A list of parameters, registered under ``"0"``, ``"1"``, ... (tensors become Parameters).

        >>> class Mix(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.scales = nn.ParameterList([nn.Parameter(graphc.ones(4)) for _ in range(3)])
        ...     def forward(self, xs):
        ...         return sum(x * s for x, s in zip(xs, self.scales))
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _abs_key(self, idx) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise GraphcIndexError(f"index {idx} is out of range", fix=f"the list holds {len(self)} entries")
        return str(idx % len(self))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            out = type(self)()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, self._abs_key(idx))

    def __setitem__(self, idx, param) -> None:
        setattr(self, self._abs_key(idx), _as_parameter(param))

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, parameters) -> ParameterList:
        return self.extend(parameters)

    def __dir__(self):
        return [key for key in super().__dir__() if not key.isdigit()]

    def append(self, value) -> ParameterList:
        """Add ``value`` at the end (a tensor becomes a Parameter)."""
        index = len(self)
        self._size += 1
        self[index] = value
        return self

    def extend(self, values) -> ParameterList:
        """Append every entry of an iterable."""
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise GraphcTypeError(f"ParameterList.extend should be called with an iterable, but got "
                                  f"{type(values).__name__}", fix="pass a list of parameters")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_entry_repr(k, p) for k, p in enumerate(self))

    def __call__(self, *args, **kwargs):
        raise ContainerCallError("ParameterList should not be called.",
                                 fix="index it or iterate over it in your module's forward")


class ParameterDict(Module):
    """An ordered dict of parameters, registered under their keys (tensors become Parameters).

    As in PyTorch, ``update`` with a plain ``dict`` adds its entries in sorted key order; an
    ``OrderedDict``, a ParameterDict or a sequence of pairs keeps its order.

        >>> heads = nn.ParameterDict({"left": nn.Parameter(graphc.randn(5, 10))})
        >>> heads["right"] = graphc.randn(5, 10)
    """

    def __init__(self, parameters=None):
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _attr(key) -> str:
        if not isinstance(key, str):
            raise GraphcTypeError(f"Index given to ParameterDict cannot be used as a key as it is not a string (type "
                                  f"is '{type(key).__name__}'). Open an issue on github if you need non-string keys.",
                                  fix="use string keys")
        return key

    def __getitem__(self, key: str):
        return getattr(self, self._attr(key))

    def __setitem__(self, key: str, value) -> None:
        attr = self._attr(key)
        self._keys[attr] = None
        setattr(self, attr, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same parameters."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key: str, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def pop(self, key: str):
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        """Remove and return the last inserted ``(key, parameter)`` pair."""
        if not self._keys:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def fromkeys(self, keys, default=None) -> ParameterDict:
        return ParameterDict((k, default) for k in keys)

    def keys(self):
        return self._keys.keys()

    def items(self):
        return ((k, self[k]) for k in self._keys)

    def values(self):
        return (self[k] for k in self._keys)

    def update(self, parameters) -> None:
        """Add or overwrite entries from a mapping or an iterable of ``(key, value)`` pairs."""
        if not isinstance(parameters, Iterable):
            raise GraphcTypeError(f"ParametersDict.update should be called with an iterable of key/value pairs, but "
                                  f"got {type(parameters).__name__}", fix="pass a dict or a list of (key, value) pairs")
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            for key, value in parameters.items():
                self[key] = value
        elif isinstance(parameters, Mapping):
            for key, value in sorted(parameters.items()):
                self[key] = value
        else:
            for j, pair in enumerate(parameters):
                if not isinstance(pair, Iterable):
                    raise GraphcTypeError(f"ParameterDict update sequence element #{j} should be Iterable; is"
                                          f"{type(pair).__name__}", fix="pass (key, value) pairs")
                if len(pair) != 2:
                    raise GraphcValueError(f"ParameterDict update sequence element #{j} has length {len(pair)}; 2 is "
                                           "required", fix="pass (key, value) pairs")
                self[pair[0]] = pair[1]

    def __or__(self, other) -> ParameterDict:
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other) -> ParameterDict:
        merged = other.copy()
        merged.update(self)
        return merged

    def __ior__(self, other) -> ParameterDict:
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_entry_repr(k, p) for k, p in self.items())

    def __call__(self, input):
        raise ContainerCallError("ParameterDict should not be called.",
                                 fix="index it by key in your module's forward")
