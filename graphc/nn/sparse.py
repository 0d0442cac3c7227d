"""Embedding: a lookup table of ``num_embeddings`` vectors of size ``embedding_dim``.

    >>> import graphc
    >>> from graphc import nn
    >>> emb = nn.Embedding(10, 3)
    >>> emb(graphc.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])).shape
    graphc.Size([2, 4, 3])
"""

from __future__ import annotations

from graphc.ir.errors import GraphcValueError, ShapeError

from . import functional as F
from . import init
from ._factory import factory_dtype, new_param
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """Rows of ``weight`` (initialised N(0, 1)) looked up by int64 indices.

    The ``padding_idx`` row starts at zero and never receives a gradient.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise GraphcValueError("Embedding: max_norm, scale_grad_by_freq and sparse are not supported by graphc",
                                   fix="leave them at their defaults")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise GraphcValueError("Padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = new_param((num_embeddings, embedding_dim), factory_dtype(device, dtype))
            self.weight.requires_grad_(not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ShapeError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (2-D); frozen unless ``freeze=False``.

            >>> emb = nn.Embedding.from_pretrained(graphc.tensor([[1.0, 2.3], [4.0, 5.1]]))
            >>> emb(graphc.tensor([1])).tolist()
            [[4.0, 5.099999904632568]]
        """
        if embeddings.ndim != 2:
            raise ShapeError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, _weight=embeddings, _freeze=freeze, padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
