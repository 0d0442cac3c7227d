"""The LLVM backend: kernel IR -> LLVM IR -> native code for the host CPU, one call per step.

``LLVMBackend().compile(graph)`` lowers the graph to kernels (``graphc.runtime.lower``), emits
them with one entry function into a single module, optimises it (LLVM's O2 pipeline with the
vectorisers) for the host CPU and JITs it. The executable keeps a table of buffer pointers: bound parameters and state are written once
and refreshed only when an array changes, temporaries live in one arena allocated at compile
time, so a call costs a few pointer writes and one native call.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import uuid
from operator import is_
from pathlib import Path

import numpy as np

from graphc.ir import Graph
from graphc.ir.dtypes import from_name
from graphc.ir.errors import GraphcIndexError

from .. import cache
from ..backends import register_backend
from ..cache import graphc_version
from ..lower import lower
from .jit import JitModule, build_module, build_parts, target_description
from .parts import compile_jobs

_SMALL_OUTPUT = 4096  # bytes
PART_KERNELS = 6  # a program is split for a parallel compile only into parts of at least this many kernels
_ALIGN = 64


def cache_key(kernels: list, slots: dict, first_assign, profile: bool) -> str:
    """What the native code depends on, known before any LLVM IR is built: the lowered kernels
    (their full ``repr``: every loop, index, GEMM and epilogue), the buffer table, the code
    generator's own source, the target, and graphc's version. A hit skips building the LLVM
    module as well as LLVM itself."""
    code = repr([(k.name, k.buffers, k.body) for k in kernels])  # (not meta: it holds sets, ordered per process)
    return cache.make_key(code, repr(sorted(slots.items())), repr(first_assign), repr(profile),
                          codegen_fingerprint(), target_description(), graphc_version())


@functools.cache
def codegen_fingerprint() -> str:
    """A hash of the sources that turn kernel IR into LLVM IR (so an edited code generator
    never loads code the old one made)."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(here.glob("*.py")) + [here.parent / "kernel_ir.py"]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


