"""IR text: one typed single-assignment line per node. ``graphc.ir.parser`` reads it back exactly.

::

    graph step {
      %x:f32[64,784] = input
      %l1.weight:f32[256,784] = param
      %0:f32[784,256] = permute %l1.weight {dims=[1,0]}
      %1:f32[64,256] = matmul %x, %0  # model.py:12
      %2:f32[] = sum %1 {dims=[0,1], keepdim=false}
      assign %l1.weight, %9
      return %2
    }

Attribute values: ints, floats (``inf``, ``-inf``, ``nan`` spelled so), ``true``/``false``,
double-quoted strings, and ``[...]`` lists, nested for pairs.
"""

from __future__ import annotations

import json
import math


def format_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "none"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(format_value(x) for x in v) + "]"
    raise TypeError(f"attribute value {v!r} is not plain data")


def format_attrs(attrs: dict) -> str:
    if not attrs:
        return ""
    return " {" + ", ".join(f"{k}={format_value(v)}" for k, v in attrs.items()) + "}"


def format_node(node, locs: bool = True) -> str:
    if node.op == "placeholder":
        text = f"%{node.name}:{node.type} = {node.attrs['role']}"
    else:
        args = ", ".join(f"%{x.name}" for x in node.inputs)
        rhs = f"{node.op} {args}" if args else node.op
        rhs += format_attrs(node.attrs)
        text = rhs if node.type is None else f"%{node.name}:{node.type} = {rhs}"
    if locs and node.loc:
        text += f"  # {node.loc}"
    return text


def format_graph(graph, locs: bool = True) -> str:
    """The graph as IR text. ``locs=False`` leaves out source locations (for golden tests)."""
    lines = [f"graph {graph.name} {{"]
    lines += ["  " + format_node(n, locs) for n in graph]
    lines.append("  return " + ", ".join(f"%{o.name}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines)
