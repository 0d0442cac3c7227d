"""Numerical bisection: which pass first makes the graph compute something eager mode does not?

    >>> report = graphc.bisect(train_step, x, y)          # or compiled.bisect(x, y)
    >>> print(report)
    stage        max abs err   max rel err  worst value
    trace            0              0       output 0
    simplify         0              0       output 0
    my_pass          0.53           1.0     %l1.weight after the step   <- first difference
    ...

It traces the function once, runs it eagerly on the same arguments (the oracle), then runs the
pipeline with an instrument that interprets the graph with the reference backend after every
pass and compares the outputs and the updated parameters and state with eager mode's. The eager
step starts from the state the trace started from (optimizer state and gradients the trace
created are set aside first), and the model's parameters, optimizer state and gradients are put
back afterwards, so bisecting does not train the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.passes import Instrument, PassContext, run_pipeline
from graphc.runtime.reference import interpret

from ._step_state import _flatten
from .compile import CompiledFunction
from .compile_ir import traced_values
from .tensor import Tensor


@dataclass
class StageCheck:
    """How the graph after one stage compares with eager mode."""

    stage: str
    ok: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: str = ""
    error: str | None = None


@dataclass
class BisectReport:
    checks: list[StageCheck] = field(default_factory=list)
    rtol: float = 1e-4
    atol: float = 1e-5
    oracle: str = "eager mode"  # or the traced graph, for a function whose random draws eager mode makes differently

    @property
    def first_bad(self) -> str | None:
        """The first stage (``"trace"`` or a pass name) whose result differs; None when all agree."""
        return next((c.stage for c in self.checks if not c.ok), None)

    def __str__(self) -> str:
        width = max([len(c.stage) for c in self.checks] + [5])
        lines = [f"{'stage':<{width}}  {'max abs err':>12}  {'max rel err':>12}  worst value"]
        bad = self.first_bad
        for c in self.checks:
            mark = "   <- first difference" if c.stage == bad else ""
            detail = f"error: {c.error}" if c.error else c.worst
            lines.append(f"{c.stage:<{width}}  {c.max_abs:>12.3g}  {c.max_rel:>12.3g}  {detail}{mark}")
        verdict = (f"first pass that differs from {self.oracle}: {bad}" if bad and bad != "trace"
                   else f"the traced graph already differs from {self.oracle} (a tracing bug, not a pass)" if bad
                   else f"every stage matches {self.oracle}")
        lines.append(f"{verdict} (rtol={self.rtol:g}, atol={self.atol:g})")
        return "\n".join(lines)


def compare(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], stage: str, rtol: float,
            atol: float) -> StageCheck:
    """Worst absolute and relative error over the named values; ok when all are within tolerance."""
    check = StageCheck(stage, True)
    worst_ratio = -1.0
    for name, want in expected.items():
        have = got.get(name)
        if have is None or np.shape(have) != np.shape(want):
            shape = "missing" if have is None else f"shape {list(np.shape(have))}"
            return StageCheck(stage, False, np.inf, np.inf, name, f"{name} is {shape}, eager gives {list(np.shape(want))}")
        a = np.asarray(want, np.float64)
        b = np.asarray(have, np.float64)
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a - b)
        err = np.where(nan_a & nan_b, 0.0, np.where(nan_a | nan_b, np.inf, np.where(a == b, 0.0, diff)))
        allowed = atol + rtol * np.abs(np.nan_to_num(a))
        ratio = float(np.max(err / allowed)) if err.size else 0.0
        abs_err = float(np.max(err)) if err.size else 0.0
        rel_err = float(np.max(err / np.maximum(np.abs(np.nan_to_num(a)), 1e-30))) if err.size else 0.0
        check.max_abs = max(check.max_abs, abs_err)
        check.max_rel = max(check.max_rel, rel_err)
        if ratio > worst_ratio:
            worst_ratio, check.worst = ratio, name
        if ratio > 1.0:
            check.ok = False
    return check


def _run_reference(graph, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs and updated persistent placeholders of one reference run, on copies of ``values``."""
    feeds = {p: np.array(values[p.name], copy=True) for p in graph.placeholders if p.name in values}
    outs = interpret(graph, feeds)
    result = {f"output {i}": o for i, o in enumerate(outs)}
    for n in graph.nodes:
        if n.op == "assign":
            target = n.inputs[0]
            result[f"%{target.name} after the step"] = feeds.get(target, graph.const_values.get(target))
    return result


class ReferenceCheckInstrument(Instrument):
    """After every pass, interprets the graph with the reference backend and compares with ``expected``."""

    def __init__(self, values, expected, rtol, atol):
        self.values, self.expected, self.rtol, self.atol = values, expected, rtol, atol
        self.checks: list[StageCheck] = []

    def check(self, stage: str, graph) -> None:
        try:
            got = _run_reference(graph, self.values)
        except Exception as e:  # a pass that breaks the graph is the pass we are looking for
            self.checks.append(StageCheck(stage, False, np.inf, np.inf, "", f"{type(e).__name__}: {e}"))
            return
        self.checks.append(compare(self.expected, got, stage, self.rtol, self.atol))

    def run_after_pass(self, name, graph, ctx):
        self.check(name, graph)


