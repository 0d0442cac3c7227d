"""``Tensor.data``, as PyTorch: a history-free tensor over the same memory, and assignable."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir.errors import GraphcTypeError, TraceError


def test_data_shares_memory_without_history():
    w = graphc.ones(3, requires_grad=True)
    d = w.data
    assert not d.requires_grad and d.grad_fn is None and d._base is None
    d.mul_(2)
    np.testing.assert_array_equal(w.detach().numpy(), [2, 2, 2])


def test_assigning_data_keeps_the_parameter_and_its_registration():
    graphc.manual_seed(0)
    lin = nn.Linear(4, 3)
    weight = lin.weight
    lin.weight.data = graphc.zeros(3, 4)
    assert lin.weight is weight and isinstance(weight, nn.Parameter) and weight.requires_grad
    np.testing.assert_array_equal(lin(graphc.ones(2, 4)).detach().numpy(), np.broadcast_to(lin.bias.detach().numpy(), (2, 3)))
    with pytest.raises(GraphcTypeError, match="data must be a Tensor"):
        lin.weight.data = [[0.0] * 4] * 3


def test_a_compiled_step_sees_data_assigned_between_calls():
    graphc.manual_seed(0)
    lin = nn.Linear(4, 3)
    f = graphc.compile(lin)
    x = graphc.ones(2, 4)
    f(x)
    lin.weight.data = graphc.zeros(3, 4)
    np.testing.assert_allclose(f(x).numpy(), lin(x).detach().numpy())


def test_assigning_data_inside_a_compiled_function_is_refused():
    w = graphc.ones(3)

    @graphc.compile
    def f(x):
        w.data = x
        return x

    with pytest.raises(TraceError, match="assigning .data"):
        f(graphc.zeros(3))


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    for lib in (graphc, torch):
        lib.manual_seed(0)
    a, b = nn.Linear(4, 3), torch.nn.Linear(4, 3)
    for lin, lib in ((a, graphc), (b, torch)):
        lin.weight.data = lib.ones(3, 4)
        lin.bias.data.mul_(0).add_(1)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
        assert p.data.requires_grad == q.data.requires_grad
