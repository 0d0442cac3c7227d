"""The cuda backend's host side, on a simulated device: the real ``CudaExecutable`` (buffers,
arena layout, uploads, launch order, the index-check stop before updates, downloads into the
parameters) driven through ``graphc.compile`` with the driver replaced by a fake whose memory
is host bytes and whose launches run the kernel's phase in the Python emulator of
test_cuda_schedule.py. The PTX itself is checked by ptxas and on a real GPU elsewhere."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from test_cuda_schedule import Emulator

import graphc
from graphc import nn
from graphc.ir.dtypes import from_name
from graphc.ir.errors import GraphcIndexError
from graphc.runtime.cuda import backend as cuda_backend
from graphc.runtime.cuda import driver
from graphc.runtime.cuda.schedule import phases


class FakeDevice:
    def __init__(self):
        self.allocs: dict[int, np.ndarray] = {}
        self.next = 1 << 20
        self.launches: list[str] = []

    def alloc(self, nbytes: int) -> int:
        base = self.next
        self.allocs[base] = np.zeros(nbytes, np.uint8)
        self.next += nbytes + 4096
        return base

    def view(self, ptr: int, nbytes: int, dtype) -> np.ndarray:
        for base, mem in self.allocs.items():
            if base <= ptr < base + len(mem):
                start = ptr - base
                assert start + nbytes <= len(mem), "a kernel argument runs past its allocation"
                return mem[start:start + nbytes].view(dtype)
        raise AssertionError(f"pointer {ptr:#x} is not device memory")


@pytest.fixture
def fake_driver(monkeypatch):
    dev = FakeDevice()

    class Context:
        stream = None

        @classmethod
        def get(cls, index=0):
            return cls()

        def activate(self):
            pass

        def arch(self):
            return "sm_80"

        def synchronize(self):
            pass

    class DeviceBuffer:
        def __init__(self, ctx, nbytes):
            self.nbytes = nbytes
            self.ptr = ctypes.c_uint64(dev.alloc(max(nbytes, 1)))

        def upload(self, array):
            dev.view(self.ptr.value, array.nbytes, np.uint8)[:] = array.reshape(-1).view(np.uint8)

        def download(self, array):
            array.reshape(-1).view(np.uint8)[:] = dev.view(self.ptr.value, array.nbytes, np.uint8)

        def zero(self):
            dev.view(self.ptr.value, self.nbytes, np.uint8)[:] = 0

    class Module:
        def __init__(self, ctx, ptx):
            assert ".entry" in ptx
            self.exe = None

        def launch(self, name, grid, block, shared, pointers):
            dev.launches.append(name)
            kernel_name, index = name.rsplit("_p", 1)
            program = self.exe.program
            kernel = next(k for k in program.kernels if k.name == kernel_name)
            phase = phases(kernel.body)[int(index)]
            bufs = {}
            for buf_name, ptr in zip(kernel.buffers, pointers):
                b = next(b for b in program.buffers if b.name == buf_name)
                bufs[buf_name] = dev.view(ptr, b.nbytes, from_name(b.dtype).np)
            getattr(Emulator(bufs, np.random.default_rng(len(dev.launches))), f"_{phase.kind}")(phase)

    monkeypatch.setattr(driver, "Context", Context)
    monkeypatch.setattr(driver, "DeviceBuffer", DeviceBuffer)
    monkeypatch.setattr(driver, "Module", Module)
    monkeypatch.setattr(graphc.cuda, "_status", lambda: (1, None))
    original = cuda_backend.CudaExecutable.__init__

    def init(self, graph, device=0, arch=None):
        original(self, graph, device, arch)
        self.module.exe = self

    monkeypatch.setattr(cuda_backend.CudaExecutable, "__init__", init)
    return dev


def _train(device, steps=3):
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).to(device)
    opt = graphc.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step) if device == "cuda" else step
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x = graphc.tensor(rng.normal(size=(8, 6)).astype(np.float32), device=device)
        y = graphc.tensor(rng.integers(0, 4, 8), device=device)
        losses.append(fn(x, y))
    return losses, model, opt


def test_a_compiled_train_step_on_the_device_equals_eager_cpu(fake_driver):
    gpu_losses, gpu_model, gpu_opt = _train("cuda")
    cpu_losses, cpu_model, _ = _train("cpu")
    assert fake_driver.launches and all(loss.device == graphc.device("cuda", 0) for loss in gpu_losses)
    np.testing.assert_allclose([t.item() for t in gpu_losses], [t.item() for t in cpu_losses], rtol=1e-5)
    for (k, a), (_, b) in zip(gpu_model.state_dict().items(), cpu_model.state_dict().items()):
        assert a.device == graphc.device("cuda", 0)
        np.testing.assert_allclose(a.cpu().numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    assert all(s["exp_avg"].device == graphc.device("cuda", 0) for s in gpu_opt.state.values())


def test_a_failed_index_check_stops_before_any_update(fake_driver):
    model = nn.Linear(3, 4).cuda()
    opt = graphc.optim.SGD(model.parameters(), lr=0.1)

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x = graphc.ones(2, 3, device="cuda")
    step(x, graphc.tensor([0, 1], device="cuda"))
    before = model.weight.detach().cpu().numpy().copy()
    launched = len(fake_driver.launches)
    with pytest.raises(GraphcIndexError, match="out of range"):
        step(x, graphc.tensor([0, 7], device="cuda"))
    assert np.array_equal(model.weight.detach().cpu().numpy(), before)
    assigns = [n for n in fake_driver.launches[launched:] if "_assign_" in n]
    assert not assigns
