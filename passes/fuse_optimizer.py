"""Optimizer fusion: move each parameter update next to the kernel that produces its gradient.

A traced ``opt.step()`` leaves ``assign`` nodes (``buf' = m*buf + g``, ``p' = p - lr*buf'``,
the ``.grad`` store) after the whole backward pass; run as kernels of their own, they would
read every gradient back from memory. For each assign this pass finds the *producer* of its
gradient: the matmul, reduction or convolution from which the assigned value follows element
by element through pointwise ops (a weight-gradient GEMM, a bias-gradient sum). It then

- computes a weight gradient that the graph transposes (``permute(x.T @ dY, (1, 0))``) as the
  transposed product (``dY.T @ x``) so it comes out in the parameter's layout,
- moves the update's pointwise arithmetic and the assign right after the producer in the graph
  (the IR lets an assign sit anywhere after its value: reads of a placeholder always see its
  value at entry), and
- records ``graph.meta["optimizer_fusion"]``, an :class:`OptimizerFusion`: assign -> producer,
  and for the others why they stay at the end of the step.

The fusion pass (``passes/fuse.py``) stores a riding update in the producer kernel's epilogue,
straight into the parameter and state buffers, so a full gradient buffer is often never
written. Writing a placeholder early is safe only if every other reader of its old value runs
first. This pass rejects what can never be ordered so: a reader that needs the producer's
result (it runs after the producer whatever the order), or the producer reading the target
itself. Everything else is left to the kernel schedule (``passes/fuse_schedule.py``), which
puts such readers (the grad-input GEMM reading ``W``) before the producer's kernel and drops an
update from the epilogue when no order works.

Example (one linear layer, SGD with momentum)::

    %gw:f32[3,4] = matmul %dy.T, %x
    %nb = add (mul %buf, 0.9), %gw          # moved here, right after %gw
    %nw = sub %w, (mul %nb, 0.1)
    assign %buf, %nb
    assign %w, %nw
    %dx:f32[6,4] = matmul %dy, %w           # still reads the old %w
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

    def report(self) -> str:
        """One line per assign: the kernel it rides on, or why it stays at the end of the step."""
        lines = []
        for a, g in self.rides.items():
            lines.append(f"assign %{a.inputs[0].name} rides on %{g.name} ({g.op})")
        for a, why in self.reasons.items():
            lines.append(f"assign %{a.inputs[0].name} stays at the end: {why}")
        return "\n".join(lines)


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
        if n.op in PRODUCERS:
            if n not in producers:
                producers.append(n)
            continue
        if get_op(n.op).kind not in _THROUGH and n.op != "constant":
            continue
        nodes.add(n)
        stack.extend(n.inputs)
    return nodes, producers


def _descendants(node: Node) -> set[Node]:
    out, stack = set(), list(node.users)
    while stack:
        n = stack.pop()
        if n not in out:
            out.add(n)
            stack.extend(n.users)
    return out


def _ancestors_after(value: Node, start: int, pos: dict[Node, int]) -> list[Node]:
    """``value`` and the nodes it needs that come after position ``start``, in graph order."""
    out, stack = set(), [value]
    while stack:
        n = stack.pop()
        if n in out or n.is_placeholder or pos[n] <= start:
            continue
        out.add(n)
        stack.extend(n.inputs)
    return sorted(out, key=pos.get)


def _orient(graph: Graph, g: Node) -> Node:
    """A 2-D matmul read only through a transpose (``permute(dW.T-ish, (1, 0))``) becomes the
    matmul of the transposed operands, so the gradient comes out in the parameter's layout and
    the update's epilogue writes contiguously (the GEMM reads transposed operands for free)."""
    if g.op != "matmul" or g.ndim != 2 or g in graph.outputs or len(g.users) != 1:
        return g
    (p,) = g.users
    if p.op != "permute" or tuple(p.attrs["dims"]) != (1, 0):
        return g
    a, b = g.inputs

    def transposed(v: Node) -> Node:
        if v.op == "permute" and tuple(v.attrs["dims"]) == (1, 0):
            return v.inputs[0]
        return graph.add("permute", v, dims=(1, 0), before=p, loc=g.loc)

    new = graph.add("matmul", transposed(b), transposed(a), before=p, loc=g.loc)
    graph.replace_all_uses(p, new)
    graph.remove(p)
    graph.remove(g)
    for v in dict.fromkeys((a, b)):
        if not v.users and not v.is_placeholder and v not in graph.outputs:
            graph.remove(v)  # a transpose only the old product read
    return new


def _move_next_to(graph: Graph, assigns: list[Node], producer: Node) -> None:
    """Put ``assigns`` and the pointwise nodes they need right after ``producer``; nothing moves
    when an update needs another heavy node computed later (it would drag that kernel earlier)."""
    pos = {n: i for i, n in enumerate(graph.nodes)}
    chain = sorted({n for a in assigns for n in _ancestors_after(a.inputs[1], pos[producer], pos)}, key=pos.get)
    if any(get_op(n.op).kind not in _THROUGH and n.op != "constant" for n in chain):
        return
    moving = set(chain) | set(assigns)
    rest = [n for n in graph.nodes if n not in moving]
    at = rest.index(producer) + 1
    graph.nodes[:] = rest[:at] + chain + assigns + rest[at:]


@register_pass("fuse_optimizer")
def fuse_optimizer(graph: Graph, ctx=None) -> Graph:
    """Move each update next to its gradient's producer; record which kernel it rides on."""
    result = OptimizerFusion()
    pos = {n: i for i, n in enumerate(graph.nodes)}
    for a in graph.assigns:
        target, value = a.inputs
        nodes, producers = _expression(value)
        if any(_orient(graph, p) is not p for p in producers):
            pos = {n: i for i, n in enumerate(graph.nodes)}
            value = a.inputs[1]  # the transpose itself may have been the value
            nodes, producers = _expression(value)
        producers = [p for p in producers if _numel(p.shape) == _numel(value.shape) and p.dtype.is_floating_point]
        if not producers:
            result.reasons[a] = "its value does not follow element by element from a matmul or reduction"
            continue
        g = max(producers, key=pos.get)
        if target in g.inputs or any(target in p.inputs for p in producers):
            result.reasons[a] = f"its gradient's kernel %{g.name} ({g.op}) reads %{target.name} itself"
            continue
        after = _descendants(g)
        late = [r for r in target.users if r is not a and r not in nodes and r in after]
        if late:
            result.reasons[a] = (f"%{late[0].name} ({late[0].op}) reads %{target.name} and needs its gradient "
                                 f"%{g.name} first: the update is written at the end of the step")
            continue
        result.rides[a] = g
    by_producer: dict[Node, list[Node]] = {}
    for a, g in result.rides.items():
        by_producer.setdefault(g, []).append(a)
    for g, assigns in by_producer.items():
        _move_next_to(graph, assigns, g)
    graph.meta["optimizer_fusion"] = result
    return graph
