"""Dead-code elimination: drop nodes nothing needs. ``assign`` nodes are side effects and stay."""

from __future__ import annotations

from graphc.ir import Graph, get_op

from .manager import register_pass


@register_pass("dce")
def dce(graph: Graph, ctx=None) -> Graph:
    """Remove nodes whose values reach neither an output nor an assign; keeps placeholders."""
    live = set(graph.outputs)
    for node in reversed(graph.nodes):
        if node in live or get_op(node.op).effect:
            live.add(node)
            live.update(node.inputs)
    for node in reversed(list(graph.nodes)):
        if node not in live:
            graph.remove(node)
    return graph
