"""graphc.export: compiled functions -> a C library that trains and runs the model without Python.

    step = graphc.compile(train_step)            # opt.zero_grad(); loss.backward(); opt.step()
    forward = graphc.compile(model)
    graphc.export({"train_step": step, "forward": forward}, "out", "mlp",
                  example_inputs={"train_step": (x, y), "forward": (x,)})

writes ``out/libmlp.so``, ``out/libmlp.a``, ``out/mlp.h``, ``out/mlp.safetensors``,
``out/mlp_main.c`` and the executable ``out/mlp`` (see docs/export.md). Exporting traces each
function on its example inputs and runs nothing: the model and optimizer are left as they were,
and the library starts from the weights and optimizer state they hold now.

A training step traced before the optimizer has state (PyTorch creates momentum buffers at the
first step) differs from later steps, so such a function is exported twice: phase 0 runs until the
first step succeeds, phase 1 after it; loading a file with optimizer state goes straight to phase 1.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

import numpy as np

from graphc.ir.errors import ExportError, GraphcError

from ._trace import JournalingTracer
from .compile import CompiledFunction, compile
from .safetensors_io import encode
from .tensor import Tensor

_C_WORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
            "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
            "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "m",
            "bool", "in", "out"}


def export(functions: dict, out_dir, name: str, example_inputs: dict | None = None, target: str = "cpu",
           cpu: str = "host", arch: str | None = None) -> dict:
    """Export ``functions`` (name -> compiled function) as the C library ``lib<name>`` in ``out_dir``.

    ``example_inputs`` maps each function's name to a tuple of example arguments; their shapes and
    dtypes are the exported functions' (the values are not used). A function left out of it is
    exported for the shapes of its last call. ``cpu`` is the CPU the code is
    tuned for: "host" (this machine), or an LLVM CPU name such as "x86-64-v3" for portable code.
    ``target="cuda"`` writes a library with the same C ABI that runs the functions on a CUDA GPU:
    PTX for ``arch`` (default "sm_80"; also written as ``<name>_g<i>.ptx``) and host code that
    loads it through the driver API at run time (see docs/cuda.md). Exporting needs no GPU.
    Returns the paths written: header, shared, static, weights, example, executable (and ptx<i>).
    """
    from graphc.runtime.export import write_library

    if target not in ("cpu", "cuda"):
        raise ExportError(f"export target {target!r} is not supported", fix='use target="cpu" or target="cuda"')
    if arch is not None and target != "cuda":
        raise ExportError(f"arch={arch!r} is for CUDA exports, and this export targets {target!r}",
                          fix='pass target="cuda" with arch, or leave arch out (cpu= picks the CPU)')
    if target == "cuda":
        from graphc.runtime.cuda.ptx import DEFAULT_ARCH, arch_number

        arch = arch or DEFAULT_ARCH
        try:
            arch_number(arch)
        except GraphcError as e:
            raise ExportError(e.message, fix=e.fix) from None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in _C_WORDS:
        raise ExportError(f"the library name {name!r} is not a C identifier", fix='use letters, digits and _, e.g. "mlp"')
    if not isinstance(functions, dict) or not functions:
        raise ExportError("export takes a dict of functions, name -> compiled function",
                          fix='graphc.export({"train_step": step, "forward": graphc.compile(model)}, ...)')
    example_inputs = example_inputs or {}
    fns = {}
    for fname, fn in functions.items():
        if not isinstance(fname, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", fname):
            raise ExportError(f"function name {fname!r} is not a C identifier", fix='use a name like "train_step"')
        fn = fn if isinstance(fn, CompiledFunction) else compile(fn)
        if fname in example_inputs:
            args = example_inputs[fname]
            args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        else:
            args = _last_call_arguments(fn)
            if args is None:
                raise ExportError(f"no example inputs for {fname!r}, and it was never called",
                                  fix=f'pass example_inputs={{"{fname}": (x, ...)}}: the arguments of one call')
        fns[fname] = (fn, args)
    spec = _Exporter(name).describe(fns)
    if target == "cuda":
        spec.target, spec.arch = "cuda", arch
    return write_library(spec, out_dir, cpu=cpu)


def _last_call_arguments(cf: CompiledFunction):
    """Arguments like those of the function's last compiled call (zeros of the same shapes and
    dtypes, the same constants), or None if it was never called."""
    from graphc.ir.dtypes import from_numpy

    from . import factories

    last = getattr(cf, "_last", None)
    for sig, entries in cf._entries.items():
        if any(e is last for e in entries):
            args = []
            for kind, *rest in sig:
                if kind == "tensor":
                    shape, dtype, requires_grad = rest[:3]  # then the device
                    t = factories.zeros(*shape, dtype=from_numpy(np.dtype(dtype)))
                    args.append(t.requires_grad_() if requires_grad else t)
                else:
                    args.append(rest[1])
            return tuple(args)
    return None


class _Traced:
    """One function traced and optimised, with what each placeholder reads."""

    def __init__(self, tracer, graph, inputs, out_tree):
        self.tracer = tracer
        self.graph = graph
        self.inputs = inputs
        self.out_tree = out_tree
        self.created: set[str] = set()  # persistent tensors this call creates (optimizer state, grads)


class _Exporter:
    def __init__(self, name: str):
        self.name = name
        self.buffers: dict[str, object] = {}  # name -> BufferSpec
        self.existing: set[str] = set()  # buffers that exist before the first step
        self.hypers: dict[tuple, object] = {}  # hyper key -> HyperSpec
        self.fallback_names: dict[int, str] = {}
        self.fixed: list[str] = []
        self.prefixes: set[str] = set()
        self.journal: list[JournalingTracer] = []  # every tracer made, to undo in reverse

    # ------------------------------------------------------------------ tracing
    def _trace(self, cf: CompiledFunction, args) -> _Traced:
        from graphc.passes import PassContext, run_pipeline

        tracer, graph, inputs, out_tree, _ = cf.trace(*args, tracer_class=self._journaling_tracer)
        if tracer.input_grads:
            raise ExportError(f"{cf.name} computes the gradient of its argument {tracer.input_grads[0][0]} (.grad); "
                              "an exported function only returns values", fix="return x.grad from the function instead")
        changed = sorted(i for p, i in inputs if any(a.inputs[0] is p for a in graph.assigns))
        if changed:  # the C ABI passes inputs as const pointers
            raise ExportError(f"{cf.name} modifies its argument {changed[0]} in place; an exported function "
                              "only reads its inputs", fix="return the new value instead of modifying the argument")
        traced = _Traced(tracer, run_pipeline(graph, cf.pipeline, PassContext()), inputs, out_tree)
        self._name_tensors(traced)
        return traced

    def _journaling_tracer(self, name: str, serial_start: int) -> JournalingTracer:
        tracer = JournalingTracer(name, serial_start)
        self.journal.append(tracer)
        return tracer

    def _undo(self) -> None:
        """Leave the Python state as it was before the traces (also after a failed one)."""
        while self.journal:
            self.journal.pop().undo()

    def describe(self, fns: dict):
        from graphc.runtime.export import ExportSpec, FunctionSpec, GraphSpec

        phase0 = {}
        try:
            for fname, (cf, args) in fns.items():
                phase0[fname] = self._trace(cf, args)
                self._collect(phase0[fname], first=True)
        finally:
            self._undo()
        makes_state = [f for f, t in phase0.items() if t.created]
        phase1 = dict(phase0)
        if makes_state:
            try:
                for fname in makes_state:  # one step creates the state; the next is the steady step
                    self._trace(*fns[fname])
                for fname in makes_state:
                    phase1[fname] = self._trace(*fns[fname])
                    self._collect(phase1[fname], first=False)
            finally:
                self._undo()
        self._fixed_keys([t.tracer for t in phase0.values()])
        buffer_index = {n: i for i, n in enumerate(self.buffers)}
        hyper_index = {k: i for i, k in enumerate(self.hypers)}
        graphs, functions = [], []
        for fname, (cf, args) in fns.items():
            ids = []
            for phase, traced in ((0, phase0[fname]), (1, phase1[fname])):
                if phase == 1 and traced is phase0[fname]:
                    ids.append(ids[0])
                    continue
                bindings = self._bindings(traced, buffer_index, hyper_index)
                next_phase = 1 if makes_state else 0
                graphs.append(GraphSpec(traced.graph, bindings, next_phase if traced.created or phase == 1 else -1))
                ids.append(len(graphs) - 1)
            inputs = _input_sigs(cf, args)
            functions.append(FunctionSpec(fname, inputs, _output_sigs(cf, phase0[fname], inputs), ids, _summary(cf)))
        saved = [i for i, b in enumerate(self.buffers.values()) if b.saved]
        layouts = [[i for i in saved if list(self.buffers)[i] in self.existing]]
        if makes_state:
            layouts.append(saved)
        specs = list(self.buffers.values())
        meta = {"format": "graphc-export", "model": self.name, "phase": "0",
                **{f"hyper.{h.key}": repr(float(h.value)) for h in self.hypers.values()}}
        image = encode({specs[i].name: specs[i].initial for i in layouts[0]}, meta)
        return ExportSpec(self.name, specs, graphs, functions, list(self.hypers.values()), self.fixed, layouts, image)

    # ------------------------------------------------------------------ naming
    def _name_tensors(self, traced: _Traced) -> None:
        """Names of the persistent tensors a trace reads or writes, as they are saved."""
        tracer = traced.tracer
        names: dict[int, tuple[str, bool]] = {}
        for m in tracer.modules.values():  # the outermost module first: its state_dict names
            for n, p in m.named_parameters():
                names.setdefault(id(p), (n, True))
                if isinstance(p._grad, Tensor):
                    names.setdefault(id(p._grad), (f"{n}.grad", False))
            for n, b in m.named_buffers():
                names.setdefault(id(b), (n, True))
        param_name = {i: n for i, (n, _) in names.items()}
        opts = list(tracer.optimizers.values())
        for j, opt in enumerate(opts):
            head = "optimizer" if len(opts) == 1 else f"optimizer{j}"
            for p, state in opt.state.items():
                for k, v in state.items():
                    if isinstance(v, Tensor):
                        names[id(v)] = (f"{head}.{param_name.get(id(p), p._name_hint or 'param')}.{k}", True)
            for group in opt.param_groups:
                for p in group["params"]:
                    if isinstance(p._grad, Tensor):
                        names.setdefault(id(p._grad), (f"{param_name.get(id(p), p._name_hint or 'param')}.grad", False))
        traced.names = {}
        owner: dict[str, int] = {}
        for p, t in tracer.bound.items():
            if p.role == "const":
                continue
            if id(t) not in names:
                if id(t) not in self.fallback_names:
                    base = t._name_hint or "state"
                    taken = set(self.fallback_names.values())
                    n, k = base, 1
                    while n in taken:
                        k += 1
                        n = f"{base}_{k}"
                    self.fallback_names[id(t)] = n
                names[id(t)] = (self.fallback_names[id(t)], True)
            n, saved = names[id(t)]
            if owner.setdefault(n, id(t)) != id(t):
                raise ExportError(f"two different tensors would both be saved as {n!r}",
                                  fix="put every module the functions use into one parent module, so each tensor "
                                      "has its own state_dict name")
            traced.names[p] = (n, saved)

    def _collect(self, traced: _Traced, first: bool) -> None:
        """Register the trace's buffers and hyperparameters."""
        from graphc.runtime.export import BufferSpec, HyperSpec

        tracer = traced.tracer
        live = set(traced.graph.placeholders)
        for p, (n, saved) in traced.names.items():
            t = tracer.bound[p]
            new = t._serial >= tracer.serial_start
            if new:
                traced.created.add(n)
            elif first and p in live:
                self.existing.add(n)
            if n not in self.buffers:
                self.buffers[n] = BufferSpec(n, t.dtype.short, tuple(t.shape), np.array(t._data, copy=True), saved)
        for key, (_, getter) in tracer.hypers.items():
            self.prefixes.add(key[0])
            if key not in self.hypers:
                self.hypers[key] = HyperSpec("", float(getter()))
        for key, h in self.hypers.items():
            h.key, h.aliases = _hyper_names(key, len(self.prefixes) > 1)

    def _fixed_keys(self, tracers) -> None:
        from graphc.optim.optimizer import _NOT_HYPER

        seen = set()
        for tracer in tracers:
            opts = list(tracer.optimizers.values())
            for opt in opts:
                same = [o for o in opts if type(o) is type(opt)]
                prefix = type(opt).__name__.lower() + (str(same.index(opt)) if len(same) > 1 else "")
                for gi, group in enumerate(opt.param_groups):
                    for k, v in group.items():
                        if k == "params" or k in _NOT_HYPER or isinstance(v, bool):
                            continue
                        parts = [None] if isinstance(v, (int, float)) else (
                            range(len(v)) if isinstance(v, tuple) and all(isinstance(x, (int, float)) for x in v) else [])
                        for j in parts:
                            key = (prefix, gi, k) if j is None else (prefix, gi, k, j)
                            if key not in self.hypers:
                                full, aliases = _hyper_names(key, len(self.prefixes) > 1)
                                seen.update([full, *aliases])
        taken = {h.key for h in self.hypers.values()} | {a for h in self.hypers.values() for a in h.aliases}
        self.fixed = sorted(seen - taken)

    def _bindings(self, traced: _Traced, buffer_index, hyper_index) -> list:
        tracer = traced.tracer
        input_pos = {p: i for p, i in traced.inputs}
        tensor_args = sorted(input_pos.values())
        hyper_of = {p: key for key, (p, _) in tracer.hypers.items()}
        bindings = []
        for p in traced.graph.placeholders:
            if p in input_pos:
                bindings.append(("input", tensor_args.index(input_pos[p])))
            elif p.role == "hyper":
                bindings.append(("hyper", hyper_index[hyper_of[p]]))
            elif p in traced.names and p.role != "const":
                bindings.append(("buffer", buffer_index[traced.names[p][0]]))
            else:
                bindings.append(("const", None))
        return bindings


