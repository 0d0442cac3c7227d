"""Build one LLVM module for a program (its kernels and one entry function), optimise, JIT it."""

from __future__ import annotations

import ctypes
import functools

import llvmlite.binding as llvm
from llvmlite import ir

from ..kernel_ir import Kernel
from . import threads
from .codegen import I64, PTR, KernelEmitter
from .compile_worker import SPEED_LEVEL, compile_text, new_target_machine, run_pipeline  # noqa: F401 (re-exported)
from .parts import compile_parts, pack_objects, unpack_objects

ENTRY = "graphc_step"
BOUND_ENTRY, BOUND_TABLE = "graphc_step_bound", "graphc_step_table"


@functools.lru_cache(maxsize=1)
def host_target_machine():
    """The shared target machine for this CPU (optimisation and assembly; never given to an engine)."""
    return new_target_machine()


def support_modules() -> list[ir.Module]:
    """The runtime code compiled kernels call into (the thread pool), as modules an exported
    library links in; the JIT loads the same code once per process."""
    return [threads.runtime_module()]


@functools.lru_cache(maxsize=1)
def host_data_layout() -> str:
    # read once: each ``target_data`` access wraps the machine's layout in an object whose
    # disposal would free it again
    return str(host_target_machine().target_data)


def _new_module(name: str) -> ir.Module:
    module = ir.Module(name=name)
    module.triple = llvm.get_default_triple()
    module.data_layout = host_data_layout()
    return module


def build_module(kernels: list[Kernel], slots: dict[str, int], name: str = "graphc", first_assign: int | None = None,
                 profile: bool = False, elsewhere: dict[int, str] | None = None, bound: bool = False) -> ir.Module:
    """Kernels plus ``void graphc_step(ptr table)``, which calls each kernel with its buffers' pointers.

    When the program has native checks (an ``err`` slot), the step returns before the first
    assign kernel if a check failed, so a failed step never updates parameters or state.
    With ``profile``, the step adds each kernel's wall time in nanoseconds (clock_gettime,
    CLOCK_MONOTONIC) to the i64 array in the ``prof`` slot. ``elsewhere`` maps the index of a
    kernel compiled in another part (:func:`build_parts`) to its symbol: it is only declared here.
    ``bound`` adds ``void graphc_step_bound()``, the step on the table whose address is stored in
    the global ``graphc_step_table``: Python calls it with no argument to convert (0.3 us less
    per call through ctypes).
    """
    module = _new_module(name)
    emitter = KernelEmitter(module)
    elsewhere = elsewhere or {}
    fns = [ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * len(k.buffers)), name=elsewhere[i])
           if i in elsewhere else emitter.emit(k) for i, k in enumerate(kernels)]
    entry = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=ENTRY)
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    table = entry.args[0]
    clock = None
    if profile:
        clock = ir.Function(module, ir.FunctionType(ir.IntType(32), [ir.IntType(32), PTR]), name="clock_gettime")
        spec = b.alloca(ir.ArrayType(I64, 2))
        prof = b.load(b.gep(table, [ir.Constant(I64, slots["prof"])], source_etype=PTR, inbounds=True), typ=PTR)

        def now():
            b.call(clock, [ir.Constant(ir.IntType(32), 1), spec])
            sec = b.load(b.gep(spec, [ir.Constant(I64, 0), ir.Constant(I64, 0)], source_etype=spec.allocated_type), typ=I64)
            nsec = b.load(b.gep(spec, [ir.Constant(I64, 0), ir.Constant(I64, 1)], source_etype=spec.allocated_type), typ=I64)
            return b.add(b.mul(sec, ir.Constant(I64, 1_000_000_000)), nsec)
    for n, (k, fn) in enumerate(zip(kernels, fns)):
        if n == first_assign and "err" in slots:
            err = b.load(b.load(b.gep(table, [ir.Constant(I64, slots["err"])], source_etype=PTR, inbounds=True), typ=PTR), typ=I64)
            proceed = entry.append_basic_block("updates")
            stop = entry.append_basic_block("failed")
            b.cbranch(b.icmp_signed("==", err, ir.Constant(I64, 0)), proceed, stop)
            b.position_at_end(stop)
            b.ret_void()
            b.position_at_end(proceed)
        ptrs = [b.load(b.gep(table, [ir.Constant(I64, slots[buf])], source_etype=PTR, inbounds=True), typ=PTR)
                for buf in k.buffers]
        if clock is not None:
            start = now()
            b.call(fn, ptrs)
            cell = b.gep(prof, [ir.Constant(I64, n)], source_etype=I64, inbounds=True)
            b.store(b.add(b.load(cell, typ=I64), b.sub(now(), start)), cell)
        else:
            b.call(fn, ptrs)
    b.ret_void()
    if bound:
        cell = ir.GlobalVariable(module, PTR, name=BOUND_TABLE)
        cell.initializer = ir.Constant(PTR, None)
        step = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name=BOUND_ENTRY)
        sb = ir.IRBuilder(step.append_basic_block("entry"))
        sb.call(entry, [sb.load(cell, typ=PTR)])
        sb.ret_void()
    return module


