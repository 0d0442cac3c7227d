"""graphc.utils.data: datasets, samplers and the DataLoader, as ``torch.utils.data``.

    >>> import graphc
    >>> from graphc.utils.data import DataLoader, TensorDataset
    >>> x, y = graphc.zeros(10, 3), graphc.arange(10)
    >>> loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)
    >>> [tuple(xb.shape) for xb, _ in loader]
    [(4, 3), (4, 3), (2, 3)]
"""

from __future__ import annotations

from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (
           ChainDataset,
           ConcatDataset,
           Dataset,
           IterableDataset,
           Subset,
           TensorDataset,
           random_split,
)
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler
from .worker import WorkerInfo, get_worker_info

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset", "random_split",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler", "DataLoader",
           "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]
