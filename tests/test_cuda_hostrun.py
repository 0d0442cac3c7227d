"""The emitted kernel code itself, run on this CPU: the LLVM IR that ``emit.py`` renders for each
grid launch (thread-index arithmetic, grid-stride loop, serial loops, stores, atomic adds, device
math), retargeted to the host with the thread registers read from globals, and called once per
(block, thread) in a random order. Block reductions and GEMMs need warps and barriers, so those
launches run in the Python emulator of test_cuda_schedule.py. Results equal the reference."""

from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
import numpy as np
import pytest
from ir_examples import example_graphs
from llvmlite import ir
from test_cuda_ptx import _unary_f64_graph
from test_cuda_schedule import Emulator, _feeds, _small_reduction_graph

from graphc.ir.dtypes import from_name
from graphc.passes import run_pipeline
from graphc.runtime.backends import get_backend
from graphc.runtime.cuda.emit import PTXEmitter
from graphc.runtime.cuda.schedule import phases
from graphc.runtime.llvm.jit import new_target_machine
from graphc.runtime.lower import lower

I32, I64 = ir.IntType(32), ir.IntType(64)


class HostEmitter(PTXEmitter):
    """The GPU emitter with thread registers read from module globals and no kernel convention."""

    def sreg(self, name: str, dim: str = "x"):
        g = self.module.globals.get(f"gc_{name}_{dim}")
        if g is None:
            g = ir.GlobalVariable(self.module, I32, f"gc_{name}_{dim}")
            g.initializer = ir.Constant(I32, 0)
        return self.builder.zext(self.builder.load(g, typ=I32), I64)

    def _begin(self, name, buffers):
        super()._begin(name, buffers)
        self.fn.calling_convention = ""


def run_program(graph, feeds, seed=0):
    program = lower(graph)
    rng = np.random.default_rng(seed)
    bufs = {}
    for b in program.buffers:
        if b.kind == "placeholder":
            bufs[b.name] = feeds[b.index].reshape(-1)
        else:
            bufs[b.name] = np.zeros(max(int(np.prod(b.shape)), 1), from_name(b.dtype).np)
    module = ir.Module(name="hostrun")
    module.triple = llvm.get_default_triple()
    emitter = HostEmitter(module)
    plan = []
    for k in program.kernels:
        for n, phase in enumerate(phases(k.body)):
            launch = emitter.emit_phase(f"{k.name}_p{n}", list(k.buffers), phase) if phase.kind == "grid" else None
            plan.append((k, phase, launch))
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, new_target_machine())
    engine.finalize_object()
    regs = {name: ctypes.c_int32.from_address(engine.get_global_value_address(f"gc_{name}_x"))
            for name in ("tid", "ntid", "ctaid", "nctaid") if f"gc_{name}_x" in str(module)}
    for k, phase, launch in plan:
        if phase.kind != "grid":
            getattr(Emulator({n: bufs[n] for n in k.buffers}, rng), f"_{phase.kind}")(phase)
            continue
        if launch is None:
            continue
        fn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * len(k.buffers))(engine.get_function_address(launch.name))
        ptrs = [bufs[n].ctypes.data for n in k.buffers]
        regs["ntid"].value, regs["nctaid"].value = launch.block[0], launch.grid[0]
        for t in rng.permutation(launch.grid[0] * launch.block[0]):
            regs["ctaid"].value, regs["tid"].value = divmod(int(t), launch.block[0])
            fn(*ptrs)
    outs = [None] * len(graph.outputs)
    for b in program.buffers:
        if b.kind == "output":
            outs[b.index] = bufs[b.name][: int(np.prod(b.shape))].reshape(b.shape).copy()
    return outs, engine


def _graphs():
    return [g for g in example_graphs() if g.nodes] + [_unary_f64_graph(), _small_reduction_graph()]


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("index", range(len(_graphs())))
def test_emitted_grid_kernels_give_the_reference_results(index, fused):
    rng = np.random.default_rng(index)
    feeds = _feeds(_graphs()[index], rng)
    ref_feeds = [np.array(f, copy=True) for f in feeds]
    ref = get_backend("reference").compile(_graphs()[index]).run(ref_feeds)
    graph = run_pipeline(_graphs()[index], ["fuse"] if fused else [])
    out, _engine = run_program(graph, feeds, seed=index)
    for a, b in zip(out, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
    for a, b in zip(feeds, ref_feeds):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
