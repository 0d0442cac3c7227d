"""Backends: each turns a graph into an executable with a small, fixed interface.

``get_backend(name).compile(graph) -> Executable``; ``executable.run(arrays)`` takes one
numpy array per placeholder (in ``graph.placeholders`` order), writes ``assign`` updates into
the given arrays in place, and returns the outputs as fresh arrays.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import Graph
from graphc.ir.errors import CompileError

from .reference import interpret


class ReferenceExecutable:
    """Runs the graph with the numpy reference interpreter (no compilation)."""

    kernel_count = None

    def __init__(self, graph: Graph):
        self.graph = graph

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        feeds = dict(zip(self.graph.placeholders, arrays))
        outs = interpret(self.graph, feeds)
        fed = {id(a) for a in arrays}
        # outputs never alias a bound array: the caller owns what it gets back
        return [np.array(o, copy=True) if id(o) in fed or not o.flags.owndata else o for o in outs]


class ReferenceBackend:
    name = "reference"

    def compile(self, graph: Graph) -> ReferenceExecutable:
        return ReferenceExecutable(graph)


_BACKENDS = {"reference": ReferenceBackend}


def register_backend(name: str, cls) -> None:
    _BACKENDS[name] = cls


def get_backend(name: str, **options):
    """A backend by name; ``options`` go to its constructor (``get_backend("cuda", device=1)``)."""
    if name == "llvm" and "llvm" not in _BACKENDS:
        try:
            from . import llvm  # noqa: F401  (registers itself)
        except ImportError as e:
            raise CompileError(f"the llvm backend is not available: {e}", fix="use backend='reference'") from e
    if name == "cuda" and "cuda" not in _BACKENDS:
        from .cuda import backend  # noqa: F401  (registers itself; needs no GPU until compile())
    try:
        cls = _BACKENDS[name]
    except KeyError:
        raise CompileError(f"unknown backend {name!r}",
                           fix=f"choose one of {sorted(set(_BACKENDS) | {'llvm', 'cuda'})}") from None
    return cls(**options)
