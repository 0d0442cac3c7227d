"""The emitted kernel code itself, run on this CPU: the LLVM IR that ``emit.py`` and ``gemm.py``
render (thread-index arithmetic, grid-stride loops, serial loops, stores, atomic adds, device
math, warp shuffles, shared memory, barriers), retargeted to the host. Grid launches are called
once per (block, thread) in a random order with the thread registers in globals; block
reductions and GEMM tiles run each block's threads as host threads, with barriers and warp
shuffles as calls into Python. Results equal the reference."""

from __future__ import annotations

import ctypes
import threading

import llvmlite.binding as llvm
import numpy as np
import pytest
from ir_examples import example_graphs
from llvmlite import ir
from test_cuda_ptx import _unary_f64_graph
from test_cuda_schedule import Emulator, _feeds, _small_reduction_graph

from graphc.ir import Graph, TensorType, float32, float64, int64
from graphc.ir.dtypes import from_name
from graphc.passes import run_pipeline
from graphc.runtime.backends import get_backend
from graphc.runtime.cuda.emit import PTXEmitter
from graphc.runtime.cuda.lowering import lower
from graphc.runtime.cuda.schedule import phases
from graphc.runtime.llvm.jit import new_target_machine

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
    graph = run_pipeline(_graphs()[index], ["decompose", "fuse"] if fused else ["decompose"])
    out, _engine = run_program(graph, feeds, seed=index)
    for a, b in zip(out, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
    for a, b in zip(feeds, ref_feeds):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


# ---------------------------------------------------------------------- whole blocks, on threads
class BlockEmitter(PTXEmitter):
    """The GPU emitter with thread registers, barriers and warp shuffles as calls into Python,
    so one block's threads can run as host threads (block reductions and GEMM tiles)."""

    def _ext(self, name, ret, args):
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name=name)
        return fn

    def sreg(self, name: str, dim: str = "x"):
        code = _SREGS.index((name, dim))
        v = self.builder.call(self._ext("gc_sreg", I32, [I32]), [ir.Constant(I32, code)])
        return self.builder.zext(v, I64)

    def barrier(self):
        self.builder.call(self._ext("gc_barrier", ir.VoidType(), []), [])

    def shuffle_xor(self, v, lane_mask: int):
        b = self.builder
        ty = v.type
        if ty == ir.FloatType():
            bits = b.zext(b.bitcast(v, I32), I64)
        elif ty == ir.DoubleType():
            bits = b.bitcast(v, I64)
        elif ty == I32:
            bits = b.zext(v, I64)
        else:
            bits = v
        got = b.call(self._ext("gc_shfl", I64, [I64, I32]), [bits, ir.Constant(I32, lane_mask)])
        if ty == ir.FloatType():
            return b.bitcast(b.trunc(got, I32), ty)
        if ty == ir.DoubleType():
            return b.bitcast(got, ty)
        if ty == I32:
            return b.trunc(got, I32)
        return got

    def _begin(self, name, buffers):
        super()._begin(name, buffers)
        self.fn.calling_convention = ""


_SREGS = [(n, d) for n in ("tid", "ntid", "ctaid", "nctaid") for d in "xyz"]


