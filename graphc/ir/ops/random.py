"""The counter-based random op: ``rand_uniform``, uniform numbers in [0, 1) from Philox4x32-10.

A counter-based generator has no hidden state: the numbers are a pure function of
``(seed, offset, element index)``, so eager mode, compiled steps and exported C code draw
identical numbers, and a step can be replayed. The key is the seed's two 32-bit halves;
element ``i`` of an f32 result takes word ``i % 4`` of the block at the 64-bit counter
``offset + i // 4`` (two words per element, ``offset + i // 2``, for f64). The front end
advances ``offset`` by the number of blocks it used (graphc.random).

    >>> [hex(int(w)) for w in philox4x32_10((0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

import numpy as np

from ..dtypes import from_name, int64
from ..errors import DTypeError, ShapeError
from ..graph import TensorType
from ..registry import REQUIRED, register_op

_M32 = np.uint64(0xFFFFFFFF)
_MUL = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_BUMP = (0x9E3779B9, 0xBB67AE85)  # the Weyl key schedule increments
_SHIFT32 = np.uint64(32)


def philox4x32_10(counter, key) -> tuple[np.ndarray, ...]:
    """The Philox4x32-10 block function (Salmon et al., SC'11), vectorised over counters.

    ``counter`` is four 32-bit words (ints or arrays broadcasting together), ``key`` two. The
    32x32->64-bit products are exact in uint64. Returns the four output words as uint64 arrays.
    """
    c0, c1, c2, c3 = (np.asarray(w, dtype=np.uint64) & _M32 for w in counter)
    k0, k1 = (int(k) & 0xFFFFFFFF for k in key)
    for r in range(10):
        p0 = _MUL[0] * c0
        p1 = _MUL[1] * c2
        c0, c1, c2, c3 = ((p1 >> _SHIFT32) ^ c1 ^ np.uint64(k0), p1 & _M32,
                          (p0 >> _SHIFT32) ^ c3 ^ np.uint64(k1), p0 & _M32)
        if r < 9:
            k0, k1 = (k0 + _BUMP[0]) & 0xFFFFFFFF, (k1 + _BUMP[1]) & 0xFFFFFFFF
    return c0, c1, c2, c3


def philox_uniform(seed: int, offset: int, numel: int, dtype) -> np.ndarray:
    """``numel`` uniform [0, 1) numbers of ``dtype`` (float32 or float64) for ``(seed, offset)``."""
    dtype = np.dtype(dtype)
    per_block = 4 if dtype == np.float32 else 2
    blocks = -(-numel // per_block)
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    # the 64-bit counter wraps modulo 2**64, as the native code's does
    counter = (np.arange(blocks, dtype=np.uint64) + np.uint64(int(offset) & 0xFFFFFFFFFFFFFFFF))
    words = philox4x32_10((counter & _M32, counter >> _SHIFT32, 0, 0), (seed & 0xFFFFFFFF, seed >> 32))
    if per_block == 4:
        bits = np.stack(words, axis=1).reshape(-1)[:numel] >> np.uint64(8)
        return (bits.astype(np.float32) * np.float32(2.0**-24)).astype(np.float32)
    hi = np.stack((words[0], words[2]), axis=1).reshape(-1)[:numel] >> np.uint64(5)
    lo = np.stack((words[1], words[3]), axis=1).reshape(-1)[:numel] >> np.uint64(6)
    return ((hi << np.uint64(26)) + lo).astype(np.float64) * 2.0**-53


def _rand_uniform_rule(types, attrs):
    for what, t in zip(("seed", "offset"), types):
        if t.dtype is not int64 or t.shape != ():
            raise DTypeError(f"rand_uniform: the {what} must be an int64 scalar (shape []), got {t}",
                             fix="pass a 0-dim int64 tensor (graphc.random gives the seed and offset)")
    if any(s < 0 for s in attrs["shape"]):
        raise ShapeError(f"rand_uniform: negative size in shape {list(attrs['shape'])}", fix="use sizes >= 0")
    dtype = from_name(attrs["dtype"])
    if not dtype.is_floating_point:
        raise DTypeError(f"rand_uniform makes floating-point numbers, not {dtype.name}",
                         fix="use dtype 'f32' or 'f64' and cast afterwards")
    return TensorType(dtype, attrs["shape"])


def _rand_uniform_ref(seed, offset, *, shape, dtype):
    numel = int(np.prod(shape, dtype=np.int64))
    return philox_uniform(int(seed), int(offset), numel, from_name(dtype).np).reshape(shape)


register_op("rand_uniform", arity=2, kind="random", infer=_rand_uniform_rule, ref=_rand_uniform_ref,
            attrs={"shape": ("ints", REQUIRED), "dtype": ("dtype", "f32")},
            doc="rand_uniform %seed, %offset: counter-based Philox4x32-10 uniform [0, 1) numbers")
