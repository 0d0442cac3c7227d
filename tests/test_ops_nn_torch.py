"""Kernel ops against PyTorch: values and gradients of matmul, conv2d, conv_transpose2d (as
conv2d_backward_input), max_pool2d and avg_pool2d through graphc's eager path."""

import numpy as np
import pytest

from graphc._dispatch import apply
from graphc.tensor import Tensor

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(7)


def _compare(op, arrays, attrs, torch_fn, rtol=1e-4, atol=1e-5):
    """Run ``op`` in graphc and ``torch_fn`` in torch on the same float32 inputs; compare outputs and grads."""
    arrays = [a.astype(np.float32) for a in arrays]
    ours = [Tensor._wrap(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = apply(op, *ours, **attrs)
    ty = torch_fn(*theirs)
    np.testing.assert_allclose(y.detach()._data, ty.detach().numpy(), rtol=rtol, atol=atol)
    g = RNG.standard_normal(ty.shape).astype(np.float32)
    y.backward(Tensor._wrap(g))
    ty.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad._data, b.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad of input {i}")


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                                   ((1, 3, 4), (2, 4, 5))])
def test_matmul_with_batch_broadcasting(sa, sb):
    _compare("matmul", [RNG.standard_normal(sa), RNG.standard_normal(sb)], {}, torch.matmul)


CONV = [
    dict(),
    dict(stride=(2, 2), padding=(1, 1)),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(groups=2, padding=(1, 1)),
    dict(groups=4, stride=(2, 1)),
]


@pytest.mark.parametrize("kw", CONV)
def test_conv2d(kw):
    attrs = {"stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1, **kw}
    x = RNG.standard_normal((2, 4, 8, 7))
    w = RNG.standard_normal((8, 4 // attrs["groups"], 3, 2))
    _compare("conv2d", [x, w], attrs,
             lambda x, w: F.conv2d(x, w, stride=attrs["stride"], padding=attrs["padding"],
                                   dilation=attrs["dilation"], groups=attrs["groups"]))


@pytest.mark.parametrize("kw,output_padding", [
    (dict(stride=(2, 2)), (1, 1)),
    (dict(stride=(2, 1), padding=(1, 1)), (1, 0)),
    (dict(dilation=(2, 2), padding=(1, 0)), (1, 1)),   # output padding past the stride: rows no tap reaches
    (dict(groups=2, stride=(3, 2)), (2, 0)),
])
def test_conv_transpose2d_via_backward_input(kw, output_padding):
    attrs = {"stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1, **kw}
    x = RNG.standard_normal((2, 4, 4, 5))
    w = RNG.standard_normal((4, 3, 3, 2))
    g = attrs["groups"]
    hw = [(s_in - 1) * s - 2 * p + d * (k - 1) + op + 1 for s_in, s, p, d, k, op in
          zip(x.shape[2:], attrs["stride"], attrs["padding"], attrs["dilation"], w.shape[2:], output_padding)]
    _compare("conv2d_backward_input", [x, w], {"input_shape": (2, 3 * g, *hw), **attrs},
             lambda x, w: F.conv_transpose2d(x, w, stride=attrs["stride"], padding=attrs["padding"],
                                             output_padding=output_padding, groups=g, dilation=attrs["dilation"]))


MAX = [
    dict(kernel=(2, 2), stride=(2, 2)),
    dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1)),
    dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel=(2, 2), stride=(3, 3), ceil_mode=True),
    dict(kernel=(3, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
]


@pytest.mark.parametrize("attrs", MAX)
def test_max_pool2d(attrs):
    a = {"padding": (0, 0), "dilation": (1, 1), "ceil_mode": False, **attrs}
    x = RNG.standard_normal((2, 3, 7, 8))
    _compare("max_pool2d", [x], a,
             lambda x: F.max_pool2d(x, a["kernel"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"]))


def test_max_pool2d_ties_route_like_pytorch():
    x = RNG.integers(0, 3, (2, 2, 6, 6)).astype(np.float64)  # many ties, overlapping windows
    _compare("max_pool2d", [x], dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1)),
             lambda x: F.max_pool2d(x, 3, 1, 1))


AVG = [
    dict(kernel=(2, 2), stride=(2, 2)),
    dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1)),
    dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1), count_include_pad=False),
    dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel=(3, 3), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False),
]


@pytest.mark.parametrize("attrs", AVG)
def test_avg_pool2d(attrs):
    a = {"padding": (0, 0), "ceil_mode": False, "count_include_pad": True, **attrs}
    x = RNG.standard_normal((2, 3, 7, 8))
    _compare("avg_pool2d", [x], a,
             lambda x: F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"]))


def test_lenet_block_end_to_end():
    """conv -> relu -> max pool -> conv -> avg pool -> matmul, one backward, as a small network does."""
    x = RNG.standard_normal((4, 1, 12, 12)).astype(np.float32)
    w1 = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32)
    w2 = RNG.standard_normal((6, 4, 3, 3)).astype(np.float32)
    lin = RNG.standard_normal((24, 5)).astype(np.float32)

    def ours(x, w1, w2, lin):
        h = apply("max_pool2d", apply("relu", apply("conv2d", x, w1, padding=(1, 1))), kernel=(2, 2), stride=(2, 2))
        h = apply("avg_pool2d", apply("conv2d", h, w2), kernel=(2, 2), stride=(2, 2))
        return apply("matmul", apply("reshape", h, shape=(4, 24)), lin)

    def theirs(x, w1, w2, lin):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, padding=1)), 2)
        return F.avg_pool2d(F.conv2d(h, w2), 2).reshape(4, 24) @ lin

    ts = [Tensor._wrap(a.copy(), requires_grad=True) for a in (x, w1, w2, lin)]
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w1, w2, lin)]
    y, ty = ours(*ts), theirs(*tt)
    np.testing.assert_allclose(y.detach()._data, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    y.backward(Tensor._wrap(np.ones((4, 5), np.float32)))
    ty.sum().backward()
    for a, b in zip(ts, tt):
        np.testing.assert_allclose(a.grad._data, b.grad.numpy(), rtol=1e-4, atol=1e-4)