def _hyper_names(key: tuple, with_prefix: bool) -> tuple[str, list[str]]:
    """("sgd", 1, "lr") -> ("param_groups.1.lr", ["lr"]); ("adam", 0, "betas", 0) ->
    ("param_groups.0.betas.0", ["betas.0"]); with several optimizers, "sgd." goes in front."""
    head = f"{key[0]}." if with_prefix else ""
    tail = ".".join(str(x) for x in key[2:])
    return f"{head}param_groups.{key[1]}.{tail}", [f"{head}{tail}"]


def _c_name(text: str, taken: set) -> str:
    n = re.sub(r"\W", "_", text)
    if not n or n[0].isdigit():
        n = "_" + n
    while n in _C_WORDS or n in taken:
        n += "_"
    taken.add(n)
    return n


def _python_function(cf: CompiledFunction):
    return type(cf.module).forward if cf.module is not None else cf.fn


def _input_sigs(cf: CompiledFunction, args) -> list:
    from graphc.runtime.export import TensorSig

    try:
        params = [n for n, p in inspect.signature(_python_function(cf)).parameters.items()
                  if n != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    taken: set = set()
    sigs = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            sigs.append(TensorSig(_c_name(params[i] if i < len(params) else f"in{i}", taken), a.dtype.short,
                                  tuple(a.shape)))
    return sigs


def _output_sigs(cf: CompiledFunction, traced: _Traced, inputs) -> list:
    from graphc.runtime.export import TensorSig

    taken = {t.name for t in inputs}
    names = _return_names(_python_function(cf))
    outs = traced.graph.outputs
    if len(names) != len(outs) or taken & set(names):  # `return x` after `x = f(x)` names no new value
        names = ["output"] if len(outs) == 1 else [f"out{i}" for i in range(len(outs))]
    return [TensorSig(_c_name(n, taken), o.dtype.short, tuple(o.shape)) for n, o in zip(names, outs)]


def _return_names(fn) -> list[str]:
    """The names in the function's last ``return a`` / ``return a, b`` (for the header's argument names)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return []
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value is not None]
    if not returns:
        return []
    value = returns[-1].value
    items = value.elts if isinstance(value, ast.Tuple) else [value]
    return [x.id for x in items if isinstance(x, ast.Name)] if all(isinstance(x, ast.Name) for x in items) else []


def _summary(cf: CompiledFunction) -> str:
    doc = inspect.getdoc(_python_function(cf)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""

