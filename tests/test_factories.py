"""Tensor factories: dtype rules, shapes, memory sharing and errors (no PyTorch needed)."""

import numpy as np
import pytest

import graphc
from graphc.ir.errors import (
    AutogradError,
    DeviceError,
    DTypeError,
    GraphcTypeError,
    GraphcValueError,
    ShapeError,
)


def test_tensor_infers_pytorch_dtypes():
    assert graphc.tensor(1).dtype is graphc.int64
    assert graphc.tensor(1.5).dtype is graphc.float32
    assert graphc.tensor(True).dtype is graphc.bool
    assert graphc.tensor([1, 2.5]).dtype is graphc.float32
    assert graphc.tensor([True, 2]).dtype is graphc.int64
    assert graphc.tensor([]).dtype is graphc.float32 and graphc.tensor([]).shape == (0,)
    assert graphc.tensor(np.zeros(3)).dtype is graphc.float64
    assert graphc.tensor(np.zeros(3, np.int32)).dtype is graphc.int32
    assert graphc.tensor(np.float64(2.0)).dtype is graphc.float64
    assert graphc.tensor([graphc.tensor(1.0, dtype=graphc.float64), 2.0]).dtype is graphc.float64
    assert graphc.tensor([[1, 2], [3, 4]], dtype=graphc.float64).dtype is graphc.float64


def test_tensor_copies_and_is_a_leaf():
    a = np.arange(3.0)
    t = graphc.tensor(a)
    a[0] = 7
    assert t.tolist() == [0.0, 1.0, 2.0]
    src = graphc.tensor([1.0, 2.0], requires_grad=True)
    c = graphc.tensor(src)
    assert c.is_leaf and not c.requires_grad and not np.shares_memory(c._data, src._data)
    nested = graphc.tensor([graphc.tensor(1), graphc.tensor(2)])
    assert nested.tolist() == [1, 2] and nested.dtype is graphc.int64


def test_tensor_errors():
    with pytest.raises(GraphcValueError, match="expected sequence of length 2 at dim 1"):
        graphc.tensor([[1, 2], [3]])
    with pytest.raises(GraphcValueError, match="only one element tensors"):
        graphc.tensor([graphc.ones(2), graphc.ones(2)])
    with pytest.raises(GraphcTypeError, match="Could not infer dtype of NoneType"):
        graphc.tensor(None)
    with pytest.raises(TypeError):
        graphc.tensor("abc")
    with pytest.raises(AutogradError, match="floating point"):
        graphc.tensor([1, 2], requires_grad=True)
    with pytest.raises(DeviceError):
        graphc.zeros(2, device="cuda")
    assert graphc.zeros(2, device="cpu").shape == (2,)


def test_from_numpy_shares_memory_both_ways():
    a = np.zeros((2, 3), np.float32)
    t = graphc.from_numpy(a)
    a[0, 0] = 5
    assert t[0, 0].item() == 5
    t[1, 2] = 3
    assert a[1, 2] == 3
    assert t.dtype is graphc.float32
    assert graphc.from_numpy(np.zeros(2)).dtype is graphc.float64


def test_from_numpy_refuses_unsupported_dtypes():
    with pytest.raises(GraphcTypeError, match="numpy.uint8.*float64, float32, int64, int32, and bool") as e:
        graphc.from_numpy(np.zeros(3, np.uint8))
    assert "astype(np.float32)" in str(e.value) and "ToTensor" in str(e.value)
    with pytest.raises(TypeError, match="float16"):
        graphc.from_numpy(np.zeros(3, np.float16))
    with pytest.raises(TypeError, match="expected np.ndarray"):
        graphc.from_numpy([1, 2])


def test_as_tensor_shares_when_it_can():
    a = np.ones(3, np.float32)
    assert np.shares_memory(graphc.as_tensor(a)._data, a)
    assert not np.shares_memory(graphc.as_tensor(a, dtype=graphc.float64)._data, a)
    t = graphc.ones(2)
    assert graphc.as_tensor(t) is t
    assert graphc.as_tensor([1, 2]).dtype is graphc.int64


@pytest.mark.parametrize("make", [lambda f: f(2, 3), lambda f: f((2, 3)), lambda f: f([2, 3]),
                                  lambda f: f(graphc.Size([2, 3]))])
def test_sizes_as_varargs_tuple_list_or_size(make):
    for f in (graphc.zeros, graphc.ones, graphc.empty, graphc.rand, graphc.randn):
        t = make(f)
        assert t.shape == (2, 3) and t.dtype is graphc.float32 and t.is_leaf


def test_filled_values_and_dtypes():
    assert graphc.zeros(2, dtype=graphc.int64).tolist() == [0, 0]
    assert graphc.ones(2, 2).sum().item() == 4
    assert graphc.full((2,), 3).dtype is graphc.int64
    assert graphc.full((2,), 3.0).dtype is graphc.float32
    assert graphc.full((2,), True).dtype is graphc.bool
    assert graphc.full((2,), 3, dtype=graphc.float64).tolist() == [3.0, 3.0]
    assert graphc.zeros(()).shape == () and graphc.zeros(0, 3).numel() == 0
    with pytest.raises(ShapeError, match="negative dimension -1"):
        graphc.zeros(2, -1)
    w = graphc.zeros(3, requires_grad=True)
    assert w.requires_grad and w.is_leaf


