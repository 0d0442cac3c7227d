"""The pass manager: named passes, pipelines, and instruments that watch every pass.

A pass is a function ``(graph, ctx) -> graph`` registered by name::

    from graphc.passes import register_pass

    @register_pass("fold_double_neg")
    def fold_double_neg(graph, ctx):
        ...
        return graph

A :class:`Pipeline` is an ordered list of pass names that can be edited (insert before/after,
disable, replace). :func:`run_pipeline` runs it under a :class:`PassContext`, whose instruments
get ``run_before_pass`` / ``run_after_pass`` calls: timing, IR dumps and the verifier are
instruments, and so is anything a researcher wants to measure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from graphc.ir import Graph
from graphc.ir.errors import CompileError


@dataclass
class PassInfo:
    name: str
    fn: Callable[[Graph, PassContext], Graph]
    doc: str = ""


PASSES: dict[str, PassInfo] = {}


def _origin(fn) -> tuple[str, str]:
    return getattr(fn, "__module__", ""), getattr(fn, "__qualname__", repr(fn))


def register_pass(name: str | None = None):
    """Register a pass function under ``name`` (default: the function's name)."""

    def register(fn):
        key = name or fn.__name__
        old = PASSES.get(key)
        # the same function defined again (a re-run notebook cell, a reloaded module) replaces itself
        if old is not None and _origin(old.fn) != _origin(fn):
            raise CompileError(f"a pass named {key!r} is already registered (by {old.fn.__module__}.{old.fn.__qualname__})",
                               fix="choose another name")
        PASSES[key] = PassInfo(key, fn, (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return register


def get_pass(name: str) -> PassInfo:
    try:
        return PASSES[name]
    except KeyError:
        raise CompileError(f"no pass named {name!r}", fix=f"registered passes: {sorted(PASSES)}") from None


class Instrument:
    """Watches a pipeline. Override the hooks you need."""

    def run_before_pass(self, name: str, graph: Graph, ctx: PassContext) -> None:
        pass

    def run_after_pass(self, name: str, graph: Graph, ctx: PassContext) -> None:
        pass


class TimingInstrument(Instrument):
    """Records the wall time of each pass in ``self.times`` (name -> seconds)."""

    def __init__(self):
        self.times: dict[str, float] = {}
        self._start = 0.0

    def run_before_pass(self, name, graph, ctx):
        self._start = time.perf_counter()

    def run_after_pass(self, name, graph, ctx):
        self.times[name] = self.times.get(name, 0.0) + time.perf_counter() - self._start


class VerifyInstrument(Instrument):
    """Runs the IR verifier after every pass, naming the pass that broke the graph."""

    def run_after_pass(self, name, graph, ctx):
        from graphc.ir.verifier import verify

        try:
            verify(graph)
        except Exception as e:
            raise CompileError(f"the graph is malformed after pass {name!r}: {e}") from e


class DumpIRInstrument(Instrument):
    """Writes the graph before the first pass and after every pass as ``NNN_passname.gir`` files."""

    def __init__(self, folder):
        import os

        self.folder = os.fspath(folder)
        self.count = 0

    def _write(self, name: str, graph: Graph) -> None:
        import os

        from graphc.ir.parser import save_gir

        os.makedirs(self.folder, exist_ok=True)
        save_gir(graph, os.path.join(self.folder, f"{self.count:03d}_{name}.gir"))
        self.count += 1

    def run_before_pass(self, name, graph, ctx):
        if self.count == 0:
            self._write("trace", graph)

    def run_after_pass(self, name, graph, ctx):
        self._write(name, graph)


def instruments_from_env() -> list[Instrument]:
    """``GRAPHC_DUMP_IR=dir`` dumps every stage; ``GRAPHC_VERIFY=1`` verifies after every pass."""
    import os

    out: list[Instrument] = []
    if os.environ.get("GRAPHC_VERIFY", "0") not in ("0", ""):
        out.append(VerifyInstrument())
    if os.environ.get("GRAPHC_DUMP_IR"):
        out.append(DumpIRInstrument(os.environ["GRAPHC_DUMP_IR"]))
    return out


class RecordIRInstrument(Instrument):
    """Keeps the IR text of every stage in ``self.stages``: ``[("trace", text), (pass, text), ...]``."""

    def __init__(self):
        self.stages: list[tuple[str, str]] = []

    def run_before_pass(self, name, graph, ctx):
        if not self.stages:
            self.stages.append(("trace", str(graph)))

    def run_after_pass(self, name, graph, ctx):
        self.stages.append((name, str(graph)))


@dataclass
class PassContext:
    """Options and instruments for one pipeline run; passes may keep notes in ``info``.

    ``stop_after`` names the last pass to run (``"trace"`` runs none): the rest of the pipeline
    is skipped, so the backend compiles the graph as it stands after that pass.
    """

    instruments: list[Instrument] = field(default_factory=list)
    disabled: set[str] = field(default_factory=set)
    info: dict = field(default_factory=dict)
    stop_after: str | None = None


class Pipeline:
    """An editable, ordered list of pass names."""

    def __init__(self, names: Iterable[str]):
        self.names = list(names)

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise CompileError(f"pass {name!r} is not in the pipeline {self.names}") from None

    def insert_before(self, anchor: str, name: str) -> Pipeline:
        self.names.insert(self._index(anchor), name)
        return self

    def insert_after(self, anchor: str, name: str) -> Pipeline:
        self.names.insert(self._index(anchor) + 1, name)
        return self

    def remove(self, name: str) -> Pipeline:
        self.names.pop(self._index(name))
        return self

    disable = remove

    def replace(self, old: str, new: str) -> Pipeline:
        """Run pass ``new`` where ``old`` was."""
        self.names[self._index(old)] = new
        return self

    def until(self, name: str) -> Pipeline:
        """The pipeline up to and including ``name`` (``"trace"``: no pass at all)."""
        return Pipeline([] if name == "trace" else self.names[: self._index(name) + 1])

    def copy(self) -> Pipeline:
        return Pipeline(self.names)

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return "Pipeline([" + ", ".join(repr(n) for n in self.names) + "])"

    def __str__(self) -> str:
        """One pass per line with the first line of its docstring."""
        width = max((len(n) for n in self.names), default=0)
        return "\n".join(f"{i + 1:>2}. {n:<{width}}  {PASSES[n].doc if n in PASSES else '(not registered)'}"
                         for i, n in enumerate(self.names))


def run_pipeline(graph: Graph, pipeline: Iterable[str], ctx: PassContext | None = None) -> Graph:
    """Run the named passes in order, calling the context's instruments around each."""
    ctx = ctx or PassContext()
    names = list(pipeline)
    if ctx.stop_after is not None and ctx.stop_after != "trace" and ctx.stop_after not in names:
        raise CompileError(f"cannot stop after pass {ctx.stop_after!r}: it is not in the pipeline {names}",
                           fix=f"choose one of: trace, {', '.join(names)}")
    if ctx.stop_after == "trace":
        return graph
    for name in names:
        if name not in ctx.disabled:
            info = get_pass(name)
            for inst in ctx.instruments:
                inst.run_before_pass(name, graph, ctx)
            graph = info.fn(graph, ctx)
            for inst in ctx.instruments:
                inst.run_after_pass(name, graph, ctx)
        if name == ctx.stop_after:
            break
    return graph
