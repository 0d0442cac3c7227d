"""Kernel fusion: decide which values are stored to memory and which kernel computes each one.

Pointwise ops (elementwise math, movement: reshape, permute, expand, slice, pad, concat, flip,
and the indexed reads gather/take) are computed inside the kernel that reads them, so a chain
such as an optimizer update becomes a single loop nest. A value is *materialized* (gets a
buffer) when:

- it is a graph output;
- its op is not pointwise (reductions, matmul, convolution, pooling, scatters, random);
- it is an operand of a matmul or convolution (those read each element many times), except
  that views (permute, reshape, expand, slice) read only by matmuls are not stored: the
  GEMM reads the value under them in place, with strides;
- it is pointwise, read by more than one kernel, and not cheap to recompute (a view, a cast,
  a scalar or one add/sub/mul of stored values is recomputed by each reader instead).

Then kernels are grouped (``passes/fuse_groups.py``):

- **epilogues**: a matmul or reduction stores the pointwise values that read it element by
  element (``relu(x @ w.T + b)`` is one GEMM kernel) and the optimizer updates that ride on it
  (``graph.meta["optimizer_fusion"]``, from ``passes/fuse_optimizer.py``), writing them straight
  into their buffers or parameter placeholders; the matmul's own output then needs no buffer;
- **sibling reductions** over the same domain share one loop with several accumulators, and
  ``sum(exp(x - max(x)))`` becomes an online softmax (running max and rescaled sum in one pass).

The kernel order, and which epilogue stores are safe (an update written early must not be read
afterwards), is ``passes/fuse_schedule.py``'s: stores it rejects are dropped and the groups
formed again.

The plan is ``graph.meta["fusion"]``, a :class:`FusionPlan`: the reason for every materialized
value, the groups, the kernel order, and why neighbours did not fuse (``report()`` shows both). Backends follow it; without this pass every op becomes its own
kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir import Graph, Node, get_op

from .manager import register_pass

POINTWISE_KINDS = {"elementwise", "movement"}
INDEXED_READS = {"gather", "take"}  # pointwise with a data-dependent index: fused like elementwise
VIEW_OPS = {"permute", "reshape", "expand", "slice"}
OPERAND_HEAVY = {"matmul", "conv2d", "conv2d_backward_input", "conv2d_backward_weight"}
_CHEAP_OPS = {"add", "sub", "mul", "neg", "where", "ne", "eq", "lt", "le", "gt", "ge", "maximum", "minimum"}


@dataclass
class FusedKernel:
    """One kernel that computes several values: ``producers`` (a matmul, or reductions over one
    domain) in its loop, then at each produced element the ``ends`` (pointwise values and
    assigns) whose index maps back to that element through ``paths`` (producer .. end value)."""

    kind: str  # "gemm", "reduce", "online_softmax" or "stored" (a convolution, then its epilogue)
    producers: list[Node]
    ends: list[Node] = field(default_factory=list)
    paths: dict[Node, list[Node]] = field(default_factory=dict)
    accumulator: Node | None = None  # gemm: the end whose buffer accumulates the product in place

    @property
    def root(self) -> Node:
        return self.producers[-1]


@dataclass
class FusionPlan:
    materialized: dict[Node, str] = field(default_factory=dict)  # node -> why it is stored
    groups: dict[Node, FusedKernel] = field(default_factory=dict)  # group root -> group
    member: dict[Node, Node] = field(default_factory=dict)  # producer or end -> its group root
    order: list[Node] = field(default_factory=list)  # kernel roots in execution order (assigns last)
    schedule: list = field(default_factory=list)  # PlannedKernel per kernel, in order (fuse_schedule)
    not_fused: dict[Node, str] = field(default_factory=dict)  # why a value did not join its neighbour

    def is_materialized(self, node: Node) -> bool:
        return node in self.materialized

    def riding_assigns(self) -> set[Node]:
        return {e for g in self.groups.values() for e in g.ends if e.op == "assign"}

    def report(self) -> str:
        lines = [f"{len(self.order)} kernels before the updates"]
        for r in self.order:
            g = self.groups.get(r)
            extra = f" + {', '.join('%' + e.name if e.op != 'assign' else 'assign %' + e.inputs[0].name for e in g.ends)}" if g and g.ends else ""
            lines.append(f"  %{r.name} ({r.op}){extra}")
        for n, why in self.not_fused.items():
            lines.append(f"  not fused %{n.name if n.op != 'assign' else 'assign ' + n.inputs[0].name}: {why}")
        return "\n".join(lines)


def pointwise(node: Node) -> bool:
    return get_op(node.op).kind in POINTWISE_KINDS or node.op in INDEXED_READS or node.op == "constant"


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _cost(node: Node, plan: FusionPlan, limit: int) -> int:
    """Scalar operations per element to recompute ``node`` inline (stored values cost nothing);
    anything over ``limit`` reads as 99."""
    if node.is_placeholder or node.op == "constant" or node in plan.materialized:
        return 0
    if not pointwise(node):
        return 99
    total = 0 if node.op in VIEW_OPS or node.op == "cast" else (1 if node.op in _CHEAP_OPS else 99)
    for x in node.inputs:
        if total > limit:
            break
        total += _cost(x, plan, limit - total)
    return total if total <= limit else 99


def cheap(node: Node, plan: FusionPlan) -> bool:
    """Recomputing ``node`` in each reader costs about what loading it would."""
    return _cost(node, plan, 2) <= 2 or _numel(node.shape) <= 1 and _cost(node, plan, 8) <= 8


def base_materialization(graph: Graph, plan: FusionPlan, readers, rides: dict[Node, Node]) -> None:
    outputs = set(graph.outputs)
    for node in graph.nodes:
        if node.op in ("assign", "constant"):
            continue
        if node in outputs:
            plan.materialized[node] = "graph output"
        elif not pointwise(node):
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
    # a pointwise value read by several kernels is computed once unless it is cheap; readers that
    # are themselves fused count through the kernel they end up in (an update riding on its
    # gradient's kernel counts as that kernel), so resolve from the last node backwards
    for node in reversed(graph.nodes):
        if node in plan.materialized or node.op in ("assign", "constant") or not pointwise(node):
            continue
        kernels = {_kernel_of(r, plan, rides) for r in readers[node]}
        if len(kernels) > 1:
            if cheap(node, plan):
                plan.not_fused[node] = f"recomputed by each of its {len(kernels)} reading kernels (cheap)"
            else:
                plan.materialized[node] = f"read by {len(kernels)} kernels"
    bound_inline_size(graph, plan)


INLINE_LIMIT = 512  # operations in one kernel's inlined expression tree before inputs get buffers


def bound_inline_size(graph: Graph, plan: FusionPlan) -> None:
    """Give buffers to inlined values where a kernel's expression tree would pass ``INLINE_LIMIT``.

    A pointwise value is inlined into its reader as a tree: a value read twice in one kernel
    (``x`` and ``x`` shifted, as a doubling scan reads it) is expanded twice, so k such steps
    make a tree of 2^k copies (6^k for a log-add-exp scan), which the lowering would build and
    LLVM would compile. Walking the graph in order, a node whose tree would pass the limit gets
    its largest inlined inputs stored instead, so every tree stays within the limit."""
    size: dict[Node, int] = {}

    def inlined(x: Node) -> int:
        return size.get(x, 0) if x not in plan.materialized else 0

    for node in graph.nodes:
        if node.is_placeholder or node.op == "constant":
            continue
        need = 1 + sum(inlined(x) for x in node.inputs)
        if need > INLINE_LIMIT:
            for x in sorted({x for x in node.inputs if inlined(x)}, key=inlined, reverse=True):
                need -= node.inputs.count(x) * inlined(x)
                plan.materialized[x] = f"its inlined expression ({size[x]} operations) is read {node.inputs.count(x)}x " \
                                       f"by %{node.name}, whose tree would pass {INLINE_LIMIT}"
                if need <= INLINE_LIMIT:
                    break
        size[node] = need if pointwise(node) and node.op != "assign" else 0


def _kernel_of(node: Node, plan: FusionPlan, rides: dict[Node, Node]):
    """The materialized node (or assign) whose kernel computes ``node``; a fused node may feed several."""
    if node.op == "assign":
        return rides.get(node, node)
    if node in plan.materialized:
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
            if u.op == "assign":
                roots.add(rides.get(u, u))
            elif u in plan.materialized:
                roots.add(u)
            else:
                stack.append(u)
    return frozenset(roots) if len(roots) != 1 else next(iter(roots))


@register_pass("fuse")
def fuse(graph: Graph, ctx=None) -> Graph:
    """Record in graph.meta["fusion"] which values get buffers and which kernel computes each."""
    from .fuse_groups import form_groups

    opt = graph.meta.get("optimizer_fusion")
    rides = dict(opt.rides) if opt is not None else {}
    plan = FusionPlan()
    readers: dict[Node, list[Node]] = {n: [] for n in graph}
    for n in graph.nodes:
        for x in n.inputs:
            readers[x].append(n)
    if opt is not None:
        plan.not_fused.update(opt.reasons)
    form_groups(graph, plan, readers, rides, lambda p, live: base_materialization(graph, p, readers, live))
    graph.meta["fusion"] = plan
    return graph
