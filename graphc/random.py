"""Random number generators: ``graphc.manual_seed``, ``graphc.Generator`` and the default generator.

A :class:`Generator` wraps numpy's ``np.random.Generator(np.random.PCG64(seed))``. The numbers
it draws are reproducible for a seed, but they differ from PyTorch's for the same seed (PyTorch
uses a Mersenne Twister and its own sampling algorithms)::

    >>> import graphc
    >>> _ = graphc.manual_seed(0)
    >>> a = graphc.rand(3)
    >>> _ = graphc.manual_seed(0)
    >>> bool((graphc.rand(3) == a).all())
    True

Each generator also keeps a Philox4x32 counter for the counter-based ``rand_uniform`` IR op
(dropout): :func:`philox_seed_offset` hands out a ``(seed, offset)`` pair and reserves the
counter blocks it covers, so eager, compiled and exported code draw the same masks. While
``graphc.compile`` traces, that pair is a pair of traced tensors read from (and advanced in) the
generator's state buffers, so every call of a compiled step draws fresh numbers.
"""

from __future__ import annotations

import os

import numpy as np

from graphc.ir.errors import GraphcTypeError, GraphcValueError

from . import _dispatch
from .device import check_device

# PyTorch's default seed (so initial_seed() of a fresh generator reads the same number)
DEFAULT_SEED = 67280421310721
_MASK64 = (1 << 64) - 1
_STATE_MAGIC = 0x67726E67  # "grng": marks a state tensor made by get_state()
_STATE_WORDS = 17


