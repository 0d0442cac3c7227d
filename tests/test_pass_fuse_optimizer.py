"""Optimizer fusion: golden IR of the moved updates, and every hazard that must keep an update
out of its gradient's kernel (each compiled result checked against the reference interpreter)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, float32, format_graph
from graphc.ir.errors import CompileError
from graphc.passes import PassContext, VerifyInstrument, run_pipeline
from graphc.runtime.backends import get_backend
from graphc.runtime.kernel_ir import Kernel
from graphc.runtime.lower import _check_early_writes

RNG = np.random.default_rng(0)
PIPE = ["fuse_optimizer", "fuse", "memory_plan"]


def _pipeline(graph, passes):
    """Run ``passes`` with the IR verifier after each one."""
    return run_pipeline(graph, passes, PassContext(instruments=[VerifyInstrument()]))


def _check(build, rtol=1e-5, atol=1e-5):
    """Compile ``build()`` with the fusion pipeline; outputs and updated placeholders must match
    the reference interpreter (which applies every assign at the end of the step)."""
    feeds = [RNG.normal(size=p.shape).astype(p.dtype.np) for p in build().placeholders]
    exe = get_backend("llvm").compile(_pipeline(build(), PIPE))
    mine = [f.copy() for f in feeds]
    ref = [f.copy() for f in feeds]
    out = exe.run(mine)
    expect = get_backend("reference").compile(build()).run(ref)
    for a, b in zip(out + mine, expect + ref):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return exe


def _riding(exe) -> set[str]:
    return {a.inputs[0].name for a in exe.graph.meta["fusion"].riding_assigns()}


def _sgd(grad_input_after: bool):
    """One linear layer's backward with an SGD-momentum update of W; the grad-input GEMM (which
    reads the old W) comes before or after the weight-gradient GEMM in the graph."""

    def build():
        g = Graph("sgd")
        x = g.placeholder("x", TensorType(float32, (6, 4)))
        dy = g.placeholder("dy", TensorType(float32, (6, 3)))
        w = g.placeholder("w", TensorType(float32, (3, 4)), role="param")
        buf = g.placeholder("buf", TensorType(float32, (3, 4)), role="state")
        lr = g.placeholder("lr", TensorType(float32, ()), role="hyper")
        if not grad_input_after:
            dx = g.add("matmul", dy, w, name="dx")
        gw = g.add("matmul", g.add("permute", dy, dims=(1, 0), name="dy.T"), x, name="gw")
        if grad_input_after:
            dx = g.add("matmul", dy, w, name="dx")
        out = g.add("exp", dx, name="out")
        nb = g.add("add", g.add("mul", buf, g.add("constant", value=0.9)), gw, name="nb")
        nw = g.add("sub", w, g.add("mul", nb, lr), name="nw")
        g.assign(buf, nb)
        g.assign(w, nw)
        g.set_outputs([out])
        return g

    return build


def test_updates_move_next_to_their_gradient_golden():
    g = _pipeline(_sgd(grad_input_after=False)(), ["fuse_optimizer"])
    assert format_graph(g, locs=False) == """graph sgd {
  %x:f32[6,4] = input
  %dy:f32[6,3] = input
  %w:f32[3,4] = param
  %buf:f32[3,4] = state
  %lr:f32[] = hyper
  %dx:f32[6,4] = matmul %dy, %w
  %dy.T:f32[3,6] = permute %dy {dims=[1,0]}
  %gw:f32[3,4] = matmul %dy.T, %x
  %0:f32[] = constant {value=0.9, dtype="f32", shape=[]}
  %1:f32[3,4] = mul %buf, %0
  %nb:f32[3,4] = add %1, %gw
  %2:f32[3,4] = mul %nb, %lr
  %nw:f32[3,4] = sub %w, %2
  assign %buf, %nb
  assign %w, %nw
  %out:f32[6,4] = exp %dx
  return %out
}"""
    assert g.meta["optimizer_fusion"].report() == "assign %buf rides on %gw (matmul)\nassign %w rides on %gw (matmul)"


def test_a_transposed_weight_gradient_is_computed_in_the_parameters_layout_golden():
    g = Graph("orient")
    x = g.placeholder("x", TensorType(float32, (6, 4)))
    dy = g.placeholder("dy", TensorType(float32, (6, 3)))
    w = g.placeholder("w", TensorType(float32, (3, 4)), role="param")
    gt = g.add("matmul", g.add("permute", x, dims=(1, 0), name="x.T"), dy, name="gw.T")
    g.assign(w, g.add("sub", w, g.add("permute", gt, dims=(1, 0), name="gw"), name="nw"))
    g.set_outputs([g.add("exp", dy, name="out")])
    g = _pipeline(g, ["fuse_optimizer"])
    assert format_graph(g, locs=False) == """graph orient {
  %x:f32[6,4] = input
  %dy:f32[6,3] = input
  %w:f32[3,4] = param
  %1:f32[3,6] = permute %dy {dims=[1,0]}
  %2:f32[3,4] = matmul %1, %x
  %nw:f32[3,4] = sub %w, %2
  assign %w, %nw
  %out:f32[6,3] = exp %dy
  return %out
}"""
    assert g.meta["optimizer_fusion"].report() == "assign %w rides on %2 (matmul)"


def test_update_rides_on_the_weight_gradient_gemm():
    exe = _check(_sgd(grad_input_after=False))
    assert _riding(exe) == {"w", "buf"}
    assert exe.kernel_count == 2  # grad-input GEMM (+exp), weight-gradient GEMM with both updates


def test_a_later_reader_of_the_old_weight_is_scheduled_before_the_update():
    """In the graph the grad-input GEMM reads W after W's gradient: the schedule runs it first."""
    exe = _check(_sgd(grad_input_after=True))
    assert _riding(exe) == {"w", "buf"}
    order = [k.meta["node"] for k in exe.program.kernels]
    assert order.index("dx") < order.index("gw")


