"""graphc.nn.utils' gradient clipping against torch.nn.utils, eagerly and in a compiled step."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
from graphc import nn  # noqa: E402

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _grads(scale, seed=0):
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal(s)).astype(np.float32) for s in SHAPES]


def _pairs(grads):
    ours, theirs = [], []
    for g in grads:
        p = nn.Parameter(graphc.zeros(*g.shape))
        p.grad = graphc.tensor(g.copy())
        q = torch.nn.Parameter(torch.zeros(g.shape))
        q.grad = torch.tensor(g.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [0.01, 10.0])  # below the max norm (left alone) and above (scaled)
def test_clip_grad_norm_matches_torch(norm_type, scale):
    ours, theirs = _pairs(_grads(scale))
    total = nn.utils.clip_grad_norm_(ours, max_norm=1.5, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.5, norm_type=norm_type)
    assert float(total) == pytest.approx(float(want), rel=1e-5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value_matches_torch():
    ours, theirs = _pairs(_grads(2.0))
    nn.utils.clip_grad_value_(ours, 0.5)
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_clipping_inside_a_compiled_step_matches_torch():
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((8, 6)).astype(np.float32), rng.standard_normal((3, 8)).astype(np.float32)
    xs = [rng.standard_normal((5, 6)).astype(np.float32) * 3 for _ in range(4)]
    model = nn.Sequential(nn.Linear(6, 8, bias=False), nn.Tanh(), nn.Linear(8, 3, bias=False))
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8, bias=False), torch.nn.Tanh(), torch.nn.Linear(8, 3, bias=False))
    for m, lib in ((model, graphc), (ref, torch)):
        with lib.no_grad():
            m[0].weight.copy_(lib.tensor(w1))
            m[2].weight.copy_(lib.tensor(w2))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ropt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)

    def step(x):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        nn.utils.clip_grad_value_(model.parameters(), 0.05)
        opt.step()
        return loss, norm

    compiled = graphc.compile(step)
    for x in xs:
        loss, norm = compiled(graphc.tensor(x))
        ropt.zero_grad()
        rloss = (ref(torch.tensor(x)) ** 2).sum()
        rloss.backward()
        rnorm = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
        torch.nn.utils.clip_grad_value_(ref.parameters(), 0.05)
        ropt.step()
        assert loss.item() == pytest.approx(rloss.item(), rel=1e-5)
        assert norm.item() == pytest.approx(rnorm.item(), rel=1e-5)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_bad_norm_type_and_a_nonfinite_norm_are_clear_errors():
    ours, _ = _pairs(_grads(1.0))
    with pytest.raises(graphc.GraphcError, match="positive norm_type"):
        nn.utils.clip_grad_norm_(ours, 1.0, norm_type=0)
    ours[0].grad = graphc.full((4, 3), float("nan"))
    with pytest.raises(graphc.GraphcError, match="non-finite"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert float(nn.utils.clip_grad_norm_([nn.Parameter(graphc.ones(2))], 1.0)) == 0.0  # no gradients at all
