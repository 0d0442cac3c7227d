"""Tensor methods and graphc.* functions without PyTorch: values against numpy, dtypes, errors."""

import numpy as np
import pytest

import graphc
from graphc import _tensor_methods


def t(values, dtype=graphc.float32, grad=False):
    return graphc.Tensor(np.array(values, dtype=dtype.np), dtype=dtype, requires_grad=grad)


A = np.array([[1.5, -2.0, 3.25], [0.5, 4.0, -1.0]], np.float32)


def test_every_method_and_function_is_bound():
    for name, fn in _tensor_methods.METHODS.items():
        assert getattr(graphc.Tensor, name) is fn
    for name in graphc.functions.__all__:
        assert callable(getattr(graphc, name)), name
    assert graphc.exp is graphc.Tensor.exp and graphc.sum is graphc.Tensor.sum


@pytest.mark.parametrize("name, ref", [("sum", np.sum), ("mean", np.mean), ("amax", np.max), ("amin", np.min),
                                       ("prod", np.prod), ("var", lambda a, axis: np.var(a, axis=axis, ddof=1)),
                                       ("std", lambda a, axis: np.std(a, axis=axis, ddof=1))])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_reductions_match_numpy(name, ref, dim):
    out = getattr(t(A), name)(dim)
    np.testing.assert_allclose(out.numpy(), ref(A, axis=dim), rtol=1e-6)
    assert getattr(t(A), name)(dim, keepdim=True).shape == np.expand_dims(ref(A, axis=dim), dim).shape


def test_reduction_dtypes_follow_pytorch():
    i = t([[1, 2], [3, 4]], graphc.int32)
    assert i.sum().dtype is graphc.int64 and i.sum().item() == 10
    assert t([True, True, False], graphc.bool).sum().item() == 2
    assert i.sum(dtype=graphc.float64).dtype is graphc.float64
    with pytest.raises(graphc.DTypeError, match="mean"):
        i.mean()
    assert i.argmax().item() == 3 and i.argmax().dtype is graphc.int64
    assert i.max().item() == 4 and i.min(dim=1).indices.tolist() == [0, 0]


def test_max_with_dim_is_a_named_tuple():
    result = t(A).max(dim=1)
    values, indices = result
    assert result.values is values and result.indices is indices
    assert values.tolist() == [3.25, 4.0] and indices.tolist() == [2, 1]
    assert repr(result).startswith("graphc.return_types.max(values=")
    assert t(A).min(1, keepdim=True).values.shape == (2, 1)


def test_stable_softmax_logsumexp_and_norm():
    big = t([[1000.0, 999.0], [-1000.0, -1001.0]])
    np.testing.assert_allclose(big.softmax(1).sum(1).numpy(), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(big.logsumexp(1).numpy(), [1000.0 + np.log1p(np.exp(-1.0)), -1000.0 + np.log1p(np.exp(-1.0))], rtol=1e-6)
    assert np.isfinite(big.log_softmax(1).numpy()).all()
    np.testing.assert_allclose(t(A).norm().item(), np.linalg.norm(A), rtol=1e-6)
    np.testing.assert_allclose(t(A).norm(p=1, dim=1).numpy(), np.abs(A).sum(1), rtol=1e-6)


def test_shape_functions_match_numpy():
    x = t(np.arange(24).reshape(2, 3, 4))
    a = x.numpy()
    assert x.view(-1, 6).shape == (4, 6) and x.reshape(4, -1).shape == (4, 6)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.transpose(0, 2).numpy(), a.swapaxes(0, 2))
    np.testing.assert_array_equal(x.flip(0, 2).numpy(), a[::-1, :, ::-1])
    np.testing.assert_array_equal(x.repeat(2, 1, 3).numpy(), np.tile(a, (2, 1, 3)))
    np.testing.assert_array_equal(x.flatten(1).numpy(), a.reshape(2, 12))
    np.testing.assert_array_equal(x.narrow(2, 1, 2).numpy(), a[:, :, 1:3])
    assert [p.shape[2] for p in x.split(3, dim=2)] == [3, 1]
    assert [p.shape[2] for p in x.chunk(3, dim=-1)] == [2, 2]
    assert [p.shape[1] for p in x.split([1, 2], 1)] == [1, 2]
    assert x.unsqueeze(-1).shape == (2, 3, 4, 1) and x.unsqueeze(0).squeeze().shape == (2, 3, 4)
    assert x.sum(0, keepdim=True).expand(5, -1, -1).shape == (5, 3, 4)
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3) and x.unflatten(2, (2, 2)).shape == (2, 3, 2, 2)
    assert len(x.unbind(1)) == 3 and x.unbind(1)[0].shape == (2, 4)


