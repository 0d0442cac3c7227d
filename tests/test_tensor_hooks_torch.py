"""Tensor.register_hook against torch: leaves and non-leaves, eager and compiled."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.nn import functional as F

torch = pytest.importorskip("torch")


def _scenario(lib):
    """Hooks on a leaf (doubling), on a non-leaf (observed, then shifted) and on a value used twice."""
    w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    seen = []
    w.register_hook(lambda g: g * 2)
    y = w * w
    y.register_hook(lambda g: seen.append(g.clone()))
    y.register_hook(lambda g: g + 1)  # (runs after the observer, which returned None)
    z = y * 3 + y.exp()
    z.register_hook(lambda g: g * 0.5)
    z.sum().backward()
    return w.grad.numpy(), seen[0].numpy()


def test_eager_hooks_match_torch():
    ours, theirs = _scenario(graphc), _scenario(torch)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_removing_a_hook_and_retain_grad_see_the_hooked_gradient_as_torch():
    for lib in (graphc, torch):
        w = lib.ones(2, requires_grad=True)
        h = w.register_hook(lambda g: g * 10)
        y = w * 2
        y.retain_grad()
        y.register_hook(lambda g: g + 1)
        y.sum().backward()
        result = (w.grad.numpy().copy(), y.grad.numpy().copy())
        h.remove()
        w.grad = None
        (w * 2).sum().backward()
        result += (w.grad.numpy().copy(),)
        if lib is graphc:
            ours = result
    for a, b in zip(ours, result):
        np.testing.assert_allclose(a, b)


def test_hook_errors_name_the_fix():
    with pytest.raises(graphc.AutogradError, match="doesn't require gradient") as err:
        graphc.ones(2).register_hook(lambda g: g)
    assert "requires_grad_()" in err.value.fix
    w = graphc.ones(2, requires_grad=True)
    w.register_hook(lambda g: g.sum())
    with pytest.raises(graphc.AutogradError, match="changed the type or size"):
        (w * 2).sum().backward()


def _train(compiled: bool, remove_after: int | None = None):
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    handle = model[0].weight.register_hook(lambda g: g.clamp(-0.01, 0.01))  # per-parameter clipping
    x, y = graphc.randn(8, 4), graphc.randint(0, 3, (8,))

    def step(x, y):
        opt.zero_grad()
        hidden = model[1](model[0](x))
        hidden.register_hook(lambda g: g * 0.5)
        loss = F.cross_entropy(model[2](hidden), y)
        loss.backward()
        opt.step()
        return loss

    step = graphc.compile(step) if compiled else step
    losses = []
    for i in range(5):
        if i == remove_after:
            handle.remove()
        losses.append(float(step(x, y)))
    return losses, model[0].weight.detach().numpy(), step


@pytest.mark.parametrize("remove_after", [None, 3])
def test_compiled_steps_trace_the_hooks_and_follow_their_removal(remove_after):
    got, w_got, step = _train(True, remove_after)
    want, w_want, _ = _train(False, remove_after)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(w_got, w_want, rtol=1e-5, atol=1e-7)
    assert step.compile_count == (2 if remove_after is None else 3)


def test_an_observer_hook_storing_the_gradient_inside_a_compiled_step_is_refused():
    model = nn.Linear(4, 2)
    saved = {}

    @graphc.compile
    def step(x):
        h = model(x)
        h.register_hook(lambda g: saved.update(grad=g))  # Grad-CAM style: store the gradient
        h.sum().backward()
        return h

    with pytest.raises(graphc.TraceError, match="stored somewhere graphc cannot follow"):
        step(graphc.randn(3, 4))
