"""Autograd semantics as PyTorch documents them (torch-free): propagation, leaves, accumulation, modes, in-place."""

import numpy as np
import pytest

import graphc


def leaf(values, requires_grad=True, dtype=graphc.float32):
    return graphc.Tensor(np.array(values, dtype=dtype.np), dtype=dtype, requires_grad=requires_grad)


def test_requires_grad_propagates_from_any_input():
    a, b = leaf([1.0, 2.0], False), leaf([3.0, 4.0], False)
    assert not (a + b).requires_grad and (a + b).grad_fn is None
    c = leaf([1.0, 1.0])
    out = a * c
    assert out.requires_grad and out.grad_fn is not None and not out.is_leaf
    assert (a.exp().sum() + c.sum()).requires_grad
    assert not (c > 0).requires_grad  # comparisons are never differentiable
    assert not c.argmax().requires_grad


def test_leaves_have_no_grad_fn_and_grad_is_none_until_backward():
    x = leaf([1.0, 2.0])
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    y = (x * x).sum()
    assert not y.is_leaf and y.grad_fn.name() == "SumBackward0"
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.grad.is_leaf and not x.grad.requires_grad


def test_grad_accumulates_across_backward_calls_until_zeroed():
    x = leaf([1.0, -2.0])
    for _ in range(3):
        (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [9.0, 9.0])
    x.grad.zero_()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0])
    x.grad = None
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_backward_with_explicit_gradient_and_non_scalar_error():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    with pytest.raises(graphc.AutogradError, match="implicitly created only for scalar outputs") as err:
        y.backward()
    assert isinstance(err.value, RuntimeError) and err.value.fix
    y.backward(gradient=leaf([1.0, 0.5, 0.0], False))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 0.0])
    with pytest.raises(RuntimeError):
        (x * 2).backward(leaf([1.0], False))


def test_backward_through_freed_graph_raises_unless_retained():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    first = np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)
    with pytest.raises(graphc.AutogradError, match="backward through the graph a second time") as err:
        y.backward()
    assert isinstance(err.value, RuntimeError) and "retain_graph=True" in err.value.fix


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        leaf([1.0], False).sum().backward()


def test_no_grad_as_context_decorator_and_nesting():
    x = leaf([1.0])
    with graphc.no_grad():
        assert not graphc.is_grad_enabled()
        y = x * 2
        with graphc.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad and graphc.is_grad_enabled()

    @graphc.no_grad()
    def f(t):
        return t * 2

    @graphc.enable_grad()
    def g(t):
        return t * 2

    assert not f(x).requires_grad
    with graphc.no_grad():
        assert g(x).requires_grad
    assert graphc.is_grad_enabled()


def test_set_grad_enabled_as_call_context_and_decorator():
    x = leaf([1.0])
    try:
        graphc.set_grad_enabled(False)
        assert not (x * 2).requires_grad
    finally:
        graphc.set_grad_enabled(True)
    with graphc.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @graphc.set_grad_enabled(False)
    def f(t):
        return t + 1

    assert not f(x).requires_grad and graphc.is_grad_enabled()


def test_detach_shares_memory_and_stops_gradients():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and np.shares_memory(d.numpy(), x.detach().numpy())
    d.add_(1.0)
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 3.0])
    (x * x.detach()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 3.0])


def test_requires_grad_flags():
    x = leaf([1.0], False)
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad_(False)
    with pytest.raises(graphc.AutogradError, match="floating point"):
        leaf([1, 2], False, graphc.int64).requires_grad_()


def test_retain_grad_on_a_non_leaf():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    assert h.retains_grad
    out = (h * h).sum()
    out.backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 36.0])
    h2 = x * 2
    (h2 * 1).sum().backward()
    assert h2.grad is None  # non-leaf grads are not kept unless retained


def test_frozen_subgraph_gets_no_gradient():
    w_frozen, w = leaf([1.0, 2.0], False), leaf([0.5, 0.5])
    features = (w_frozen * 3).exp()
    (features * w).sum().backward()
    assert w_frozen.grad is None
    np.testing.assert_allclose(w.grad.numpy(), np.exp([3.0, 6.0]), rtol=1e-6)
    x = leaf([1.0, 2.0])
    y = x.detach() * 2 + x.sum().detach()
    assert not y.requires_grad


# ------------------------------------------------------------------ in-place semantics
def test_inplace_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(), lambda t: t.fill_(3.0),
               lambda t: t.clamp_(0, 1), lambda t: t.copy_(leaf([5.0, 5.0], False)), lambda t: t.exp_(),
               lambda t: t.masked_fill_(t > 1, 0.0)):
        x = leaf([1.0, 2.0])
        with pytest.raises(graphc.AutogradError, match="leaf Variable that requires grad") as err:
            op(x)
        assert isinstance(err.value, RuntimeError)
        np.testing.assert_allclose(x.detach().numpy(), [1.0, 2.0])  # nothing was written
        with graphc.no_grad():
            op(x)
        assert x.is_leaf and x.requires_grad