def _splitmix64(x: int) -> int:
    """A 64-bit mix of ``x`` (decorrelates the Philox key from the PCG64 stream of one seed)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _check_seed(seed) -> int:
    from .tensor import Tensor

    if isinstance(seed, Tensor):
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise GraphcTypeError(f"manual_seed expected an int seed, got {type(seed).__name__}", fix="pass an integer seed")
    seed = int(seed)
    if not -(1 << 63) <= seed <= _MASK64:
        raise GraphcValueError(f"Overflow when unpacking long: seed {seed} is outside "
                               f"[{-(1 << 63)}, {_MASK64}]", fix="pass a seed that fits in 64 bits")
    return seed & _MASK64  # negative seeds wrap around, as PyTorch's


class Generator:
    """A source of random numbers, as ``torch.Generator``.

    ``Generator(device="cpu")`` starts from PyTorch's default seed (67280421310721); pass it as
    ``generator=`` to the random factories (``graphc.rand``, ``randperm``...) and samplers::

        >>> g = graphc.Generator().manual_seed(42)
        >>> g.initial_seed()
        42
    """

    def __init__(self, device="cpu"):
        self.device = check_device(device)
        self._philox = None  # (seed, offset): 0-dim int64 tensors, made on first use
        self._set_seed(DEFAULT_SEED)

    # ------------------------------------------------------------------ seeding
    def _set_seed(self, seed: int) -> None:
        self._seed = seed
        self._np = np.random.Generator(np.random.PCG64(seed))
        self._set_philox(self.philox_key(), 0)

    def philox_key(self) -> int:
        """The 63-bit Philox key derived from this generator's seed (a non-negative int64)."""
        return _splitmix64(self._seed) & ((1 << 63) - 1)

    def _set_philox(self, key: int, offset: int) -> None:
        if self._philox is None:
            from .tensor import Tensor

            self._philox = (Tensor._wrap(np.array(key, np.int64)), Tensor._wrap(np.array(offset, np.int64)))
            self._philox[0]._name_hint = "rng.seed"
            self._philox[1]._name_hint = "rng.offset"
            return
        # written in place: a compiled step bound to these buffers sees the new values
        for t, v in zip(self._philox, (key, offset), strict=True):
            t._data[...] = v
            t._version.value += 1

    def manual_seed(self, seed) -> Generator:
        """Seed the generator (resets the Philox offset to 0); returns the generator."""
        self._set_seed(_check_seed(seed))
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy; returns the seed chosen."""
        seed = int.from_bytes(os.urandom(8), "little") >> 1
        self._set_seed(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    # ------------------------------------------------------------------ state
    def get_state(self):
        """The full state as a 1-D int64 tensor (a copy), for :meth:`set_state`."""
        from .tensor import Tensor

        st = self._np.bit_generator.state
        words = [_STATE_MAGIC]
        for value, n in ((self._seed, 2), (st["state"]["state"], 4), (st["state"]["inc"], 4),
                         (int(self._philox[0]._data), 2), (int(self._philox[1]._data), 2)):
            words += [(value >> (32 * i)) & 0xFFFFFFFF for i in range(n)]
        words += [int(st["has_uint32"]), int(st["uinteger"])]
        return Tensor._wrap(np.array(words, np.int64))

    def set_state(self, new_state) -> Generator:
        """Restore a state returned by :meth:`get_state`."""
        from .tensor import Tensor

        if not isinstance(new_state, Tensor):
            raise GraphcTypeError(f"expected a graphc.Tensor as the RNG state, got {type(new_state).__name__}",
                                  fix="pass a tensor returned by get_state() / get_rng_state()")
        w = [int(v) for v in np.asarray(new_state._data).reshape(-1)]
        if new_state.dtype.name != "int64" or len(w) != _STATE_WORDS or w[0] != _STATE_MAGIC:
            raise GraphcValueError("Invalid generator state: expected a state tensor made by graphc's get_state()",
                                   fix="pass a tensor returned by get_state() / get_rng_state(), unmodified")

        def join(words):
            return sum(v << (32 * i) for i, v in enumerate(words))

        self._seed = join(w[1:3])
        bitgen = np.random.PCG64()
        bitgen.state = {"bit_generator": "PCG64", "state": {"state": join(w[3:7]), "inc": join(w[7:11])},
                        "has_uint32": w[15], "uinteger": w[16]}
        self._np = np.random.Generator(bitgen)
        self._set_philox(join(w[11:13]), join(w[13:15]))
        return self

    def __repr__(self) -> str:
        return f"<graphc.Generator object (device={self.device}, initial_seed={self._seed})>"


default_generator = Generator()


def _gen(generator) -> Generator:
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise GraphcTypeError(f"expected a graphc.Generator, got {type(generator).__name__}",
                              fix="create one with graphc.Generator().manual_seed(seed)")
    return generator


def manual_seed(seed) -> Generator:
    """Seed graphc's default generator (as ``torch.manual_seed``); returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator non-deterministically; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The default generator's seed."""
    return default_generator.initial_seed()


def get_rng_state():
    """The default generator's state (an int64 tensor)."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the default generator's state from :func:`get_rng_state`."""
    default_generator.set_state(new_state)


# ------------------------------------------------------------------ drawing (used by the factories)
def numpy_generator(generator=None) -> np.random.Generator:
    """The numpy generator behind ``generator`` (or the default generator)."""
    return _gen(generator)._np


def draw_uniform(shape, dtype, low: float = 0.0, high: float = 1.0, generator=None) -> np.ndarray:
    """An array of ``dtype`` (float32/float64) uniform in ``[low, high)``."""
    u = numpy_generator(generator).random(tuple(shape), dtype=dtype.np)
    if low != 0.0 or high != 1.0:
        u = (u * dtype.np.type(high - low) + dtype.np.type(low)).astype(dtype.np, copy=False)
    return u


def draw_normal(shape, dtype, mean: float = 0.0, std: float = 1.0, generator=None) -> np.ndarray:
    """An array of ``dtype`` (float32/float64) drawn from ``N(mean, std**2)``."""
    z = numpy_generator(generator).standard_normal(tuple(shape), dtype=dtype.np)
    if mean != 0.0 or std != 1.0:
        z = (z * dtype.np.type(std) + dtype.np.type(mean)).astype(dtype.np, copy=False)
    return z


def philox_seed_offset(n: int, generator=None):
    """``(seed, offset)`` for a ``rand_uniform(seed, offset)`` op drawing ``n`` numbers.

    Reserves ``ceil(n / 4)`` Philox4x32 counter blocks of the generator (4 float32 words per
    block; a float64 draw of ``n`` numbers needs ``2 * n`` words, so pass ``2 * n`` for it) and
    returns the offset before them. The seed is derived from the generator's seed;
    ``manual_seed`` resets the offset to 0. Eagerly both are Python ints; while ``graphc.compile``
    traces they are 0-dim int64 tensors read from the generator's state buffers, and the offset
    buffer is advanced by the compiled code itself.

        >>> g = graphc.Generator().manual_seed(1)
        >>> philox_seed_offset(10, g)[1], philox_seed_offset(10, g)[1]
        (0, 3)
    """
    n = int(n)
    if n < 0:
        raise GraphcValueError(f"philox_seed_offset: n must be >= 0, got {n}", fix="pass the number of values drawn")
    g = _gen(generator)
    blocks = -(-n // 4)
    seed_t, offset_t = g._philox
    if _dispatch.tracer is not None:
        from ._tensor_inplace import add_
        from ._tensor_shape import clone

        seed, offset = clone(seed_t), clone(offset_t)
        add_(offset_t, blocks)  # becomes an assign of the offset state in the compiled step
        return seed, offset
    offset = int(offset_t._data)
    offset_t._data[...] = offset + blocks
    offset_t._version.value += 1
    return int(seed_t._data), offset


__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state"]
