"""nonzero, argwhere, masked_select, unique, bincount against torch; refused inside compile."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")
rng = np.random.default_rng(0)


def _same(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
        return
    assert ours.dtype.name == str(theirs.dtype).split(".")[1]
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())


@pytest.mark.parametrize("a", [np.array([0, 3, 0, 4]), rng.integers(0, 2, (3, 4)), np.zeros((2, 3)),
                               rng.standard_normal((2, 2, 3)).round(), np.array(5), np.array(0)])
def test_nonzero_and_argwhere(a):
    for as_tuple in (False, True):
        _same(graphc.nonzero(graphc.tensor(a), as_tuple=as_tuple), torch.nonzero(torch.tensor(a), as_tuple=as_tuple))
    _same(graphc.tensor(a).argwhere(), torch.tensor(a).argwhere())


def test_masked_select_values_and_gradient():
    a = rng.standard_normal((3, 4)).astype(np.float32)
    for mask in (rng.random((3, 4)) > 0.5, rng.random(4) > 0.5, np.zeros((3, 1), bool)):
        g, t = graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        ours, theirs = g.masked_select(graphc.tensor(mask)), t.masked_select(torch.tensor(mask))
        _same(ours, theirs)
        if theirs.numel():
            (ours * 2).sum().backward()
            (theirs * 2).sum().backward()
            np.testing.assert_array_equal(g.grad.numpy(), t.grad.numpy())
    with pytest.raises(graphc.DTypeError):
        graphc.tensor(a).masked_select(graphc.tensor(np.ones((3, 4), np.int64)))


@pytest.mark.parametrize("kw", [{}, {"return_inverse": True}, {"return_counts": True},
                                {"return_inverse": True, "return_counts": True}])
def test_unique(kw):
    a = rng.integers(0, 5, (4, 6)).astype(np.float32)
    _same(graphc.unique(graphc.tensor(a), **kw), torch.unique(torch.tensor(a), **kw))
    rows = np.array([[1, 2], [1, 2], [0, 5]])
    _same(graphc.tensor(rows).unique(dim=0, **kw), torch.tensor(rows).unique(dim=0, **kw))


def test_bincount():
    x = np.array([1, 2, 2, 5, 0])
    _same(graphc.bincount(graphc.tensor(x)), torch.bincount(torch.tensor(x)))
    _same(graphc.tensor(x).bincount(minlength=9), torch.tensor(x).bincount(minlength=9))
    w = rng.standard_normal(5).astype(np.float32)
    np.testing.assert_allclose(graphc.bincount(graphc.tensor(x), graphc.tensor(w)).numpy(),
                               torch.bincount(torch.tensor(x), torch.tensor(w)).numpy(), rtol=1e-6)
    with pytest.raises(graphc.GraphcError, match="non-negative integral"):
        graphc.bincount(graphc.tensor([-1, 2]))


@pytest.mark.parametrize("call", [lambda x: x.nonzero(), lambda x: x.masked_select(x > 0), lambda x: x.unique(),
                                  lambda x: x.long().abs().bincount()])
def test_value_dependent_shapes_are_refused_inside_compile_with_the_alternative(call):
    with pytest.raises(graphc.TraceError, match="depends on the values") as err:
        graphc.compile(call)(graphc.tensor([1.0, -2.0, 3.0]))
    assert "outside the compiled function" in err.value.fix
