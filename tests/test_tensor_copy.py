"""copy.deepcopy and pickling of tensors, parameters and modules, as in PyTorch."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import graphc
from graphc import nn, optim
from graphc.ir.errors import AutogradError, TraceError


def _model():
    graphc.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.BatchNorm1d(3), nn.Linear(3, 2))


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))], ids=["deepcopy", "pickle"])
def test_a_copied_model_computes_the_same_and_owns_its_memory(copier):
    model = _model()
    x = graphc.randn(5, 4)
    model(x).sum().backward()
    twin = copier(model)
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        assert type(q) is nn.Parameter and q.requires_grad and q is not p, name
        np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
        assert q.grad is None  # (PyTorch: a Parameter's copy has no .grad)
        assert not np.shares_memory(q._data, p._data)
    np.testing.assert_array_equal(twin[2].running_mean.numpy(), model[2].running_mean.numpy())
    np.testing.assert_array_equal(twin(x).detach().numpy(), model(x).detach().numpy())
    with graphc.no_grad():
        twin[0].weight.zero_()
    assert np.abs(model[0].weight.detach().numpy()).sum() > 0


def test_tied_weights_stay_tied_in_the_copy():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight

    twin = copy.deepcopy(Tied())
    assert twin.b.weight is twin.a.weight
    assert len(list(twin.parameters())) == 3


def test_training_a_deepcopy_compiled_leaves_the_original_alone():
    model = _model()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    twin = copy.deepcopy(model)
    opt = optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    x, y = graphc.randn(8, 4), graphc.randint(0, 2, (8,))

    @graphc.compile
    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(twin(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step(x, y)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k].numpy(), err_msg=k)
    assert not np.array_equal(twin[0].weight.detach().numpy(), before["0.weight"].numpy())


def test_copies_keep_dtype_requires_grad_and_class():
    t = graphc.arange(6, dtype=graphc.int64).reshape(2, 3)
    for c in (copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        assert type(c) is graphc.Tensor and c.dtype == graphc.int64 and not c.requires_grad
        np.testing.assert_array_equal(c.numpy(), t.numpy())
    frozen = nn.Parameter(graphc.ones(2), requires_grad=False)
    assert type(copy.deepcopy(frozen)) is nn.Parameter and not copy.deepcopy(frozen).requires_grad
    view = graphc.arange(6.0)[2:4]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view)).numpy(), [2.0, 3.0])


def test_a_plain_tensors_grad_is_deep_copied_and_not_pickled():
    t = graphc.ones(2, requires_grad=True)
    t.grad = graphc.full((2,), 3.0)
    c = copy.deepcopy(t)
    np.testing.assert_array_equal(c.grad.numpy(), [3.0, 3.0])
    assert not np.shares_memory(c.grad._data, t.grad._data)
    assert pickle.loads(pickle.dumps(t)).grad is None


def test_deepcopy_of_a_tensor_with_autograd_history_is_refused_naming_the_line_and_the_fix():
    x = graphc.randn(3, requires_grad=True)
    with pytest.raises(AutogradError) as err:
        copy.deepcopy(x * 2)
    assert "test_tensor_copy.py" in str(err.value) and "graph leaves" in str(err.value)
    assert "detach()" in err.value.fix
    copy.deepcopy((x * 2).detach())  # what the fix says works
    r = pickle.loads(pickle.dumps(x * 2))  # pickling keeps the values, not the history (as in PyTorch)
    assert r.requires_grad and r.is_leaf and r.grad_fn is None


def test_a_traced_tensor_cannot_be_copied():
    @graphc.compile
    def f(x):
        return copy.deepcopy(x) * 2

    with pytest.raises(TraceError, match="deepcopy"):
        f(graphc.randn(3))


def test_parity_with_torch_deepcopy():
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.full((2,), 3.0)
    q = copy.deepcopy(p)
    ours = nn.Parameter(graphc.ones(2))
    ours.grad = graphc.full((2,), 3.0)
    mine = copy.deepcopy(ours)
    assert type(q).__name__ == type(mine).__name__ == "Parameter"
    assert q.requires_grad == mine.requires_grad
    assert q.grad is None and mine.grad is None
    t = torch.ones(2, requires_grad=True)
    t.grad = torch.full((2,), 3.0)
    g = graphc.ones(2, requires_grad=True)
    g.grad = graphc.full((2,), 3.0)
    np.testing.assert_array_equal(copy.deepcopy(t).grad.numpy(), copy.deepcopy(g).grad.numpy())
    assert pickle.loads(pickle.dumps(t)).grad is None and pickle.loads(pickle.dumps(g)).grad is None
    with pytest.raises(RuntimeError):
        copy.deepcopy(p * 2)
    with pytest.raises(AutogradError):
        copy.deepcopy(ours * 2)
