"""Flatten and Unflatten.

    >>> import graphc
    >>> from graphc import nn
    >>> nn.Flatten()(graphc.randn(32, 1, 5, 5)).shape
    graphc.Size([32, 25])
    >>> nn.Unflatten(1, (2, 5, 5))(graphc.randn(2, 50)).shape
    graphc.Size([2, 2, 5, 5])
"""

from __future__ import annotations

import math

from graphc.ir.errors import GraphcIndexError, ShapeError

from . import _prims as P
from .module import Module


def _dim(d: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= d < n:
        raise GraphcIndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n


class Flatten(Module):
    """Flatten dims ``start_dim`` to ``end_dim`` into one (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        if input.ndim == 0:
            return P.reshape(input, (1,))
        start, end = _dim(self.start_dim, input.ndim), _dim(self.end_dim, input.ndim)
        if start > end:
            raise ShapeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shape = input.shape
        return P.reshape(input, tuple(shape[:start]) + (math.prod(shape[start:end + 1]),) + tuple(shape[end + 1:]))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size) if isinstance(unflattened_size, list) else unflattened_size

    def forward(self, input):
        d = _dim(self.dim, input.ndim)
        sizes = list(self.unflattened_size)
        size = input.shape[d]
        if sizes.count(-1) > 1:
            raise ShapeError("only one dimension can be inferred")
        known = math.prod(s for s in sizes if s != -1)
        if -1 in sizes:
            if known == 0 or size % known:
                raise ShapeError(f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {self.dim} ({size}) in the input tensor")
            sizes[sizes.index(-1)] = size // known
        elif known != size:
            raise ShapeError(f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {self.dim} ({size}) in the input tensor")
        return P.reshape(input, tuple(input.shape[:d]) + tuple(sizes) + tuple(input.shape[d + 1:]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