class LLVMExecutable:
    def __init__(self, graph: Graph, use_cache: bool = True, profile: bool = False):
        self.graph = graph
        self.program = lower(graph)
        self.profiling = profile
        slots = {b.name: i for i, b in enumerate(self.program.buffers)}
        if profile:
            slots["prof"] = len(slots)
        first_assign = self.program.meta["first_assign"]
        key = cache_key(self.program.kernels, slots, first_assign, profile) if use_cache else None
        kernels = self.program.kernels
        jobs = min(compile_jobs(), len(kernels) // PART_KERNELS)
        salt = key[:12] if key else uuid.uuid4().hex[:12]
        parts = (lambda: build_parts(kernels, slots, graph.name, first_assign, profile, jobs, salt, bound=True)) if jobs > 1 else None
        self.jit = JitModule(lambda: build_module(kernels, slots, graph.name, first_assign, profile, bound=True), key, parts)
        self.kernel_count = len(self.program.kernels)
        self.table = np.zeros(len(slots), np.uint64)
        self.kernel_ns = np.zeros(len(self.program.kernels), np.int64)
        self.calls = 0
        if profile:
            self.table[slots["prof"]] = self.kernel_ns.ctypes.data
        self._table_address = self.table.ctypes.data
        # the step bound to this table: its address in the module's cell, a call with no argument
        ctypes.c_void_p.from_address(self.jit.table_cell).value = self._table_address
        self._step = self.jit.bound_entry
        # temporaries: one arena, at the memory plan's offsets (buffers the plan does not know
        # of, such as operands the lowering chose to store, go after it)
        plan = graph.meta.get("memory_plan")
        planned = plan.offsets if plan is not None else {}
        total = plan.arena_bytes if plan is not None else 0
        offsets = []
        for b in self.program.buffers:
            if b.kind != "temp":
                continue
            if b.node in planned:
                offsets.append((b, planned[b.node]))
            else:
                offsets.append((b, total))
                total += -(-max(b.nbytes, 1) // _ALIGN) * _ALIGN
        self.arena = np.zeros(total + _ALIGN, np.uint8)
        base = self.arena.ctypes.data
        base += (-base) % _ALIGN
        for b, off in offsets:
            self.table[slots[b.name]] = base + off
        self.arena_bytes = total
        self.scratch_bytes = total - (plan.arena_bytes if plan is not None else 0)  # lowering's own buffers
        self.errors = self.program.meta.get("errors", [])
        self.error_code = np.zeros(1, np.int64)
        if self.errors:
            self.table[slots["err"]] = self.error_code.ctypes.data
        self._ph_slots = [(b.index, slots[b.name]) for b in self.program.buffers if b.kind == "placeholder"]
        # a small output (a loss, a batch-1 prediction) is written into a cell of its own and
        # copied out: cheaper than looking up the address of a fresh array on every call
        self._outputs, self._small_outputs, self._cells = [], [], []
        for b in self.program.buffers:
            if b.kind != "output":
                continue
            dtype = from_name(b.dtype).np
            if b.nbytes <= _SMALL_OUTPUT:
                cell = np.empty(b.shape, dtype)
                self.table[slots[b.name]] = cell.ctypes.data
                self._small_outputs.append((b.index, cell))
            else:
                self._outputs.append((b.index, slots[b.name], dtype, b.shape))
        self._bound = [None] * len(graph.placeholders)  # the arrays the table points at, by placeholder
        self._staged = []  # (array, contiguous copy) for non-contiguous arrays: copied in, and back out if written
        index = {p: i for i, p in enumerate(graph.placeholders)}
        self._assigned = {index[a.inputs[0]] for a in graph.assigns}
        self._n_outputs = len(graph.outputs)

    def run(self, arrays):
        if not all(map(is_, arrays, self._bound)):  # (in a steady state every array is the one bound)
            self._bind(arrays)
        for array, copy, _ in self._staged:
            np.copyto(copy, array)
        outs = [None] * self._n_outputs
        table = self.table
        for index, slot, dtype, shape in self._outputs:
            o = np.empty(shape, dtype)
            table[slot] = o.ctypes.data
            outs[index] = o
        self._step()
        for array, copy, written in self._staged:
            if written:
                np.copyto(array, copy)
        for index, cell in self._small_outputs:  # written in place, handed out as copies
            outs[index] = cell.copy()
        self.calls += 1
        if self.errors and self.error_code[0]:
            code = int(self.error_code[0])
            self.error_code[0] = 0
            raise GraphcIndexError(f"the compiled step stopped: {self.errors[code - 1]}",
                                   fix="check the indices or labels passed in (they must be in range)")
        return outs

    def _bind(self, arrays) -> None:
        """Point the table at ``arrays``. The code reads and writes C-contiguous memory: any other
        array (a transposed or Fortran-ordered parameter) is staged through a contiguous copy,
        refreshed before each call and, if the step assigns it, copied back after."""
        table, bound = self.table, self._bound
        self._staged = []
        for index, slot in self._ph_slots:
            a = arrays[index]
            if not a.flags.c_contiguous:
                copy = np.ascontiguousarray(a)
                self._staged.append((a, copy, index in self._assigned))
                table[slot] = copy.ctypes.data
            elif a is not bound[index]:
                table[slot] = a.ctypes.data
        self._bound = list(arrays)


    def profile(self) -> list[dict]:
        """Per kernel: name, op, total seconds, seconds per call, GFLOP/s and share of the step."""
        total = max(int(self.kernel_ns.sum()), 1)
        rows = []
        for k, ns in zip(self.program.kernels, self.kernel_ns):
            per_call = ns / 1e9 / max(self.calls, 1)
            rows.append({"kernel": k.name, "op": k.meta.get("op", ""), "seconds": ns / 1e9, "per_call": per_call,
                         "gflops": (k.flops / per_call / 1e9) if per_call > 0 and k.flops else 0.0,
                         "share": ns / total})
        return rows

    def profile_report(self) -> str:
        lines = [f"{'kernel':<28}{'op':<24}{'us/call':>10}{'GFLOP/s':>10}{'share':>8}"]
        for r in sorted(self.profile(), key=lambda r: -r["seconds"]):
            lines.append(f"{r['kernel']:<28}{r['op']:<24}{r['per_call'] * 1e6:>10.1f}{r['gflops']:>10.2f}{r['share']:>8.1%}")
        return "\n".join(lines)


class LLVMBackend:
    name = "llvm"

    def __init__(self, use_cache: bool = True, profile: bool | None = None):
        import os

        self.use_cache = use_cache
        self.profile = profile if profile is not None else os.environ.get("GRAPHC_PROFILE", "0") not in ("0", "")

    def compile(self, graph: Graph) -> LLVMExecutable:
        return LLVMExecutable(graph, self.use_cache, self.profile)


register_backend("llvm", LLVMBackend)
