"""Optimizer fusion: let each parameter update ride on the kernel that produces its gradient.

A traced ``opt.step()`` leaves ``assign`` nodes (``buf' = m*buf + g``, ``p' = p - lr*buf'``,
the ``.grad`` store) that would otherwise run as kernels of their own after the whole backward
pass, reading the gradient back from memory. This pass finds, for every assign, the kernel
that produces its gradient: the matmul or reduction from which the assigned value follows
element by element through pointwise ops (a weight-gradient GEMM, a bias-gradient sum). It
records ``graph.meta["optimizer_fusion"]``, an :class:`OptimizerFusion` (assign -> producer,
and for the others why not); the fusion pass then stores the update in that kernel's epilogue,
straight into the parameter and state buffers, so a full gradient buffer is often never written.

Correctness: the IR says every read of a placeholder sees its value at entry and assigns take
effect at the end. Writing an update early is safe only if nothing that runs later reads the
placeholder. This pass rejects an update when a node after the producer in graph order, other
than the update's own arithmetic, reads the target (e.g. the grad-input GEMM of the same layer
reading W); the fusion pass repeats the check on the final kernel order (a reader fused into a
later kernel counts) and keeps any update that fails it at the end of the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir import Graph, Node, get_op

from .manager import register_pass

PRODUCERS = {"matmul", "sum", "max", "conv2d", "conv2d_backward_weight"}
_THROUGH = {"elementwise", "movement"}


@dataclass
class OptimizerFusion:
    rides: dict[Node, Node] = field(default_factory=dict)  # assign -> the node whose kernel stores it
    reasons: dict[Node, str] = field(default_factory=dict)  # assign -> why it stays at the end


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _expression(value: Node) -> tuple[set[Node], list[Node]]:
    """The pointwise nodes computing ``value`` and the producers (matmul/reduction) they start from."""
    nodes, producers, stack = set(), [], [value]
    while stack:
        n = stack.pop()
        if n in nodes or n.is_placeholder:
            continue
        kind = get_op(n.op).kind
        if n.op in PRODUCERS:
            if n not in producers:
                producers.append(n)
            continue
        if kind not in _THROUGH and n.op != "constant":
            continue
        nodes.add(n)
        stack.extend(n.inputs)
    return nodes, producers


@register_pass("fuse_optimizer")
def fuse_optimizer(graph: Graph, ctx=None) -> Graph:
    """Record in graph.meta["optimizer_fusion"] which update rides on which gradient kernel."""
    result = OptimizerFusion()
    pos = {n: i for i, n in enumerate(graph.nodes)}
    for a in graph.assigns:
        target, value = a.inputs
        nodes, producers = _expression(value)
        producers = [p for p in producers if _numel(p.shape) == _numel(value.shape) and p.dtype.is_floating_point]
        if not producers:
            result.reasons[a] = "its value does not follow element by element from a matmul or reduction"
            continue
        g = max(producers, key=pos.get)
        later = [r for r in target.users if r is not a and r not in nodes and pos.get(r, -1) > pos[g]]
        if later:
            result.reasons[a] = (f"%{later[0].name} ({later[0].op}) reads %{target.name} after its gradient "
                                 f"%{g.name} is computed: the update is written at the end of the step")
            continue
        result.rides[a] = g
    graph.meta["optimizer_fusion"] = result
    return graph
