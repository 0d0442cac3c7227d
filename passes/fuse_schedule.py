"""The kernel order of a fusion plan, and the hazards that decide which epilogue stores may stay.

Each kernel of the plan reads stored values and placeholders and writes stored values; a kernel
carrying an optimizer update in its epilogue (a *riding* ``assign``) also writes a ``param`` or
``state`` placeholder before the step ends. The IR's rule is that every read of a placeholder
sees its value at entry, so the order must satisfy two kinds of edges:

- **read after write** (a stored value): the kernel that stores ``m`` runs before every kernel
  that reads ``m``;
- **write after read** (an early-written placeholder ``T``): every other kernel that reads the
  old ``T`` runs before the kernel that overwrites it. The updates left at the end of the step
  (and the copies of returned placeholders) run after everything, so a riding update whose
  target they read cannot ride. Inside its own kernel, the loop must not read ``T`` at all, and
  the other epilogue stores may read ``T`` only at the element being written (the epilogue
  computes every store of an element before writing any).

:func:`schedule` topologically sorts the kernels over these edges (ties broken by the graph
order, so the plan stays close to the program the user wrote). A cycle, or an edge that cannot
be met, names the epilogue store to drop: the fusion pass drops it (an update then runs at the
end of the step, a value gets a kernel of its own) and plans again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from graphc.ir import Graph, Node, get_op
from graphc.ir.errors import CompileError


@dataclass
class PlannedKernel:
    """One kernel of the plan: its root (a group root, a materialized value, or for the kernels
    at the end of the step an ``assign`` or a returned placeholder) and what it reads and writes."""

    root: Node
    anchor: float  # where it would run in graph order (the sort's tie-break)
    own: set[Node]  # stored values and placeholders its main loop reads
    ends: dict[Node, set[Node]] = field(default_factory=dict)  # epilogue store -> what it reads
    writes: set[Node] = field(default_factory=set)  # stored values, and early-written placeholders
    group: object = None  # the FusedKernel, if any
    final: bool = False  # runs after every other kernel (end-of-step updates, output copies)

    def reads(self) -> set[Node]:
        return self.own.union(*self.ends.values())


def reads_of(roots, plan, internal) -> set[Node]:
    """Stored values and placeholders read by the fused expressions of ``roots``."""
    found, seen, stack = set(), set(), list(roots)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for x in n.inputs:
            if x in internal:
                continue
            if x.is_placeholder or x in plan.materialized:
                found.add(x)
            elif x.op != "constant" or x.inputs:
                stack.append(x)
    return found


def plan_kernels(graph: Graph, plan, pos: dict[Node, int]) -> list[PlannedKernel]:
    """The plan's kernels, unordered except that the end-of-step ones come last."""
    riding = plan.riding_assigns()
    kernels = []
    for n in graph.nodes:
        g = plan.groups.get(n)
        if g is not None:
            internal = set(g.producers)
            own = reads_of(g.producers, plan, internal)
            ends = {}
            for e in g.ends:
                if e.op == "assign":
                    v = e.inputs[1]
                    ends[e] = {v} if v in plan.materialized and v not in internal else reads_of([v], plan, internal)
                else:
                    ends[e] = reads_of([e], plan, internal)
            stored = [m for r in ends.values() for m in r if not m.is_placeholder and m in pos]
            anchor = max([pos[p] for p in g.producers] + [pos[m] + 0.5 for m in stored])
            writes = {p for p in g.producers if p in plan.materialized} | {e for e in g.ends if e.op != "assign"}
            writes |= {e.inputs[0] for e in g.ends if e.op == "assign"}
            kernels.append(PlannedKernel(n, anchor, own, ends, writes, g))
        elif n in plan.materialized and n not in plan.member:
            kernels.append(PlannedKernel(n, pos[n], reads_of([n], plan, set()), writes={n}))
    for a in graph.assigns:
        if a not in riding:
            v = a.inputs[1]
            own = {v} if v.is_placeholder or v in plan.materialized else reads_of([v], plan, set())
            kernels.append(PlannedKernel(a, len(pos), own, final=True))
    for o in graph.outputs:
        if o.is_placeholder:
            kernels.append(PlannedKernel(o, len(pos), {o}, final=True))
    return kernels


