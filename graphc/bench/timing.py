"""Timing: the contenders of a workload interleaved round by round, in one process.

Each round takes one sample of every contender, rotating the order from round to round; a
sample is as many calls as last about ``sample_s``. A burst of noise from a neighbour therefore
hits every contender alike, and the median over rounds discards it. The garbage collector is
paused during a sample (as ``timeit`` does), for every contender alike.
"""

from __future__ import annotations

import gc
import os
import time

import numpy as np

from .workloads import Workload


def calls_per_sample(run, sample_s: float) -> int:
    """How many calls of ``run`` last about ``sample_s``."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            run()
        dt = time.perf_counter() - t
        if dt >= sample_s / 4 or n >= 1 << 20:
            return max(1, round(n * sample_s / max(dt, 1e-9)))
        n *= 4


def _sample(run, n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        for _ in range(n):
            run()
        return (time.perf_counter() - t) / n
    finally:
        gc.enable()


def time_workload(w: Workload, rounds: int, sample_s: float, warmup_s: float) -> list[dict]:
    """Per contender: median seconds per call with quartiles, or why it was skipped."""
    active = [c for c in w.contenders if not c.skipped]
    calls = {}
    for c in active:
        end = time.perf_counter() + warmup_s
        while time.perf_counter() < end:
            c.run()
        calls[c.name] = calls_per_sample(c.run, sample_s)
    samples = {c.name: [] for c in active}
    for r in range(rounds):
        shift = r % max(len(active), 1)
        for c in active[shift:] + active[:shift]:
            samples[c.name].append(_sample(c.run, calls[c.name]))
    rows = []
    for c in w.contenders:
        if c.skipped:
            rows.append({"name": c.name, "skipped": c.skipped})
            continue
        s = np.array(samples[c.name])
        rows.append({"name": c.name, "median_s": float(np.median(s)), "p25_s": float(np.percentile(s, 25)),
                     "p75_s": float(np.percentile(s, 75)), "calls_per_sample": calls[c.name]})
    return rows


def graphc_profile(w: Workload, seconds: float) -> str | None:
    """graphc's per-kernel profile of the workload: a profiling build (as ``GRAPHC_PROFILE=1``
    makes) of the same step, run for ``seconds``; the timed executables stay unprofiled."""
    from . import workloads

    old = os.environ.get("GRAPHC_PROFILE")
    os.environ["GRAPHC_PROFILE"] = "1"
    try:
        fresh = workloads.build(w.name, {"graphc"})
        c = next((c for c in fresh.contenders if c.name == "graphc"), None)
        if c is None:
            return None
        c.check()
        exe = c.compiled._last.executable
        if not hasattr(exe, "profile_report"):
            return None
        exe.kernel_ns[:] = 0
        exe.calls = 0
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            c.run()
        per_call = exe.kernel_ns.sum() / 1e3 / max(exe.calls, 1)
        return f"{exe.calls} calls, {per_call:.1f} us per call in kernels\n{exe.profile_report()}"
    finally:
        if old is None:
            os.environ.pop("GRAPHC_PROFILE", None)
        else:
            os.environ["GRAPHC_PROFILE"] = old
