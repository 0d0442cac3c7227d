"""DataLoader: batches from a dataset, in order or shuffled, in this process or in workers.

    >>> import graphc
    >>> from graphc.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(graphc.arange(5.0), graphc.arange(5))
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]

With ``num_workers > 0`` batches are prepared by worker processes (started with ``fork``
where the platform has it) and delivered in sampler order. Random orders come from
``generator`` or graphc's default generator.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import queue
import weakref

from graphc.ir.errors import GraphcError, GraphcValueError

from . import worker as W
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader"]


class _InfiniteConstantSampler:
    """The sampler of an iterable dataset: None forever (the dataset decides what comes next)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """``torch.utils.data.DataLoader``: iterate over a dataset in batches.

    Args:
        dataset: a map-style or iterable-style dataset.
        batch_size: samples per batch (None: no batching, samples only converted).
        shuffle: visit a map-style dataset in a random order, drawn anew every epoch.
        sampler / batch_sampler: a custom order of indices / of index lists.
        num_workers: worker processes (0: load in the main process).
        collate_fn: merges a list of samples into a batch (``default_collate``).
        drop_last: drop the last incomplete batch.
        timeout: seconds to wait for a worker's batch (0: wait forever).
        worker_init_fn: called with the worker id in each worker after seeding.
        generator: the generator of the random order and of the workers' base seed.
        prefetch_factor: batches in flight per worker (2 by default when there are workers).
        persistent_workers: keep the workers between epochs.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True):
        if num_workers < 0:
            raise GraphcValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                                   "multiprocessing.")
        if timeout < 0:
            raise GraphcValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise GraphcValueError("prefetch_factor option could only be specified in multiprocessing."
                                   "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise GraphcValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise GraphcValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in (False, None):
                raise GraphcValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                       f"but got shuffle={shuffle}", fix="shuffle inside the dataset's __iter__")
            if sampler is not None:
                raise GraphcValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, "
                                       f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise GraphcValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler "
                                       f"option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise GraphcValueError("sampler option is mutually exclusive with shuffle",
                                   fix="shuffle inside the sampler (e.g. RandomSampler), or drop shuffle=True")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise GraphcValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                       "sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise GraphcValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                                   "drop_last")
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._workers = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._is_iterable:
            length = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else -(-length // self.batch_size)
            return length
        return len(self._index_sampler)

    def __iter__(self):
        if self.num_workers == 0:
            return self._single_process()
        if self.persistent_workers:
            if self._workers is None:
                self._workers = _WorkerPool(self)
            return self._workers.epoch(self)
        pool = _WorkerPool(self)
        return pool.epoch(self, shutdown=True)

    def _single_process(self):
        if self._is_iterable:
            it = iter(self.dataset)
            while True:
                try:
                    batch = W.fetch_iterable(it, self.batch_size, self.drop_last, self.collate_fn, self._auto_collation)
                except StopIteration:
                    return
                yield batch
        else:
            for indices in self._index_sampler:
                yield W.fetch_map(self.dataset, indices, self.collate_fn, self._auto_collation)

    def __del__(self):
        if getattr(self, "_workers", None) is not None:
            self._workers.shutdown()


class _WorkerPool:
    """``num_workers`` processes, each with its own task queue, sharing one result queue."""

    def __init__(self, loader: DataLoader):
        import graphc

        # the pool holds no reference to the loader: no cycle, so a dropped loader stops its
        # workers at once (a cycle would let the gc close the queues before __del__ runs)
        self.timeout = loader.timeout
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        if ctx is None or isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        gen = loader.generator if loader.generator is not None else graphc.default_generator
        self.base_seed = int(graphc.randint(0, 2**62, (1,), dtype=graphc.int64, generator=gen).item())
        self.results = ctx.Queue()
        self.task_queues = []
        self.procs = []
        n = loader.num_workers
        for wid in range(n):
            q = ctx.Queue()
            p = ctx.Process(target=W.worker_loop, daemon=True,
                            args=(loader.dataset, q, self.results, wid, n, self.base_seed + wid, loader.worker_init_fn,
                                  loader.collate_fn, loader._auto_collation, loader.batch_size, loader.drop_last,
                                  loader._is_iterable))
            p.start()
            self.task_queues.append(q)
            self.procs.append(p)
        self.alive = True
        self.epoch_count = 0
        # registered after multiprocessing's own exit hook, so it runs first (atexit is LIFO):
        # the workers still get their stop message while the queues work
        self._atexit = functools.partial(_shutdown_if_alive, weakref.ref(self))
        atexit.register(self._atexit)

    def epoch(self, loader: DataLoader, shutdown: bool = False):
        n = loader.num_workers
        self.epoch_count += 1
        epoch = self.epoch_count
        active = [True] * n
        tasks = iter(loader._index_sampler)
        next_worker = 0
        sent = 0  # task ids handed out
        owner = {}
        pending = {}
        want = 0  # the next task id to yield
        try:
            def dispatch() -> bool:
                nonlocal next_worker, sent
                if not any(active):
                    return False
                try:
                    indices = next(tasks)
                except StopIteration:
                    return False
                while not active[next_worker]:
                    next_worker = (next_worker + 1) % n
                self.task_queues[next_worker].put((sent, indices, epoch))
                owner[sent] = next_worker
                sent += 1
                next_worker = (next_worker + 1) % n
                return True

            for _ in range(loader.prefetch_factor * n):
                if not dispatch():
                    break
            while want < sent:
                while want not in pending:
                    task_id, data = self._get()
                    pending[task_id] = data
                data = pending.pop(want)
                want += 1
                if isinstance(data, W.StopMarker):
                    active[owner[want - 1]] = False
                    dispatch()
                    continue
                if isinstance(data, W.WorkerFailure):
                    data.reraise()
                dispatch()
                yield W.unpack(data)
        finally:
            if shutdown:
                self.shutdown()
            else:
                self._drain(sent, want, pending)

    def _get(self):
        timeout = self.timeout or None
        while True:
            try:
                return self.results.get(timeout=timeout if timeout else 1.0)
            except queue.Empty:
                if timeout:
                    raise GraphcError(f"DataLoader timed out after {timeout} seconds",
                                      fix="raise timeout=, or make __getitem__ faster") from None
                dead = [i for i, p in enumerate(self.procs) if not p.is_alive()]
                if dead:
                    raise GraphcError(f"DataLoader worker (pid(s) {', '.join(str(self.procs[i].pid) for i in dead)}) "
                                      "exited unexpectedly",
                                      fix="run with num_workers=0 to see the error in the main process") from None

    def _drain(self, sent: int, want: int, pending: dict) -> None:
        """Collect the batches of an epoch left unfinished, so the next epoch starts clean."""
        outstanding = sent - want - len(pending)
        for _ in range(outstanding):
            self._get()

    def shutdown(self) -> None:
        if not self.alive:
            return
        self.alive = False
        atexit.unregister(self._atexit)
        for q in self.task_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
        for q in [*self.task_queues, self.results]:
            q.close()
            q.join_thread()


def _shutdown_if_alive(ref) -> None:
    pool = ref()
    if pool is not None:
        pool.shutdown()