def same_element(end: Node, target: Node, plan, internal) -> bool:
    """Inside ``end``'s expression, ``target`` is read only at the element ``end`` stores."""
    v = end.inputs[1] if end.op == "assign" else end
    same, stack = set(), [v]
    while stack:
        n = stack.pop()
        if n in same:
            continue
        same.add(n)
        stack += [x for x in n.inputs if x not in internal and not x.is_placeholder and x not in plan.materialized
                  and get_op(x.op).kind == "elementwise" and x.shape == v.shape]
    seen, stack = set(), [v]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if target in n.inputs and (n not in same or get_op(n.op).kind != "elementwise" or target.shape != n.shape):
            return False
        stack += [x for x in n.inputs if x not in internal and not x.is_placeholder and x not in plan.materialized]
    return True


def schedule(graph: Graph, plan, maps, pos) -> tuple[list[PlannedKernel], list[tuple[Node, str]]]:
    """``(kernels in execution order, [(epilogue store to drop, why), ...])``; the order is only
    meaningful when the list of stores to drop is empty. ``maps[root][end]`` is the index map of
    an epilogue store (see ``fuse_groups``)."""
    kernels = plan_kernels(graph, plan, pos)
    body = [i for i, k in enumerate(kernels) if not k.final]
    writer: dict[Node, int] = {}
    for i in body:
        for w in kernels[i].writes:
            writer.setdefault(w, i)
    deps = nx.DiGraph()
    deps.add_nodes_from(body)
    bad: list[tuple[Node, str]] = []

    def edge(a: int, b: int, drop: Node | None, why: str):
        if not deps.has_edge(a, b):
            deps.add_edge(a, b, drop=drop, why=why)

    for i, k in enumerate(kernels):
        for end, reads in [(None, k.own)] + list(k.ends.items()):
            for m in reads:
                w = writer.get(m)
                if w is None:
                    continue
                if not m.is_placeholder:  # read after write
                    if w != i:
                        if not k.final:
                            edge(w, i, end, f"reads %{m.name}, stored by kernel %{kernels[w].root.name}")
                    elif end is not None:
                        bad.append((end, f"reads %{m.name}, which its own kernel stores"))
                    continue
                if w == i:
                    continue  # the early write of an own placeholder: checked below
                rider = _rider(kernels[w], m)
                if k.final:
                    bad.append((rider, f"%{k.root.name if not k.root.op == 'assign' else k.root.inputs[0].name} is "
                                       f"updated at the end of the step and reads %{m.name} before its update"))
                else:
                    edge(i, w, rider, f"kernel %{k.root.name} reads %{m.name} after its gradient's kernel: "
                                      "the update is written at the end of the step")
        if k.group is None:
            continue
        for e in k.group.ends:
            if e.op != "assign":
                continue
            target = e.inputs[0]
            if target in k.own:
                bad.append((e, f"the kernel's own loop reads %{target.name}"))
                continue
            emap = maps[k.root][e]
            for other, reads in k.ends.items():
                if target in reads and not (np.array_equal(maps[k.root][other], emap)
                                            and same_element(other, target, plan, set(k.group.producers))):
                    bad.append((e, f"%{target.name} is read at other elements in the same kernel"))
                    break
    if bad:
        return kernels, bad
    try:
        cycle = nx.find_cycle(deps)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle is not None:
        # split the group of sibling reductions that spans the most of the graph
        merged = [kernels[a] for a, _ in cycle if kernels[a].group is not None and len(kernels[a].group.producers) > 1]
        if merged:
            k = max(merged, key=lambda k: pos[k.group.producers[-1]] - pos[k.group.producers[0]])
            return kernels, [(k.group.producers[-1], "computed with sibling reductions, its kernel would depend "
                                                     "on itself through other kernels")]
        for a, b in cycle:
            data = deps.edges[a, b]
            if data["drop"] is not None:
                return kernels, [(data["drop"], data["why"])]
        raise CompileError(f"the fused kernels {[kernels[a].root.name for a, _ in cycle]} depend on each other "
                           "in a cycle", fix="report this graph; compile without the 'fuse' pass meanwhile")
    order = list(nx.lexicographical_topological_sort(deps, key=lambda i: (kernels[i].anchor, pos[kernels[i].root])))
    return [kernels[i] for i in order] + [k for k in kernels if k.final], []


def _rider(kernel: PlannedKernel, target: Node) -> Node:
    """The riding assign of ``kernel`` that writes ``target``."""
    return next(e for e in kernel.group.ends if e.op == "assign" and e.inputs[0] is target)
