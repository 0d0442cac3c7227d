"""Tensor indexing without PyTorch: views, version counters, errors, writes and compiled indexing."""

import numpy as np
import pytest

import graphc
from graphc.ir.errors import (
    AutogradError,
    GraphcIndexError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
    TraceError,
)


def _x():
    return graphc.arange(12.0).reshape(3, 4)


def test_basic_indexing_is_a_view():
    x = _x()
    for v in (x[1], x[:, 1:3], x[..., ::2], x[None], x[:], x[...], x[1, None, 2:]):
        assert np.shares_memory(v._data, x._data) and v._version is x._version
    v = x[:, 1]
    x[0, 1] = 100.0
    assert v.tolist() == [100.0, 5.0, 9.0]
    v[2] = -1.0  # writing through the view reaches the base and bumps the shared counter
    assert x[2, 1].item() == -1.0 and x._version.value == 2


def test_advanced_indexing_copies():
    x = _x()
    y = x[[0, 2]]
    assert y.tolist() == [x[0].tolist(), x[2].tolist()] and not np.shares_memory(y._data, x._data)
    assert x[x > 9].tolist() == [10.0, 11.0]
    assert x[np.array([2, -1])].tolist() == [x[2].tolist()] * 2
    assert x[graphc.tensor(1)].tolist() == x[1].tolist()


def test_python_bool_and_empty_indices():
    x = _x()
    assert x[True].shape == (1, 3, 4) and x[False].shape == (0, 3, 4)
    assert x[[]].shape == (0, 4)
    assert x[5:1].shape == (0, 4) and x[-100:100].shape == (3, 4)


def test_index_errors_are_pytorch_errors():
    x = _x()
    with pytest.raises(GraphcIndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        x[5]
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 1 with size 4"):
        x[0, -5]
    with pytest.raises(GraphcIndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[[0, 3]]
    with pytest.raises(GraphcValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[:, ::0]
    with pytest.raises(GraphcIndexError, match="too many indices for tensor of dimension 2"):
        x[0, 0, 0]
    with pytest.raises(GraphcIndexError, match="invalid index of a 0-dim tensor"):
        graphc.tensor(1.0)[0]
    with pytest.raises(GraphcIndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(GraphcIndexError, match="must be long, int or bool"):
        x[graphc.tensor([0.0])]
    with pytest.raises(IndexError, match="only integers, slices"):
        x[1.5]
    with pytest.raises(GraphcIndexError, match="shape of the mask"):
        x[graphc.ones(4, dtype=graphc.bool)]
    with pytest.raises(GraphcIndexError, match="could not be broadcast"):
        x[[0, 1], [0, 1, 2]]


def test_setitem_writes_in_place_with_broadcasting():
    x = graphc.zeros(2, 3)
    x[0] = 1
    x[:, 2] = graphc.tensor([5.0, 6.0])
    x[1, :2] = graphc.ones(1, 2) * 3  # a leading size-1 dim of the value is dropped, as PyTorch
    x[x > 5] = -1
    assert x.tolist() == [[1.0, 1.0, 5.0], [3.0, 3.0, -1.0]]
    assert x._version.value == 4
    i = graphc.zeros(3, dtype=graphc.int64)
    i[1] = 2.7  # cast to the tensor's dtype
    i[[0, 2]] = graphc.tensor([4, 5])
    assert i.tolist() == [4, 2, 5]
    with pytest.raises(ShapeError, match="shape mismatch"):
        x[0] = graphc.ones(2)


def test_setitem_autograd_rules():
    w = graphc.ones(3, requires_grad=True)
    with pytest.raises(AutogradError, match="leaf Variable that requires grad"):
        w[0] = 2.0
    with graphc.no_grad():
        w[0] = 2.0
    assert w.tolist() == [2.0, 1.0, 1.0] and w.is_leaf
    y = w * 1
    y[1] = 5.0
    assert y.grad_fn is not None and not y.is_leaf
    y.sum().backward()
    assert w.grad.tolist() == [1.0, 0.0, 1.0]


def test_setitem_after_save_breaks_backward():
    w = graphc.ones(3, requires_grad=True)
    x = graphc.ones(3)
    y = (w * x).sum()
    x[0] = 2.0
    with pytest.raises(AutogradError, match="modified by an inplace operation"):
        y.backward()


def test_iteration():
    assert [r.tolist() for r in graphc.arange(4).reshape(2, 2)] == [[0, 1], [2, 3]]
    with pytest.raises(GraphcTypeError, match="iteration over a 0-d tensor"):
        iter(graphc.tensor(1.0))


def test_compiled_indexing_matches_eager():
    def step(x, idx):
        y = x * 2
        y[:, 1] = 0.0
        y[idx, 2] = 5.0
        return y[idx, 1:] + y[1, None, 1:] + y[..., ::2].sum() + y[idx[:, None], idx].sum()

    f = graphc.compile(step)
    x = graphc.arange(12.0).reshape(3, 4)
    for idx in ([2, 0], [-1, 1]):
        idx = graphc.tensor(idx)
        assert f(x, idx).tolist() == step(x, idx).tolist()


def test_compiled_traced_mask_is_refused():
    f = graphc.compile(lambda x: x[x > 0].sum())
    with pytest.raises(TraceError, match="where"):
        f(graphc.ones(3))
