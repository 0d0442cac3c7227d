"""Turning a list of samples into a batch: ``default_collate`` and ``default_convert``, as PyTorch.

Tensors are stacked along a new first dimension; numpy arrays and numbers become tensors
(Python floats as float64, ints as int64, as PyTorch); dicts, tuples, lists and namedtuples are
collated field by field (a tuple of fields comes back as a list, as in PyTorch); strings pass
through as lists:

    >>> import graphc
    >>> from graphc.utils.data import default_collate
    >>> default_collate([(graphc.tensor([1.0, 2.0]), 0), (graphc.tensor([3.0, 4.0]), 1)])
    [tensor([[1., 2.],
            [3., 4.]]), tensor([0, 1])]
"""

from __future__ import annotations

import collections.abc

import numpy as np

from graphc.ir.errors import GraphcTypeError, ShapeError
from graphc.tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_convert(data):
    """Convert numpy arrays (inside any nesting) to tensors without batching (``batch_size=None``)."""
    import graphc

    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype.char in "SaUO":
            return data
        return graphc.as_tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return graphc.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        converted = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Collate a list of samples into a batch (PyTorch's rules; see the module docstring)."""
    import graphc

    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise ShapeError(f"stack expects each tensor to be equal size, but got {sorted(shapes)} in the batch",
                             fix="make every sample the same shape, or pass a collate_fn that pads")
        return graphc.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.char in "SaUO":
            raise GraphcTypeError(_ERR.format(elem.dtype))
        return default_collate([graphc.as_tensor(b) for b in batch])
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return graphc.as_tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return graphc.tensor(batch, dtype=graphc.bool)
    if isinstance(elem, float):
        return graphc.tensor(batch, dtype=graphc.float64)
    if isinstance(elem, int):
        return graphc.tensor(batch, dtype=graphc.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(s) for s in zip(*batch, strict=True)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise ShapeError("each element in list of batch should be of equal size",
                             fix="give every sample the same number of fields")
        transposed = list(zip(*batch, strict=True))  # tuples, as PyTorch passes them on
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            return type(elem)([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise GraphcTypeError(_ERR.format(type(elem)), fix="return tensors, numpy arrays, numbers, dicts or lists "
                          "from the dataset, or pass a collate_fn")
