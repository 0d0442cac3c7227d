"""Kernel groups for the fusion pass: epilogues, sibling reductions and online softmax.

Index maps: to store a value ``v`` in the epilogue of producer ``p``, every read of ``p`` inside
``v``'s fused expression must be of the element being produced. The pass proves it by pushing
``arange(numel).reshape(p.shape)`` through the fused ops (same-shape elementwise ops keep it,
permute transposes it, reshape reshapes it; anything else, e.g. a broadcast, fails) and
requiring every path to agree.

Which epilogue stores are safe, and in which order the kernels run, is decided by
``passes/fuse_schedule.py``; :func:`form_groups` drops what it rejects and groups again.
"""

from __future__ import annotations

import heapq

import numpy as np

from graphc.ir import Graph, Node, get_op
from graphc.ir.errors import CompileError

from .fuse import FusedKernel, FusionPlan, pointwise
from .fuse_schedule import schedule

_GEMM_DTYPES = ("f32", "f64")
STORED_PRODUCERS = ("conv2d", "conv2d_backward_weight")  # template kernels with an epilogue loop after them


def _inner(node: Node) -> bool:
    x = node.inputs[0]
    dims = {d % max(x.ndim, 1) for d in node.attrs["dims"]} if x.ndim else set()
    return bool(dims) and x.ndim - 1 in dims and all(d in dims for d in range(min(dims), x.ndim))


def _dims(node: Node):
    x = node.inputs[0]
    return frozenset(d % max(x.ndim, 1) for d in node.attrs["dims"])


def _map_through(n: Node, ins, maps):
    if get_op(n.op).kind == "elementwise":
        out = None
        for x in ins:
            if x.shape != n.shape:
                return None
            if out is None:
                out = maps[x]
            elif not np.array_equal(out, maps[x]):
                return None
        return out
    if len(ins) != 1 or n.inputs[0] is not ins[0]:
        return None
    if n.op == "permute":
        return np.transpose(maps[ins[0]], [d % n.ndim for d in n.attrs["dims"]])
    if n.op == "reshape":
        return maps[ins[0]].reshape(n.shape)
    return None


class _Builder:
    def __init__(self, graph: Graph, plan: FusionPlan, readers, rides, excluded):
        self.graph, self.plan, self.readers, self.rides, self.excluded = graph, plan, readers, rides, excluded
        self.pos = {n: i for i, n in enumerate(graph.nodes)}
        self.outputs = set(graph.outputs)
        self.maps: dict[Node, dict[Node, np.ndarray]] = {}  # group root -> end -> index map

    def region(self, producers: list[Node]):
        """Ends reachable element by element from ``producers``; whether they need a buffer."""
        base = np.arange(int(np.prod(producers[0].shape, dtype=np.int64)), dtype=np.int64).reshape(producers[0].shape)
        maps = {p: base for p in producers}
        prev: dict[Node, Node] = {}
        ends, end_maps, paths = [], {}, {}
        foreign = False
        # the readers of mapped values, in graph order (a heap of positions: only what the
        # producers reach is visited, not every later node of the graph)
        pos, readers = self.pos, self.readers
        frontier = sorted({pos[r] for p in producers for r in readers[p]})
        queued = set(frontier)
        nodes = self.graph.nodes
        while frontier:
            n = nodes[heapq.heappop(frontier)]
            ins = [x for x in n.inputs if x in maps]
            if n in producers:
                continue
            if n.op == "assign":
                v = n.inputs[1]
                if n.inputs[0] not in maps and self.rides.get(n) in producers and n not in self.excluded:
                    ends.append(n)
                    end_maps[n], paths[n] = maps[v], self._path(v, prev)
                else:
                    foreign = True
                continue
            m = _map_through(n, ins, maps) if pointwise(n) and n not in self.plan.member else None
            if m is None:
                foreign = True
            elif n in self.plan.materialized:
                if n in self.excluded or n in self.plan.member:
                    foreign = True
                else:
                    ends.append(n)
                    end_maps[n], paths[n] = m, self._path(ins[0], prev) + [n]
            else:
                maps[n] = m
                prev[n] = ins[0]
                for r in readers[n]:
                    if pos[r] not in queued:
                        queued.add(pos[r])
                        heapq.heappush(frontier, pos[r])
        return ends, end_maps, paths, foreign, base

    @staticmethod
    def _path(v: Node, prev) -> list[Node]:
        path = [v]
        while path[-1] in prev:
            path.append(prev[path[-1]])
        return path[::-1]

    def add(self, kind: str, producers: list[Node], inner: bool = True) -> None:
        plan = self.plan
        walk = producers[-1:] if kind == "online_softmax" else producers  # the max is always stored
        ends, end_maps, paths, foreign, base = self.region(walk)
        if not ends and len(producers) == 1:
            return
        group = FusedKernel(kind, sorted(producers, key=self.pos.get), ends, paths)
        store = foreign or any(p in self.outputs for p in producers)
        for p in producers:
            if store or p.op == "max" and kind == "online_softmax":
                continue
            if kind == "gemm":
                acc = next((e for e in ends if e.op != "assign" and e.shape == p.shape and e.dtype == p.dtype
                            and np.array_equal(end_maps[e], base)), None)
                if acc is None:
                    acc = _assigned_product(p, ends, paths)
                if acc is None:
                    plan.materialized[p] = "accumulates the GEMM for its epilogue"
                    continue
                group.accumulator = acc
            elif not inner:
                plan.materialized[p] = "outer reduction accumulates in its buffer"
                continue
            plan.materialized.pop(p, None)
        plan.groups[group.root] = group
        self.maps[group.root] = end_maps
        for n in producers + ends:
            plan.member[n] = group.root


