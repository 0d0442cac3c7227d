"""Movement and indexing ops without PyTorch: numpy references, shape-rule errors, and float64
finite-difference checks of every VJP rule through the eager path (dispatch -> tape -> autodiff)."""

from __future__ import annotations

import numpy as np
import pytest

from graphc._dispatch import apply
from graphc.ir import Graph, TensorType, float32, format_graph, get_op
from graphc.ir.errors import DTypeError, GraphcError, GraphcIndexError, ShapeError
from graphc.runtime.reference import interpret
from graphc.tensor import Tensor

rng = np.random.default_rng(0)


def _rand(*shape):
    return rng.standard_normal(shape)


def _idx(values):
    return np.array(values, dtype=np.int64)


# Each case: the op, its float64 inputs (index arrays stay int), attrs, and a numpy expression
# of the expected value written independently of the op's reference.
X34 = _rand(3, 4)
X234 = _rand(2, 3, 4)
CASES = {
    "reshape": ("reshape", [X234], {"shape": (4, 6)}, lambda x: x.ravel().reshape(4, 6)),
    "reshape_scalar": ("reshape", [np.array(2.5)], {"shape": (1, 1)}, lambda x: np.full((1, 1), 2.5)),
    "permute": ("permute", [X234], {"dims": (2, 0, 1)}, lambda x: np.moveaxis(x, 2, 0)),
    "permute_negative": ("permute", [X234], {"dims": (-1, -3, -2)}, lambda x: np.moveaxis(x, 2, 0)),
    "expand": ("expand", [_rand(3, 1)], {"shape": (2, 3, 4)},
               lambda x: np.stack([np.tile(x, (1, 4))] * 2)),
    "slice_step1": ("slice", [X34], {"dim": 1, "start": 1, "stop": 3, "step": 1}, lambda x: x[:, 1:3]),
    "slice_step2": ("slice", [X234], {"dim": -1, "start": 1, "stop": 4, "step": 2}, lambda x: x[..., [1, 3]]),
    "slice_step3_short": ("slice", [_rand(8, 2)], {"dim": 0, "start": 0, "stop": 5, "step": 3}, lambda x: x[[0, 3]]),
    "slice_step3_tail": ("slice", [_rand(8, 2)], {"dim": 0, "start": 2, "stop": 8, "step": 3}, lambda x: x[[2, 5]]),
    "slice_empty": ("slice", [X34], {"dim": 0, "start": 2, "stop": 2, "step": 2}, lambda x: x[2:2]),
    "pad": ("pad", [X34], {"pads": ((1, 0), (2, 1)), "value": 0.5},
            lambda x: np.block([[np.full((1, 7), 0.5)], [np.full((3, 2), 0.5), x, np.full((3, 1), 0.5)]])),
    "concat": ("concat", [X34, _rand(3, 2), _rand(3, 1)], {"dim": 1}, lambda *xs: np.hstack(xs)),
    "concat_one": ("concat", [X34], {"dim": -2}, lambda x: x),
    "flip": ("flip", [X234], {"dims": (0, -1)}, lambda x: x[::-1, :, ::-1]),
    "gather": ("gather", [X34, _idx([[0, 3], [1, 1], [2, 0]])], {"dim": 1},
               lambda x, i: np.array([[x[r, c] for c in row] for r, row in enumerate(i)])),
    "gather_smaller": ("gather", [X34, _idx([[2, 0, 1, 2], [0, 0, 0, 0]])], {"dim": 0},
                       lambda x, i: np.array([[x[i[r, c], c] for c in range(4)] for r in range(2)])),
    "scatter_add": ("scatter_add", [X34, _idx([[0, 0], [3, 1]]), _rand(2, 3)], {"dim": 1},
                    lambda b, i, s: b + np.array([[s[0, 0] + s[0, 1], 0, 0, 0], [0, s[1, 1], 0, s[1, 0]], [0] * 4])),
    "take": ("take", [X34, _idx([[2, 0], [2, 2]])], {"dim": 0}, lambda x, i: np.stack([x[i[0]], x[i[1]]])),
    "take_scalar_index": ("take", [X234, _idx(1)], {"dim": 1}, lambda x, i: x[:, 1]),
    "take_int32": ("take", [X34, np.array([3, 0, 3], np.int32)], {"dim": 1}, lambda x, i: x[:, [3, 0, 3]]),
    "index_add": ("index_add", [X34, _idx([1, 1, 0]), _rand(3, 3)], {"dim": 1},
                  lambda b, i, s: b + np.stack([s[:, 2], s[:, 0] + s[:, 1], 0 * s[:, 0], 0 * s[:, 0]], axis=1)),
}


