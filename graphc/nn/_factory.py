"""Storage for layer parameters and buffers (``device=`` / ``dtype=`` as PyTorch's layers take them)."""

from __future__ import annotations

import numpy as np

from graphc.device import check_device
from graphc.ir import dtypes as D
from graphc.tensor import Tensor

from .parameter import Parameter


def factory_dtype(device=None, dtype=None) -> D.DType:
    if device is not None:
        check_device(device)
    return D.float32 if dtype is None else D.as_dtype(dtype)


def new_param(shape, dtype: D.DType = D.float32, fill=None) -> Parameter:
    """A Parameter of ``shape`` (uninitialised unless ``fill`` is given; layers then init it)."""
    array = np.empty(tuple(shape), dtype.np) if fill is None else np.full(tuple(shape), fill, dtype.np)
    return Parameter(Tensor._wrap(array))


def new_buffer(shape, dtype: D.DType, fill) -> Tensor:
    return Tensor._wrap(np.full(tuple(shape), fill, dtype.np))