def _ancestors(node: Node, memo) -> set:
    if node in memo:
        return memo[node]
    out = set()
    stack = list(node.inputs)
    while stack:
        n = stack.pop()
        if n not in out:
            out.add(n)
            stack.extend(n.inputs)
    memo[node] = out
    return out


def _assigned_product(p: Node, ends: list, paths: dict):
    """An ``assign target, p`` among a GEMM's ends (a weight gradient kept as ``.grad`` while the
    optimizer update rides on the GEMM), whose target can accumulate the product in place: the
    same type as ``p``, and its old value read by nothing in the group. The GEMM then writes
    the target directly, instead of a buffer the epilogue copies from."""
    for e in ends:
        if e.op != "assign" or e.inputs[1] is not p:
            continue
        target = e.inputs[0]
        if target.shape != p.shape or target.dtype != p.dtype:
            continue
        nodes = {n for end in ends for n in paths[end]} | {end for end in ends if end.op != "assign"}
        if not any(target in n.inputs for n in nodes):
            return e
    return None


def _online_softmax(s: Node, plan: FusionPlan, readers):
    """The max M when ``s = sum(exp(x - M))`` and ``M = max(x)`` over the same dims, else None."""
    e = s.inputs[0]
    if e.op != "exp" or e in plan.materialized or readers[e] != [s]:
        return None
    b = e.inputs[0]
    if b.op != "sub" or b in plan.materialized:
        return None
    x, m = b.inputs
    if m.op != "max" or m.inputs[0] is not x or x.shape != b.shape or not m.attrs["keepdim"] or _dims(m) != _dims(s):
        return None
    return m if _inner(s) and m.dtype.short in _GEMM_DTYPES else None


def _build(graph: Graph, plan: FusionPlan, readers, rides, excluded) -> _Builder:
    bld = _Builder(graph, plan, readers, rides, excluded)
    memo: dict = {}
    reductions: dict[tuple, list[Node]] = {}
    for n in graph.nodes:
        if n.op in ("sum", "max") and n.inputs[0].ndim and _dims(n) and n not in plan.member:
            if n in excluded:  # split off a group whose kernels would depend on each other in a cycle
                bld.add("reduce", [n], inner=_inner(n))
                continue
            m = _online_softmax(n, plan, readers) if n.op == "sum" else None
            if m is not None and m not in plan.member:
                bld.add("online_softmax", [m, n])
                continue
            if not _inner(n):
                bld.add("reduce", [n], inner=False)
                continue
            key = (n.inputs[0].shape, _dims(n), n.attrs["keepdim"], n.dtype.short)
            reductions.setdefault(key, []).append(n)
    for group in reductions.values():
        chosen: list[Node] = []
        for n in group:
            if n in plan.member:
                continue
            if all(c not in _ancestors(n, memo) for c in chosen):
                chosen.append(n)
        if chosen:
            bld.add("reduce", chosen)
    for n in graph.nodes:
        if n.op == "matmul" and n.dtype.short in _GEMM_DTYPES and n not in plan.member and 0 not in n.shape:
            bld.add("gemm", [n])
        elif n.op in STORED_PRODUCERS and n.dtype.short in _GEMM_DTYPES and n not in plan.member:
            bld.add("stored", [n], inner=False)  # its kernel writes the buffer, then the epilogue reads it
    return bld



def form_groups(graph: Graph, plan: FusionPlan, readers, rides, materialize) -> None:
    """Group kernels, drop the epilogue stores that would break the step, and fix the kernel
    order (``passes/fuse_schedule.py``). ``materialize(plan, rides)`` redoes the base decisions
    when an update stops riding."""
    excluded: set[Node] = set()
    while True:
        live = {a: g for a, g in rides.items() if a not in excluded}
        plan.materialized, plan.groups, plan.member = {}, {}, {}
        materialize(plan, live)
        bld = _build(graph, plan, readers, live, excluded)
        kernels, bad = schedule(graph, plan, bld.maps, bld.pos)
        if not bad:
            break
        dropped = set()  # (one store may be bad for several reasons in one round)
        for end, why in bad:
            if end in dropped:
                continue
            if end in excluded:
                raise CompileError(f"the fusion plan cannot drop %{end.name} twice ({why})",
                                   fix="report this graph; compile without the 'fuse' pass meanwhile")
            dropped.add(end)
            excluded.add(end)
            plan.not_fused[end] = why
    plan.schedule = kernels
    plan.order = [k.root for k in kernels if not k.final]
