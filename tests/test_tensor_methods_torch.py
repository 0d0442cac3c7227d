"""Tensor methods and graphc.* functions against PyTorch: values, dtypes and gradients."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402

_DT = {"f32": (np.float32, graphc.float32, torch.float32), "f64": (np.float64, graphc.float64, torch.float64),
       "i64": (np.int64, graphc.int64, torch.int64), "i32": (np.int32, graphc.int32, torch.int32),
       "bool": (np.bool_, graphc.bool, torch.bool)}
_TORCH_TO_GRAPHC = {v[2]: v[1] for v in _DT.values()}


def make(shape, dtype="f32", grad=False, domain="normal", seed=0):
    """The same data as a graphc and a torch tensor (leaves, requires_grad when asked)."""
    rng = np.random.default_rng(seed + 7 * len(shape) + sum(shape))
    npd = _DT[dtype][0]
    if dtype == "bool":
        a = rng.random(shape) > 0.5
    elif dtype in ("i64", "i32"):
        a = rng.integers(-5, 6, size=shape)
        if domain == "positive":
            a = np.abs(a) + 1
    elif domain == "positive":
        a = rng.uniform(0.2, 2.0, size=shape)
    elif domain == "unit":
        a = rng.uniform(-0.9, 0.9, size=shape)
    elif domain == "away":  # away from 0 and from the rounding boundaries
        a = rng.choice([-1, 1], size=shape) * rng.uniform(0.3, 3.0, size=shape)
    else:
        a = rng.normal(size=shape) * 2
    a = np.asarray(a, dtype=npd)
    g = graphc.Tensor(np.array(a, copy=True), dtype=_DT[dtype][1], requires_grad=grad)
    t = torch.tensor(np.array(a, copy=True), requires_grad=grad)
    return g, t


class Pair(tuple):
    """A ready (graphc, torch) pair for check()."""


def graphc_and_torch(a, grad=True):
    a = np.asarray(a)
    g = graphc.Tensor(np.array(a, copy=True), dtype=graphc.float64 if a.dtype == np.float64 else graphc.float32,
                      requires_grad=grad)
    return Pair((g, torch.tensor(a, requires_grad=grad)))


def flat(out):
    if isinstance(out, (tuple, list)):
        return [y for x in out for y in flat(x)]
    return [out]


def assert_same(g, t, rtol=1e-5, atol=1e-6):
    if isinstance(t, (bool, int, float)):
        assert g == t
        return
    assert isinstance(g, graphc.Tensor), type(g)
    assert tuple(g.shape) == tuple(t.shape), (g.shape, t.shape)
    assert g.dtype is _TORCH_TO_GRAPHC[t.dtype], (g.dtype, t.dtype)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)


def check(fn, *specs, rtol=1e-5, atol=1e-6, grad=True):
    """Run ``fn(lib, *tensors)`` in graphc and torch; compare outputs and, for float leaves, gradients."""
    pairs = [s if isinstance(s, Pair) else make(*s) for s in specs]
    gs, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    gout, tout = flat(fn(graphc, *gs)), flat(fn(torch, *ts))
    assert len(gout) == len(tout)
    for g, t in zip(gout, tout, strict=True):
        assert_same(g, t, rtol, atol)
    if not grad:
        return
    rng = np.random.default_rng(1)
    gl, tl = 0, 0
    for g, t in zip(gout, tout, strict=True):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            w = rng.normal(size=tuple(t.shape))
            gl = gl + (g * graphc.Tensor(w, dtype=g.dtype)).sum()
            tl = tl + (t * torch.tensor(w, dtype=t.dtype)).sum()
    if isinstance(tl, int):
        assert not any(isinstance(g, graphc.Tensor) and g.requires_grad for g in gout)
        return
    gl.backward()
    tl.backward()
    for g, t in zip(gs, ts, strict=True):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert (g.grad is None) == (t.grad is None)
            if t.grad is not None:
                assert_same(g.grad, t.grad, rtol * 10, atol * 10)


# ------------------------------------------------------------------ elementwise unary
_UNARY = {
    "exp": "normal", "log": "positive", "log2": "positive", "log10": "positive", "log1p": "positive",
    "expm1": "normal", "sqrt": "positive", "rsqrt": "positive", "abs": "away", "neg": "normal", "sign": "away",
    "sin": "normal", "cos": "normal", "tan": "unit", "tanh": "normal", "sigmoid": "normal", "relu": "away",
    "erf": "normal", "reciprocal": "away", "square": "normal", "floor": "away", "ceil": "away", "round": "away",
    "trunc": "away",
}


@pytest.mark.parametrize("name", sorted(_UNARY))
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_unary_method_and_function(name, dtype):
    spec = ((3, 4), dtype, True, _UNARY[name])
    check(lambda m, x: getattr(x, name)(), spec)
    check(lambda m, x: getattr(m, name)(x), spec)


@pytest.mark.parametrize("name", ["exp", "sqrt", "sigmoid", "abs", "neg", "square", "floor", "round", "log1p"])
def test_unary_on_integers(name):
    check(lambda m, x: getattr(x, name)(), ((5,), "i64", False, "positive"))


def test_log1p_expm1_accurate_for_tiny_inputs():
    x = np.array([1e-10, -1e-8, 3e-7, 0.0, 5.0], np.float32)
    g, t = graphc.Tensor(x), torch.tensor(x)
    assert_same(g.log1p(), t.log1p(), rtol=1e-6, atol=0)
    assert_same(g.expm1(), t.expm1(), rtol=1e-6, atol=0)


def test_rounding_half_to_even_and_large_values():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 1e10, -3e9, float("inf"), float("nan")], np.float32)
    g, t = graphc.Tensor(x), torch.tensor(x)
    for name in ("round", "floor", "ceil", "trunc"):
        assert_same(getattr(g, name)(), getattr(t, name)(), rtol=0, atol=0)
    y = np.array([0.25, 1.35, -2.449, 12.5], np.float64)
    assert_same(graphc.Tensor(y, dtype=graphc.float64).round(decimals=1), torch.tensor(y).round(decimals=1))


# ------------------------------------------------------------------ elementwise binary
_BROADCAST = [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((3,), ())]
_BINARY = {
    "add": lambda m, a, b: m.add(a, b), "add_alpha": lambda m, a, b: a.add(b, alpha=0.5),
    "sub": lambda m, a, b: a - b, "sub_alpha": lambda m, a, b: m.sub(a, b, alpha=2), "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b, "rdiv": lambda m, a, b: m.div(a, b), "pow": lambda m, a, b: a.abs() ** b,
    "maximum": lambda m, a, b: m.maximum(a, b), "minimum": lambda m, a, b: a.minimum(b),
    "remainder": lambda m, a, b: a % b, "fmod": lambda m, a, b: m.fmod(a, b),
    "div_floor": lambda m, a, b: a.div(b, rounding_mode="floor"), "div_trunc": lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
    "floordiv": lambda m, a, b: a // b, "eq": lambda m, a, b: a == b, "lt": lambda m, a, b: a.lt(b),
    "ge": lambda m, a, b: m.ge(a, b), "ne": lambda m, a, b: a != b,
    "clamp_t": lambda m, a, b: a.clamp(min=b), "clamp_t2": lambda m, a, b: m.clamp(a, b - 1, b + 1),
    "where": lambda m, a, b: m.where(a > 0, a, b), "lerp": lambda m, a, b: m.lerp(a, b.expand_as(a) if b.ndim else b + a * 0, 0.3),
    "logical_and": lambda m, a, b: m.logical_and(a, b), "logical_or": lambda m, a, b: a.logical_or(b),
}


@pytest.mark.parametrize("name", sorted(_BINARY))
@pytest.mark.parametrize("shapes", _BROADCAST, ids=str)
def test_binary_broadcasting_with_grads(name, shapes):
    fn = _BINARY[name]
    if name == "lerp":
        fn = lambda m, a, b: m.lerp(a, b * 1 + a * 0, 0.3)  # noqa: E731
    grad = name != "floordiv"  # PyTorch: "derivative for aten::floor_divide is not implemented"
    check(fn, (shapes[0], "f32", grad, "away"), (shapes[1], "f32", grad, "away", 1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "remainder", "div_floor", "div_trunc", "eq",
                                  "where", "floordiv"])
@pytest.mark.parametrize("dtypes", [("f32", "f64"), ("i64", "f32"), ("i64", "i64"), ("i32", "i64"), ("f64", "i32")], ids=str)
def test_binary_dtype_promotion(name, dtypes):
    check(_BINARY[name], ((2, 3), dtypes[0], False, "away"), ((3,), dtypes[1], False, "away", 1), grad=False)


@pytest.mark.parametrize("scalar", [2, 2.5, -3])
@pytest.mark.parametrize("dtype", ["f32", "i64", "f64"])
def test_binary_with_python_scalars(scalar, dtype):
    for fn in (lambda m, a: a + scalar, lambda m, a: scalar - a, lambda m, a: a * scalar, lambda m, a: a / scalar,
               lambda m, a: scalar / (a.abs() + 1), lambda m, a: a.abs() ** abs(scalar), lambda m, a: (a + True, a * False),
               lambda m, a: a.clamp(max=scalar), lambda m, a: m.where(a > 0, a, scalar), lambda m, a: a > scalar):
        check(fn, ((4,), dtype, False, "away"), grad=False)


def test_clamp_boundaries_and_nan_match_torch():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, float("nan")], np.float32)
    g, t = graphc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    gy, ty = g.clamp(-1.0, 1.0), t.clamp(-1.0, 1.0)
    assert_same(gy, ty)
    gy.sum().backward()
    ty.sum().backward()
    assert_same(g.grad, t.grad)
    check(lambda m, a, lo, hi: m.clamp(a, lo, hi), ((5,), "f32", True), ((5,), "f32", True, "normal", 3),
          ((5,), "f32", True, "normal", 4))


def test_maximum_ties_split_gradient_like_torch():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    y = np.array([1.0, 5.0, 0.0], np.float32)
    check(lambda m, a, b: m.maximum(a, b) + m.minimum(a, b) * 2, graphc_and_torch(x), graphc_and_torch(y))




@pytest.mark.parametrize("dtype", ["f32", "i64", "bool"])
def test_predicates_and_logic(dtype):
    check(lambda m, a, b: (m.logical_not(a), a.logical_xor(b), m.isnan(a), a.isinf(), m.isfinite(a)),
          ((2, 3), dtype), ((2, 3), dtype, False, "normal", 1), grad=False)
    x = np.array([1.0, float("inf"), -float("inf"), float("nan"), 0.0], np.float32)
    g, t = graphc.Tensor(x), torch.tensor(x)
    for name in ("isnan", "isinf", "isfinite"):
        assert_same(getattr(g, name)(), getattr(t, name)())
    assert_same((g > 0) & (g < 2), (t > 0) & (t < 2))
    assert_same(~(g > 0) | (g == 0), ~(t > 0) | (t == 0))


# ------------------------------------------------------------------ reductions
_DIMS = [None, 1, -1, (0, 2), ()]


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "var", "std", "norm"])
@pytest.mark.parametrize("dim", _DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_values_and_grads(name, dim, keepdim):
    if name == "logsumexp" and dim in (None, ()):
        dim = (0, 1, 2)
    if name in ("var", "std", "norm") and dim == ():
        dim = None
    if name == "norm":
        fn = lambda m, x: x.norm(dim=dim, keepdim=keepdim)  # noqa: E731
    else:
        fn = lambda m, x: getattr(x, name)(dim, keepdim=keepdim) if dim is not None else (  # noqa: E731
            getattr(x, name)() if not keepdim else getattr(m, name)(x, dim=tuple(range(x.ndim)), keepdim=True))
    check(fn, ((2, 3, 4), "f64", True), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["i64", "i32", "bool", "f64"])
def test_sum_dtypes(dtype):
    check(lambda m, x: (x.sum(), m.sum(x, 0), x.sum(dim=1, keepdim=True), x.sum(dtype=m.float64)), ((3, 2), dtype), grad=False)


@pytest.mark.parametrize("dim", [0, -1, None])
@pytest.mark.parametrize("dtype", ["f32", "i64", "bool"])
def test_max_min_argmax_argmin(dim, dtype):
    grad = dtype == "f32"
    if dtype == "bool":  # PyTorch: argmax/argmin do not take bool; max and min do
        check(lambda m, x: (x.max(), m.min(x)) if dim is None else (x.max(dim), m.min(x, dim, keepdim=True)),
              ((3, 4), dtype), grad=False)
        with pytest.raises(graphc.DTypeError):
            make((3,), "bool")[0].argmax()
        return
    if dim is None:
        fn = lambda m, x: (x.max(), m.min(x), x.argmax(), m.argmin(x), x.argmax(keepdim=True))  # noqa: E731
    else:
        fn = lambda m, x: (x.max(dim), m.min(x, dim, keepdim=True), x.argmax(dim), m.argmin(x, dim=dim), x.max(dim=dim).values)  # noqa: E731
    check(fn, ((3, 4), dtype, grad), grad=grad)


def test_max_with_ties_matches_torch_gradient_routing():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)
    check(lambda m, a: a.max(), graphc_and_torch(x))  # shared evenly
    check(lambda m, a: a.max(dim=1), graphc_and_torch(x))  # to the first index only
    check(lambda m, a: a.min(dim=0, keepdim=True).values * 2, graphc_and_torch(x))
    check(lambda m, a: a.amax(dim=1), graphc_and_torch(x))
    vals = graphc.Tensor(x).max(dim=1)
    assert vals.indices.tolist() == [1, 0] and vals[0].tolist() == [3.0, 2.0]


def test_max_min_with_other_tensor():
    check(lambda m, a, b: (a.max(b), m.min(a, b)), ((3,), "f32", True), ((3,), "f32", True, "normal", 1))


@pytest.mark.parametrize("p", [1, 2, 3, 0.5, math.inf, -math.inf, 0, "fro"])
def test_norm_orders(p):
    check(lambda m, x: (x.norm(p=p), m.norm(x, p, dim=1), x.norm(p, dim=(0, 1), keepdim=True)), ((3, 4), "f64", True, "away"),
          grad=p != 0)  # PyTorch's p=0 norm (a count) leaves .grad None


def test_norm_of_zero_vector_has_zero_gradient():
    check(lambda m, x: m.norm(x * 0), ((3,), "f32", True))


@pytest.mark.parametrize("kw", [{}, {"unbiased": False}, {"correction": 0}, {"correction": 2}, {"dim": 1, "unbiased": True}])
def test_var_std_corrections(kw):
    check(lambda m, x: (x.var(**kw), m.std(x, **kw)), ((4, 5), "f64", True))


def test_all_any_prod_count_nonzero():
    check(lambda m, x: (x.all(), m.any(x), x.all(dim=1), x.any(0, keepdim=True), m.count_nonzero(x, dim=0)),
          ((3, 4), "bool"), grad=False)
    check(lambda m, x: (x.all(), m.any(x, 1)), ((3, 4), "i64"), grad=False)
    check(lambda m, x: (x.prod(), m.prod(x, 0, keepdim=True), x.prod(-1)), ((3, 5), "f64", True))
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.5, 2.0, -1.0]])
    check(lambda m, a: a.prod(dim=1), graphc_and_torch(x))
    check(lambda m, x: (x.prod(), x.prod(0)), ((4, 3), "i64"), grad=False)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_log_softmax(dim):
    check(lambda m, x: (x.softmax(dim), m.log_softmax(x, dim=dim), m.softmax(x, dim, dtype=m.float64)), ((3, 4, 5), "f32", True))
    big = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]], np.float32)
    check(lambda m, a: (a.softmax(-1), a.log_softmax(-1), m.logsumexp(a, 1)), graphc_and_torch(big))


def test_mean_of_integers_raises_like_torch():
    g, t = make((3,), "i64")
    with pytest.raises(RuntimeError):
        t.mean()
    with pytest.raises(graphc.DTypeError):
        g.mean()
    assert_same(g.mean(dtype=graphc.float64), t.mean(dtype=torch.float64))


# ------------------------------------------------------------------ shape functions
_SHAPE_FNS = {
    "view": lambda m, x: x.view(4, -1) * 1, "view_tuple": lambda m, x: x.view((2, 12)), "reshape": lambda m, x: m.reshape(x, (-1,)),
    "flatten": lambda m, x: x.flatten(), "flatten_mid": lambda m, x: m.flatten(x, 1), "flatten_range": lambda m, x: x.flatten(0, 1),
    "unflatten": lambda m, x: x.unflatten(2, (2, -1)), "permute": lambda m, x: x.permute(2, 0, 1),
    "permute_fn": lambda m, x: m.permute(x, (1, -1, 0)), "transpose": lambda m, x: x.transpose(0, -1),
    "transpose_fn": lambda m, x: m.transpose(x, 1, 2), "T": lambda m, x: x.reshape(6, 4).T, "mT": lambda m, x: x.mT,
    "t": lambda m, x: m.t(x.reshape(6, 4)), "unsqueeze": lambda m, x: (x.unsqueeze(0), m.unsqueeze(x, -1), x.unsqueeze(2)),
    "squeeze": lambda m, x: (x.unsqueeze(1).squeeze(), x.reshape(1, 2, 1, 12).squeeze(2), m.squeeze(x.reshape(1, 24, 1), (0, -1)), x.squeeze(0)),
    "expand": lambda m, x: x.reshape(2, 3, 1, 4).expand(2, 3, 5, -1), "expand_new": lambda m, x: x.expand(2, -1, -1, -1),
    "expand_as": lambda m, x: x.sum(0, keepdim=True).expand_as(x),
    "repeat": lambda m, x: x.repeat(2, 1, 3), "repeat_more": lambda m, x: x.sum(0).repeat(2, 2, 1),
    "view_as": lambda m, x: x.view_as(x.reshape(6, 4)), "reshape_as": lambda m, x: x.reshape_as(x.reshape(4, 6)),
    "contiguous": lambda m, x: x.transpose(0, 1).contiguous() * 2, "chunk": lambda m, x: x.chunk(2, dim=1),
    "chunk_uneven": lambda m, x: m.chunk(x, 3, -1), "split": lambda m, x: x.split(1, 1), "split_list": lambda m, x: m.split(x, [1, 3], dim=2),
    "narrow": lambda m, x: x.narrow(2, 1, 2), "narrow_neg": lambda m, x: m.narrow(x, -1, -3, 2), "flip": lambda m, x: x.flip(0, 2),
    "flip_fn": lambda m, x: m.flip(x, [1]), "unbind": lambda m, x: x.unbind(1), "movedim": lambda m, x: m.movedim(x, 0, -1),
    "masked_fill": lambda m, x: x.masked_fill(x > 0.5, -1.0), "masked_fill_b": lambda m, x: x.masked_fill(x.sum(0) > 0, 3),
    "clone": lambda m, x: x.clone() * 3, "type_as": lambda m, x: x.type_as(x.double()), "cat": lambda m, x: m.cat([x, x * 2], dim=1),
    "cat_neg": lambda m, x: m.cat((x, x.narrow(1, 0, 1)), -2), "stack": lambda m, x: m.stack([x, x + 1], dim=-1),
    "stack0": lambda m, x: m.stack((x, x)), "concat": lambda m, x: m.concat([x.double(), x.int()], 2),
}


@pytest.mark.parametrize("name", sorted(_SHAPE_FNS))
def test_shape_functions(name):
    check(_SHAPE_FNS[name], ((2, 3, 4), "f32", True))


@pytest.mark.parametrize("name", ["view", "permute", "flip", "cat", "repeat", "chunk", "masked_fill", "stack", "squeeze"])
@pytest.mark.parametrize("dtype", ["i64", "bool"])
def test_shape_functions_on_integers_and_bools(name, dtype):
    if dtype == "bool" and name == "masked_fill":
        return
    check(_SHAPE_FNS[name], ((2, 3, 4), dtype), grad=False)


def test_clone_owns_fresh_memory_and_shape_views_share_it():
    g = graphc.Tensor(np.arange(6.0, dtype=np.float32))
    c = g.clone()
    assert not np.shares_memory(c.numpy(), g.numpy())
    assert np.shares_memory(g.view(2, 3).numpy(), g.numpy())
    assert g.contiguous() is g


@pytest.mark.parametrize("bad", [lambda m, x: x.view(5, -1), lambda m, x: x.view(-1, -1), lambda m, x: x.permute(0, 1),
                                 lambda m, x: x.permute(0, 0, 1), lambda m, x: x.expand(3, 3, 4), lambda m, x: x.squeeze(3),
                                 lambda m, x: x.unsqueeze(4), lambda m, x: x.t(), lambda m, x: x.repeat(2, 2),
                                 lambda m, x: m.cat([x, x.sum(0)]), lambda m, x: m.stack([x, x.sum(0)]), lambda m, x: x.split([1, 1], 1),
                                 lambda m, x: x.narrow(0, 1, 5), lambda m, x: x.flatten(2, 0), lambda m, x: x.masked_fill(x, 1.0),
                                 lambda m, x: x.transpose(0, 3), lambda m, x: x.sum(5), lambda m, x: x.mean(dim=(0, 0))])
def test_shape_errors_raise_like_torch(bad):
    g, t = make((2, 3, 4))
    with pytest.raises(Exception) as torch_error:
        bad(torch, t)
    with pytest.raises(graphc.GraphcError) as graphc_error:
        bad(graphc, g)
    assert isinstance(graphc_error.value, type(torch_error.value)), (graphc_error.value, torch_error.value)
    assert graphc_error.value.fix


# ------------------------------------------------------------------ conversions
def test_dtype_conversions():
    check(lambda m, x: (x.float(), x.double(), x.long(), x.int(), x.bool(), x.to(m.float64), x.to(dtype=m.int32),
                        x.type(m.float64), x.to(x.long()), x.to("cpu", m.float64), x.cpu() * 1), ((2, 3), "f32", True))
    g, t = make((2,), "f32")
    assert g.float() is g and g.to(graphc.float32) is g and g.cpu() is g and g.to("cpu") is g
    assert g.to(graphc.float32, copy=True) is not g
    assert g.type() == t.type() == "torch.FloatTensor" and g.long().type() == t.long().type()
    assert g.type("torch.DoubleTensor").dtype is graphc.float64


def test_unsupported_devices_and_dtypes_raise():
    g, _ = make((2,))
    with pytest.raises(graphc.DeviceError):
        g.cuda()
    with pytest.raises(graphc.DeviceError):
        g.to("cuda")
    with pytest.raises(graphc.DTypeError, match="float16"):
        g.half()
    with pytest.raises(RuntimeError):
        g.bfloat16()


def test_new_tensors_take_dtype_from_self():
    g, t = make((2, 3), "f64")
    for name, args in (("new_zeros", (2, 2)), ("new_ones", ((3,),)), ("new_full", ((2,), 7.0)), ("new_tensor", ([1, 2],))):
        assert_same(getattr(g, name)(*args), getattr(t, name)(*args))
    n = g.new_ones(2, dtype=graphc.int64, requires_grad=False)
    assert n.dtype is graphc.int64 and n.is_leaf
    assert g.new_zeros(3, requires_grad=True).requires_grad


def test_functions_namespace_queries():
    g, t = make((2, 3))
    assert graphc.numel(g) == torch.numel(t) == 6
    assert graphc.is_tensor(g) and not graphc.is_tensor(np.zeros(2))
    assert graphc.is_floating_point(g) and not graphc.is_floating_point(g.long())
    assert graphc.allclose(g, g + 1e-7) and not graphc.allclose(g, g + 1e-3)
    assert graphc.equal(g, g.clone()) and not graphc.equal(g, g.view(3, 2)) and not graphc.equal(g, g + 1)
    nan = graphc.Tensor([float("nan"), 1.0])
    assert not graphc.allclose(nan, nan) and graphc.allclose(nan, nan, equal_nan=True)
    assert_same(graphc.isclose(g, g * 1.00001, rtol=1e-6), torch.isclose(t, t * 1.00001, rtol=1e-6))
    assert all(hasattr(graphc, name) for name in graphc.functions.__all__)


# ------------------------------------------------------------------ matrix products
_needs_matmul = pytest.mark.skipif("matmul" not in graphc.ir.all_ops(), reason="the IR's matmul op is not registered yet")
_MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)),
                  ((1, 2, 3), (5, 3, 4)), ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,))]


@_needs_matmul
@pytest.mark.parametrize("shapes", _MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_matmul_shapes_and_grads(shapes, dtype):
    check(lambda m, a, b: (a @ b, m.matmul(a, b)), (shapes[0], dtype, True), (shapes[1], dtype, True, "normal", 1), rtol=1e-5, atol=1e-5)


@_needs_matmul
def test_mm_bmm_mv_dot_outer_and_rmatmul():
    check(lambda m, a, b: (m.mm(a, b), a.mm(b)), ((2, 3), "f32", True), ((3, 4), "f32", True, "normal", 1), atol=1e-5)
    check(lambda m, a, b: (m.bmm(a, b), a.bmm(b)), ((4, 2, 3), "f32", True), ((4, 3, 5), "f32", True, "normal", 1), atol=1e-5)
    check(lambda m, a, v: (m.mv(a, v), a.mv(v)), ((2, 3), "f64", True), ((3,), "f64", True, "normal", 1))
    check(lambda m, a, b: (m.dot(a, b), a.dot(b), m.outer(a, b), a.outer(b * 2)), ((3,), "f32", True), ((3,), "f32", True, "normal", 1))
    check(lambda m, a, b: (m.matmul(a.long(), b.long()),), ((2, 3), "f32"), ((3, 2), "f32", False, "normal", 1), grad=False)


@pytest.mark.parametrize("bad", [lambda m, a, b: m.matmul(a, b), lambda m, a, b: m.mm(a.flatten(), b.t()), lambda m, a, b: m.dot(a.flatten(), b.flatten().narrow(0, 0, 5)),
                                 lambda m, a, b: m.matmul(a, b.t().double()), lambda m, a, b: m.bmm(a, b), lambda m, a, b: m.mv(a, b.flatten()),
                                 lambda m, a, b: m.matmul(a.sum(), b)])
def test_matmul_errors_like_torch(bad):
    (g1, t1), (g2, t2) = make((2, 3)), make((2, 3), seed=1)
    with pytest.raises(Exception) as torch_error:
        bad(torch, t1, t2)
    with pytest.raises(graphc.GraphcError) as graphc_error:
        bad(graphc, g1, g2)
    assert isinstance(graphc_error.value, type(torch_error.value)), (graphc_error.value, torch_error.value)
