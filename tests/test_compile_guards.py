"""The guards of a compiled step: each change that alters the graph compiles a new version (and
says why), changes that do not are taken per call, and a steady-state step checks one version."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import graphc
from graphc import _guards, nn


def _setup(momentum=0.9):
    graphc.manual_seed(0)
    # (Dropout reads its module's train/eval mode, so the step is guarded on it)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 3))
    opt = graphc.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.normal(size=(4, 6)).astype(np.float32))
    y = graphc.tensor(rng.integers(0, 3, size=4))
    return model, opt, graphc.compile(step), x, y


def _recompiles_because(change, reason, caplog):
    model, opt, step, x, y = _setup()
    for _ in range(3):
        step(x, y)
    before = step.compile_count
    change(model, opt)
    with caplog.at_level(logging.INFO, logger="graphc"):
        step(x, y)
    assert step.compile_count == before + 1
    assert any(reason in r.message for r in caplog.records), [r.message for r in caplog.records]


@pytest.mark.parametrize("change, reason", [
    (lambda m, o: m[0].weight.requires_grad_(False), "requires_grad of"),
    (lambda m, o: setattr(m[0].weight, "data", graphc.zeros(8, 6)), "storage of a bound tensor"),
    (lambda m, o: m.eval(), "switched between train() and eval()"),
    (lambda m, o: o.param_groups[0].update(momentum=0.0), "param groups or state changed"),
    (lambda m, o: o.state.clear(), "param groups or state changed"),
    (lambda m, o: o.load_state_dict(o.state_dict()), "param groups or state changed"),  # new state tensors
    (lambda m, o: setattr(m, "3", nn.Linear(8, 3)), "tensor attribute of Sequential was replaced"),
    (lambda m, o: setattr(m[0], "bias", nn.Parameter(graphc.zeros(8))), "tensor attribute of Linear was replaced"),
])
def test_each_guard_compiles_a_new_version_and_says_why(change, reason, caplog):
    _recompiles_because(change, reason, caplog)


@pytest.mark.parametrize("replace", ["parameter", "submodule"])
def test_a_replaced_parameter_or_submodule_is_used_from_then_on(replace):
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    f = graphc.compile(model)
    x = graphc.ones(2, 4)
    with graphc.no_grad():
        before = f(x).numpy()
        if replace == "parameter":
            model[2].weight = nn.Parameter(graphc.zeros(2, 3))
        else:
            model[2] = nn.Linear(3, 2)
        np.testing.assert_allclose(f(x).numpy(), model(x).numpy(), rtol=1e-6)
        assert not np.allclose(f(x).numpy(), before)
        f(x)
    assert f.compile_count == 2
    other = nn.Linear(2, 2)  # a module the trace never called: no recompilation
    other.weight = nn.Parameter(graphc.zeros(2, 2))
    with graphc.no_grad():
        f(x)
    assert f.compile_count == 2


def test_a_plain_attribute_a_forward_reads_is_guarded(caplog):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.temperature = 2.0
            self.calls = 0  # (changed by the user between calls: a new version too, harmlessly)

        def forward(self, x):
            return self.lin(x) / self.temperature

    m = Scaled()
    f = graphc.compile(m)
    x = graphc.ones(1, 3)
    with graphc.no_grad():
        f(x)
        with caplog.at_level(logging.INFO, logger="graphc"):
            m.temperature = 0.5
            np.testing.assert_allclose(f(x).numpy(), m(x).numpy(), rtol=1e-6)
        f(x)
    assert f.compile_count == 2
    assert any("the attribute 'temperature' of Scaled changed" in r.message for r in caplog.records)


def test_a_tensor_kept_as_a_plain_attribute_and_replaced_is_used_from_then_on():
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)
            self.mask = graphc.ones(3)  # not a buffer: a plain attribute the forward reads

        def forward(self, x):
            return self.lin(x) * self.mask

    m = Masked()
    f = graphc.compile(m)
    x = graphc.ones(1, 3)
    with graphc.no_grad():
        f(x)
        m.mask = graphc.zeros(3)
        np.testing.assert_array_equal(f(x).numpy(), 0.0)
        m.mask.fill_(2.0)  # (in place: the bound tensor itself, no new version)
        np.testing.assert_allclose(f(x).numpy(), 2 * m.lin(x).numpy(), rtol=1e-6)
    assert f.compile_count == 2


def test_after_load_state_dict_the_optimizers_new_state_is_updated():
    model, opt, step, x, y = _setup()
    eager_model, eager_opt, eager_step, _, _ = _setup()
    for _ in range(3):
        step(x, y)
        eager_step.fn(x, y)
    opt.load_state_dict(eager_opt.state_dict())  # new momentum tensors (same values)
    for _ in range(2):
        step(x, y)
        eager_step.fn(x, y)
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(opt.state[p]["momentum_buffer"].numpy(), eager_opt.state[q]["momentum_buffer"].numpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_changed_learning_rate_is_read_per_call_without_recompiling():
    model, opt, step, x, y = _setup(momentum=0.0)
    step(x, y)
    step(x, y)  # (the first call traced with no .grad yet; from here on the grads exist)
    count = step.compile_count
    w = model[0].weight.detach().numpy().copy()
    opt.param_groups[0]["lr"] = 1e-30  # (not 0: zero-ness of an option is structure)
    step(x, y)
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), w)  # too small to move any float32 weight
    opt.param_groups[0]["lr"] = 0.5
    step(x, y)
    assert not np.array_equal(model[0].weight.detach().numpy(), w)
    assert step.compile_count == count


def test_steady_state_momentum_step_checks_one_version(monkeypatch):
    _, _, step, x, y = _setup()
    step(x, y)
    step(x, y)
    assert step.compile_count == 2  # the first step (creates the buffers), then the steady state
    checks = []
    real = _guards.Guards.why
    monkeypatch.setattr(_guards.Guards, "why", lambda self: checks.append(self) or real(self))
    for _ in range(5):
        step(x, y)
    assert len(checks) == 5 and step.compile_count == 2
    assert [g.__class__ for g in checks] == [_guards.Guards] * 5 and len({id(g) for g in checks}) == 1
    assert [e.graph for e in step._entries[next(iter(step._entries))]] == step.graphs()  # compile order kept


def test_only_modules_whose_mode_the_trace_read_are_guarded(caplog):
    # Linear and ReLU never look at .training: eval() changes nothing they compute
    graphc.manual_seed(0)
    plain = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    f = graphc.compile(plain)
    x = graphc.ones(2, 4)
    with graphc.no_grad():
        y = f(x).numpy()
        plain.eval()
        np.testing.assert_array_equal(f(x).numpy(), y)
    assert f.compile_count == 1

    class Halves(nn.Module):  # a forward of its own that branches on the mode
        def forward(self, x):
            return x * 0.5 if self.training else x

    outer = nn.Sequential(nn.Linear(4, 3), Halves())
    g = graphc.compile(outer)
    with graphc.no_grad():
        a = g(x).numpy()
        with caplog.at_level(logging.INFO, logger="graphc"):
            outer[1].eval()
            b = g(x).numpy()
        outer[0].eval()  # (its mode was never read: no new version)
        g(x)
    np.testing.assert_allclose(b, 2 * a)
    assert g.compile_count == 2
    assert any("Halves switched between train() and eval()" in r.message for r in caplog.records)


def test_a_forward_that_never_reads_grad_is_not_guarded_on_it():
    model = nn.Linear(4, 3)
    f = graphc.compile(model)
    x = graphc.ones(2, 4)
    with graphc.no_grad():
        f(x)
        model.weight.grad = graphc.zeros(3, 4)
        f(x)
    assert f.compile_count == 1


def test_module_training_is_a_plain_flag_outside_a_trace():
    m = nn.Linear(2, 2)
    assert m.training is True and vars(m)["training"] is True
    m.eval()
    assert m.training is False
    m.training = True
    assert m.training is True

    class Forgot(nn.Module):
        def __init__(self):
            pass  # no super().__init__()

    with pytest.raises(AttributeError, match="no attribute 'training'"):
        getattr(Forgot(), "training")  # noqa: B009


def test_small_outputs_of_successive_calls_are_independent_arrays():
    f = graphc.compile(lambda x: ((x * 2).sum(), x + 1))
    a = graphc.tensor(np.ones((2, 3), np.float32))
    b = graphc.tensor(np.full((2, 3), 5, np.float32))
    sa, ya = f(a)
    sb, yb = f(b)
    assert sa.item() == 12.0 and sb.item() == 60.0  # the first result kept its value
    np.testing.assert_array_equal(ya.numpy(), 2.0)
    np.testing.assert_array_equal(yb.numpy(), 6.0)


def test_the_run_once_first_step_is_interpreted_and_the_steady_state_compiled(caplog):
    # the first step reads every .grad as None and leaves them set: its guards fail before it
    # has run, so it is interpreted instead of compiled
    model, opt, step, x, y = _setup()
    eager_model, eager_opt, _, _, _ = _setup()
    with caplog.at_level(logging.INFO, logger="graphc"):
        first = step(x, y)
    assert step._last.backend == "reference" and step._last.deferred is not None
    assert any("can run only once" in r.message for r in caplog.records)
    second = step(x, y)
    assert step._last.backend == "llvm" and step.compile_count == 2
    loss_fn = nn.CrossEntropyLoss()
    for want_loss in (first, second):
        eager_opt.zero_grad()
        loss = loss_fn(eager_model(x), y)
        loss.backward()
        eager_opt.step()
        np.testing.assert_allclose(want_loss.item(), loss.item(), rtol=1e-5)
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_run_once_version_used_again_is_compiled_then(caplog):
    # zero_grad(set_to_none=True) outside the compiled function: every call sees no .grad, so
    # the first version is reused after all, and is compiled on its second call
    graphc.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    compiled = graphc.compile(step)
    x = graphc.randn(3, 4)
    for call in range(3):
        opt.zero_grad()
        with caplog.at_level(logging.INFO, logger="graphc"):
            compiled(x)
        assert compiled.compile_count == 1
        assert compiled._last.backend == ("reference" if call == 0 else "llvm")
    assert any("used again" in r.message for r in caplog.records)


def test_stats_and_report_after_the_first_call_describe_compiled_code(tmp_path):
    _, _, step, x, y = _setup()
    step(x, y)  # the run-once first step, interpreted
    assert step.stats()["kernels"] > 0  # compiled on demand
    assert step._last.backend == "llvm" and step._last.deferred is None
    assert step.report(tmp_path / "r.html", draw=False).exists()
