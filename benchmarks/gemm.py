"""Single-thread GFLOP/s of graphc's LLVM GEMM template against numpy's sgemm/dgemm.

Run pinned to one core, with OpenBLAS single-threaded::

    OPENBLAS_NUM_THREADS=1 taskset -c 0 python benchmarks/gemm.py [--f64] [--repeats 30]

Each row is ``C[m, n] = A[m, k] @ B[k, n]``; ``A^T`` / ``B^T`` mean the operand is stored
transposed and reaches the matmul through a permute (as in every Linear layer's forward and
backward), which graphc reads in place and numpy gets as a transposed view. ``graphc`` times
a whole compiled call from Python (about 2.5 us of it is the call itself); ``kernel`` is the
native GEMM alone (the profiling build's clock), which is what a training step pays.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from graphc.ir import Graph, TensorType, float32, float64
from graphc.passes import run_pipeline
from graphc.runtime.backends import get_backend
from graphc.runtime.llvm import LLVMBackend

SHAPES = [  # (m, k, n, a transposed, b transposed)
    (256, 256, 256, False, False),
    (512, 512, 512, False, False),
    (1024, 1024, 1024, False, False),
    (64, 784, 256, False, True),   # Linear(784, 256) forward: x @ W^T
    (64, 256, 784, False, False),  # its grad_x: dy @ W
    (256, 64, 784, True, False),   # its grad_W: dy^T @ x
    (64, 256, 128, False, True),
    (64, 128, 10, False, True),
    (128, 64, 256, True, False),
    (10, 64, 128, True, False),
    (1, 784, 256, False, True),    # batch-1 inference
    (1, 784, 256, False, False),
]


def _build(m, k, n, ta, tb, dtype):
    def build():
        g = Graph("bench")
        a = g.placeholder("a", TensorType(dtype, (k, m) if ta else (m, k)))
        b = g.placeholder("b", TensorType(dtype, (n, k) if tb else (k, n)))
        if ta:
            a = g.add("permute", a, dims=(1, 0))
        if tb:
            b = g.add("permute", b, dims=(1, 0))
        g.set_outputs([g.add("matmul", a, b)])
        return g
    return build


def _median_seconds(fn, repeats: int) -> float:
    fn()
    inner = 1
    while True:  # enough calls per sample for a few milliseconds
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        if time.perf_counter() - t > 2e-3 or inner >= 1 << 16:
            break
        inner *= 4
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t) / inner)
    return float(np.median(samples))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--f64", action="store_true", help="double precision")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    dtype = float64 if args.f64 else float32
    rng = np.random.default_rng(0)
    print(f"{'shape':<28}{'graphc':>10}{'kernel':>10}{'numpy':>10}{'ratio':>8}   (GFLOP/s, {dtype.short}, single thread;"
          " ratio = graphc / numpy)")
    for shape in SHAPES:
        _row(*shape, dtype, rng, args.repeats)


def _row(m, k, n, ta, tb, dtype, rng, repeats: int) -> None:
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype.np)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype.np)
    exe = get_backend("llvm").compile(run_pipeline(_build(m, k, n, ta, tb, dtype)(), ["fuse"]))
    feeds = [a, b]
    av, bv = (a.T if ta else a), (b.T if tb else b)
    np.testing.assert_allclose(exe.run(feeds)[0], av @ bv, rtol=1e-3, atol=1e-3 * np.sqrt(k))
    flops = 2.0 * m * n * k
    t_g = _median_seconds(lambda: exe.run(feeds), repeats)
    t_n = _median_seconds(lambda: av @ bv, repeats)
    prof = LLVMBackend(profile=True).compile(run_pipeline(_build(m, k, n, ta, tb, dtype)(), ["fuse"]))
    per_call = []
    for _ in range(repeats):
        prof.kernel_ns[:] = 0
        prof.calls = 0
        _median_seconds(lambda: prof.run(feeds), 1)
        per_call.append(prof.kernel_ns.sum() / 1e9 / prof.calls)
    t_k = float(np.median(per_call))
    label = f"[{m},{k}]{'^T' if ta else ''} x [{k},{n}]{'^T' if tb else ''}"
    print(f"{label:<28}{flops / t_g / 1e9:>10.1f}{flops / t_k / 1e9:>10.1f}{flops / t_n / 1e9:>10.1f}{t_n / t_g:>8.2f}")


if __name__ == "__main__":
    main()
