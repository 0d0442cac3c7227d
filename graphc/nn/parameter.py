"""``nn.Parameter``: a tensor that a Module registers as one of its parameters.

    >>> import graphc
    >>> from graphc import nn
    >>> p = nn.Parameter(graphc.tensor([1.0, 2.0]))
    >>> p.requires_grad
    True
    >>> frozen = nn.Parameter(graphc.tensor([1.0]), requires_grad=False)  # registered, never updated
"""

from __future__ import annotations

import numpy as np

from graphc.ir.errors import GraphcTypeError
from graphc.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter when assigned as a Module attribute.

    ``Parameter(data)`` shares ``data``'s memory; ``requires_grad`` defaults to True.
    """

    _is_param = True

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            array = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data._no_value("nn.Parameter(traced tensor)")
            array = data._data
        else:
            raise GraphcTypeError(f"Parameter expects a Tensor, got {type(data).__name__}",
                                  fix="wrap the values first: nn.Parameter(graphc.tensor(values))")
        self._init(array, requires_grad)
        if isinstance(data, Tensor):
            self._version = data._version  # the same memory, the same version counter

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

