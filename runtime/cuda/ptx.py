"""A lowered program -> one PTX module and its launch plan, through llvmlite's NVPTX target.

``build_ptx(program, arch="sm_80")`` renders every kernel of the program (each top-level phase a
``ptx_kernel`` function, see ``schedule.py`` and ``emit.py``) into one LLVM module for
``nvptx64-nvidia-cuda``, optimises it at O3 for the chosen architecture and emits PTX text.
The launch plan lists, in execution order, each launch's kernel name, grid, block, dynamic
shared bytes and the buffers passed as its arguments: plain data, which the runtime
(``backend.py``) and the exported host library follow. Nothing here needs a GPU or a driver.

    >>> ptx = build_ptx(lower(graph), arch="sm_90")
    >>> ptx.text[:40], ptx.launches[0].as_dict()
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import llvmlite.binding as llvm
from llvmlite import ir

from graphc.ir.errors import CompileError

from .emit import Launch, PTXEmitter
from .schedule import phases

TRIPLE = "nvptx64-nvidia-cuda"
DEFAULT_ARCH = "sm_80"


def ptx_version(arch: str) -> str:
    """The lowest PTX ISA version (as an LLVM feature) that the architecture needs."""
    n = arch_number(arch)
    if n >= 120:
        return "+ptx87"
    if n >= 100:
        return "+ptx86"
    if n >= 89:
        return "+ptx78"
    return "+ptx70"


def arch_number(arch: str) -> int:
    m = re.fullmatch(r"sm_(\d+)a?", arch)
    if m is None or int(m.group(1)) < 70:
        raise CompileError(f"unknown or unsupported CUDA architecture {arch!r}",
                           fix="pass an architecture such as 'sm_80' or 'sm_90' (Volta sm_70 or newer)")
    return int(m.group(1))


@functools.lru_cache(maxsize=8)
def target_machine(arch: str):
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu=arch, features=ptx_version(arch), opt=3)


@functools.lru_cache(maxsize=8)
def data_layout(arch: str) -> str:
    return str(target_machine(arch).target_data)


@dataclass
class PTXModule:
    """The PTX text of one program, its launches in order, and the LLVM IR it came from."""

    text: str
    launches: list[Launch]
    arch: str
    llvm_ir: str = ""
    kernel_launches: dict = field(default_factory=dict)  # kernel-IR name -> its launch names

    def plan(self) -> list[dict]:
        return [launch.as_dict() for launch in self.launches]


def build_module(kernels, arch: str = DEFAULT_ARCH, name: str = "graphc"):
    """The NVPTX LLVM module of ``kernels`` and their launches (unoptimised)."""
    arch_number(arch)
    module = ir.Module(name=name)
    module.triple = TRIPLE
    module.data_layout = data_layout(arch)
    emitter = PTXEmitter(module)
    launches: list[Launch] = []
    per_kernel: dict = {}
    for k in kernels:
        per_kernel[k.name] = []
        for n, phase in enumerate(phases(k.body)):
            launch = emitter.emit_phase(f"{k.name}_p{n}", list(k.buffers), phase)
            if launch is not None:
                launch.kernel = k.name
                launches.append(launch)
                per_kernel[k.name].append(launch.name)
    return module, launches, per_kernel


def optimize(module, arch: str) -> llvm.ModuleRef:
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(target_machine(arch), pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def build_ptx(program, arch: str = DEFAULT_ARCH, name: str = "graphc") -> PTXModule:
    """PTX for every kernel of a lowered ``program`` (``graphc.runtime.lower.Program``)."""
    module, launches, per_kernel = build_module(program.kernels, arch, name)
    text = str(module)
    optimized = optimize(text, arch)
    ptx = target_machine(arch).emit_assembly(optimized)
    return PTXModule(ptx, launches, arch, text, per_kernel)


def graph_ptx(graph, arch: str = DEFAULT_ARCH) -> PTXModule:
    """Lower an optimised graph and render it to PTX (what ``graphc.export(target="cuda")`` writes)."""
    from .lowering import lower

    return build_ptx(lower(graph), arch, graph.name or "graphc")
