"""Training-loop idioms compiled exactly as eager mode runs them.

Each test runs the same loop twice, compiled and eager, from the same weights, and compares
losses, weights and what Python state (``.grad``, optimizer state) the loop leaves behind.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.nn import functional as F


def _data():
    graphc.manual_seed(0)
    return graphc.randn(16, 8), graphc.randint(0, 3, (16,))


def _model(inplace=False):
    graphc.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=inplace), nn.Linear(16, 3))


def _both(loop):
    """loop(compile) -> (losses, model, opt) for compile = graphc.compile and for eager."""
    compiled = loop(graphc.compile)
    eager = loop(lambda f: f)
    np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-5, atol=1e-6)
    for (name, p), (_, q) in zip(compiled[1].named_parameters(), eager[1].named_parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    assert len(compiled[2].state) == len(eager[2].state)
    return compiled, eager


def test_gradient_accumulation_with_the_optimizer_step_outside_the_compiled_function():
    # the compiled forward+backward's first version (every .grad None) runs again after each
    # opt.zero_grad(): it must leave the .grad it computed, or opt.step() skips every parameter
    x, y = _data()

    def loop(compile_):
        model = _model()
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        @compile_
        def forward_backward(x, y):
            loss = F.cross_entropy(model(x), y) / 2
            loss.backward()
            return loss

        losses = []
        for it in range(8):
            losses.append(float(forward_backward(x, y)))
            if it % 2 == 1:
                opt.step()
                opt.zero_grad()
        return losses, model, opt

    compiled, _ = _both(loop)
    assert compiled[0][-1] < compiled[0][0]


@pytest.mark.parametrize("reset", ["state.clear", "zero_grad outside", "fresh state_dict"])
def test_state_the_first_step_creates_is_created_again_when_the_loop_resets_it(reset):
    x, y = _data()

    def loop(compile_):
        model = _model()
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        fresh = opt.state_dict()

        @compile_
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        losses = []
        for it in range(8):
            losses.append(float(step(x, y)))
            if it in (2, 5):
                if reset == "state.clear":
                    opt.state.clear()
                elif reset == "zero_grad outside":
                    opt.zero_grad()
                else:
                    opt.load_state_dict(fresh)
        return losses, model, opt

    compiled, _ = _both(loop)
    assert all(len(s) == 1 for s in compiled[2].state.values())


def test_retain_grad_inside_a_compiled_step_returns_the_intermediate_gradients():
    x, y = _data()
    model = _model()

    def step(x, y):
        h = model[0](x)
        h.retain_grad()
        out = model[2](model[1](h))
        out.retain_grad()
        loss = F.cross_entropy(out, y)
        loss.backward()
        return loss, out.grad, h.grad, out.retains_grad, out.is_leaf, h.is_leaf

    compiled = graphc.compile(step)
    for _ in range(2):
        model.zero_grad()
        got = compiled(x, y)
        model.zero_grad()
        want = step(x, y)
        for a, b in zip(got[:3], want[:3]):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-7)
        assert got[3:] == want[3:] == (True, False, False)


def test_is_leaf_inside_a_trace_is_pytorchs():
    seen = {}
    w = nn.Parameter(graphc.ones(3))

    @graphc.compile
    def f(x):
        y = x * w
        seen.update(param=w.is_leaf, arg=x.is_leaf, computed=y.is_leaf, detached=y.detach().is_leaf,
                    no_grad=(x + 1).is_leaf)
        return y

    f(graphc.ones(3))
    assert seen == {"param": True, "arg": True, "computed": False, "detached": True, "no_grad": True}


def test_inplace_relu_trains_compiled_as_it_does_eagerly():
    x, y = _data()

    def loop(compile_):
        model = _model(inplace=True)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        @compile_
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return [float(step(x, y)) for _ in range(4)], model, opt

    _both(loop)


def test_inplace_on_a_parameter_inside_a_compiled_step_is_still_refused():
    w = nn.Parameter(graphc.ones(3))

    @graphc.compile
    def f(x):
        w.add_(x)
        return w.sum()

    with pytest.raises(graphc.GraphcError, match="leaf Variable that requires grad"):
        f(graphc.ones(3))


def test_detach_stops_the_gradient_where_the_detached_value_meets_another_that_requires_grad():
    # actor-critic, stop-gradient targets: m2(m1(x).detach()) must not reach m1's parameters
    x, _ = _data()
    graphc.manual_seed(2)
    m1, m2 = nn.Linear(8, 8), nn.Linear(8, 3)

    def f(x):
        h = m1(x)
        loss = m2(h.detach()).pow(2).mean() + (h - h.detach().mean()).pow(2).mean()
        loss.backward()
        return loss

    compiled = graphc.compile(f)
    for run in (compiled, f):
        m1.zero_grad()
        m2.zero_grad()
        run(x)
        grads = [p.grad.numpy().copy() for p in (m1.weight, m2.weight)]
        if run is compiled:
            got = grads
    for a, b in zip(got, grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not any(n.op == "cast" for n in compiled.graphs()[-1].nodes)  # the copy is gone after simplify


def test_a_gan_step_with_two_optimizers_and_a_detached_fake_trains_as_eagerly():
    real, _ = _data()
    z = graphc.randn(16, 4)

    def loop(compile_):
        graphc.manual_seed(3)
        gen, disc = nn.Linear(4, 8), nn.Linear(8, 1)
        opt_g = optim.Adam(gen.parameters(), 1e-2, betas=(0.5, 0.999))
        opt_d = optim.Adam(disc.parameters(), 1e-2)
        ones, zeros = graphc.ones(16, 1), graphc.zeros(16, 1)

        @compile_
        def step(real, z):
            opt_d.zero_grad()
            fake = gen(z)
            loss_d = (F.binary_cross_entropy_with_logits(disc(real), ones)
                      + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros))
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            loss_g = F.binary_cross_entropy_with_logits(disc(fake), ones)
            loss_g.backward()
            opt_g.step()
            return loss_d, loss_g

        losses = [float(v) for _ in range(4) for v in step(real, z)]
        model = nn.ModuleList([gen, disc])
        return losses, model, opt_g

    _both(loop)


def test_writing_in_place_to_a_detached_tensor_inside_a_trace_is_refused():
    w = nn.Parameter(graphc.ones(3))

    @graphc.compile
    def f(x):
        h = x * w
        y = h.detach()
        y.mul_(2)  # eager mode doubles h too: they share memory
        return h + y

    with pytest.raises(graphc.TraceError, match="detach"):
        f(graphc.ones(3))
