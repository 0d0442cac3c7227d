"""graphc.nn layers against torch.nn with copied weights: outputs, input and parameter
gradients, state_dict keys, repr, buffers."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
from graphc import nn  # noqa: E402
from graphc.ir.errors import GraphcError, ShapeError  # noqa: E402

rng = np.random.default_rng(2)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def copy_weights(g_mod, t_mod):
    g_mod.load_state_dict({k: graphc.tensor(v.detach().numpy().copy()) for k, v in t_mod.state_dict().items()})


def compare(g_mod, t_mod, x, atol=1e-4, grad_input=True):
    """Copy torch's weights into graphc's module; compare output, input grad and parameter grads."""
    assert list(g_mod.state_dict()) == list(t_mod.state_dict())
    copy_weights(g_mod, t_mod)
    gx = graphc.tensor(x, requires_grad=grad_input)
    tx = torch.tensor(x, requires_grad=grad_input)
    g_out, t_out = g_mod(gx), t_mod(tx)
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=1e-4)
    seed = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (g_out * graphc.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()
    if grad_input:
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-4)
    t_params = dict(t_mod.named_parameters())
    for name, p in g_mod.named_parameters():
        if t_params[name].grad is None:
            assert p.grad is None, name
        else:
            np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), atol=atol, rtol=1e-4, err_msg=name)
    for name, b in t_mod.state_dict().items():  # buffers updated alike (BatchNorm running stats)
        np.testing.assert_allclose(g_mod.state_dict()[name].numpy(), b.numpy(), atol=1e-5, err_msg=name)
    assert repr(g_mod) == repr(t_mod)
    return g_out


CASES = [
    ("Linear", (5, 3), {}, (4, 5)),
    ("Linear", (5, 3), {"bias": False}, (2, 6, 5)),
    ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1}, (2, 4, 9)),
    ("Conv2d", (3, 4, 3), {}, (2, 3, 7, 6)),
    ("Conv2d", (4, 6, (3, 2)), {"stride": (2, 1), "padding": 1, "dilation": 2, "groups": 2, "bias": False}, (2, 4, 9, 8)),
    ("Conv2d", (3, 4, 4), {"padding": "same"}, (1, 3, 6, 6)),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}, (2, 4, 5, 5)),
    ("ConvTranspose2d", (4, 6, 3), {"groups": 2, "dilation": 2}, (1, 4, 4, 3)),
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1}, (2, 3, 7, 7)),
    ("AvgPool2d", (2,), {}, (2, 3, 6, 6)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 4, 4)),
    ("BatchNorm1d", (4,), {"momentum": 0.2}, (6, 4)),
    ("BatchNorm1d", (4,), {"affine": False}, (6, 4, 3)),
    ("BatchNorm2d", (3,), {}, (4, 3, 5, 5)),
    ("BatchNorm2d", (3,), {"momentum": None}, (4, 3, 2, 2)),
    ("BatchNorm2d", (3,), {"track_running_stats": False}, (4, 3, 2, 2)),
    ("LayerNorm", ((4, 5),), {}, (3, 4, 5)),
    ("LayerNorm", (5,), {"elementwise_affine": False}, (3, 5)),
    ("GroupNorm", (2, 6), {}, (3, 6, 4)),
    ("ReLU", (), {}, (3, 4)),
    ("LeakyReLU", (0.2,), {}, (3, 4)),
    ("ELU", (), {"alpha": 0.5}, (3, 4)),
    ("GELU", (), {}, (3, 4)),
    ("GELU", (), {"approximate": "tanh"}, (3, 4)),
    ("SiLU", (), {}, (3, 4)),
    ("Sigmoid", (), {}, (3, 4)),
    ("Tanh", (), {}, (3, 4)),
    ("Softmax", (), {"dim": 1}, (3, 4)),
    ("LogSoftmax", (), {"dim": -1}, (3, 4)),
    ("Flatten", (), {}, (2, 3, 4)),
    ("Unflatten", (1, (2, 6)), {}, (3, 12)),
    ("Identity", (), {}, (2, 2)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layer_matches_torch(name, args, kwargs, shape):
    g_mod, t_mod = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    compare(g_mod, t_mod, randn(*shape))


def test_batchnorm_two_steps_then_eval():
    g, t = nn.BatchNorm2d(3, momentum=None), torch.nn.BatchNorm2d(3, momentum=None)
    compare(g, t, randn(4, 3, 2, 2))
    compare(g, t, randn(4, 3, 2, 2) * 3 + 1)
    assert int(g.num_batches_tracked.numpy()) == 2
    g.eval()
    t.eval()
    compare(g, t, randn(2, 3, 2, 2))


def test_embedding_and_padding_idx():
    g, t = nn.Embedding(7, 3, padding_idx=1), torch.nn.Embedding(7, 3, padding_idx=1)
    assert np.all(g.weight.detach().numpy()[1] == 0)
    copy_weights(g, t)
    idx = np.array([[1, 2, 6], [1, 0, 2]], np.int64)
    go, to = g(graphc.tensor(idx)), t(torch.tensor(idx))
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy())
    go.sum().backward()
    to.sum().backward()
    np.testing.assert_allclose(g.weight.grad.numpy(), t.weight.grad.numpy())
    assert repr(g) == repr(t)


def test_embedding_from_pretrained_is_frozen():
    w = randn(4, 2)
    g = nn.Embedding.from_pretrained(graphc.tensor(w))
    assert not g.weight.requires_grad
    np.testing.assert_allclose(g(graphc.tensor(np.array([3]))).numpy(), w[[3]])
    assert nn.Embedding.from_pretrained(graphc.tensor(w), freeze=False).weight.requires_grad


def test_dropout_train_and_eval():
    m = nn.Dropout(0.5)
    assert repr(m) == repr(torch.nn.Dropout(0.5))
    x = graphc.tensor(np.ones((40, 40), np.float32))
    y = m(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.35 < (y == 0).mean() < 0.65
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())


def test_model_repr_and_state_dict_match_torch():
    def build(mod):
        return mod.Sequential(
            mod.Conv2d(1, 4, 3, padding=1), mod.BatchNorm2d(4), mod.ReLU(inplace=True), mod.MaxPool2d(2),
            mod.Flatten(), mod.Dropout(0.1), mod.Linear(4 * 4 * 4, 10), mod.LogSoftmax(dim=1),
        )

    g, t = build(nn), build(torch.nn)
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    g.eval()
    t.eval()
    compare(g, t, randn(2, 1, 8, 8))


def test_wrong_input_shapes_name_expected_shape():
    with pytest.raises(ShapeError, match=r"expected \[\*, 5\]"):
        nn.Linear(5, 2)(graphc.tensor(randn(3, 4)))
    with pytest.raises(ShapeError, match="expected input.*to have 3 channels"):
        nn.Conv2d(3, 4, 3)(graphc.tensor(randn(1, 2, 8, 8)))
    with pytest.raises(ShapeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d"):
        nn.Conv2d(3, 4, 3)(graphc.tensor(randn(8, 8)))


def test_unsupported_options_are_clear_errors():
    with pytest.raises(GraphcError, match="padding_mode='reflect' is not supported"):
        nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(GraphcError, match="return_indices"):
        nn.MaxPool2d(2, return_indices=True)(graphc.tensor(randn(1, 1, 4, 4)))
