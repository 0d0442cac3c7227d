"""The LLVM backend's GEMM template against numpy: edges, batches, broadcasts, strided operands."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, float32, float64, registry
from graphc.passes import run_pipeline
from graphc.runtime.backends import get_backend
from graphc.runtime.kernel_ir import Gemm
from graphc.runtime.lowering_rules import _reshape_strides

if "matmul" not in registry._REGISTRY:  # until graphc/ir/ops/nn.py registers it: a stand-in for tests
    def _mm_rule(types, attrs):
        a, b = types
        batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        return TensorType(a.dtype, tuple(batch) + (a.shape[-2], b.shape[-1]))

    registry.register_op("matmul", arity=2, kind="nn", infer=_mm_rule, ref=np.matmul, doc="test stand-in")

RNG = np.random.default_rng(0)
DT = {np.float32: float32, np.float64: float64}


def _compile(build, pipeline=("fuse",)):
    return get_backend("llvm").compile(run_pipeline(build(), list(pipeline)))


def _gemm_graph(sa, sb, dtype, ta=False, tb=False):
    """matmul(a, b) where a (b) is fed transposed and permuted back when ``ta`` (``tb``)."""
    def build():
        g = Graph("gemm")
        pa = g.placeholder("a", TensorType(DT[dtype], sa[:-2] + sa[-2:][::-1] if ta else sa))
        pb = g.placeholder("b", TensorType(DT[dtype], sb[:-2] + sb[-2:][::-1] if tb else sb))
        swap = lambda x, nd: g.add("permute", x, dims=tuple(range(nd - 2)) + (nd - 1, nd - 2))  # noqa: E731
        a = swap(pa, len(sa)) if ta else pa
        b = swap(pb, len(sb)) if tb else pb
        g.set_outputs([g.add("matmul", a, b)])
        return g
    return build


def _check(sa, sb, dtype=np.float32, ta=False, tb=False):
    a = RNG.standard_normal(sa).astype(dtype)
    b = RNG.standard_normal(sb).astype(dtype)
    feed_a = np.ascontiguousarray(np.swapaxes(a, -1, -2)) if ta else a
    feed_b = np.ascontiguousarray(np.swapaxes(b, -1, -2)) if tb else b
    exe = _compile(_gemm_graph(sa, sb, dtype, ta, tb))
    (out,) = exe.run([feed_a, feed_b])
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.sqrt(sa[-1]))
    return exe


def _gemm_stmts(exe):
    return [s for k in exe.program.kernels for s in k.body if isinstance(s, Gemm)]


@pytest.mark.parametrize("m", [1, 2, 5, 11, 12, 13, 33])
@pytest.mark.parametrize("n", [1, 7, 16, 17, 31, 32, 33])
def test_edges_f32(m, n):
    for k in (1, 9, 33):
        exe = _check((m, k), (k, n))
    assert _gemm_stmts(exe) or m == 1  # one row times a k-contiguous B: dot products instead


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (3, 9, 5), (13, 17, 33), (25, 8, 16), (12, 24, 7)])
def test_edges_f64(m, n, k):
    _check((m, k), (k, n), np.float64)


@pytest.mark.parametrize("ta,tb", [(False, True), (True, False), (True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_operands_read_in_place(ta, tb, dtype):
    exe = _check((19, 37), (37, 45), dtype, ta, tb)
    assert exe.kernel_count == 1  # the permutes are read through, no transpose kernel
    assert _gemm_stmts(exe)


@pytest.mark.parametrize("sa,sb", [((64, 784), (784, 256)), ((64, 256), (256, 128)), ((64, 128), (128, 10)),
                                   ((1, 784), (784, 256)), ((300, 600), (600, 1100)), ((2, 300), (300, 1100)),
                                   ((3, 40), (40, 2100))])
def test_training_and_blocked_shapes(sa, sb):
    _check(sa, sb)  # the last one crosses every KC / MC / NC block boundary
    _check(sa, sb, ta=True)
    _check(sa, sb, tb=True)


@pytest.mark.parametrize("sa,sb", [((3, 5, 7), (3, 7, 4)), ((2, 1, 9, 6), (3, 6, 13)), ((4, 17, 8), (8, 33)),
                                   ((2, 3, 5, 4), (4, 6)), ((5, 4), (2, 4, 3))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_and_broadcast(sa, sb, dtype):
    exe = _check(sa, sb, dtype)
    assert _gemm_stmts(exe)
    _check(sa, sb, dtype, ta=True, tb=True)


def test_reshape_view_of_operand():
    """(b, s, k) reshaped to (b*s, k) is read in place; a fused producer is materialized once."""
    a = RNG.standard_normal((4, 6, 10)).astype(np.float32)
    w = RNG.standard_normal((7, 10)).astype(np.float32)

    def build():
        g = Graph("lin")
        pa = g.placeholder("a", TensorType(float32, a.shape))
        pw = g.placeholder("w", TensorType(float32, w.shape))
        x = g.add("reshape", g.add("tanh", pa), shape=(24, 10))
        g.set_outputs([g.add("matmul", x, g.add("permute", pw, dims=(1, 0)))])
        return g

    exe = _compile(build)
    (out,) = exe.run([a, w])
    np.testing.assert_allclose(out, np.tanh(a).reshape(24, 10) @ w.T, rtol=1e-5, atol=1e-5)
    assert exe.kernel_count == 2 and len(_gemm_stmts(exe)) == 1


def test_unfused_pipeline_and_integer_fallback():
    _check((9, 5), (5, 3))
    exe = _compile(_gemm_graph((6, 4), (4, 5), np.float32, tb=True), pipeline=())
    a, b = RNG.standard_normal((6, 4)).astype(np.float32), RNG.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(exe.run([a, b])[0], a @ b.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,strides,new", [((2, 3, 4), (12, 4, 1), (6, 4)), ((2, 3, 4), (12, 4, 1), (24,)),
                                               ((4, 3), (1, 4), (2, 2, 3)), ((4, 3), (1, 4), (12,)),
                                               ((2, 1, 3), (3, 3, 1), (1, 6, 1))])
def test_reshape_strides_match_numpy(shape, strides, new):
    base = np.arange(int(np.prod(shape)) * 4, dtype=np.float32)
    x = np.lib.stride_tricks.as_strided(base, shape, [s * 4 for s in strides])
    got = _reshape_strides(shape, strides, new)
    try:
        view = x.view()
        view.shape = new  # raises when numpy would need a copy
    except AttributeError:
        assert got is None
        return
    assert got is not None
    np.testing.assert_array_equal(np.lib.stride_tricks.as_strided(base, new, [s * 4 for s in got]), view)


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 10, 17])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_row_times_a_transposed_b_is_grouped_dot_products(n, dtype):
    # a batch-1 linear layer: x (1 x k) @ W^T, W stored n x k; four rows of W per pass over x,
    # and the n % 4 rows left over one at a time
    exe = _check((1, 37), (37, n), dtype, tb=True)
    assert not _gemm_stmts(exe)
    (kernel,) = exe.program.kernels
    loops = [s for s in kernel.body if hasattr(s, "var")]
    assert [lp.var for lp in loops] == (["jg"] if n >= 4 else []) + (["j"] if n % 4 else [])


@pytest.mark.parametrize("m,k,n,tb", [(64, 300, 40, True), (48, 784, 120, True), (130, 256, 259, False),
                                      (64, 520, 256, True), (200, 64, 784, False)])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_row_split_product_with_its_epilogue(m, k, n, tb, threads):
    # big enough to be split by rows into chunks (full ones and a shorter last one) that each
    # thread runs against one packing of B per k block; with a fused bias + ReLU epilogue
    import graphc
    from graphc import nn

    before = graphc.get_num_threads()
    graphc.set_num_threads(threads)
    try:
        _check((m, k), (k, n), tb=tb)
        graphc.manual_seed(0)
        layer = nn.Sequential(nn.Linear(k, n), nn.ReLU())
        x = graphc.tensor(RNG.standard_normal((m, k)).astype(np.float32))
        with graphc.no_grad():
            got = graphc.compile(layer)(x).numpy()
        w, bias = layer[0].weight.detach().numpy(), layer[0].bias.detach().numpy()
        want = np.maximum(x.numpy().astype(np.float64) @ w.T.astype(np.float64) + bias, 0)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    finally:
        graphc.set_num_threads(before)
