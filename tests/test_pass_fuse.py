"""Golden tests of kernel fusion and memory planning: the plan, the kernel IR it lowers to, and
the arena offsets."""

from __future__ import annotations

import numpy as np

import graphc
from graphc.ir import Graph, TensorType, float32
from graphc.passes import PassContext, VerifyInstrument, run_pipeline
from graphc.runtime.kernel_ir import format_kernel
from graphc.runtime.lower import lower

PIPE = ["fuse_optimizer", "fuse", "memory_plan"]


def _pipeline(graph, passes):
    """Run ``passes`` with the IR verifier after each one."""
    return run_pipeline(graph, passes, PassContext(instruments=[VerifyInstrument()]))


def _linear_relu():
    g = Graph("linear")
    x = g.placeholder("x", TensorType(float32, (8, 12)))
    w = g.placeholder("w", TensorType(float32, (16, 12)), role="param")
    b = g.placeholder("b", TensorType(float32, (16,)), role="param")
    y = g.add("matmul", x, g.add("permute", w, dims=(1, 0), name="w.T"), name="y")
    g.set_outputs([g.add("relu", g.add("add", y, b, name="z"), name="out")])
    return g


def test_linear_bias_relu_is_one_gemm_with_its_epilogue_golden():
    g = _pipeline(_linear_relu(), PIPE)
    assert g.meta["fusion"].report() == "1 kernels before the updates\n  %y (matmul) + %out"
    (kernel,) = lower(g).kernels
    assert format_kernel(kernel) == """kernel k0_matmul(p0_x, p1_w, p2_b, o3_out, gemm_scratch):
  gemm o3_out[()+(8, 16)] = p0_x[0 + b*() + r*12 + c*1] @ p1_w[0 + b*() + r*1 + c*12], k=12 f32 scratch=gemm_scratch
    epilogue per element (gemm_acc = the product):
      ep2: f32 = relu(add(gemm_acc, p2_b[gemm_col]))
      o3_out[((16 * gemm_row) + gemm_col)] = ep2"""


def test_memory_plan_reuses_dead_buffers_golden():
    g = Graph("chain")
    x = g.placeholder("x", TensorType(float32, (64, 64)))
    a = g.add("matmul", x, x, name="a")
    b = g.add("matmul", a, x, name="b")
    c = g.add("matmul", b, x, name="c")
    d = g.add("matmul", c, a, name="d")
    g.set_outputs([g.add("sum", d, dims=(0, 1), name="s")])
    plan = _pipeline(g, PIPE).meta["memory_plan"]
    got = {n.name: (plan.offsets[n], plan.lifetimes[n]) for n in plan.offsets}
    # a lives until d reads it; d reuses b's bytes (b is dead once c is computed)
    assert got == {"a": (0, (0, 3)), "b": (16384, (1, 2)), "c": (32768, (2, 3)), "d": (16384, (3, 4))}
    assert (plan.arena_bytes, plan.unplanned_bytes) == (49152, 65536)


def test_inlined_expression_trees_are_bounded_by_storing_repeated_inputs():
    # x_k = x_{k-1} + shift(x_{k-1}): each step reads the last one twice, so inlining everything
    # would make one kernel of 2^12 copies; the plan stores inputs once a tree passes the limit
    from graphc.passes.fuse import INLINE_LIMIT

    def scan(x):
        for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048):
            x = x + graphc.cat([graphc.zeros(2, k), x[:, : x.shape[1] - k]], 1)
        return x

    x = graphc.randn(2, 4096)
    compiled = graphc.compile(scan)
    np.testing.assert_allclose(compiled(x).numpy(), np.cumsum(x.numpy(), 1), rtol=1e-4, atol=1e-3)
    plan = compiled.graphs()[-1].meta["fusion"]
    reasons = [why for why in plan.materialized.values() if f"would pass {INLINE_LIMIT}" in why]
    assert reasons and compiled.stats()["kernels"] <= 8
