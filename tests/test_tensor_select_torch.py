"""gather, index_select, take, scatter_add, tril/triu, diagonal/diag, roll, repeat_interleave, tile and
einsum against PyTorch (values, dtypes, gradients, errors), and compiled results against eager ones."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
from graphc.ir.errors import GraphcError  # noqa: E402

_NP = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "i32": np.int32, "bool": np.bool_}
_TO_GRAPHC = {torch.float32: graphc.float32, torch.float64: graphc.float64, torch.int64: graphc.int64,
              torch.int32: graphc.int32, torch.bool: graphc.bool}


def data(shape, dtype="f32", seed=0):
    rng = np.random.default_rng(seed + 11 * len(shape) + sum(shape))
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype in ("i64", "i32"):
        return rng.integers(-9, 10, size=shape).astype(_NP[dtype])
    return rng.normal(size=shape).astype(_NP[dtype])


def idx(values):
    """An int64 index array (the same values go to graphc and torch)."""
    return np.asarray(values, dtype=np.int64)


def _wrap(lib, a, grad):
    if isinstance(a, np.ndarray) and a.dtype == np.int64 and not grad:
        return lib.tensor(a)
    return lib.tensor(np.array(a, copy=True), requires_grad=grad and a.dtype.kind == "f")


def assert_same(g, t):
    assert isinstance(g, graphc.Tensor)
    assert tuple(g.shape) == tuple(t.shape), (g.shape, t.shape)
    assert g.dtype is _TO_GRAPHC[t.dtype], (g.dtype, t.dtype)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-5)


def check(fn, *arrays, grad=True):
    """``fn(lib, *tensors)`` in graphc and torch: the same values and the same gradients of the float inputs."""
    gs = [_wrap(graphc, a, grad) for a in arrays]
    ts = [_wrap(torch, a, grad) for a in arrays]
    gout, tout = fn(graphc, *gs), fn(torch, *ts)
    assert_same(gout, tout)
    if not (grad and tout.requires_grad):
        return
    w = np.random.default_rng(3).normal(size=tuple(tout.shape))
    (gout * graphc.tensor(w, dtype=gout.dtype)).sum().backward()
    (tout * torch.tensor(w, dtype=tout.dtype)).sum().backward()
    for g, t in zip(gs, ts, strict=True):
        if t.requires_grad:
            assert t.grad is not None and g.grad is not None
            assert_same(g.grad, t.grad)


def check_compiled(fn, *arrays):
    """The compiled value and gradients equal the eager ones (float arrays are parameters, the rest inputs)."""
    def run(compiled):
        params = [graphc.tensor(np.array(a, copy=True), requires_grad=True) for a in arrays if a.dtype.kind == "f"]
        inputs = [graphc.tensor(a) for a in arrays if a.dtype.kind != "f"]

        def step(*ins):
            it_p, it_i = iter(params), iter(ins)
            out = fn(graphc, *[next(it_p) if a.dtype.kind == "f" else next(it_i) for a in arrays])
            w = graphc.arange(out.numel(), dtype=out.dtype).reshape(tuple(out.shape)).cos()
            (out * w).sum().backward()
            return out

        out = (graphc.compile(step) if compiled else step)(*inputs)
        return out.detach().numpy(), [p.grad.numpy() for p in params]

    (cv, cg), (ev, eg) = run(True), run(False)
    np.testing.assert_allclose(cv, ev, rtol=1e-5, atol=1e-5)
    for c, e in zip(cg, eg, strict=True):
        np.testing.assert_allclose(c, e, rtol=1e-5, atol=1e-5)


def check_error(fn, *arrays):
    """torch raises; graphc raises a GraphcError of the same Python type with torch's first line and a fix."""
    with pytest.raises(Exception) as t_err:
        fn(torch, *[_wrap(torch, a, False) for a in arrays])
    with pytest.raises(GraphcError) as g_err:
        fn(graphc, *[_wrap(graphc, a, False) for a in arrays])
    assert isinstance(g_err.value, type(t_err.value)), (g_err.value, t_err.value)
    torch_text = str(t_err.value).splitlines()[0]
    assert torch_text in str(g_err.value), (str(g_err.value), torch_text)
    assert "fix:" in str(g_err.value)


