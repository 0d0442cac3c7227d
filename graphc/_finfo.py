"""``graphc.finfo`` and ``graphc.iinfo``: the limits of graphc's dtypes, as ``torch.finfo``/``iinfo``.

    >>> import graphc
    >>> graphc.finfo(graphc.float32).eps
    1.1920928955078125e-07
    >>> graphc.iinfo(graphc.int32).max
    2147483647
"""

from __future__ import annotations

import numpy as np

from graphc.ir import dtypes as D
from graphc.ir.errors import GraphcTypeError

__all__ = ["finfo", "iinfo"]


class finfo:  # noqa: N801  (torch.finfo)
    """Machine limits of a floating dtype (default: float32): ``bits``, ``eps``, ``max``, ``min``,
    ``tiny`` (= ``smallest_normal``), ``resolution`` and ``dtype`` (its name)."""

    def __init__(self, type=None):  # noqa: A002  (PyTorch's argument name)
        dt = D.float32 if type is None else D.as_dtype(type)
        if not dt.is_floating_point:
            raise GraphcTypeError(f"finfo() requires a floating point input type, got {dt.name}",
                                  fix="use graphc.iinfo for integer types")
        info = np.finfo(dt.np)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -int(info.precision)  # (a Python float, as PyTorch: 1e-06, not float32 1e-06)
        self.dtype = dt.name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:  # noqa: N801  (torch.iinfo)
    """Limits of an integer dtype: ``bits``, ``max``, ``min`` and ``dtype`` (its name)."""

    def __init__(self, type):  # noqa: A002
        dt = D.as_dtype(type)
        if dt.is_floating_point or dt.is_bool:
            raise GraphcTypeError(f"iinfo() requires an integer input type, got {dt.name}",
                                  fix="use graphc.finfo for floating point types")
        info = np.iinfo(dt.np)
        self.bits, self.max, self.min, self.dtype = int(info.bits), int(info.max), int(info.min), dt.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"