def _cost(kernel: Kernel) -> int:
    """A kernel's rough compile cost: the size of its kernel IR (a GEMM template counts extra)."""
    text = repr(kernel.body)
    return len(text) + 20000 * text.count("Gemm(")


def build_parts(kernels: list[Kernel], slots: dict[str, int], name: str, first_assign: int | None, profile: bool,
                parts: int, salt: str, bound: bool = False) -> list[ir.Module]:
    """The program as ``parts`` modules of about equal compile cost, to compile at the same time:
    the first holds the entry and calls the kernels of the others, which define them as external
    symbols (``<kernel>.<salt>``, unique to this program) in one engine with the first."""
    bins: list[list[int]] = [[] for _ in range(parts)]
    load = [0] * parts
    for i in sorted(range(len(kernels)), key=lambda i: -_cost(kernels[i])):
        j = load.index(min(load))
        bins[j].append(i)
        load[j] += _cost(kernels[i])
    symbol = {i: f"{kernels[i].name}.{salt}" for b in bins[1:] for i in b}
    modules = [build_module(kernels, slots, name, first_assign, profile, elsewhere=symbol, bound=bound)]
    for b in bins[1:]:
        module = _new_module(f"{name}.part")
        emitter = KernelEmitter(module)
        for i in sorted(b):
            emitter.emit(kernels[i], symbol[i])
        modules.append(module)
    return [m for m, b in zip(modules, bins) if m is modules[0] or b]


def optimize(module) -> llvm.ModuleRef:
    """Parse (an llvmlite module or its text), verify, and optimise it for the host."""
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    run_pipeline(mod, host_target_machine())
    return mod


def target_description() -> str:
    return f"{llvm.get_default_triple()} {llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"


class JitModule:
    """Native code for one program in an MCJIT engine; ``entry(table_address)`` runs one step.

    With a cache key, the object code is taken from the disk cache when there (skipping LLVM's
    optimisation and code generation) and stored there after a compile. ``parts`` (optional)
    builds the program as several modules (:func:`build_parts`) for a compile that uses several
    processes; ``module`` still gives the single module the reports show.
    """

    def __init__(self, module, cache_key: str | None = None, parts=None):
        """``module``: the llvmlite module, or a function that builds it (called only when the
        cache has no entry for ``cache_key``, or when the IR is asked for); ``parts``: a function
        returning the program's modules, or None to compile ``module`` in this process."""
        from .. import cache
        from ..cache import graphc_version

        self._build = module if callable(module) else (lambda: module)
        self._llvm_ir = None
        self.optimized = None
        self.from_cache = False
        blob = cache.load(cache_key) if cache_key else None
        if blob is not None:
            try:
                self._load_objects(unpack_objects(blob))
                self.from_cache = True
                return
            except Exception:  # a damaged entry: compile again and overwrite it
                blob = None
        modules = parts() if parts is not None else []
        if len(modules) > 1:
            objs = compile_parts([str(m) for m in modules])
        else:
            self.optimized = optimize(self.llvm_ir)
            objs = [new_target_machine().emit_object(self.optimized)]
        self._load_objects(objs)
        if cache_key:
            cache.store(cache_key, pack_objects(objs), {"graphc": graphc_version(), "target": target_description()})

    @property
    def llvm_ir(self) -> str:
        """The module's LLVM IR text (built on first use when the code came from the cache)."""
        if self._llvm_ir is None:
            self._llvm_ir = str(self._build())
        return self._llvm_ir

    def _load_objects(self, objs: list[bytes]) -> None:
        threads.ensure_runtime()  # the thread pool the kernels call (graphc_parallel_for)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())
        for obj in objs:
            self.engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self.engine.finalize_object()
        address = self.engine.get_function_address(ENTRY)
        if not address:
            raise RuntimeError("the object code has no entry function")
        self.entry = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(address)
        bound = self.engine.get_function_address(BOUND_ENTRY)
        self.bound_entry = ctypes.CFUNCTYPE(None)(bound) if bound else None
        self.table_cell = self.engine.get_global_value_address(BOUND_TABLE) if bound else 0

    def optimized_ir(self) -> str:
        if self.optimized is None:
            self.optimized = optimize(self.llvm_ir)
        return str(self.optimized)

    def assembly(self) -> str:
        if self.optimized is None:
            self.optimized = optimize(self.llvm_ir)
        return host_target_machine().emit_assembly(self.optimized)