# ------------------------------------------------------------------ gather / scatter_add
GATHER = [((3, 4), 1, [[0, 3], [1, 1], [2, 0]]), ((3, 4), 0, [[2, 0, 1, 1]]), ((3, 4), -1, [[3], [0]]),
          ((2, 3, 4), 2, [[[3, 0]], [[1, 2]]]), ((2, 3, 4), -2, np.zeros((2, 5, 1), np.int64)), ((5,), 0, [4, 4, 0])]


@pytest.mark.parametrize("shape,dim,index", GATHER, ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_gather(shape, dim, index, dtype):
    check(lambda m, x, i: x.gather(dim, i), data(shape, dtype), idx(index))
    check(lambda m, x, i: m.gather(x, dim, i), data(shape, dtype), idx(index))


def test_gather_integer_values_int32_index_and_0_dim():
    check(lambda m, x, i: m.gather(x, 1, i.int()), data((3, 4), "i64"), idx([[1], [3]]))
    check(lambda m, x, i: m.gather(x, 0, i), data((4,)), idx(2))


@pytest.mark.parametrize("shape,dim,index", GATHER[:4], ids=str)
def test_scatter_add(shape, dim, index):
    index = idx(index)
    src = data(index.shape, seed=1)
    check(lambda m, x, i, s: x.scatter_add(dim, i, s), data(shape), index, src)
    check(lambda m, x, i, s: m.scatter_add(x, dim, i, s), data(shape, "f64"), index, src.astype(np.float64))


def test_scatter_add_larger_src_uses_its_leading_part():
    check(lambda m, x, i, s: m.scatter_add(x, 1, i, s), data((3, 4)), idx([[0, 0], [3, 1]]), data((3, 4), seed=2),
          grad=False)
    check(lambda m, x, i, s: m.scatter_add(x, 0, i, s), data((3, 4), "i64"), idx([[0, 2, 2]]), data((2, 3), "i64"))


# ------------------------------------------------------------------ index_select / take
@pytest.mark.parametrize("shape,dim,index", [((3, 4), 0, [2, 0, 2]), ((3, 4), -1, [3]), ((2, 3, 4), 1, [1, 1, 0, 2]),
                                             ((2, 3, 4), 2, []), ((5,), 0, 3)], ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32"])
def test_index_select(shape, dim, index, dtype):
    check(lambda m, x, i: x.index_select(dim, i), data(shape, dtype), idx(index))
    check(lambda m, x, i: m.index_select(x, dim, i.int()), data(shape, dtype), idx(index))


@pytest.mark.parametrize("shape,index", [((3, 4), [0, -1, 5]), ((2, 3, 4), [[23, -24], [7, 7]]), ((6,), 2), ((), [0, -1])],
                         ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64", "i64"])
def test_take(shape, index, dtype):
    check(lambda m, x, i: x.take(i), data(shape, dtype), idx(index))
    check(lambda m, x, i: m.take(x, i), data(shape, dtype), idx(index))


# ------------------------------------------------------------------ triangles and diagonals
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 5, 3), (0, 3)], ids=str)
@pytest.mark.parametrize("k", [0, 1, -2, 7])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i64", "bool"])
def test_tril_triu(shape, k, dtype):
    check(lambda m, x: m.tril(x, k), data(shape, dtype))
    check(lambda m, x: x.triu(k), data(shape, dtype))
    check(lambda m, x: x.tril(diagonal=k), data(shape, dtype))


