"""cumsum, cumprod and logcumsumexp against torch: values, gradients, dtypes, compiled."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")
rng = np.random.default_rng(0)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
@pytest.mark.parametrize("shape, dim", [((1,), 0), ((5,), 0), ((3, 7), 1), ((3, 7), 0), ((4, 6, 3), -2), ((2, 33), -1)])
def test_values_and_gradients_match_torch(name, shape, dim):
    a = rng.standard_normal(shape).astype(np.float32)
    g, t = graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    go, to = getattr(graphc, name)(g, dim), getattr(torch, name)(t, dim)
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-5)
    seed = rng.standard_normal(shape).astype(np.float32)
    (go * graphc.tensor(seed)).sum().backward()
    (to * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(getattr(g.detach(), name)(dim).numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_dtypes_follow_torch():
    for dt in ("int32", "int64", "bool"):
        a = np.array([1, 0, 1, 1]).astype(dt if dt != "bool" else np.bool_)
        for name in ("cumsum", "cumprod"):
            ours, theirs = getattr(graphc, name)(graphc.tensor(a), 0), getattr(torch, name)(torch.tensor(a), 0)
            assert ours.dtype.name == str(theirs.dtype).split(".")[1]
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    x = np.array([1.5, 2.5, 3.5], np.float32)
    assert graphc.cumsum(graphc.tensor(x), 0, dtype=graphc.float64).dtype is graphc.float64
    np.testing.assert_array_equal(graphc.cumsum(graphc.tensor(x), 0, dtype=graphc.int64).numpy(),
                                  torch.cumsum(torch.tensor(x), 0, dtype=torch.int64).numpy())
    assert graphc.cumsum(graphc.tensor(3.0), 0).item() == 3.0


def test_cumprod_through_zeros_and_logcumsumexp_at_the_extremes():
    a = np.array([2.0, 0.0, 3.0, 0.0, 5.0], np.float32)
    g, t = graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    graphc.cumprod(g, 0).sum().backward()
    torch.cumprod(t, 0).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy())
    b = np.array([0.0, 1000.0, -np.inf, -1000.0, 3.0], np.float32)
    np.testing.assert_allclose(graphc.logcumsumexp(graphc.tensor(b), 0).numpy(),
                               torch.logcumsumexp(torch.tensor(b), 0).numpy())
    with pytest.raises(graphc.DTypeError, match="logcumsumexp"):
        graphc.logcumsumexp(graphc.tensor([1, 2]), 0)
    with pytest.raises(IndexError):
        graphc.cumsum(graphc.ones(2, 3), 2)


@pytest.mark.parametrize("n", [7, 300])
def test_compiled_scans_equal_eager_ones_and_stay_small(n):
    x = graphc.tensor(rng.standard_normal((3, n)).astype(np.float32) * 0.1, requires_grad=True)

    def f(x):
        y = x.cumsum(1) + x.cumprod(1) + x.logcumsumexp(1)
        y.sum().backward()
        return y

    compiled = graphc.compile(f)
    got, got_grad = compiled(x).numpy(), x.grad.numpy().copy()
    x.grad = None
    want = f(x).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_grad, x.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert compiled.stats()["kernels"] < 150  # the doubling scan's trees are bounded (passes/fuse.py)
