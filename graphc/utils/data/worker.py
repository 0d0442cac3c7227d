"""DataLoader worker processes: ``get_worker_info()`` and the loop each worker runs.

A worker receives ``(task_id, indices, epoch)`` (map-style) or ``(task_id, None, epoch)``
(iterable-style: "the next batch of your stream", restarted when the epoch changes) on its
own queue, fetches and collates, and sends back
``(task_id, batch)``. Tensors travel as numpy arrays (see :func:`pack` / :func:`unpack`).
Each worker seeds graphc's default generator, ``random`` and numpy with ``base_seed + id``.
"""

from __future__ import annotations

import random
import traceback

import numpy as np

from graphc.tensor import Tensor

__all__ = ["WorkerInfo", "get_worker_info"]

_worker_info = None


class WorkerInfo:
    """What a worker knows about itself: ``id``, ``num_workers``, ``seed`` and its ``dataset`` copy."""

    def __init__(self, id: int, num_workers: int, seed: int, dataset):  # noqa: A002
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self) -> str:
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, dataset={self.dataset!r})"


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker process, its :class:`WorkerInfo`; in the main process, None.

        >>> from graphc.utils.data import get_worker_info
        >>> get_worker_info() is None
        True
    """
    return _worker_info


class _Packed:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


class StopMarker:
    """Sent by a worker whose iterable dataset is exhausted."""


class WorkerFailure:
    """An exception raised inside a worker, carried back as text."""

    def __init__(self, worker_id: int, exc: BaseException):
        self.worker_id = worker_id
        self.exc_type = type(exc)
        self.text = "".join(traceback.format_exception(exc))

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} in DataLoader worker process {self.worker_id}.\nOriginal {self.text}"
        try:
            err = self.exc_type(msg)
        except Exception:
            err = RuntimeError(msg)
        raise err


def pack(obj):
    """Replace tensors by their arrays, recursively, for the trip between processes."""
    if isinstance(obj, Tensor):
        return _Packed(obj.detach().numpy())
    if isinstance(obj, dict):
        return _same_mapping(obj, {k: pack(v) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(pack(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(pack(v) for v in obj)
    return obj


def unpack(obj):
    """Undo :func:`pack`."""
    if isinstance(obj, _Packed):
        return Tensor._wrap(obj.array)
    if isinstance(obj, dict):
        return _same_mapping(obj, {k: unpack(v) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(unpack(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(unpack(v) for v in obj)
    return obj


def fetch_map(dataset, indices, collate_fn, auto_collation: bool):
    if auto_collation:
        if callable(getattr(dataset, "__getitems__", None)):
            data = dataset.__getitems__(indices)
        else:
            data = [dataset[i] for i in indices]
    else:
        data = dataset[indices]
    return collate_fn(data)


def fetch_iterable(iterator, batch_size, drop_last: bool, collate_fn, auto_collation: bool):
    """The next (collated) batch from ``iterator``; StopIteration when there is none."""
    if not auto_collation:
        return collate_fn(next(iterator))
    data = []
    for item in iterator:
        data.append(item)
        if len(data) == batch_size:
            break
    if not data or (drop_last and len(data) < batch_size):
        raise StopIteration
    return collate_fn(data)


def worker_loop(dataset, index_queue, result_queue, worker_id: int, num_workers: int, seed: int, init_fn,
                collate_fn, auto_collation: bool, batch_size, drop_last: bool, iterable: bool) -> None:
    """The body of one worker process (runs until it receives None)."""
    global _worker_info
    import graphc

    random.seed(seed)
    np.random.seed(seed % 2**32)
    graphc.manual_seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    iterator, iterator_epoch = None, None
    init_error = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
    except Exception as exc:  # reported with the first task
        init_error = WorkerFailure(worker_id, exc)
    while True:
        task = index_queue.get()
        if task is None:
            break
        task_id, indices, epoch = task
        if init_error is not None:
            result_queue.put((task_id, init_error))
            continue
        try:
            if iterable:
                if iterator_epoch != epoch:  # a new epoch (persistent workers): restart the stream
                    iterator, iterator_epoch = iter(dataset), epoch
                batch = fetch_iterable(iterator, batch_size, drop_last, collate_fn, auto_collation)
            else:
                batch = fetch_map(dataset, indices, collate_fn, auto_collation)
            result_queue.put((task_id, pack(batch)))
        except StopIteration:
            result_queue.put((task_id, StopMarker()))
        except Exception as exc:
            result_queue.put((task_id, WorkerFailure(worker_id, exc)))


def _same_mapping(original: dict, items: dict) -> dict:
    if type(original) is dict:
        return items
    try:
        return type(original)(items)
    except TypeError:
        return items