def _snapshot(tracer):
    """Everything an eager step may change that the trace bound: arrays, grads, optimizer state, buffers."""
    tensors = [t for t in tracer.bound.values() if isinstance(t, Tensor)]
    arrays = [(t, t._data, np.array(t._data, copy=True)) for t in tensors]
    grads = [(t, t.grad) for t in tensors]
    states = [(opt, {p: dict(s) for p, s in opt.state.items()}) for opt in tracer.optimizers.values()]
    buffers = [(m, dict(m._buffers)) for m in tracer.modules.values() if hasattr(m, "_buffers")]
    return arrays, grads, states, buffers


def _restore(snapshot) -> None:
    arrays, grads, states, buffers = snapshot
    for t, array, saved in arrays:
        t._data = array
        np.copyto(array, saved)
    for t, g in grads:
        t.grad = g
    for opt, state in states:
        opt.state.clear()
        opt.state.update(state)
    for m, bufs in buffers:
        m._buffers.clear()
        m._buffers.update(bufs)


def _locations(tracer) -> dict:
    """For each tensor kept in Python state (optimizer state, .grad, module buffers), a function
    reading what is at its place now: after an eager step the place may hold a new tensor."""
    where = {}
    for opt in tracer.optimizers.values():
        for param, state in opt.state.items():
            for k, v in state.items():
                where[id(v)] = lambda opt=opt, param=param, k=k: opt.state.get(param, {}).get(k)
    for t in tracer.bound.values():
        if getattr(t, "grad", None) is not None:
            where[id(t.grad)] = lambda t=t: t.grad
    for m in tracer.modules.values():
        for k, v in getattr(m, "_buffers", {}).items():
            where[id(v)] = lambda m=m, k=k: m._buffers.get(k)
    return where


def _forget_trace_state(tracer) -> None:
    """Drop the optimizer state and gradients the trace created (as zeros, for the compiled code to
    write), so the eager step starts from the state the trace started from: a first step creates
    its optimizer state as PyTorch's does, not from zeros."""
    def made_by_trace(v):
        return isinstance(v, Tensor) and v._serial >= tracer.serial_start

    for opt in tracer.optimizers.values():
        for param in list(opt.state):
            state = opt.state[param]
            for k in [k for k, v in state.items() if made_by_trace(v)]:
                del state[k]
            if not state:
                del opt.state[param]
    for t in tracer.bound.values():
        if made_by_trace(getattr(t, "grad", None)):
            t.grad = None


def _eager_values(tracer, graph, fn, args) -> dict[str, np.ndarray]:
    """Run ``fn`` eagerly; its outputs and the new value of every placeholder the graph assigns."""
    owners = {p: tracer.bound.get(p) for p in graph.placeholders}
    where = _locations(tracer)
    _forget_trace_state(tracer)
    result = fn(*args)
    _, tensors = _flatten(result)
    expected = {f"output {i}": np.array(t._data, copy=True) for i, t in enumerate(tensors)}
    for n in graph.nodes:
        if n.op != "assign":
            continue
        target = n.inputs[0]
        owner = owners.get(target)
        if owner is None:
            continue
        find = where.get(id(owner))
        now = find() if find is not None else owner if target.role == "param" else None
        if now is not None:
            expected[f"%{target.name} after the step"] = np.array(now._data, copy=True)
    return expected


def bisect(fn, *args, passes=None, rtol: float = 1e-4, atol: float = 1e-5) -> BisectReport:
    """Find the first pass whose graph, run by the reference backend, differs from eager ``fn(*args)``.

    ``fn`` is what ``graphc.compile`` takes (a function or module, or a compiled function);
    ``passes`` the pipeline to check (default: the compiled function's, else the default one).
    Outputs, updated parameters, optimizer state and gradients are compared: a value differs when
    ``|got - eager| > atol + rtol * |eager|`` anywhere. The model is left as it was.
    """
    if isinstance(fn, CompiledFunction):
        cf = fn if passes is None else CompiledFunction(fn.fn, passes=passes)
    else:
        cf = CompiledFunction(fn, passes=passes)
    tracer, graph, inputs, _, _ = cf.trace(*args)
    values = traced_values(tracer, graph, inputs, args)
    oracle = "eager mode"
    if tracer.own_random is not None:
        # inside a trace graphc.randn() & co. draw from the counter-based generator, eagerly from
        # numpy's: the passes are checked against the graph as traced instead
        oracle = f"the traced graph (it calls {tracer.own_random}, which draws other numbers eagerly)"
        expected = _run_reference(graph, values)
    else:
        snapshot = _snapshot(tracer)
        try:
            expected = _eager_values(tracer, graph, cf.fn, args)
        finally:
            _restore(snapshot)
    inst = ReferenceCheckInstrument(values, expected, rtol, atol)
    inst.check("trace", graph)
    try:
        run_pipeline(graph, cf.pipeline, PassContext(instruments=[inst]))
    except Exception as e:  # the pass raised: it is the first bad one
        failed = next((n for n in cf.pipeline if n not in {c.stage for c in inst.checks}), "?")
        inst.checks.append(StageCheck(failed, False, np.inf, np.inf, "", f"{type(e).__name__}: {e}"))
    return BisectReport(inst.checks, rtol, atol, oracle)
