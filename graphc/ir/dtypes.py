"""Element types and PyTorch's type-promotion rules.

graphc has five dtypes: ``float32`` (the default), ``float64``, ``int64``, ``int32`` and
``bool``. Each is a singleton :class:`DType` that knows its short IR spelling (``f32``), its
numpy dtype and its category. IR ops take operands of one dtype; the front end inserts casts
following :func:`result_type`, which implements PyTorch's promotion (categories bool < integer
< floating; Python numbers and 0-dim tensors do not widen a tensor within its category).
"""

from __future__ import annotations

import numpy as np


class DType:
    __slots__ = ("name", "short", "np", "category", "rank")

    def __init__(self, name: str, short: str, np_dtype, category: int, rank: int):
        self.name = name
        self.short = short
        self.np = np.dtype(np_dtype)
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.rank = rank  # order of width within the category

    @property
    def is_floating_point(self) -> bool:
        return self.category == 2

    @property
    def is_integer(self) -> bool:
        return self.category == 1

    @property
    def is_bool(self) -> bool:
        return self.category == 0

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    def __repr__(self) -> str:
        return f"graphc.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


bool_ = DType("bool", "bool", np.bool_, 0, 0)
int32 = DType("int32", "i32", np.int32, 1, 0)
int64 = DType("int64", "i64", np.int64, 1, 1)
float32 = DType("float32", "f32", np.float32, 2, 0)
float64 = DType("float64", "f64", np.float64, 2, 1)

ALL = (bool_, int32, int64, float32, float64)
_BY_NAME = {d.name: d for d in ALL} | {d.short: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "long": int64, "int": int32})
_BY_NP = {d.np: d for d in ALL}


def from_name(name: str) -> DType:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; graphc has {[d.name for d in ALL]}") from None


def from_numpy(np_dtype) -> DType:
    """The graphc dtype of a numpy dtype; float16 widens to float32, other ints to int64."""
    d = np.dtype(np_dtype)
    if d in _BY_NP:
        return _BY_NP[d]
    if d.kind == "f":
        return float32 if d.itemsize <= 4 else float64
    if d.kind in "iu":
        return int64 if d.itemsize >= 4 or d.kind == "i" else int32
    if d.kind == "b":
        return bool_
    raise TypeError(f"numpy dtype {d} has no graphc equivalent (supported: {[x.name for x in ALL]})")


def as_dtype(x) -> DType:
    """Accept a DType, a name, a numpy dtype, or the Python types float/int/bool."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str):
        return from_name(x)
    if x is float:
        return float32
    if x is int:
        return int64
    if x is bool:
        return bool_
    return from_numpy(x)


def scalar_dtype(value) -> DType:
    """The dtype PyTorch gives a Python number: bool, int64 or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, (int, np.integer)):
        return int64
    if isinstance(value, (float, np.floating)):
        return float32
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _max(dtypes) -> DType | None:
    best = None
    for d in dtypes:
        if best is None or (d.category, d.rank) > (best.category, best.rank):
            best = d
    return best


def promote(a: DType, b: DType) -> DType:
    """The common dtype of two tensors of equal standing."""
    return _max((a, b))


def result_type(tensors: list[DType], zero_dim: list[DType] = (), scalars: list[DType] = ()) -> DType:
    """PyTorch's promotion: tensors with dims win; then 0-dim tensors; then Python scalars.

    A lower-priority group changes the result only when its category is higher: ``int64
    tensor + 2.5`` is ``float32``; ``float32 tensor + float64 0-dim tensor`` stays ``float32``.
    A Python float promotes integers to the default float32.
    """
    result = _max(tensors)
    for group in (zero_dim, scalars):
        other = _max(group)
        if other is None:
            continue
        if result is None:
            result = other
        elif other.category > result.category:
            # a Python float lifts an integer tensor to the default float32; a 0-dim tensor
            # of a higher category brings its own dtype
            result = float32 if (group is scalars and other.is_floating_point) else other
    return result
