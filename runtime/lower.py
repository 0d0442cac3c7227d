"""Graph -> kernel IR: decide which values live in memory, then build one kernel per stored value.

Which values are *materialized* (get a buffer) is the fusion pass's decision
(``graphc.passes.fuse``, recorded in ``graph.meta["fusion"]``); every other pointwise value is
inlined into the kernels that read it, so chains of elementwise and movement ops become one
loop nest.
``assign`` updates are written after every other kernel has run, ordered so no update clobbers
a value another update still reads (the IR's end-of-step semantics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir import Graph, Node, get_op
from graphc.ir.errors import CompileError

from . import lowering_conv, lowering_index, lowering_pool  # noqa: F401  (register their rules)
from .kernel_coalesce import coalesce_kernel
from .kernel_ir import Kernel, Load, Loop, Store, Var, linear_index
from .lowering_fused import group_kernel
from .lowering_rules import EXPR_RULES, GEMM_DTYPES, KERNEL_RULES, operand_view


@dataclass
class Buffer:
    name: str
    dtype: str
    shape: tuple
    kind: str  # "placeholder", "output", "temp" or "error" (the native checks' error code)
    index: int = -1  # placeholder or output position
    node: Node | None = None

    @property
    def nbytes(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n * {"f32": 4, "f64": 8, "i64": 8, "i32": 4, "bool": 1}[self.dtype]


@dataclass
class Program:
    """Kernels in execution order and the buffers they use (the slots of the pointer table)."""

    kernels: list[Kernel]
    buffers: list[Buffer]
    meta: dict = field(default_factory=dict)

    def slot(self, name: str) -> int:
        for i, b in enumerate(self.buffers):
            if b.name == name:
                return i
        raise KeyError(name)


class Lowering:
    def __init__(self, graph: Graph, rules: dict | None = None):
        self.graph = graph
        self.rules = {**KERNEL_RULES, **(rules or {})}  # op -> kernel rule (a target may override some)
        self.buffers: dict[Node, Buffer] = {}
        self.order: list[Buffer] = []
        self._fresh = 0
        self.root: Node | None = None
        self.reads: set[str] = set()
        self.errors: list[str] = []  # messages of the native index checks, code = position + 1
        self.error_buffer: Buffer | None = None
        self.subst: dict[Node, object] = {}  # in an epilogue: producer -> the value being produced

    def error_code(self, node: Node, message: str) -> int:
        """A code for a native check failing in ``node``; the kernel reads the error buffer."""
        if self.error_buffer is None:
            self.error_buffer = Buffer("err", "i64", (1,), "error")
            self.order.append(self.error_buffer)
        self.errors.append(f"{node.op} (%{node.name}, at {node.loc or 'an unknown line'}): {message}")
        self.reads.add("err")
        return len(self.errors)

    def fresh(self, prefix: str) -> str:
        self._fresh += 1
        return f"{prefix}{self._fresh}"

    def add_buffer(self, node: Node, kind: str, index: int = -1, name: str | None = None) -> Buffer:
        buf = Buffer(name or f"{kind[0]}{len(self.order)}_{node.name.replace('.', '_')}", node.dtype.short, node.shape,
                     kind, index, node)
        self.order.append(buf)
        return buf

    def value(self, node: Node, idx) -> object:
        """The expression for ``node``'s element at ``idx``: a load if it has a buffer, else inlined."""
        if node in self.subst:  # the fusion plan proved every such read is of the current element
            return self.subst[node]
        if node in self.buffers and node is not self.root:
            buf = self.buffers[node]
            self.reads.add(buf.name)
            return Load(buf.name, linear_index(list(idx), node.shape), node.dtype.short)
        rule = EXPR_RULES.get(node.op)
        if rule is None:
            raise CompileError(f"op {node.op} (%{node.name}) has no pointwise lowering", loc=node.loc)
        saved, self.root = self.root, None
        try:
            return rule(self, node, list(idx))
        finally:
            self.root = saved

    def kernel_for(self, node: Node, target: Buffer, name: str) -> Kernel:
        """A kernel computing all of ``node`` into ``target``."""
        self.reads = set()
        self.root = node
        if node.op in self.rules:
            body = self.rules[node.op](self, node, target.name)
        elif node.op in EXPR_RULES:
            idx = [Var(f"i{d}") for d in range(node.ndim)]
            value = EXPR_RULES[node.op](self, node, idx)
            body = [Store(target.name, linear_index(idx, node.shape), value)]
            for d in reversed(range(node.ndim)):
                body = [Loop(f"i{d}", node.shape[d], body, parallel=(d == 0))]
        elif get_op(node.op).decompose is not None:
            raise CompileError(f"%{node.name} is the composite op {node.op}, which compiled backends do not lower",
                               loc=node.loc, fix="run the 'decompose' pass before lowering (it is first in the default pipeline)")
        else:
            raise CompileError(f"op {node.op} (%{node.name}) has no lowering for the llvm backend", loc=node.loc,
                               fix="use backend='reference' for graphs with this op")
        self.root = None
        used = [b.name for b in self.order if b.name in self.reads or b.name == target.name]
        return Kernel(name, used, body, flops=estimate_flops(node),
                      meta={"node": node.name, "op": node.op, "reads": set(self.reads)})


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def estimate_flops(node: Node) -> int:
    """Floating-point operations of a kernel rooted at ``node`` (for GFLOP/s in profiles)."""
    if node.op == "matmul":
        return 2 * _numel(node.shape) * node.inputs[0].shape[-1]
    if node.op in ("conv2d", "conv2d_backward_input", "conv2d_backward_weight"):
        w = node.inputs[1] if node.op != "conv2d_backward_weight" else node
        g = node if node.op == "conv2d" else (node.inputs[0] if node.op == "conv2d_backward_input" else node.inputs[1])
        n, o, oh, ow = g.shape
        return 2 * n * o * oh * ow * _numel(w.shape[1:])
    if node.op in ("sum", "max", "argmax"):
        return _numel(node.inputs[0].shape)
    return _numel(node.shape) if node.type is not None and node.dtype.is_floating_point else 0


