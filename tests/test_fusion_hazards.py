"""Training steps whose updates ride on gradient kernels give eager mode's numbers.

Each model here has a weight that some other kernel reads after (or while) its gradient is
computed: the grad-input GEMM of a deeper layer, a weight shared by two layers, optimizer state
read by two updates. Every case also checks that some update really rides on a kernel, so the
comparison exercises early writes rather than the plain end-of-step path.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn


class Tied(nn.Module):
    """One Linear applied twice (a tied weight read by two forward and two grad-input GEMMs)."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(12, 16)
        self.shared = nn.Linear(16, 16)
        self.out = nn.Linear(16, 5)

    def forward(self, x):
        h = self.inp(x).relu()
        h = self.shared(h).tanh()
        h = self.shared(h).relu()
        return self.out(h)


def _chain():
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 5))


def _train(make_model, make_opt, compiled, steps=4):
    graphc.manual_seed(0)
    model = make_model()
    opt = make_opt(model)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = graphc.compile(step) if compiled else step
    rng = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x = graphc.tensor(rng.normal(size=(8, 12)).astype(np.float32))
        y = graphc.tensor(rng.integers(0, 5, size=8))
        losses.append(fn(x, y).item())
    return model, losses, fn


OPTIMIZERS = {
    "sgd-momentum-wd-nesterov": lambda m: graphc.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                                           weight_decay=0.01),
    "adam": lambda m: graphc.optim.Adam(m.parameters(), lr=0.01),
    "adamw-amsgrad": lambda m: graphc.optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.1, amsgrad=True),
    "rmsprop": lambda m: graphc.optim.RMSprop(m.parameters(), lr=0.01),
    "rmsprop-momentum-centered": lambda m: graphc.optim.RMSprop(m.parameters(), lr=0.01, momentum=0.5, centered=True),
    "adagrad-wd": lambda m: graphc.optim.Adagrad(m.parameters(), lr=0.05, weight_decay=0.01),
    "two-groups": lambda m: graphc.optim.SGD(
        [{"params": list(m.parameters())[:2], "lr": 0.1, "momentum": 0.5},
         {"params": list(m.parameters())[2:], "weight_decay": 0.05}], lr=0.02, momentum=0.9),
}


@pytest.mark.parametrize("make_model", [_chain, Tied], ids=["chain", "tied"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fused_updates_match_eager(name, make_model):
    eager, la, _ = _train(make_model, OPTIMIZERS[name], compiled=False)
    comp, lb, fn = _train(make_model, OPTIMIZERS[name], compiled=True)
    np.testing.assert_allclose(lb, la, rtol=1e-4, atol=1e-5)
    for (na, pa), (_, pb) in zip(eager.state_dict().items(), comp.state_dict().items()):
        np.testing.assert_allclose(pb.numpy(), pa.numpy(), rtol=1e-4, atol=1e-5, err_msg=na)
    plan = fn.graphs()[-1].meta["fusion"]
    riding = {a.inputs[0].role for a in plan.riding_assigns()}
    assert "param" in riding  # some parameter update is stored by its gradient's kernel


def test_the_weight_read_by_a_grad_input_gemm_still_rides():
    """The deeper layers' weights are read by the grad-input GEMMs after their gradients exist in
    the graph; the schedule runs those GEMMs first so every weight update rides."""
    _, _, fn = _train(_chain, OPTIMIZERS["adam"], compiled=True, steps=2)
    plan = fn.graphs()[-1].meta["fusion"]
    riding = {a.inputs[0].name for a in plan.riding_assigns()}
    assert {"v0.weight", "v2.weight", "v4.weight"} <= riding
