"""PyTorch's device semantics for "cuda" tensors, modules, optimizers and compiled steps.

No GPU is needed: availability is simulated (``graphc.cuda._status``), which is enough because a
CUDA tensor keeps its value in host memory and eager ops run on the host (docs/cuda.md). The
compiled-step tests swap in a stand-in "cuda" backend that runs the reference interpreter, to
check that steps are routed by device and their results placed there; the real backend is
tested on a GPU by test_cuda_gpu.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir.errors import DeviceError
from graphc.runtime import backends

CUDA = graphc.device("cuda", 0)


@pytest.fixture
def fake_gpu(monkeypatch):
    monkeypatch.setattr(graphc.cuda, "_status", lambda: (2, None))


@pytest.fixture
def reference_cuda_backend(monkeypatch, fake_gpu):
    seen = []

    class StandIn:
        name = "cuda"

        def __init__(self, device=0):
            seen.append(device)

        def compile(self, graph):
            return backends.ReferenceExecutable(graph)

    monkeypatch.setitem(backends._BACKENDS, "cuda", StandIn)
    return seen


def test_tensor_moves_copy_and_keep_autograd(fake_gpu):
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    y = x.cuda()
    assert y.device == CUDA and y.is_cuda and y.get_device() == 0 and str(y.device) == "cuda:0"
    assert y is not x and y.cuda() is y and y.to("cuda:0") is y
    assert not np.shares_memory(y.numpy(force=True), x.numpy(force=True))
    (y * y).sum().backward()
    assert x.grad.device == graphc.device("cpu") and x.grad.tolist() == [2.0, 4.0]
    z = y.cpu()
    assert z.device == graphc.device("cpu") and z.tolist() == [1.0, 2.0]
    assert "device='cuda:0'" in repr(y.detach())
    w = x.to("cuda:1", graphc.float64)
    assert w.device == graphc.device("cuda:1") and w.dtype is graphc.float64


def test_results_stay_on_the_device_and_devices_do_not_mix(fake_gpu):
    a = graphc.ones(2, 3, device="cuda")
    b = graphc.arange(3.0, device="cuda")
    assert (a + b).device == CUDA and (a * 2).device == CUDA and a.sum().device == CUDA
    assert (a + graphc.tensor(1.0)).device == CUDA  # a 0-dim CPU tensor mixes, as in PyTorch
    with pytest.raises(DeviceError, match="same device"):
        a + graphc.ones(3)
    with pytest.raises(DeviceError, match="same device"):
        a.add_(graphc.ones(2, 3))
    with pytest.raises(DeviceError, match="same device"):
        a + graphc.ones(3, device="cuda:1")


def test_factories_follow_their_input(fake_gpu):
    a = graphc.ones(2, device="cuda")
    for t in (graphc.zeros_like(a), graphc.ones_like(a), graphc.full_like(a, 3), graphc.rand_like(a),
              graphc.randn_like(a), a.new_zeros(3), a.new_tensor([1.0]), graphc.as_tensor([1.0], device="cuda")):
        assert t.device == CUDA
    assert graphc.zeros_like(a, device="cpu").device == graphc.device("cpu")
    with pytest.raises(DeviceError, match="invalid device ordinal 5"):
        graphc.ones(2, device="cuda:5")


def test_module_moves_in_place_and_trains_like_on_the_cpu(fake_gpu):
    graphc.manual_seed(0)
    gpu = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    cpu = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    cpu.load_state_dict(gpu.state_dict())
    params = list(gpu.parameters())
    assert gpu.cuda() is gpu and list(gpu.parameters()) == params  # the same Parameter objects
    assert all(t.device == CUDA for t in gpu.state_dict().values())
    opts = [graphc.optim.Adam(m.parameters(), lr=0.01) for m in (gpu, cpu)]
    rng = np.random.default_rng(0)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        x = graphc.tensor(rng.normal(size=(6, 4)).astype(np.float32))
        y = graphc.tensor(rng.integers(0, 3, 6))
        losses = []
        for model, opt, dev in ((gpu, opts[0], "cuda"), (cpu, opts[1], "cpu")):
            opt.zero_grad()
            loss = loss_fn(model(x.to(dev)), y.to(dev))
            loss.backward()
            opt.step()
            losses.append(loss)
        assert losses[0].device == CUDA
        np.testing.assert_allclose(losses[0].item(), losses[1].item(), rtol=1e-6)
    for p in gpu.parameters():
        assert p.grad.device == CUDA
        assert all(v.device == CUDA for k, v in opts[0].state[p].items() if k != "step")
    gpu.cpu()
    assert all(p.device == graphc.device("cpu") and p.grad.device == graphc.device("cpu") for p in gpu.parameters())


def test_loaded_optimizer_state_follows_its_parameters(fake_gpu):
    model = nn.Linear(3, 2)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(graphc.ones(1, 3)).sum().backward()
    opt.step()
    saved = opt.state_dict()
    model.cuda()
    opt2 = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(saved)
    assert all(s["momentum_buffer"].device == CUDA for s in opt2.state.values())


def test_compiled_step_runs_on_the_tensors_device(reference_cuda_backend):
    graphc.manual_seed(0)
    model = nn.Linear(4, 2).cuda()
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @graphc.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    before = model.weight.detach().cpu().numpy().copy()
    loss = step(graphc.ones(3, 4, device="cuda"))
    loss = step(graphc.ones(3, 4, device="cuda"))
    assert reference_cuda_backend and set(reference_cuda_backend) == {0}
    assert loss.device == CUDA
    assert not np.array_equal(before, model.weight.detach().cpu().numpy())
    assert all(s["momentum_buffer"].device == CUDA for s in opt.state.values())
    with pytest.raises(DeviceError, match="same device"):
        step(graphc.ones(3, 4))  # a CPU input with a model on the GPU


def test_compiled_step_on_a_cpu_model_stays_on_the_llvm_backend(reference_cuda_backend):
    model = nn.Linear(4, 2)
    out = graphc.compile(model)(graphc.ones(3, 4))
    assert out.device == graphc.device("cpu") and not reference_cuda_backend


def test_without_a_driver_a_cuda_step_fails_clearly(monkeypatch, fake_gpu):
    """Availability is simulated but libcuda is absent: the backend's driver refuses clearly."""
    from graphc.runtime.cuda import driver

    if driver.status()[0]:
        pytest.skip("a real GPU is present")
    model = nn.Linear(4, 2).cuda()
    with pytest.raises(DeviceError, match="no usable CUDA GPU"):
        graphc.compile(model)(graphc.ones(3, 4, device="cuda"))
