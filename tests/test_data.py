"""graphc.utils.data without PyTorch: datasets, samplers, DataLoader (incl. worker processes)."""

import collections

import numpy as np
import pytest

import graphc
from graphc.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    get_worker_info,
    random_split,
)


def _ds(n=10):
    return TensorDataset(graphc.arange(n * 2, dtype=graphc.float32).reshape(n, 2), graphc.arange(n))


def test_tensor_dataset_subset_concat():
    ds = _ds()
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3 and len(ds) == 10
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(graphc.zeros(3), graphc.zeros(4))
    sub = Subset(ds, [5, 1])
    assert len(sub) == 2 and sub[0][1].item() == 5
    cat = ConcatDataset([sub, ds])
    assert len(cat) == 12 and cat[2][1].item() == 0 and cat[-1][1].item() == 9
    assert len(ds + sub) == 12
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        cat[-13]
    with pytest.raises(ValueError, match="datasets should not be an empty iterable"):
        ConcatDataset([])


def test_random_split_lengths_fractions_and_seed():
    ds = _ds(10)
    a, b = random_split(ds, [7, 3], generator=graphc.Generator().manual_seed(1))
    assert len(a) == 7 and len(b) == 3 and sorted(a.indices + b.indices) == list(range(10))
    a2, _ = random_split(ds, [7, 3], generator=graphc.Generator().manual_seed(1))
    assert a.indices == a2.indices
    parts = random_split(range(10), [0.33, 0.33, 0.34])
    assert [len(p) for p in parts] == [4, 3, 3]  # PyTorch's remainder rule: floors 3,3,3 then +1 round-robin
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(ds, [5, 6])


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    perm = list(RandomSampler(range(20), generator=graphc.Generator().manual_seed(0)))
    assert sorted(perm) == list(range(20)) and perm != list(range(20))
    assert perm == list(RandomSampler(range(20), generator=graphc.Generator().manual_seed(0)))
    drawn = list(RandomSampler(range(5), replacement=True, num_samples=70))
    assert len(drawn) == 70 and set(drawn) <= set(range(5))
    more = list(RandomSampler(range(5), num_samples=12))
    assert len(more) == 12 and sorted(more[:5]) == list(range(5))
    assert sorted(SubsetRandomSampler([3, 8, 9])) == [3, 8, 9]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, drop_last=False)) == 3
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(7), 0, False)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)


def test_dataloader_batches_and_len():
    loader = DataLoader(_ds(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [tuple(x.shape) for x, _ in batches] == [(4, 2), (4, 2), (2, 2)]
    assert batches[1][1].tolist() == [4, 5, 6, 7]
    assert len(DataLoader(_ds(10), batch_size=4, drop_last=True)) == 2
    unbatched = list(DataLoader(_ds(3), batch_size=None))
    assert len(unbatched) == 3 and unbatched[0][1].ndim == 0


def test_shuffle_is_reproducible_and_new_each_epoch():
    def order(seed):
        loader = DataLoader(_ds(16), batch_size=16, shuffle=True, generator=graphc.Generator().manual_seed(seed))
        return [next(iter(loader))[1].tolist() for _ in range(2)]

    first, second = order(5)
    assert sorted(first) == list(range(16)) and first != second
    assert order(5) == [first, second]
    graphc.manual_seed(3)
    a = [y.tolist() for _, y in DataLoader(_ds(8), batch_size=8, shuffle=True)]
    graphc.manual_seed(3)
    assert [y.tolist() for _, y in DataLoader(_ds(8), batch_size=8, shuffle=True)] == a


def test_invalid_combinations_raise_like_torch():
    ds = _ds()
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=BatchSampler(range(10), 2, False), batch_size=3)
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(_Stream(5), shuffle=True)


class _Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


def test_iterable_dataset_batches():
    assert [b.tolist() for b in DataLoader(_Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(_Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert len(DataLoader(_Stream(7), batch_size=3)) == 3


class _Squares(Dataset):
    def __len__(self):
        return 11

    def __getitem__(self, i):
        info = get_worker_info()
        return {"x": np.array([i, i * i], dtype=np.float32), "worker": -1 if info is None else info.id}


def _init_fn(worker_id):
    info = get_worker_info()
    assert info is not None and info.id == worker_id and info.num_workers == 2


def test_workers_deliver_batches_in_order():
    loader = DataLoader(_Squares(), batch_size=3, num_workers=2, worker_init_fn=_init_fn)
    batches = list(loader)
    assert [b["x"][:, 0].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10]]
    assert {w for b in batches for w in b["worker"].tolist()} == {0, 1}
    assert get_worker_info() is None
    assert [b["x"][:, 0].tolist() for b in loader] == [b["x"][:, 0].tolist() for b in batches]  # a second epoch


def test_workers_with_iterable_dataset_and_persistent_workers():
    loader = DataLoader(_Stream(10), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(2):
        got = sorted(v for b in loader for v in b.tolist())
        assert got == list(range(10))


class _Broken(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            raise KeyError("sample 2 is missing")
        return i


def test_worker_errors_reach_the_main_process():
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process"):
        list(DataLoader(_Broken(), batch_size=1, num_workers=2))


def test_default_collate_structures():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([{"a": 1.5, "b": (1, "s"), "p": Point(1, 2.0)}, {"a": 2.5, "b": (2, "t"), "p": Point(3, 4.0)}])
    assert batch["a"].dtype is graphc.float64 and batch["a"].tolist() == [1.5, 2.5]
    assert batch["b"][0].dtype is graphc.int64 and batch["b"][1] == ("s", "t")  # as PyTorch: strings pass through
    assert isinstance(batch["p"], Point) and batch["p"].x.tolist() == [1, 3]
    arrays = default_collate([np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)])
    assert tuple(arrays.shape) == (2, 2, 3) and arrays.dtype is graphc.float32
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])
