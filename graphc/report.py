"""The compile report: one self-contained HTML page about one compiled function.

    step = graphc.compile(train_step)
    step(x, y)
    step.report("report.html")          # or: graphc report model.py:Net --input-shape 64,784 --train -o report.html

It shows the IR after every stage, the fusion groups (which ops share a kernel, why each stored
value is stored, and for each pair of neighbouring ops that did not fuse, the reason), the
kernels with their LLVM IR, the memory plan (peak arena bytes and a buffer timeline), the time
of each pass, per-kernel run times when profiling is on (``GRAPHC_PROFILE=1``), and the graph
drawn by Graphviz when it is installed. The page needs no server: open the file in a browser.

This module gathers the facts (:func:`collect`); ``graphc.report_html`` renders them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from graphc.ir import Graph, Node
from graphc.ir.errors import GraphcTypeError
from graphc.ir.nx import to_dot

HEAVY_READERS = {"matmul", "conv2d", "conv2d_backward_input", "conv2d_backward_weight"}
DOT_MAX_NODES = 1500  # larger graphs take Graphviz too long to lay out


@dataclass
class FusionGroup:
    """One kernel: the stored value (or assign) it computes, why it is stored, and the ops fused in."""

    root: Node
    reason: str
    members: list[Node] = field(default_factory=list)


@dataclass
class Report:
    title: str
    graph: Graph
    backend: str
    stages: list[tuple[str, str]]
    pass_times: dict[str, float]
    groups: list[FusionGroup]
    unfused: list[tuple[Node, Node, str]]
    kernels: list[dict]
    memory: dict | None
    profile: list[dict] | None
    svg: str | None
    dot: str
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- fusion
def fusion_plan(graph: Graph):
    """The fusion pass's plan for ``graph`` (``graph.meta["fusion"]``), or None when it did not run."""
    return graph.meta.get("fusion")


def _stored(plan, node: Node) -> bool:
    if plan is None:
        return not node.is_placeholder
    return plan.is_materialized(node)


def _stored_reason(plan, node: Node) -> str:
    if node.op == "assign":
        return "persistent update"
    if plan is None:
        return "no fusion plan (the fuse pass did not run): every op is its own kernel"
    reasons = getattr(plan, "materialized", {})
    return reasons.get(node, "stored")


def fusion_groups(graph: Graph) -> list[FusionGroup]:
    """Kernels in execution order, each with the ops computed inside it.

    With the fusion pass's schedule, a kernel is what the backend builds: a group root (a
    matmul or reductions with their epilogue stores) or a stored value, then the end-of-step
    updates. A node that is not stored is computed in every kernel that reads it (through
    other fused nodes); when that is more than one kernel it is recomputed in each.
    """
    plan = fusion_plan(graph)
    schedule = getattr(plan, "schedule", None) if plan is not None else None
    if schedule:
        return [_planned_group(plan, k) for k in schedule]
    roots = [n for n in graph.nodes if n.op == "assign" or (n.op != "constant" and _stored(plan, n))]
    root_set = set(roots)
    kernels_of: dict[Node, set[Node]] = {}
    for n in reversed(graph.nodes):
        if n in root_set or n.op == "constant":
            continue
        found: set[Node] = set()
        for u in n.users:
            found |= {u} if u in root_set else kernels_of.get(u, set())
        kernels_of[n] = found
    groups = {r: FusionGroup(r, _stored_reason(plan, r)) for r in roots}
    for n in graph.nodes:
        for r in kernels_of.get(n, ()):
            groups[r].members.append(n)
    return [groups[r] for r in roots]


def _planned_group(plan, kernel) -> FusionGroup:
    """The ops one scheduled kernel computes: everything between what it reads and what it stores."""
    group = kernel.group
    outs = [kernel.root, *(group.producers if group is not None else ()), *kernel.ends]
    stored = set(outs)
    seen, members, stack = set(), [], list(outs)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n is not kernel.root:
            members.append(n)
        for x in n.inputs:
            if x.is_placeholder or (x.op == "constant" and not x.inputs) or (x in plan.materialized and x not in stored):
                continue
            stack.append(x)
    order = {n: i for i, n in enumerate(kernel.root.graph.nodes)} if hasattr(kernel.root, "graph") else {}
    members.sort(key=lambda n: order.get(n, 0))
    if kernel.root.op == "assign":
        reason = "persistent update"
    elif kernel.final:
        reason = "output copy"
    elif group is not None and group.ends:
        reason = f"{kernel.root.op} with {len(group.ends)} epilogue store(s)"
    else:
        reason = _stored_reason(plan, kernel.root)
    return FusionGroup(kernel.root, reason, members)


