"""Memory planning: give every temporary buffer an offset in one arena, reusing dead space.

Runs after fusion. The kernels execute in the fusion plan's schedule (a fused group writes all
its stored values in one kernel), then the ``assign`` updates that did not ride on a kernel. A
temporary is live from the kernel that writes it to the last kernel that reads it (through
fused expressions too); two temporaries whose lifetimes overlap never share
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
    start_of: dict[Node, int] = {}
    end_of: dict[Node, int] = {}
    for i, k in enumerate(fusion.schedule):
        for w in k.writes:
            start_of.setdefault(w, i)
        for r in k.reads():
            end_of[r] = i
    temps = [n for n in graph.nodes if fusion.is_materialized(n) and n not in outputs and n in start_of]
    for t in temps:
        plan.lifetimes[t] = (start_of[t], max(end_of.get(t, start_of[t]), start_of[t]))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, start, end)
    for t in sorted(temps, key=lambda n: (-n.type.nbytes, start_of[n])):
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