def _tensors(arrays, grad=False):
    return [Tensor._wrap(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]


@pytest.mark.parametrize("case", CASES)
def test_reference_matches_numpy(case):
    op, arrays, attrs, expected = CASES[case]
    out = apply(op, *_tensors(arrays), **attrs)
    want = expected(*arrays)
    assert out.shape == want.shape
    np.testing.assert_allclose(out._data, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_vjp_matches_finite_differences(case):
    op, arrays, attrs, _ = CASES[case]
    inputs = _tensors(arrays, grad=True)
    out = apply(op, *inputs, **attrs)
    weight = _rand(*out.shape)
    out.backward(Tensor._wrap(weight))
    eps = 1e-6
    for i, a in enumerate(arrays):
        if a.dtype.kind != "f":
            continue
        numeric = np.zeros_like(a)
        for k in np.ndindex(a.shape):
            hi, lo = [x.copy() for x in arrays], [x.copy() for x in arrays]
            hi[i][k] += eps
            lo[i][k] -= eps
            f_hi = np.sum(apply(op, *_tensors(hi), **attrs)._data * weight)
            f_lo = np.sum(apply(op, *_tensors(lo), **attrs)._data * weight)
            numeric[k] = (f_hi - f_lo) / (2 * eps)
        assert inputs[i].grad is not None, f"no gradient for input {i} of {op}"
        np.testing.assert_allclose(inputs[i].grad._data, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("size,start,stop,step", [
    (7, 0, 7, 2), (7, 1, 7, 2), (7, 1, 6, 3), (9, 2, 9, 4), (5, 4, 5, 3), (6, 0, 0, 3), (10, 3, 8, 5),
])
def test_strided_slice_gradient_lands_on_the_sliced_positions(size, start, stop, step):
    x = Tensor._wrap(np.zeros((2, size)), requires_grad=True)
    out = apply("slice", x, dim=1, start=start, stop=stop, step=step)
    seed = np.arange(1, 1 + out._data.size, dtype=np.float64).reshape(out.shape)
    out.backward(Tensor._wrap(seed))
    want = np.zeros((2, size))
    want[:, start:stop:step] = seed
    np.testing.assert_array_equal(x.grad._data, want)


def test_repeated_indices_accumulate_gradients():
    x = Tensor._wrap(np.zeros((3, 2)), requires_grad=True)
    apply("take", x, Tensor._wrap(_idx([2, 2, 2, 0])), dim=0).backward(Tensor._wrap(np.ones((4, 2))))
    np.testing.assert_array_equal(x.grad._data, [[1, 1], [0, 0], [3, 3]])
    x.grad = None
    apply("gather", x, Tensor._wrap(_idx([[1, 1, 1]]).T), dim=1).backward(Tensor._wrap(np.ones((3, 1))))
    np.testing.assert_array_equal(x.grad._data, [[0, 1], [0, 1], [0, 1]])


def test_scatter_add_gradient_is_zero_for_src_beyond_the_index():
    src = Tensor._wrap(_rand(2, 3), requires_grad=True)
    base = Tensor._wrap(np.zeros((2, 4)), requires_grad=True)
    out = apply("scatter_add", base, Tensor._wrap(_idx([[3], [0]])), src, dim=1)
    g = _rand(2, 4)
    out.backward(Tensor._wrap(g))
    np.testing.assert_array_equal(src.grad._data, [[g[0, 3], 0, 0], [g[1, 0], 0, 0]])
    np.testing.assert_array_equal(base.grad._data, g)


def test_copying_ops_do_not_alias_their_input():
    x = _rand(3, 4)
    for op, attrs in [("flip", {"dims": (0,)}), ("pad", {"pads": ((0, 0), (0, 0))}), ("concat", {"dim": 0}),
                      ("take", {"dim": 0})]:
        args = [x] + ([_idx([0, 1])] if op == "take" else [])
        assert not np.shares_memory(get_op(op).ref(*args, **get_op(op).check_attrs(attrs)), x), op


def test_backward_graph_of_a_strided_slice_is_built_from_movement_ops():
    from graphc.passes.autodiff import append_backward

    g = Graph("s")
    x = g.placeholder("x", TensorType(float32, (5,)), role="param")
    y = g.add("slice", x, dim=0, start=1, stop=5, step=2)
    seed = g.placeholder("seed", TensorType(float32, (2,)))
    (gx,) = append_backward(g, [y], [seed], [x])
    g.set_outputs([gx])
    assert format_graph(g, locs=False) == """graph s {
  %x:f32[5] = param
  %seed:f32[2] = input
  %0:f32[2] = slice %x {dim=0, start=1, stop=5, step=2}
  %1:f32[2,1] = reshape %seed {shape=[2,1]}
  %2:f32[2,2] = pad %1 {pads=[[0,0],[0,1]], value=0.0}
  %3:f32[4] = reshape %2 {shape=[4]}
  %4:f32[5] = pad %3 {pads=[[1,0]], value=0.0}
  return %4
}"""
    x_val = np.arange(5, dtype=np.float32)
    (got,) = interpret(g, {x: x_val, seed: np.array([10, 20], np.float32)})
    np.testing.assert_array_equal(got, [0, 10, 0, 20, 0])


# ---------------------------------------------------------------------- shape-rule errors
F = "f32"
ERRORS = [
    ("reshape", [(F, (2, 3))], {"shape": (4, 2)}, ShapeError, "invalid for input of size 6"),
    ("reshape", [(F, (2, 3))], {"shape": (-1, 3)}, ShapeError, "sizes must be >= 0"),
    ("permute", [(F, (2, 3))], {"dims": (0,)}, ShapeError, "does not match the length"),
    ("permute", [(F, (2, 3))], {"dims": (1, 1)}, ShapeError, "duplicate dims"),
    ("permute", [(F, (2, 3))], {"dims": (0, 2)}, GraphcIndexError, "Dimension out of range"),
    ("expand", [(F, (2, 3))], {"shape": (3,)}, ShapeError, "number of sizes provided"),
    ("expand", [(F, (2, 3))], {"shape": (2, 4)}, ShapeError, "non-singleton dimension 1"),
    ("expand", [(F, (1, 3))], {"shape": (-1, 3)}, ShapeError, "sizes must be >= 0"),
    ("slice", [(F, (2, 3))], {"dim": 1, "start": 0, "stop": 4, "step": 1}, ShapeError, "stop=4"),
    ("slice", [(F, (2, 3))], {"dim": 1, "start": 2, "stop": 1, "step": 1}, ShapeError, "start=2"),
    ("slice", [(F, (2, 3))], {"dim": 1, "start": 0, "stop": 3, "step": 0}, ShapeError, "step must be positive"),
    ("slice", [(F, (2, 3))], {"dim": 2, "start": 0, "stop": 1, "step": 1}, GraphcIndexError, "Dimension out of range"),
    ("slice", [(F, ())], {"dim": 0, "start": 0, "stop": 1, "step": 1}, ShapeError, "0-dimensional"),
    ("pad", [(F, (2, 3))], {"pads": ((1, 1),)}, ShapeError, "one (before, after) pair per dimension"),
    ("pad", [(F, (2, 3))], {"pads": ((0, 0), (-1, 0))}, ShapeError, ">= 0"),
    ("concat", [], {"dim": 0}, ShapeError, "non-empty list"),
    ("concat", [(F, (2, 3)), ("f64", (2, 3))], {"dim": 0}, DTypeError, "one dtype"),
    ("concat", [(F, (2, 3)), (F, (2, 3, 1))], {"dim": 0}, ShapeError, "same number of dimensions"),
    ("concat", [(F, (2, 3)), (F, (2, 4))], {"dim": 0}, ShapeError, "Expected size 3 but got size 4 for tensor number 1"),
    ("concat", [(F, ()), (F, ())], {"dim": 0}, ShapeError, "zero-dimensional"),
    ("flip", [(F, (2, 3))], {"dims": (0, -2)}, ShapeError, "duplicate dims"),
    ("flip", [(F, (2, 3))], {"dims": (3,)}, GraphcIndexError, "Dimension out of range"),
    ("gather", [(F, (2, 3)), (F, (2, 1))], {"dim": 1}, DTypeError, "Expected dtype int64"),
    ("gather", [(F, (2, 3)), ("i32", (2, 1))], {"dim": 1}, DTypeError, "Expected dtype int64"),
    ("gather", [(F, (2, 3)), ("i64", (2,))], {"dim": 1}, ShapeError, "same number of dimensions"),
    ("gather", [(F, (2, 3)), ("i64", (3, 1))], {"dim": 1}, ShapeError, "Size does not match at dimension 0"),
    ("scatter_add", [(F, (2, 3)), ("i64", (2, 1)), ("f64", (2, 1))], {"dim": 1}, DTypeError, "src.dtype"),
    ("scatter_add", [(F, (2, 3)), ("i64", (2, 2)), (F, (2, 1))], {"dim": 1}, ShapeError, "smaller size than src"),
    ("scatter_add", [(F, (2, 3)), ("i64", (3, 1)), (F, (3, 1))], {"dim": 1}, ShapeError, "smaller than self"),
    ("take", [(F, (2, 3)), (F, (2,))], {"dim": 0}, DTypeError, "int32 or int64"),
    ("take", [(F, (2, 3)), ("i64", (2,))], {"dim": -3}, GraphcIndexError, "Dimension out of range"),
    ("index_add", [(F, (2, 3)), ("i64", (2,)), (F, (2, 3))], {"dim": 1}, ShapeError, "needs source shape [2, 2]"),
    ("index_add", [(F, (2, 3)), ("i64", (2,)), ("f64", (2, 2))], {"dim": 1}, DTypeError, "src.dtype"),
]


@pytest.mark.parametrize("op,types,attrs,error,text", ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_shape_rule_errors(op, types, attrs, error, text):
    g = Graph("e")
    inputs = [g.placeholder(f"a{i}", TensorType(dt, shape)) for i, (dt, shape) in enumerate(types)]
    with pytest.raises(error) as info:
        g.add(op, *inputs, **attrs)
    assert text in info.value.message
    assert isinstance(info.value, GraphcError) and info.value.fix


@pytest.mark.parametrize("op,args,attrs,text", [
    ("gather", [np.zeros((2, 3)), _idx([[5], [0]])], {"dim": 1}, "index 5 is out of bounds for dimension 1 with size 3"),
    ("gather", [np.zeros((2, 3)), _idx([[0], [-1]])], {"dim": 1}, "index -1 is out of bounds for dimension 1"),
    ("take", [np.zeros((2, 3)), _idx([0, 2])], {"dim": 0}, "index 2 is out of bounds for dimension 0 with size 2"),
    ("take", [np.zeros((2, 3)), _idx([-1])], {"dim": 1}, "index -1 is out of bounds for dimension 1 with size 3"),
    ("scatter_add", [np.zeros((2, 3)), _idx([[3]]), np.ones((1, 1))], {"dim": 1}, "index 3 is out of bounds"),
    ("index_add", [np.zeros((2, 3)), _idx([2]), np.ones((1, 3))], {"dim": 0}, "index 2 is out of bounds"),
])
def test_index_out_of_range_is_an_index_error(op, args, attrs, text):
    with pytest.raises(GraphcIndexError) as info:
        apply(op, *[Tensor._wrap(a) for a in args], **attrs)
    assert text in info.value.message
    assert isinstance(info.value, IndexError)


def test_every_op_has_a_doc_and_a_vjp():
    from graphc.passes.vjp import VJP_RULES

    for op in ("reshape", "permute", "expand", "slice", "pad", "concat", "flip",
               "gather", "scatter_add", "take", "index_add"):
        assert get_op(op).doc and get_op(op).ref is not None, op
        assert op in VJP_RULES, op
    assert get_op("concat").arity is None
