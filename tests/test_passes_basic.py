"""Golden IR tests for the basic passes: simplify (with constant folding), CSE and DCE."""

from __future__ import annotations

import numpy as np
import pytest

from graphc.ir import Graph, TensorType, float32, format_graph
from graphc.passes import PassContext, Pipeline, TimingInstrument, register_pass, run_pipeline
from graphc.passes.cse import cse
from graphc.passes.dce import dce
from graphc.passes.simplify import simplify


def _x_graph():
    g = Graph("t")
    x = g.placeholder("x", TensorType(float32, (2, 3)))
    return g, x


def test_simplify_removes_identities_and_folds_constants():
    g, x = _x_graph()
    one = g.add("constant", value=1.0)
    two = g.add("constant", value=2.0)
    y = g.add("mul", x, one)
    z = g.add("neg", g.add("neg", y))
    w = g.add("mul", z, g.add("add", two, two))
    g.set_outputs([g.add("reshape", w, shape=(2, 3))])
    assert format_graph(dce(simplify(g)), locs=False) == """graph t {
  %x:f32[2,3] = input
  %8:f32[] = constant {value=4.0, dtype="f32", shape=[]}
  %6:f32[2,3] = mul %x, %8
  return %6
}"""


def test_folding_a_non_uniform_result_makes_a_const_placeholder():
    g, x = _x_graph()
    c = g.placeholder("table", TensorType(float32, (3,)), role="const", value=np.arange(3, dtype=np.float32))
    e = g.add("exp", c)
    g.set_outputs([g.add("add", x, e)])
    out = simplify(g)
    (folded,) = [p for p in out.placeholders_with_role("const") if p.name != "table"]
    assert out.nodes[0].inputs == (x, folded)
    np.testing.assert_allclose(out.const_values[folded], np.exp(np.arange(3, dtype=np.float32)))


def test_simplify_keeps_negative_zero_distinct():
    g, x = _x_graph()
    c = g.placeholder("c", TensorType(float32, (2,)), role="const", value=np.array([0.0, -0.0], np.float32))
    g.set_outputs([g.add("neg", c)])
    out = simplify(g)
    assert all(n.op != "constant" for n in out.nodes)


def test_cse_merges_equal_nodes_and_dce_keeps_assigns():
    g, x = _x_graph()
    w = g.placeholder("w", TensorType(float32, (2, 3)), role="param")
    a = g.add("exp", x)
    b = g.add("exp", x)
    g.add("sin", x)  # dead
    g.assign(w, g.add("add", a, b))
    g.set_outputs([a])
    out = dce(cse(g))
    assert format_graph(out, locs=False) == """graph t {
  %x:f32[2,3] = input
  %w:f32[2,3] = param
  %0:f32[2,3] = exp %x
  %3:f32[2,3] = add %0, %0
  assign %w, %3
  return %0
}"""


def test_pipeline_edits_and_instruments():
    seen = []

    @register_pass("test_mark")
    def mark(graph, ctx):
        seen.append(graph.name)
        return graph

    pipe = Pipeline(["simplify", "dce"]).insert_after("simplify", "test_mark").insert_before("simplify", "cse")
    assert pipe.names == ["cse", "simplify", "test_mark", "dce"]
    timing = TimingInstrument()
    g, x = _x_graph()
    g.set_outputs([x])
    run_pipeline(g, pipe, PassContext(instruments=[timing], disabled={"cse"}))
    assert seen == ["t"] and set(timing.times) == {"simplify", "test_mark", "dce"}
    with pytest.raises(Exception, match="not in the pipeline"):
        pipe.insert_after("nope", "dce")


def test_dump_ir_instrument_writes_every_stage(tmp_path, monkeypatch):
    import graphc
    from graphc.ir import load_gir

    monkeypatch.setenv("GRAPHC_DUMP_IR", str(tmp_path))
    model = graphc.nn.Linear(3, 2)
    graphc.compile(model, passes=["decompose", "simplify", "dce"])(graphc.ones(4, 3))
    names = sorted(p.name for p in tmp_path.glob("*.gir"))
    assert names == ["000_trace.gir", "001_decompose.gir", "002_simplify.gir", "003_dce.gir"]
    assert load_gir(tmp_path / "003_dce.gir").outputs


def test_simplify_drops_only_the_additions_of_zero_that_change_nothing():
    # -0.0 + 0.0 is +0.0, so a float x + 0.0 stays; x + (-0.0), x - 0.0 and integer x + 0 go
    from graphc.ir import int64
    from graphc.runtime.backends import get_backend

    g, x = _x_graph()
    keep = g.add("add", x, g.add("constant", value=0.0))
    gone = [g.add("add", x, g.add("constant", value=-0.0)), g.add("sub", x, g.add("constant", value=0.0))]
    i = g.placeholder("i", TensorType(int64, (2,)))
    gone.append(g.add("add", i, g.add("constant", value=0, dtype="i64")))
    g.set_outputs([keep, *gone])
    out = dce(simplify(g))
    assert [n.op for n in out.outputs] == ["add", "placeholder", "placeholder", "placeholder"]
    xs = np.array([[-0.0, 1.0, -2.0], [0.0, np.nan, 3.0]], np.float32)
    got = get_backend("reference").compile(out).run([xs, np.array([4, -5])])
    assert np.signbit(got[0][0, 0]) == np.signbit(xs[0, 0] + np.float32(0.0))  # +0.0, as eager gives
    for value in got[1:3]:
        np.testing.assert_array_equal(np.signbit(value), np.signbit(xs))
