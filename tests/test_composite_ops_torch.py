"""Composite ops (softmax, log_softmax, gelu, layer_norm, linear) in eager mode against PyTorch: values and gradients.

The front end emits one composite node per call, so these exercise each op's numpy reference and
its VJP rule; tests/test_decompose.py checks the decompositions the compiler uses.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.nn.functional as F  # noqa: E402
from graphc.ir.errors import DTypeError, GraphcValueError  # noqa: E402

TF = torch.nn.functional
rng = np.random.default_rng(7)


def _compare(g_fn, t_fn, x, *, dtype=np.float32, atol=1e-5, rtol=1e-4):
    """Value and input gradient (for a random output gradient) of both libraries on ``x``."""
    x = np.asarray(x, dtype)
    gx = graphc.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    g_out, t_out = g_fn(gx), t_fn(tx)
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=rtol)
    seed = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    (g_out * graphc.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=rtol)
    return g_out


def _op_of(t) -> str:
    return t.grad_fn.op


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_value_and_grad(name, dim):
    x = rng.standard_normal((3, 4, 5)) * 4
    out = _compare(lambda a: getattr(F, name)(a, dim), lambda a: getattr(TF, name)(a, dim), x)
    assert _op_of(out) == name  # one composite node, not six core ops
    _compare(lambda a: getattr(a, name)(dim), lambda a: getattr(a, name)(dim), x)  # the tensor methods


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_float64_extremes_and_scalars(name):
    x = np.array([[1000.0, 0.0, -1000.0], [-np.inf, 0.0, 1.0]])
    _compare(lambda a: getattr(F, name)(a, 1), lambda a: getattr(TF, name)(a, 1), x, dtype=np.float64)
    _compare(lambda a: getattr(F, name)(a, 0), lambda a: getattr(TF, name)(a, 0), np.array(2.5))
    empty = getattr(F, name)(graphc.zeros(2, 0), 1)
    assert tuple(empty.shape) == (2, 0)


def test_softmax_dtype_argument_and_integer_input():
    x = np.arange(6).reshape(2, 3)
    g = F.softmax(graphc.tensor(x), 1, dtype=graphc.float64)
    t = TF.softmax(torch.tensor(x), 1, dtype=torch.float64)
    assert g.dtype is graphc.float64
    np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-12)
    with pytest.raises(DTypeError, match='"softmax" not implemented'):
        F.softmax(graphc.tensor(x), 1)
    with pytest.raises(DTypeError, match='"log_softmax" not implemented'):
        graphc.tensor(x).log_softmax(1)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_value_and_grad(approximate, dtype):
    x = rng.standard_normal((4, 9)) * 3
    out = _compare(lambda a: F.gelu(a, approximate=approximate), lambda a: TF.gelu(a, approximate=approximate), x,
                   dtype=dtype, atol=1e-5 if dtype is np.float32 else 1e-10)
    assert _op_of(out) == "gelu"
    layer = graphc.nn.GELU(approximate=approximate)
    np.testing.assert_array_equal(layer(graphc.tensor(x.astype(dtype))).numpy(), out.detach().numpy())


def test_gelu_rejects_an_unknown_mode():
    with pytest.raises(GraphcValueError, match="approximate argument must be either none or tanh"):
        F.gelu(graphc.randn(3), approximate="fast")


@pytest.mark.parametrize("shape,normalized", [((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((7,), (7,))])
def test_layer_norm_value_and_grads(shape, normalized):
    x = rng.standard_normal(shape) * 2 + 1
    w = rng.standard_normal(normalized).astype(np.float32)
    b = rng.standard_normal(normalized).astype(np.float32)
    _compare(lambda a: F.layer_norm(a, normalized), lambda a: TF.layer_norm(a, normalized), x)
    gw, gb = graphc.tensor(w, requires_grad=True), graphc.tensor(b, requires_grad=True)
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    out = _compare(lambda a: F.layer_norm(a, normalized, gw, gb, eps=1e-3),
                   lambda a: TF.layer_norm(a, normalized, tw, tb, eps=1e-3), x)
    assert out.grad_fn.inputs[0].inputs[0].op == "layer_norm"  # add(mul(layer_norm(x), w), b)
    np.testing.assert_allclose(gw.grad.numpy(), tw.grad.numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(gb.grad.numpy(), tb.grad.numpy(), atol=1e-5, rtol=1e-4)


def test_layer_norm_float64_and_module():
    x = rng.standard_normal((3, 8))
    _compare(lambda a: F.layer_norm(a, (8,)), lambda a: TF.layer_norm(a, (8,)), x, dtype=np.float64, atol=1e-10)
    g_ln, t_ln = graphc.nn.LayerNorm(8), torch.nn.LayerNorm(8)
    np.testing.assert_allclose(g_ln(graphc.tensor(x, dtype=graphc.float32)).detach().numpy(),
                               t_ln(torch.tensor(x, dtype=torch.float32)).detach().numpy(), atol=1e-5)
    with pytest.raises(DTypeError, match='"layer_norm" not implemented'):
        F.layer_norm(graphc.ones(2, 3, dtype=graphc.int64), (3,))


def test_group_norm_uses_layer_norm_and_matches():
    x = rng.standard_normal((2, 6, 5))
    w = rng.standard_normal(6).astype(np.float32)
    gw, tw = graphc.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    _compare(lambda a: F.group_norm(a, 3, gw), lambda a: TF.group_norm(a, 3, tw), x)
    np.testing.assert_allclose(gw.grad.numpy(), tw.grad.numpy(), atol=1e-5, rtol=1e-4)


def test_cross_entropy_goes_through_log_softmax():
    logits = rng.standard_normal((5, 4))
    target = np.array([0, 3, 1, 1, 2])
    _compare(lambda a: F.cross_entropy(a, graphc.tensor(target), label_smoothing=0.1),
             lambda a: TF.cross_entropy(a, torch.tensor(target), label_smoothing=0.1), logits)
    x = graphc.tensor(logits.astype(np.float32), requires_grad=True)
    ops, stack = set(), [F.cross_entropy(x, graphc.tensor(target)).grad_fn]
    while stack:  # every recorded op on the way back to the logits
        node = stack.pop()
        ops.add(node.op)
        stack.extend(i for i in node.inputs if hasattr(i, "op"))
    assert "log_softmax" in ops and "exp" not in ops


@pytest.mark.parametrize("x_shape", [(5,), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_value_and_grads(x_shape, with_bias):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32) if with_bias else None
    g_args = [graphc.tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    t_args = [torch.tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    g_out, t_out = F.linear(*g_args), TF.linear(*t_args)
    assert _op_of(g_out) == "linear"
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=1e-5, rtol=1e-5)
    seed = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (g_out * graphc.tensor(seed)).sum().backward()
    (t_out * torch.tensor(seed)).sum().backward()
    for g, t in zip(g_args, t_args, strict=True):
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), atol=1e-5, rtol=1e-5)


def test_linear_layer_and_only_the_weight_needing_grad():
    layer = graphc.nn.Linear(4, 2)
    x = graphc.randn(3, 4)  # the input needs no gradient: the rule builds none for it
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad.numpy(), [3.0, 3.0])
    mixed = F.linear(graphc.ones(2, 4), graphc.ones(2, 4), graphc.ones(2, dtype=graphc.float64))
    assert mixed.dtype is graphc.float64  # promoted as before, through core ops
