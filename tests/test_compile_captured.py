"""Guards on what a compiled step read by name: globals, closure variables, ``cfg.attr``.

Each script runs in its own namespace (``exec``), so a test rebinds its globals the way a user's
script does (``ns["scale"] = 3.0`` is ``scale = 3.0`` at the script's top level).
"""

from __future__ import annotations

import logging
import textwrap

import numpy as np
import pytest

import graphc
from graphc import _captured, nn, optim


def _script(src: str, **names) -> dict:
    ns = {"graphc": graphc, "nn": nn, "optim": optim, "np": np, **names}
    exec(textwrap.dedent(src), ns)
    return ns


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return (graphc.tensor(rng.normal(size=(8, 4)).astype(np.float32)),
            graphc.tensor(rng.normal(size=(8, 2)).astype(np.float32)))


STEP = """
@graphc.compile
def step(x, y):
    opt.zero_grad()
    loss = ((model(x) * scale - y) ** 2).mean()
    loss.backward()
    opt.step()
    return loss
"""


def _eager_losses(state, x, y, scale, steps):
    model = nn.Linear(4, 2)
    model.load_state_dict(state)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) * scale - y) ** 2).mean()
        loss.backward()
        opt.step()
        out.append(float(loss))
    return out, model


def test_a_sweep_that_rebinds_the_global_model_and_optimizer_trains_each_new_model():
    x, y = _data()
    ns = _script(STEP, scale=1.0)
    for run in range(3):
        graphc.manual_seed(run)
        ns["model"] = nn.Linear(4, 2)
        ns["opt"] = optim.SGD(ns["model"].parameters(), lr=0.1, momentum=0.9)
        start = {k: v.detach().clone() for k, v in ns["model"].state_dict().items()}
        losses = [float(ns["step"](x, y)) for _ in range(4)]
        expected, trained = _eager_losses(start, x, y, 1.0, 4)
        np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ns["model"].weight.detach().numpy(), trained.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_rebound_global_number_recompiles_and_an_equal_one_does_not(caplog):
    x, y = _data()
    graphc.manual_seed(0)
    model = nn.Linear(4, 2)
    ns = _script(STEP, scale=1.0, model=model, opt=optim.SGD(model.parameters(), lr=0.1))
    for _ in range(3):
        ns["step"](x, y)
    count = ns["step"].compile_count
    ns["scale"] = float("1.0")  # another float object, the same value
    ns["step"](x, y)
    assert ns["step"].compile_count == count
    ns["scale"] = 3.0
    expected = float(((model(x) * 3.0 - y) ** 2).mean())
    with caplog.at_level(logging.INFO, logger="graphc"):
        got = float(ns["step"](x, y))
    assert got == pytest.approx(expected, rel=1e-5)
    assert ns["step"].compile_count == count + 1
    assert any("the global 'scale' read by step was rebound" in r.message for r in caplog.records)
    ns["scale"] = 3  # an int where a float was: a different constant (its type decides the graph's dtype rules)
    ns["step"](x, y)
    assert ns["step"].compile_count == count + 2


def test_a_helper_function_and_a_user_modules_forward_are_followed_to_their_globals():
    ns = _script("""
        WEIGHT = 1.0
        GAIN = 1.0

        def loss_fn(out, y):
            return ((out - y) ** 2).mean() * WEIGHT

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x) * GAIN

        model = Net()

        @graphc.compile
        def loss_of(x, y):
            return loss_fn(model(x), y)
    """)
    x, y = _data()
    base = float(ns["loss_of"](x, y))
    ns["WEIGHT"] = 2.0
    assert float(ns["loss_of"](x, y)) == pytest.approx(2 * base, rel=1e-5)
    ns["GAIN"] = 0.0
    assert float(ns["loss_of"](x, y)) == pytest.approx(2 * float(((0 * x[:, :2] - y) ** 2).mean()), rel=1e-5)
    ns["loss_fn"] = lambda out, y: (out - y).abs().mean()
    assert float(ns["loss_of"](x, y)) == pytest.approx(float(y.abs().mean()), rel=1e-5)
    assert ns["loss_of"].compile_count == 4


def test_a_closure_variable_rebound_by_the_enclosing_function_recompiles(caplog):
    x, _ = _data()

    def make():
        factor = 1.0

        @graphc.compile
        def f(x):
            return x * factor

        def set_factor(v):
            nonlocal factor
            factor = v

        return f, set_factor

    f, set_factor = make()
    np.testing.assert_allclose(f(x).numpy(), x.numpy())
    set_factor(4.0)
    with caplog.at_level(logging.INFO, logger="graphc"):
        np.testing.assert_allclose(f(x).numpy(), 4 * x.numpy())
    assert any("the variable 'factor' that f closes over was rebound" in r.message for r in caplog.records)


def test_plain_attributes_of_a_config_object_and_list_contents_are_guarded(caplog):
    from types import SimpleNamespace

    ns = _script("""
        @graphc.compile
        def f(x):
            return x * cfg.scale + weights[1]
    """, cfg=SimpleNamespace(scale=1.0), weights=[0.0, 0.0])
    x, _ = _data()
    np.testing.assert_allclose(ns["f"](x).numpy(), x.numpy())
    ns["cfg"].scale = 2.0
    with caplog.at_level(logging.INFO, logger="graphc"):
        np.testing.assert_allclose(ns["f"](x).numpy(), 2 * x.numpy())
    assert any("cfg.scale changed from 1.0 to 2.0" in r.message for r in caplog.records)
    ns["weights"][1] = 5.0
    np.testing.assert_allclose(ns["f"](x).numpy(), 2 * x.numpy() + 5, rtol=1e-6)
    assert ns["f"].compile_count == 3


def test_nothing_rebound_means_one_version_and_modules_and_builtins_are_not_guarded():
    import math

    ns = _script("""
        import math

        @graphc.compile
        def f(x):
            return graphc.relu(x) * math.pi + len(shape)
    """, shape=(1, 2))
    x, _ = _data()
    for _ in range(5):
        ns["f"](x)
    assert ns["f"].compile_count == 1
    guards = ns["f"]._last.guards.captured
    guarded = [n for _, names, _, _ in guards.globals for n in names]
    assert guarded == ["shape"]  # not graphc, math or len
    assert [name for *_, name in guards.attrs] == ["math.pi"]
    np.testing.assert_allclose(ns["f"](x).numpy(), np.maximum(x.numpy(), 0) * math.pi + 2, rtol=1e-6)


def test_a_deleted_global_is_a_change():
    ns = _script("""
        def f(x):
            return x * k
    """, k=2.0)
    captured = _captured.Captured(ns["f"])
    assert captured.why() is None
    del ns["k"]
    assert captured.why() == "the global 'k' read by f was rebound"


def test_a_value_that_changes_every_call_warns_once_after_many_versions(caplog):
    ns = _script("""
        @graphc.compile
        def f(x):
            return x * k
    """, k=0.0)
    x, _ = _data()
    from graphc.compile import MANY_VERSIONS

    with caplog.at_level(logging.WARNING, logger="graphc"):
        for i in range(MANY_VERSIONS + 2):
            ns["k"] = float(i)
            np.testing.assert_allclose(ns["f"](x).numpy(), i * x.numpy(), rtol=1e-6)
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "compiled 8 times" in warnings[0] and "the global 'k'" in warnings[0]
