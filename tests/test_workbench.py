"""The research workbench: pipeline edits, stopping after a pass, bisection, compiling saved IR, pictures."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.cli import main
from graphc.passes import default_pipeline, register_pass


@register_pass("test_relu_to_abs")
def relu_to_abs(graph, ctx):
    """Deliberately wrong: replaces relu by abs."""
    for n in list(graph.nodes):
        if n.op == "relu":
            new = graph.add("abs", n.inputs[0], before=n, loc=n.loc)
            graph.replace_all_uses(n, new)
            graph.remove(n)
    return graph


def _mlp_step(seed=0):
    graphc.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x = graphc.randn(4, 8)
    y = graphc.tensor([0, 1, 2, 1])
    return model, step, x, y


def test_pipeline_replace_until_disable_and_print():
    pipe = default_pipeline()
    assert pipe.copy().replace("cse", "dce").names == ["decompose", "simplify", "dce", "dce", "fuse_optimizer", "fuse", "memory_plan"]
    assert pipe.until("cse").names == ["decompose", "simplify", "cse"] and pipe.until("trace").names == []
    assert "fuse" not in pipe.copy().disable("fuse").names
    text = str(pipe)
    assert text.splitlines()[0].startswith(" 1. decompose") and "memory_plan" in text.splitlines()[-1]


def test_stop_after_a_pass_compiles_the_graph_at_that_stage():
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x = graphc.randn(4, 8)
    full, early = graphc.compile(model), graphc.compile(model, stop_after="cse")
    np.testing.assert_allclose(full(x).numpy(), early(x).numpy(), rtol=1e-5)
    (graph,) = early.graphs()
    assert "fusion" not in graph.meta and early.stats()["kernels"] > full.stats()["kernels"]
    assert [s for s, _ in early._last.stages] == ["trace", "decompose", "simplify", "cse"]
    assert [s for s, _ in full._last.stages] == ["trace", *default_pipeline()]
    with pytest.raises(graphc.CompileError, match="cannot stop after pass 'fusee'") as e:
        graphc.compile(model, stop_after="fusee")(x)
    assert "memory_plan" in e.value.fix


def test_stages_made_on_demand_equal_the_ir_recorded_while_compiling():
    from graphc.passes import RecordIRInstrument

    model, step, x, y = _mlp_step()
    step(x, y)  # eagerly: the optimizer has momentum buffers, as in a training loop's steady state
    record = RecordIRInstrument()
    compiled = graphc.compile(step, instruments=[record])
    compiled(x, y)
    assert compiled._last._stages is None  # nothing printed while compiling
    assert [s for s, _ in record.stages] == ["trace", *default_pipeline()]
    assert compiled._last.stages == record.stages


def test_bisect_names_the_deliberately_wrong_pass_and_leaves_the_model_alone():
    model, step, x, y = _mlp_step()
    before = [p.detach().numpy().copy() for p in model.parameters()]
    report = graphc.bisect(step, x, y, passes=default_pipeline().insert_after("cse", "test_relu_to_abs"))
    assert report.first_bad == "test_relu_to_abs"
    assert [c.ok for c in report.checks] == [True, True, True, True, False, False, False, False, False]
    assert "first pass that differs from eager mode: test_relu_to_abs" in str(report)
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), b)
    assert graphc.bisect(step, x, y).first_bad is None


def test_bisect_of_a_compiled_forward_and_its_tolerance():
    graphc.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 5), nn.ReLU())
    x = graphc.randn(3, 5)
    compiled = graphc.compile(model, passes=["decompose", "simplify", "test_relu_to_abs", "fuse"])
    report = compiled.bisect(x)
    assert [c.stage for c in report.checks] == ["trace", "decompose", "simplify", "test_relu_to_abs", "fuse"]
    assert report.first_bad == "test_relu_to_abs" and report.checks[3].worst == "output 0"
    assert report.checks[3].max_abs > 0 and report.checks[2].max_abs == 0
    assert compiled.bisect(x, atol=1e9).first_bad is None  # any difference is within a huge tolerance
    early = graphc.compile(model, passes=["decompose", "simplify", "test_relu_to_abs", "fuse"], stop_after="simplify")
    assert [c.stage for c in early.bisect(x).checks] == ["trace", "decompose", "simplify"]


def test_compare_reports_nan_and_shape_mismatches():
    from graphc.bisect import compare

    ok = compare({"a": np.array([np.nan, 1.0])}, {"a": np.array([np.nan, 1.0])}, "s", 1e-5, 1e-6)
    assert ok.ok and ok.max_abs == 0
    assert not compare({"a": np.array([np.nan])}, {"a": np.array([1.0])}, "s", 1e-5, 1e-6).ok
    assert "shape" in compare({"a": np.zeros(2)}, {"a": np.zeros(3)}, "s", 1e-5, 1e-6).error


def test_a_saved_train_step_compiles_from_its_gir_file_and_trains_like_eager(tmp_path):
    model, step, x, y = _mlp_step()
    graphc.compile(step)(x, y)  # the optimizer state exists from the first step on: save the steady-state step
    path = graphc.save_ir(step, x, y, path=tmp_path / "step.gir")
    assert path.exists() and (tmp_path / "step.npz").exists()
    native = graphc.compile_ir(path)
    reference = graphc.compile_ir(path, backend="reference", passes=["simplify", "dce"])
    assert native.inputs == ["arg0", "arg1"]
    losses = [(float(native(x, y.numpy())), float(reference(x, y))) for _ in range(3)]
    eager = [step(x, y).item() for _ in range(3)]
    np.testing.assert_allclose([a for a, _ in losses], eager, rtol=1e-5)
    np.testing.assert_allclose([b for _, b in losses], eager, rtol=1e-5)
    np.testing.assert_allclose(native.values["v0.weight"], model[0].weight.detach().numpy(), rtol=1e-5)


def test_compile_ir_runs_a_users_pass_on_saved_ir_and_checks_what_it_is_given(tmp_path):
    graphc.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    x = graphc.randn(2, 4)
    path = graphc.save_ir(model, x, path=tmp_path / "fwd.gir")
    f = graphc.compile_ir(path, passes=["decompose", "test_relu_to_abs", "fuse", "memory_plan"])
    np.testing.assert_allclose(f(x), np.abs(x.numpy() @ model[0].weight.detach().numpy().T + model[0].bias.detach().numpy()),
                               rtol=1e-5)
    with pytest.raises(graphc.GraphcError, match="takes 1 inputs"):
        f(x, x)
    with pytest.raises(graphc.GraphcError, match="must be f32\\[2,4\\]"):
        f(np.zeros((3, 4), np.float32))
    (tmp_path / "fwd.npz").unlink()
    with pytest.raises(graphc.CompileError, match="no values for %v0.weight \\(param\\)") as e:
        graphc.compile_ir(path)
    assert "save_ir" in e.value.fix
    values = {"v0.weight": np.eye(4, dtype=np.float32), "v0.bias": np.zeros(4, np.float32)}
    np.testing.assert_allclose(graphc.compile_ir(path, values=values)(x), np.maximum(x.numpy(), 0))


def test_compile_ir_from_text_and_from_a_graph_leaves_the_graph_unchanged():
    text = "graph g {\n  %x:f32[3] = input\n  %0:f32[3] = exp %x\n  %1:f32[3] = mul %0, %0\n  return %1\n}"
    a = np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(graphc.compile_ir(text)(a), np.exp(a) ** 2, rtol=1e-6)
    from graphc.ir.parser import parse_graph

    g = parse_graph(text)
    graphc.compile_ir(g, backend="reference")(a)
    assert str(g) == text and "fusion" not in g.meta


MODEL = """
from graphc import nn

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 16)
        self.l2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.l2(self.l1(x).relu())
