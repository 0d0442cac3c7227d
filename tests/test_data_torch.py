"""graphc.utils.data against torch.utils.data where PyTorch's behaviour is deterministic."""

import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.utils.data as tdata  # noqa: E402

import graphc  # noqa: E402
import graphc.utils.data as gdata  # noqa: E402

Pair = collections.namedtuple("Pair", "a b")


class _Samples:
    """A map-style dataset of mixed samples, usable by both libraries."""

    def __init__(self, lib, n=11):
        self.lib, self.n = lib, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": self.lib.tensor([float(i), 2.0 * i]), "arr": np.full((2,), i, dtype=np.float32),
                "label": i % 3, "w": 0.5 * i, "name": f"s{i}", "pair": Pair(i, [i, -i])}


def _plain(obj):
    """Nested structure with tensors turned into (dtype name, list) for comparison."""
    if isinstance(obj, (graphc.Tensor, torch.Tensor)):
        return (str(obj.dtype).split(".")[-1], obj.tolist())
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__, [_plain(v) for v in obj])
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_plain(v) for v in obj])
    return obj


@pytest.mark.parametrize("batch_size, drop_last", [(1, False), (4, False), (4, True), (11, False), (20, True), (None, False)])
def test_sequential_batches_and_collation_match_torch(batch_size, drop_last):
    ours = gdata.DataLoader(_Samples(graphc), batch_size=batch_size, drop_last=drop_last)
    theirs = tdata.DataLoader(_Samples(torch), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert [_plain(b) for b in ours] == [_plain(b) for b in theirs]


def test_tensor_dataset_batches_match_torch():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    ours = gdata.DataLoader(gdata.TensorDataset(graphc.tensor(x), graphc.tensor(y)), batch_size=3)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=3)
    assert [_plain(b) for b in ours] == [_plain(b) for b in theirs]


def test_default_collate_and_convert_match_torch():
    samples = [(np.int64(3), np.float64(1.5), True, b"raw", (1, 2)), (np.int64(4), np.float64(2.5), False, b"r2", (3, 4))]
    assert _plain(gdata.default_collate(samples)) == _plain(tdata.default_collate(samples))
    data = {"a": np.ones((2, 2), np.float32), "b": [np.zeros(3, np.int64)], "c": "text"}
    assert _plain(gdata.default_convert(data)) == _plain(tdata.default_convert(data))


class _Stream:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


class GStream(_Stream, gdata.IterableDataset):
    pass


class TStream(_Stream, tdata.IterableDataset):
    pass


@pytest.mark.parametrize("batch_size, drop_last", [(3, False), (3, True), (None, False)])
def test_iterable_dataset_batches_match_torch(batch_size, drop_last):
    ours = [_plain(b) for b in gdata.DataLoader(GStream(10), batch_size=batch_size, drop_last=drop_last)]
    theirs = [_plain(b) for b in tdata.DataLoader(TStream(10), batch_size=batch_size, drop_last=drop_last)]
    assert ours == theirs


def test_random_split_fraction_lengths_match_torch():
    for fractions in ([0.5, 0.5], [0.7, 0.2, 0.1], [0.33, 0.33, 0.34], [0.1] * 10):
        ours = gdata.random_split(range(23), fractions)
        theirs = tdata.random_split(range(23), fractions)
        assert [len(s) for s in ours] == [len(s) for s in theirs]


def test_batch_sampler_and_worker_batches_match_torch():
    for drop_last in (False, True):
        assert list(gdata.BatchSampler(range(10), 4, drop_last)) == list(tdata.BatchSampler(range(10), 4, drop_last))
    ours = [_plain(b) for b in gdata.DataLoader(_Samples(graphc), batch_size=4, num_workers=2)]
    theirs = [_plain(b) for b in tdata.DataLoader(_Samples(torch), batch_size=4)]
    assert ours == theirs


def test_invalid_combinations_raise_like_torch():
    cases = [dict(sampler=[0, 1], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
             dict(batch_size=None, drop_last=True), dict(num_workers=-1), dict(persistent_workers=True)]
    for kwargs in cases:
        with pytest.raises(ValueError) as theirs:
            tdata.DataLoader(range(4), **kwargs)
        with pytest.raises(ValueError) as ours:
            gdata.DataLoader(range(4), **kwargs)
        assert str(theirs.value).split(";")[0] in str(ours.value)
