"""The decompose pass: golden IR of each composite's expansion, the verifier after it, values before
and after it, its place in the pipeline, and compiled models with composites matching eager mode."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn
from graphc.cli import main as cli_main
from graphc.ir import Graph, TensorType, all_ops, float32, float64, format_graph
from graphc.ir.errors import DTypeError, GraphcIndexError, GraphcValueError, ShapeError
from graphc.ir.parser import parse_graph
from graphc.ir.verifier import verify
from graphc.passes import DEFAULT_PIPELINE, run_pipeline
from graphc.passes.decompose import decompose
from graphc.runtime.reference import interpret

COMPOSITES = sorted(name for name, op in all_ops().items() if op.kind == "composite")


def _one(op, shape=(2, 3), dtype=float32, name="y", **attrs) -> Graph:
    g = Graph(op)
    x = g.placeholder("x", TensorType(dtype, shape), "input")
    g.set_outputs([g.add(op, x, name=name, loc="model.py:7", **attrs)])
    return g


def _expanded(g: Graph) -> str:
    decompose(g)
    verify(g)
    return format_graph(g)


# ---------------------------------------------------------------------- golden IR
def test_golden_log_softmax_keeps_name_and_line():
    g = _one("log_softmax", dim=1)
    assert "%y:f32[2,3] = log_softmax %x {dim=1}  # model.py:7" in format_graph(g)
    assert _expanded(g) == textwrap.dedent("""\
        graph log_softmax {
          %x:f32[2,3] = input
          %0:f32[2,1] = max %x {dims=[1], keepdim=true}  # model.py:7
          %1:f32[2,3] = sub %x, %0  # model.py:7
          %2:f32[2,3] = exp %1  # model.py:7
          %3:f32[2,1] = sum %2 {dims=[1], keepdim=true}  # model.py:7
          %4:f32[2,1] = log %3  # model.py:7
          %y:f32[2,3] = sub %1, %4  # model.py:7
          return %y
        }""")


def test_golden_softmax_over_a_negative_dim():
    g = _one("softmax", dim=-2)
    assert format_graph(decompose(g), locs=False) == textwrap.dedent("""\
        graph softmax {
          %x:f32[2,3] = input
          %0:f32[1,3] = max %x {dims=[0], keepdim=true}
          %1:f32[2,3] = sub %x, %0
          %2:f32[2,3] = exp %1
          %3:f32[1,3] = sum %2 {dims=[0], keepdim=true}
          %y:f32[2,3] = div %2, %3
          return %y
        }""")


def test_golden_gelu_both_modes():
    exact = format_graph(decompose(_one("gelu", shape=(4,))), locs=False)
    assert exact == textwrap.dedent("""\
        graph gelu {
          %x:f32[4] = input
          %0:f32[] = constant {value=0.7071067811865475, dtype="f32", shape=[]}
          %1:f32[4] = mul %x, %0
          %2:f32[4] = erf %1
          %3:f32[] = constant {value=0.5, dtype="f32", shape=[]}
          %4:f32[4] = mul %x, %3
          %5:f32[] = constant {value=1.0, dtype="f32", shape=[]}
          %6:f32[4] = add %5, %2
          %y:f32[4] = mul %4, %6
          return %y
        }""")
    tanh = format_graph(decompose(_one("gelu", shape=(4,), approximate="tanh")), locs=False)
    body = [line.split(" = ", 1)[1].split(" ")[0] for line in tanh.splitlines()[2:-2]]
    assert body == ["mul", "mul", "constant", "mul", "add", "constant", "mul", "tanh",
                    "constant", "mul", "constant", "add", "mul"]


def test_golden_layer_norm():
    g = _one("layer_norm", shape=(2, 4), dims=(-1,), eps=1e-6)
    assert format_graph(decompose(g), locs=False) == textwrap.dedent("""\
        graph layer_norm {
          %x:f32[2,4] = input
          %0:f32[] = constant {value=4.0, dtype="f32", shape=[]}
          %1:f32[2,1] = sum %x {dims=[1], keepdim=true}
          %2:f32[2,1] = div %1, %0
          %3:f32[2,4] = sub %x, %2
          %4:f32[2,4] = mul %3, %3
          %5:f32[2,1] = sum %4 {dims=[1], keepdim=true}
          %6:f32[2,1] = div %5, %0
          %7:f32[] = constant {value=1e-06, dtype="f32", shape=[]}
          %8:f32[2,1] = add %6, %7
          %9:f32[2,1] = rsqrt %8
          %y:f32[2,4] = mul %3, %9
          return %y
        }""")


def test_decompose_parses_text_and_keeps_numeric_names():
    g = parse_graph(textwrap.dedent("""\
        graph t {
          %x:f64[3] = input
          %5:f64[3] = softmax %x {dim=0}
          %6:f64[3] = neg %5
          return %6, %5
        }"""))
    text = _expanded(g)
    assert "softmax" not in text and "= neg %" in text
    assert g.outputs[1] is g.outputs[0].inputs[0] and g.outputs[1].op == "div"


def test_core_graphs_are_unchanged():
    g = Graph("core")
    x = g.placeholder("x", TensorType(float32, (3,)), "input")
    g.set_outputs([g.add("exp", x)])
    before = format_graph(g)
    assert _expanded(g) == before


# ---------------------------------------------------------------------- values before and after
_ATTRS = {"softmax": [{"dim": 1}, {"dim": 0}], "log_softmax": [{"dim": -1}, {"dim": 0}],
          "gelu": [{"approximate": "none"}, {"approximate": "tanh"}],
          "layer_norm": [{"dims": (1,), "eps": 1e-5}, {"dims": (0, 1), "eps": 0.1}]}


def test_every_composite_is_covered_here():
    assert set(COMPOSITES) == set(_ATTRS) | {"linear"}  # linear has tests of its own below
    assert all(all_ops()[name].decompose is not None for name in COMPOSITES)


@pytest.mark.parametrize("dtype", [float32, float64])
@pytest.mark.parametrize("op", sorted(_ATTRS))
def test_decomposition_computes_the_reference_value(op, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 6)) * 4).astype(dtype.np)
    for attrs in _ATTRS[op]:
        g = _one(op, shape=(5, 6), dtype=dtype, **attrs)
        (want,) = interpret(g, {g.placeholders[0]: x})  # the reference runs the composite itself
        decompose(g)
        verify(g)
        assert all(n.op not in COMPOSITES for n in g.nodes)
        (got,) = interpret(g, {g.placeholders[0]: x})
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype is float32 else 1e-12, atol=1e-6)


def _linear_graph(x_shape, bias=True, dtype=float32) -> Graph:
    g = Graph("linear")
    ins = [g.placeholder("x", TensorType(dtype, x_shape), "input"),
           g.placeholder("fc.weight", TensorType(dtype, (3, x_shape[-1])), "param")]
    if bias:
        ins.append(g.placeholder("fc.bias", TensorType(dtype, (3,)), "param"))
    g.set_outputs([g.add("linear", *ins, name="fc")])
    return g


def test_golden_linear_over_a_batch_of_sequences():
    g = _linear_graph((2, 4, 5))
    assert "%fc:f32[2,4,3] = linear %x, %fc.weight, %fc.bias" in format_graph(g)
    assert format_graph(decompose(g), locs=False) == textwrap.dedent("""\
        graph linear {
          %x:f32[2,4,5] = input
          %fc.weight:f32[3,5] = param
          %fc.bias:f32[3] = param
          %0:f32[8,5] = reshape %x {shape=[8,5]}
          %1:f32[5,3] = permute %fc.weight {dims=[1,0]}
          %2:f32[8,3] = matmul %0, %1
          %3:f32[8,3] = add %2, %fc.bias
          %fc:f32[2,4,3] = reshape %3 {shape=[2,4,3]}
          return %fc
        }""")
    plain = format_graph(decompose(_linear_graph((6, 5), bias=False)), locs=False)
    assert [line.split(" = ")[1].split(" ")[0] for line in plain.splitlines()[3:-2]] == ["permute", "matmul"]


@pytest.mark.parametrize("x_shape,bias", [((5,), True), ((4, 5), False), ((2, 3, 5), True)])
@pytest.mark.parametrize("dtype", [float32, float64])
def test_linear_decomposition_computes_the_reference_value(x_shape, bias, dtype):
    rng = np.random.default_rng(4)
    g = _linear_graph(x_shape, bias, dtype)
    feeds = {p: rng.standard_normal(p.shape).astype(dtype.np) for p in g.placeholders}
    (want,) = interpret(g, feeds)
    decompose(g)
    verify(g)
    (got,) = interpret(g, feeds)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ShapeError, match="does not match out_features=3"):
        g.add("linear", g.placeholders[0], g.placeholders[1], g.placeholders[1])


def test_empty_softmax_decomposes_to_its_input():
    g = _one("softmax", shape=(2, 0), dim=1)
    decompose(g)
    verify(g)
    assert g.outputs == g.placeholders and not g.nodes


# ---------------------------------------------------------------------- shape rules
def test_shape_rules_give_clear_errors():
    with pytest.raises(GraphcIndexError, match="Dimension out of range"):
        _one("softmax", dim=2)
    with pytest.raises(DTypeError, match='"log_softmax" not implemented'):
        g = Graph("i")
        g.add("log_softmax", g.placeholder("x", TensorType("i64", (3,))), dim=0)
    with pytest.raises(GraphcValueError, match="either none or tanh"):
        _one("gelu", approximate="erf")
    with pytest.raises(ShapeError, match="at least one dimension"):
        _one("layer_norm", dims=())
    with pytest.raises(GraphcValueError, match="eps must be >= 0"):
        _one("layer_norm", dims=(1,), eps=-1.0)


# ---------------------------------------------------------------------- the pipeline
def test_decompose_runs_first_and_leaves_core_ops():
    assert DEFAULT_PIPELINE[0] == "decompose"
    assert graphc.passes.default_pipeline().names[0] == "decompose"


def _block_step(model):
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


class _Block(nn.Module):
    """Every composite: layer_norm, gelu (both modes), softmax, group_norm, and log_softmax in the loss."""

    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 8)
        self.ln = nn.LayerNorm(8)
        self.l2 = nn.Linear(8, 4)

    def forward(self, x):
        h = F.gelu(self.ln(self.l1(x)))
        h = F.gelu(h, approximate="tanh") * F.softmax(h, dim=1)
        h = F.group_norm(h.reshape(x.shape[0], 4, 2), 2).reshape(x.shape[0], 8)
        return self.l2(h)


def _fresh_block():
    graphc.manual_seed(0)
    return _Block()


def _data():
    rng = np.random.default_rng(1)
    return [(graphc.tensor(rng.standard_normal((5, 6)).astype(np.float32)), graphc.tensor(rng.integers(0, 4, 5)))
            for _ in range(3)]


def test_trace_shows_composites_and_the_compiled_graph_does_not():
    model = _fresh_block()
    fn = graphc.compile(_block_step(model), backend="reference")
    x, y = _data()[0]
    _, graph, *_ = fn.trace(x, y)
    ops = {n.op for n in graph.nodes}
    assert {"layer_norm", "gelu", "softmax", "log_softmax", "linear"} <= ops
    assert "max" not in ops  # softmax's shift by the maximum is inside the composites (and their VJPs need none)
    fn(x, y)
    (compiled,) = fn.graphs()
    assert not {n.op for n in compiled.nodes} & set(COMPOSITES)


def test_cse_keeps_one_copy_of_forward_values_the_backward_recomputes():
    model = _fresh_block()
    fn = graphc.compile(_block_step(model))
    _, graph, *_ = fn.trace(*_data()[0])
    graph = run_pipeline(graph, ["decompose", "simplify", "cse", "dce"])
    verify(graph)
    # two layer_norm nodes (LayerNorm and group_norm), each with a VJP reading rsqrt(var + eps)
    assert sum(n.op == "rsqrt" for n in graph.nodes) == 2
    assert sum(n.op == "erf" for n in graph.nodes) == 1  # gelu's erf term, shared with its VJP


@pytest.mark.parametrize("backend", ["llvm", "reference"])
def test_compiled_training_with_composites_matches_eager(backend):
    eager, comp = _fresh_block(), _fresh_block()
    step_e, step_c = _block_step(eager), graphc.compile(_block_step(comp), backend=backend)
    for x, y in _data():
        le, lc = step_e(x, y), step_c(x, y)
        np.testing.assert_allclose(lc.numpy(), le.detach().numpy(), rtol=2e-5, atol=2e-6)
    for (name, pe), (_, pc) in zip(eager.named_parameters(), comp.named_parameters(), strict=True):
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=2e-5, atol=2e-6, err_msg=name)


def test_compiled_forward_of_each_composite_matches_eager():
    rng = np.random.default_rng(5)
    x = graphc.tensor(rng.standard_normal((3, 7)).astype(np.float32) * 3)
    fns = [lambda t: F.softmax(t, 0), lambda t: t.log_softmax(-1), F.gelu, lambda t: F.gelu(t, approximate="tanh"),
           lambda t: F.layer_norm(t, (7,), eps=1e-3)]
    for fn in fns:
        np.testing.assert_allclose(graphc.compile(fn)(x).numpy(), fn(x).detach().numpy(), rtol=1e-5, atol=1e-6)


MODEL = textwrap.dedent("""
    from graphc import nn
    import graphc.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = nn.Linear(8, 3)

        def forward(self, x):
            return F.log_softmax(self.l1(x), dim=1)
