"""Reading and writing the safetensors format (no pickle, no third-party code).

A file is: 8 bytes, the little-endian length ``N`` of a JSON header; ``N`` bytes of header
(``{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
"__metadata__": {"key": "string"}}``, padded with spaces to a multiple of 8); then the raw
little-endian data of every tensor, back to back. Writes are atomic: a temporary file in the
same folder is written, flushed, fsync'ed and renamed over the target.

    >>> import numpy as np, tempfile, os
    >>> from graphc.safetensors_io import write_arrays, read_arrays
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> write_arrays(path, {"w": np.ones((2, 2), np.float32)}, {"note": "hi"})
    >>> arrays, meta = read_arrays(path)
    >>> arrays["w"].shape, meta
    ((2, 2), {'note': 'hi'})
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

from graphc.ir.atomic import atomic_write
from graphc.ir.errors import GraphcTypeError, GraphcValueError

__all__ = ["write_arrays", "read_arrays", "encode", "decode"]

# safetensors dtype names <-> numpy (little-endian); the first five are graphc's own dtypes
_TO_NUMPY = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "BOOL": "|b1",
             "F16": "<f2", "I16": "<i2", "I8": "|i1", "U8": "|u1", "U16": "<u2", "U32": "<u4", "U64": "<u8"}
_FROM_NUMPY = {np.dtype(v).newbyteorder("="): k for k, v in _TO_NUMPY.items()}
_MAX_HEADER = 100_000_000


def _dtype_name(arr: np.ndarray) -> str:
    name = _FROM_NUMPY.get(arr.dtype.newbyteorder("="))
    if name is None:
        raise GraphcTypeError(f"cannot save an array of dtype {arr.dtype} in safetensors",
                              fix="convert it to float32, float64, int64, int32 or bool")
    return name


def encode(arrays: dict, metadata: dict | None = None) -> bytes:
    """The bytes of a safetensors file holding ``arrays`` (name -> numpy array) and ``metadata``."""
    header: dict = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise GraphcTypeError("safetensors metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    offset = 0
    blobs = []
    for name, arr in arrays.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise GraphcValueError(f"invalid tensor name {name!r} for safetensors")
        arr = np.asarray(arr)
        dtype = _dtype_name(arr)
        data = np.asarray(arr, dtype=np.dtype(_TO_NUMPY[dtype]), order="C").tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_arrays(path, arrays: dict, metadata: dict | None = None) -> None:
    """Write ``arrays`` and ``metadata`` to ``path`` atomically (or to a writable binary file object)."""
    payload = encode(arrays, metadata)
    if hasattr(path, "write"):
        path.write(payload)
        return
    atomic_write(path, payload)


def _corrupt(where: str, why: str) -> GraphcValueError:
    return GraphcValueError(f"{where} is not a valid safetensors file: {why}",
                            fix="the file is truncated or damaged; save it again")


def decode(data: bytes, where: str = "the data") -> tuple[dict, dict]:
    """``(arrays, metadata)`` from the bytes of a safetensors file, checking every offset."""
    if len(data) < 8:
        raise _corrupt(where, f"it has {len(data)} bytes, fewer than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise _corrupt(where, f"the header claims {n} bytes but the file has {len(data) - 8} after the length")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _corrupt(where, f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _corrupt(where, "the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _corrupt(where, "__metadata__ must map strings to strings")
    buffer = memoryview(data)[8 + n:]
    arrays = {}
    spans = []
    for name, info in header.items():
        try:
            dtype = np.dtype(_TO_NUMPY[info["dtype"]])
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise _corrupt(where, f"tensor {name!r} has a bad entry {info!r}") from None
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(s < 0 for s in shape) or end - begin != count * dtype.itemsize or begin < 0:
            raise _corrupt(where, f"tensor {name!r}: offsets {[begin, end]} do not fit shape {list(shape)} of {info['dtype']}")
        if end > len(buffer):
            raise _corrupt(where, f"tensor {name!r} ends at byte {end} but the data has {len(buffer)} bytes (truncated?)")
        spans.append((begin, end))
        arr = np.frombuffer(buffer[begin:end], dtype=dtype).reshape(shape)
        arrays[name] = arr.astype(dtype.newbyteorder("="), copy=True)
    spans.sort()
    covered = 0
    for begin, end in spans:
        if begin != covered:
            raise _corrupt(where, "the tensors' data overlap or leave gaps")
        covered = end
    if covered != len(buffer):
        raise _corrupt(where, f"{len(buffer) - covered} bytes after the last tensor")
    order = sorted(arrays, key=lambda k: header[k]["data_offsets"][0])
    return {k: arrays[k] for k in order}, dict(metadata)


def read_arrays(path) -> tuple[dict, dict]:
    """``(arrays, metadata)`` of the safetensors file at ``path`` (or a readable binary file object)."""
    if hasattr(path, "read"):
        return decode(path.read(), "the stream")
    with open(path, "rb") as f:
        data = f.read()
    return decode(data, os.fspath(path))
