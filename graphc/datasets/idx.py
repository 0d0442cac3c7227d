"""Reading IDX files, the format MNIST is distributed in (plain or gzipped).

An IDX file is: two zero bytes, a type byte, the number of dimensions ``d``, ``d`` big-endian
int32 sizes, then the values in row-major order, big-endian::

    >>> import io, struct
    >>> raw = bytes([0, 0, 0x08, 2]) + struct.pack(">2i", 2, 3) + bytes(range(6))
    >>> read_idx(io.BytesIO(raw)).tolist()
    [[0, 1, 2], [3, 4, 5]]
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from graphc.ir.errors import GraphcValueError

__all__ = ["read_idx"]

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(source) -> np.ndarray:
    """The array in an IDX file: a path (``.gz`` is decompressed) or a binary file object."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rb") as f:
            return _parse(_read_all(f, name), name)
    return _parse(source.read(), getattr(source, "name", "<IDX data>"))


def _read_all(f, name: str) -> bytes:
    try:
        return f.read()
    except (OSError, EOFError) as e:
        raise GraphcValueError(f"{name} cannot be read: {e}",
                               fix="the file is damaged: fetch it again (a .gz must be a whole gzip file)") from None


def _parse(raw: bytes, name: str) -> np.ndarray:
    fix = "give an IDX file as distributed with MNIST (e.g. train-images-idx3-ubyte or its .gz)"
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in DTYPES:
        raise GraphcValueError(f"{name} is not an IDX file (it starts with {raw[:4].hex() or 'nothing'})", fix=fix)
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GraphcValueError(f"{name} is truncated: its header needs {header} bytes, it has {len(raw)}", fix=fix)
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    dtype = np.dtype(DTYPES[raw[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise GraphcValueError(f"{name} has {len(raw)} bytes; an IDX array of shape {list(shape)} and type "
                               f"{dtype.name} needs {expected}", fix="the file is truncated or damaged: fetch it again")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