@pytest.mark.parametrize("shape,offset,dims", [((4, 4), 0, (0, 1)), ((3, 5), 2, (0, 1)), ((3, 5), -1, (1, 0)),
                                                ((2, 3, 4), 1, (-1, 0)), ((2, 3, 4), -1, (1, 2)), ((3, 4), 9, (0, 1))],
                         ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64", "i32"])
def test_diagonal(shape, offset, dims, dtype):
    check(lambda m, x: x.diagonal(offset, *dims), data(shape, dtype))
    check(lambda m, x: m.diagonal(x, offset=offset, dim1=dims[0], dim2=dims[1]), data(shape, dtype))


@pytest.mark.parametrize("shape,k", [((4,), 0), ((3,), 2), ((3,), -1), ((3, 5), 1), ((4, 2), -2), ((0,), 1)], ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64", "i64", "bool"])
def test_diag(shape, k, dtype):
    check(lambda m, x: m.diag(x, k), data(shape, dtype))
    check(lambda m, x: x.diag(diagonal=k), data(shape, dtype))


# ------------------------------------------------------------------ roll, repeat_interleave, tile
@pytest.mark.parametrize("shape,shifts,dims", [((5,), 2, 0), ((3, 4), -1, 1), ((3, 4), 7, None), ((3, 4), (1, -6), (0, -1)),
                                                ((2, 3, 4), (2, 1), (2, 2)), ((2, 3, 4), 0, -2), ((0, 3), 1, 0)], ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64", "i64"])
def test_roll(shape, shifts, dims, dtype):
    check(lambda m, x: x.roll(shifts, dims), data(shape, dtype))
    check(lambda m, x: m.roll(x, shifts=shifts, dims=dims), data(shape, dtype))


@pytest.mark.parametrize("shape,repeats,dim", [((3,), 2, None), ((3, 4), 3, None), ((3, 4), 2, 0), ((2, 3, 4), 2, -1),
                                                ((2, 3), 0, 1), ((), 4, None), ((3, 2), [1, 0, 3], 0), ((3, 2), [2], 1)],
                         ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64", "i64"])
def test_repeat_interleave(shape, repeats, dim, dtype):
    def fn(m, x):
        r = m.tensor(repeats) if isinstance(repeats, list) else repeats
        return x.repeat_interleave(r, dim) if dim is not None else m.repeat_interleave(x, r)
    check(fn, data(shape, dtype))


def test_repeat_interleave_of_counts_alone():
    check(lambda m, c: m.repeat_interleave(c), idx([2, 0, 3]))


@pytest.mark.parametrize("shape,dims", [((3,), (2,)), ((3, 4), (2,)), ((3, 4), (2, 1, 3)), ((2, 3, 4), (1, 2, 1)),
                                        ((), (3,)), ((3,), ())], ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64", "bool"])
def test_tile(shape, dims, dtype):
    check(lambda m, x: m.tile(x, dims), data(shape, dtype))
    check(lambda m, x: x.tile(dims), data(shape, dtype))


def test_tensor_where_and_is_contiguous():
    cond = data((3, 4), "bool")
    check(lambda m, x, y: x.where(m.tensor(cond), y), data((3, 4)), data((4,), seed=1))
    check(lambda m, x: x.where(m.tensor(cond), 2.5), data((3, 4), "f64"))
    x = graphc.ones(3, 4)
    assert x.is_contiguous() and x.t().contiguous().is_contiguous()


# ------------------------------------------------------------------ einsum
EINSUM = [("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
          ("ij->ji", [(3, 4)]), ("ij->", [(3, 4)]), ("ijk->j", [(2, 3, 4)]), ("i,i->", [(5,), (5,)]),
          ("i,j->ij", [(3,), (4,)]), ("ij,ij->ij", [(3, 4), (3, 4)]), ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
          ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("ijk,lkj->il", [(2, 3, 4), (5, 4, 3)]),
          ("i j , j k -> k i", [(3, 4), (4, 2)]), ("Ab,bA->A", [(3, 4), (4, 3)]), ("ij,kj->ikj", [(3, 1), (2, 4)]),
          ("ii->i", [(4, 4)]), ("ii", [(4, 4)]), ("iij,jk->ik", [(3, 3, 4), (4, 2)]),
          ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]), ("b...,b...->b", [(2, 3, 4), (2, 3, 4)]), ("...i->i...", [(2, 3, 4)])]


@pytest.mark.parametrize("equation,shapes", EINSUM, ids=[e for e, _ in EINSUM])
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_einsum(equation, shapes, dtype):
    arrays = [data(s, dtype, seed=i) for i, s in enumerate(shapes)]
    check(lambda m, *xs: m.einsum(equation, *xs), *arrays)


def test_einsum_integers_and_operand_list():
    check(lambda m, a, b: m.einsum("ij,jk->ik", a, b), data((3, 4), "i64"), data((4, 2), "i64", seed=1))
    check(lambda m, a, b: m.einsum("ij,jk->ki", [a, b]), data((3, 4)), data((4, 2), seed=1))


# ------------------------------------------------------------------ compiled equals eager
COMPILED = {
    "gather": (lambda m, x, i: x.gather(1, i), data((3, 4)), idx([[3, 0], [1, 1], [0, 2]])),
    "gather_small_index": (lambda m, x, i: m.gather(x, 0, i), data((3, 4)), idx([[2, 0, 1]])),
    "scatter_add": (lambda m, x, s, i: x.scatter_add(-1, i, s), data((3, 4)), data((3, 2), seed=1),
                    idx([[3, 3], [0, 1], [2, 0]])),
    "index_select": (lambda m, x, i: m.index_select(x, 1, i), data((3, 4)), idx([3, 0, 3])),
    "take": (lambda m, x, i: x.take(i), data((3, 4)), idx([[-1, 0], [5, -12]])),
    "tril_triu": (lambda m, x: m.tril(x, -1) + x.triu(2), data((2, 4, 5))),
    "diagonal_diag": (lambda m, x: x.diagonal(1, 2, 0).sum() + m.diag(x[0, 0], -1), data((3, 4, 5))),
    "roll": (lambda m, x: x.roll((1, -2), (0, 2)) + m.roll(x, 3), data((2, 3, 4))),
    "repeat_interleave": (lambda m, x: x.repeat_interleave(2, 1) + m.repeat_interleave(x, m.tensor([3, 2, 1]), 1)
                          .repeat_interleave(1, 0)[:, :6], data((2, 3))),
    "tile_where": (lambda m, x, y: m.tile(x, (2, 1)).where(m.tile(x, (2, 1)) > 0, y), data((2, 3)), data((3,), seed=1)),
    "einsum": (lambda m, a, b, c: m.einsum("bij,bjk,k->bi", a, b, c) + m.einsum("bii->b", a[:, :, :3])[:, None],
               data((2, 3, 4)), data((2, 4, 5), seed=1), data((5,), seed=2)),
}


@pytest.mark.parametrize("name", list(COMPILED))
def test_compiled_matches_eager(name):
    fn, *arrays = COMPILED[name]
    check_compiled(fn, *arrays)


def test_compiled_index_out_of_range_is_an_index_error():
    f = graphc.compile(lambda x, i: x.gather(1, i))
    x = graphc.ones(2, 3)
    assert f(x, graphc.tensor([[2], [0]])).tolist() == [[1.0], [1.0]]
    with pytest.raises(graphc.GraphcError, match="out of range"):
        f(x, graphc.tensor([[3], [0]]))


# ------------------------------------------------------------------ errors with PyTorch's text
ERRORS = {
    "gather_out_of_range": (lambda m, x, i: x.gather(1, i), data((3, 4)), idx([[4], [0], [0]])),
    "gather_negative": (lambda m, x, i: x.gather(1, i), data((3, 4)), idx([[-1]])),
    "gather_float_index": (lambda m, x, i: x.gather(1, i.float()), data((3, 4)), idx([[1]])),
    "gather_ndim": (lambda m, x, i: x.gather(1, i), data((3, 4)), idx([1])),
    "gather_too_large": (lambda m, x, i: x.gather(1, i), data((3, 4)), np.zeros((4, 1), np.int64)),
    "scatter_out_of_range": (lambda m, x, i: x.scatter_add(0, i, x), data((3, 4)), idx([[3]])),
    "scatter_dtype": (lambda m, x, i: x.scatter_add(0, i, x.double()), data((3, 4)), idx([[1]])),
    "scatter_float_index": (lambda m, x, i: x.scatter_add(0, i.float(), x), data((3, 4)), idx([[1]])),
    "scatter_too_large": (lambda m, x, i: x.scatter_add(0, i, x), data((3, 4)), np.zeros((2, 5), np.int64)),
    "index_select_negative": (lambda m, x, i: x.index_select(0, i), data((3, 4)), idx([-1])),
    "index_select_out_of_range": (lambda m, x, i: x.index_select(0, i), data((3, 4)), idx([0, 3])),
    "index_select_2d": (lambda m, x, i: x.index_select(0, i), data((3, 4)), idx([[0]])),
    "index_select_float": (lambda m, x, i: x.index_select(0, i.float()), data((3, 4)), idx([0])),
    "take_out_of_range": (lambda m, x, i: x.take(i), data((3, 4)), idx([12])),
    "take_too_negative": (lambda m, x, i: x.take(i), data((3, 4)), idx([-13])),
    "take_int32": (lambda m, x, i: x.take(i.int()), data((3, 4)), idx([1])),
    "tril_1d": (lambda m, x: x.tril(), data((3,))),
    "diagonal_same_dims": (lambda m, x: x.diagonal(0, 1, -1), data((3, 4))),
    "diag_3d": (lambda m, x: m.diag(x), data((2, 3, 4))),
    "roll_misaligned": (lambda m, x: x.roll((1, 2), 0), data((3, 4))),
    "roll_no_dims_two_shifts": (lambda m, x: x.roll((1, 2)), data((3, 4))),
    "roll_bad_dim": (lambda m, x: x.roll(1, 2), data((3, 4))),
    "repeat_interleave_negative": (lambda m, x: x.repeat_interleave(-1), data((3, 4))),
    "repeat_interleave_counts": (lambda m, x: x.repeat_interleave(m.tensor([1, 2]), 0), data((3, 4))),
    "einsum_fewer_operands": (lambda m, x: m.einsum("ij,jk", x), data((3, 4))),
    "einsum_more_operands": (lambda m, x: m.einsum("ij", x, x), data((3, 4))),
    "einsum_bad_size": (lambda m, x: m.einsum("ij,jk->ik", x, x), data((3, 4))),
    "einsum_unknown_output": (lambda m, x: m.einsum("ij->k", x), data((3, 4))),
    "einsum_repeated_output": (lambda m, x: m.einsum("ij->ii", x), data((3, 4))),
    "einsum_subscript_count": (lambda m, x: m.einsum("ijk", x), data((3, 4))),
    "einsum_bad_character": (lambda m, x: m.einsum("i1", x), data((3, 4))),
    "einsum_bad_arrow": (lambda m, x: m.einsum("ij-<j", x), data((3, 4))),
    "einsum_stray_dot": (lambda m, x: m.einsum("ij.->j", x), data((3, 4))),
    "einsum_diagonal_sizes": (lambda m, x: m.einsum("ii", x), data((3, 4))),
    "einsum_dtypes": (lambda m, x: m.einsum("ij,jk", x, x.t().double()), data((3, 4))),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_like_torch(name):
    fn, *arrays = ERRORS[name]
    check_error(fn, *arrays)


def test_einsum_sublist_form_names_the_fix():
    x = graphc.ones(2, 2)
    with pytest.raises(graphc.GraphcError, match="equation as a string"):
        graphc.einsum(x, [0, 1], x, [1, 2])
