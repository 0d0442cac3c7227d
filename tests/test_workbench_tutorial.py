"""The tutorial of docs/passes.md ("Write your first pass"): examples/custom_pass.py runs and does what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import graphc
from graphc.ir import Graph, TensorType, float32, int64
from graphc.ir.verifier import verify
from graphc.passes import default_pipeline
from graphc.runtime.reference import interpret

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "custom_pass.py"
DOC = Path(__file__).resolve().parent.parent / "docs" / "passes.md"


def _load():
    spec = importlib.util.spec_from_file_location("custom_pass", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tutorial = _load()


def _ce_backward(base_value=0.0, index_cols=1, sum_dims=(1,), gather=True, other_reader=True):
    """The cross-entropy backward in small: scatter_add of one src element per row, summed, subtracted."""
    g = Graph("t")
    logp = g.placeholder("logp", TensorType(float32, (4, 3)))
    idx = g.placeholder("idx", TensorType(int64, (4, index_cols)))
    src = g.placeholder("src", TensorType(float32, (4, index_cols)))
    base = g.add("constant", value=base_value, dtype="f32", shape=(4, 3))
    scatter = g.add("scatter_add", base, idx, src, dim=1)
    total = g.add("sum", scatter, dims=list(sum_dims), keepdim=True)
    grad = g.add("sub", scatter, g.add("mul", g.add("exp", logp), total)) if other_reader else g.add("exp", total)
    outputs = [grad]
    if gather:
        outputs.append(g.add("gather", logp, idx, dim=1))
    g.set_outputs(outputs)
    return g


def _ops(graph):
    return [n.op for n in graph.nodes]


def _run(graph, seed=0):
    rng = np.random.default_rng(seed)
    cols = graph.by_name("idx").shape[1]
    feeds = {graph.by_name("logp"): rng.standard_normal((4, 3)).astype(np.float32),
             graph.by_name("idx"): rng.integers(0, 3, (4, cols)),
             graph.by_name("src"): rng.standard_normal((4, cols)).astype(np.float32)}
    return interpret(graph, feeds)


def test_sum_of_scatter_replaces_the_sum_by_src():
    g = _ce_backward()
    expected = _run(g)
    out = tutorial.sum_of_scatter(g, None)
    verify(out)
    assert _ops(out) == ["constant", "scatter_add", "exp", "mul", "sub", "gather"]
    assert out.nodes[3].inputs[1] is out.by_name("src")
    for got, want in zip(_run(out), expected):
        np.testing.assert_array_equal(got, want)


def test_sum_of_scatter_does_not_fire_when_its_conditions_fail():
    cases = {"base not zero": _ce_backward(base_value=1.0), "sum over the other dim": _ce_backward(sum_dims=(0,)),
             "sum over both dims": _ce_backward(sum_dims=(0, 1)), "two src elements per row": _ce_backward(index_cols=2),
             "the sum is the scatter's only reader": _ce_backward(other_reader=False)}
    for why, g in cases.items():
        before = _ops(g)
        assert _ops(tutorial.sum_of_scatter(g, None)) == before, why


def test_scatter_to_select_writes_a_where_that_reads_the_same_numbers():
    g = _ce_backward()
    expected = _run(g)
    out = tutorial.scatter_to_select(g, None)
    verify(out)
    assert _ops(out) == ["constant", "eq", "where", "sum", "exp", "mul", "sub", "gather"]
    arange = out.nodes[1].inputs[0]
    assert arange.role == "const" and arange.shape == (1, 3) and out.const_values[arange].tolist() == [[0, 1, 2]]
    for got, want in zip(_run(out), expected):
        np.testing.assert_array_equal(got, want)


def test_scatter_to_select_does_not_fire_when_its_conditions_fail():
    cases = {"base not zero": _ce_backward(base_value=1.0), "two src elements per row": _ce_backward(index_cols=2),
             "no gather checks the index": _ce_backward(gather=False)}
    for why, g in cases.items():
        before = _ops(g)
        assert _ops(tutorial.scatter_to_select(g, None)) == before, why


def test_the_order_of_the_passes_matters():
    g = tutorial.sum_of_scatter(tutorial.scatter_to_select(_ce_backward(), None), None)
    assert "sum" in _ops(g)  # the sum now reads a where, which sum_of_scatter does not match
    g = tutorial.scatter_to_select(tutorial.sum_of_scatter(_ce_backward(), None), None)
    assert _ops(g) == ["constant", "eq", "where", "exp", "mul", "sub", "gather"]


def test_the_tutorials_passes_keep_the_numbers_and_cut_kernels():
    default, first, both = tutorial.main(steps=3, timed_steps=0)
    assert (default["nodes"], default["kernels"]) == (136, 18)  # the numbers docs/passes.md shows
    # sum_of_scatter removes one sum; the scatter's src is then read by two kernels and stored
    assert first["nodes"] == default["nodes"] - 1 and first["kernels"] == default["kernels"]
    assert set(first["shared"]) == set(default["shared"]) | {"26"}
    # scatter_to_select: scatter_add -> eq + where, which fuse into their reader: no scatter, no sum kernel
    assert both["nodes"] == first["nodes"] + 1 and both["kernels"] == default["kernels"] - 2
    assert both["shared"] == default["shared"]
    graph = both["step"].graphs()[-1]
    assert not {"scatter_add"} & set(_ops(graph))
    for run in (first, both):
        np.testing.assert_allclose(run["losses"], default["losses"], rtol=1e-6)
    assert default["losses"][-1] < default["losses"][0]
    assert set(both["pass_ms"]) >= {"sum_of_scatter", "scatter_to_select"}
    assert list(tutorial.PIPELINE) == list(default_pipeline().insert_after("dce", "sum_of_scatter")
                                           .insert_after("sum_of_scatter", "scatter_to_select"))


def test_bisect_finds_nothing_wrong_with_the_tutorials_passes():
    _, train_step = tutorial.make_step()
    x, y = graphc.randn(8, 1, 28, 28), graphc.randint(0, 10, (8,))
    report = graphc.bisect(train_step, x, y, passes=tutorial.PIPELINE)
    assert report.first_bad is None and [c.stage for c in report.checks][1:] == list(tutorial.PIPELINE)


def test_the_docs_show_the_examples_code():
    doc = DOC.read_text()
    source = EXAMPLE.read_text()
    for name in ("def sum_of_scatter", "def scatter_to_select", "def one_per_row", "def checked_by_a_gather",
                 "def stored_for_sharing", '@register_pass("sum_of_scatter")', '@register_pass("scatter_to_select")'):
        assert name in doc and name in source
    for fn in (tutorial.sum_of_scatter, tutorial.scatter_to_select, tutorial.one_per_row, tutorial.is_zeros,
               tutorial.checked_by_a_gather, tutorial.stored_for_sharing):
        body = source[source.index(f"def {fn.__name__}("):].split("\n\n\n")[0]
        assert body in doc, fn.__name__
