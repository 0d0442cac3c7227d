"""Factories against PyTorch: dtypes, shapes and values."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402

DTYPES = {"float32": (graphc.float32, torch.float32), "float64": (graphc.float64, torch.float64),
          "int64": (graphc.int64, torch.int64), "int32": (graphc.int32, torch.int32), "bool": (graphc.bool, torch.bool)}


def _same(g, t, exact=True):
    assert g.dtype.name == str(t.dtype).replace("torch.", ""), (g.dtype, t.dtype)
    assert tuple(g.shape) == tuple(t.shape)
    if exact:
        np.testing.assert_array_equal(g.numpy(), t.numpy())
    else:
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-6, atol=1e-6)


DATA = [1, 2.5, True, [1, 2], [1, 2.0], [True, False], [[1, 2], [3, 4]], [True, 3], (1.5, 2), [],
        np.float64(1.0), np.int32(3), np.arange(4.0), np.arange(4, dtype=np.int32), np.array([[True]]),
        [np.float64(1.0), 2]]


@pytest.mark.parametrize("data", DATA, ids=[repr(d)[:30] for d in DATA])
def test_tensor_matches_torch(data):
    _same(graphc.tensor(data), torch.tensor(data))


@pytest.mark.parametrize("name", list(DTYPES))
def test_tensor_with_dtype_matches_torch(name):
    g, t = DTYPES[name]
    _same(graphc.tensor([[0.0, 1.7], [-2.5, 3.0]], dtype=g), torch.tensor([[0.0, 1.7], [-2.5, 3.0]], dtype=t))


def test_tensor_of_zero_dim_tensors_matches_torch():
    _same(graphc.tensor([graphc.tensor(1.5, dtype=graphc.float64), graphc.tensor(2.0, dtype=graphc.float64)]),
          torch.tensor([torch.tensor(1.5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)]))


ARANGES = [(5,), (1, 4), (0, 10, 3), (5, 0, -2), (0, 1, 0.1), (0.5, 3), (-1, 1, 0.3), (0, 1, 0.25), (1, 2.0),
           (0, 10, 0.7), (2, 2), (10, 0, -0.3)]


@pytest.mark.parametrize("args", ARANGES, ids=str)
def test_arange_matches_torch(args):
    # float values may differ in the last bit: PyTorch's vectorised kernel rounds differently per lane
    _same(graphc.arange(*args), torch.arange(*args), exact=all(isinstance(a, int) for a in args))
    _same(graphc.arange(*args, dtype=graphc.float64), torch.arange(*args, dtype=torch.float64), exact=False)


LINSPACES = [(0, 1, 5), (-3, 7, 11), (0, 1, 1), (0, 1, 0), (1.5, -2.25, 8), (0, 10, 4), (0, 1, 100)]


@pytest.mark.parametrize("args", LINSPACES, ids=str)
def test_linspace_matches_torch(args):
    _same(graphc.linspace(*args), torch.linspace(*args), exact=False)
    _same(graphc.linspace(*args, dtype=graphc.float64), torch.linspace(*args, dtype=torch.float64), exact=False)
    _same(graphc.linspace(*args, dtype=graphc.int64), torch.linspace(*args, dtype=torch.int64))


def test_eye_full_and_filled_match_torch():
    _same(graphc.eye(3), torch.eye(3))
    _same(graphc.eye(2, 4, dtype=graphc.int64), torch.eye(2, 4, dtype=torch.int64))
    _same(graphc.eye(0), torch.eye(0))
    for value in (3, 3.5, True, -2):
        _same(graphc.full((2, 3), value), torch.full((2, 3), value))
    _same(graphc.full((2,), 1, dtype=graphc.float64), torch.full((2,), 1, dtype=torch.float64))
    for g, t in ((graphc.zeros, torch.zeros), (graphc.ones, torch.ones)):
        _same(g(2, 3), t(2, 3))
        _same(g((4,), dtype=graphc.bool), t((4,), dtype=torch.bool))
        _same(g([]), t([]))
    x = graphc.tensor([[1, 2]])
    _same(graphc.full_like(x, 7.9), torch.full_like(torch.tensor([[1, 2]]), 7.9))
    _same(graphc.ones_like(x, dtype=graphc.float32), torch.ones_like(torch.tensor([[1, 2]]), dtype=torch.float32))


def test_random_factories_have_torch_shapes_and_dtypes():
    cases = [(graphc.rand(2, 3), torch.rand(2, 3)), (graphc.randn(4), torch.randn(4)),
             (graphc.rand(2, dtype=graphc.float64), torch.rand(2, dtype=torch.float64)),
             (graphc.randint(0, 5, (3, 2)), torch.randint(0, 5, (3, 2))), (graphc.randint(9, (2,)), torch.randint(9, (2,))),
             (graphc.randperm(7), torch.randperm(7)), (graphc.bernoulli(graphc.rand(3)), torch.bernoulli(torch.rand(3))),
             (graphc.randint_like(graphc.zeros(2), 4), torch.randint_like(torch.zeros(2), 4)),
             (graphc.normal(0.0, 1.0, size=(2,)), torch.normal(0.0, 1.0, size=(2,)))]
    for g, t in cases:
        assert g.dtype.name == str(t.dtype).replace("torch.", "") and tuple(g.shape) == tuple(t.shape)


def test_errors_are_the_builtins_torch_raises():
    pairs = [
        (lambda m: m.arange(0, 3, 0), RuntimeError),
        (lambda m: m.zeros(2, -1), RuntimeError),
        (lambda m: m.tensor([[1, 2], [3]]), ValueError),
        (lambda m: m.randint(5, 5, (2,)), RuntimeError),
        (lambda m: m.from_numpy(np.array([object()])), TypeError),
        (lambda m: m.tensor([1, 2], requires_grad=True), RuntimeError),
        (lambda m: m.linspace(0, 1, -1), RuntimeError),
        (lambda m: m.eye(-1), RuntimeError),
    ]
    for make, exc in pairs:
        for mod in (torch, graphc):
            with pytest.raises(exc):
                make(mod)
