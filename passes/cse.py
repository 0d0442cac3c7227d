"""Common-subexpression elimination: one node per (op, inputs, attrs)."""

from __future__ import annotations

from graphc.ir import Graph, get_op

from .manager import register_pass

# ops whose result is not a pure function of inputs and attributes
_IMPURE = {"assign"}


def _key(node):
    return (node.op, tuple(id(x) for x in node.inputs), tuple(sorted(node.attrs.items(), key=lambda kv: kv[0])), node.type)


@register_pass("cse")
def cse(graph: Graph, ctx=None) -> Graph:
    """Replace each node equal to an earlier one (same op, inputs, attributes) by that one."""
    seen = {}
    for node in list(graph.nodes):
        if node.op in _IMPURE or get_op(node.op).effect:
            continue
        key = _key(node)
        try:
            hash(key)
        except TypeError:
            continue
        if key in seen:
            graph.replace_all_uses(node, seen[key])
            graph.remove(node)
        else:
            seen[key] = node
    return graph
