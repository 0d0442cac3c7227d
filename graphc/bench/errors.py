"""The benchmark's errors (all :class:`graphc.GraphcError`)."""

from __future__ import annotations

from graphc.ir.errors import GraphcError, GraphcValueError


class BenchError(GraphcError, RuntimeError):
    """The benchmark could not produce trustworthy figures."""


class Disagreement(BenchError):
    """A contender's losses or outputs differ from the reference's: nothing may be timed."""


__all__ = ["BenchError", "Disagreement", "GraphcValueError"]
