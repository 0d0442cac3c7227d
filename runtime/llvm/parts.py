"""Compiling a program's parts at the same time, and keeping their object code as one cache entry.

``jit.build_parts`` splits a large program into modules of about equal cost; ``compile_parts``
compiles the first in this process and the others in worker processes (``compile_worker.py``,
which imports only llvmlite: llvmlite serialises calls into LLVM, so threads could not overlap
them); ``pack_objects`` / ``unpack_objects`` store the parts' object files as one cache entry.
``compile_jobs`` says how many processes may take part (``GRAPHC_COMPILE_JOBS``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from ..env import env_count
from .compile_worker import SPEED_LEVEL, compile_text


def compile_jobs() -> int:
    """How many processes compile a large program at once: ``GRAPHC_COMPILE_JOBS``, else the
    CPUs this process may use (at most 4)."""
    jobs = env_count("GRAPHC_COMPILE_JOBS")
    if jobs is not None:
        return jobs
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except (AttributeError, OSError):
        return max(1, min(4, os.cpu_count() or 1))


def compile_parts(texts: list[str]) -> list[bytes]:
    """Object code for each module text: the first compiled here, the others at the same time in
    worker processes (``compile_worker.py``); a part whose worker fails is compiled here."""
    worker = str(Path(__file__).with_name("compile_worker.py"))
    # only a Python interpreter runs the worker (an embedding program's executable may be anything)
    python = sys.executable if Path(sys.executable or "-").name.startswith(("python", "pypy")) else None
    procs = []
    for text in texts[1:]:
        try:
            proc = subprocess.Popen([python, worker, str(SPEED_LEVEL)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) if python else None
        except OSError:
            proc = None
        feeder = None
        if proc is not None:  # fed from a thread: the pipe holds less than a part's text
            feeder = threading.Thread(target=_feed, args=(proc, text.encode()), daemon=True)
            feeder.start()
        procs.append((proc, feeder))
    objs = [compile_text(texts[0])]
    for (proc, feeder), text in zip(procs, texts[1:]):
        obj = None
        if proc is not None:
            out = proc.stdout.read()  # the worker reads all its input before it writes
            proc.stdout.close()
            feeder.join()
            obj = out if proc.wait() == 0 and out else None
        objs.append(obj if obj is not None else compile_text(text))
    return objs


def _feed(proc, data: bytes) -> None:
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except OSError:  # the worker died; compile_parts compiles its part here
        pass


def pack_objects(objs: list[bytes]) -> bytes:
    """Several object files as one cache entry: a count, their lengths, then their bytes."""
    head = [len(objs)] + [len(o) for o in objs]
    return b"".join(n.to_bytes(8, "little") for n in head) + b"".join(objs)


def unpack_objects(blob: bytes) -> list[bytes]:
    count = int.from_bytes(blob[:8], "little")
    if not 0 < count <= len(blob) // 8 - 1:
        raise ValueError("not a graphc cache entry")
    sizes = [int.from_bytes(blob[8 * (i + 1): 8 * (i + 2)], "little") for i in range(count)]
    objs, at = [], 8 * (count + 1)
    for n in sizes:
        objs.append(blob[at:at + n])
        at += n
    if at != len(blob):
        raise ValueError("a damaged cache entry")
    return objs
