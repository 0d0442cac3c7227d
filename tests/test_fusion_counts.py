"""Fusion is counted in kernels: epilogues into matmuls, optimizer updates riding on their
gradient's kernel, and a two-kernel softmax cross-entropy, each checked against the reference."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir import Graph, TensorType, float32, float64
from graphc.passes import PassContext, VerifyInstrument, run_pipeline
from graphc.runtime.backends import get_backend

RNG = np.random.default_rng(0)
PIPE = ["fuse_optimizer", "fuse", "memory_plan"]


def _pipeline(graph, passes):
    """Run ``passes`` with the IR verifier after each one."""
    return run_pipeline(graph, passes, PassContext(instruments=[VerifyInstrument()]))


def _run(build, feeds, rtol=1e-5, atol=1e-5):
    """Compile a hand-built graph with the fusion pipeline; compare outputs and updates with the reference."""
    exe = get_backend("llvm").compile(_pipeline(build(), PIPE))
    mine = [np.array(f, copy=True) for f in feeds]
    ref = [np.array(f, copy=True) for f in feeds]
    out = exe.run(mine)
    expect = get_backend("reference").compile(build()).run(ref)
    for a, b in zip(out + mine, expect + ref):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return exe


def _linear_relu(xshape, n, dtype, transposed_x=False):
    k = xshape[-1]

    def build():
        g = Graph("linear")
        if transposed_x:  # a non-contiguous operand: x is stored as (k, rows)
            xp = g.placeholder("xt", TensorType(dtype, (k, xshape[0])))
            x = g.add("permute", xp, dims=(1, 0))
        else:
            x = g.placeholder("x", TensorType(dtype, xshape))
        w = g.placeholder("w", TensorType(dtype, (n, k)), role="param")
        b = g.placeholder("b", TensorType(dtype, (n,)), role="param")
        y = g.add("matmul", x, g.add("permute", w, dims=(1, 0)))
        g.set_outputs([g.add("relu", g.add("add", y, b))])
        return g

    xs = (k, xshape[0]) if transposed_x else xshape
    feeds = [RNG.normal(size=s).astype(dtype.np) for s in (xs, (n, k), (n,))]
    return build, feeds


@pytest.mark.parametrize("xshape,n,dtype,transposed", [
    ((8, 12), 16, float32, False),
    ((37, 300), 29, float32, False),  # k over one KC block: the epilogue waits for the last one
    ((2, 5, 12), 7, float32, False),  # batch dims folded into rows
    ((1, 12), 16, float32, False),  # one row: dot products
    ((9, 20), 13, float64, False),
    ((10, 6), 5, float32, True),
])
def test_linear_bias_relu_forward_is_one_kernel(xshape, n, dtype, transposed):
    build, feeds = _linear_relu(xshape, n, dtype, transposed)
    exe = _run(build, feeds)
    assert exe.kernel_count == 1
    plan = exe.graph.meta["fusion"]
    (root, group), = plan.groups.items()
    assert root.op == "matmul" and not plan.is_materialized(root) and group.ends[0].op == "relu"


def test_batched_matmul_epilogue_with_broadcast_operand():
    def build():
        g = Graph("bmm")
        a = g.placeholder("a", TensorType(float32, (3, 4, 6)))
        b = g.placeholder("b", TensorType(float32, (3, 6, 5)))
        c = g.placeholder("c", TensorType(float32, (4, 1)))
        g.set_outputs([g.add("tanh", g.add("mul", g.add("matmul", a, b), c))])
        return g

    exe = _run(build, [RNG.normal(size=s).astype(np.float32) for s in ((3, 4, 6), (3, 6, 5), (4, 1))])
    assert exe.kernel_count == 1


def _mlp():
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 5))


def _train_step(momentum, compiled=True, make=lambda: nn.Linear(12, 5), xshape=(8, 12), classes=5):
    """Three steps; ``momentum=None`` leaves out ``opt.step()`` (forward and backward only)."""
    graphc.manual_seed(0)
    model = make()
    opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=momentum or 0.0)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        if momentum is not None:
            opt.step()
        return loss

    fn = graphc.compile(step) if compiled else step
    rng = np.random.default_rng(1)
    x = graphc.tensor(rng.normal(size=xshape).astype(np.float32))
    y = graphc.tensor(rng.integers(0, classes, size=xshape[0]))
    losses = [fn(x, y).item() for _ in range(3)]
    return (fn.stats()["kernels"] if compiled else None), losses, model


@pytest.mark.parametrize("make", [lambda: nn.Linear(12, 5), _mlp], ids=["linear", "mlp"])
def test_sgd_momentum_update_adds_no_kernel_of_its_own(make):
    backward_only, _, _ = _train_step(None, make=make)
    plain, _, _ = _train_step(0.0, make=make)
    momentum, losses, model = _train_step(0.9, make=make)
    assert momentum == plain == backward_only
    _, eager_losses, eager = _train_step(0.9, compiled=False, make=make)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5, atol=1e-6)
    for a, b in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_mlp_train_step_kernel_count():
    """51 kernels before epilogues and optimizer fusion (42 with plain SGD); 17 now, either way."""
    momentum, _, _ = _train_step(0.9, make=_mlp)
    plain, _, _ = _train_step(0.0, make=_mlp)
    assert momentum == plain <= 17


def test_cross_entropy_forward_is_two_kernels():
    logits = RNG.normal(size=(9, 7)).astype(np.float32)
    labels = RNG.integers(0, 7, size=9)
    labels[2] = -100  # ignored
    fn = graphc.compile(lambda a, y: nn.functional.cross_entropy(a, y))
    out = fn(graphc.tensor(logits), graphc.tensor(labels))
    assert fn.stats()["kernels"] <= 2
    x = logits.astype(np.float64)
    logp = x - x.max(1, keepdims=True) - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True))
    kept = labels != -100
    expect = -logp[kept, labels[kept]].mean()
    np.testing.assert_allclose(out.item(), expect, rtol=1e-5)
    # and the same number eagerly
    np.testing.assert_allclose(out.item(), nn.functional.cross_entropy(graphc.tensor(logits), graphc.tensor(labels)).item(),
                               rtol=1e-6)
    plan = fn.graphs()[-1].meta["fusion"]
    assert any(g.kind == "online_softmax" for g in plan.groups.values())


@pytest.mark.parametrize("dtype", [float32, float64])
def test_online_softmax_and_sibling_reductions_match_reference(dtype):
    def build():
        g = Graph("lse")
        x = g.placeholder("x", TensorType(dtype, (5, 3, 11)))
        m = g.add("max", x, dims=(2,), keepdim=True)
        s = g.add("sum", g.add("exp", g.add("sub", x, m)), dims=(2,), keepdim=False)
        lse = g.add("add", g.add("log", s), g.add("reshape", m, shape=(5, 3)))
        total = g.add("sum", lse, dims=(1,), keepdim=False)
        count = g.add("sum", g.add("exp", lse), dims=(1,), keepdim=False)
        g.set_outputs([g.add("div", total, count)])
        return g

    x = RNG.normal(size=(5, 3, 11)).astype(dtype.np) * 4
    x[0, 0, :] = -1e4  # a row far below zero: the running max starts there
    exe = _run(build, [x])
    assert exe.kernel_count == 2
