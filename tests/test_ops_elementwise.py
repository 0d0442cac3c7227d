"""Elementwise and reduction ops: numpy references, float64 finite-difference gradients, errors.

Runs without PyTorch (the torch parity of the same ops is in test_tensor_methods_torch.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from graphc import _dispatch
from graphc.ir import Graph, TensorType, float32, float64, get_op, int64
from graphc.ir.errors import DTypeError, GraphcIndexError, ShapeError
from graphc.tensor import Tensor

RNG = np.random.default_rng(0)


def _leaf(a):
    return Tensor._wrap(np.array(a, dtype=np.float64), requires_grad=True)


def _numeric_grad(f, arrays, i, eps=1e-6):
    """d(sum(f * w))/d(arrays[i]) by central differences, w a fixed random weighting."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    w = np.random.default_rng(1).normal(size=np.shape(f(*base)))
    grad = np.zeros_like(base[i])
    for idx in np.ndindex(base[i].shape):
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[i][idx] += eps
        minus[i][idx] -= eps
        grad[idx] = (np.sum(f(*plus) * w) - np.sum(f(*minus) * w)) / (2 * eps)
    return grad, w


def _check_grad(op, arrays, attrs=None, rtol=1e-5, atol=1e-7):
    attrs = attrs or {}
    ref = get_op(op).ref
    leaves = [_leaf(a) for a in arrays]
    out = _dispatch.apply(op, *leaves, **attrs)
    np.testing.assert_allclose(out._data, ref(*[np.asarray(a, np.float64) for a in arrays], **attrs), rtol=1e-12)
    _, w = _numeric_grad(lambda *xs: ref(*xs, **attrs), arrays, 0)
    out.backward(Tensor._wrap(w))
    for i, leaf in enumerate(leaves):
        expected, _ = _numeric_grad(lambda *xs: ref(*xs, **attrs), arrays, i)
        np.testing.assert_allclose(leaf.grad._data, expected, rtol=rtol, atol=atol, err_msg=f"{op} input {i}")


UNARY_DOMAINS = {
    "neg": (-2, 2), "abs": (0.1, 2), "exp": (-2, 2), "log": (0.2, 3), "sqrt": (0.2, 3), "rsqrt": (0.2, 3),
    "reciprocal": (0.3, 3), "sin": (-3, 3), "cos": (-3, 3), "tanh": (-2, 2), "sigmoid": (-4, 4),
    "relu": (0.1, 2), "erf": (-2, 2),
}


@pytest.mark.parametrize("op", sorted(UNARY_DOMAINS))
def test_unary_gradients_match_finite_differences(op):
    lo, hi = UNARY_DOMAINS[op]
    x = RNG.uniform(lo, hi, (3, 4))
    if op in ("abs", "relu"):
        x *= RNG.choice([-1, 1], size=x.shape)  # both sides of the kink, never on it
    _check_grad(op, [x])


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 2))])
def test_binary_gradients_with_broadcasting(op, shapes):
    a = RNG.uniform(0.5, 2.0, shapes[0])
    b = RNG.uniform(0.5, 2.0, shapes[1])
    _check_grad(op, [a, b])


def test_where_gradient_flows_to_the_chosen_side():
    cond = Tensor._wrap(np.array([[True, False, True]]))
    a, b = _leaf(RNG.normal(size=(2, 3))), _leaf(RNG.normal(size=(3,)))
    out = _dispatch.apply("where", cond, a, b)
    out.backward(Tensor._wrap(np.ones((2, 3))))
    np.testing.assert_array_equal(a.grad._data, np.array([[1, 0, 1], [1, 0, 1]], float))
    np.testing.assert_array_equal(b.grad._data, np.array([0, 2, 0], float))


@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.parametrize("dims,keepdim", [((0,), False), ((1,), True), ((0, 2), False), ((-1,), True)])
def test_reduction_gradients(op, dims, keepdim):
    _check_grad(op, [RNG.normal(size=(2, 3, 4))], {"dims": dims, "keepdim": keepdim})


def test_max_gradient_is_shared_by_ties():
    x = _leaf([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
    _dispatch.apply("max", x, dims=(1,)).backward(Tensor._wrap(np.ones(2)))
    np.testing.assert_array_equal(x.grad._data, [[0, 0.5, 0.5], [1, 0, 0]])


def test_argmax_picks_the_first_maximum():
    x = Tensor._wrap(np.array([[1.0, 3.0, 3.0], [np.nan, 0.0, 9.0]]))
    np.testing.assert_array_equal(_dispatch.apply("argmax", x, dim=1)._data, [1, 0])


def test_comparisons_and_casts():
    a = Tensor._wrap(np.array([1.0, np.nan, 3.0]))
    b = Tensor._wrap(np.array([1.0, np.nan, 2.0]))
    assert _dispatch.apply("eq", a, b)._data.tolist() == [True, False, False]
    assert _dispatch.apply("ne", a, b)._data.tolist() == [False, True, True]
    c = _dispatch.apply("cast", Tensor._wrap(np.array([-1.7, 2.9])), dtype="i64")
    assert c._data.tolist() == [-1, 2] and c.dtype is int64


def _graph_error(op, *types, **attrs):
    g = Graph("bad")
    inputs = [g.placeholder(f"x{i}", t) for i, t in enumerate(types)]
    return g.add(op, *inputs, **attrs)


def test_shape_and_dtype_errors_are_clear():
    with pytest.raises(ShapeError, match=r"(?s)cannot be broadcast.*fix"):
        _graph_error("add", TensorType(float32, (2, 3)), TensorType(float32, (4,)))
    with pytest.raises(DTypeError, match="one dtype"):
        _graph_error("mul", TensorType(float32, (2,)), TensorType(float64, (2,)))
    with pytest.raises(DTypeError, match="floating-point"):
        _graph_error("exp", TensorType(int64, (2,)))
    with pytest.raises(GraphcIndexError, match="out of range"):
        _graph_error("sum", TensorType(float32, (2, 3)), dims=(2,))
    with pytest.raises(DTypeError, match="condition must be bool"):
        _graph_error("where", TensorType(float32, (2,)), TensorType(float32, (2,)), TensorType(float32, (2,)))
