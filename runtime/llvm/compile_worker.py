"""LLVM's optimisation and code generation for the host, shared by the JIT and its worker processes.

The JIT (``jit.py``) optimises and emits object code with :func:`run_pipeline` and
:func:`new_target_machine`. A large program is split into parts (``jit.build_parts``) compiled
at the same time (``parts.compile_parts``): the JIT's own process takes the first part, and this
file, run as a script by path, takes each other one::

    python .../compile_worker.py SPEED_LEVEL < part.ll > part.o

It imports nothing but llvmlite (no graphc, no numpy), so a worker starts in a few tens of
milliseconds. llvmlite serialises every call into LLVM behind one lock, so threads could not
overlap this work; processes can.
"""

from __future__ import annotations

import sys

import llvmlite.binding as llvm

# LLVM's O2 pipeline with the loop and SLP vectorisers and unrolling on. O3 adds passes that our
# kernels do not profit from (the GEMM micro-kernels are vector IR already; kernel loops are
# simple): on the LeNet-5 and MLP train steps O3 took 1.5-1.9x as long to compile, and the code
# it made ran no faster (LeNet 4.25 vs 3.88 ms, MLP 0.92 vs 0.89 ms, interleaved in one process).
SPEED_LEVEL = 2


def new_target_machine():
    """A target machine for this CPU with all its features (AVX-512 where present).

    An MCJIT engine takes ownership of the machine it is given, so each engine gets its own.
    The large code model: MCJIT puts each object's code and data sections wherever its memory
    manager finds room, and in a process that has compiled many programs they can land more
    than 2 GB apart, beyond a 32-bit PC-relative reference (LLVM aborts the process linking
    them); 64-bit absolute references reach anywhere.
    """
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, reloc="static", codemodel="large")


def run_pipeline(mod, tm, speed_level: int = SPEED_LEVEL) -> None:
    """Optimise ``mod`` (an llvmlite ModuleRef) in place for ``tm``."""
    pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)


def compile_text(text: str, speed_level: int = SPEED_LEVEL) -> bytes:
    """LLVM IR text -> optimised host object code."""
    mod = llvm.parse_assembly(text)
    mod.verify()
    tm = new_target_machine()
    run_pipeline(mod, tm, speed_level)
    return tm.emit_object(mod)


if __name__ == "__main__":
    sys.stdout.buffer.write(compile_text(sys.stdin.buffer.read().decode(), int(sys.argv[1])))
