"""Algebraic simplification and constant folding.

Rewrites that keep every value exactly (bit for bit) as the unsimplified graph computes it:
``x * 1``, ``x / 1``, ``x - 0.0``, ``x + (-0.0)`` (and ``x + 0``, ``x - 0`` for integers; a
float ``x + 0.0`` stays, since it turns -0.0 into +0.0), ``neg(neg(x))``, reshapes / permutes / expands /
casts / slices / pads that change nothing, and sums over no dimension. Nodes whose inputs are
all constants are evaluated with the op's reference implementation; a result filled with one
number becomes a ``constant`` node, any other result a ``const`` placeholder.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.ir import Graph, Node, get_op

from .manager import register_pass


def _scalar_value(node: Node):
    """The number a node is filled with (a ``constant``, maybe reshaped or expanded); else None."""
    while node.op in ("expand", "reshape"):
        node = node.inputs[0]
    if node.op == "constant":
        return node.attrs["value"]
    return None


def _adds_nothing(node: Node, operand: Node) -> bool:
    """Whether adding (``node`` an add) or subtracting (a sub) ``operand`` leaves every value as
    it is. For floats that takes the right zero: ``-0.0 + 0.0`` is ``+0.0``, so ``x + 0.0`` is
    not ``x`` when x is -0.0, while ``x + (-0.0)`` and ``x - 0.0`` always are."""
    value = _scalar_value(operand)
    if value is None or value != 0:
        return False
    if not node.dtype.is_floating_point:
        return True
    negative = math.copysign(1.0, float(value)) < 0
    return negative if node.op == "add" else not negative


def _is_identity(node: Node) -> Node | None:
    """The input this node merely passes on, or None."""
    op, ins, a = node.op, node.inputs, node.attrs
    if op in ("mul", "div") and _scalar_value(ins[1]) == 1 and ins[0].type == node.type:
        return ins[0]
    if op == "mul" and _scalar_value(ins[0]) == 1 and ins[1].type == node.type:
        return ins[1]
    if op in ("add", "sub") and _adds_nothing(node, ins[1]) and ins[0].type == node.type:
        return ins[0]
    if op == "add" and _adds_nothing(node, ins[0]) and ins[1].type == node.type:
        return ins[1]
    if op == "neg" and ins[0].op == "neg":
        return ins[0].inputs[0]
    if op in ("reshape", "expand", "cast") and ins[0].type == node.type:
        return ins[0]
    if op == "permute" and tuple(a["dims"]) == tuple(range(node.ndim)):
        return ins[0]
    if op == "slice" and ins[0].type == node.type:
        return ins[0]
    if op == "pad" and all(lo == 0 and hi == 0 for lo, hi in a["pads"]):
        return ins[0]
    if op == "sum" and not a["dims"] and ins[0].type == node.type:
        return ins[0]
    return None


def _constant_value(graph: Graph, node: Node):
    if node.op == "constant":
        return get_op("constant").ref(**node.attrs)
    if node.is_placeholder and node.attrs["role"] == "const" and node in graph.const_values:
        return np.asarray(graph.const_values[node])
    return None


# folding these would only trade a cheap op for a big constant, or is not allowed
_NO_FOLD = {"assign", "placeholder", "constant", "rand_uniform", "expand"}


@register_pass("simplify")
def simplify(graph: Graph, ctx=None) -> Graph:
    """Remove identity operations and fold constant subexpressions."""
    for node in list(graph.nodes):
        same = _is_identity(node)
        if same is not None:
            graph.replace_all_uses(node, same)
            graph.remove(node)
            continue
        if node.op in _NO_FOLD or not node.inputs:
            continue
        values = [_constant_value(graph, x) for x in node.inputs]
        if any(v is None for v in values):
            continue
        out = np.asarray(get_op(node.op).ref(*values, **node.attrs)).astype(node.dtype.np)
        flat = out.reshape(-1)
        uniform = flat.size and np.all(flat == flat[0]) and not np.isnan(flat[0])
        if uniform and flat.dtype.kind == "f":
            uniform = np.all(np.signbit(flat) == np.signbit(flat[0]))  # -0.0 and 0.0 differ
        if uniform:
            value = flat[0].item()
            folded = graph.add("constant", value=value, dtype=node.dtype.short, shape=node.shape, loc=node.loc, before=node)
        else:
            folded = graph.placeholder(node.name + ".folded", node.type, role="const", value=out, loc=node.loc)
        graph.replace_all_uses(node, folded)
        graph.remove(node)
    return graph