def test_modifying_a_tensor_saved_for_backward_raises():
    x = leaf([1.0, 2.0])
    y = x.exp()  # exp saves its output
    z = y.sum()
    y.add_(1)
    with pytest.raises(graphc.AutogradError, match="modified by an inplace operation") as err:
        z.backward()
    assert isinstance(err.value, RuntimeError)
    a = leaf([1.0, 2.0])
    b = a * 1
    c = (b * b).sum()  # mul saves both operands
    b.mul_(2)
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        c.backward()


def test_inplace_on_a_non_leaf_is_differentiated():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.add_(x, alpha=3).mul_(x)  # y = (2x + 3x) * x = 5x^2
    assert not y.is_leaf and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [10.0, 20.0])


def test_plain_tensor_times_grad_tensor_in_place():
    a, b = leaf([1.0, 2.0], False), leaf([3.0, 4.0])
    a.mul_(b)
    assert a.requires_grad and not a.is_leaf
    a.sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 2.0])


def test_copy_and_fill_route_gradients_to_the_source():
    src, dst_base = leaf([1.0, 2.0, 3.0]), leaf([9.0, 9.0, 9.0])
    dst = dst_base * 1
    dst.copy_(src * 2)
    (dst * dst).sum().backward()
    np.testing.assert_allclose(src.grad.numpy(), [8.0, 16.0, 24.0])
    np.testing.assert_allclose(dst_base.grad.numpy(), [0.0, 0.0, 0.0])
    v = leaf(2.0)
    t = leaf([1.0, 1.0], False).clone()
    t.fill_(v)
    (t * 3).sum().backward()
    assert v.grad.item() == 6.0


def test_inplace_dtype_rules():
    i = leaf([1, 2], False, graphc.int64)
    with pytest.raises(graphc.DTypeError, match="can't be cast to the desired output type Long") as err:
        i.add_(0.5)
    assert isinstance(err.value, RuntimeError)
    with pytest.raises(RuntimeError):
        i.div_(2)
    i.add_(3).mul_(2)
    assert i.tolist() == [8, 10] and i.dtype is graphc.int64
    f = leaf([1.0, 2.0], False)
    f.add_(leaf([1.0, 1.0], False, graphc.float64)).copy_(leaf([7, 8], False, graphc.int64))
    assert f.dtype is graphc.float32 and f.tolist() == [7.0, 8.0]
    with pytest.raises(RuntimeError):
        f.add_(leaf([[1.0], [2.0]], False))  # the result would need a bigger shape


def test_inplace_methods_values():
    x = leaf([-2.0, 0.5, 3.0, float("nan")], False)
    x.clamp_(-1.0, 1.0)
    np.testing.assert_array_equal(x.numpy(), [-1.0, 0.5, 1.0, np.nan])
    x.zero_()
    assert x.tolist() == [0.0] * 4
    x.fill_(2.0).sub_(1.0, alpha=3).div_(2).pow_(2).neg_().abs_().sqrt_()
    np.testing.assert_allclose(x.numpy(), [0.5] * 4)  # sqrt(|-((2 - 3) / 2) ** 2|)
    x.addcmul_(leaf([1.0, 2.0, 3.0, 4.0], False), leaf([2.0] * 4, False), value=0.5).addcdiv_(
        leaf([1.0] * 4, False), leaf([2.0] * 4, False), value=2)
    np.testing.assert_allclose(x.numpy(), [2.5, 3.5, 4.5, 5.5])
    x.lerp_(leaf([4.0] * 4, False), 0.5).masked_fill_(x > 4.5, -1.0)
    np.testing.assert_allclose(x.numpy(), [3.25, 3.75, 4.25, -1.0])
    x.relu_().exp_().log_().sigmoid_().tanh_()
    np.testing.assert_allclose(x.numpy(), np.tanh(1 / (1 + np.exp(-np.array([3.25, 3.75, 4.25, 0.0])))), rtol=1e-6)
    y = leaf([1.5, -1.5, 2.5, 7.0], False)
    y.round_()
    assert y.tolist() == [2.0, -2.0, 2.0, 7.0]
    y.div_(2, rounding_mode="floor")
    assert y.tolist() == [1.0, -1.0, 1.0, 3.0]


def test_version_counter_is_shared_with_views_and_detach():
    x = leaf([1.0, 2.0, 3.0, 4.0], False)
    v, d = x.view(2, 2), x.detach()
    before = x._version.value
    v.mul_(2)
    assert x._version.value == d._version.value > before
    np.testing.assert_allclose(x.numpy(), [2.0, 4.0, 6.0, 8.0])


def test_errors_are_graphc_errors_and_builtins():
    x = leaf([[1.0, 2.0]])
    cases = [(lambda: x.view(3), RuntimeError), (lambda: x.sum(4), IndexError), (lambda: x.permute(0), RuntimeError),
             (lambda: x.max(dim=7), IndexError), (lambda: x.div(1, rounding_mode="round"), ValueError),
             (lambda: x.view("a"), TypeError), (lambda: graphc.cat(x), TypeError), (lambda: x.chunk(0), ValueError)]
    for fn, builtin in cases:
        with pytest.raises(graphc.GraphcError) as err:
            fn()
        assert isinstance(err.value, builtin), (err.value, builtin)