def test_a_reader_that_needs_the_gradient_keeps_the_update_at_the_end():
    def build():
        g = Graph("late")
        x = g.placeholder("x", TensorType(float32, (5, 4)))
        w = g.placeholder("w", TensorType(float32, (4, 4)), role="param")
        buf = g.placeholder("buf", TensorType(float32, (4, 4)), role="state")
        gw = g.add("matmul", g.add("permute", x, dims=(1, 0)), x, name="gw")
        nb = g.add("add", buf, gw, name="nb")
        g.assign(buf, nb)
        g.assign(w, g.add("sub", w, nb))
        # reads the old W and needs the gradient: it can only run after gw's kernel
        g.set_outputs([g.add("sum", g.add("mul", g.add("exp", gw), w), dims=(0, 1))])
        return g

    g = _pipeline(build(), ["fuse_optimizer"])
    assert "stays at the end: %" in g.meta["optimizer_fusion"].report()
    exe = _check(build)
    # W's update at the end recomputes %nb = buf + gw from the old buf, so buf cannot ride either
    assert not _riding(exe)
    why = {n.inputs[0].name: r for n, r in exe.graph.meta["fusion"].not_fused.items() if n.op == "assign"}
    assert "reads %buf before its update" in why["buf"]


def test_a_gradient_kernel_reading_its_own_target_keeps_the_update_at_the_end():
    def build():
        g = Graph("self")
        x = g.placeholder("x", TensorType(float32, (4, 4)))
        w = g.placeholder("w", TensorType(float32, (4, 4)), role="param")
        gw = g.add("matmul", w, x, name="gw")  # the GEMM's loop reads W everywhere
        g.assign(w, g.add("sub", w, gw))
        g.set_outputs([g.add("exp", x)])
        return g

    g = _pipeline(build(), ["fuse_optimizer"])
    assert "reads %w itself" in g.meta["optimizer_fusion"].report()
    assert not _riding(_check(build))


def test_an_end_of_step_update_reading_an_early_target_keeps_it_at_the_end():
    def build():
        g = Graph("final")
        x = g.placeholder("x", TensorType(float32, (5, 4)))
        w = g.placeholder("w", TensorType(float32, (4, 4)), role="param")
        avg = g.placeholder("avg", TensorType(float32, (4, 4)), role="state")
        gw = g.add("matmul", g.add("permute", x, dims=(1, 0)), x, name="gw")
        g.assign(w, g.add("sub", w, gw))
        # a running average of W (from no gradient): an update at the end that needs the old W
        half = g.add("constant", value=0.5)
        g.assign(avg, g.add("add", g.add("mul", avg, half), g.add("mul", w, half)))
        g.set_outputs([g.add("exp", x)])
        return g

    exe = _check(build)
    assert "w" not in _riding(exe)
    why = {n.inputs[0].name: r for n, r in exe.graph.meta["fusion"].not_fused.items() if n.op == "assign"}
    assert "before its update" in why["w"]


def test_two_updates_whose_kernels_read_each_others_weight():
    """gw1 reads W2 and gw2 reads W1: at most one of the two updates can ride."""

    def build():
        g = Graph("cycle")
        x = g.placeholder("x", TensorType(float32, (4, 4)))
        w1 = g.placeholder("w1", TensorType(float32, (4, 4)), role="param")
        w2 = g.placeholder("w2", TensorType(float32, (4, 4)), role="param")
        gw1 = g.add("matmul", x, w2, name="gw1")
        gw2 = g.add("matmul", x, w1, name="gw2")
        g.assign(w1, g.add("sub", w1, gw1))
        g.assign(w2, g.add("sub", w2, gw2))
        g.set_outputs([g.add("exp", x)])
        return g

    exe = _check(build)
    assert len(_riding(exe)) == 1


def test_a_tied_weight_read_by_two_gemms_rides_on_the_last_gradient():
    """One weight used by two layers: its gradient is the sum of two GEMMs, and both layers'
    grad-input GEMMs read the old weight."""

    def build():
        g = Graph("tied")
        x = g.placeholder("x", TensorType(float32, (6, 4)))
        dy1 = g.placeholder("dy1", TensorType(float32, (6, 4)))
        dy2 = g.placeholder("dy2", TensorType(float32, (6, 4)))
        w = g.placeholder("w", TensorType(float32, (4, 4)), role="param")
        g1 = g.add("matmul", g.add("permute", dy1, dims=(1, 0)), x)
        dx1 = g.add("matmul", dy2, w)
        g2 = g.add("matmul", g.add("permute", dy2, dims=(1, 0)), dx1)
        dx2 = g.add("matmul", dy1, w)
        g.assign(w, g.add("sub", w, g.add("add", g1, g2)))
        g.set_outputs([g.add("add", dx1, dx2)])
        return g

    exe = _check(build)
    assert _riding(exe) == {"w"}


def test_the_lowering_refuses_a_program_that_reads_a_parameter_after_its_early_write():
    rides = Kernel("k0_matmul", ["w"], [], meta={"reads": {"g", "w"}, "early_writes": {"w"}})
    later = Kernel("k1_matmul", ["w"], [], meta={"reads": {"dy", "w"}})
    _check_early_writes([later, rides])  # the reader first: fine
    with pytest.raises(CompileError, match="k1_matmul reads w after kernel k0_matmul updated it early"):
        _check_early_writes([rides, later])