""")


def test_graphc_ir_shows_the_composite_until_decompose(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    assert cli_main(["ir", f"{path}:Net", "--input-shape", "4,8", "--until", "trace"]) == 0
    out = capsys.readouterr().out
    assert "= log_softmax %" in out and "{dim=1}" in out and "net.py:11" in out
    assert cli_main(["ir", f"{path}:Net", "--input-shape", "4,8", "--until", "decompose"]) == 0
    out = capsys.readouterr().out
    assert "log_softmax" not in out and "= exp %" in out and "net.py:11" in out


class _PoolFlattenLinear(nn.Module):
    """linear reading a view (a flatten of a pooled map): its VJP must not make a second matmul read it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(F.max_pool2d(self.conv(x), 2).flatten(1))


def test_compiled_linear_after_flatten_matches_eager():
    graphc.manual_seed(0)
    eager, comp = _PoolFlattenLinear(), _PoolFlattenLinear()
    comp.load_state_dict(eager.state_dict())
    step_e, step_c = _block_step(eager), graphc.compile(_block_step(comp))
    rng = np.random.default_rng(2)
    for _ in range(3):
        x = graphc.tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32))
        y = graphc.tensor(rng.integers(0, 10, 4))
        np.testing.assert_allclose(step_c(x, y).numpy(), step_e(x, y).detach().numpy(), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(comp.fc.weight.detach().numpy(), eager.fc.weight.detach().numpy(), rtol=2e-5, atol=2e-6)


def test_a_pipeline_without_decompose_is_refused_by_compiled_backends_only():
    x = graphc.randn(2, 5)
    fn = graphc.compile(lambda t: F.softmax(t, 1), passes=["simplify", "dce"])
    with pytest.raises(graphc.GraphcError, match="composite op softmax") as info:
        fn(x)
    assert "keep 'decompose' first in the pipeline" in str(info.value) and "test_decompose.py" in str(info.value)
    ref = graphc.compile(lambda t: F.softmax(t, 1), backend="reference", passes=["simplify", "dce"])
    np.testing.assert_allclose(ref(x).numpy(), F.softmax(x, 1).numpy(), rtol=1e-6)  # it runs composites
