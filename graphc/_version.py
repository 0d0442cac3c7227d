"""One compiled version of a function: its executable, bindings and guards, and the call path.

``graphc.compile`` keeps a version per signature and guard set (``graphc/compile.py``). A call
of a version fills in only the arguments and hyperparameters (parameters and state are bound
once: the guards keep them valid), runs the executable under the version's own lock (its
buffers serve one call at a time), writes back arguments the step changed in place and sets
the ``.grad`` of arguments ``backward()`` reached, and wraps the outputs in tensors.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from graphc.ir.errors import GraphcValueError

from . import _dispatch
from ._guards import Guards
from ._step_state import put_back
from .tensor import Tensor

log = logging.getLogger("graphc")

# Compiling (tracing changes .grad, optimizer state and buffers while it runs) happens one at a
# time per process; a compiled version's calls are serialised by its own lock (they share its
# buffers). Reentrant: a compiled function may call another while it is traced.
BUILD_LOCK = threading.RLock()


@dataclass
class _Entry:
    """One compiled version of the function, valid while its guards hold."""

    executable: object
    graph: object
    bindings: list  # per placeholder: ("input", i) | ("bound", tensor) | ("hyper", getter) | ("const", array)
    out_tree: object
    guards: Guards | None = None  # what must still hold for this version to run
    sig: tuple = ()  # the argument signature it was compiled for
    input_grads: list = field(default_factory=list)  # (argument, output index): .grad the call sets
    created: list = field(default_factory=list)  # Python state the trace created, put back by every call
    _template: list | None = None  # the arrays of a call, inputs and hypers left to fill in
    pass_times: dict = field(default_factory=dict)  # pass name -> seconds
    # how to redo the passes for `stages`: (trace text, const values by name, name counter, pipeline, stop_after)
    stage_source: tuple | None = None
    _stages: list | None = None

    def check(self) -> str | None:
        return self.guards.why() if self.guards is not None else None

    @property
    def stages(self) -> list:
        """(stage name, IR text) for "trace" and then each pass. Printing every stage costs a
        build about a tenth of its time from the cache, and only reports read them, so they are
        made on first use: the traced graph (kept as text) goes through the pipeline again."""
        if self._stages is None:
            from graphc.ir.parser import parse_graph
            from graphc.passes import PassContext, RecordIRInstrument, run_pipeline

            text, consts, counter, pipeline, stop_after = self.stage_source
            graph = parse_graph(text)
            graph._counter = counter  # new nodes get the names they got while compiling
            for p in graph.placeholders:
                if p.name in consts:
                    graph.const_values[p] = consts[p.name]
            record = RecordIRInstrument()
            run_pipeline(graph, pipeline, PassContext(instruments=[record], stop_after=stop_after))
            self._stages = record.stages or [("trace", text)]
        return self._stages

    device: object = None  # where the step runs (None: the CPU); its outputs are placed there
    backend: str = "llvm"  # the backend that compiled it (compile's backend=None picks by device)
    deferred: tuple | None = None  # (backend, options) still to compile: a run-once version interpreted so far

    def compile_deferred(self, name: str) -> None:
        """Compile a version that was interpreted because it looked run-once, now that it is reused."""
        from graphc.runtime.backends import get_backend

        backend, options = self.deferred
        log.info("graphc: compiling %s (a version run once on the reference interpreter is used again)", name)
        self.executable = get_backend(backend, **options).compile(self.graph)
        self.backend, self.deferred = backend, None

    def __call__(self, args):
        # bound and const arrays are fixed while the guards hold (check() verifies the bound
        # ones), so only inputs and hypers are filled in per call
        if self._template is None:
            with BUILD_LOCK:
                if self._template is None:
                    self._prepare()
        with self._lock:  # the table, arena, cells and output buffers are this version's: one call at a time
            return self._run(args)

    def _run(self, args):
        arrays = self._template.copy()
        for i, x in self._inputs:
            arrays[i] = np.ascontiguousarray(args[x]._data)
        if self._mutated:  # arguments the step changes in place: their own arrays, never a copy
            for i, x in self._mutated:
                arrays[i] = args[x]._data
                _dispatch.check_writable(arrays[i])
            _check_unaliased(self._mutated, arrays, self.bindings)
        for _, x, cell in self._hypers:
            cell[()] = x()
        if self._input_grads:
            for i, x in self._input_grads:
                arrays[i] = np.ascontiguousarray(args[x]._grad._data)
        outs = self.executable.run(arrays)
        if self.created:
            put_back(self.created)
        for x, j in self.input_grads:  # backward() reached an argument: its .grad, as eager mode sets it
            t = args[x]
            if t._grad is None:
                t._grad = Tensor._wrap(outs[j])
                t._grad._device = self.device
            else:  # (the step read the old value as an input and added to it)
                np.copyto(t._grad._data, outs[j])
        return self._rebuild(outs)

    def _prepare(self) -> None:
        self._lock = threading.Lock()
        assigned = {a.inputs[0] for a in self.graph.assigns}
        for p, (kind, x) in zip(self.graph.placeholders, self.bindings):  # (bound arrays are fixed while the guards hold)
            if p in assigned and kind == "bound":
                _dispatch.check_writable(x._data)
        self._template = [None if kind in ("input", "input_grad", "hyper") else (x._data if kind == "bound" else x)
                          for kind, x in self.bindings]
        self._input_grads = [(i, x) for i, (kind, x) in enumerate(self.bindings) if kind == "input_grad"]
        inputs = [(i, x) for i, (kind, x) in enumerate(self.bindings) if kind == "input"]
        self._inputs = [(i, x) for i, x in inputs if self.graph.placeholders[i] not in assigned]
        self._mutated = [(i, x) for i, x in inputs if self.graph.placeholders[i] in assigned]
        # one float64 cell per hyperparameter, refilled every call: the same array each time,
        # so the backend never looks up its address again
        self._hypers = [(i, x, np.zeros((), np.float64)) for i, (kind, x) in enumerate(self.bindings) if kind == "hyper"]
        for i, _, cell in self._hypers:
            self._template[i] = cell
        self._rebuild = _rebuilder(self.out_tree, self.device, self.graph.name)


def _check_unaliased(mutated, arrays, bindings) -> None:
    """An argument the step changes in place must not share memory with another array of the
    call: the compiled code reads every input as it was at entry and writes the results at the
    end, where eager mode would interleave the two."""
    for i, x in mutated:
        for j, other in enumerate(arrays):
            if j != i and other is not None and np.may_share_memory(arrays[i], other):
                kind, y = bindings[j]
                what = f"argument {y}" if kind == "input" else "a parameter or state tensor of the step"
                raise GraphcValueError(f"argument {x} of the compiled function is modified in place and shares memory "
                                       f"with {what}", fix=f"pass argument {x}.clone() (or stop modifying it in place)")


def _rebuilder(tree, device, name: str):
    """A function from the executable's output arrays to the return value of ``tree``'s shape:
    made once per version, so a call does not walk the structure (a lone tensor, the usual
    return, is one wrap). Outputs carry no autograd history; they remember the function's name
    for the error a ``backward()`` on them raises."""

    def wrap(array):
        t = Tensor._wrap(array)
        t._device = device
        t._compiled_by = name
        return t

    if tree[0] == "T":
        return lambda outs: wrap(outs[0])
    return lambda outs: _unflatten(tree, map(wrap, outs))


def _unflatten(tree, tensors):
    tag = tree[0]
    if tag == "T":
        return next(tensors)
    if tag == "C":
        return tree[1]
    if tag is dict:
        return {k: _unflatten(v, tensors) for k, v in tree[1].items()}
    return tag(_unflatten(v, tensors) for v in tree[1])
