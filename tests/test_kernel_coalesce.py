"""Loop coalescing on kernel IR: adjacent loops that address memory as one become one loop, and
nothing else changes (golden kernel IR, plus the numbers through the native backend)."""

from __future__ import annotations

import numpy as np

import graphc
from graphc.ir import Graph, TensorType, float32
from graphc.runtime.kernel_coalesce import coalesce_nest
from graphc.runtime.kernel_ir import Call, Const, Load, Loop, Store, Var, format_kernel
from graphc.runtime.lower import lower


def _kernels(build) -> str:
    g = Graph("c")
    build(g)
    return "\n".join(format_kernel(k) for k in lower(g).kernels)


def test_contiguous_elementwise_nest_is_one_loop():
    def build(g):
        x = g.placeholder("x", TensorType(float32, (4, 5, 6)), "input")
        g.set_outputs([g.add("exp", x)])

    assert _kernels(build) == (
        "kernel k0_exp(p0_x, o1_0):\n"
        "  for i2 in 0..120 parallel:\n"
        "    o1_0[i2] = exp(p0_x[i2])"
    )


def test_broadcast_operand_keeps_only_the_loops_it_needs_apart():
    def build(g):
        x = g.placeholder("x", TensorType(float32, (4, 5, 6)), "input")
        b = g.placeholder("b", TensorType(float32, (6,)), "input")  # a row bias: inner loop stays
        c = g.placeholder("c", TensorType(float32, (4, 1, 1)), "input")  # per-batch scale
        g.set_outputs([g.add("add", x, b), g.add("mul", x, c)])

    assert _kernels(build) == (
        "kernel k0_add(p0_x, p1_b, o3_0):\n"
        "  for i1 in 0..20 parallel:\n"
        "    for i2 in 0..6:\n"
        "      o3_0[((6 * i1) + i2)] = add(p0_x[((6 * i1) + i2)], p1_b[i2])\n"
        "kernel k1_mul(p0_x, p2_c, o4_1):\n"
        "  for i0 in 0..4 parallel:\n"
        "    for i2 in 0..30:\n"
        "      o4_1[((30 * i0) + i2)] = mul(p0_x[((30 * i0) + i2)], p2_c[i0])"
    )


def test_reduction_over_the_outer_dimension_is_not_merged_into_its_accumulator():
    # o[j] += x[i, j]: merging i into j would change which element each addition reaches
    def build(g):
        x = g.placeholder("x", TensorType(float32, (4, 5, 6)), "input")
        g.set_outputs([g.add("sum", x, dims=(0,), keepdim=False)])

    text = _kernels(build)
    assert "  for i0 in 0..4:\n    for i2 in 0..30:\n      o1_0[i2] = add(o1_0[i2], p0_x[((30 * i0) + i2)])" in text


def test_transpose_is_not_coalesced():
    def build(g):
        x = g.placeholder("x", TensorType(float32, (4, 5, 6)), "input")
        g.set_outputs([g.add("permute", x, dims=(2, 1, 0))])

    text = _kernels(build)
    assert "0..6" in text and "0..5" in text and "0..4" in text and "0..120" not in text


def _v(name):
    return Var(name)


def _add(a, b):
    return Call("add", (a, b), "i64")


def _mul(c, a):
    return Call("mul", (Const(c, "i64"), a), "i64")


def test_a_loop_variable_used_as_a_value_blocks_the_merge():
    # out[i, j] = float(j): j is a value, not only an address, so the loops must stay apart
    body = [Store("o", _add(_mul(3, _v("i")), _v("j")), Call("cast", (_v("j"),), "f32"))]
    nest = Loop("i", 2, [Loop("j", 3, body)])
    assert coalesce_nest(nest) is nest


def test_a_non_affine_index_blocks_the_merge():
    # a gather: the address is read from memory
    index = _add(_mul(3, _v("i")), Load("idx", _v("j"), "i64"))
    body = [Store("o", _add(_mul(3, _v("i")), _v("j")), Load("x", index, "f32"))]
    nest = Loop("i", 2, [Loop("j", 3, body)])
    assert coalesce_nest(nest) is nest


