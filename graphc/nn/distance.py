"""Distance modules: CosineSimilarity and PairwiseDistance (PyTorch's ``torch.nn`` ones).

    >>> import graphc
    >>> from graphc import nn
    >>> nn.PairwiseDistance(p=1.0)(graphc.ones(2, 3), graphc.zeros(2, 3)).shape
    graphc.Size([2])
"""

from __future__ import annotations

from . import functional as F
from .module import Module


class CosineSimilarity(Module):
    """Cosine similarity of two (broadcastable) tensors along ``dim``."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm distance ``||x1 - x2 + eps||_p`` over the last dimension."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