def test_like_factories_follow_the_input():
    x = graphc.ones(2, 3, dtype=graphc.float64)
    for f in (graphc.zeros_like, graphc.ones_like, graphc.empty_like, graphc.rand_like, graphc.randn_like):
        y = f(x)
        assert y.shape == (2, 3) and y.dtype is graphc.float64
    assert graphc.full_like(x, 7).tolist() == [[7.0] * 3] * 2
    assert graphc.zeros_like(x, dtype=graphc.int64).dtype is graphc.int64
    r = graphc.randint_like(graphc.zeros(50, dtype=graphc.int64), 3, 5)
    assert r.dtype is graphc.int64 and set(r.tolist()) <= {3, 4}
    with pytest.raises(DTypeError):
        graphc.rand_like(graphc.zeros(2, dtype=graphc.int64))


def test_arange_rules():
    assert graphc.arange(5).tolist() == [0, 1, 2, 3, 4] and graphc.arange(5).dtype is graphc.int64
    assert graphc.arange(1, 4).tolist() == [1, 2, 3]
    assert graphc.arange(0, 10, 3).tolist() == [0, 3, 6, 9]
    assert graphc.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert graphc.arange(0, 1, 0.25).dtype is graphc.float32
    assert graphc.arange(0.0, 3).tolist() == [0.0, 1.0, 2.0]
    assert len(graphc.arange(0, 1, 0.1)) == 10
    assert graphc.arange(3, dtype=graphc.float64).dtype is graphc.float64
    assert graphc.arange(2, 2).numel() == 0
    with pytest.raises(ShapeError, match="step must be nonzero"):
        graphc.arange(0, 3, 0)
    with pytest.raises(ShapeError, match="inconsistent with step sign"):
        graphc.arange(3, 0, 1)


def test_linspace_and_eye():
    assert graphc.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert graphc.linspace(0, 1, 5).dtype is graphc.float32
    assert graphc.linspace(3, 3, 1).tolist() == [3.0] and graphc.linspace(0, 1, 0).numel() == 0
    assert graphc.linspace(0, 10, 4, dtype=graphc.int64).tolist() == [0, 3, 6, 10]
    with pytest.raises(ShapeError, match="non-negative"):
        graphc.linspace(0, 1, -1)
    assert graphc.eye(3).tolist() == np.eye(3).tolist() and graphc.eye(3).dtype is graphc.float32
    assert graphc.eye(2, 3).shape == (2, 3)
    with pytest.raises(ShapeError, match="n must be greater or equal to 0"):
        graphc.eye(-1)


def test_random_factories_shapes_ranges_and_dtypes():
    graphc.manual_seed(0)
    u = graphc.rand(1000)
    assert 0.0 <= u.min().item() and u.max().item() < 1.0 and abs(u.mean().item() - 0.5) < 0.05
    z = graphc.randn(4000, dtype=graphc.float64)
    assert z.dtype is graphc.float64 and abs(z.mean().item()) < 0.1 and abs(z.std().item() - 1) < 0.1
    r = graphc.randint(3, 7, (500,))
    assert r.dtype is graphc.int64 and set(r.tolist()) == {3, 4, 5, 6}
    assert graphc.randint(10, (2, 2)).shape == (2, 2)
    assert graphc.randint(0, 5, size=(3,), dtype=graphc.float32).dtype is graphc.float32
    assert sorted(graphc.randperm(10).tolist()) == list(range(10))
    b = graphc.bernoulli(graphc.full((2000,), 0.3))
    assert b.dtype is graphc.float32 and set(b.tolist()) <= {0.0, 1.0} and abs(b.mean().item() - 0.3) < 0.05
    assert graphc.bernoulli(graphc.zeros(5), p=1.0).tolist() == [1.0] * 5
    n = graphc.normal(2.0, 0.5, size=(3000,))
    assert abs(n.mean().item() - 2.0) < 0.05
    assert graphc.normal(graphc.zeros(2, 3), 1.0).shape == (2, 3)


def test_random_factory_errors():
    with pytest.raises(ShapeError, match="from=5 >= to=5"):
        graphc.randint(5, 5, (2,))
    with pytest.raises(DTypeError, match="not implemented for 'Long'"):
        graphc.rand(2, dtype=graphc.int64)
    with pytest.raises(GraphcValueError, match=r"p to be in \[0, 1\]"):
        graphc.bernoulli(graphc.zeros(2), 1.5)
    with pytest.raises(GraphcValueError):
        graphc.bernoulli(graphc.full((2,), 2.0))
    with pytest.raises(GraphcTypeError):
        graphc.randint(5)


def test_random_factories_that_cannot_draw_per_call_refuse_tracing():
    # (rand, randn, randint, bernoulli and normal draw fresh numbers per call: test_compile_random.py)
    from graphc.ir.errors import TraceError

    f = graphc.compile(lambda x: x + graphc.randperm(2))
    with pytest.raises(TraceError, match="outside the compiled function"):
        f(graphc.zeros(2))
