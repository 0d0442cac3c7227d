"""graphc.nn.init: gains, fans, in-place fills and the distributions' statistics (no PyTorch)."""

import math

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir.errors import GraphcError


def empty(*shape):
    return graphc.tensor(np.zeros(shape, np.float32))


def test_calculate_gain():
    assert nn.init.calculate_gain("linear") == 1
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert nn.init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("swishy")


def test_fills_are_in_place_and_bump_version():
    t = empty(3, 3)
    v = t._version.value
    assert nn.init.constant_(t, 2.5) is t
    assert np.all(t.numpy() == 2.5) and t._version.value > v
    nn.init.eye_(t)
    np.testing.assert_array_equal(t.numpy(), np.eye(3))
    nn.init.zeros_(t)
    assert np.all(t.numpy() == 0)
    nn.init.ones_(t)
    assert np.all(t.numpy() == 1)


def test_init_works_on_parameters_without_recording():
    p = nn.Parameter(empty(50, 40))
    nn.init.normal_(p, 1.0, 0.5)
    assert p.grad_fn is None and p.requires_grad
    assert abs(p.numpy(force=True).mean() - 1.0) < 0.05


def test_uniform_and_kaiming_bounds():
    t = empty(200, 100)
    nn.init.uniform_(t, -0.3, 0.7)
    assert t.numpy().min() >= -0.3 and t.numpy().max() < 0.7
    nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    bound = 1 / math.sqrt(100)  # PyTorch's Linear default: gain(leaky_relu, sqrt 5) * sqrt(3 / fan_in)
    assert np.abs(t.numpy()).max() <= bound + 1e-7 and np.abs(t.numpy()).max() > 0.9 * bound


def test_kaiming_normal_and_xavier_std():
    t = empty(400, 100, 3)
    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert t.numpy().std() == pytest.approx(math.sqrt(2) / math.sqrt(400 * 3), rel=0.05)
    w = empty(300, 200)
    nn.init.xavier_normal_(w)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 500), rel=0.05)
    nn.init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w.numpy()).max() <= 2 * math.sqrt(6 / 500) + 1e-7


def test_trunc_normal_stays_in_range():
    t = empty(100, 100)
    nn.init.trunc_normal_(t, mean=0.5, std=1.0, a=0.0, b=1.0)
    assert t.numpy().min() >= 0.0 and t.numpy().max() <= 1.0
    assert 0.3 < t.numpy().mean() < 0.7


def test_fan_errors():
    with pytest.raises(GraphcError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(empty(5))
    with pytest.raises(ValueError, match="Mode fan_up not supported"):
        nn.init.kaiming_uniform_(empty(2, 2), mode="fan_up")
