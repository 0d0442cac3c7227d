"""Movement and indexing ops against PyTorch: values and gradients through the eager path."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from graphc._dispatch import apply  # noqa: E402
from graphc.ir.errors import GraphcIndexError, ShapeError  # noqa: E402
from graphc.tensor import Tensor  # noqa: E402

rng = np.random.default_rng(1)


def _f(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _i(values):
    return np.array(values, dtype=np.int64)


# name: (inputs, graphc op + attrs, the same computation in torch)
CASES = {
    "reshape": ([_f(2, 3, 4)], ("reshape", {"shape": (6, 4)}), lambda x: x.reshape(6, 4)),
    "permute": ([_f(2, 3, 4)], ("permute", {"dims": (1, 2, 0)}), lambda x: x.permute(1, 2, 0)),
    "expand": ([_f(3, 1)], ("expand", {"shape": (2, 3, 5)}), lambda x: x.expand(2, 3, 5)),
    "slice": ([_f(4, 5)], ("slice", {"dim": 0, "start": 1, "stop": 3, "step": 1}), lambda x: x[1:3]),
    "slice_step": ([_f(3, 10)], ("slice", {"dim": 1, "start": 1, "stop": 9, "step": 3}), lambda x: x[:, 1:9:3]),
    "slice_step_to_end": ([_f(3, 10)], ("slice", {"dim": -1, "start": 2, "stop": 10, "step": 4}),
                          lambda x: x[:, 2::4]),
    "pad": ([_f(2, 3, 4)], ("pad", {"pads": ((0, 0), (1, 2), (3, 0)), "value": -1.5}),
            lambda x: F.pad(x, (3, 0, 1, 2), value=-1.5)),
    "concat": ([_f(2, 3), _f(2, 1), _f(2, 4)], ("concat", {"dim": -1}), lambda *xs: torch.cat(xs, dim=-1)),
    "flip": ([_f(2, 3, 4)], ("flip", {"dims": (0, 2)}), lambda x: torch.flip(x, (0, 2))),
    "gather": ([_f(3, 5), _i([[4, 0], [1, 1], [3, 2]])], ("gather", {"dim": 1}),
               lambda x, i: torch.gather(x, 1, i)),
    "gather_dim0": ([_f(3, 5), _i([[2, 0, 1], [2, 2, 2]])], ("gather", {"dim": 0}),
                    lambda x, i: torch.gather(x, 0, i)),
    "scatter_add": ([_f(3, 4), _i([[0, 0, 3], [1, 2, 1]]), _f(2, 3)], ("scatter_add", {"dim": 1}),
                    lambda b, i, s: b.scatter_add(1, i, s)),
    "take": ([_f(4, 3), _i([3, 0, 3])], ("take", {"dim": 0}), lambda x, i: torch.index_select(x, 0, i)),
    "take_2d_index": ([_f(2, 5, 3), _i([[4, 0], [1, 4]])], ("take", {"dim": 1}), lambda x, i: x[:, i]),
    "index_add": ([_f(3, 4), _i([3, 0, 3]), _f(3, 3)], ("index_add", {"dim": 1}),
                  lambda b, i, s: b.index_add(1, i, s)),
}


@pytest.mark.parametrize("case", CASES)
def test_value_and_gradients_match_torch(case):
    arrays, (op, attrs), torch_fn = CASES[case]
    is_float = [a.dtype.kind == "f" for a in arrays]
    ours = [Tensor._wrap(a.copy(), requires_grad=f) for a, f in zip(arrays, is_float, strict=True)]
    theirs = [torch.tensor(a, requires_grad=f) for a, f in zip(arrays, is_float, strict=True)]
    out = apply(op, *ours, **attrs)
    ref = torch_fn(*theirs)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out._data, ref.detach().numpy(), rtol=1e-6, atol=1e-6)

    seed = _f(*ref.shape)
    out.backward(Tensor._wrap(seed))
    ref.backward(torch.tensor(seed))
    for mine, torchs, f in zip(ours, theirs, is_float, strict=True):
        if f:
            np.testing.assert_allclose(mine.grad._data, torchs.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_scatter_add_with_an_index_smaller_than_src_matches_torch():
    # torch's own backward rejects this case, so only the value is compared (the gradient is
    # checked by finite differences in test_ops_movement.py)
    base, idx, src = _f(3, 4), _i([[3], [0]]), _f(2, 3)
    out = apply("scatter_add", Tensor._wrap(base), Tensor._wrap(idx), Tensor._wrap(src), dim=1)
    ref = torch.tensor(base).scatter_add(1, torch.tensor(idx), torch.tensor(src))
    np.testing.assert_allclose(out._data, ref.numpy(), rtol=1e-6, atol=1e-6)


def test_gradient_through_a_chain_of_movement_ops():
    x = _f(2, 3, 4)
    ours = Tensor._wrap(x.copy(), requires_grad=True)
    t = apply("permute", ours, dims=(2, 0, 1))
    t = apply("reshape", t, shape=(4, 6))
    t = apply("slice", t, dim=1, start=1, stop=6, step=2)
    t = apply("pad", t, pads=((1, 0), (0, 2)))
    t = apply("flip", t, dims=(0,))
    t = apply("concat", t, t, dim=1)
    theirs = torch.tensor(x, requires_grad=True)
    r = theirs.permute(2, 0, 1).reshape(4, 6)[:, 1:6:2]
    r = F.pad(r, (0, 2, 1, 0)).flip(0)
    r = torch.cat([r, r], dim=1)
    np.testing.assert_allclose(t._data, r.detach().numpy(), rtol=0, atol=0)
    seed = _f(*r.shape)
    t.backward(Tensor._wrap(seed))
    r.backward(torch.tensor(seed))
    np.testing.assert_allclose(ours.grad._data, theirs.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("ours,theirs", [
    (lambda x: apply("reshape", x, shape=(4, 2)), lambda x: x.reshape(4, 2)),
    (lambda x: apply("expand", x, shape=(2, 4)), lambda x: x.expand(2, 4)),
    (lambda x: apply("concat", x, Tensor._wrap(np.zeros((2, 4), np.float32)), dim=0),
     lambda x: torch.cat([x, torch.zeros(2, 4)], dim=0)),
    (lambda x: apply("gather", x, Tensor._wrap(_i([[5], [0]])), dim=1),
     lambda x: torch.gather(x, 1, torch.tensor([[5], [0]]))),
])
def test_errors_are_raised_where_torch_raises_with_its_message(ours, theirs):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(RuntimeError) as torch_error:
        theirs(torch.tensor(x))
    with pytest.raises((ShapeError, GraphcIndexError)) as our_error:
        ours(Tensor._wrap(x))
    assert our_error.value.message == str(torch_error.value)
