"""The LLVM backend computes what the reference backend computes, op by op and fused."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, float32, float64, int64
from graphc.passes import run_pipeline
from graphc.runtime.backends import get_backend

RNG = np.random.default_rng(0)


def _run_both(graph_fn, feeds, pipeline=("fuse",)):
    """Run a freshly built graph on both backends; return (llvm outputs, reference outputs, executable)."""
    g_ref = graph_fn()
    g_llvm = run_pipeline(graph_fn(), list(pipeline))
    ref_feeds = [np.array(f, copy=True) for f in feeds]
    llvm_feeds = [np.array(f, copy=True) for f in feeds]
    exe = get_backend("llvm").compile(g_llvm)
    out = exe.run(llvm_feeds)
    ref = get_backend("reference").compile(g_ref).run(ref_feeds)
    for a, b in zip(llvm_feeds, ref_feeds):  # assigns wrote the same updates
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    return out, ref, exe


def _check(graph_fn, feeds, rtol=1e-5, atol=1e-6, pipeline=("fuse",)):
    out, ref, exe = _run_both(graph_fn, feeds, pipeline)
    for a, b in zip(out, ref):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return exe


UNARY = ["neg", "abs", "sign", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tanh", "sigmoid", "relu", "erf"]
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("dtype", [float32, float64])
def test_unary_ops(op, dtype):
    x = RNG.uniform(0.1, 2.0, (3, 7)).astype(dtype.np)
    if op in ("neg", "abs", "sign", "sin", "cos", "tanh", "sigmoid", "relu", "erf"):
        x = x - 1.0

    def build():
        g = Graph("u")
        p = g.placeholder("x", TensorType(dtype, x.shape))
        g.set_outputs([g.add(op, p)])
        return g

    _check(build, [x])


@pytest.mark.parametrize("op", BINARY + COMPARE)
def test_binary_ops_broadcast(op):
    a = RNG.uniform(0.5, 2.0, (4, 1, 5)).astype(np.float32)
    b = RNG.uniform(0.5, 2.0, (3, 1)).astype(np.float32)
    b[0, 0] = a[0, 0, 0]  # a tie, for eq/maximum

    def build():
        g = Graph("b")
        pa = g.placeholder("a", TensorType(float32, a.shape))
        pb = g.placeholder("b", TensorType(float32, b.shape))
        g.set_outputs([g.add(op, pa, pb)])
        return g

    _check(build, [a, b])


def test_integer_and_bool_ops():
    a = RNG.integers(-5, 5, (6,)).astype(np.int64)
    b = RNG.integers(1, 4, (6,)).astype(np.int64)

    def build():
        g = Graph("i")
        pa = g.placeholder("a", TensorType(int64, a.shape))
        pb = g.placeholder("b", TensorType(int64, b.shape))
        s = g.add("add", g.add("mul", pa, pb), g.add("abs", pa))
        m = g.add("logical_and", g.add("gt", pa, pb), g.add("logical_not", g.add("eq", pa, pb)))
        w = g.add("where", m, s, g.add("neg", s))
        g.set_outputs([w, m, g.add("cast", s, dtype="f32"), g.add("maximum", pa, pb)])
        return g

    _check(build, [a, b])


@pytest.mark.parametrize("dims,keepdim", [((1,), False), ((0,), True), ((0, 2), False), ((0, 1, 2), False), ((2,), True)])
@pytest.mark.parametrize("op", ["sum", "max"])
def test_reductions(op, dims, keepdim):
    x = RNG.normal(size=(3, 4, 5)).astype(np.float32)

    def build():
        g = Graph("r")
        p = g.placeholder("x", TensorType(float32, x.shape))
        g.set_outputs([g.add(op, g.add("exp", p), dims=dims, keepdim=keepdim)])
        return g

    _check(build, [x])


@pytest.mark.parametrize("sa,sb", [((4, 3), (3, 5)), ((2, 4, 3), (3, 5)), ((2, 1, 4, 3), (3, 3, 2))])
def test_matmul_with_fused_operand_producers(sa, sb):
    a = RNG.normal(size=sa).astype(np.float32)
    b = RNG.normal(size=sb).astype(np.float32)

    def build():
        g = Graph("mm")
        pa = g.placeholder("a", TensorType(float32, a.shape))
        pb = g.placeholder("b", TensorType(float32, b.shape))
        g.set_outputs([g.add("relu", g.add("matmul", g.add("tanh", pa), pb))])
        return g

    _check(build, [a, b], rtol=1e-4, atol=1e-5)


def test_softmax_style_chain_and_assign():
    x = RNG.normal(size=(8, 10)).astype(np.float32)
    w = RNG.normal(size=(10,)).astype(np.float32)

    def build():
        g = Graph("sm")
        px = g.placeholder("x", TensorType(float32, x.shape))
        pw = g.placeholder("w", TensorType(float32, w.shape), role="param")
        z = g.add("mul", px, pw)
        m = g.add("max", z, dims=(1,), keepdim=True)
        e = g.add("exp", g.add("sub", z, m))
        s = g.add("sum", e, dims=(1,), keepdim=True)
        out = g.add("div", e, s)
        grad = g.add("sum", out, dims=(0,))
        g.assign(pw, g.add("sub", pw, g.add("mul", grad, g.add("constant", value=0.01))))
        g.set_outputs([out, pw])
        return g

    _check(build, [x, w])


def test_movement_ops_fuse_into_one_kernel():
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)

    def build():
        g = Graph("mv")
        p = g.placeholder("x", TensorType(float32, x.shape))
        t = g.add("permute", p, dims=(2, 0, 1))
        t = g.add("reshape", t, shape=(4, 6))
        t = g.add("slice", t, dim=1, start=1, stop=6, step=2)
        t = g.add("pad", t, pads=((1, 0), (0, 2)), value=-1.0)
        t = g.add("flip", t, dims=(0,))
        t = g.add("concat", t, g.add("expand", g.add("constant", value=7.0), shape=(5, 5)), dim=0)
        g.set_outputs([g.add("exp", t)])
        return g

    exe = _check(build, [x])
    assert exe.kernel_count == 1


def test_fusion_pass_reduces_kernels():
    x = RNG.normal(size=(4, 5)).astype(np.float32)

    def build():
        g = Graph("f")
        p = g.placeholder("x", TensorType(float32, x.shape))
        g.set_outputs([g.add("sigmoid", g.add("mul", g.add("exp", p), g.add("constant", value=2.0)))])
        return g

    unfused = _check(build, [x], pipeline=())
    fused = _check(build, [x], pipeline=("fuse",))
    assert (unfused.kernel_count, fused.kernel_count) == (3, 1)


def test_memory_plan_reuses_dead_buffers_and_keeps_results():
    x = RNG.normal(size=(16, 32)).astype(np.float32)

    def build():
        g = Graph("chain")
        t = g.placeholder("x", TensorType(float32, x.shape))
        for _ in range(6):  # each step is a reduction + broadcast: a chain of live-then-dead temps
            t = g.add("sub", t, g.add("max", g.add("exp", t), dims=(1,), keepdim=True))
        g.set_outputs([t])
        return g

    exe = _check(build, [x], pipeline=("fuse", "memory_plan"))
    plan = exe.graph.meta["memory_plan"]
    assert plan.arena_bytes < plan.unplanned_bytes
    for a, b in plan.lifetimes.items():
        for c, d in plan.lifetimes.items():
            overlap_time = not (b[1] < d[0] or d[1] < b[0])
            oa, oc = plan.offsets[a], plan.offsets[c]
            overlap_space = oa < oc + c.type.nbytes and oc < oa + a.type.nbytes
            assert a is c or not (overlap_time and overlap_space)


def test_widened_multiply_add_is_one_float32_fma_rounded_once():
    # graphc.optim.rounding.fma writes PyTorch's fused c + a * b as float32(f64(a) * f64(b) +
    # f64(c)); the code generator emits llvm.fma.f32 for it. With a * b = 2**-24 * (1 - 2**-30)
    # and c = 1 + 2**-23 the exact sum lies just below a float32 midpoint: rounded once (the
    # fma, PyTorch) it is c, rounded through float64 first it would tie up to 1 + 2**-22.
    import graphc
    from graphc.optim.rounding import fma

    n = 37  # a vector body and a scalar tail
    a = np.full(n, 2.0**-12 * (1 + 2.0**-15), np.float32)
    b = np.full(n, 2.0**-12 * (1 - 2.0**-15), np.float32)
    c = np.full(n, 1 + 2.0**-23, np.float32)
    f = graphc.compile(lambda a, b, c: fma(a, b, c))
    got = f(graphc.tensor(a), graphc.tensor(b), graphc.tensor(c)).numpy()
    np.testing.assert_array_equal(got, c)
    ir_text = f._last.executable.jit.llvm_ir
    assert "llvm.fma.f32" in ir_text and "fpext" not in ir_text
    twice = (a.astype(np.float64) * b + c.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(twice, np.float32(1 + 2.0**-22))  # (what the widening alone gives)


def test_a_widened_sum_that_is_not_a_multiply_add_stays_float64():
    import graphc

    f = graphc.compile(lambda a, b: (a.double() * 3.0 + b.double() * b.double()).float())
    a = graphc.tensor(np.array([1e-8, 2.0], np.float32))
    b = graphc.tensor(np.array([1.5, 1e4], np.float32))
    want = (a.numpy().astype(np.float64) * 3.0 + b.numpy().astype(np.float64) ** 2).astype(np.float32)
    np.testing.assert_array_equal(f(a, b).numpy(), want)
    assert "fpext" in f._last.executable.jit.llvm_ir


def test_jit_objects_reach_their_sections_from_anywhere():
    # MCJIT places each object's code and data sections wherever it finds memory; after many
    # compiled programs in one process they landed over 2 GB apart and a 32-bit PC-relative
    # reference made LLVM abort the process while linking. The large code model leaves only
    # 64-bit absolute relocations.
    import shutil
    import subprocess
    import tempfile

    import graphc
    from graphc.runtime.llvm.jit import new_target_machine

    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is not installed")
    f = graphc.compile(lambda x: (x * 0.5 + 1.25).exp().sum())
    f(graphc.ones(64))
    obj = new_target_machine().emit_object(f._last.executable.jit.optimized)
    with tempfile.NamedTemporaryFile(suffix=".o") as out:
        out.write(obj)
        out.flush()
        relocations = subprocess.run(["readelf", "-rW", out.name], capture_output=True, text=True, check=True).stdout
    kinds = {line.split()[2] for line in relocations.splitlines() if "R_X86_64" in line}
    assert kinds and kinds <= {"R_X86_64_64"}, kinds