def materialized_nodes(graph: Graph) -> set[Node]:
    """The values that get a buffer: the fusion pass's plan, else every value (no fusion).

    Whatever the plan says, a value with no pointwise lowering always gets a buffer, and so does
    every operand a kernel rule reads more than once per element (matmul operands). The GEMM
    template reads strided views (permute, contiguity-keeping reshape, expand, slice) in place,
    so for a float matmul the value under such views is stored instead of the view itself.
    """
    plan = graph.meta.get("fusion")
    keep: set[Node] = set(graph.outputs)
    fused = set(getattr(plan, "member", {})) if plan is not None else set()
    for n in graph.nodes:
        if n.op in ("assign", "constant"):
            continue
        if plan is None or plan.is_materialized(n) or (n.op not in EXPR_RULES and n not in fused):
            keep.add(n)
    readers: dict[Node, list[Node]] = {n: [] for n in graph.nodes}
    for n in graph.nodes:
        for x in n.inputs:
            readers.setdefault(x, []).append(n)
    through: set[Node] = set()  # views only matmuls read, through which they read their base
    stored: set[Node] = set()  # operands stored as they are
    for n in graph.nodes:
        if n.op != "matmul":
            continue
        for x in n.inputs:
            if x.op == "constant":
                continue
            chain = _view_chain(x, graph, readers) if x.dtype.short in GEMM_DTYPES else []
            view = operand_view(x, lambda v, c=chain: v not in c) if chain else None
            if view is None or view[0].op == "constant":
                keep.add(x)
                stored.add(x)
            else:
                keep.add(view[0])
                through.update(chain)
    keep -= through - stored
    return {n for n in keep if not n.is_placeholder}


def _view_chain(x: Node, graph: Graph, readers) -> list[Node]:
    """The movement ops from ``x`` down that exist only to be read by matmuls (directly or through
    further such views)."""
    from .lowering_rules import VIEW_OPS

    outputs = set(graph.outputs)

    def only_matmuls(v: Node) -> bool:
        return v.op in VIEW_OPS and v not in outputs and all(
            r.op == "matmul" or only_matmuls(r) for r in readers[v])

    chain: list[Node] = []
    while only_matmuls(x):
        chain.append(x)
        x = x.inputs[0]
    return chain


