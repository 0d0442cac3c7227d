"""Kernel fusion: decide which values are stored to memory; everything else is fused.

Pointwise ops (elementwise math and movement: reshape, permute, expand, slice, pad, concat,
flip) are computed inside the kernel that reads them, so a chain such as
``relu(x @ w + b)`` or a whole optimizer update becomes a single loop nest. A value is
*materialized* (gets a buffer and a kernel of its own) when:

- it is a graph output;
- its op is not pointwise (reductions, matmul, convolution, pooling, gathers, random);
- it is an operand of a matmul or convolution (those read each element many times), except
  that views (permute, reshape, expand, slice) read only by matmuls are not stored: the
  GEMM reads the value under them in place, with strides;
- it is pointwise but read by more than one kernel (recomputing it would repeat work).

The plan is stored in ``graph.meta["fusion"]`` as a :class:`FusionPlan`, with the reason for
every materialized value, which the compile report shows. Backends follow it; without this
pass every op becomes its own kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir import Graph, Node, get_op

from .manager import register_pass

POINTWISE_KINDS = {"elementwise", "movement"}
VIEW_OPS = {"permute", "reshape", "expand", "slice"}
OPERAND_HEAVY = {"matmul", "conv2d", "conv2d_backward_input", "conv2d_backward_weight"}


@dataclass
class FusionPlan:
    materialized: dict[Node, str] = field(default_factory=dict)  # node -> why it is stored

    def is_materialized(self, node: Node) -> bool:
        return node in self.materialized


def _pointwise(node: Node) -> bool:
    return get_op(node.op).kind in POINTWISE_KINDS or node.op == "constant"


@register_pass("fuse")
def fuse(graph: Graph, ctx=None) -> Graph:
    """Record in graph.meta["fusion"] which values get buffers; the rest fuse into their readers."""
    plan = FusionPlan()
    outputs = set(graph.outputs)
    readers: dict[Node, list[Node]] = {n: [] for n in graph}
    for n in graph.nodes:
        for x in n.inputs:
            readers[x].append(n)

    for node in graph.nodes:
        if node.op in ("assign", "constant"):
            continue
        if node in outputs:
            plan.materialized[node] = "graph output"
        elif not _pointwise(node):
            plan.materialized[node] = f"{node.op} is not pointwise"
        elif any(r.op in OPERAND_HEAVY for r in readers[node]):
            if node.op in VIEW_OPS and all(r.op == "matmul" or r.op in VIEW_OPS for r in readers[node]):
                continue  # a view only matmuls read: the GEMM reads its base in place, with strides
            plan.materialized[node] = "operand of a matmul or convolution"
    for node in graph.nodes:
        if node.op in VIEW_OPS and node not in plan.materialized and all(
                r.op == "matmul" or r.op in VIEW_OPS for r in readers[node]) and any(r.op == "matmul" for r in readers[node]):
            base = node
            while base.op in VIEW_OPS and base not in plan.materialized:
                base = base.inputs[0]
            if not base.is_placeholder and base.op != "constant":
                plan.materialized.setdefault(base, "matmul operand (read in place through views)")
    # a pointwise value read by several kernels is computed once; readers that are themselves
    # fused count through the kernel they end up in, so resolve from the last node backwards
    for node in reversed(graph.nodes):
        if node in plan.materialized or node.op in ("assign", "constant") or not _pointwise(node):
            continue
        kernels = {_kernel_of(r, plan) for r in readers[node]}
        if len(kernels) > 1:
            plan.materialized[node] = f"read by {len(kernels)} kernels"
    graph.meta["fusion"] = plan
    return graph


def _kernel_of(node: Node, plan: FusionPlan):
    """The materialized node (or assign) whose kernel computes ``node``; a fused node may feed several."""
    if node.op == "assign" or node in plan.materialized:
        return node
    seen = set()
    stack = [node]
    roots = set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for u in n.users:
            if u.op == "assign" or u in plan.materialized:
                roots.add(u)
            else:
                stack.append(u)
    return frozenset(roots) if len(roots) != 1 else next(iter(roots))