def why_not_fused(plan, producer: Node, consumer: Node) -> str:
    """Why ``consumer`` reads ``producer`` from memory instead of computing it in its own kernel.

    A fusion plan may answer itself through a ``why_not_fused(producer, consumer)`` method;
    otherwise the reason is derived from why the producer is stored and what the consumer is.
    """
    ask = getattr(plan, "why_not_fused", None)
    if callable(ask):
        answer = ask(producer, consumer)
        if answer:
            return answer
    reason = _stored_reason(plan, producer)
    if consumer.op in HEAVY_READERS:
        return f"{reason}; {consumer.op} reads each operand element many times, so it reads them from memory"
    return reason


def unfused_pairs(graph: Graph) -> list[tuple[Node, Node, str]]:
    """Every (producer, consumer) edge between two ops in different kernels, with the reason."""
    plan = fusion_plan(graph)
    kernels_of: dict[Node, set[int]] = {}
    for i, g in enumerate(fusion_groups(graph)):
        for n in (g.root, *g.members):
            kernels_of.setdefault(n, set()).add(i)
    pairs = []
    for c in graph.nodes:
        for p in dict.fromkeys(c.inputs):
            if p.is_placeholder or p.op == "constant" or p not in kernels_of:
                continue
            if c in kernels_of and kernels_of[c] <= kernels_of[p]:
                continue  # computed in every kernel that computes its reader
            pairs.append((p, c, why_not_fused(plan, p, c)))
    return pairs


# ---------------------------------------------------------------------- kernels and memory
_DEFINE = re.compile(r'^define[^\n]*?@"?([A-Za-z0-9_.$]+)"?\(.*?^}$', re.S | re.M)


def llvm_functions(module_text: str) -> dict[str, str]:
    """Every ``define`` in LLVM IR text, by function name (one pass over the text)."""
    return {m.group(1): m.group(0) for m in _DEFINE.finditer(module_text)}


def llvm_function(module_text: str, name: str) -> str:
    """The ``define`` of function ``name`` in LLVM IR text ('' when absent)."""
    return llvm_functions(module_text).get(name, "")


def kernel_table(executable, graph: Graph) -> tuple[list[dict], list[str]]:
    """Per kernel: name, op, the value it computes, flops, buffers and its LLVM IR."""
    notes = []
    program = getattr(executable, "program", None)
    jit = getattr(executable, "jit", None)
    module_text = getattr(jit, "llvm_ir", "")
    if program is None:  # the reference backend: show what the LLVM backend would generate
        try:
            from graphc.runtime.llvm.jit import build_module
            from graphc.runtime.lower import lower

            program = lower(graph)
            slots = {b.name: i for i, b in enumerate(program.buffers)}
            module_text = str(build_module(program.kernels, slots, graph.name, program.meta["first_assign"]))
            notes.append("the reference backend runs no kernels; these are the kernels the llvm backend would build")
        except Exception as e:  # the report still shows everything else
            notes.append(f"could not lower the graph to kernels: {type(e).__name__}: {e}")
            return [], notes
    defines = llvm_functions(module_text)
    rows = []
    for k in program.kernels:
        rows.append({"name": k.name, "op": k.meta.get("op", ""), "node": k.meta.get("node", ""), "flops": k.flops,
                     "buffers": list(k.buffers), "llvm": defines.get(k.name, "")})
    return rows, notes


