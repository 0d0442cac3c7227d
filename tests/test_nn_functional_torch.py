"""graphc.nn.functional against PyTorch: forward values and input gradients."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
from graphc.ir.errors import GraphcError, ShapeError  # noqa: E402

TF = torch.nn.functional
rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def compare(g_fn, t_fn, *arrays, grad=None, atol=1e-5, rtol=1e-4):
    """Run both on the same inputs; compare outputs and the gradients of float inputs."""
    grad = [a.dtype.kind == "f" for a in arrays] if grad is None else grad
    g_in = [graphc.tensor(a, requires_grad=r) for a, r in zip(arrays, grad, strict=True)]
    t_in = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, grad, strict=True)]
    g_out, t_out = g_fn(*g_in), t_fn(*t_in)
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=rtol)
    if any(grad):
        seed = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
        (g_out * graphc.tensor(seed)).sum().backward()
        (t_out * torch.tensor(seed)).sum().backward()
        for g, t, r in zip(g_in, t_in, grad, strict=True):
            if r:
                np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), atol=atol, rtol=rtol)
    return g_out


@pytest.mark.parametrize("name,kwargs", [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("gelu", {}),
    ("gelu", {"approximate": "tanh"}), ("silu", {}), ("sigmoid", {}), ("tanh", {}),
])
def test_activations(name, kwargs):
    compare(lambda x: getattr(F, name)(x, **kwargs), lambda x: getattr(TF, name)(x, **kwargs), randn(4, 7))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim):
    x = randn(3, 5, 4) * 5
    compare(lambda a: F.softmax(a, dim), lambda a: TF.softmax(a, dim), x)
    compare(lambda a: F.log_softmax(a, dim), lambda a: TF.log_softmax(a, dim), x)


def test_softmax_large_values_are_stable():
    x = np.array([[1000.0, 0.0, -1000.0]], np.float32)
    compare(lambda a: F.log_softmax(a, 1), lambda a: TF.log_softmax(a, 1), x)


def test_linear_3d_input_and_no_bias():
    compare(F.linear, TF.linear, randn(2, 3, 5), randn(4, 5), randn(4))
    compare(F.linear, TF.linear, randn(5), randn(4, 5))


def test_linear_wrong_input_names_expected_shape():
    with pytest.raises(ShapeError, match=r"expected \[\*, 5\]"):
        F.linear(graphc.tensor(randn(2, 4)), graphc.tensor(randn(3, 5)))


@pytest.mark.parametrize("kw", [
    {}, {"stride": 2, "padding": 1}, {"dilation": 2, "padding": (2, 1)}, {"groups": 2}, {"padding": "same"},
    {"padding": "valid"}, {"padding": "same", "dilation": (1, 2)},
])
def test_conv2d(kw):
    w = randn(4, 4 // kw.get("groups", 1), 3, 2 if kw.get("padding") == "same" else 3)
    compare(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
            randn(2, 4, 7, 6), w, randn(4), atol=1e-4)


def test_conv2d_unbatched():
    compare(lambda x, w: F.conv2d(x, w), lambda x, w: TF.conv2d(x, w), randn(3, 6, 6), randn(2, 3, 3, 3), atol=1e-4)


def test_conv2d_channel_mismatch_is_shape_error():
    with pytest.raises(ShapeError, match="to have 3 channels, but got 4 channels"):
        F.conv2d(graphc.tensor(randn(1, 4, 5, 5)), graphc.tensor(randn(2, 3, 3, 3)))


@pytest.mark.parametrize("kw", [{}, {"stride": 2, "padding": 1, "dilation": 2}, {"groups": 2, "padding": "same"}])
def test_conv1d(kw):
    compare(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw),
            randn(2, 4, 11), randn(6, 4 // kw.get("groups", 1), 3), randn(6), atol=1e-4)


@pytest.mark.parametrize("kw", [
    {}, {"stride": 2}, {"stride": 2, "padding": 1, "output_padding": 1}, {"groups": 2, "dilation": 2},
])
def test_conv_transpose2d(kw):
    compare(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
            randn(2, 4, 5, 4), randn(4, 3, 3, 3), randn(3 * kw.get("groups", 1)), atol=1e-4)


@pytest.mark.parametrize("kw", [
    {"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": 3, "ceil_mode": True},
    {"kernel_size": 2, "dilation": 2},
])
def test_max_pool2d(kw):
    compare(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), randn(2, 3, 8, 7))


@pytest.mark.parametrize("kw", [
    {"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, {"kernel_size": 3, "ceil_mode": True},
])
def test_avg_pool2d(kw):
    compare(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), randn(2, 3, 8, 7))


@pytest.mark.parametrize("size", [1, (2, 2), (3, 5), (4, None), (5, 3)])
def test_adaptive_avg_pool2d(size):
    compare(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size), randn(2, 3, 8, 7))


def test_batch_norm_training_updates_running_stats():
    x = randn(6, 3, 4, 2)
    rm_g, rv_g = graphc.tensor(np.zeros(3, np.float32)), graphc.tensor(np.ones(3, np.float32))
    rm_t, rv_t = torch.zeros(3), torch.ones(3)
    compare(lambda a, w, b: F.batch_norm(a, rm_g, rv_g, w, b, training=True, momentum=0.3),
            lambda a, w, b: TF.batch_norm(a, rm_t, rv_t, w, b, training=True, momentum=0.3),
            x, randn(3), randn(3), atol=1e-4)
    np.testing.assert_allclose(rm_g.numpy(), rm_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(rv_g.numpy(), rv_t.numpy(), atol=1e-5)


def test_batch_norm_eval_uses_running_stats():
    rm, rv = randn(3), np.abs(randn(3)) + 0.5
    compare(lambda a, m, v: F.batch_norm(a, m, v, training=False), lambda a, m, v: TF.batch_norm(a, m, v, training=False),
            randn(4, 3), rm, rv, grad=[True, False, False])


def test_batch_norm_one_value_per_channel_refused():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(graphc.tensor(randn(1, 3)), None, None, training=True)


def test_layer_norm_and_group_norm():
    compare(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), lambda x, w, b: TF.layer_norm(x, (4, 5), w, b),
            randn(3, 4, 5), randn(4, 5), randn(4, 5), atol=1e-4)
    compare(lambda x, w, b: F.group_norm(x, 2, w, b), lambda x, w, b: TF.group_norm(x, 2, w, b),
            randn(3, 6, 4, 2), randn(6), randn(6), atol=1e-4)


def test_layer_norm_wrong_shape():
    with pytest.raises(ShapeError, match=r"expected input with shape \[\*, 4\]"):
        F.layer_norm(graphc.tensor(randn(2, 5)), (4,))


def test_embedding_and_padding_idx_gets_no_grad():
    idx = np.array([[0, 2, 1], [2, 2, 3]], np.int64)
    g = compare(lambda w, i: F.embedding(i, w, padding_idx=2), lambda w, i: TF.embedding(i, w, padding_idx=2),
                randn(5, 4), idx, grad=[True, False])
    assert g.shape == (2, 3, 4)


def test_embedding_index_out_of_range():
    with pytest.raises(IndexError, match="index out of range"):
        F.embedding(graphc.tensor(np.array([5])), graphc.tensor(randn(5, 2)))


@pytest.mark.parametrize("pad", [(1, 2), (1, 1, 2, 0), (-1, 2, 0, -2), (0, 0, 0, 0, 1, 1)])
def test_pad_constant(pad):
    compare(lambda x: F.pad(x, pad, value=0.5), lambda x: TF.pad(x, pad, value=0.5), randn(2, 3, 4))


def test_one_hot():
    idx = np.array([[0, 3], [2, 1]], np.int64)
    for n in (-1, 6):
        g = F.one_hot(graphc.tensor(idx), n)
        t = TF.one_hot(torch.tensor(idx), n)
        assert g.dtype == graphc.int64
        np.testing.assert_array_equal(g.numpy(), t.numpy())


def test_dropout_modes():
    x = graphc.tensor(randn(50, 40), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert np.all(F.dropout(x, 1.0).detach().numpy() == 0)
    y = F.dropout(x, 0.25)
    kept = y.detach().numpy() != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.75, rtol=1e-6)


def test_dropout_bad_p():
    with pytest.raises(GraphcError, match="between 0 and 1"):
        F.dropout(graphc.tensor(randn(2)), 1.5)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "silu"])
def test_inplace_activations_of_a_non_leaf_backpropagate_like_torch(name):
    # (silu's backward reads x, which inplace=True overwrites: it computes from a copy)
    a = randn(6) * 3
    g, t = graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    getattr(F, name)(g * 1.0, inplace=True).sum().backward()
    getattr(TF, name)(t * 1.0, inplace=True).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_elu_of_large_inputs_has_a_finite_gradient():
    compare(F.elu, TF.elu, np.array([100.0, 200.0, -1.0, 0.5], np.float32))
