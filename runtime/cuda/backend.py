"""The ``cuda`` backend: a compiled step runs as a sequence of kernel launches on one GPU.

``CudaBackend(device=0).compile(graph)`` lowers the graph (``graphc.runtime.lower``), renders
PTX for the device's architecture (``ptx.py``) and loads it through the driver (``driver.py``).
Temporaries live in one device arena at the memory plan's offsets; each placeholder and output
has its own device buffer. graphc keeps every tensor's value in host memory (see
docs/cuda.md), so ``run(arrays)`` copies the placeholders' arrays to the device, launches every
kernel in order on the context's stream, and copies back the outputs and the parameters and
state the step assigned, so ``state_dict()`` sees each update. A failed index check stops the
step before any parameter is written, as on the CPU.
"""

from __future__ import annotations

import numpy as np

from graphc.ir import Graph
from graphc.ir.dtypes import from_name
from graphc.ir.errors import GraphcIndexError

from ..backends import register_backend
from . import driver
from .lowering import lower
from .ptx import build_ptx

_ALIGN = 256


class CudaExecutable:
    def __init__(self, graph: Graph, device: int = 0, arch: str | None = None):
        self.graph = graph
        self.ctx = driver.Context.get(device)
        self.arch = arch or self.ctx.arch()
        self.program = lower(graph)
        self.ptx = build_ptx(self.program, self.arch, graph.name or "graphc")
        self.module = driver.Module(self.ctx, self.ptx.text)
        self.kernel_count = len(self.program.kernels)
        self.errors = self.program.meta.get("errors", [])
        self._first_assign = self.program.meta.get("first_assign", len(self.program.kernels))
        plan = graph.meta.get("memory_plan")
        planned = plan.offsets if plan is not None else {}
        total = plan.arena_bytes if plan is not None else 0
        offsets = {}
        for b in self.program.buffers:
            if b.kind == "temp":
                if b.node in planned:
                    offsets[b.name] = planned[b.node]
                else:
                    offsets[b.name] = total
                    total += -(-max(b.nbytes, 1) // _ALIGN) * _ALIGN
        self.arena_bytes = total
        self.arena = driver.DeviceBuffer(self.ctx, total + _ALIGN)
        base = self.arena.ptr.value + (-self.arena.ptr.value) % _ALIGN
        self.buffers: dict[str, driver.DeviceBuffer] = {}
        self.pointers: dict[str, int] = {}
        for b in self.program.buffers:
            if b.kind == "temp":
                self.pointers[b.name] = base + offsets[b.name]
            else:
                buf = driver.DeviceBuffer(self.ctx, b.nbytes)
                self.buffers[b.name] = buf
                self.pointers[b.name] = buf.ptr.value
        self._placeholders = [(b.index, self.buffers[b.name], from_name(b.dtype).np)
                              for b in self.program.buffers if b.kind == "placeholder"]
        self._outputs = [(b.index, self.buffers[b.name], from_name(b.dtype).np, b.shape)
                         for b in self.program.buffers if b.kind == "output"]
        index = {p: i for i, p in enumerate(graph.placeholders)}
        by_name = {b.name: b for b in self.program.buffers}
        self._assigned = sorted({index[a.inputs[0]] for a in graph.assigns})
        self._assigned_buffers = {b.index: self.buffers[name] for name, b in by_name.items() if b.kind == "placeholder"}
        self._calls = [(launch, [self.pointers[n] for n in launch.buffers]) for launch in self.ptx.launches]
        kernel_order = {k.name: i for i, k in enumerate(self.program.kernels)}
        self._split = next((i for i, (launch, _) in enumerate(self._calls)
                            if kernel_order[launch.kernel] >= self._first_assign), len(self._calls))

    def run(self, arrays):
        self.ctx.activate()  # the context is current per thread; a step may run on any thread
        for index, buf, dtype in self._placeholders:
            buf.upload(np.ascontiguousarray(arrays[index], dtype=dtype))
        err = self.buffers.get("err")
        if err is not None:
            err.zero()
        self._launch(self._calls[: self._split])
        if err is not None:
            code = np.zeros(1, np.int64)
            err.download(code)
            if code[0]:
                raise GraphcIndexError(f"the compiled step stopped: {self.errors[int(code[0]) - 1]}",
                                       fix="check the indices or labels passed in (they must be in range)")
        self._launch(self._calls[self._split:])
        outs = [None] * len(self.graph.outputs)
        for index, buf, dtype, shape in self._outputs:
            o = np.empty(shape, dtype)
            buf.download(o)
            outs[index] = o
        for index in self._assigned:
            target = arrays[index]
            if target.flags.c_contiguous and target.flags.writeable:
                self._assigned_buffers[index].download(target)
            else:
                tmp = np.empty_like(target, order="C")
                self._assigned_buffers[index].download(tmp)
                np.copyto(target, tmp)
        self.ctx.synchronize()
        return outs

    def _launch(self, calls) -> None:
        for launch, pointers in calls:
            self.module.launch(launch.name, launch.grid, launch.block, launch.shared, pointers)


class CudaBackend:
    name = "cuda"

    def __init__(self, device: int = 0, arch: str | None = None):
        self.device = device
        self.arch = arch

    def compile(self, graph: Graph) -> CudaExecutable:
        return CudaExecutable(graph, self.device, self.arch)


register_backend("cuda", CudaBackend)
