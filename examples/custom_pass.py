"""Write your first pass: an algebraic rewrite and a small fusion, on a real train step, measured.

The code of docs/passes.md ("Write your first pass"); tests/test_examples.py runs it.

    python examples/custom_pass.py
"""

from __future__ import annotations

import time

import numpy as np

import graphc
from graphc import nn
from graphc.passes import TimingInstrument, default_pipeline, register_pass


# ---------------------------------------------------------------------- 1. an algebraic rewrite
@register_pass("compose_permutes")
def compose_permutes(graph, ctx):
    """permute(permute(x, a), b) -> permute(x, a[b]); a permute that changes nothing -> x."""
    for node in list(graph.nodes):
        inner = node.inputs[0] if node.op == "permute" else None
        if inner is None or inner.op != "permute":
            continue
        dims = tuple(inner.attrs["dims"][d] for d in node.attrs["dims"])
        if dims == tuple(range(len(dims))):
            new = inner.inputs[0]
        else:
            new = graph.add("permute", inner.inputs[0], dims=dims, before=node, loc=node.loc)
        graph.replace_all_uses(node, new)
        graph.remove(node)
        if not inner.users and inner not in graph.outputs:
            graph.remove(inner)
    return graph


# ---------------------------------------------------------------------- 2. a small fusion
VIEWS = {"permute", "reshape", "expand", "slice"}
GEMMS = {"matmul", "conv2d", "conv2d_backward_input", "conv2d_backward_weight"}


@register_pass("fuse_views")
def fuse_views(graph, ctx):
    """Read views of stored values through their index arithmetic in every kernel instead of copying them."""
    plan = graph.meta["fusion"]
    for node in graph.nodes:
        if node.op not in VIEWS or not plan.is_materialized(node) or node in graph.outputs:
            continue
        if any(user.op in GEMMS for user in node.users):
            continue  # matmul and conv read each element many times: they keep a stored operand
        base = node
        while base.op in VIEWS and not plan.is_materialized(base.inputs[0]):
            base = base.inputs[0]
        if base.inputs[0].is_placeholder or plan.is_materialized(base.inputs[0]):
            del plan.materialized[node]  # the view's readers index the stored value directly
    return graph


# ---------------------------------------------------------------------- measuring
class MLP(nn.Module):
    """A real model: an MLP on 28x28 images (``graphc ir examples/custom_pass.py:MLP --input-shape 64,1,28,28 --train``)."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.l1 = nn.Linear(784, 256)
        self.l2 = nn.Linear(256, 128)
        self.l3 = nn.Linear(128, 10)

    def forward(self, x):
        return self.l3(self.l2(self.l1(self.flatten(x)).relu()).relu())


def make_step(seed: int = 0):
    """The model and its whole train step: cross-entropy, SGD with momentum."""
    graphc.manual_seed(seed)
    model = MLP()
    opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, train_step


def measure(passes, steps: int = 20, seed: int = 0) -> dict:
    """Compile the train step with ``passes``; count nodes and kernels, time the passes and the step."""
    model, train_step = make_step(seed)
    rng = np.random.default_rng(seed)
    x = graphc.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
    y = graphc.tensor(rng.integers(0, 10, 64))
    timing = TimingInstrument()
    step = graphc.compile(train_step, passes=passes, instruments=[timing])
    losses = [step(x, y).item() for _ in range(3)]  # the first two calls compile (optimizer state appears)
    start = time.perf_counter()
    for _ in range(steps):
        losses.append(step(x, y).item())
    seconds = (time.perf_counter() - start) / steps
    graph = step.graphs()[-1]
    return {"nodes": len(graph.nodes), "kernels": step.stats()["kernels"], "pass_ms": {k: v * 1e3 for k, v in timing.times.items()},
            "step_ms": seconds * 1e3, "losses": losses, "compiled": step, "args": (x, y)}


PIPELINE = default_pipeline().insert_after("simplify", "compose_permutes").insert_after("fuse", "fuse_views")


def main(steps: int = 20) -> tuple[dict, dict]:
    print("default pipeline:")
    print(default_pipeline())
    before, after = measure(default_pipeline(), steps), measure(PIPELINE, steps)
    print(f"\n{'':<24}{'default':>12}{'with my passes':>16}")
    for key in ("nodes", "kernels"):
        print(f"{key:<24}{before[key]:>12}{after[key]:>16}")
    print(f"{'step time (ms)':<24}{before['step_ms']:>12.3f}{after['step_ms']:>16.3f}")
    for name in ("compose_permutes", "fuse_views"):
        print(f"{'time in ' + name + ' (ms)':<24}{'':>12}{after['pass_ms'][name]:>16.3f}")
    print(f"{'final loss':<24}{before['losses'][-1]:>12.5f}{after['losses'][-1]:>16.5f}")
    return before, after


if __name__ == "__main__":
    main()
