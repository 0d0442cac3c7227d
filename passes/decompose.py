"""Decompose composite ops (softmax, log_softmax, gelu, layer_norm, linear) into the core ops they are made of.

Each composite op carries its decomposition in the op registry (``OpDef.decompose``, see
graphc.ir.ops.composite). This pass runs first in the compile pipeline, after autodiff and the
optimizer update (which happen during the trace), so every later pass and every backend sees core
ops only. The core nodes are inserted where the composite stood and keep its source line; the node
computing the result takes over the composite's name when it had one from the user's code::

    %y:f32[2,3] = log_softmax %x {dim=1}            # model.py:7

becomes

    %0:f32[2,1] = max %x {dims=[1], keepdim=true}   # model.py:7
    %1:f32[2,3] = sub %x, %0                        # model.py:7
    %2:f32[2,3] = exp %1                            # model.py:7
    %3:f32[2,1] = sum %2 {dims=[1], keepdim=true}   # model.py:7
    %4:f32[2,1] = log %3                            # model.py:7
    %y:f32[2,3] = sub %1, %4                        # model.py:7
"""

from __future__ import annotations

from graphc.ir import Graph, get_op
from graphc.ir.errors import CompileError
from graphc.ir.ops.composite import InsertBefore

from .manager import register_pass


@register_pass("decompose")
def decompose(graph: Graph, ctx=None) -> Graph:
    """Replace every composite op by the core ops of its decomposition."""
    for node in list(graph.nodes):
        expand = get_op(node.op).decompose
        if expand is None:
            continue
        b = InsertBefore(graph, node)
        out = expand(b, node)
        if out.type != node.type:
            raise CompileError(f"the decomposition of %{node.name} ({node.op}) gives {out.type}, not {node.type}",
                               loc=node.loc)
        name = node.name
        graph.replace_all_uses(node, out)
        graph.remove(node)
        if any(out is n for n in b.created) and not name.isdigit():
            graph.rename(out, name)  # a name from the user's code stays with the value
    return graph
