"""Autograd behaviour against PyTorch: in-place ops on non-leaves, gradient routing, error parity."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402


def both(values, grad=True, dtype=np.float32):
    a = np.asarray(values, dtype=dtype)
    g = graphc.Tensor(np.array(a, copy=True), dtype=graphc.float64 if dtype == np.float64 else graphc.float32,
                      requires_grad=grad)
    return g, torch.tensor(np.array(a, copy=True), requires_grad=grad)


def run(fn, *values):
    """fn(lib, *leaves) -> loss, in both libraries; compare the loss and every leaf's gradient."""
    pairs = [both(v) for v in values]
    gl = fn(graphc, *[p[0] for p in pairs])
    tl = fn(torch, *[p[1] for p in pairs])
    np.testing.assert_allclose(gl.detach().numpy(), tl.detach().numpy(), rtol=1e-5, atol=1e-6)
    gl.backward()
    tl.backward()
    for g, t in pairs:
        assert (g.grad is None) == (t.grad is None)
        if t.grad is not None:
            np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


X, Y = [0.5, -1.5, 2.0, -0.25], [1.5, 0.5, -2.0, 3.0]
_INPLACE = {
    "add_alpha_mul": lambda m, x, y: (x * 2).add_(y, alpha=3).mul_(x).sum(),
    "sub_div": lambda m, x, y: (x + 0).sub_(y).div_(y.abs() + 1).sum(),
    "pow_exp": lambda m, x, y: (x * 1).pow_(2).exp_().sum() + y.sum(),
    "unary": lambda m, x, y: (x * y).sigmoid_().sum() + (x * 1).tanh_().sum() + (y * 1).neg_().exp_().sum(),
    "relu_sqrt": lambda m, x, y: (x * y).relu_().sum() + (y.abs() + 1).sqrt_().sum(),
    "clamp_": lambda m, x, y: (x * 3).clamp_(-1.0, 2.0).mul(y).sum(),
    "clamp_tensor": lambda m, x, y: (x * 1).clamp_(min=y - 1).sum(),
    "masked_fill_": lambda m, x, y: (x * y).masked_fill_(x > 0, 0.5).pow(2).sum(),
    "lerp_": lambda m, x, y: (x * 1).lerp_(y, 0.25).pow(2).sum(),
    "addcmul_addcdiv": lambda m, x, y: (x * 1).addcmul_(x, y, value=0.5).addcdiv_(y, x.abs() + 1, value=2).sum(),
    "copy_": lambda m, x, y: (y * 0 + 1).copy_(x * 2).mul(y).sum(),
    "copy_broadcast": lambda m, x, y: (y.reshape(1, 4).expand(3, 4) * 1).copy_(x).mul(y).sum(),
    "fill_tensor": lambda m, x, y: (x * 1).fill_(y.sum()).mul(x).sum(),
    "zero_": lambda m, x, y: (x * 1).zero_().add(y).pow(2).sum(),
    "plain_mul_": lambda m, x, y: x.detach().clone().mul_(y).sum(),
    "floor_": lambda m, x, y: (x * 3).floor_().add(y).sum(),
    "round_twice_used": lambda m, x, y: (lambda h: h.round_() * h)(x * y * 2).sum(),
}


@pytest.mark.parametrize("name", sorted(_INPLACE))
def test_inplace_gradients_match_torch(name):
    run(_INPLACE[name], X, Y)


def test_accumulation_gradient_argument_and_retained_graph_match_torch():
    (gx, tx), (gy, ty) = both(X), both(Y)
    seed = np.array([1.0, -2.0, 0.5, 0.0], np.float32)
    for x, y, wrap in ((gx, gy, graphc.Tensor), (tx, ty, torch.tensor)):
        out = (x * y).exp() * 0.1
        out.backward(wrap(seed), retain_graph=True)
        out.sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(gy.grad.numpy(), ty.grad.numpy(), rtol=1e-5)


def test_retain_grad_matches_torch():
    (gx, tx) = both(X)
    hs = []
    for x in (gx, tx):
        h = (x * 3).tanh()
        h.retain_grad()
        (h * h).sum().backward()
        hs.append(h)
    np.testing.assert_allclose(hs[0].grad.numpy(), hs[1].grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-5)


_ERRORS = {
    "saved_output_modified": lambda m, x: (lambda y: (y.sum(), y.add_(1))[0])(x.exp()).backward(),
    "saved_input_modified": lambda m, x: (lambda b: ((b * b).sum(), b.mul_(2))[0])(x * 1).backward(),
    "saved_output_chain": lambda m, x: (x * 1).sigmoid_().tanh_().sum().backward(),
    "leaf_inplace": lambda m, x: x.add_(1),
    "leaf_zero_": lambda m, x: x.zero_(),
    "freed_graph": lambda m, x: (lambda y: (y.backward(), y.backward()))((x.exp() * x).sum()),
    "non_scalar": lambda m, x: (x * 2).backward(),
    "no_grad_output": lambda m, x: x.detach().sum().backward(),
    "int_inplace_float": lambda m, x: x.detach().long().add_(0.5),
    "requires_grad_int": lambda m, x: x.detach().long().requires_grad_(),
    "non_leaf_requires_grad_false": lambda m, x: (x * 2).requires_grad_(False),
    "mean_of_long": lambda m, x: x.detach().long().mean(),
    "matmul_dtype": lambda m, x: m.dot(x, x.double()),
}


@pytest.mark.parametrize("name", sorted(_ERRORS))
def test_errors_match_torch_exception_types(name):
    g, t = both(X)
    with pytest.raises(Exception) as torch_error:
        _ERRORS[name](torch, t)
    with pytest.raises(graphc.GraphcError) as graphc_error:
        _ERRORS[name](graphc, g)
    assert isinstance(graphc_error.value, type(torch_error.value)), (graphc_error.value, torch_error.value)
    assert graphc_error.value.fix


def test_inplace_error_message_names_the_versions_like_torch():
    g, t = both(X)
    msgs = []
    for x in (g, t):
        y = x.exp()
        z = y.sum()
        y.mul_(2)
        with pytest.raises(RuntimeError) as err:
            z.backward()
        msgs.append(str(err.value))
    for needle in ("modified by an inplace operation", "is at version 1; expected version 0 instead"):
        assert needle in msgs[0] and needle in msgs[1]
