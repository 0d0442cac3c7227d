"""graphc's compile time of a train step, measured in a fresh process.

Each measurement runs a fresh interpreter that imports graphc and its LLVM backend (timed apart
as ``import_s``: a process pays it once, whatever it compiles), builds the model (batch 64, SGD
momentum 0.9), calls the compiled step twice and prints JSON: ``first_s`` (trace, passes, and
the first step: it runs once, before PyTorch-style momentum buffers exist, so it is
interpreted), ``second_s`` (trace, passes, lowering, code generation or cache load, and one step
of the steady-state graph), ``total_s`` (both) and ``from_cache`` (how many of the compilations
loaded their code from the cache).

``measure(kind)`` (``python -m graphc.bench.compile_time lenet``) runs it twice in fresh
processes on one new, empty cache folder: ``cold`` (nothing cached; no LLVM or import state is
warm) and ``cached`` (the same in another fresh process, everything now in the cache: what a
rerun of the program pays).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

_CHILD = """
import time
t0 = time.perf_counter()
import graphc, graphc.runtime.llvm
t1 = time.perf_counter()
import json, sys
from graphc.bench.compile_time import _one
print(json.dumps(_one(sys.argv[1], t1 - t0)))
"""


def _one(kind: str, import_s: float) -> dict:
    import graphc

    from . import models

    x, y = (graphc.tensor(a) for a in models.make_batches(kind, 64, 1)[0])
    step = graphc.compile(models.train_step(graphc, models.build_model(graphc, kind)))
    times = []
    for _ in range(2):
        t = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - t)
    hits = sum(bool(getattr(getattr(e.executable, "jit", None), "from_cache", False))
               for es in step._entries.values() for e in es)
    return {"model": kind, "import_s": import_s, "first_s": times[0], "second_s": times[1], "total_s": sum(times),
            "compilations": step.compile_count, "from_cache": hits}


def _in_fresh_process(kind: str, cache_dir: str, env: dict) -> dict:
    env = dict(env, GRAPHC_CACHE_DIR=cache_dir, GRAPHC_CACHE="1")
    out = subprocess.run([sys.executable, "-c", _CHILD, kind], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        from .errors import BenchError

        raise BenchError(f"measuring graphc's compile time of {kind} failed:\n{out.stderr.strip()[-2000:]}", loc="")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(kind: str, repeats: int = 1, env: dict | None = None) -> dict:
    """Cold and cached compile times of ``kind``'s train step, each the median of ``repeats``."""
    env = dict(os.environ if env is None else env)
    cold, cached = [], []
    for _ in range(repeats):
        folder = tempfile.mkdtemp(prefix="graphc-bench-cache-")
        try:
            cold.append(_in_fresh_process(kind, folder, env))
            cached.append(_in_fresh_process(kind, folder, env))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def median(rows):
        rows = sorted(rows, key=lambda r: r["total_s"])
        return rows[len(rows) // 2]

    return {"model": kind, "repeats": repeats, "cold": median(cold), "cached": median(cached)}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
