"""The CUDA code generator produces PTX that NVIDIA's assembler accepts, for every op's kernels
and for whole MLP and LeNet-5 train steps, on sm_80 and sm_90; and it maps kernels onto the GPU
as designed (threads, block reductions, tiled GEMM). Needs no GPU; the assembling tests skip
where ``ptxas`` is not installed."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from ir_examples import example_graphs

import graphc
from graphc import nn
from graphc.ir import Graph, TensorType, all_ops, float32, float64, get_op, int64
from graphc.ir.errors import CompileError
from graphc.passes import DEFAULT_PIPELINE, run_pipeline
from graphc.runtime.cuda.lowering import lower
from graphc.runtime.cuda.ptx import build_ptx, graph_ptx
from graphc.runtime.cuda.schedule import phases

PTXAS = shutil.which("ptxas")
needs_ptxas = pytest.mark.skipif(PTXAS is None, reason="ptxas (CUDA toolkit) is not installed")
ARCHS = ["sm_80", "sm_90"]
NO_KERNEL_OF_THEIR_OWN = {"placeholder", "assign", "constant"}


def assemble(ptx_text: str, arch: str, tmp_path) -> None:
    path = tmp_path / f"{arch}.ptx"
    path.write_text(ptx_text)
    r = subprocess.run([PTXAS, f"-arch={arch}", str(path), "-o", str(tmp_path / f"{arch}.cubin")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:4000]


def _unary_f64_graph() -> Graph:
    g = Graph("unary_f64")
    x = g.placeholder("x", TensorType(float64, (5, 3)), "input")
    y = g.placeholder("y", TensorType(float64, (5, 3)), "input")
    outs = [g.add(op, x) for op in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "erf", "rsqrt")]
    outs.append(g.add("pow", x, y))
    g.set_outputs(outs)
    return g


def _reduction_graph() -> Graph:
    g = Graph("reductions")
    x = g.placeholder("x", TensorType(float32, (8, 300)), "input")
    d = g.placeholder("d", TensorType(float64, (4, 700)), "input")
    n = g.placeholder("n", TensorType(int64, (3, 500)), "input")
    g.set_outputs([g.add("sum", n, dims=(1,), keepdim=False), g.add("max", n, dims=(0, 1), keepdim=False),
                   g.add("sum", x, dims=(1,), keepdim=False), g.add("max", x, dims=(0, 1), keepdim=False),
                   g.add("sum", x, dims=(0,), keepdim=True), g.add("max", d, dims=(1,), keepdim=True),
                   g.add("argmax", x, dim=1, keepdim=False)])
    return g


def _op_graphs() -> list[Graph]:
    graphs = [g for g in example_graphs() if g.nodes] + [_unary_f64_graph(), _reduction_graph()]
    return [run_pipeline(g, ["decompose"]) for g in graphs]  # composites lower as their core ops


def test_every_op_has_a_kernel_in_the_examples():
    """The unfused example graphs give every op a kernel of its own, so the PTX tests cover all ops."""
    rooted = {k.meta["op"] for g in _op_graphs() for k in lower(g).kernels}
    composites = {op for op in all_ops() if get_op(op).decompose is not None}
    missing = set(all_ops()) - NO_KERNEL_OF_THEIR_OWN - composites - rooted
    assert not missing, f"ops with no kernel in the PTX tests: {sorted(missing)}"


@needs_ptxas
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("index", range(len(_op_graphs())))
def test_every_op_kernel_assembles(index, arch, tmp_path):
    graph = _op_graphs()[index]
    module = build_ptx(lower(graph), arch, graph.name)
    assert f".target {arch}" in module.text
    for k in lower(graph).kernels:  # every kernel has at least one launch (or nothing to do)
        assert k.name in module.kernel_launches
    for launch in module.launches:
        assert f".entry {launch.name}(" in module.text
    assemble(module.text, arch, tmp_path)


def _train_step_graph(make_model, x, y):
    model = make_model()
    opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step, backend="reference")
    fn(x, y)  # the first step creates the momentum buffers; the traced graph is the steady state
    _, graph, *_ = fn.trace(x, y)
    return run_pipeline(graph, list(DEFAULT_PIPELINE))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


def _lenet():
    from test_compile import LeNet

    return LeNet()


def _steps():
    rng = np.random.default_rng(0)
    graphc.manual_seed(0)
    mlp = _train_step_graph(MLP, graphc.tensor(rng.normal(size=(16, 32)).astype(np.float32)),
                            graphc.tensor(rng.integers(0, 10, 16)))
    lenet = _train_step_graph(_lenet, graphc.tensor(rng.normal(size=(4, 1, 28, 28)).astype(np.float32)),
                              graphc.tensor(rng.integers(0, 10, 4)))
    return {"mlp": mlp, "lenet": lenet}


@pytest.fixture(scope="module")
def train_steps():
    return _steps()


@needs_ptxas
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("model", ["mlp", "lenet"])
def test_train_step_assembles(model, arch, train_steps, tmp_path):
    module = graph_ptx(train_steps[model], arch)
    kinds = {launch.name for launch in module.launches}
    assert len(kinds) == len(module.launches)  # one entry per launch
    assemble(module.text, arch, tmp_path)


def test_train_step_launch_plan_is_data(train_steps):
    module = graph_ptx(train_steps["lenet"], "sm_80")
    plan = module.plan()
    assert plan and all(set(p) == {"name", "grid", "block", "shared", "buffers", "kernel"} for p in plan)
    for p in plan:
        assert all(g >= 1 for g in p["grid"]) and 1 <= np.prod(p["block"]) <= 1024
    # matmuls of the linear layers run as tiled GEMMs, the loss as a block reduction
    assert any(p["block"] == [16, 16, 1] for p in plan)
    assert ".shared" in module.text and "shfl.sync.bfly" in module.text and "bar.sync" in module.text


# ---------------------------------------------------------------------- how kernels map to the GPU
def _single_kernel(build) -> list:
    g = build()
    kernels = lower(g).kernels
    assert len(kernels) == 1
    return phases(kernels[0].body)


def test_elementwise_kernel_maps_every_loop_to_threads():
    def build(perm):
        g = Graph("e")
        x = g.placeholder("x", TensorType(float32, (4, 5, 6)), "input")
        g.set_outputs([g.add("exp", x) if perm is None else g.add("permute", x, dims=perm)])
        return g

    # a contiguous nest is coalesced into one loop first; every point is still one thread
    (phase,) = _single_kernel(lambda: build(None))
    assert phase.kind == "grid" and [e for _, e in phase.parallel] == [120] and phase.points == 120
    # a transpose cannot be coalesced: each of its loops becomes a grid dimension
    (phase,) = _single_kernel(lambda: build((2, 1, 0)))
    assert phase.kind == "grid" and sorted(e for _, e in phase.parallel) == [4, 5, 6] and phase.points == 120


def test_long_row_sum_is_a_block_reduction_and_short_one_is_per_thread():
    def build(n):
        g = Graph("r")
        x = g.placeholder("x", TensorType(float32, (2048, n)), "input")
        g.set_outputs([g.add("sum", x, dims=(1,), keepdim=False)])
        return g

    (long_,) = _single_kernel(lambda: build(1000))
    assert long_.kind == "reduce" and long_.points == 2048 and long_.reduced == 1000
    (short,) = _single_kernel(lambda: build(8))
    assert short.kind == "grid" and short.points == 2048


def test_column_sum_keeps_reduced_loop_inside_each_thread_unless_columns_are_few():
    def build(cols):
        g = Graph("c")
        x = g.placeholder("x", TensorType(float32, (300, cols)), "input")
        g.set_outputs([g.add("sum", x, dims=(0,), keepdim=False)])
        return g

    init, accumulate = _single_kernel(lambda: build(5000))
    assert init.kind == "grid" and init.points == 5000
    assert accumulate.kind == "grid" and [e for _, e in accumulate.parallel] == [5000] and not accumulate.atomic
    _, few = _single_kernel(lambda: build(7))  # a bias gradient: every element adds atomically
    assert few.atomic and few.points == 300 * 7


def test_convolution_accumulates_with_output_positions_on_threads():
    def build():
        g = Graph("conv")
        x = g.placeholder("x", TensorType(float32, (8, 3, 16, 16)), "input")
        w = g.placeholder("w", TensorType(float32, (4, 3, 3, 3)), "param")
        g.set_outputs([g.add("conv2d", x, w, stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)])
        return g

    init, accumulate = _single_kernel(build)
    assert [v for v, _ in accumulate.parallel] == ["n", "o", "oy", "ox"]  # c, ky, kx stay serial
    assert not accumulate.atomic  # enough threads without atomics: deterministic sums


def test_data_dependent_scatter_uses_atomic_adds():
    def build():
        g = Graph("s")
        base = g.placeholder("base", TensorType(float32, (5,)), "input")
        idx = g.placeholder("idx", TensorType(int64, (9,)), "input")
        src = g.placeholder("src", TensorType(float32, (9,)), "input")
        g.set_outputs([g.add("scatter_add", base, idx, src, dim=0)])
        return g

    copy, scatter = _single_kernel(build)
    assert copy.kind == "grid" and copy.points == 5 and not copy.atomic
    assert scatter.points == 9 and scatter.atomic  # indices may repeat: each thread adds atomically
    assert "atom.global.add.f32" in build_ptx(lower(build()), "sm_80").text


def test_overlapping_gradient_scatters_use_atomic_adds():
    def build():
        g = Graph("pool_bwd")
        x = g.placeholder("x", TensorType(float32, (2, 3, 9, 9)), "input")
        gy = g.placeholder("gy", TensorType(float32, (2, 3, 4, 4)), "input")
        g.set_outputs([g.add("max_pool2d_backward", gy, x, kernel=(3, 3), stride=(2, 2))])
        return g

    _, scatter = _single_kernel(build)
    assert scatter.atomic and scatter.points == 2 * 3 * 4 * 4


def test_matmul_is_a_tiled_gemm():
    def build():
        g = Graph("mm")
        a = g.placeholder("a", TensorType(float32, (3, 40, 24)), "input")
        b = g.placeholder("b", TensorType(float32, (24, 33)), "param")
        g.set_outputs([g.add("matmul", a, b)])
        return g

    (phase,) = _single_kernel(build)
    assert phase.kind == "gemm" and phase.gemm.m == 40 and phase.gemm.batch == (3,)
    module = build_ptx(lower(build()), "sm_80")
    (launch,) = module.launches
    assert launch.grid == (3, 3, 3) and launch.block == (16, 16, 1)


def test_unknown_architecture_is_a_clear_error():
    g = Graph("e")
    x = g.placeholder("x", TensorType(float32, (4,)), "input")
    g.set_outputs([g.add("exp", x)])
    with pytest.raises(CompileError, match="unsupported CUDA architecture 'sm_35'"):
        build_ptx(lower(g), "sm_35")
