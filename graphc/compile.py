"""graphc.compile: trace a function (or module) once per signature, compile it, run it natively.

    @graphc.compile
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

The first call traces ``train_step`` on symbolic tensors (see ``graphc._trace``): forward,
``backward()`` (the autodiff pass on the trace) and ``opt.step()`` (its update rule as nodes
reading ``hyper`` placeholders) become one graph. The pass pipeline optimises it and a backend
compiles it; later calls with the same signature run the compiled code directly, binding the
parameters' and optimizer state's own arrays (zero copy). What recompiles, and why, is logged
on the ``graphc`` logger: a new input shape/dtype/requires_grad, a module whose mode the trace
read switched between train and eval, a parameter whose storage or requires_grad changed, a changed param-group
structure, or optimizer state that appeared (PyTorch creates momentum buffers at the first step).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from graphc.ir.errors import GraphcTypeError, GraphcValueError, TraceError

from . import _dispatch
from ._guards import Guards
from ._trace import JournalingTracer, Tracer
from .tensor import Tensor
from .tensor import _serial as _tensor_serial  # (graphc.tensor is the factory function)

log = logging.getLogger("graphc")

# Compiling (tracing changes .grad, optimizer state and buffers while it runs) happens one at a
# time per process; a compiled version's calls are serialised by its own lock (they share its
# buffers). Reentrant: a compiled function may call another while it is traced.
_BUILD_LOCK = threading.RLock()



def compile(fn=None, *, backend: str | None = None, passes=None, name: str | None = None,
            stop_after: str | None = None, instruments=None):
    """Compile ``fn`` (a function or an ``nn.Module``); usable as ``@graphc.compile`` or ``@graphc.compile(...)``.

    ``backend`` is None (run where the tensors live: "llvm" on the CPU, "cuda" on a GPU), "llvm"
    (native code for this CPU), "cuda" or "reference" (the numpy interpreter);
    ``passes`` is a list of pass names or a ``graphc.passes.Pipeline`` replacing the default one;
    ``stop_after`` names the last pass to run (``"trace"`` for none); ``instruments`` are
    ``graphc.passes.Instrument`` objects called around every pass.
    """
    if fn is None:
        return lambda f: compile(f, backend=backend, passes=passes, name=name, stop_after=stop_after,
                                 instruments=instruments)
    return CompiledFunction(fn, backend=backend, passes=passes, name=name, stop_after=stop_after,
                            instruments=instruments)


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
    grad_writes: list = field(default_factory=list)  # (leaf, placeholder index) for materialised grads
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
            with _BUILD_LOCK:
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


class CompiledFunction:
    """The callable ``graphc.compile`` returns. ``.graphs()`` shows what was compiled."""

    def __init__(self, fn, backend=None, passes=None, name=None, stop_after=None, instruments=None):
        from . import nn

        self.module = fn if isinstance(fn, getattr(nn, "Module", ())) else None
        self.fn = fn
        self.backend = backend
        from graphc.passes import DEFAULT_PIPELINE

        self.pipeline = list(passes) if passes is not None else list(DEFAULT_PIPELINE)
        self.stop_after = stop_after
        self.instruments = list(instruments or [])
        self.name = name or (type(fn).__name__ if self.module is not None else getattr(fn, "__name__", "fn"))
        self._entries: dict[tuple, list[_Entry]] = {}
        self._last: _Entry | None = None
        functools.update_wrapper(self, fn if self.module is None else type(fn).forward, updated=())

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if kwargs:
            raise GraphcTypeError("a compiled function takes positional arguments only",
                                  fix="pass the arguments by position")
        sig = tuple(map(_arg_signature, args))
        last = self._last
        # the steady state: the version that ran last runs again (one tuple compare and its guards)
        if last is not None and last.sig == sig and last.deferred is None and last.guards.why() is None:
            return last(args)
        with _BUILD_LOCK:  # one trace at a time: a trace changes the model's Python state while it runs
            return self._find_or_build(args, sig)

    def _find_or_build(self, args, sig):
        last = self._last
        entries = self._entries.get(sig)
        reason = "first call" if not self._entries else "new input shapes, dtypes or requires_grad"
        if entries:
            # the version that ran last is checked first: in a momentum step's steady state it is
            # the only check (the first-step version behind it would fail every time)
            order = [last] + [e for e in entries if e is not last] if any(e is last for e in entries) else entries
            reasons = []
            for entry in order:
                why = entry.check()
                if why is None:
                    if entry.deferred is not None:  # a run-once version, used again after all
                        with _gc_paused():
                            entry.compile_deferred(self.name)
                    self._last = entry
                    return entry(args)
                reasons.append(why)
            reason = reasons[0]  # what changed since the version that ran last (or the oldest)
        with _gc_paused():
            entry = self._build(args, sig)
        log.info("graphc: compiling %s (%s)", self.name, reason)
        self._entries.setdefault(sig, []).append(entry)
        self._last = entry
        return entry(args)

    def graphs(self):
        """The optimised graphs compiled so far (one per signature and guard set)."""
        return [e.graph for es in self._entries.values() for e in es]

    def stats(self) -> dict:
        """Of the most recently compiled version: kernel count, arena bytes (the memory plan's
        temporaries plus the lowering's scratch: im2col columns, GEMM packing), and what the arena
        would take without buffer reuse (``None`` where the backend has no such notion)."""
        if not self._entries:
            raise GraphcTypeError("nothing is compiled yet", fix="call the compiled function once first")
        entry = self._compiled_last()
        exe = entry.executable
        plan = entry.graph.meta.get("memory_plan")
        return {
            "kernels": getattr(exe, "kernel_count", None),
            "arena_bytes": getattr(exe, "arena_bytes", None),
            "unplanned_bytes": (plan.unplanned_bytes + getattr(exe, "scratch_bytes", 0)) if plan is not None else None,
            "compilations": self.compile_count,
        }

    def _compiled_last(self) -> _Entry:
        """The version that ran last, compiled now if it was a run-once version interpreted so far
        (``stats()`` and ``report()`` describe compiled code)."""
        entry = self._last
        if entry is not None and entry.deferred is not None:
            entry.compile_deferred(self.name)
        return entry

    def report(self, path, title: str | None = None, draw: bool = True):
        """Write the HTML compile report of the most recent compiled version (see ``graphc.report``);
        ``draw=False`` leaves out the Graphviz picture of the graph."""
        from .report import write_report

        return write_report(self, path, title=title, draw=draw)

    def bisect(self, *args, rtol: float = 1e-4, atol: float = 1e-5):
        """Name the first pass of this function's pipeline whose graph disagrees with eager mode
        on ``args`` (see ``graphc.bisect``)."""
        from graphc.passes import Pipeline

        from .bisect import bisect

        passes = Pipeline(self.pipeline) if self.stop_after is None else Pipeline(self.pipeline).until(self.stop_after)
        return bisect(self.fn, *args, passes=passes, rtol=rtol, atol=atol)

    @property
    def compile_count(self) -> int:
        return sum(len(es) for es in self._entries.values())

    # ------------------------------------------------------------------ tracing
    def trace(self, *args, tracer_class=None):
        """Trace one call on ``args`` (running nothing) and return ``(tracer, graph, inputs, out_tree,
        grad_writes)``: the unoptimised graph, its input placeholders with argument positions, the
        return structure, and the leaves whose ``.grad`` the step writes. ``tracer_class`` (a
        :class:`Tracer` subclass; default: a JournalingTracer, undone if the trace fails) lets
        ``graphc.export`` journal what the trace changes."""
        from graphc.ir import TensorType

        tracer = (tracer_class or JournalingTracer)(self.name, next(_tensor_serial))
        inputs = []
        sym_args = []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                p = tracer.graph.placeholder(f"arg{i}", TensorType(a.dtype, a.shape), role="input")
                inputs.append((p, i))
                sym_args.append(tracer.make_symbolic(p, a.requires_grad))
                if a.requires_grad:
                    tracer.requires_grad.add(p)
                    tracer.input_leaves.append(sym_args[-1])
                    if a._grad is not None:  # backward() adds to it, as in eager mode: one more input
                        gp = tracer.graph.placeholder(f"arg{i}.grad", TensorType(a._grad.dtype, a._grad.shape), role="input")
                        tracer.grad_inputs[gp] = i
                        sym_args[-1]._grad = tracer.make_symbolic(gp, False)
            else:
                sym_args.append(a)
        options = _optimizer_options()
        prev = _dispatch.tracer
        _dispatch.tracer = tracer
        try:
            result = self.fn(*sym_args)
            _check_options_unchanged(options, self.name)
            out_tree, out_tensors = _flatten(result)
            outputs = [tracer.node_of(t) for t in out_tensors]
            for p, i in inputs:  # an argument changed in place (x.add_(1)): the caller's tensor is updated
                if sym_args[i]._tnode is not p:
                    tracer.graph.assign(p, sym_args[i]._tnode)
            # the gradients backward() left in arguments' .grad: extra outputs, set on the caller's tensors
            tracer.input_grads = []
            for _, i in inputs:
                node = _grad_node(tracer, sym_args[i])
                if node is not None:
                    tracer.input_grads.append((i, len(outputs)))
                    outputs.append(node)
            device = _step_device(args, tracer)
            grad_writes = _materialize(tracer, device)
        except BaseException:
            if tracer_class is None:  # a failed trace leaves no traced tensor in .grad, state or options
                tracer.undo()
                _restore_options(options)
            raise
        finally:
            _dispatch.tracer = prev
        graph = tracer.graph
        graph.set_outputs(outputs)
        tracer.input_leaves.clear()
        del result, out_tensors, sym_args
        _check_escapes(tracer)
        return tracer, graph, inputs, out_tree, grad_writes

    def _build(self, args, sig) -> _Entry:
        from graphc.passes import PassContext, TimingInstrument, run_pipeline
        from graphc.passes.manager import instruments_from_env
        from graphc.runtime.backends import get_backend

        tracer, graph, inputs, out_tree, grad_writes = self.trace(*args)
        timing = TimingInstrument()
        ctx = PassContext(instruments=instruments_from_env() + self.instruments + [timing], stop_after=self.stop_after)
        stage_source = (str(graph), {p.name: v for p, v in graph.const_values.items()}, graph._counter,
                        list(self.pipeline), self.stop_after)
        graph = run_pipeline(graph, self.pipeline, ctx)
        device = _step_device(args, tracer)
        backend = self.backend or ("cuda" if device is not None else "llvm")
        if backend != "reference":
            _check_decomposed(graph, backend)
        options = {}
        if backend == "cuda":
            from . import cuda

            options["device"] = device.index or 0 if device is not None else 0
            cuda.require(options["device"])  # a clear "no usable CUDA GPU" before anything is compiled
        input_index = {p: i for p, i in inputs}
        hyper_getter = {p: getter for p, getter in tracer.hypers.values()}
        bindings = []
        for p in graph.placeholders:
            if p in input_index:
                bindings.append(("input", input_index[p]))
            elif p in tracer.grad_inputs:
                bindings.append(("input_grad", tracer.grad_inputs[p]))
            elif p.role == "hyper":
                bindings.append(("hyper", hyper_getter[p]))
            elif p in tracer.bound and p.role != "const":
                bindings.append(("bound", tracer.bound[p]))
            else:
                bindings.append(("const", np.asarray(graph.const_values[p])))
        entry = _Entry(None, graph, bindings, out_tree, grad_writes=grad_writes, pass_times=timing.times,
                       stage_source=stage_source, sig=sig, input_grads=tracer.input_grads)
        entry.device = device
        entry.guards = Guards([x for kind, x in bindings if kind == "bound"], list(tracer.training_reads.values()),
                              list(tracer.optimizers.values()), tracer.grad_reads, list(tracer.modules.values()),
                              [tracer.optimizer_structures[k] for k in tracer.optimizers])
        if backend == "llvm" and entry.guards.why() is not None:
            # its guards fail before it has even run (the first step of a training loop: it reads
            # every .grad as None and leaves them set), so it runs once: interpret it instead of
            # spending seconds in LLVM, and compile it only if it is ever used again
            log.info("graphc: %s: this version can run only once (%s after it); running it on the reference "
                     "interpreter", self.name, entry.guards.why())
            entry.deferred = (backend, options)
            backend = "reference"
        entry.executable = get_backend(backend, **options).compile(graph)
        entry.backend = backend
        return entry


def _optimizer_options() -> list:
    """Every live optimizer's param-group options (not the params), to compare after a trace."""
    from .optim.optimizer import LIVE

    return [(opt, [[(k, v) for k, v in g.items() if k != "params"] for g in opt.param_groups]) for opt in list(LIVE)]


def _restore_options(before: list) -> None:
    for opt, groups in before:
        for old, g in zip(groups, opt.param_groups):
            g.update(old)


def _check_options_unchanged(before: list, name: str) -> None:
    """A trace that changed an optimizer option (a scheduler's step(), ``g["lr"] *= 0.9``) would
    compile a step whose Python side effect never happens again: refuse it, naming the option."""
    for opt, groups in before:
        for i, (old, g) in enumerate(zip(groups, opt.param_groups)):
            for k, v in old:
                now = g.get(k)
                if now is v or (not isinstance(now, Tensor) and not isinstance(v, Tensor) and now == v):
                    continue
                raise TraceError(f"{name} changed param_groups[{i}][{k!r}] of a {type(opt).__name__} optimizer "
                                 f"({v!r} -> {now!r}) while being traced: Python code in a compiled function runs only "
                                 "when it is traced, so later calls would never change it",
                                 fix="call scheduler.step() (or change the option) outside the compiled function, "
                                     "between calls: the compiled step reads the options afresh at every call")


def _grad_node(tracer, sym):
    """The graph value of a symbolic argument's ``.grad`` when the trace computed one (not when it
    is None or still the argument's old gradient, unchanged)."""
    g = sym._grad if isinstance(sym, Tensor) else None
    if g is None or (g._tnode is not None and g._tnode.is_placeholder):
        return None
    return tracer.node_of(g)


def _check_decomposed(graph, backend: str) -> None:
    """Compiled backends lower core ops only: a composite op left by a custom pipeline is refused here."""
    from graphc.ir import get_op
    from graphc.ir.errors import CompileError

    for node in graph.nodes:
        if get_op(node.op).decompose is not None:
            raise CompileError(f"%{node.name} is the composite op {node.op}, which the {backend} backend does not lower "
                               "(the pipeline has no 'decompose' pass)",
                               fix="keep 'decompose' first in the pipeline: edit graphc.passes.default_pipeline() "
                                   "instead of writing the list of passes from scratch", loc=node.loc)


def _arg_signature(a):
    if isinstance(a, Tensor):  # read the fields, not the properties: this runs on every call
        data = a._data
        return ("tensor", data.shape, data.dtype, a._requires_grad, a._device, a._grad is None)
    try:
        hash(a)
    except TypeError:
        raise GraphcTypeError(f"a compiled function's arguments must be tensors or hashable constants, got {type(a).__name__}",
                              fix="pass tensors, or bind other values with functools.partial before compiling") from None
    return ("const", type(a).__name__, a)


def _flatten(value):
    """Split a return value into a structure and its tensors (tuples, lists, dicts, None, numbers)."""
    tensors = []

    def walk(v):
        if isinstance(v, Tensor):
            tensors.append(v)
            return ("T",)
        if isinstance(v, (tuple, list)):
            return (type(v), [walk(x) for x in v])
        if isinstance(v, dict):
            return (dict, {k: walk(x) for k, x in v.items()})
        return ("C", v)

    return walk(value), tensors


def _unflatten(tree, tensors):
    tag = tree[0]
    if tag == "T":
        return next(tensors)
    if tag == "C":
        return tree[1]
    if tag is dict:
        return {k: _unflatten(v, tensors) for k, v in tree[1].items()}
    return tag(_unflatten(v, tensors) for v in tree[1])


def _step_device(args, tracer: Tracer):
    """The one device of the step's tensor arguments, parameters and state (None: the CPU).

    As in PyTorch, tensors on different devices cannot meet in one step; 0-dim CPU tensors
    (Python numbers, Adam's step count) mix with any device.
    """
    from graphc.ir.errors import DeviceError

    bound = [t for p, t in tracer.bound.items() if p.role in ("param", "state") and isinstance(t, Tensor)]
    tensors = [a for a in args if isinstance(a, Tensor)] + bound
    devices = {t._device for t in tensors if t._device is not None}
    if len(devices) > 1:
        raise DeviceError(f"Expected all tensors to be on the same device, but found {sorted(map(str, devices))}",
                          fix="move the model and the inputs to one device (model.to(device), x.to(device))")
    device = devices.pop() if devices else None
    if device is not None:
        for t in tensors:
            if t._device is None and t.ndim > 0:
                what = t._name_hint or "an argument"
                raise DeviceError(f"Expected all tensors to be on the same device, but found {device} and cpu ({what})",
                                  fix="move the model and the inputs to one device (model.to(device), x.to(device))")
    return device


def _materialize(tracer: Tracer, device=None):
    """Give real storage to what the trace left symbolic in Python state, via assigns."""
    graph = tracer.graph
    persistent = _persistent_tensors(tracer)
    for key, t in tracer.mutated.items():
        p = tracer.captured[key]
        if t._serial >= tracer.serial_start and key not in persistent:
            continue  # scratch made and updated inside the step: nothing outlives the call
        if p.role == "const":  # made in the step and kept (Adam's step count): persistent state
            p.attrs["role"] = "state"
            graph.const_values.pop(p, None)
        graph.assign(p, tracer.current[key])

    def real_for(sym, name: str) -> Tensor:
        real = Tensor._wrap(np.zeros(tuple(sym.shape), sym.dtype.np))
        real._device = device
        real._name_hint = name
        p = graph.placeholder(name, sym._tnode.type, role="state")
        tracer.bound[p] = real
        tracer.captured[id(real)] = p
        graph.assign(p, sym._tnode)
        return real

    grad_writes = []
    for t in list(tracer.bound.values()):
        g = t._grad if isinstance(t, Tensor) else None  # (not .grad: that would guard on it)
        if g is not None and g._tnode is not None:
            t.grad = real_for(g, f"{t._name_hint or 'param'}.grad")
            grad_writes.append(t)
    for opt in tracer.optimizers.values():
        for param, state in opt.state.items():
            for k, v in list(state.items()):
                if isinstance(v, Tensor) and v._tnode is not None:
                    owner = getattr(param, "_name_hint", None) or "param"
                    state[k] = real_for(v, f"{owner}.{k}")
    for m in tracer.modules.values():
        for k, v in list(getattr(m, "_buffers", {}).items()):
            if isinstance(v, Tensor) and v._tnode is not None:
                m._buffers[k] = real_for(v, v._name_hint or k)
    return grad_writes


def _persistent_tensors(tracer: Tracer) -> set[int]:
    """Ids of tensors kept in Python state the compiled step must update: optimizer state, buffers."""
    keep = set()
    for opt in tracer.optimizers.values():
        for state in opt.state.values():
            keep.update(id(v) for v in state.values() if isinstance(v, Tensor))
    for m in tracer.modules.values():
        keep.update(id(v) for v in getattr(m, "_buffers", {}).values() if v is not None)
        keep.update(id(v) for v in getattr(m, "_parameters", {}).values() if v is not None)
    return keep


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector off while compiling: tracing and the passes allocate
    many small objects, and the collections that triggers (each one walking every object of the
    process) took a fifth of a compile from the cache. Cycles made meanwhile are freed later."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _check_escapes(tracer: Tracer) -> None:
    """A symbolic tensor still referenced after the trace escaped into Python state: refuse it.

    A full garbage collection (tens of milliseconds) runs only when one is still alive, to tell
    a tensor kept by a reference cycle the trace left behind from one that really escaped."""
    outputs = set(tracer.graph.outputs)

    def alive():
        return [t for t in (ref() for ref in tracer.symbolic) if t is not None and t._tnode not in outputs]

    if not alive():
        return
    gc.collect()
    for t in alive():
        node = t._tnode
        raise TraceError(
            f"a tensor computed inside the compiled function (%{node.name}, made at {node.loc}) was stored "
            "somewhere graphc cannot follow (a global, a list, an attribute)",
            fix="return it from the compiled function instead", loc=node.loc)
