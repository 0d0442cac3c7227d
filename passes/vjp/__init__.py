"""VJP rules: for each differentiable op, how the gradient of its output flows to its inputs.

A rule is a plain function registered in :data:`VJP_RULES` under its op's name::

    @vjp("exp")
    def _exp(b, node, grad, needs):
        return (b.mul(grad, node),)          # d exp(x) = exp(x) dx

It receives a :class:`GradBuilder` (which appends nodes to the graph, tagged with the forward
node's source line), the forward node, the gradient of its output, and ``needs``, one bool per
input saying whether that input's gradient is wanted. It returns one gradient node (or None)
per input, each with the input's shape. Rules build graph nodes, never compute numbers, so they
serve eager backward and compiled steps alike, and can be printed and tested one by one.
"""

from __future__ import annotations

from graphc.ir import Graph, Node

VJP_RULES: dict = {}


def vjp(*ops: str):
    """Register the decorated function as the VJP rule of each op named."""

    def register(fn):
        for op in ops:
            VJP_RULES[op] = fn
        return fn

    return register


class GradBuilder:
    """Appends backward nodes to a graph; small helpers keep the rules one line each."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.loc = None

    def add(self, op: str, *inputs: Node, **attrs) -> Node:
        return self.graph.add(op, *inputs, loc=self.loc, **attrs)

    def const(self, value, like: Node, shape=()) -> Node:
        return self.add("constant", value=value, dtype=like.dtype.short, shape=tuple(shape))

    def mul(self, a, b):
        return self.add("mul", a, b)

    def div(self, a, b):
        return self.add("div", a, b)

    def neg(self, a):
        return self.add("neg", a)

    def sum_to(self, x: Node, shape: tuple[int, ...]) -> Node:
        """Sum a broadcast gradient back down to ``shape`` (undoing numpy broadcasting)."""
        if x.shape == tuple(shape):
            return x
        lead = x.ndim - len(shape)
        dims = list(range(lead))
        dims += [lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1]
        out = self.add("sum", x, dims=dims, keepdim=True) if dims else x
        if out.shape != tuple(shape):
            out = self.add("reshape", out, shape=tuple(shape))
        return out


# importing the rule modules fills VJP_RULES
from . import composite, elementwise, index, movement, nn, random, reduce  # noqa: E402,F401
