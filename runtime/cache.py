"""The on-disk cache of compiled code: object files keyed by what produced them.

A key hashes what the code depends on (for the LLVM backend, ``runtime/llvm.cache_key``: the
lowered kernels, the buffer table, a hash of the code generator's sources, the target's CPU name
and features, and graphc's version), so that a hit skips building the LLVM module as well as
LLVM's optimisation and code generation. An entry is two files: ``<key>.o`` (the native code, data only) and
``<key>.json`` (its SHA-256 and the versions). No pickle. Writes are atomic (temporary file,
fsync, rename); an entry that fails its checksum or does not load is compiled again and
overwritten. ``GRAPHC_CACHE_DIR`` moves the cache; ``GRAPHC_CACHE=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from graphc.ir.atomic import atomic_write

FORMAT = 2  # 2: an entry holds one or more object files (llvm.parts.pack_objects)


def cache_dir() -> Path:
    root = os.environ.get("GRAPHC_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "graphc"


def enabled() -> bool:
    return os.environ.get("GRAPHC_CACHE", "1") not in ("0", "false", "off", "no")


def graphc_version() -> str:
    """The installed graphc's version (read from its metadata: runtime never imports the front end)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("graphc")
    except PackageNotFoundError:
        return "unknown"


def make_key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in (str(FORMAT),) + parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:40]


def load(key: str) -> bytes | None:
    """The cached object code for ``key``, or None when absent or damaged."""
    if not enabled():
        return None
    d = cache_dir()
    try:
        meta = json.loads((d / f"{key}.json").read_text())
        data = (d / f"{key}.o").read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        return None
    return data


def store(key: str, data: bytes, info: dict) -> None:
    if not enabled():
        return
    d = cache_dir()
    try:
        atomic_write(d / f"{key}.o", data)
        meta = {"format": FORMAT, "sha256": hashlib.sha256(data).hexdigest(), **info}
        atomic_write(d / f"{key}.json", json.dumps(meta, indent=1).encode())
    except OSError:
        pass  # a read-only or full cache folder only costs a recompile next time


def size_bytes() -> int:
    d = cache_dir()
    return sum(p.stat().st_size for p in d.glob("*") if p.is_file()) if d.exists() else 0


def clear() -> int:
    """Delete every cache entry; returns how many files were removed."""
    d = cache_dir()
    n = 0
    if d.exists():
        for p in d.glob("*"):
            if p.suffix in (".o", ".json", ".tmp") and p.is_file():
                p.unlink()
                n += 1
    return n