class Block:
    """One block's threads as Python threads, with the callbacks the emitted code calls."""

    def __init__(self):
        self.local = threading.local()
        self.barrier = None
        self.warp = {}
        self.lanes = {}
        self.sreg_cb = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32)(self._sreg)
        self.barrier_cb = ctypes.CFUNCTYPE(None)(self._barrier)
        self.shfl_cb = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int32)(self._shfl)
        llvm.add_symbol("gc_sreg", ctypes.cast(self.sreg_cb, ctypes.c_void_p).value)
        llvm.add_symbol("gc_barrier", ctypes.cast(self.barrier_cb, ctypes.c_void_p).value)
        llvm.add_symbol("gc_shfl", ctypes.cast(self.shfl_cb, ctypes.c_void_p).value)

    def _sreg(self, code):
        return self.local.regs[code]

    def _barrier(self):
        self.barrier.wait()

    def _shfl(self, bits, mask):
        regs = self.local.regs
        tid = regs[0] + regs[1] * regs[3]  # x + y * ntid.x
        warp, lane = divmod(tid, 32)
        self.lanes[warp][lane] = bits
        self.warp[warp].wait()
        got = self.lanes[warp][lane ^ mask]
        self.warp[warp].wait()
        return got

    def run_serial(self, fn, ptrs, grid, block, rng):
        """A launch without barriers or shuffles: each thread called in turn, in a random order."""
        for t in rng.permutation(grid[0] * block[0]):
            bx, tx = divmod(int(t), block[0])
            self.local.regs = [tx, 0, 0, *block, bx, 0, 0, *grid]
            fn(*ptrs)

    def run(self, fn, ptrs, grid, block):
        size = block[0] * block[1] * block[2]
        assert size % 32 == 0
        for bz in range(grid[2]):
            for by in range(grid[1]):
                for bx in range(grid[0]):
                    self.barrier = threading.Barrier(size, timeout=20)
                    self.warp = {w: threading.Barrier(32, timeout=20) for w in range(size // 32)}
                    self.lanes = {w: [0] * 32 for w in range(size // 32)}
                    threads = []
                    for t in range(size):
                        tx, rest = t % block[0], t // block[0]
                        regs = [tx, rest % block[1], rest // block[1], *block, bx, by, bz, *grid]
                        threads.append(threading.Thread(target=self._thread, args=(fn, ptrs, regs)))
                    for th in threads:
                        th.start()
                    for th in threads:
                        th.join(60)

    def _thread(self, fn, ptrs, regs):
        self.local.regs = regs
        fn(*ptrs)


_BLOCK = None


def run_blocks(graph, feeds):
    """Every launch of ``graph`` from its emitted code, a block at a time on host threads."""
    global _BLOCK
    if _BLOCK is None:
        _BLOCK = Block()
    program = lower(graph)
    bufs = {}
    for b in program.buffers:
        if b.kind == "placeholder":
            bufs[b.name] = feeds[b.index].reshape(-1)
        else:
            bufs[b.name] = np.zeros(max(int(np.prod(b.shape)), 1), from_name(b.dtype).np)
    module = ir.Module(name="blockrun")
    module.triple = llvm.get_default_triple()
    emitter = BlockEmitter(module)
    plan = []
    for k in program.kernels:
        for n, phase in enumerate(phases(k.body)):
            launch = emitter.emit_phase(f"{k.name}_p{n}", list(k.buffers), phase)
            if launch is not None:
                plan.append((k, launch, phase.kind))
    mod = llvm.parse_assembly(str(module))
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, new_target_machine())
    engine.finalize_object()
    rng = np.random.default_rng(0)
    for k, launch, kind in plan:
        fn = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * len(k.buffers))(engine.get_function_address(launch.name))
        ptrs = [bufs[n].ctypes.data for n in k.buffers]
        if kind == "grid":
            _BLOCK.run_serial(fn, ptrs, launch.grid, launch.block, rng)
        else:
            _BLOCK.run(fn, ptrs, launch.grid, launch.block)
    outs = [None] * len(graph.outputs)
    for b in program.buffers:
        if b.kind == "output":
            outs[b.index] = bufs[b.name][: int(np.prod(b.shape))].reshape(b.shape).copy()
    return outs, engine


def _block_graphs():
    g = Graph("blocks")
    x = g.placeholder("x", TensorType(float32, (2, 300)), "input")
    d = g.placeholder("d", TensorType(float64, (700,)), "input")
    n = g.placeholder("n", TensorType(int64, (2, 260)), "input")
    a = g.placeholder("a", TensorType(float32, (2, 20, 35)), "input")
    w = g.placeholder("w", TensorType(float32, (18, 35)), "param")
    prod = g.add("matmul", a, g.add("permute", w, dims=(1, 0)))
    g.set_outputs([g.add("sum", x, dims=(1,), keepdim=False), g.add("max", x, dims=(0, 1), keepdim=True),
                   g.add("sum", d, dims=(0,), keepdim=False), g.add("sum", n, dims=(1,), keepdim=False),
                   g.add("max", n, dims=(0, 1), keepdim=False), g.add("relu", prod)])
    return g


@pytest.mark.parametrize("fused", [False, True])
def test_emitted_block_reductions_and_gemm_give_the_reference_results(fused):
    rng = np.random.default_rng(7)
    feeds = _feeds(_block_graphs(), rng)
    feeds[0] = feeds[0] - 1.0  # negative values too, for max
    ref = get_backend("reference").compile(_block_graphs()).run([np.array(f, copy=True) for f in feeds])
    graph = run_pipeline(_block_graphs(), ["decompose", "fuse"] if fused else ["decompose"])
    kinds = {p.kind for k in lower(graph).kernels for p in phases(k.body)}
    assert {"reduce", "gemm"} <= kinds
    out, _engine = run_blocks(graph, feeds)
    for a, b in zip(out, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _mlp_step():
    from test_cuda_ptx import MLP, _train_step_graph

    import graphc

    rng = np.random.default_rng(0)
    graphc.manual_seed(0)
    x, y = rng.normal(size=(16, 32)), rng.integers(0, 10, 16)
    return _train_step_graph(MLP, graphc.tensor(x.astype(np.float32)), graphc.tensor(y))


def test_emitted_mlp_train_step_gives_the_reference_results():
    """A whole optimised SGD-momentum train step: every launch from its emitted code."""
    graph = _mlp_step()  # (LeNet-5 takes minutes this way; a GPU runs it in test_cuda_gpu.py)
    rng = np.random.default_rng(1)
    feeds = []
    for p in graph.placeholders:
        if p in graph.const_values:
            feeds.append(np.array(graph.const_values[p], copy=True))
        elif p.role == "hyper":
            feeds.append(np.full(p.shape, 0.05, p.dtype.np))
        elif p.dtype.is_floating_point:
            feeds.append(rng.normal(0, 0.3, p.shape).astype(p.dtype.np))
        else:
            feeds.append(rng.integers(0, 10, p.shape).astype(p.dtype.np))
    ref_feeds = [np.array(f, copy=True) for f in feeds]
    ref = get_backend("reference").compile(graph).run(ref_feeds)
    out, _engine = run_blocks(graph, feeds)
    for a, b in zip(out, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b, p in zip(feeds, ref_feeds, graph.placeholders):  # parameters and momentum updated alike
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=p.name)
