"""``graphc.save`` and ``graphc.load``: checkpoints as safetensors files, with no pickle.

Every tensor in the saved object becomes one safetensors entry named by its path (a module
state dict keeps its own keys, ``"fc.weight"``; a nested object gets dotted paths such as
``"optimizer.state.0.momentum_buffer"``). Everything else (param groups, epoch counters, the
shape of the object: dicts, lists, tuples, integer keys) is stored as JSON in the file's
``__metadata__``, so :func:`load` gives back the same structure. Files written by other
safetensors writers (e.g. ``safetensors.torch.save_file``) load as a flat ``{name: Tensor}``.

    >>> import graphc, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> w = graphc.ones(2, requires_grad=True)
    >>> opt = graphc.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> w.sum().backward(); opt.step()
    >>> graphc.save({"model": {"w": w}, "optimizer": opt.state_dict(), "epoch": 3}, path)
    >>> ckpt = graphc.load(path)
    >>> ckpt["epoch"], ckpt["optimizer"]["param_groups"][0]["lr"], [round(v, 4) for v in ckpt["model"]["w"].tolist()]
    (3, 0.1, [0.9, 0.9])
"""

from __future__ import annotations

import collections
import json
import math

import numpy as np

from graphc.ir.errors import GraphcTypeError, GraphcValueError
from graphc.tensor import Tensor

from .safetensors_io import read_arrays, write_arrays

__all__ = ["save", "load"]

_STRUCTURE_KEY = "graphc.structure"
_VERSION_KEY = "graphc.format"


class _Flattener:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def name(self, path: list) -> str:
        base = ".".join(str(p) for p in path) or "tensor"
        name, i = base, 1
        while name in self.arrays:
            name = f"{base}#{i}"
            i += 1
        return name

    def encode(self, obj, path: list):
        if isinstance(obj, Tensor):
            name = self.name(path)
            self.arrays[name] = np.asarray(obj.detach().numpy(), order="C")  # keeps 0-dim shapes
            return {"__tensor__": name}
        if isinstance(obj, np.ndarray):
            raise GraphcTypeError(f"graphc.save got a numpy array at {'.'.join(map(str, path)) or 'the top'}",
                                  fix="convert it with graphc.from_numpy(...) first")
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise GraphcTypeError(f"graphc.save supports dict keys of type str or int, got {type(k).__name__}")
                items.append([k, self.encode(v, [*path, k])])
            tag = "__odict__" if isinstance(obj, collections.OrderedDict) else "__dict__"
            return {tag: items}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, [*path, i]) for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return {"__list__": [self.encode(v, [*path, i]) for i, v in enumerate(obj)]}
        if isinstance(obj, float) and not math.isfinite(obj):
            return {"__float__": repr(obj)}
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        raise GraphcTypeError(f"graphc.save cannot store an object of type {type(obj).__name__} "
                              f"(at {'.'.join(map(str, path)) or 'the top'})",
                              fix="save tensors, numbers, strings, None and dicts/lists/tuples of them; graphc never pickles")


def save(obj, f) -> None:
    """Save tensors, state dicts (module or optimizer) and dicts/lists of them to a safetensors file.

    The write is atomic: a reader sees the old file or the new one, never a partial file.
    """
    flat = _Flattener()
    structure = flat.encode(obj, [])
    metadata = {"format": "pt", _VERSION_KEY: "1", _STRUCTURE_KEY: json.dumps(structure, separators=(",", ":"))}
    write_arrays(f, flat.arrays, metadata)


def _decode(node, tensors: dict, where: str):
    if isinstance(node, dict):
        if len(node) != 1:
            raise GraphcValueError(f"{where}: unreadable graphc structure entry {node!r}", fix="save the file again")
        (tag, value), = node.items()
        if tag == "__tensor__":
            if value not in tensors:
                raise GraphcValueError(f"{where}: the structure names tensor {value!r}, which the file does not hold",
                                       fix="the file is damaged; save it again")
            return tensors[value]
        if tag in ("__dict__", "__odict__"):
            items = [(k, _decode(v, tensors, where)) for k, v in value]
            return collections.OrderedDict(items) if tag == "__odict__" else dict(items)
        if tag == "__tuple__":
            return tuple(_decode(v, tensors, where) for v in value)
        if tag == "__list__":
            return [_decode(v, tensors, where) for v in value]
        if tag == "__float__":
            return float(value)
        raise GraphcValueError(f"{where}: unknown graphc structure tag {tag!r}", fix="save the file again")
    return node


def load(f, map_location=None, *, weights_only: bool = True, **kwargs):
    """Load what :func:`save` wrote (the same structure, tensors as graphc Tensors).

    A safetensors file from another writer loads as ``{name: Tensor}`` in file order.
    ``map_location`` may be None or ``"cpu"`` (graphc tensors live on the CPU); ``weights_only``
    is accepted for PyTorch compatibility (graphc never unpickles anything).
    """
    if map_location not in (None, "cpu") and str(map_location) != "cpu":
        from graphc.device import check_device

        check_device(map_location)
    where = getattr(f, "name", None) or str(f)
    arrays, metadata = read_arrays(f)
    tensors = {name: Tensor._wrap(_graphc_array(a)) for name, a in arrays.items()}
    text = metadata.get(_STRUCTURE_KEY)
    if text is None:
        return tensors
    try:
        structure = json.loads(text)
    except json.JSONDecodeError as e:
        raise GraphcValueError(f"{where}: the graphc structure in the metadata is not valid JSON ({e})",
                               fix="the file is damaged; save it again") from None
    return _decode(structure, tensors, where)


def _graphc_array(a: np.ndarray) -> np.ndarray:
    """An array of one of graphc's dtypes (float16 widens to float32, small ints to int32/int64)."""
    from graphc.ir.dtypes import from_numpy

    target = from_numpy(a.dtype).np
    return a if a.dtype == target else a.astype(target)
