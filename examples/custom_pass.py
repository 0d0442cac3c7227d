"""Write your first pass: two rewrites of a real train step, each with its exact conditions, measured.

The code of docs/passes.md ("Write your first pass"); tests/test_workbench_tutorial.py runs it.

    python examples/custom_pass.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import graphc
from graphc import nn
from graphc.ir import TensorType, int64
from graphc.passes import TimingInstrument, default_pipeline, register_pass


def is_zeros(node) -> bool:
    """``node`` is a constant 0 (maybe reshaped or expanded): every element is zero."""
    while node.op in ("expand", "reshape"):
        node = node.inputs[0]
    return node.op == "constant" and node.attrs["value"] == 0


def one_per_row(scatter) -> bool:
    """``scatter_add(zeros, idx, src)`` adds exactly one ``src`` element into each row along its dim."""
    base, idx, src = scatter.inputs
    dim = scatter.attrs["dim"] % scatter.ndim
    return (is_zeros(base) and idx.shape == src.shape and idx.shape[dim] == 1
            and all(idx.shape[d] == scatter.shape[d] for d in range(scatter.ndim) if d != dim))


# ---------------------------------------------------------------------- 1. an algebraic rewrite
@register_pass("sum_of_scatter")
def sum_of_scatter(graph, ctx):
    """sum(scatter_add(zeros, idx, src), dim) -> src, with one src element per row along dim."""
    for node in list(graph.nodes):
        scatter = node.inputs[0] if node.op == "sum" else None
        if scatter is None or scatter.op != "scatter_add" or not one_per_row(scatter):
            continue
        dim = scatter.attrs["dim"] % scatter.ndim
        if [d % scatter.ndim for d in node.attrs["dims"]] != [dim]:
            continue  # summing over other dims too adds different rows together
        if list(scatter.users) == [node] and scatter not in graph.outputs:
            continue  # the scatter would die, and with it the native check of its indices
        src = scatter.inputs[2]
        new = src if node.attrs["keepdim"] else graph.add("reshape", src, shape=node.shape, before=node, loc=node.loc)
        graph.replace_all_uses(node, new)
        graph.remove(node)
    return graph


# ---------------------------------------------------------------------- 2. a scatter that fuses
def checked_by_a_gather(idx, dim: int, size: int) -> bool:
    """A gather reads ``idx`` along ``dim`` of a tensor of ``size``: it raises for the same bad indices."""
    return any(u.op == "gather" and u.inputs[1] is idx and u.attrs["dim"] % u.ndim == dim
               and u.inputs[0].shape[dim] == size for u in idx.users)


@register_pass("scatter_to_select")
def scatter_to_select(graph, ctx):
    """scatter_add(zeros, idx, src) -> where(arange == idx, src, zeros), with one src element per row."""
    for node in list(graph.nodes):
        if node.op != "scatter_add" or not one_per_row(node):
            continue
        base, idx, src = node.inputs
        dim = node.attrs["dim"] % node.ndim
        if not checked_by_a_gather(idx, dim, node.shape[dim]):
            continue  # where() would turn an out-of-range index into a row of zeros instead of an error
        shape = [node.shape[dim] if d == dim else 1 for d in range(node.ndim)]
        arange = graph.placeholder(f"{node.name}.arange", TensorType(int64, shape), role="const",
                                   value=np.arange(node.shape[dim], dtype=np.int64).reshape(shape))
        hit = graph.add("eq", arange, idx, before=node, loc=node.loc)
        new = graph.add("where", hit, src, base, before=node, loc=node.loc)
        graph.replace_all_uses(node, new)
        graph.remove(node)
    return graph


# ---------------------------------------------------------------------- 3. reading the fusion plan
def stored_for_sharing(graph) -> dict[str, str]:
    """The pointwise values the fusion plan stores only because several kernels read them."""
    plan = graph.meta["fusion"]
    return {node.name: why for node, why in plan.materialized.items() if why.startswith("read by")}


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
    """Compile the train step with ``passes``, run it ``3 + steps`` times; count nodes and kernels."""
    model, train_step = make_step(seed)
    rng = np.random.default_rng(seed)
    x = graphc.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
    y = graphc.tensor(rng.integers(0, 10, 64))
    timing = TimingInstrument()
    step = graphc.compile(train_step, passes=passes, instruments=[timing])
    losses = [step(x, y).item() for _ in range(3 + steps)]  # the first two calls compile (optimizer state appears)
    graph = step.graphs()[-1]
    return {"nodes": len(graph.nodes), "kernels": step.stats()["kernels"], "shared": stored_for_sharing(graph),
            "pass_ms": {k: v * 1e3 for k, v in timing.times.items()}, "losses": losses, "step": step, "args": (x, y)}


def median_step_ms(runs: list[dict], steps: int) -> list[float]:
    """The median time of one call of each run's step, the steps taken in turn so that noise hits all alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(steps):
        for run, spent in zip(runs, times):
            start = time.perf_counter()
            run["step"](*run["args"]).item()
            spent.append(time.perf_counter() - start)
    return [statistics.median(t) * 1e3 for t in times]


FIRST = default_pipeline().insert_after("dce", "sum_of_scatter")
PIPELINE = FIRST.copy().insert_after("sum_of_scatter", "scatter_to_select")


def main(steps: int = 20, timed_steps: int = 2000) -> list[dict]:
    """Measure the default pipeline, the first pass alone and both passes; print a table."""
    print(PIPELINE)
    runs = [measure(p, steps) for p in (default_pipeline(), FIRST, PIPELINE)]
    widths = (10, 18, 21)
    print(f"\n{'':<24}{'default':>10}{'+ sum_of_scatter':>18}{'+ scatter_to_select':>21}")
    for key in ("nodes", "kernels"):
        print(f"{key:<24}" + "".join(f"{r[key]:>{w}}" for r, w in zip(runs, widths)))
    print(f"{'loss after 3 + ' + str(steps) + ' steps':<24}" + "".join(f"{r['losses'][-1]:>{w}.6f}" for r, w in zip(runs, widths)))
    if timed_steps:
        medians = median_step_ms(runs, timed_steps)
        print(f"{'step, median (ms)':<24}" + "".join(f"{m:>{w}.3f}" for m, w in zip(medians, widths)))
    print(f"{'time in the pass (ms)':<24}{'':>10}" + "".join(
        f"{r['pass_ms'][name]:>{w}.3f}" for r, name, w in zip(runs[1:], ("sum_of_scatter", "scatter_to_select"), widths[1:])))
    print("\nstored because several kernels read them:")
    for r, label in zip(runs, ("default", "+ sum_of_scatter", "+ scatter_to_select")):
        print(f"  {label:<21}{r['shared']}")
    return runs


if __name__ == "__main__":
    main()