def test_mod_of_a_short_loop_is_the_loop_variable():
    # broadcast indexing writes j mod 3 for a loop of 3: it is j, so the nest merges
    body = [Store("o", _add(_mul(3, _v("i")), _v("j")),
                  Load("x", _add(_mul(3, _v("i")), Call("mod", (_v("j"), Const(3, "i64")), "i64")), "f32"))]
    merged = coalesce_nest(Loop("i", 2, [Loop("j", 3, body)], parallel=True))
    assert merged == Loop("j", 6, [Store("o", _v("j"), Load("x", _v("j"), "f32"))], parallel=True)
    # a mod that wraps stays a mod and blocks the merge
    wrap = [Store("o", _add(_mul(3, _v("i")), _v("j")),
                  Load("x", Call("mod", (_v("j"), Const(2, "i64")), "i64"), "f32"))]
    nest = Loop("i", 2, [Loop("j", 3, wrap)])
    assert coalesce_nest(nest) is nest


def test_coalesced_kernels_compute_what_the_reference_computes():
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.normal(size=(3, 4, 7, 5)).astype(np.float32))
    b = graphc.tensor(rng.normal(size=(4, 1, 1)).astype(np.float32))
    w = graphc.tensor(rng.normal(size=(5,)).astype(np.float32))

    def f(x, b, w):
        return (x * b + w).relu(), (x + w).sum(dim=1), x.permute(0, 2, 1, 3) * 2.0

    native = graphc.compile(f)(x, b, w)
    reference = graphc.compile(f, backend="reference")(x, b, w)
    for got, want in zip(native, reference):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


def test_a_recurrence_keeps_its_loops():
    # o[i, j] = o[i, j - 1] + x[i, j] reads what the previous iteration wrote: merging would let a
    # thread split the running sum anywhere, so the nest stays as it is
    store = _add(_mul(4, _v("i")), _v("j"))
    prev = _add(store, Const(-1, "i64"))
    body = [Store("o", store, Call("add", (Load("o", prev, "f32"), Load("x", store, "f32")), "f32"))]
    nest = Loop("i", 3, [Loop("j", 4, body)], parallel=True)
    assert coalesce_nest(nest) is nest
    # reading the element it writes (an in-place update) is fine
    inplace = [Store("o", store, Call("add", (Load("o", store, "f32"), Load("x", store, "f32")), "f32"))]
    assert coalesce_nest(Loop("i", 3, [Loop("j", 4, inplace)])).extent == 12


def test_bias_gradient_sum_accumulates_each_row_in_a_register():
    # sum over N, H, W of [N, C, H, W]: H and W coalesce into one run added in a register
    def build(g):
        x = g.placeholder("x", TensorType(float32, (2, 3, 4, 5)), "input")
        g.set_outputs([g.add("sum", x, dims=(0, 2, 3), keepdim=False)])

    text = _kernels(build)
    assert (
        "  for i0 in 0..2:\n"
        "    for i1 in 0..3:\n"
        "      acc1: f32 = o1_0[i1]\n"
        "      for i3 in 0..20:\n"
        "        acc1 = add(acc1, p0_x[((60 * i0) + ((20 * i1) + i3))])\n"
        "      o1_0[i1] = acc1"
    ) in text


def test_a_fused_epilogue_with_temporaries_is_coalesced_too():
    # conv + bias + relu: the epilogue computes a temporary, then stores it; the rows and columns
    # of each output plane become one loop (a 10 x 10 plane as 100 iterations, not 10 of 10)
    from graphc.passes import run_pipeline

    g = Graph("c")
    x = g.placeholder("x", TensorType(float32, (2, 3, 6, 6)), "input")
    w = g.placeholder("w", TensorType(float32, (4, 3, 3, 3)), "input")
    b = g.placeholder("b", TensorType(float32, (4, 1, 1)), "input")
    y = g.add("conv2d", x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1)
    g.set_outputs([g.add("relu", g.add("add", y, b))])
    text = format_kernel(lower(run_pipeline(g, ["fuse"])).kernels[0])
    assert text.endswith(
        "  for o0 in 0..2:\n"
        "    for o1 in 0..4:\n"
        "      for o3 in 0..16:\n"
        "        ep1: f32 = relu(add(t3_0[((64 * o0) + ((16 * o1) + o3))], p2_b[o1]))\n"
        "        o4_2[((64 * o0) + ((16 * o1) + o3))] = ep1"
    )
