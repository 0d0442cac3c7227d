"""Samplers: the order in which a DataLoader visits a map-style dataset, as ``torch.utils.data``.

Random orders come from graphc's generators, so they are reproducible under one seed (and
differ from PyTorch's, whose generator is another algorithm):

    >>> import graphc
    >>> from graphc.utils.data import BatchSampler, SequentialSampler
    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

from graphc.ir.errors import GraphcTypeError, GraphcValueError

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler"]


def fresh_generator(generator):
    """``generator``, or (as PyTorch) a new one seeded from the default generator."""
    import graphc

    if generator is not None:
        return generator
    seed = int(graphc.randint(0, 2**62, (1,), dtype=graphc.int64).item())
    return graphc.Generator().manual_seed(seed)


class Sampler:
    """Base class: an iterable of dataset indices (``__iter__``, optionally ``__len__``)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation (or, with ``replacement``, ``num_samples`` independent draws).

    Without replacement and ``num_samples > len(data_source)``, whole permutations follow each
    other, as in PyTorch.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise GraphcTypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise GraphcValueError(f"num_samples should be a positive integer value, but got "
                                   f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        import graphc

        n = len(self.data_source)
        generator = fresh_generator(self.generator)
        if self.replacement:
            for _ in range(self.num_samples // 32):
                yield from graphc.randint(0, n, (32,), dtype=graphc.int64, generator=generator).tolist()
            rest = self.num_samples % 32
            if rest:
                yield from graphc.randint(0, n, (rest,), dtype=graphc.int64, generator=generator).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from graphc.randperm(n, generator=generator).tolist()
            yield from graphc.randperm(n, generator=generator).tolist()[: self.num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        import graphc

        for i in graphc.randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise GraphcValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise GraphcValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
