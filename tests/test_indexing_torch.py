"""Indexing against PyTorch: values, shapes and gradients of reads and writes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402

A = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
MASK = A > 0.3


def _both(index):
    """The same index for graphc and for torch (lists become int64 tensors in each)."""
    def conv(mod, v):
        if isinstance(v, list):
            return mod.tensor(v)
        if isinstance(v, np.ndarray):
            return mod.tensor(v)
        return v

    if isinstance(index, tuple):
        return tuple(conv(graphc, v) for v in index), tuple(conv(torch, v) for v in index)
    return conv(graphc, index), conv(torch, index)


INDICES = {
    "int": 1, "neg_int": -1, "col": (slice(None), 1), "slice": (slice(None), slice(1, 3)),
    "ellipsis_step": (Ellipsis, slice(None, None, 2)), "none": None, "none_mix": (None, 1, None, slice(2, None)),
    "int_slice": (0, slice(1, 3), 4), "list": [2, 0, 2], "neg_list": [-1, 0], "pair": ([0, 2], [1, 3]),
    "pair_adjacent": (slice(None), [0, 2], [1, 4]), "pair_apart": ([0, 1], slice(None), [1, 3]),
    "int_and_list": (1, slice(None), [0, 4]), "int_list_apart": ([0, 2], 1, [0, 4]),
    "broadcast": ([[0], [2]], [1, 3]), "mask": MASK, "mask2d": MASK[:, :, 0],
    "mask_after_slice": (slice(None), MASK[0, :, 0]), "mask_and_list": (MASK[:, :, 0], [1, 2, 3, 4, 0, 1][: int(MASK[:, :, 0].sum())]),
    "ellipsis_list": (Ellipsis, [4, 0]), "zero_d_index": (np.array(2),), "all": (Ellipsis,),
}


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem_values_and_gradients(name):
    gi, ti = _both(INDICES[name])
    gx = graphc.tensor(A, requires_grad=True)
    tx = torch.tensor(A, requires_grad=True)
    gy, ty = gx[gi], tx[ti]
    assert tuple(gy.shape) == tuple(ty.shape)
    np.testing.assert_array_equal(gy.detach().numpy(), ty.detach().numpy())
    weights = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(np.float32)
    (gy * graphc.tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_repeated_indices_accumulate_gradients():
    gx, tx = graphc.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    gx[[1, 1, 2], [0, 0, 3]].sum().backward()
    tx[[1, 1, 2], [0, 0, 3]].sum().backward()
    np.testing.assert_array_equal(gx.grad.numpy(), tx.grad.numpy())


SETS = {
    "row_number": (1, 2.5), "column_tensor": ((slice(None), 1), np.ones((3, 5), np.float32)),
    "broadcast_row": ((0,), np.arange(5, dtype=np.float32)), "mask": (MASK, -1.0),
    "pair": (([0, 2], [1, 3]), np.array([[7.0] * 5, [8.0] * 5], np.float32)),
    "step": ((Ellipsis, slice(None, None, 2)), 3.0),
}


@pytest.mark.parametrize("name", list(SETS))
def test_setitem_without_autograd(name):
    index, value = SETS[name]
    gi, ti = _both(index)
    gx, tx = graphc.tensor(A), torch.tensor(A)
    gv = graphc.tensor(value) if isinstance(value, np.ndarray) else value
    tv = torch.tensor(value) if isinstance(value, np.ndarray) else value
    gx[gi] = gv
    tx[ti] = tv
    np.testing.assert_array_equal(gx.numpy(), tx.numpy())


@pytest.mark.parametrize("name", list(SETS))
def test_setitem_then_backward(name):
    index, value = SETS[name]
    gi, ti = _both(index)
    results = []
    for mod, i in ((graphc, gi), (torch, ti)):
        w = mod.tensor(A, requires_grad=True)
        v = mod.tensor(np.asarray(value, np.float32), requires_grad=True)
        y = w * 2
        y[i] = v * 3
        weights = mod.tensor(np.random.default_rng(2).standard_normal(A.shape).astype(np.float32))
        (y * weights).sum().backward()
        results.append((y.detach().numpy(), w.grad.numpy(), v.grad.numpy()))
    for g, t in zip(*results):
        np.testing.assert_allclose(g, t, rtol=1e-6, atol=1e-6)


def test_setitem_into_a_buffer_makes_it_require_grad():
    results = []
    for mod in (graphc, torch):
        s = mod.tensor([1.0, 2.0, 3.0], requires_grad=True)
        buf = mod.zeros(2, 3)
        buf[1] = s * s
        buf[0, 1:] = s[:2]
        assert buf.requires_grad and not buf.is_leaf
        (buf ** 2).sum().backward()
        results.append((buf.detach().numpy(), s.grad.numpy()))
    for g, t in zip(*results):
        np.testing.assert_allclose(g, t, rtol=1e-6)


def test_setitem_on_a_view_updates_the_base():
    results = []
    for mod in (graphc, torch):
        x = mod.tensor(A.copy())
        v = x[1:, ::2]
        v[0] = 100.0
        v[v < 0] = 0.0
        x[0][2] = -5.0
        results.append((x.numpy(), v.numpy(), x._version if mod is torch else x._version.value))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2] == 3


def test_write_to_a_saved_output_breaks_backward_as_in_pytorch():
    for mod in (graphc, torch):
        w = mod.tensor(A, requires_grad=True)
        y = w.exp()  # exp saves its output for backward
        y[0, 0] = 1.0
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_view_of_grad_tensor_then_backward_through_base():
    """Reading a view after a write to its base sees the write; the gradient follows."""
    results = []
    for mod in (graphc, torch):
        w = mod.tensor(A, requires_grad=True)
        y = w * 3
        y[0, 0] = 1.0
        z = y[:, 1:3] * y[0:1, 0:1]
        z.sum().backward()
        results.append((z.detach().numpy(), w.grad.numpy()))
    for g, t in zip(*results):
        np.testing.assert_allclose(g, t, rtol=1e-5)
