"""sort, argsort, msort, topk, kthvalue, median, searchsorted, bucketize, select against torch,
eager and compiled (the compiled permutation comes from a bitonic network: same choices)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")
rng = np.random.default_rng(0)


def _data(shape, kind):
    if kind == "ties":
        return rng.integers(0, 4, shape).astype(np.float32)
    if kind == "nan":
        a = rng.standard_normal(shape).astype(np.float32)
        a[rng.random(shape) < 0.2] = np.nan
        return a
    if kind == "int":
        return rng.integers(-5, 5, shape).astype(np.int64)
    return rng.standard_normal(shape).astype(np.float32)


CASES = [((7,), 0), ((3, 8), 1), ((3, 8), 0), ((2, 5, 6), -1), ((4, 1), 1), ((2, 13), 1)]


def _both(fn, a, compiled):
    g = graphc.tensor(a)
    out = graphc.compile(fn)(g) if compiled else fn(g)
    return out


# compiled: a sorting network of log2(n)^2 / 2 steps each; small sizes keep the suite quick
# (compiled: a sorting network of log2(n)^2 / 2 steps, a few seconds to compile each)
SORT_CASES = ([(False, kind, shape, dim) for kind in ("plain", "ties", "nan", "int") for shape, dim in CASES]
              + [(True, "ties", (3, 8), 1), (True, "nan", (2, 3, 5), -1)])


@pytest.mark.parametrize("compiled, kind, shape, dim", SORT_CASES)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_match_torchs_stable_sort(compiled, kind, shape, dim, descending):
    a = _data(shape, kind)
    values, indices = _both(lambda x: graphc.sort(x, dim, descending=descending, stable=True), a, compiled)
    t_values, t_indices = torch.sort(torch.tensor(a), dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())
    np.testing.assert_array_equal(values.numpy(), t_values.numpy())
    order = _both(lambda x: x.argsort(dim, descending=descending), a, compiled)
    np.testing.assert_array_equal(order.numpy(), t_indices.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_values_and_gradients_match_torch(compiled, largest):
    a = _data((4, 9), "plain")
    seed = rng.standard_normal((4, 3)).astype(np.float32)

    def f(x):
        values, indices = x.topk(3, dim=1, largest=largest)
        (values * graphc.tensor(seed)).sum().backward()
        return values, indices

    g = graphc.tensor(a, requires_grad=True)
    values, indices = (graphc.compile(f) if compiled else f)(g)
    t = torch.tensor(a, requires_grad=True)
    tv, ti = t.topk(3, dim=1, largest=largest)
    (tv * torch.tensor(seed)).sum().backward()
    np.testing.assert_array_equal(indices.numpy(), ti.numpy())
    np.testing.assert_allclose(values.detach().numpy(), tv.detach().numpy())
    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_kthvalue_median_msort_match_torch(compiled):
    a = _data((5, 7), "plain")
    b = _data((5, 6), "nan")
    t, tb = torch.tensor(a), torch.tensor(b)

    def f(x, y):
        return (x.kthvalue(3, dim=1), x.median(dim=0, keepdim=True), x.median(), graphc.msort(x), y.median(dim=1))

    run = graphc.compile(f) if compiled else f
    (kv, ki), (mv, mi), m, ms, (nv, ni) = run(graphc.tensor(a), graphc.tensor(b))
    tkv, tki = t.kthvalue(3, dim=1)
    tmv, tmi = t.median(dim=0, keepdim=True)
    tnv, tni = tb.median(dim=1)
    for ours, theirs in ((kv, tkv), (ki, tki), (mv, tmv), (mi, tmi), (m, t.median()), (ms, torch.msort(t)),
                         (nv, tnv), (ni, tni)):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_and_bucketize_match_torch(compiled, right):
    seq = np.array([1.0, 2.0, 2.0, 4.0], np.float32)
    values = np.array([[0.5, 2.0, 3.0], [4.0, 5.0, 1.0]], np.float32)
    batched = np.sort(rng.standard_normal((2, 5)).astype(np.float32), axis=1)

    def f(s, v, b):
        return graphc.searchsorted(s, v, right=right), graphc.bucketize(v, s, right=right), graphc.searchsorted(b, v)

    run = graphc.compile(f) if compiled else f
    got = run(graphc.tensor(seq), graphc.tensor(values), graphc.tensor(batched))
    ts, tv, tb = torch.tensor(seq), torch.tensor(values), torch.tensor(batched)
    want = (torch.searchsorted(ts, tv, right=right), torch.bucketize(tv, ts, right=right), torch.searchsorted(tb, tv))
    for ours, theirs in zip(got, want):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.dtype is graphc.int64


def test_select_and_the_errors():
    x = graphc.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(x.select(1, -1).numpy(), torch.arange(12.0).reshape(3, 4).select(1, -1).numpy())
    with pytest.raises(IndexError, match="out of range"):
        x.select(0, 3)
    with pytest.raises(graphc.ShapeError, match="k out of range"):
        x.topk(5)
    with pytest.raises(graphc.GraphcError, match="side can only be"):
        graphc.searchsorted(graphc.tensor([1.0]), graphc.tensor([1.0]), side="middle")
    with pytest.raises(graphc.ShapeError, match="boundaries tensor must be 1 dimension"):
        graphc.bucketize(x, x)
