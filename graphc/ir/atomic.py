"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then renamed.

A reader sees the old file or the new one, never half of one; a crash leaves no partial file.
Used for checkpoints, .gir files and the compile cache (and importable from every layer).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def atomic_write(path, write: Callable | bytes) -> None:
    """Write ``path`` atomically; ``write`` is the bytes, or a function given the open binary file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(write, (bytes, bytearray, memoryview)):
                f.write(write)
            else:
                write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
