"""Compile saved IR: run a pipeline and a backend on a ``.gir`` file, with no Python model.

A pass can be tried on a graph someone saved, and a graph can be saved with everything it
needs to run::

    graphc.save_ir(train_step, x, y, path="step.gir")      # the traced step, its weights in step.npz
    step = graphc.compile_ir("step.gir", passes=["decompose", "simplify", "my_pass", "fuse", "memory_plan"])
    loss = step(x, y)                                        # numpy arrays or tensors, inputs in order

The callable takes one array per ``input`` placeholder, in the graph's order. Parameters,
optimizer state and hyperparameters come from the ``.npz`` next to the ``.gir`` file (or from
``values=``); ``assign`` updates write into them, so calling a saved train step trains it
(``step.values`` holds them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from graphc.ir import Graph
from graphc.ir.errors import CompileError, GraphcTypeError
from graphc.ir.parser import load_gir, parse_graph, save_gir
from graphc.ir.printer import format_graph


def traced_values(tracer, graph: Graph, inputs, args) -> dict[str, np.ndarray]:
    """Copies of the values a trace binds to its placeholders, by name: inputs (from ``args``),
    parameters and state (their arrays now), hyperparameters (read now) and consts."""
    from .tensor import Tensor

    values = {}
    input_index = {p: i for p, i in inputs}
    hypers = {p: getter for p, getter in tracer.hypers.values()}
    for p in graph.placeholders:
        if p in input_index:
            a = args[input_index[p]]
            values[p.name] = np.array(a._data if isinstance(a, Tensor) else a, copy=True)
        elif p.role == "hyper":
            values[p.name] = np.asarray(hypers[p](), p.type.dtype.np).copy()
        elif p in tracer.bound and p.role != "const":
            values[p.name] = np.array(tracer.bound[p]._data, copy=True)
        elif p in graph.const_values:
            values[p.name] = np.array(graph.const_values[p], copy=True)
    return values


def copy_graph(graph: Graph) -> Graph:
    """A deep copy through the text format, with the bound values (by placeholder name)."""
    out = parse_graph(format_graph(graph))
    by_name = {p.name: p for p in out.placeholders}
    for p, v in graph.const_values.items():
        out.const_values[by_name[p.name]] = v
    return out


def save_ir(fn, *args, path: str | os.PathLike, passes=None, stop_after: str = "trace") -> Path:
    """Trace ``fn(*args)`` and save the graph (after ``stop_after``, default the raw trace) to
    ``path`` with the values of its parameters, state and hyperparameters in ``path.npz``."""
    from graphc.passes import PassContext, run_pipeline

    from .compile import CompiledFunction

    cf = fn if isinstance(fn, CompiledFunction) else CompiledFunction(fn, passes=passes)
    tracer, graph, inputs, _, _ = cf.trace(*args)
    values = traced_values(tracer, graph, inputs, args)
    graph = run_pipeline(graph, cf.pipeline, PassContext(stop_after=stop_after))
    for p in graph.placeholders:
        if p.role != "input" and p.name in values:
            graph.const_values[p] = values[p.name]
    save_gir(graph, path)
    return Path(path)


class IRFunction:
    """A graph compiled by :func:`compile_ir`: call it with one array per input placeholder."""

    def __init__(self, graph: Graph, backend: str = "llvm", passes=None, stop_after: str | None = None,
                 values: dict | None = None, instruments=None):
        from graphc.passes import DEFAULT_PIPELINE, PassContext, TimingInstrument, run_pipeline
        from graphc.passes.manager import instruments_from_env
        from graphc.runtime.backends import get_backend

        from .compile import _check_decomposed

        self.inputs = [p.name for p in graph.placeholders if p.role == "input"]
        self.values: dict[str, np.ndarray] = {}
        for p in graph.placeholders:
            if p.role == "input":
                continue
            given = (values or {}).get(p.name, graph.const_values.get(p))
            if given is None:
                continue
            array = np.array(given, dtype=p.type.dtype.np, copy=True)
            if array.shape != p.type.shape:
                raise GraphcTypeError(f"the value given for %{p.name} has shape {list(array.shape)}, "
                                      f"but the placeholder is {p.type}", fix="give an array of the placeholder's type")
            self.values[p.name] = array
        missing = [f"%{p.name} ({p.role})" for p in graph.placeholders if p.role != "input" and p.name not in self.values]
        if missing:
            raise CompileError(f"graph {graph.name} has no values for {', '.join(missing)}",
                               fix="save the graph with graphc.save_ir(fn, *args, path=...) so its .npz holds them, "
                                   "or pass compile_ir(..., values={name: array})")
        self.timing = TimingInstrument()
        ctx = PassContext(instruments=instruments_from_env() + list(instruments or []) + [self.timing],
                          stop_after=stop_after)
        self.graph = run_pipeline(graph, list(passes) if passes is not None else list(DEFAULT_PIPELINE), ctx)
        if backend != "reference":
            _check_decomposed(self.graph, backend)
        self.executable = get_backend(backend).compile(self.graph)

    def __call__(self, *inputs):
        from .tensor import Tensor

        if len(inputs) != len(self.inputs):
            raise GraphcTypeError(f"graph {self.graph.name} takes {len(self.inputs)} inputs "
                                  f"({', '.join('%' + n for n in self.inputs)}), got {len(inputs)}",
                                  fix="pass one array per input placeholder, in the graph's order")
        given = dict(zip(self.inputs, inputs))
        arrays = []
        for p in self.graph.placeholders:
            if p.role != "input":
                arrays.append(self.values[p.name])
                continue
            a = given[p.name]
            a = np.asarray(a._data if isinstance(a, Tensor) else a)
            if a.shape != p.type.shape or a.dtype != p.type.dtype.np:
                raise GraphcTypeError(f"input %{p.name} must be {p.type}, got {a.dtype}{list(a.shape)}",
                                      fix=f"pass a {p.type.dtype.np} array of shape {list(p.type.shape)}")
            arrays.append(np.ascontiguousarray(a))
        outs = self.executable.run(arrays)
        return outs[0] if len(outs) == 1 else tuple(outs)


def compile_ir(source, *, backend: str = "llvm", passes=None, stop_after: str | None = None,
               values: dict | None = None, instruments=None) -> IRFunction:
    """Compile a graph (a ``.gir`` path, IR text, or a ``Graph``, which is copied, not changed)
    with ``passes`` (default: ``graphc.passes.default_pipeline()``) for ``backend``."""
    if isinstance(source, Graph):
        graph = copy_graph(source)
    elif isinstance(source, (str, os.PathLike)) and str(source).lstrip().startswith("graph "):
        graph = parse_graph(str(source))
    else:
        graph = load_gir(source)
    return IRFunction(graph, backend=backend, passes=passes, stop_after=stop_after, values=values,
                      instruments=instruments)