"""


@pytest.fixture()
def model_file(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_ir_command_draws_svg_and_png(model_file, tmp_path, capsys):
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    assert main(["ir", f"{model_file}:MLP", "--input-shape", "4,8", "--until", "cse", "--svg", str(svg), "--png", str(png)]) == 0
    assert "<svg" in svg.read_text() and "%l1.weight" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fuse" not in capsys.readouterr().out


def test_ir_command_says_how_to_install_graphviz(model_file, tmp_path, monkeypatch, capsys):
    import graphc.ir.nx

    monkeypatch.setattr(graphc.ir.nx.shutil, "which", lambda name: None)
    assert main(["ir", f"{model_file}:MLP", "--input-shape", "4,8", "--svg", str(tmp_path / "g.svg")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert main(["ir", f"{model_file}:MLP", "--input-shape", "4,8", "--png", str(tmp_path / "g.svg")]) == 2
    assert "must end in .png" in capsys.readouterr().err


def test_a_redefined_pass_replaces_itself_but_a_different_one_cannot_take_its_name():
    namespace = {}
    source = "from graphc.passes import register_pass\n@register_pass('test_twice')\ndef twice(graph, ctx):\n    return graph\n"
    exec(compile(source, "cell", "exec"), namespace)
    first = namespace["twice"]
    exec(compile(source, "cell", "exec"), namespace)  # the notebook cell runs again
    from graphc.passes import PASSES

    assert PASSES["test_twice"].fn is namespace["twice"] is not first
    with pytest.raises(graphc.CompileError, match="already registered"):
        register_pass("test_twice")(lambda graph, ctx: graph)


def test_bisect_of_a_first_step_runs_eager_from_the_state_before_the_trace():
    # SGD with dampening: a first step copies the gradient into the momentum buffer, a later step
    # damps it; eager mode must see no buffer (as before the trace), not the zeros the trace made
    graphc.manual_seed(3)
    model = nn.Linear(6, 3)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.5)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    report = graphc.bisect(step, graphc.randn(4, 6))
    assert report.first_bad is None, str(report)
    assert not opt.state or all(isinstance(s["momentum_buffer"], graphc.Tensor) for s in opt.state.values())


def test_docs_show_the_current_default_pipeline():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "passes.md").read_text()
    assert str(default_pipeline()) in doc