def test_cat_stack_promote_and_check():
    f, i = t([[1.0, 2.0]]), t([[3, 4]], graphc.int64)
    out = graphc.cat([f, i], dim=0)
    assert out.dtype is graphc.float32 and out.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert graphc.stack([f, f], dim=1).shape == (1, 2, 2)
    with pytest.raises(graphc.ShapeError, match="Sizes of tensors must match except in dimension 0"):
        graphc.cat([f, t([[1.0, 2.0, 3.0]])])
    with pytest.raises(graphc.ShapeError, match="stack expects each tensor to be equal size"):
        graphc.stack([f, t([1.0])])


def test_elementwise_values_and_rounding():
    x = t([0.5, 1.5, 2.5, -0.5, -2.7, float("nan")])
    np.testing.assert_array_equal(x.round().numpy(), np.round(x.numpy()))  # both round half to even
    np.testing.assert_array_equal(x.floor().numpy(), np.floor(x.numpy()))
    np.testing.assert_array_equal(x.ceil().numpy(), np.ceil(x.numpy()))
    np.testing.assert_array_equal(x.trunc().numpy(), np.trunc(x.numpy()))
    np.testing.assert_array_equal(x.clamp(-1, 1).numpy(), [0.5, 1.0, 1.0, -0.5, -1.0, np.nan])
    assert x.isnan().tolist() == [False] * 5 + [True]
    assert (t([7, -7], graphc.int64) // 2).tolist() == [3, -4] and (t([7, -7], graphc.int64) % 3).tolist() == [1, 2]
    assert t([7, -7], graphc.int64).div(2, rounding_mode="trunc").tolist() == [3, -3]
    assert t([1, 2], graphc.int64).exp().dtype is graphc.float32
    np.testing.assert_allclose(t([1e-10]).log1p().item(), 1e-10, rtol=1e-6)
    np.testing.assert_allclose(t([1e-10]).expm1().item(), 1e-10, rtol=1e-6)
    assert graphc.where(t([1.0, -1.0]) > 0, 1, 0.5).tolist() == [1.0, 0.5]


def test_rounding_passes_a_zero_gradient():
    x = t([0.4, 1.6], grad=True)
    (x.floor() + x.round() * 2).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_clone_is_a_differentiable_copy():
    x = t([1.0, 2.0], grad=True)
    c = x.clone()
    assert c.grad_fn is not None and not np.shares_memory(c.detach().numpy(), x.detach().numpy())
    (c * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_conversions():
    x = t([1.7, -1.7])
    assert x.long().tolist() == [1, -1] and x.int().dtype is graphc.int32 and x.bool().tolist() == [True, True]
    assert x.to(graphc.float64).dtype is graphc.float64 and x.to(x.long()).dtype is graphc.int64
    assert x.float() is x and x.cpu() is x and x.to("cpu") is x and x.type() == "torch.FloatTensor"
    with pytest.raises(graphc.DeviceError):
        x.cuda()
    with pytest.raises(graphc.DTypeError) as err:
        x.half()
    assert err.value.fix and isinstance(err.value, RuntimeError)


def test_bool_operators():
    a, b = t([True, False], graphc.bool), t([True, True], graphc.bool)
    assert (a & b).tolist() == [True, False] and (a | b).tolist() == [True, True]
    assert (a ^ b).tolist() == [False, True] and (~a).tolist() == [False, True]
    with pytest.raises(graphc.DTypeError, match="not supported"):
        t([1, 2], graphc.int64) & t([1, 2], graphc.int64)
