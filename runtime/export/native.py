"""Object code for an exported model: every graph's kernels and entry, in one position-independent
object file.

Each graph is lowered and built into a module exactly as the JIT does (``runtime.lower``,
``runtime.llvm.jit.build_module``); its entry ``graphc_step`` is renamed ``<name>__g<i>``. Support
code the kernels call (the modules ``runtime.llvm.jit.support_modules()`` returns: the thread
pool) is linked into the same module; its external functions are renamed
``<name>__<function>``. Everything else becomes internal, and nothing but the C API is exported
from the library, so two exported libraries link into one program.
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.binding as llvm

from graphc.ir import Graph
from graphc.ir.errors import ExportError

from ..llvm import jit
from ..llvm.jit import ENTRY, build_module
from ..lower import Buffer, lower

ALIGN = 64


@dataclass
class CompiledGraph:
    """One graph's pointer-table layout and where its temporaries sit in the arena."""

    symbol: str
    buffers: list[Buffer]
    temp_offsets: dict[str, int]
    arena_bytes: int
    errors: list[str]


def target_machine(cpu: str):
    """A PIC target machine: this CPU with its features (``"host"``), or a named CPU
    (``"x86-64-v3"``, ``"x86-64"``) whose code runs on any machine of that level."""
    if cpu == "host":
        return jit.new_target_machine()
    jit.host_target_machine()  # initialises LLVM's targets
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=cpu, features="", opt=3, reloc="pic", codemodel="default")


def arena_layout(graph: Graph, buffers: list[Buffer]) -> tuple[dict[str, int], int]:
    """Offsets of the temporaries: the memory plan's, then the buffers it does not know of."""
    plan = graph.meta.get("memory_plan")
    planned = plan.offsets if plan is not None else {}
    total = plan.arena_bytes if plan is not None else 0
    offsets = {}
    for b in buffers:
        if b.kind != "temp":
            continue
        if b.node in planned:
            offsets[b.name] = planned[b.node]
        else:
            offsets[b.name] = total
            total += -(-max(b.nbytes, 1) // ALIGN) * ALIGN
    return offsets, total


def support_modules() -> list:
    """LLVM modules (or their IR text) the kernels call into, as the JIT loads them too."""
    return list(jit.support_modules())


def compile_graphs(prefix: str, graphs: list[Graph], cpu: str = "host") -> tuple[bytes, list[CompiledGraph], set[str]]:
    """Object code with one entry ``<prefix>__g<i>(void **table)`` per graph, and the names of
    the support functions it defines (each as ``<prefix>__<name>``, for the C runtime to call)."""
    compiled = []
    modules = []
    for i, graph in enumerate(graphs):
        program = lower(graph)
        slots = {b.name: n for n, b in enumerate(program.buffers)}
        symbol = f"{prefix}__g{i}"
        module = build_module(program.kernels, slots, symbol, program.meta["first_assign"])
        mod = llvm.parse_assembly(str(module))
        for f in mod.functions:
            if f.name == ENTRY:
                f.name = symbol
            elif not f.is_declaration:
                f.name = f"{symbol}_{f.name}"  # kernel names repeat across graphs
        offsets, arena = arena_layout(graph, program.buffers)
        compiled.append(CompiledGraph(symbol, list(program.buffers), offsets, arena, list(program.meta.get("errors", []))))
        modules.append(mod)
    support = [llvm.parse_assembly(str(m)) for m in support_modules()]
    support_api = {f.name for m in support for f in m.functions
                   if not f.is_declaration and f.linkage.name not in ("internal", "private")}
    main = modules[0]
    for mod in modules[1:] + support:
        main.link_in(mod)
    entries = {c.symbol for c in compiled}
    for f in main.functions:
        if f.is_declaration:
            continue
        if f.name in support_api:  # callable by the C runtime (the pool's shutdown), named for this library
            f.name = f"{prefix}__{f.name}"
            f.visibility = "hidden"
        elif f.name in entries:
            f.visibility = "hidden"  # called by the C runtime, never exported from the library
        else:
            f.linkage = "internal"
    for g in main.global_variables:
        if not g.is_declaration and g.linkage.name not in ("internal", "private"):
            g.linkage = "internal"
    main.verify()
    tm = target_machine(cpu)
    jit.run_pipeline(main, tm)
    try:
        return tm.emit_object(main), compiled, support_api
    except RuntimeError as e:  # LLVM refusing a CPU name
        raise ExportError(f"LLVM could not generate code for cpu={cpu!r}: {e}",
                          fix='use cpu="host" or a CPU name LLVM knows, such as "x86-64-v3"') from None
