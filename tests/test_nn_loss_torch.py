"""graphc.nn losses (functional and modules) against PyTorch: values and input gradients."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
from graphc import nn  # noqa: E402
from graphc.ir.errors import GraphcError  # noqa: E402

TF = torch.nn.functional
rng = np.random.default_rng(1)
REDUCTIONS = ["mean", "sum", "none"]


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def compare(g_fn, t_fn, x, *others, atol=1e-5):
    """Loss of x (requires grad) and constant others: compare value and d(loss)/dx."""
    gx, tx = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g_out = g_fn(gx, *[graphc.tensor(o) for o in others])
    t_out = t_fn(tx, *[torch.tensor(o) for o in others])
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=1e-4)
    seed = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (g_out * graphc.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_pointwise_losses(name, reduction):
    compare(lambda x, t: getattr(F, name)(x, t, reduction=reduction),
            lambda x, t: getattr(TF, name)(x, t, reduction=reduction), randn(4, 5), randn(4, 5))


@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1(beta, reduction):
    compare(lambda x, t: F.smooth_l1_loss(x, t, reduction=reduction, beta=beta),
            lambda x, t: TF.smooth_l1_loss(x, t, reduction=reduction, beta=beta), randn(6, 3), randn(6, 3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    p = 1 / (1 + np.exp(-randn(5, 3)))
    t = (rng.random((5, 3)) > 0.5).astype(np.float32)
    w = np.abs(randn(3))
    compare(lambda x, t, w: F.binary_cross_entropy(x, t, w, reduction=reduction),
            lambda x, t, w: TF.binary_cross_entropy(x, t, w, reduction=reduction), p, t, w)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(reduction):
    x, t = randn(5, 3) * 4, rng.random((5, 3)).astype(np.float32)
    w, pw = np.abs(randn(3)), np.abs(randn(3)) + 0.5
    compare(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
            lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction), x, t)
    compare(lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw),
            lambda x, t, w, pw: TF.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw),
            x, t, w, pw)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_with_ignore_index(reduction, weighted):
    target = np.array([1, 0, 3, -100, 2], np.int64)
    w = np.abs(randn(4)) if weighted else None
    lsm = np.log(np.exp(randn(5, 4)) / np.exp(randn(5, 4)).sum())
    if weighted:
        compare(lambda x, t, w: F.nll_loss(x, t, w, reduction=reduction),
                lambda x, t, w: TF.nll_loss(x, t, w, reduction=reduction), lsm.astype(np.float32), target, w)
    else:
        compare(lambda x, t: F.nll_loss(x, t, reduction=reduction),
                lambda x, t: TF.nll_loss(x, t, reduction=reduction), lsm.astype(np.float32), target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_class_indices(reduction, smoothing, weighted):
    target = np.array([1, 0, 3, 2, 4, 3], np.int64)
    w = np.abs(randn(5)) if weighted else np.ones(5, np.float32)
    compare(lambda x, t, w: F.cross_entropy(x, t, w if weighted else None, ignore_index=3, reduction=reduction,
                                            label_smoothing=smoothing),
            lambda x, t, w: TF.cross_entropy(x, t, w if weighted else None, ignore_index=3, reduction=reduction,
                                             label_smoothing=smoothing),
            randn(6, 5), target, w)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_targets(reduction):
    target = rng.integers(0, 4, (2, 3, 5)).astype(np.int64)
    compare(lambda x, t: F.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1),
            lambda x, t: TF.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1), randn(2, 4, 3, 5), target)


def test_cross_entropy_unbatched():
    compare(F.cross_entropy, TF.cross_entropy, randn(5), np.array(2, np.int64))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(reduction, smoothing):
    probs = np.exp(randn(4, 5))
    probs /= probs.sum(1, keepdims=True)
    w = np.abs(randn(5))
    compare(lambda x, t, w: F.cross_entropy(x, t, w, reduction=reduction, label_smoothing=smoothing),
            lambda x, t, w: TF.cross_entropy(x, t, w, reduction=reduction, label_smoothing=smoothing),
            randn(4, 5), probs.astype(np.float32), w)


def test_loss_modules_match_functional():
    x, t = randn(6, 5), np.array([1, 0, 3, 2, 4, 3], np.int64)
    w = np.abs(randn(5))
    compare(nn.CrossEntropyLoss(weight=graphc.tensor(w), label_smoothing=0.1),
            torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1), x, t)
    compare(nn.NLLLoss(reduction="sum"), torch.nn.NLLLoss(reduction="sum"), x, t)
    compare(nn.MSELoss(), torch.nn.MSELoss(), x, randn(6, 5))
    compare(nn.L1Loss(reduction="none"), torch.nn.L1Loss(reduction="none"), x, randn(6, 5))
    compare(nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), x, randn(6, 5))
    p = 1 / (1 + np.exp(-x))
    compare(nn.BCELoss(), torch.nn.BCELoss(), p, (p > 0.5).astype(np.float32))
    pw = np.abs(randn(5))
    compare(nn.BCEWithLogitsLoss(pos_weight=graphc.tensor(pw)), torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw)),
            x, (p > 0.5).astype(np.float32))
    assert repr(nn.CrossEntropyLoss()) == repr(torch.nn.CrossEntropyLoss())


def test_cross_entropy_batch_mismatch():
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        F.cross_entropy(graphc.tensor(randn(3, 4)), graphc.tensor(np.array([0, 1])))


def test_cross_entropy_target_out_of_bounds():
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.cross_entropy(graphc.tensor(randn(2, 4)), graphc.tensor(np.array([0, 7])))


def test_bce_target_size_mismatch():
    with pytest.raises(ValueError, match="different to the input size"):
        nn.BCELoss()(graphc.tensor(np.full((3, 2), 0.5, np.float32)), graphc.tensor(np.ones((3,), np.float32)))


def test_mse_broadcast_warns_and_incompatible_raises():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(graphc.tensor(randn(3, 2)), graphc.tensor(randn(2)))
    with pytest.raises(GraphcError, match="must match"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        F.mse_loss(graphc.tensor(randn(3, 2)), graphc.tensor(randn(3)))


def test_bad_reduction():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(graphc.tensor(randn(2)), graphc.tensor(randn(2)), reduction="avg")
