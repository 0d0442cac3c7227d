"""Memory planning: give every temporary buffer an offset in one arena, reusing dead space.

Runs after fusion. The kernels execute in graph order (one per materialized value), then the
``assign`` updates. A temporary is live from the kernel that writes it to the last kernel that
reads it (through fused expressions too); two temporaries whose lifetimes overlap never share
bytes. Offsets are chosen largest-first, each at the lowest aligned offset that fits beside the
buffers it overlaps in time (first fit), which packs typical training steps well below the sum
of all intermediates.

The plan is ``graph.meta["memory_plan"]``: a :class:`MemoryPlan` with each temporary's offset,
the arena size and the sum it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir import Graph, Node

from .manager import register_pass

ALIGN = 64


@dataclass
class MemoryPlan:
    offsets: dict[Node, int] = field(default_factory=dict)
    lifetimes: dict[Node, tuple[int, int]] = field(default_factory=dict)
    arena_bytes: int = 0
    unplanned_bytes: int = 0  # what the temporaries would take with no reuse


def _kernel_reads(graph: Graph, materialized: set[Node]) -> dict[Node, set[Node]]:
    """For each kernel root (materialized node or assign), the materialized values it reads."""
    reads: dict[Node, set[Node]] = {}
    roots = [n for n in graph.nodes if n in materialized or n.op == "assign"]
    for root in roots:
        found: set[Node] = set()
        stack = list(root.inputs)
        seen = set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in materialized or n.is_placeholder:
                found.add(n)
            else:
                stack.extend(n.inputs)
        reads[root] = found
    return reads


def _align(n: int) -> int:
    return -(-max(n, 1) // ALIGN) * ALIGN


@register_pass("memory_plan")
def memory_plan(graph: Graph, ctx=None) -> Graph:
    """Assign arena offsets to temporaries (requires the fusion plan; without it, plans nothing)."""
    fusion = graph.meta.get("fusion")
    plan = MemoryPlan()
    graph.meta["memory_plan"] = plan
    if fusion is None:
        return graph
    outputs = set(graph.outputs)
    materialized = {n for n in graph.nodes if fusion.is_materialized(n)}
    reads = _kernel_reads(graph, materialized)
    order = [n for n in graph.nodes if n in materialized] + [n for n in graph.nodes if n.op == "assign"]
    position = {n: i for i, n in enumerate(order)}
    temps = [n for n in order if n in materialized and n not in outputs]
    for t in temps:
        start = position[t]
        end = max([position[r] for r, rs in reads.items() if t in rs] + [start])
        plan.lifetimes[t] = (start, end)
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, start, end)
    for t in sorted(temps, key=lambda n: (-n.type.nbytes, position[n])):
        size = _align(t.type.nbytes)
        start, end = plan.lifetimes[t]
        busy = sorted((o, o + s) for o, s, a, b in placed if not (b < start or end < a))
        offset = 0
        for lo, hi in busy:
            if offset + size <= lo:
                break
            offset = max(offset, hi)
        plan.offsets[t] = offset
        placed.append((offset, size, start, end))
        plan.arena_bytes = max(plan.arena_bytes, offset + size)
        plan.unplanned_bytes += size
    return graph
