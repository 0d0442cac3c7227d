"""The tutorial of docs/passes.md ("Write your first pass"): examples/custom_pass.py runs and does what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import graphc
from graphc.ir import Graph, TensorType, float32

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "custom_pass.py"
DOC = Path(__file__).resolve().parent.parent / "docs" / "passes.md"


def _load():
    spec = importlib.util.spec_from_file_location("custom_pass", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tutorial = _load()


def test_compose_permutes_composes_and_drops_identities():
    g = Graph("t")
    x = g.placeholder("x", TensorType(float32, (2, 3, 4)))
    a = g.add("permute", x, dims=(2, 0, 1))
    back = g.add("permute", a, dims=(1, 2, 0))  # undoes a
    twice = g.add("permute", g.add("permute", x, dims=(1, 0, 2)), dims=(0, 2, 1))
    g.set_outputs([g.add("add", back, x), twice])
    out = tutorial.compose_permutes(g, None)
    assert [(n.op, n.attrs.get("dims")) for n in out.nodes] == [("permute", (1, 2, 0)), ("add", None)]
    assert out.nodes[-1].inputs == (x, x) and out.outputs[1].attrs["dims"] == (1, 2, 0)


def test_the_tutorials_passes_keep_the_numbers_and_cut_kernels():
    before, after = tutorial.main(steps=3)
    assert after["nodes"] == before["nodes"] - 2
    assert after["kernels"] < before["kernels"] - 5
    np.testing.assert_allclose(after["losses"], before["losses"], rtol=1e-6)
    assert before["losses"][-1] < before["losses"][0]
    assert set(after["pass_ms"]) >= {"compose_permutes", "fuse_views"}


def test_bisect_finds_nothing_wrong_with_the_tutorials_passes():
    _, train_step = tutorial.make_step()
    x, y = graphc.randn(8, 1, 28, 28), graphc.randint(0, 10, (8,))
    report = graphc.bisect(train_step, x, y, passes=tutorial.PIPELINE)
    assert report.first_bad is None and [c.stage for c in report.checks][1:] == list(tutorial.PIPELINE)


def test_the_docs_show_the_examples_code():
    doc = DOC.read_text()
    source = EXAMPLE.read_text()
    for name in ("def compose_permutes", "def fuse_views", '@register_pass("compose_permutes")'):
        assert name in doc and name in source