def memory_summary(graph: Graph, executable=None) -> dict | None:
    """The memory plan: peak arena bytes, bytes without reuse, and each temporary's offset and
    lifetime; ``arena_bytes`` is what the backend allocated (the plan plus any buffers the
    lowering stores beyond it), None where the backend has no arena."""
    plan = graph.meta.get("memory_plan")
    if plan is None:
        return None
    buffers = [{"name": n.name, "op": n.op, "bytes": n.type.nbytes, "offset": plan.offsets[n],
                "start": plan.lifetimes[n][0], "end": plan.lifetimes[n][1]} for n in plan.offsets]
    buffers.sort(key=lambda b: (b["start"], b["offset"]))
    steps = max([b["end"] for b in buffers] + [0]) + 1
    return {"peak_bytes": plan.arena_bytes, "unplanned_bytes": plan.unplanned_bytes, "buffers": buffers, "steps": steps,
            "arena_bytes": getattr(executable, "arena_bytes", None)}


def fusion_dot(graph: Graph, groups: list[FusionGroup]) -> str:
    """DOT of the graph with the ops of each kernel filled in one colour."""
    palette = ["#fde2e4", "#e2ece9", "#dfe7fd", "#fff1e6", "#e8e8e4", "#f0efeb", "#d8e2dc", "#fad2e1", "#bee1e6",
               "#cddafd", "#eae4e9", "#f1f7b5"]
    extra = []
    for i, g in enumerate(groups):
        color = palette[i % len(palette)]
        for n in [g.root, *g.members]:
            extra.append(f'  "{n.name}" [style=filled, fillcolor="{color}", tooltip="kernel of %{g.root.name}"];')
    text = to_dot(graph)
    return text[: text.rstrip().rfind("}")] + "\n".join(extra) + "\n}\n"


def dot_to_svg(dot_text: str, nodes: int) -> tuple[str | None, str | None]:
    """(svg, None), or (None, why not) when Graphviz is missing, fails or the graph is too large."""
    dot = shutil.which("dot")
    if dot is None:
        return None, "Graphviz is not installed, so the graph is not drawn: apt-get install graphviz (or brew install graphviz)"
    if nodes > DOT_MAX_NODES:
        return None, f"the graph has {nodes} nodes; only graphs of up to {DOT_MAX_NODES} are drawn (the DOT text is below)"
    try:
        result = subprocess.run([dot, "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return None, "Graphviz took over two minutes to lay the graph out"
    if result.returncode != 0:
        return None, f"Graphviz failed: {result.stderr.decode(errors='replace').strip()}"
    svg = result.stdout.decode("utf-8")
    return svg[svg.find("<svg"):], None


# ---------------------------------------------------------------------- the report
def collect(compiled, title: str | None = None, draw: bool = True) -> Report:
    """Gather the report of the most recently compiled version of ``compiled`` (a CompiledFunction).

    ``draw=False`` skips drawing the graph with Graphviz (which takes seconds for large graphs)."""
    entry = compiled._compiled_last() if getattr(compiled, "_last", None) is not None else None
    if entry is None:
        raise GraphcTypeError(f"{compiled.name} is not compiled yet, so there is nothing to report",
                              fix="call the compiled function once (graphc compiles on the first call), then report")
    graph, exe = entry.graph, entry.executable
    groups = fusion_groups(graph)
    kernels, notes = kernel_table(exe, graph)
    profile = None
    if getattr(exe, "profiling", False):
        profile = exe.profile() if exe.calls else None
        if not exe.calls:
            notes.append("profiling is on but the step has not run yet")
    else:
        notes.append("per-kernel times: set GRAPHC_PROFILE=1 before compiling (graphc report --profile)")
    dot_text = fusion_dot(graph, groups)
    svg, why = dot_to_svg(dot_text, len(graph.placeholders) + len(graph.nodes)) if draw else (None, "the graph was not drawn (draw=False)")
    if why:
        notes.append(why)
    return Report(title or f"graphc compile report: {compiled.name}", graph, entry.backend, entry.stages,
                  entry.pass_times, groups, unfused_pairs(graph), kernels, memory_summary(graph, exe), profile, svg, dot_text,
                  notes)


def write_report(compiled, path: str | os.PathLike, title: str | None = None, draw: bool = True) -> Path:
    """Write the HTML compile report of ``compiled`` to ``path`` and return the path."""
    from graphc.ir.atomic import atomic_write

    from .report_html import render_html

    path = Path(path)
    atomic_write(path, render_html(collect(compiled, title, draw)).encode("utf-8"))
    return path
