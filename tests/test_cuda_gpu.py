"""On a GPU: compiled results on "cuda" equal the CPU reference for every op and for whole train
steps, and a benchmark of the MLP and LeNet-5 train steps against PyTorch on the same GPU.

Every test here is marked ``gpu`` and skipped where ``graphc.cuda.is_available()`` is False
(no driver or no device). ``pytest -m gpu -s`` runs only these and prints the benchmark.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from ir_examples import example_graphs
from test_cuda_ptx import MLP, _lenet, _reduction_graph, _unary_f64_graph

import graphc
from graphc import nn
from graphc.passes import run_pipeline
from graphc.runtime.backends import get_backend

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not graphc.cuda.is_available(), reason="no usable CUDA GPU")]


def _feeds(graph, rng):
    feeds = []
    for p in graph.placeholders:
        if p in graph.const_values:
            feeds.append(np.array(graph.const_values[p], copy=True))
        elif p.dtype.is_floating_point:
            feeds.append(rng.uniform(0.1, 2.0, p.shape).astype(p.dtype.np))
        elif p.dtype.name == "bool":
            feeds.append(rng.integers(0, 2, p.shape).astype(bool))
        else:  # indices and seeds: small non-negative integers, valid for every example's dims
            feeds.append(rng.integers(0, 2, p.shape).astype(p.dtype.np))
    return feeds


def _graphs():
    return [g for g in example_graphs() if g.nodes] + [_unary_f64_graph(), _reduction_graph()]


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("index", range(len(_graphs())))
def test_every_op_on_the_gpu_equals_the_reference(index, fused):
    rng = np.random.default_rng(index)
    graph = _graphs()[index]
    feeds = _feeds(graph, rng)
    ref_feeds = [np.array(f, copy=True) for f in feeds]
    ref = get_backend("reference").compile(_graphs()[index]).run(ref_feeds)
    compiled = run_pipeline(_graphs()[index], ["decompose", "fuse"] if fused else ["decompose"])
    out = get_backend("cuda").compile(compiled).run(feeds)
    for a, b in zip(out, ref):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5, equal_nan=True)
    for a, b in zip(feeds, ref_feeds):  # assigns wrote the same updates
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5, equal_nan=True)


def _train(make, device, steps, batch, shape, compiled=True, seed=0):
    graphc.manual_seed(seed)
    model = make().to(device)
    opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step) if compiled else step
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        x = graphc.tensor(rng.normal(size=(batch, *shape)).astype(np.float32), device=device)
        y = graphc.tensor(rng.integers(0, 10, batch), device=device)
        losses.append(fn(x, y).item())
    return losses, model


@pytest.mark.parametrize("make,shape", [(MLP, (32,)), (_lenet, (1, 28, 28))], ids=["mlp", "lenet"])
def test_train_steps_on_the_gpu_equal_eager_cpu(make, shape):
    gpu_losses, gpu_model = _train(make, "cuda", 4, 16, shape)
    cpu_losses, cpu_model = _train(make, "cpu", 4, 16, shape, compiled=False)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4, atol=1e-5)
    for (k, a), (_, b) in zip(gpu_model.state_dict().items(), cpu_model.state_dict().items()):
        assert a.device == graphc.device("cuda", 0)
        np.testing.assert_allclose(a.cpu().numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("make,shape", [(MLP, (32,)), (_lenet, (1, 28, 28))], ids=["mlp", "lenet"])
def test_benchmark_train_step_against_pytorch(make, shape):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    batch, steps = 64, 50
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=(batch, *shape)).astype(np.float32)
    y_np = rng.integers(0, 10, batch)

    graphc.manual_seed(0)
    model = make().cuda()
    opt = graphc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = graphc.tensor(x_np, device="cuda"), graphc.tensor(y_np, device="cuda")
    for _ in range(3):
        step(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    ours = (time.perf_counter() - t0) / steps

    tmodel = _torch_twin(torch, model).cuda()
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9)
    tloss = torch.nn.CrossEntropyLoss()
    tx, ty = torch.tensor(x_np, device="cuda"), torch.tensor(y_np, device="cuda")

    def tstep():
        topt.zero_grad()
        loss = tloss(tmodel(tx), ty)
        loss.backward()
        topt.step()
        return loss

    for _ in range(3):
        tstep()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        tstep().item()  # graphc returns the loss on the host each step; so does this loop
    theirs = (time.perf_counter() - t0) / steps
    print(f"\n{make.__name__}: graphc {ours * 1e3:.3f} ms/step, PyTorch {theirs * 1e3:.3f} ms/step "
          f"({theirs / ours:.2f}x)")
    assert ours > 0 and theirs > 0


def _torch_twin(torch, model):
    """The same architecture in PyTorch, with graphc's weights."""
    state = {k: torch.tensor(v.cpu().numpy()) for k, v in model.state_dict().items()}
    if isinstance(model, MLP):
        twin = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
                                   torch.nn.Linear(64, 10))
        twin.load_state_dict({k.removeprefix("net."): v for k, v in state.items()})
        return twin
    F = torch.nn.functional

    class TorchLeNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = torch.nn.Conv2d(6, 16, 5)
            self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
            self.fc2 = torch.nn.Linear(120, 84)
            self.fc3 = torch.nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))

    twin = TorchLeNet()
    twin.load_state_dict(state)
    return twin
