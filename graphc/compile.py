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

import numpy as np

from graphc.ir.errors import GraphcTypeError

from . import _dispatch
from ._captured import Captured
from ._guards import Guards
from ._step_state import (
    _check_escapes,
    _check_options_unchanged,
    _flatten,
    _grad_node,
    _materialize,
    _optimizer_options,
    _restore_options,
    _step_device,
)
from ._trace import JournalingTracer
from ._version import BUILD_LOCK, _Entry
from .tensor import Tensor
from .tensor import _serial as _tensor_serial  # (graphc.tensor is the factory function)

log = logging.getLogger("graphc")
MANY_VERSIONS = 8  # versions of one compiled function after which a warning says why they keep coming



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
        with BUILD_LOCK:  # one trace at a time: a trace changes the model's Python state while it runs
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
        if self.compile_count == MANY_VERSIONS:
            log.warning("graphc: %s has now been compiled %d times (this time because %s): a value that changes "
                        "on every call (a global number, a Python number passed as an argument, an input shape) "
                        "makes a new version each time; pass such a value as a tensor argument", self.name,
                        MANY_VERSIONS, reason)
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
        created)``: the unoptimised graph, its input placeholders with argument positions, the
        return structure, and the Python state (``.grad``, optimizer state, buffers) the step
        creates. ``tracer_class`` (a :class:`Tracer` subclass; default: a JournalingTracer, undone
        if the trace fails) lets ``graphc.export`` journal what the trace changes."""
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
            created = _materialize(tracer, device)
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
        tracer.retained.clear()
        tracer.hooked.clear()
        del result, out_tensors, sym_args
        _check_escapes(tracer)
        return tracer, graph, inputs, out_tree, created

    def _build(self, args, sig) -> _Entry:
        from graphc.passes import PassContext, TimingInstrument, run_pipeline
        from graphc.passes.manager import instruments_from_env
        from graphc.runtime.backends import get_backend

        tracer, graph, inputs, out_tree, created = self.trace(*args)
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
        entry = _Entry(None, graph, bindings, out_tree, created=created, pass_times=timing.times,
                       stage_source=stage_source, sig=sig, input_grads=tracer.input_grads)
        entry.device = device
        entry.guards = Guards([x for kind, x in bindings if kind == "bound"], list(tracer.training_reads.values()),
                              list(tracer.optimizers.values()), tracer.grad_reads, list(tracer.modules.values()),
                              [tracer.optimizer_structures[k] for k in tracer.optimizers],
                              Captured(self.fn.forward if self.module is not None else self.fn,
                                       list(dict.fromkeys(type(m) for m in tracer.modules.values()))),
                              list(tracer.hook_reads.values()))
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

