"""Kernel ops (matmul, conv, pooling) and rand_uniform without torch: numpy references, float64
finite differences through eager backward, the shape rules' errors, and Philox known answers."""

import numpy as np
import pytest

from graphc._dispatch import apply
from graphc.ir import Graph, TensorType, bool_, float32, float64, get_op, int64
from graphc.ir.errors import AutogradError, DTypeError, GraphcValueError, ShapeError
from graphc.ir.ops.random import philox4x32_10
from graphc.passes.autodiff import append_backward
from graphc.passes.vjp import VJP_RULES
from graphc.tensor import Tensor

RNG = np.random.default_rng(1234)


def _naive_conv(x, w, stride, padding, dilation, groups):
    """Loop-per-output-pixel cross-correlation: obviously right, only for tiny shapes."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for y in range(ho):
            for xx in range(wo):
                ys, xs = y * stride[0], xx * stride[1]
                patch = xp[:, g * cg:(g + 1) * cg, ys:ys + dilation[0] * (kh - 1) + 1:dilation[0],
                           xs:xs + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, oc, y, xx] = (patch * w[oc]).sum(axis=(1, 2, 3))
    return out


def _fd_check(op, arrays, attrs, wrt=None, eps=1e-6, tol=1e-6):
    """Gradients of sum(op(...) * r) from eager backward against central differences (float64)."""
    wrt = range(len(arrays)) if wrt is None else wrt
    leaves = [Tensor._wrap(a.copy(), requires_grad=i in wrt) for i, a in enumerate(arrays)]
    y = apply(op, *leaves, **attrs)
    r = RNG.standard_normal(y.shape)
    y.backward(Tensor._wrap(r))
    ref = get_op(op).ref
    full = get_op(op).check_attrs(attrs)
    for i in wrt:
        num = np.zeros_like(arrays[i])
        for idx in np.ndindex(arrays[i].shape):
            hi = [a.copy() for a in arrays]
            lo = [a.copy() for a in arrays]
            hi[i][idx] += eps
            lo[i][idx] -= eps
            num[idx] = ((ref(*hi, **full) * r).sum() - (ref(*lo, **full) * r).sum()) / (2 * eps)
        np.testing.assert_allclose(leaves[i].grad._data, num, rtol=tol, atol=tol, err_msg=f"{op} input {i}")


def _conv_attrs(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


# ---------------------------------------------------------------------- matmul
@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2)), ((4, 2, 3), (3, 5))])
def test_matmul_matches_einsum_and_gradients(sa, sb):
    a, b = RNG.standard_normal(sa), RNG.standard_normal(sb)
    out = apply("matmul", Tensor._wrap(a), Tensor._wrap(b))._data
    np.testing.assert_allclose(out, np.einsum("...ik,...kj->...ij", a, b), rtol=1e-12)
    _fd_check("matmul", [a, b], {})


def test_matmul_shape_rule_errors():
    f = TensorType
    rule = get_op("matmul").infer
    with pytest.raises(ShapeError, match=r"cannot be multiplied \(2x3 and 4x5\)"):
        rule([f(float32, (2, 3)), f(float32, (4, 5))], {})
    with pytest.raises(ShapeError, match="at least 2 dims"):
        rule([f(float32, (3,)), f(float32, (3, 5))], {})
    with pytest.raises(ShapeError, match="broadcast"):
        rule([f(float32, (2, 2, 3)), f(float32, (3, 3, 5))], {})
    with pytest.raises(DTypeError):
        rule([f(float32, (2, 3)), f(float64, (3, 5))], {})
    assert rule([f(int64, (2, 3)), f(int64, (3, 5))], {}) == f(int64, (2, 5))  # as PyTorch on the CPU
    with pytest.raises(DTypeError, match="bool"):
        rule([f(bool_, (2, 3)), f(bool_, (3, 5))], {})


# ---------------------------------------------------------------------- convolution
CONV_CASES = [
    dict(),
    dict(stride=(2, 1), padding=(1, 2)),
    dict(dilation=(2, 1), padding=(2, 0)),
    dict(groups=2, stride=(1, 2)),
]


@pytest.mark.parametrize("kw", CONV_CASES)
def test_conv2d_matches_naive_loops(kw):
    attrs = _conv_attrs(**kw)
    x = RNG.standard_normal((2, 4, 7, 6))
    w = RNG.standard_normal((6, 4 // attrs["groups"], 3, 2))
    out = apply("conv2d", Tensor._wrap(x), Tensor._wrap(w), **attrs)._data
    np.testing.assert_allclose(out, _naive_conv(x, w, **attrs), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", CONV_CASES)
def test_conv2d_gradients_finite_differences(kw):
    attrs = _conv_attrs(**kw)
    x = RNG.standard_normal((1, 4, 5, 5))
    w = RNG.standard_normal((2 * attrs["groups"], 4 // attrs["groups"], 2, 3))
    _fd_check("conv2d", [x, w], attrs)


def test_conv2d_backward_input_is_the_adjoint_of_conv2d():
    # <conv(x, w), g> == <x, conv_backward_input(g, w)>, including rows the conv never reaches
    attrs = _conv_attrs(stride=(2, 2), padding=(1, 0), dilation=(1, 2), groups=2)
    x = RNG.standard_normal((2, 4, 8, 9))
    w = RNG.standard_normal((4, 2, 3, 2))
    y = get_op("conv2d").ref(x, w, **attrs)
    g = RNG.standard_normal(y.shape)
    gx = get_op("conv2d_backward_input").ref(g, w, input_shape=x.shape, **attrs)
    np.testing.assert_allclose((y * g).sum(), (x * gx).sum(), rtol=1e-10)
    gw = get_op("conv2d_backward_weight").ref(x, g, weight_shape=w.shape, **attrs)
    np.testing.assert_allclose((y * g).sum(), (w * gw).sum(), rtol=1e-10)


@pytest.mark.parametrize("kw,extra", [(dict(stride=(2, 2)), (1, 1)), (dict(padding=(1, 1), groups=2), (0, 0)),
                                      (dict(dilation=(2, 1), stride=(1, 1)), (1, 0))])
def test_conv2d_backward_input_gradients(kw, extra):
    """ConvTranspose2d's forward (with output padding rows beyond the conv's reach) is differentiable."""
    attrs = _conv_attrs(**kw)
    w = RNG.standard_normal((4, 3 if attrs["groups"] == 1 else 2, 2, 2))
    g = RNG.standard_normal((1, 4, 3, 3))
    c = w.shape[1] * attrs["groups"]
    hw = [(3 - 1) * s - 2 * p + d * (k - 1) + 1 + e for s, p, d, k, e in
          zip(attrs["stride"], attrs["padding"], attrs["dilation"], w.shape[2:], extra)]
    _fd_check("conv2d_backward_input", [g, w], {"input_shape": (1, c, *hw), **attrs})


def test_conv2d_backward_weight_gradients():
    attrs = _conv_attrs(stride=(2, 1), padding=(1, 1))
    x = RNG.standard_normal((2, 2, 5, 4))
    g = RNG.standard_normal((2, 3, 3, 4))
    _fd_check("conv2d_backward_weight", [x, g], {"weight_shape": (3, 2, 2, 3), **attrs})


def test_conv_shape_rule_errors():
    rule = get_op("conv2d").infer
    f = TensorType
    with pytest.raises(ShapeError, match=r"expected input\[1, 4, 8, 8\] to have 3 channels, but got 4"):
        rule([f(float32, (1, 4, 8, 8)), f(float32, (6, 3, 3, 3))], _conv_attrs())
    with pytest.raises(ShapeError, match="divisible by 2 at dimension 0"):
        rule([f(float32, (1, 4, 8, 8)), f(float32, (3, 2, 3, 3))], _conv_attrs(groups=2))
    with pytest.raises(ShapeError, match="Kernel size can't be greater than actual input size"):
        rule([f(float32, (1, 4, 2, 2)), f(float32, (6, 4, 3, 3))], _conv_attrs())
    with pytest.raises(GraphcValueError, match="non-positive stride"):
        rule([f(float32, (1, 4, 8, 8)), f(float32, (6, 4, 3, 3))], _conv_attrs(stride=(0, 1)))
    with pytest.raises(GraphcValueError, match="negative padding"):
        rule([f(float32, (1, 4, 8, 8)), f(float32, (6, 4, 3, 3))], _conv_attrs(padding=(-1, 0)))
    with pytest.raises(ShapeError, match="4-D"):
        rule([f(float32, (4, 8, 8)), f(float32, (6, 4, 3, 3))], _conv_attrs())
    with pytest.raises(DTypeError):
        rule([f(float32, (1, 4, 8, 8)), f(float64, (6, 4, 3, 3))], _conv_attrs())
    with pytest.raises(ShapeError, match="does not fit"):
        get_op("conv2d_backward_input").infer([f(float32, (1, 6, 7, 6)), f(float32, (6, 4, 3, 3))],
                                              {"input_shape": (1, 4, 8, 8), **_conv_attrs()})


# ---------------------------------------------------------------------- pooling
def _distinct(shape):
    """Values with no ties, so max pooling is differentiable for finite differences."""
    return RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + RNG.uniform(0, 0.01, shape)


MAX_CASES = [
    dict(kernel=(2, 2), stride=(2, 2)),
    dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel=(2, 3), stride=(1, 2), dilation=(2, 1)),
]


@pytest.mark.parametrize("attrs", MAX_CASES)
def test_max_pool2d_values_and_gradients(attrs):
    x = _distinct((1, 2, 6, 7))
    out = apply("max_pool2d", Tensor._wrap(x), **attrs)._data
    full = get_op("max_pool2d").check_attrs(attrs)
    kh, kw = full["kernel"]
    (sh, sw), (ph, pw), (dh, dw) = full["stride"], full["padding"], full["dilation"]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + 4), (pw, pw + 4)), constant_values=-np.inf)
    for y in range(out.shape[2]):
        for z in range(out.shape[3]):
            win = xp[:, :, y * sh:y * sh + dh * (kh - 1) + 1:dh, z * sw:z * sw + dw * (kw - 1) + 1:dw]
            np.testing.assert_array_equal(out[:, :, y, z], win.max(axis=(2, 3)))
    _fd_check("max_pool2d", [x], attrs)


def test_max_pool2d_ceil_mode_output_size_rule():
    # 5 wide, kernel 2, stride 2: floor gives 2, ceil gives 3; with padding 1 the extra window
    # would start in the right padding, so ceil gives 3, not 4 (PyTorch's rule)
    f = TensorType(float32, (1, 1, 5, 5))
    rule = get_op("max_pool2d").infer
    assert rule([f], dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False)).shape[2] == 2
    assert rule([f], dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=True)).shape[2] == 3
    assert rule([f], dict(kernel=(2, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=True)).shape[2] == 3
    assert rule([f], dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=True)).shape[2] == 3


def test_max_pool2d_backward_routes_ties_to_the_first_maximum():
    x = np.ones((1, 1, 2, 4))
    g = apply("max_pool2d_backward", Tensor._wrap(np.array([[[[1.0, 2.0]]]])), Tensor._wrap(x),
              kernel=(2, 2), stride=(2, 2))._data
    np.testing.assert_array_equal(g, [[[[1, 0, 2, 0], [0, 0, 0, 0]]]])
    # overlapping windows sum their gradients on a shared maximum
    x = np.array([[[[0.0, 5.0, 0.0]]]])
    g = apply("max_pool2d_backward", Tensor._wrap(np.array([[[[1.0, 3.0]]]])), Tensor._wrap(x),
              kernel=(1, 2), stride=(1, 1))._data
    np.testing.assert_array_equal(g, [[[[0, 4, 0]]]])


def test_max_pool2d_backward_never_routes_to_padding():
    # a window of all -inf values: the gradient goes to its first in-range tap, as in PyTorch
    x = np.full((1, 1, 3, 3), -np.inf)
    g = apply("max_pool2d_backward", Tensor._wrap(np.ones((1, 1, 3, 3))), Tensor._wrap(x),
              kernel=(3, 3), stride=(1, 1), padding=(1, 1))._data
    np.testing.assert_array_equal(g, [[[[4, 2, 0], [2, 1, 0], [0, 0, 0]]]])  # PyTorch's answer


def test_max_pool2d_propagates_nan():
    x = np.array([[[[1.0, np.nan], [3.0, 2.0]]]])
    out = apply("max_pool2d", Tensor._wrap(x), kernel=(2, 2), stride=(2, 2))._data
    assert np.isnan(out).all()


AVG_CASES = [
    dict(kernel=(2, 2), stride=(2, 2)),
    dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1), count_include_pad=False),
    dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel=(3, 3), stride=(2, 2), padding=(1, 0), ceil_mode=True, count_include_pad=False),
]


def _naive_avg(x, kernel, stride, padding, ceil_mode, count_include_pad, out_hw):
    n, c, h, w = x.shape
    out = np.zeros((n, c, *out_hw))
    for y in range(out_hw[0]):
        for z in range(out_hw[1]):
            y0, z0 = y * stride[0] - padding[0], z * stride[1] - padding[1]
            y1, z1 = min(y0 + kernel[0], h + padding[0]), min(z0 + kernel[1], w + padding[1])
            pool = (y1 - y0) * (z1 - z0)
            y0, z0, y1, z1 = max(y0, 0), max(z0, 0), min(y1, h), min(z1, w)
            div = pool if count_include_pad else (y1 - y0) * (z1 - z0)
            out[:, :, y, z] = x[:, :, y0:y1, z0:z1].sum(axis=(2, 3)) / div
    return out


@pytest.mark.parametrize("attrs", AVG_CASES)
def test_avg_pool2d_divisor_rules_and_gradients(attrs):
    x = RNG.standard_normal((1, 2, 5, 6))
    out = apply("avg_pool2d", Tensor._wrap(x), **attrs)._data
    full = get_op("avg_pool2d").check_attrs(attrs)
    np.testing.assert_allclose(out, _naive_avg(x, out_hw=out.shape[2:], **full), rtol=1e-12)
    _fd_check("avg_pool2d", [x], attrs)
    g = RNG.standard_normal(out.shape)
    _fd_check("avg_pool2d_backward", [g], {"input_shape": x.shape, **attrs})


def test_pool_shape_rule_errors():
    f = TensorType(float32, (1, 1, 4, 4))
    rule = get_op("max_pool2d").infer
    base = dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False)
    with pytest.raises(GraphcValueError, match="pad should be at most half"):
        rule([f], {**base, "padding": (2, 0)})
    with pytest.raises(ShapeError, match="Output size is too small"):
        rule([TensorType(float32, (1, 1, 1, 1))], {**base, "kernel": (3, 3)})
    with pytest.raises(GraphcValueError, match="stride should not be zero"):
        rule([f], {**base, "stride": (0, 2)})
    with pytest.raises(DTypeError):
        rule([TensorType(int64, (1, 1, 4, 4))], base)
    with pytest.raises(ShapeError, match="does not match the pooled output"):
        get_op("max_pool2d_backward").infer([TensorType(float32, (1, 1, 3, 3)), f], base)
    with pytest.raises(ShapeError, match="does not match the pooled output"):
        get_op("avg_pool2d_backward").infer([TensorType(float32, (1, 1, 3, 3))],
                                            dict(input_shape=(1, 1, 4, 4), kernel=(2, 2), stride=(2, 2),
                                                 padding=(0, 0), ceil_mode=False, count_include_pad=True))


def test_double_backward_through_max_pool_is_refused():
    g = Graph("double")
    x = g.placeholder("x", TensorType(float64, (1, 1, 4, 4)))
    gy = g.placeholder("gy", TensorType(float64, (1, 1, 2, 2)))
    attrs = dict(kernel=(2, 2), stride=(2, 2))
    gx = g.add("max_pool2d_backward", gy, x, **attrs)
    seed = g.placeholder("seed", TensorType(float64, (1, 1, 4, 4)))
    with pytest.raises(AutogradError, match="double backward through max pooling"):
        append_backward(g, [gx], [seed], [gy])
    # with respect to the pooled input the routing is piecewise constant: no gradient
    assert append_backward(g, [gx], [seed], [x]) == [None]


# ---------------------------------------------------------------------- rand_uniform / Philox
@pytest.mark.parametrize("counter,key,expect", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_philox4x32_10_known_answers(counter, key, expect):
    assert tuple(int(w) for w in philox4x32_10(counter, key)) == expect


def _rand(seed, offset, shape, dtype="f32"):
    s, o = Tensor._wrap(np.asarray(seed, np.int64)), Tensor._wrap(np.asarray(offset, np.int64))
    return apply("rand_uniform", s, o, shape=shape, dtype=dtype)._data


def test_rand_uniform_counter_layout_and_determinism():
    seed = 0x1234_5678_9ABC_DEF0
    a = _rand(seed, 7, (3, 5))
    assert a.dtype == np.float32 and a.shape == (3, 5)
    np.testing.assert_array_equal(a, _rand(seed, 7, (3, 5)))
    # element i is word i % 4 of block offset + i // 4
    words = philox4x32_10((np.uint64(8), 0, 0, 0), (seed & 0xFFFFFFFF, seed >> 32))
    np.testing.assert_array_equal(a.reshape(-1)[4:8], [(int(w) >> 8) * 2.0**-24 for w in words])
    np.testing.assert_array_equal(_rand(seed, 8, (11,)), a.reshape(-1)[4:15])
    assert not np.array_equal(a, _rand(seed + 1, 7, (3, 5)))
    d = _rand(seed, 7, (5,), "f64")
    assert d.dtype == np.float64
    wa, wb = int(words[0]), int(words[1])  # element 2 of f64 uses block offset + 1 = 8
    assert d[2] == ((wa >> 5) * 2**26 + (wb >> 6)) * 2.0**-53


def test_rand_uniform_is_uniform_in_unit_interval():
    u = _rand(42, 0, (20000,))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005


def test_rand_uniform_shape_rule_errors():
    rule = get_op("rand_uniform").infer
    i = TensorType(int64, ())
    with pytest.raises(DTypeError, match="seed must be an int64 scalar"):
        rule([TensorType(int64, (1,)), i], {"shape": (2,), "dtype": "f32"})
    with pytest.raises(DTypeError, match="offset must be an int64 scalar"):
        rule([i, TensorType(float32, ())], {"shape": (2,), "dtype": "f32"})
    with pytest.raises(DTypeError, match="floating-point"):
        rule([i, i], {"shape": (2,), "dtype": "i64"})


def test_rand_uniform_passes_gradient_to_nothing_but_its_float_user():
    assert VJP_RULES["rand_uniform"](None, None, None, (False, False)) == (None, None)
    x = Tensor._wrap(np.ones((2, 3), np.float32), requires_grad=True)
    u = apply("rand_uniform", Tensor._wrap(np.asarray(3, np.int64)), Tensor._wrap(np.asarray(0, np.int64)),
              shape=(2, 3))
    apply("mul", x, u).backward(Tensor._wrap(np.ones((2, 3), np.float32)))
    np.testing.assert_array_equal(x.grad._data, u._data)