def lower(graph: Graph, rules: dict | None = None) -> Program:
    """The graph as kernels over buffers, following the fusion plan; ``rules`` overrides kernel
    rules by op (the CUDA backend lowers convolutions as direct loop nests)."""
    lw = Lowering(graph, rules)
    for i, p in enumerate(graph.placeholders):
        lw.buffers[p] = lw.add_buffer(p, "placeholder", i)
    keep = materialized_nodes(graph)
    out_index = {}
    for i, o in enumerate(graph.outputs):
        out_index.setdefault(o, i)
    kernels: list[Kernel] = []
    copies: list[tuple[Node, int]] = []
    for node in graph.nodes:
        if node not in keep:
            continue
        if node in out_index:
            lw.buffers[node] = lw.add_buffer(node, "output", out_index[node])
        else:
            lw.buffers[node] = lw.add_buffer(node, "temp")
    plan = graph.meta.get("fusion")
    groups = getattr(plan, "groups", {}) if plan is not None else {}
    members = getattr(plan, "member", {}) if plan is not None else {}
    order = {n: i for i, n in enumerate(getattr(plan, "order", []))} if plan is not None else {}
    pos = {n: i for i, n in enumerate(graph.nodes)}
    roots = [n for n in graph.nodes if n in groups or (n in keep and members.get(n, n) is n)]
    # the plan's order (an epilogue kernel runs once everything its stores read exists); values
    # the lowering stores on its own (operand copies) run just before their first reader
    rank = {n: (order[n], pos[n]) for n in roots if n in order}
    for n in roots:
        if n not in order:  # just before the first planned kernel that reads it
            rank[n] = (_first_reader(n, order, members) - 0.5, pos[n])
    for node in sorted(roots, key=rank.get):
        if node in groups:
            kernels.append(group_kernel(lw, groups[node], f"k{len(kernels)}_{node.op}"))
        else:
            kernels.append(lw.kernel_for(node, lw.buffers[node], f"k{len(kernels)}_{node.op}"))
    # outputs that are placeholders, or the same value returned twice, are copied out
    for i, o in enumerate(graph.outputs):
        if o.is_placeholder or out_index[o] != i:
            copies.append((o, i))
    for o, i in copies:
        buf = lw.add_buffer(o, "output", i, name=f"out{i}_copy")
        kernels.append(_copy(lw, o, buf, len(kernels)))
    first_assign = len(kernels)
    kernels += _assign_kernels(lw, graph, len(kernels))
    for k in kernels:
        coalesce_kernel(k)  # contiguous loop nests become one loop (vectorised without gathers)
    _check_early_writes(kernels)
    # a failed native check must stop the step before anything persistent is written: before the
    # first assign kernel, or before the first kernel whose epilogue updates a parameter early
    first_assign = min([i for i, k in enumerate(kernels) if k.meta.get("early_writes")] + [first_assign])
    return Program(kernels, lw.order, meta={"errors": lw.errors, "first_assign": first_assign})


def _first_reader(node: Node, order: dict, members: dict) -> float:
    """The plan position of the first planned kernel reading ``node`` (through fused values)."""
    best, seen, stack = float("inf"), set(), list(node.users)
    while stack:
        u = stack.pop()
        if u in seen:
            continue
        seen.add(u)
        root = members.get(u, u)
        if root in order:
            best = min(best, order[root])
        elif u.op != "assign":
            stack.extend(u.users)
    return best


def _check_early_writes(kernels: list[Kernel]) -> None:
    """No kernel may read a parameter or state buffer after an epilogue overwrote it early
    (the fusion plan's schedule guarantees it; this re-checks the program actually built)."""
    written: dict[str, str] = {}
    for k in kernels:
        hit = sorted(k.meta.get("reads", set()) & set(written) - k.meta.get("early_writes", set()))
        if hit:
            raise CompileError(f"kernel {k.name} reads {hit[0]} after kernel {written[hit[0]]} updated it early",
                               fix="report this graph; compile without the 'fuse_optimizer' pass meanwhile")
        for b in k.meta.get("early_writes", ()):
            written[b] = k.name


def _copy(lw: Lowering, node: Node, target: Buffer, n: int) -> Kernel:
    saved = lw.root
    lw.root = None
    lw.reads = set()
    idx = [Var(f"i{d}") for d in range(node.ndim)]
    body = [Store(target.name, linear_index(idx, node.shape), lw.value(node, idx))]
    for d in reversed(range(node.ndim)):
        body = [Loop(f"i{d}", node.shape[d], body)]
    lw.root = saved
    used = [b.name for b in lw.order if b.name in lw.reads or b.name == target.name]
    return Kernel(f"k{n}_copy", used, body, meta={"node": node.name, "op": "copy", "reads": set(lw.reads)})


def _assign_kernels(lw: Lowering, graph: Graph, start: int) -> list[Kernel]:
    """Write every assign's value into its target, never clobbering a target another update reads."""
    pending = []
    plan = graph.meta.get("fusion")
    riding = plan.riding_assigns() if hasattr(plan, "riding_assigns") else set()
    for a in graph.assigns:
        if a in riding:
            continue  # stored by the epilogue of its gradient's kernel
        target, value = a.inputs
        buf = lw.buffers[target]
        if value in lw.buffers:
            k = _copy(lw, value, buf, 0)
        else:
            k = lw.kernel_for(value, buf, "k")
        pending.append((buf.name, k))
    ordered = []
    while pending:
        for i, (target, k) in enumerate(pending):
            if not any(target in other.meta["reads"] for j, (_, other) in enumerate(pending) if j != i):
                ordered.append(k)
                pending.pop(i)
                break
        else:
            raise CompileError("the parameter updates of this step read each other in a cycle",
                               fix="report this graph: the llvm backend needs a temporary for it")
    for n, k in enumerate(ordered):
        k.name = f"k{start + n}_assign"
    return ordered
